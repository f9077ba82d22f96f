#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# ext4 and xfs on a migrating iofollow device. A file workload in the style
# of fsstress (create, append, rename, hard link, delete, fsync, each file's
# checksum recorded) runs before, during and after the copy, and on through
# the switch-over to the destination with the file system mounted. Then the
# destination alone passes fsck -n / xfs_repair -n, mounts, and every
# surviving file has its recorded checksum.
. "$(dirname "$0")/../lib.sh"
load_module
MiB=$((1024 * 1024))
MNT=$SCRATCH/mnt
mkdir -p "$MNT"
# xfsprogs refuses file systems under 300 MB outside fstests; this is a test.
export TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1

case_cleanup() {
	umount "$MNT" 2>/dev/null
}

declare -A SUM INO
OPS=0

# file_op: one random operation on the mounted file system; the checksum of
# every file it changes is recorded (all of a file's names share its inode).
file_op() {
	local files=("${!SUM[@]}") f g dir n
	dir=$MNT/d$((RANDOM % 4))
	n=${#files[@]}
	OPS=$((OPS + 1))
	case $((n < 5 ? 0 : RANDOM % 7)) in
	0 | 1) # create
		mkdir -p "$dir"
		f=$dir/f$OPS
		head -c $((RANDOM * 2)) /dev/urandom >"$f"
		record "$f"
		;;
	2) # append to a file, seen through all its names
		f=${files[RANDOM % n]}
		head -c $((RANDOM % 8192)) /dev/urandom >>"$f"
		record "$f"
		;;
	3) # rename
		f=${files[RANDOM % n]}
		mkdir -p "$dir"
		g=$dir/r$OPS
		mv "$f" "$g"
		SUM[$g]=${SUM[$f]} INO[$g]=${INO[$f]}
		unset "SUM[$f]" "INO[$f]"
		;;
	4) # hard link
		f=${files[RANDOM % n]}
		mkdir -p "$dir"
		g=$dir/l$OPS
		ln "$f" "$g"
		SUM[$g]=${SUM[$f]} INO[$g]=${INO[$f]}
		;;
	5) # delete one name
		f=${files[RANDOM % n]}
		rm "$f"
		unset "SUM[$f]" "INO[$f]"
		;;
	6) # fsync a file, or the whole file system
		f=${files[RANDOM % n]}
		if ((RANDOM % 2)); then sync "$f"; else sync -f "$MNT"; fi
		;;
	esac
}

# record <file>: its checksum, for each of its names.
record() {
	local sum ino p
	sum=$(md5sum <"$1")
	ino=$(stat -c %i "$1")
	for p in "${!INO[@]}"; do
		[ "${INO[$p]}" != "$ino" ] || SUM[$p]=$sum
	done
	SUM[$1]=$sum INO[$1]=$ino
}

# check_files <mount>: every recorded file, with its checksum.
check_files() {
	local p bad=0
	for p in "${!SUM[@]}"; do
		[ "$(md5sum <"$1${p#"$MNT"}")" = "${SUM[$p]}" ] || { echo "differs: $p"; bad=1; }
	done
	[ $bad = 0 ] || fail "files differ after the switch-over"
}

run() { # <fs>
	local fs=$1 src dst slow len m0 before during=0 after
	src=$(make_loop 64)
	dst=$(make_loop 64)
	len=$(sectors "$src")
	# Copy reads come late, so that the copy lasts seconds; the workload's
	# reads come mostly from the page cache.
	slow=$(slow_dev "fs-$fs-slow" "$src" 10 0)
	dm_create "fs-$fs" "0 $len iofollow $slow $dst 128 3 ratio 4:1 paused"
	local dev=/dev/mapper/fs-$fs
	case $fs in
	ext4) mkfs.ext4 -q -F "$dev" ;;
	xfs) mkfs.xfs -q -f "$dev" ;;
	esac || fail "mkfs.$fs"
	mount "$dev" "$MNT"
	SUM=() INO=() OPS=0
	local t0=$EPOCHREALTIME op_ms delay_ms
	for _ in $(seq 15); do file_op; done
	before=$OPS
	# The copy must outlast about 20 operations however fast this kernel
	# runs them (a sanitizer kernel is several times slower): 1024 blocks,
	# 4 copy reads at a time, each read delayed by delay_ms.
	op_ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 / 15 }')
	delay_ms=$((op_ms * 20 * 4 / 1024))
	[ "$delay_ms" -ge 10 ] || delay_ms=10
	set_slow "fs-$fs-slow" "$src" "$delay_ms" 0

	# The copy runs under the workload; it must still be running after the
	# first operations, else nothing overlapped.
	m0=$(migrated_of "fs-$fs")
	dmsetup message "fs-$fs" 0 resume
	while [ "$(state_of "fs-$fs")" != synced ]; do
		file_op
		during=$((during + 1))
		[ "$during" -lt 5000 ] || fail "$fs: copy not synced after 5000 operations: $(dmsetup status "fs-$fs")"
	done
	[ "$during" -ge 10 ] || fail "$fs: only $during operations while copying (from $m0 chunks): no overlap to judge ($op_ms ms per operation, copy reads $delay_ms ms late)"
	for _ in $(seq 10); do file_op; done
	after=$OPS

	# Switch-over with the file system mounted: suspend (device-mapper
	# freezes it), check synced, move the device onto the destination.
	dmsetup suspend "fs-$fs"
	[ "$(state_of "fs-$fs")" = synced ] || fail "$fs: not synced when suspended: $(dmsetup status "fs-$fs")"
	dmsetup load "fs-$fs" --table "0 $len linear $dst 0"
	dmsetup resume "fs-$fs"
	for _ in $(seq 10); do file_op; done
	umount "$MNT"

	# The destination alone: a clean file system holding every file.
	dm_remove "fs-$fs"
	dm_remove "fs-$fs-slow"
	blockdev --flushbufs "$dst"
	case $fs in
	ext4) fsck.ext4 -fn "$dst" >"$SCRATCH/fsck" 2>&1 || { cat "$SCRATCH/fsck"; fail "fsck.ext4 -n of the destination"; } ;;
	xfs) xfs_repair -n "$dst" >"$SCRATCH/fsck" 2>&1 || { cat "$SCRATCH/fsck"; fail "xfs_repair -n of the destination"; } ;;
	esac
	mount -o ro "$dst" "$MNT"
	check_files "$MNT"
	note "$fs: $before operations before the copy ($op_ms ms each), $during during it (copy reads $delay_ms ms late), $((after - before - during)) after sync and 10 after the switch-over; clean check, ${#SUM[@]} files match"
	umount "$MNT"
}

command -v mkfs.xfs >/dev/null || fail "xfsprogs missing"
run ext4
run xfs
