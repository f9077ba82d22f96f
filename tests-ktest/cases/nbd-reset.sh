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

migration_pair nbr 32 4 0
src=$SRC len=$LEN slow=$SLOW
export_file=$SCRATCH/export.img
truncate -s 32M "$export_file"
cat >"$SCRATCH/nbd.conf" <<CONF
[generic]
	user = root
	group = root
	listenaddr = 127.0.0.1
	port = 10810
	allowlist = true
[dest]
	exportname = $export_file
	flush = true
	fua = true
CONF

server=
start_server() {
	nbd-server -C "$SCRATCH/nbd.conf" -d >"$SCRATCH/nbd-server.log" 2>&1 &
	server=$!
	for _ in $(seq 50); do
		nbd-client -l 127.0.0.1 10810 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "nbd-server did not start: $(cat "$SCRATCH/nbd-server.log")"
}
attach() { # <nbd device>
	nbd-client -N dest -t 5 127.0.0.1 10810 "$1" -b 4096 >/dev/null 2>&1 || fail "nbd-client cannot attach $1"
	for _ in $(seq 50); do
		[ "$(sectors "$1" 2>/dev/null || echo 0)" -ge "$len" ] && return 0
		sleep 0.1
	done
	fail "$1 did not come up with the export's size"
}
case_cleanup() {
	dmsetup remove nbrmig 2>/dev/null
	dmsetup remove nbrdst 2>/dev/null
	nbd-client -d /dev/nbd2 >/dev/null 2>&1
	nbd-client -d /dev/nbd3 >/dev/null 2>&1
	[ -z "$server" ] || kill "$server" 2>/dev/null
}

start_server
attach /dev/nbd2
dm_create nbrdst "0 $len linear /dev/nbd2 0"
dm_create nbrmig "0 $len iofollow $slow /dev/mapper/nbrdst 128 4 ratio 4:1 flush_interval 0"

fio --name=vm --filename=/dev/mapper/nbrmig --direct=1 --rw=randrw --bs=4k --size=32M \
	--io_size=1M --verify=crc32c --verify_backlog=32 --verify_state_save=0 --randseed=7 \
	--output="$SCRATCH/fio" &
writer=$!
for _ in $(seq 600); do
	[ "$(migrated_of nbrmig)" -ge 64 ] && break
	sleep 0.3
done
[ "$(migrated_of nbrmig)" -ge 64 ] || fail "the copy to NBD did not start: $(dmsetup status nbrmig)"

kill -9 "$server"
wait "$server" 2>/dev/null || true
server=
wait_state nbrmig error 120
# What the server held in its lost cache: every write.
truncate -s 0 "$export_file"
truncate -s 32M "$export_file"
note "server killed at $(migrated_of nbrmig) of $(total_of nbrmig) blocks: $(dmsetup message nbrmig 0 stats | grep -o 'lost_blocks [0-9]*')"

start_server
attach /dev/nbd3
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
