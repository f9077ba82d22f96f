#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A source read error stops the copy (state error, fault "source"), but the
# destination is healthy (issue 22, finding 3): VM writes to migrated blocks
# are still written to it (its write counter moves, the data is there), a
# VM fsync still flushes it, and after the source heals and `resume` the
# copy completes without copying the healthy part again.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module

src=$(make_loop 64)
dst=$(make_loop 64)
write_back "$dst"
fill "$src" 64 source-fault-mirrors
len=$(sectors "$src")
# Sectors 65536..67583 (32 MiB, 1 MiB long) of the source fail.
bad_start=65536 bad_len=2048
dm_create sfm-src "0 $bad_start linear $src 0
$bad_start $bad_len error
$((bad_start + bad_len)) $((len - bad_start - bad_len)) linear $src $((bad_start + bad_len))"
# Sequential: everything below 32 MiB is migrated when the copy hits the error.
# No periodic flush: only the VM's fsync may move the flush counter.
dm_create sfm "0 $len iofollow /dev/mapper/sfm-src $dst 2048 4 policy sequential flush_interval 0"
wait_state sfm error 120
stats=$(dmsetup message sfm 0 stats)
grep -qw "fault source" <<<"$stats" || fail "the fault is not the source's: $stats"
migrated=$(migrated_of sfm)
note "state error at $migrated of $(total_of sfm) blocks: $(grep -o 'fault [a-z]*' <<<"$stats")"
[ "$migrated" -ge 256 ] || fail "the first 16 MiB are not migrated: test proves nothing"

# writes <dev>: write requests the device completed (field 5 of its stat).
writes() {
	local f
	read -r -a f <"/sys/block/$(sysfs_name "$1")/stat"
	echo "${f[4]}"
}
pattern "$SCRATCH/w" 1 source-fault-mirrors-write
w0=$(writes "$dst") f0=$(flush_count "$dst")
write_range /dev/mapper/sfm $((4 * 1024 * 1024)) "$SCRATCH/w"
sync /dev/mapper/sfm
w1=$(writes "$dst") f1=$(flush_count "$dst")
note "destination writes $w0 -> $w1, flushes $f0 -> $f1"
[ "$w1" -gt "$w0" ] || fail "a VM write to a migrated block did not reach the healthy destination"
[ "$f1" -gt "$f0" ] || fail "a VM fsync did not flush the healthy destination"
read_range "$dst" $((4 * 1024 * 1024)) $((1024 * 1024)) "$SCRATCH/d"
cmp "$SCRATCH/w" "$SCRATCH/d" || fail "the mirrored write is not on the destination"
[ "$(migrated_of sfm)" -ge "$migrated" ] || fail "mirrored writes made migrated blocks dirty: $(dmsetup status sfm)"

dm_reload sfm-src "0 $len linear $src 0"
dmsetup message sfm 0 resume
wait_state sfm synced 300
compare_devices "$src" "$dst" $((64 * 1024 * 1024))
note "healed, resumed, synced; identical"
