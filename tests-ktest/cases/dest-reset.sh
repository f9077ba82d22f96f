#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A destination that loses its volatile cache (issue 22, finding 1): for a
# while copies and a mirrored VM write "succeed" but are dropped (dm-flakey
# drop_writes, and no destination flush meanwhile: flush_interval 0, no VM
# fsync), then the next destination write fails (error_writes: state
# error), then the destination is healthy again and `resume`. The target
# must copy again everything it had not flushed: once synced, the
# destination equals the source. Before the fix it said synced over the
# dropped blocks.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
load_kmod dm_flakey

mib=64
# 50 ms source reads: the whole copy takes 13 s at least (256 reads, one at
# a time while the VM is idle), so that a phase of a few blocks cannot
# overshoot to the end on a slow guest.
migration_pair drs $mib 50 0
src=$SRC dst=$DST len=$LEN slow=$SLOW
dm_create drs-dst "0 $len linear $dst 0"
# Sequential, so that the first blocks are the migrated ones; each phase
# is a stretch of copying between `resume` and `pause`, however fast.
dm_create drs "0 $len iofollow $slow /dev/mapper/drs-dst 512 5 policy sequential flush_interval 0 paused"

# copy_blocks <n>: copy at least <n> more blocks, then pause and let the
# copies in flight end.
copy_blocks() {
	local want=$(($(migrated_of drs) + $1)) i last=-1 now
	dmsetup message drs 0 resume
	wait_migrated drs "$want" 60 || true # judged below, after the pause
	dmsetup message drs 0 pause
	[ "$(migrated_of drs)" -ge "$want" ] || fail "fewer than $want blocks migrated after 60 s: $(dmsetup status drs)"
	for ((i = 0; i < 100; i++)); do
		now=$(migrated_of drs)
		[ "$now" -ne "$last" ] || return 0
		last=$now
		sleep 0.5
	done
}

copy_blocks 32
# The destination loses every write from now on, without failing any.
dm_reload drs-dst "0 $len flakey $dst 0 0 1 1 drop_writes"
lost_from=$(migrated_of drs)
# A VM write to a migrated block (the first MiB) is mirrored, and dropped.
pattern "$SCRATCH/w" 1 dest-reset-write
write_range /dev/mapper/drs 0 "$SCRATCH/w"
copy_blocks 32
[ "$(migrated_of drs)" -lt "$(total_of drs)" ] || fail "copy complete before the fault: test proves nothing"
# Then the destination fails the next write: the target sees the reset.
dm_reload drs-dst "0 $len flakey $dst 0 0 1 1 error_writes"
dmsetup message drs 0 resume
wait_state drs error 60
note "error at $(migrated_of drs) of $(total_of drs) blocks (dropped from block $lost_from): $(dmsetup message drs 0 stats | grep -o 'lost_blocks [0-9]*')"
[ "$(migrated_of drs)" -lt "$(total_of drs)" ] || fail "copy complete before the fault: test proves nothing"
read_range "$dst" 0 $((1024 * 1024)) "$SCRATCH/d0"
! cmp -s "$SCRATCH/w" "$SCRATCH/d0" || fail "the mirrored write reached the destination: test proves nothing"

dm_reload drs-dst "0 $len linear $dst 0"
dmsetup message drs 0 resume
unslow drs-slow "$src"
wait_state drs synced 300
dmsetup suspend drs
[ "$(state_of drs)" = synced ] || fail "not synced once suspended: $(dmsetup status drs)"
compare_devices "$src" "$dst" $((mib * 1024 * 1024))
read_range "$dst" 0 $((1024 * 1024)) "$SCRATCH/d0"
cmp "$SCRATCH/w" "$SCRATCH/d0" || fail "the mirrored write is not on the destination"
dmsetup resume drs
note "synced after the reset; the destination equals the source"
