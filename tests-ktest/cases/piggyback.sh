#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A VM read into blocks not yet copied is served by reading those whole
# blocks (the policy's piggyback rule: 64 KiB blocks, 256 KiB chunks, VM
# otherwise idle): the VM gets the right data, and its block reaches the
# destination long before the sequential copy gets there.
. "$(dirname "$0")/../lib.sh"
load_module

migration_pair pig 64 100 0
src=$SRC dst=$DST len=$LEN slow=$SLOW
dm_create pig "0 $len iofollow $slow $dst 512 2 policy sequential"

# The VM reads 4 KiB at 60 MiB + 12 KiB (block 960 of 1024; status counts blocks).
offset=$((60 * 1024 * 1024 + 12288))
read_range /dev/mapper/pig $offset 4096 "$SCRATCH/vm"
read_range "$src" $offset 4096 "$SCRATCH/want"
cmp "$SCRATCH/vm" "$SCRATCH/want" || fail "piggybacked read returned wrong data"
sleep 0.5
dmsetup message pig 0 pause
sleep 0.5
m=$(migrated_of pig)
[ "$m" -lt 920 ] || fail "sequential copy already near block 960 ($m): test proves nothing"
read_range "$src" $((60 * 1024 * 1024)) 65536 "$SCRATCH/block.src"
read_range "$dst" $((60 * 1024 * 1024)) 65536 "$SCRATCH/block.dst"
cmp "$SCRATCH/block.src" "$SCRATCH/block.dst" ||
	fail "block 960 not on the destination after the VM read ($m blocks copied in order)"
note "VM read served; block 960 migrated by it while the sequential copy was at $m"

dmsetup message pig 0 resume
wait_state pig synced 300
compare_devices "$src" "$dst" $((64 * 1024 * 1024))
