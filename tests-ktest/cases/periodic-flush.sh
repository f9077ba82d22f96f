#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# During the copy the target flushes the destination on its own, so that an
# outage costs at most what was written since (issue 22): with the default
# flush_interval (1 s) a write-back destination counts flushes while the
# copy is still running; with flush_interval 0 it counts none until the
# flush that makes the complete copy durable.
# Not in the parallel set: it counts flushes within a window, and with three
# cases at once its samples came so far apart that it saw 1 flush during the
# copy and 10 in all.
. "$(dirname "$0")/../lib.sh"
load_module

# run <name> <features>: the destination's flushes before synced, and in
# all, into $SCRATCH/<name>.
run() {
	local name=$1 features=$2 f0 n before
	migration_pair "$name" 64 50 0
	write_back "$DST"
	# Created paused: the copy (13 s at least: 256 reads of 50 ms, one at a
	# time while the VM is idle) starts when the counting does, however
	# long a slow guest takes to create the device.
	dm_create "$name" "0 $LEN iofollow $SLOW $DST 512 $features"
	f0=$(flush_count "$DST")
	dmsetup message "$name" 0 resume
	# Flushes counted while the state still said copying (the last one may
	# be the end-of-copy flush whose completion the target has not seen yet).
	before=0
	while :; do
		n=$(($(flush_count "$DST") - f0))
		[ "$(state_of "$name")" != synced ] || break
		before=$n
		[ "$before" -lt 3 ] || break
		[ $((SECONDS - start)) -lt 300 ] || fail "$name not synced after 300 s: $(dmsetup status "$name")"
		sleep 0.2
	done
	wait_state "$name" synced 300
	echo "$before $(($(flush_count "$DST") - f0))" >"$SCRATCH/$name"
	dm_remove "$name"
	dm_remove "$name-slow"
}

start=$SECONDS
run pfl-on "1 paused"
read -r during total <"$SCRATCH/pfl-on"
note "flush_interval 1000 (default): $during destination flushes while copying, $total in all"
[ "$during" -ge 3 ] || fail "only $during destination flushes during the copy with the default interval"
start=$SECONDS
run pfl-off "3 flush_interval 0 paused"
read -r during total <"$SCRATCH/pfl-off"
note "flush_interval 0: $during destination flushes while copying, $total in all"
# At most the end-of-copy flush, seen a moment before the state said synced.
[ "$during" -le 1 ] || fail "$during destination flushes during the copy with flush_interval 0"
[ "$total" -ge 1 ] || fail "no destination flush at the end of the copy"
