#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A VM read into blocks not yet copied is served by reading those whole
# blocks (the policy's piggyback rule: 64 KiB blocks, 256 KiB chunks, VM
# otherwise idle): the VM gets the right data, and its block reaches the
# destination long before the sequential copy gets there. With the island
# guard (`islands avoid`, the default) only a read that extends a migrated
# or in-flight run is piggybacked: one in the middle of pending space would
# leave a lone migrated block behind.
. "$(dirname "$0")/../lib.sh"
load_module

# Source reads of 400 ms and one copy at a time: the sequential copy needs
# about 90 s to reach block 920, however slow the guest is at the VM reads.
migration_pair pig 64 400 0
src=$SRC dst=$DST len=$LEN slow=$SLOW
dm_create pig "0 $len iofollow $slow $dst 512 4 policy sequential depth 1"
# udev's probes (the device's first and last blocks) are done.
udevadm settle --timeout=30 2>/dev/null

MiB=$((1024 * 1024))
# vm_read <block> <expected piggybacks>: a 4 KiB VM read 12 KiB into the
# block (64 KiB each), checked against the source, and the piggybacked
# copies it made.
vm_read() {
	local at=$(($1 * 65536 + 12288)) p0 p1
	p0=$(stat_of pig piggybacked_copies)
	read_range /dev/mapper/pig $at 4096 "$SCRATCH/vm"
	p1=$(stat_of pig piggybacked_copies)
	read_range "$src" $at 4096 "$SCRATCH/want"
	cmp "$SCRATCH/vm" "$SCRATCH/want" || fail "VM read in block $1 returned wrong data"
	[ $((p1 - p0)) = "$2" ] || fail "VM read in block $1: $((p1 - p0)) piggybacked copies, want $2"
}
# on_dest <block>: whether the block holds the source's data on the destination.
on_dest() {
	read_range "$src" $(($1 * 65536)) 65536 "$SCRATCH/block.src"
	read_range "$dst" $(($1 * 65536)) 65536 "$SCRATCH/block.dst"
	cmp -s "$SCRATCH/block.src" "$SCRATCH/block.dst"
}

# Block 960 of 1024, far ahead of the sequential copy: in the middle of
# pending space, not piggybacked.
vm_read 960 0
# Without the guard it is.
dmsetup message pig 0 islands allow
vm_read 960 1
dmsetup message pig 0 islands avoid
# With the guard: block 961 extends block 960's run, block 970 would not.
vm_read 961 1
vm_read 970 0
sleep 0.5
dmsetup message pig 0 pause
sleep 0.5
m=$(migrated_of pig)
[ "$m" -lt 920 ] || fail "sequential copy already near block 960 ($m): test proves nothing"
on_dest 960 || fail "block 960 not on the destination after the VM read ($m blocks copied in order)"
on_dest 961 || fail "block 961 not on the destination after the VM read"
! on_dest 970 || fail "block 970 reached the destination: the guarded read made an island"
note "blocks 960 (guard off) and 961 (extends it) piggybacked, 970 (an island) not; the sequential copy at $m"

unslow pig-slow "$src"
dmsetup message pig 0 resume
wait_state pig synced 300
compare_devices "$src" "$dst" $((64 * MiB))
