#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A remote destination: a file exported by nbd-server on loopback and
# attached with nbd-client. The copy runs under a verifying fio workload;
# the server is killed mid-copy: the target enters error, the VM's IO goes
# on without an error; after the server is back and the destination is
# reattached (its dm-linear leg reloaded onto the new NBD device), `resume`
# finishes the copy, and the exported file equals the source.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
load_kmod nbd
ip link set lo up

migration_pair nbdm 32 4 0
src=$SRC len=$LEN slow=$SLOW
export_file=$SCRATCH/export.img
truncate -s 32M "$export_file"
cat >"$SCRATCH/nbd.conf" <<CONF
[generic]
	user = root
	group = root
	listenaddr = 127.0.0.1
	port = 10809
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
		nbd-client -l 127.0.0.1 10809 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "nbd-server did not start: $(cat "$SCRATCH/nbd-server.log")"
}
# With a timeout (-t 5), a request to a dead server fails after 5 s; without
# one it waits for the server forever, and so would a suspend above it.
attach() { # <nbd device>
	nbd-client -N dest -t 5 127.0.0.1 10809 "$1" -b 4096 >/dev/null 2>&1 || fail "nbd-client cannot attach $1"
	for _ in $(seq 50); do
		[ "$(sectors "$1" 2>/dev/null || echo 0)" -ge "$len" ] && return 0
		sleep 0.1
	done
	fail "$1 did not come up with the export's size"
}
case_cleanup() {
	dmsetup remove nbdmig 2>/dev/null
	dmsetup remove nbddst 2>/dev/null
	nbd-client -d /dev/nbd0 >/dev/null 2>&1
	nbd-client -d /dev/nbd1 >/dev/null 2>&1
	[ -z "$server" ] || kill "$server" 2>/dev/null
}

start_server
attach /dev/nbd0
# The destination leg is a dm-linear over the NBD device, so that it can be
# pointed at a new connection without touching the iofollow table.
dm_create nbddst "0 $len linear /dev/nbd0 0"
dm_create nbdmig "0 $len iofollow $slow /dev/mapper/nbddst 128 2 ratio 4:1"

fio --name=vm --filename=/dev/mapper/nbdmig --direct=1 --rw=randrw --bs=4k --size=32M \
	--io_size=1M --verify=crc32c --verify_backlog=32 --randseed=5 --output="$SCRATCH/fio" &
writer=$!
for _ in $(seq 600); do
	[ "$(migrated_of nbdmig)" -ge 64 ] && break
	sleep 0.3
done
[ "$(migrated_of nbdmig)" -ge 64 ] || fail "the copy to NBD did not start: $(dmsetup status nbdmig)"

kill -9 "$server"
wait "$server" 2>/dev/null || true
server=
wait_state nbdmig error 120
at_error=$(migrated_of nbdmig)
note "server killed: state error at $at_error of $(total_of nbdmig) blocks"

start_server
attach /dev/nbd1
dm_reload nbddst "0 $len linear /dev/nbd1 0"
nbd-client -d /dev/nbd0 >/dev/null 2>&1 || true
dmsetup message nbdmig 0 resume
wait $writer || fail "the VM saw an IO error: $(grep -iE 'err|verify' "$SCRATCH/fio" | head -n 5)"
unslow nbdm-slow "$src"
wait_state nbdmig synced 300
compare_devices "$src" /dev/nbd1 $((32 * 1024 * 1024))
dmsetup remove nbdmig
dmsetup remove nbddst
nbd-client -d /dev/nbd1 >/dev/null 2>&1
cmp -n $((32 * 1024 * 1024)) <(direct_read "$src" $((32 * 1024 * 1024))) "$export_file" ||
	fail "the exported file differs from the source"
note "reattached, resumed, synced; fio saw no error; the exported file equals the source"
