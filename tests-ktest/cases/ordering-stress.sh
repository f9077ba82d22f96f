#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Randomized ordering stress: source and destination behind dm-delay with
# different read/write delays, so completions reorder; verified fio writes
# with fsyncs, discards and pause/resume while the copy runs; then the end of
# the copy raced by writes in flight. Once synced and suspended, the state is
# synced and the two devices are identical. 1 fresh seed a run (ORDER_SEEDS
# for more; make soak stresses the same paths for longer).
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
command -v fio >/dev/null || fail "fio missing"
command -v blkdiscard >/dev/null || fail "blkdiscard missing"

# One fresh seed per run (make check's time budget); ORDER_SEEDS for more.
seeds=(${ORDER_SEEDS:-$((RANDOM * 32768 + RANDOM))})
note "seeds: ${seeds[*]} (rerun with ORDER_SEEDS=\"${seeds[*]}\")"
MiB=$((1024 * 1024))

run() { # <seed>
	local seed=$1 name=os$1 src dst len ratio cache stop=$SCRATCH/stop.$1 fio_rc=0 writes stats
	local ratios=(1:1 2:1 4:1 8:1)
	RANDOM=$seed
	src=$(make_loop 64)
	dst=$(make_loop 64)
	fill "$src" 64 "stress-$seed"
	len=$(sectors "$src")
	# Source: read 3 ms, write 20 ms; destination: read 1 ms, write 5 ms. Flushes
	# and discards take the write delay. Slow source writes keep more than the
	# 64 mirrored writes the target issues at once in flight, so some queue.
	slow_dev "$name-src" "$src" 3 20 >/dev/null
	slow_dev "$name-dst" "$dst" 1 5 >/dev/null
	ratio=${ratios[seed % ${#ratios[@]}]}
	# Reads of migrated blocks from the destination; the cache, which
	# serves them first, on for odd seeds.
	cache=$(((seed % 2) * 64))
	dm_create "$name" "0 $len iofollow /dev/mapper/$name-src /dev/mapper/$name-dst 128 6 ratio $ratio reads destination cache $cache"
	local dm_dev=/dev/mapper/$name
	[ "$(cat "/sys/block/$(sysfs_name "$dm_dev")/queue/discard_max_bytes")" -gt 0 ] ||
		fail "$name does not advertise discard"

	# Verified writes with fsyncs on the first 48 MiB (two jobs, disjoint halves);
	# unverified writes on the last 16 MiB, where the discards go too.
	fio --direct=1 --ioengine=libaio --rw=randwrite --randseed="$seed" --filename="$dm_dev" \
		--runtime=15 --time_based --verify_state_save=0 --output="$SCRATCH/fio.$seed" \
		--name=a --offset=0 --size=24M --bs=4k --iodepth=16 --fsync=16 \
		--verify=crc32c --verify_fatal=1 \
		--name=b --offset=24M --size=24M --bs=16k --iodepth=64 --fsync=16 \
		--verify=crc32c --verify_fatal=1 \
		--name=c --offset=48M --size=16M --bs=4k --iodepth=128 &
	local fio_pid=$!
	(
		RANDOM=$((seed + 1))
		while [ ! -e "$stop.discard" ]; do
			blkdiscard -o $((48 * MiB + (RANDOM % 256) * 65536)) -l 65536 "$dm_dev" ||
				fail "blkdiscard failed"
			sleep "0.0$((RANDOM % 10))"
		done
	) &
	local discard_pid=$!
	(
		RANDOM=$((seed + 2))
		while [ ! -e "$stop.pause" ]; do
			sleep "0.$((RANDOM % 10))"
			dmsetup message "$name" 0 pause
			sleep "0.$((RANDOM % 5))"
			dmsetup message "$name" 0 resume
		done
	) &
	local pause_pid=$!

	wait $fio_pid || fio_rc=$?
	touch "$stop.discard"
	wait $discard_pid || fail "seed $seed: discard loop failed"
	touch "$stop.pause"
	wait $pause_pid || fail "seed $seed: pause/resume loop failed"
	if [ $fio_rc -ne 0 ] || grep -q "err= *[1-9]" "$SCRATCH/fio.$seed"; then
		cat "$SCRATCH/fio.$seed"
		fail "seed $seed: fio failed (exit $fio_rc)"
	fi
	writes=$(sed -n 's/.*issued rwts: total=[0-9]*,\([0-9]*\),.*/\1/p' "$SCRATCH/fio.$seed" | awk '{ s += $1 } END { print s }')

	# The copy ends while writes to its last chunks are in flight (finding 3):
	# dirty the last 16 MiB while paused, keep writing there, resume, and
	# suspend as soon as the event says synced. Synced must hold across the
	# suspend, which waits for those writes.
	dmsetup message "$name" 0 pause
	blkdiscard -o $((48 * MiB)) -l $((16 * MiB)) "$dm_dev" || fail "seed $seed: blkdiscard failed"
	fio --direct=1 --ioengine=libaio --rw=randwrite --randseed="$seed" --filename="$dm_dev" \
		--name=tail --offset=48M --size=16M --bs=4k --iodepth=32 --time_based --runtime=600 \
		--output="$SCRATCH/tail.$seed" &
	local tail_pid=$!
	sleep 1
	local event
	event=$(dmsetup info -c --noheadings -o events "$name" | tr -d ' ')
	dmsetup message "$name" 0 resume
	timeout 300 dmsetup wait "$name" "$event" >/dev/null ||
		fail "seed $seed: no event within 300 s: $(dmsetup status "$name")"
	dmsetup suspend "$name"
	local state
	state=$(state_of "$name")
	[ "$state" = synced ] ||
		fail "seed $seed: state after suspend is '$state', not synced (writes were in flight): $(dmsetup status "$name")"
	same_data "$src" "$dst" $(($(sectors "$src") * 512)) ||
		fail "seed $seed: source and destination differ after synced+suspend"
	dmsetup resume "$name"
	kill "$tail_pid" 2>/dev/null || true
	wait "$tail_pid" 2>/dev/null || true
	note "seed $seed (ratio $ratio, cache $cache MiB): identical; fio writes $writes, vm ios $(status_field "$name" vm_ios)," \
		"migration ios $(status_field "$name" migration_ios), reads source/destination $(status_field "$name" source_reads)/$(status_field "$name" dest_reads)"
	if stats=$(dmsetup message "$name" 0 stats 2>/dev/null) && [ -n "$stats" ]; then
		note "stats: $stats"
	else
		note "stats: n/a"
	fi
	dm_remove "$name"
	dm_remove "$name-src"
	dm_remove "$name-dst"
}

for seed in "${seeds[@]}"; do
	run "$seed"
done
