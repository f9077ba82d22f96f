#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Randomized stress, and in long form the soak (make soak). Each round puts
# four iofollow devices on four partitions of one disk (one shared head
# model), migrating at once to slow destinations under a verifying fio job
# each, while a random sequence of suspend/resume, table reloads, refused
# rmmods and a concurrent storm of pause/resume/ratio/policy/cache/stats
# messages hits them. Then every copy completes, the four report one head,
# and each source matches its destination. Last, sixteen devices are created
# and removed in parallel.
#
# SOAK_SECONDS (default 0: one round) keeps starting rounds until that long
# has passed; SOAK_SEED replays a run: every round's seed is printed.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
command -v fio >/dev/null || fail "fio missing"
command -v sfdisk >/dev/null || fail "sfdisk missing"
MiB=$((1024 * 1024))
PART_MIB=16

# partition <disk>: four partitions of PART_MIB, from 1 MiB on.
partition() {
	local i
	for i in 1 2 3 4; do
		echo "start=$((1 + (i - 1) * PART_MIB))MiB, size=${PART_MIB}MiB, type=83"
	done | sfdisk -q --label dos "$1" >/dev/null || fail "sfdisk $1"
	blockdev --rereadpt "$1" 2>/dev/null || partx -u "$1"
	udevadm settle --timeout=10 2>/dev/null || true
	for i in 1 2 3 4; do
		[ -b "${1}p$i" ] || fail "no partition ${1}p$i"
	done
}

# storm <stop file>: messages to random devices while IO runs.
storm() {
	local ratios=(1:1 2:1 3:1 8:1 1:2) policies=(follow sequential) i
	while [ ! -e "$1" ]; do
		i=$((RANDOM % 4 + 1))
		case $((RANDOM % 7)) in
		0) dmsetup message "st$i" 0 pause ;;
		1 | 2) dmsetup message "st$i" 0 resume ;;
		3) dmsetup message "st$i" 0 ratio "${ratios[RANDOM % 5]}" ;;
		4) dmsetup message "st$i" 0 policy "${policies[RANDOM % 2]}" ;;
		5) dmsetup message "st$i" 0 cache $((RANDOM % 3 * 4)) ;;
		6) dmsetup message "st$i" 0 stats >/dev/null ;;
		esac || { echo "message to st$i failed" >"$1.failed"; return; }
		sleep "0.0$((RANDOM % 10))"
	done
}

round() { # <seed>
	local seed=$1 disk i len chunk fio_pid stop=$SCRATCH/stop.$1 heads step=0 dests=()
	local chunks=(64 128 256) ratios=(2:1 4:1 8:1) policies=(follow sequential)
	RANDOM=$seed
	disk=$(make_loop $((4 * PART_MIB + 2)) -P)
	fill "$disk" $((4 * PART_MIB + 2)) "soak-$seed"
	partition "$disk"
	len=$((PART_MIB * 2048))
	chunk=${chunks[RANDOM % 3]}
	for i in 1 2 3 4; do
		# Destination writes 5 ms late: the copies last through the load.
		dests[i]=$(make_loop $PART_MIB)
		slow_dev "st-d$i" "${dests[i]}" 0 5 >/dev/null
		dm_create "st$i" "0 $len iofollow ${disk}p$i /dev/mapper/st-d$i $chunk 5 ratio ${ratios[RANDOM % 3]} policy ${policies[RANDOM % 2]} paused"
	done

	# One verifying job a device: random writes of random sizes with fsyncs,
	# each block read back (crc32c) while the copies run.
	local jobs=()
	for i in 1 2 3 4; do
		jobs+=(--name="st$i" --filename="/dev/mapper/st$i" --bs=$((4 << (RANDOM % 4)))k
			--rw=randrw --fsync=32)
	done
	fio --direct=1 --ioengine=libaio --iodepth=8 --randseed="$seed" --size=${PART_MIB}M \
		--time_based --runtime=$(((${SOAK_SECONDS:-0} > 0 ? 10 : 4) + RANDOM % 5)) \
		--verify=crc32c --verify_backlog=16 --verify_state_save=0 --verify_fatal=1 \
		"${jobs[@]}" --output="$SCRATCH/fio.$seed" >/dev/null 2>"$SCRATCH/fio.err" &
	fio_pid=$!
	# The copies start with the load (the storm pauses and resumes them).
	for i in 1 2 3 4; do
		dmsetup message "st$i" 0 resume
	done
	storm "$stop" &
	local storm_pid=$!

	# Disruptions, one every few tenths of a second, until fio ends.
	while kill -0 "$fio_pid" 2>/dev/null; do
		i=$((RANDOM % 4 + 1))
		case $((RANDOM % 4)) in
		0)
			dmsetup suspend "st$i"
			sleep "0.$((RANDOM % 3))"
			dmsetup resume "st$i"
			;;
		1) dm_reload "st$i" "$(dmsetup table "st$i")" ;;
		2) ! rmmod dm_iofollow 2>/dev/null || fail "rmmod succeeded with devices in use" ;;
		3) sleep 0.2 ;;
		esac
		step=$((step + 1))
		sleep "0.$((RANDOM % 5))"
	done
	wait "$fio_pid" || { cat "$SCRATCH/fio.$seed" "$SCRATCH/fio.err"; fail "seed $seed: fio verify failed"; }
	local unsynced=0
	for i in 1 2 3 4; do
		[ "$(state_of "st$i")" = synced ] || unsynced=$((unsynced + 1))
	done
	touch "$stop"
	wait "$storm_pid"
	[ ! -e "$stop.failed" ] || fail "seed $seed: $(cat "$stop.failed")"

	for i in 1 2 3 4; do
		dmsetup message "st$i" 0 resume
	done
	for i in 1 2 3 4; do
		wait_state "st$i" synced 300
	done
	# No IO anywhere now: the one head model of the disk is where its last
	# IO left it, and all four report it.
	heads=$(for i in 1 2 3 4; do status_field "st$i" head_sector; done | sort -u | wc -l)
	[ "$heads" = 1 ] || fail "seed $seed: four devices on one disk report $heads heads: $(dmsetup status)"
	for i in 1 2 3 4; do
		compare_devices "${disk}p$i" "/dev/mapper/st-d$i" $((PART_MIB * MiB))
	done
	local writes
	writes=$(sed -n 's/.*issued rwts: total=[0-9]*,\([0-9]*\),.*/\1/p' "$SCRATCH/fio.$seed" | awk '{ s += $1 } END { print s + 0 }')
	note "seed $seed: chunk $chunk, $step disruptions, $writes writes verified, $unsynced of 4 copies still running when the load ended; one head, four copies identical"
	for i in 4 3 2 1; do
		dm_remove "st$i"
		dm_remove "st-d$i"
		free_loop "${dests[i]}"
	done
	# Each round's 130 MiB would fill the guest's tmpfs in a long soak.
	free_loop "$disk"
}

start=$SECONDS
rounds=0
RANDOM=${SOAK_SEED:-$$}
while :; do
	seed=$((RANDOM * 32768 + RANDOM))
	round "$seed"
	rounds=$((rounds + 1))
	[ $((SECONDS - start)) -lt "${SOAK_SECONDS:-0}" ] || break
	RANDOM=$seed
done
note "$rounds rounds in $((SECONDS - start)) s (SOAK_SEED=${SOAK_SEED:-$$} replays them)"

# wait_each <what> <pid>...: wait for every one; fail if any failed.
wait_each() {
	local what=$1 p
	shift
	for p in "$@"; do
		wait "$p" || fail "$what failed"
	done
}

# Sixteen devices created, then removed, all at once.
pids=()
for i in $(seq 16); do
	(
		s=$(make_loop 4)
		d=$(make_loop 4)
		dm_create "par$i" "0 $(sectors "$s") iofollow $s $d 64"
	) &
	pids+=($!)
done
wait_each "a parallel create" "${pids[@]}"
[ "$(dmsetup ls | grep -c '^par')" = 16 ] || fail "not 16 devices: $(dmsetup ls)"
for i in $(seq 16); do
	wait_state "par$i" synced 60
done
pids=()
for i in $(seq 16); do
	dmsetup remove --retry "par$i" &
	pids+=($!)
done
wait_each "a parallel remove" "${pids[@]}"
[ "$(dmsetup ls | grep -c '^par' || true)" = 0 ] || fail "devices left: $(dmsetup ls)"
note "16 devices created and removed in parallel"
