#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A second `synced` raises a second event even when the worker never goes
# idle in between (issue 22, finding 5): on a synced device a VM writes
# migrated blocks at depth 32 (mirrored writes keep the worker busy), one
# discard makes a range dirty, and `dmsetup wait` for the next event must
# return once that range is copied again.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module

src=$(make_loop 64)
dst=$(make_loop 64)
fill "$src" 64 event-after-redirty
len=$(sectors "$src")
dm_create ear "0 $len iofollow $src $dst 512"
wait_state ear synced 300
event=$(dmsetup info -c --noheadings -o events ear | tr -d ' ')

fio --name=vm --filename=/dev/mapper/ear --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--size=32M --iodepth=32 --runtime=40 --time_based --output="$SCRATCH/fio" &
writer=$!
sleep 2
blkdiscard -o $((48 * 1024 * 1024)) -l $((1024 * 1024)) /dev/mapper/ear || fail "blkdiscard failed"
timeout 30 dmsetup wait ear "$event" ||
	fail "no event within 30 s of the discard: $(dmsetup status ear)"
[ "$(state_of ear)" = synced ] || fail "an event, but not synced: $(dmsetup status ear)"
note "synced again under writes, event $event -> $(dmsetup info -c --noheadings -o events ear | tr -d ' ')"
kill "$writer" 2>/dev/null || true # a 40 s load may have ended on a slow guest
wait "$writer" 2>/dev/null || true
dmsetup suspend ear
[ "$(state_of ear)" = synced ] || fail "not synced once suspended: $(dmsetup status ear)"
compare_devices "$src" "$dst" $((64 * 1024 * 1024))
dmsetup resume ear
