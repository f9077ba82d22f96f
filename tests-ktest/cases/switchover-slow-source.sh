#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The documented switch-over (synced, suspend, load linear on the destination,
# resume) loses no write: a 64 KiB write to the last chunk is held 3 s in the
# source's dm-delay while the copy (fast reads, ratio 1:64) completes; after
# the suspend the state must still be synced and the write on the destination.
. "$(dirname "$0")/../lib.sh"
load_module

# 64 MiB, 1 MiB chunks: 64 chunks, all of which ratio 1:64 lets the copy issue
# while the one VM write is in flight.
migration_pair sws 64 0 3000
src=$SRC dst=$DST len=$LEN slow=$SLOW
dm_create sws "0 $len iofollow $slow $dst 2048 3 ratio 1:64 paused"
[ "$(state_of sws)" = paused ] || fail "not paused at creation"

pattern "$SCRATCH/w" 1 switchover-write
head -c 65536 "$SCRATCH/w" >"$SCRATCH/w64"
off=$((len * 512 - 65536))
dd if="$SCRATCH/w64" of=/dev/mapper/sws bs=64k seek=$((off / 65536)) count=1 \
	oflag=direct conv=notrunc status=none &
dd_pid=$!
sleep 0.5
kill -0 $dd_pid 2>/dev/null || fail "write completed within 0.5 s: the source delay is not working"
start=$SECONDS
dmsetup message sws 0 resume

wait_state sws synced 120
if kill -0 $dd_pid 2>/dev/null; then
	note "synced reported $((SECONDS - start)) s after the resume, while the write was still in flight"
else
	note "synced reported $((SECONDS - start)) s after the resume, after the write completed"
fi
# The operator procedure: suspend (waits for the write), check, switch.
dmsetup suspend sws
wait $dd_pid || fail "the VM's 64 KiB write failed"
state=$(state_of sws)
[ "$state" = synced ] || fail "state after suspend is '$state', not synced: $(dmsetup status sws)"
dmsetup load sws --table "0 $len linear $dst 0"
dmsetup resume sws

read_range /dev/mapper/sws "$off" 65536 "$SCRATCH/r"
cmp "$SCRATCH/w64" "$SCRATCH/r" || fail "the write to the last chunk is missing after the switch-over"
compare_devices "$src" "$dst" $((64 * 1024 * 1024))
note "write on the destination after the switch-over; devices identical"
