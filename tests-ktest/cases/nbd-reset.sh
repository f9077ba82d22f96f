#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A remote destination that loses what it had not flushed when its server
# restarts (issue 22, finding 1). No destination flush happens (flush_interval
# 0, no VM fsync), so everything written to the export is volatile: the
# server is killed mid-copy under a verifying fio, and while it is down the
# export file is emptied again (the cache it lost held every write), then it
# restarts and is reattached. After `resume` the target must copy again
# everything it had written, and once synced the export must equal the
# source. (nbd-server's own copyonwrite mode would model this directly, but
# it corrupts data under concurrent writes: fio verify fails on it at
# depth 8.)
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
load_kmod nbd
ip link set lo up

# 20 ms source reads, and the copy resumed only once fio's IO flows: on
# the debug kernel fio started after a 4 ms copy had ended.
migration_pair nbr 32 20 0
src=$SRC len=$LEN slow=$SLOW
export_file=$SCRATCH/export.img
nbd_export 32 10810
case_cleanup() {
	dmsetup remove nbrmig 2>/dev/null
	dmsetup remove nbrdst 2>/dev/null
	nbd_cleanup /dev/nbd2 /dev/nbd3
}

nbd_start_server
nbd_attach /dev/nbd2 "$len"
dm_create nbrdst "0 $len linear /dev/nbd2 0"
dm_create nbrmig "0 $len iofollow $slow /dev/mapper/nbrdst 128 5 ratio 4:1 flush_interval 0 paused"

fio --name=vm --filename=/dev/mapper/nbrmig --direct=1 --rw=randrw --bs=4k --size=32M \
	--io_size=1M --verify=crc32c --verify_backlog=32 --verify_state_save=0 --randseed=7 \
	--output="$SCRATCH/fio" &
writer=$!
for _ in $(seq 600); do
	[ "$(status_field nbrmig vm_ios)" -ge 20 ] && break
	sleep 0.1
done
dmsetup message nbrmig 0 resume
wait_migrated nbrmig 64 180 || fail "the copy to NBD did not start: $(dmsetup status nbrmig)"

# Nothing flushed the destination so far: everything on it is volatile.
[ "$(stat_of nbrmig dest_flushes)" = 0 ] ||
	fail "the destination was flushed before the outage: test proves nothing: $(dmsetup message nbrmig 0 stats)"
nbd_kill_server
wait_state nbrmig error 120
# What the server held in its lost cache: every write.
truncate -s 0 "$export_file"
truncate -s 32M "$export_file"
note "server killed at $(migrated_of nbrmig) of $(total_of nbrmig) blocks: lost_blocks $(stat_of nbrmig lost_blocks), dest_flushes $(stat_of nbrmig dest_flushes)"

nbd_start_server
nbd_attach /dev/nbd3 "$len"
cmp -s -n $((1024 * 1024)) <(direct_read /dev/nbd3 $((1024 * 1024))) /dev/zero ||
	fail "the restarted export is not empty: test proves nothing"
dm_reload nbrdst "0 $len linear /dev/nbd3 0"
nbd-client -d /dev/nbd2 >/dev/null 2>&1 || true
dmsetup message nbrmig 0 resume
wait $writer || fail "the VM saw an IO error: $(grep -iE 'err|verify' "$SCRATCH/fio" | head -n 5)"
unslow nbr-slow "$src"
wait_state nbrmig synced 300
dmsetup suspend nbrmig
[ "$(state_of nbrmig)" = synced ] || fail "not synced once suspended: $(dmsetup status nbrmig)"
compare_devices "$src" /dev/nbd3 $((32 * 1024 * 1024))
dmsetup resume nbrmig
note "restarted empty, resumed, synced; the export equals the source"
