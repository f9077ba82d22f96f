#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The benchmark's emulated HDD (iofollow-hddemu on ublk), in data mode:
# it reads back what was written, serves one request at a time for exactly
# the model's service time, passes the calibration self-test, and iofollow
# migrates a short write-bearing trace replayed on it to an identical copy.
# `make bench` runs it first: an instrument out of calibration makes every
# figure after it wrong.
. "$(dirname "$0")/../lib.sh"
load_module
load_kmod ublk_drv
BIN=$REPO/target/release
for b in iofollow-hddemu iofollow-replay iofollow-sim; do
	[ -x "$BIN/$b" ] || fail "$BIN/$b missing (cargo build --release --workspace)"
done

# start_disk LOG [options]: sets DISK and HDD_PID.
start_disk() {
	local log=$1
	shift
	rm -f "$SCRATCH/ready"
	"$BIN/iofollow-hddemu" "$@" --log "$log" --ready "$SCRATCH/ready" &
	HDD_PID=$!
	for _ in $(seq 100); do
		[ -s "$SCRATCH/ready" ] && break
		sleep 0.1
	done
	DISK=$(cat "$SCRATCH/ready") || fail "the emulated disk did not start"
	[ -b "$DISK" ] || fail "$DISK is not a block device"
}

stop_disk() {
	kill -TERM "$HDD_PID"
	wait "$HDD_PID" || fail "the emulated disk exited with an error"
	udevadm settle --timeout=10 2>/dev/null || true
}

# Calibration: the drive's own times against performance-anchors.md §3.5.
start_disk "$SCRATCH/calibrate.log" --queue fifo
"$BIN/iofollow-replay" calibrate --dev "$DISK" --e2e "$SCRATCH/e2e" || fail "calibration reads failed"
stop_disk
"$BIN/iofollow-replay" calibrate --log "$SCRATCH/calibrate.log" --e2e "$SCRATCH/e2e" ||
	fail "the emulated drive is out of calibration"

disk_log=$SCRATCH/disk.log
start_disk "$disk_log" --data --queue ncq
disk=$DISK
[ "$(cat "/sys/block/${disk#/dev/}/queue/rotational")" = 1 ] || fail "$disk is not rotational"
[ "$(sectors "$disk")" = 1953525168 ] || fail "$disk is not the 1 TB ST31000524AS"
echo none >"/sys/block/${disk#/dev/}/queue/scheduler"

# Data mode: 4 MiB written at 500 GB reads back; an unwritten range reads
# as the deterministic pattern (every 8 bytes: the sector number).
pattern "$SCRATCH/p" 4 hddemu
write_range "$disk" 500000000000 "$SCRATCH/p"
read_range "$disk" 500000000000 $((4 << 20)) "$SCRATCH/back"
cmp "$SCRATCH/p" "$SCRATCH/back" || fail "data mode lost a write"
read_range "$disk" 4096 4096 "$SCRATCH/unwritten"
[ "$(od -An -tu8 -N8 "$SCRATCH/unwritten" | tr -d ' ')" = 8 ] ||
	fail "sector 8 does not read as its pattern"

# A 64 MiB image at 1 GB, a Financial2 trace (18 % writes) for 4 s, copied
# by iofollow to a loop device while it runs.
image=$((64 * 2048))
"$BIN/iofollow-sim" emit --workload Financial2 --image-sectors $image --duration-s 4 \
	>"$SCRATCH/trace"
grep -q ' W$' "$SCRATCH/trace" || fail "the trace has no writes"
dm_create hsrc "0 $image linear $disk 1953125"
dd if="$SCRATCH/p" of=/dev/mapper/hsrc bs=1M oflag=direct status=none
dst=$(make_loop 64)
dm_create hvm "0 $image iofollow /dev/mapper/hsrc $dst 2048 2 source_offset 1953125"
"$BIN/iofollow-replay" open --dev /dev/mapper/hvm --trace "$SCRATCH/trace" \
	--out "$SCRATCH/vm.lat" >"$SCRATCH/vm.json" || fail "the replay failed: $(cat "$SCRATCH/vm.json")"
note "replay: $(cat "$SCRATCH/vm.json")"
[ "$(wc -l <"$SCRATCH/vm.lat")" = "$(wc -l <"$SCRATCH/trace")" ] || fail "requests lost in the replay"
wait_state hvm synced 120
compare_devices /dev/mapper/hsrc "$dst" $((64 << 20))
dm_remove hvm
dm_remove hsrc
stop_disk

# The log: one actuator (no request starts before the previous one ends),
# each request lasting exactly its seek + rotation + transfer, and the
# copy's 1 MiB reads among them.
awk 'NR > 1 && $2 < prev { bad = "overlap at line " NR }
     $3 - $2 != $7 + $8 + $9 { bad = "service time mismatch at line " NR }
     $5 == 2048 { chunks++ }
     { prev = $3 }
     END { if (bad) { print bad; exit 1 } if (chunks < 64) { print "only " chunks+0 " chunk reads"; exit 1 } }' \
	"$disk_log" || fail "the disk log breaks the model"
note "disk log: $(wc -l <"$disk_log") requests, one at a time, model service times"
