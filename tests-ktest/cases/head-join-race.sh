#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Every iofollow device on one disk shares that disk's head model, also
# when their tables are loaded at once while others on the disk go away
# (issue 22, finding 7: concurrent constructors could leave one on a head
# model of its own). Three rounds: eight devices on slices of one disk are
# created in parallel while the eight of the round before are removed;
# then one read through one of them must move the head all eight report.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module

disk=$(make_loop 64)
disk_id=$(lsblk -dno MAJ:MIN "$disk" | tr -d ' ')
slice=8192
dests=()
for i in $(seq 0 7); do
	dests[i]=$(make_loop 4)
done

pids=()
for round in 1 2 3; do
	for i in $(seq 0 7); do
		(
			dm_create "hj-s$round-$i" "0 $slice linear $disk $((i * slice))"
			dm_create "hj$round-$i" "0 $slice iofollow /dev/mapper/hj-s$round-$i ${dests[i]} 64 5 source_offset $((i * slice)) disk $disk_id paused"
		) &
		pids+=($!)
	done
	if [ "$round" -gt 1 ]; then
		for i in $(seq 0 7); do
			# dmsetup itself: dm_remove's list is not for parallel use.
			(dmsetup remove --retry "hj$((round - 1))-$i" &&
				dmsetup remove --retry "hj-s$((round - 1))-$i") &
			pids+=($!)
		done
	fi
	for p in "${pids[@]}"; do
		wait "$p" || fail "round $round: a parallel create or remove failed"
	done
	pids=()
	# A read of 4 KiB at sector 8 of slice 3: the head ends at 3 * slice + 16.
	dd if="/dev/mapper/hj$round-3" of=/dev/null bs=4k skip=1 count=1 iflag=direct status=none
	want=$((3 * slice + 16))
	for i in $(seq 0 7); do
		head=$(status_field "hj$round-$i" head_sector)
		[ "$head" = "$want" ] || fail "round $round: hj$round-$i reports head $head, not $want: it has a head model of its own"
	done
done
note "3 rounds of 8 parallel creates beside 8 removes on one disk: one head each time"
