#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A chunk dirtied after "synced" is copied again without further VM IO: a
# discard spanning two chunks (middle of one to middle of the next) on an
# idle, synced device, and the state returns to synced by itself; the
# destination then matches the source (zeros over the discarded range).
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module

src=$(make_loop 64)
dst=$(make_loop 64)
fill "$src" 64 redirty
len=$(sectors "$src")
dm_create rdi "0 $len iofollow $src $dst 512"
wait_state rdi synced 300
max=$(cat "/sys/block/$(sysfs_name /dev/mapper/rdi)/queue/discard_max_bytes")
[ "$max" -gt 0 ] || fail "rdi does not advertise discard (discard_max_bytes $max): cannot test"

# Chunks are 256 KiB: from the middle of chunk 132 (33 MiB + 128 KiB) to the
# middle of chunk 133, away from where udev's probes read.
chunk=$((256 * 1024))
off=$((132 * chunk + chunk / 2))
blkdiscard -o $off -l $chunk /dev/mapper/rdi || fail "blkdiscard failed"
head -c $chunk /dev/zero >"$SCRATCH/zero"
read_range "$src" $off $chunk "$SCRATCH/r"
cmp "$SCRATCH/zero" "$SCRATCH/r" || fail "discarded range does not read as zeros on the source: test proves nothing"
note "discarded $chunk bytes at $off: $(dmsetup status rdi)"

# No IO from now on: the target alone must copy the two chunks again.
start=$SECONDS
while [ "$(state_of rdi)" != synced ] && [ $((SECONDS - start)) -lt 30 ]; do
	sleep 0.2
done
[ "$(state_of rdi)" = synced ] || fail "not synced 30 s after the discard on an idle device: $(dmsetup status rdi)"
note "synced again within $((SECONDS - start)) s: $(dmsetup status rdi)"

dmsetup suspend rdi
[ "$(state_of rdi)" = synced ] || fail "not synced after suspend: $(dmsetup status rdi)"
compare_devices "$src" "$dst" $((64 * 1024 * 1024))
dmsetup resume rdi
