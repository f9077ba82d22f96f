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
nbd_export 32 10809
case_cleanup() {
	dmsetup remove nbdmig 2>/dev/null
	dmsetup remove nbddst 2>/dev/null
	nbd_cleanup /dev/nbd0 /dev/nbd1
}

nbd_start_server
nbd_attach /dev/nbd0 "$len"
# The destination leg is a dm-linear over the NBD device, so that it can be
# pointed at a new connection without touching the iofollow table.
dm_create nbddst "0 $len linear /dev/nbd0 0"
dm_create nbdmig "0 $len iofollow $slow /dev/mapper/nbddst 128 2 ratio 4:1"

fio --name=vm --filename=/dev/mapper/nbdmig --direct=1 --rw=randrw --bs=4k --size=32M \
	--io_size=1M --verify=crc32c --verify_backlog=32 --verify_state_save=0 --randseed=5 \
	--output="$SCRATCH/fio" &
writer=$!
wait_migrated nbdmig 64 180 || fail "the copy to NBD did not start: $(dmsetup status nbdmig)"

nbd_kill_server
wait_state nbdmig error 120
at_error=$(migrated_of nbdmig)
note "server killed: state error at $at_error of $(total_of nbdmig) blocks"

nbd_start_server
nbd_attach /dev/nbd1 "$len"
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
