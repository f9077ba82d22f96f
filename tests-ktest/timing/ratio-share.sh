#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The ratio's share holds for any synchronous reader (issue 24, 2): a fio
# libaio reader at iodepth 1 with 512 KiB chunks and 5 ms source reads and
# writes was measured at 1.46 background copies per VM IO at 2:1 (which
# wants 0.5). Measured here over IO engines (psync, libaio), chunk sizes
# (64 and 512 KiB), think times (0 and 2 ms) and copy depths (2 and 8), with
# idle-time runs off (the default) and capped at 256 KiB (`idle_run 512`):
# with the default every combination must stay within 50 % of M/V = 0.5;
# the capped figures are printed for the ablation.
. "$(dirname "$0")/../lib.sh"
load_module
udevadm settle --timeout=30 || true

src=$(make_loop 512)
dst=$(make_loop 512)
len=$(sectors "$src")
slow=$(slow_dev share-slow "$src" 5 5)

# share <dev> <engine> <think us>: "<vm ios> <copies>" over 3 s of an
# iodepth-1 random reader, the copy resumed once the reader's IO flows.
share() {
	local dev=$1 v0 m0 v1 m1 pid i
	fio --name=vm --filename="/dev/mapper/$dev" --rw=randread --bs=4k --direct=1 \
		--ioengine="$2" --iodepth=1 --thinktime="$3" --runtime=6 --time_based \
		--output=/dev/null &
	pid=$!
	v0=$(status_field "$dev" vm_ios)
	for ((i = 0; i < 100; i++)); do
		[ "$(status_field "$dev" vm_ios)" -gt $((v0 + 10)) ] && break
		sleep 0.05
	done
	dmsetup message "$dev" 0 resume
	v0=$(status_field "$dev" vm_ios)
	m0=$(stat_of "$dev" background_copies)
	sleep 3
	v1=$(status_field "$dev" vm_ios)
	m1=$(stat_of "$dev" background_copies)
	dmsetup message "$dev" 0 pause
	wait "$pid" || fail "fio $2 think $3"
	echo "$((v1 - v0)) $((m1 - m0))"
}

bad=0
for chunk in 128 1024; do
	dev=share$chunk
	for idle in 0 512; do
		for depth in 2 8; do
			for engine in psync libaio; do
				for think in 0 2000; do
					# A fresh map for each phase, so that the copy never runs
					# out of work. Reads from the source only and no cache:
					# reads the destination or memory serve are not source
					# load, and the ratio shares the source.
					dm_create "$dev" "0 $len iofollow $slow $dst $chunk 9 paused depth $depth idle_run $idle reads source cache 0"
					read -r v m <<<"$(share "$dev" "$engine" "$think")"
					[ "$v" -gt 20 ] || fail "the VM did too little IO ($v) to judge the ratio"
					r=$(awk -v m="$m" -v v="$v" 'BEGIN { printf "%.2f", m / v }')
					verdict=
					if [ "$idle" = 0 ] && { [ $((4 * m)) -lt "$v" ] || [ $((4 * m)) -gt $((3 * v)) ]; }; then
						verdict=" OUTSIDE [0.25, 0.75]"
						bad=$((bad + 1))
					fi
					note "chunk $((chunk / 2)) KiB, idle_run $idle, depth $depth, $engine, think $think us: $v VM IOs, $m copies, $r per VM IO$verdict"
					dmsetup remove "$dev"
				done
			done
		done
	done
done
[ "$bad" = 0 ] || fail "$bad combinations with the shipped defaults break 2:1 by more than 50 %"
