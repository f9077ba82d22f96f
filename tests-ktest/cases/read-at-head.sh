#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Copy IOs start where the head is (64 KiB blocks, 1 MiB chunks): after the
# VM reads 4 KiB at 40 MiB + 4 KiB, the first copy starts at the first block
# past the head (40 MiB + 64 KiB) and leaves the block behind it alone; with
# `read_at_head off` it starts at the chunk boundary (40 MiB). The copy runs
# on, with data read back from both devices.
. "$(dirname "$0")/../lib.sh"
load_module

block=65536
at=$((40 * 1024 * 1024))
head -c $block /dev/zero >"$SCRATCH/zero"

# copy_a_little <name> <source>: copies until <name> has copied something,
# then pauses. One copy at a time, each reading the source for 500 ms: the
# copy reaches the block behind the head only after wrapping round the
# device (over 30 s), however late the pause comes. (At 20 ms and depth 4 it
# once copied all 1024 blocks before the pause took effect.)
copy_a_little() {
	local name=$1 src=$2
	dmsetup message "$name" 0 depth 1
	set_slow "$name-slow" "$src" 500 0
	dmsetup message "$name" 0 resume
	wait_migrated "$name" 1 30 || true # judged below, after the pause
	dmsetup message "$name" 0 pause
	[ "$(migrated_of "$name")" -ge 1 ] || fail "$name copied nothing: $(dmsetup status "$name")"
	[ "$(migrated_of "$name")" -lt "$(total_of "$name")" ] || fail "$name copied everything before the pause: test proves nothing"
}

# is_copied <dst> <src> <offset>: the block at <offset> holds the source's data.
is_copied() {
	read_range "$1" "$3" $block "$SCRATCH/d"
	read_range "$2" "$3" $block "$SCRATCH/s"
	cmp -s "$SCRATCH/d" "$SCRATCH/s"
}
is_untouched() {
	read_range "$1" "$2" $block "$SCRATCH/d"
	cmp -s "$SCRATCH/d" "$SCRATCH/zero"
}

run() { # <read_at_head on|off>
	local mode=$1 name=rah-$1
	migration_pair "$name" 64 20 0
	local src=$SRC dst=$DST len=$LEN slow=$SLOW
	dm_create "$name" "0 $len iofollow $slow $dst 2048 3 block 128 paused"
	[ "$(total_of "$name")" -eq $((len / 128)) ] || fail "total $(total_of "$name") is not the number of 64 KiB blocks"
	dmsetup message "$name" 0 read_at_head maybe 2>/dev/null && fail "read_at_head maybe accepted"
	# The table's depth (4) sized the copy buffers: the message may lower it only.
	dmsetup message "$name" 0 depth 5 2>/dev/null && fail "depth above the table's accepted"
	dmsetup message "$name" 0 depth 1
	dmsetup message "$name" 0 stats | grep -q "depth 1" || fail "stats do not show depth 1: $(dmsetup message "$name" 0 stats)"
	# The table keeps the table's depth: a reload must not lose buffers.
	dmsetup table "$name" | grep -q "depth" && fail "table shows a depth: $(dmsetup table "$name")"
	dmsetup message "$name" 0 depth 4
	dmsetup message "$name" 0 read_at_head "$mode"
	dmsetup table "$name" | grep -q "block 128" && fail "default block size printed: $(dmsetup table "$name")"
	if [ "$mode" = off ]; then
		dmsetup table "$name" | grep -q " no_read_at_head" || fail "table does not say no_read_at_head: $(dmsetup table "$name")"
	fi
	# Paused: nothing is piggybacked, only the head moves.
	read_range "/dev/mapper/$name" $((at + 4096)) 4096 "$SCRATCH/vm"
	read_range "$src" $((at + 4096)) 4096 "$SCRATCH/want"
	cmp "$SCRATCH/vm" "$SCRATCH/want" || fail "$mode: VM read returned wrong data"
	note "$mode: head at $(status_field "$name" head_sector) (sector $(((at + 8192) / 512)) expected)"
	copy_a_little "$name" "$src"
	note "$mode: $(dmsetup status "$name")"
	if [ "$mode" = on ]; then
		is_untouched "$dst" $at || fail "read at head: the block behind the head was copied"
		is_copied "$dst" "$src" $((at + block)) || fail "read at head: the block past the head was not copied first"
	else
		is_copied "$dst" "$src" $at || fail "aligned: the copy did not start at the chunk boundary"
	fi
	unslow "$name-slow" "$src"
	dmsetup message "$name" 0 depth 4
	dmsetup message "$name" 0 resume
	wait_state "$name" synced 300
	dmsetup suspend "$name"
	compare_devices "$src" "$dst" $((64 * 1024 * 1024))
	dmsetup resume "$name"
	dm_remove "$name"
	dm_remove "$name-slow"
}

run on
run off
