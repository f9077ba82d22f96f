#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# With the VM reading in the middle of the disk (48 MiB of 64), policy follow first copies the
# chunks near where the VM reads; policy sequential starts at sector 0. Without
# the cache (`cache 0`): with it, the VM's reads of the chunks just copied are
# served from memory, the head stays with the copy, and the copy rightly moves
# on (cache.sh covers that).
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module

# Which 1 MiB chunks of <dev> are not zero, as a list of chunk numbers.
copied_chunks() {
	dd if="$1" bs=1M count="$2" iflag=direct status=none | python3 -c '
import sys
data = sys.stdin.buffer.read()
zero = bytes(1 << 20)
for c in range(len(data) >> 20):
    if data[c << 20:(c + 1) << 20] != zero:
        print(c)'
}

run() { # <policy>
	local policy=$1 src dst slow len name=fol-$1
	migration_pair "$name" 64 200 0
	src=$SRC dst=$DST len=$LEN slow=$SLOW
	dm_create "$name" "0 $len iofollow $slow $dst 2048 5 policy $policy paused cache 0"
	# The VM works at 48 MiB.
	( while :; do dd if="/dev/mapper/$name" of=/dev/null bs=64k skip=768 count=4 iflag=direct status=none; done ) &
	local reader=$!
	sleep 1
	dmsetup message "$name" 0 resume
	local i
	for ((i = 0; i < 600; i++)); do
		# Four chunks' worth: the status counts 64 KiB blocks.
		[ "$(migrated_of "$name")" -ge 64 ] && break
		sleep 0.1
	done
	dmsetup message "$name" 0 pause
	kill $reader; wait $reader 2>/dev/null || true
	sleep 0.5
	local chunks
	chunks=$(copied_chunks "$dst" 64 | tr '\n' ' ')
	note "$policy: head $(status_field "$name" 3), copied chunks: $chunks"
	[ -n "$chunks" ] || fail "$policy copied nothing"
	echo "$chunks" >"$SCRATCH/chunks-$policy"
	dm_remove "$name"
	dm_remove "$name-slow"
}

run follow
run sequential
follow=$(cat "$SCRATCH/chunks-follow")
sequential=$(cat "$SCRATCH/chunks-sequential")
first_follow=${follow%% *}
first_seq=${sequential%% *}
[ "$first_seq" -eq 0 ] || fail "sequential did not start at chunk 0 ($sequential)"
for c in $follow; do
	[ "$c" -ge 42 ] && [ "$c" -le 58 ] || fail "follow copied chunk $c, far from the VM at chunk 48 ($follow)"
done
[ "$first_follow" -ge 42 ] || fail "follow did not start near the VM"
