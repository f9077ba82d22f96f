#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# fio writes with verification through the target WHILE it copies the source
# (several chunk sizes, ratios and both policies); once synced, the source
# and the destination are byte-identical and hold what fio wrote.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
command -v fio >/dev/null || fail "fio missing"

run() { # <chunk sectors> <ratio> <policy>
	local chunk=$1 ratio=$2 policy=$3 name=mig-$1-${2/:/-}-$3 src dst len
	migration_pair "$name" 64 1 1
	src=$SLOW dst=$DST len=$LEN
	dm_create "$name" "0 $len iofollow $src $dst $chunk 5 ratio $ratio policy $policy paused"
	dmsetup message "$name" 0 resume
	local before during
	before=$(migrated_of "$name")
	fio --name=v --filename="/dev/mapper/$name" --direct=1 --ioengine=libaio --iodepth=4 \
		--rw=randwrite --bs=4k --size=64M --io_size=4M --randseed=$chunk \
		--verify=crc32c --verify_state_save=0 --verify_fatal=1 --output="$SCRATCH/fio.out" ||
		{ cat "$SCRATCH/fio.out"; fail "fio verify failed on $name"; }
	during=$(dmsetup status "$name")
	wait_state "$name" synced 300
	[ "$(migrated_of "$name")" = "$(total_of "$name")" ] || fail "synced but not all chunks migrated"
	compare_devices "$src" "$dst" $((64 * 1024 * 1024))
	# The destination alone holds the VM's writes.
	fio --name=v --filename="$dst" --direct=1 --ioengine=psync --rw=randwrite --bs=4k \
		--size=64M --io_size=4M --randseed=$chunk --verify=crc32c --verify_state_save=0 --verify_only \
		--verify_fatal=1 --output="$SCRATCH/fio-dst.out" ||
		{ cat "$SCRATCH/fio-dst.out"; fail "destination lacks fio's data on $name"; }
	note "$name: identical after sync; migrated when fio started: $before, after: ${during#* iofollow }"
	dm_remove "$name"
	dm_remove "$name-slow"
}

run 2048 2:1 follow
run 256 1:1 sequential
run 128 4:1 follow
