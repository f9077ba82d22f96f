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

# run <policy> <ms>: copy reads <ms> late; false if the copy was done
# before the pause came (a slow guest polls late: the order is then lost).
run() {
	local policy=$1 src dst slow len name=fol-$1 whole=0
	migration_pair "$name" 64 "$2" 0
	src=$SRC dst=$DST len=$LEN slow=$SLOW
	dm_create "$name" "0 $len iofollow $slow $dst 2048 5 policy $policy paused cache 0"
	# The VM works at 48 MiB.
	( while :; do dd if="/dev/mapper/$name" of=/dev/null bs=64k skip=768 count=4 iflag=direct status=none; done ) &
	local reader=$!
	sleep 1
	dmsetup message "$name" 0 resume
	# Four chunks' worth: the status counts 64 KiB blocks.
	wait_migrated "$name" 64 120 || true # judged after the pause
	dmsetup message "$name" 0 pause
	[ "$(migrated_of "$name")" -lt "$(total_of "$name")" ] || whole=1
	kill $reader; wait $reader 2>/dev/null || true
	sleep 0.5
	local chunks
	chunks=$(copied_chunks "$dst" 64 | tr '\n' ' ')
	note "$policy, copy reads $2 ms late: head $(status_field "$name" head_sector), copied chunks: $chunks"
	[ -n "$chunks" ] || fail "$policy copied nothing"
	echo "$chunks" >"$SCRATCH/chunks-$policy"
	dm_remove "$name"
	dm_remove "$name-slow"
	free_loop "$src"
	free_loop "$dst"
	[ $whole = 0 ]
}

# Slower copies until the pause lands mid-copy (the debug guest once polled
# so late that follow had copied the whole device at 200 ms).
for policy in follow sequential; do
	for ms in 200 1000 4000 ""; do
		[ -n "$ms" ] || fail "$policy: the copy was done before the pause even at 4000 ms: test proves nothing"
		run $policy $ms && break
	done
done
follow=$(cat "$SCRATCH/chunks-follow")
sequential=$(cat "$SCRATCH/chunks-sequential")
# run_start <chunks> <n>: the chunk numbers (ascending, as copied_chunks
# prints them) form one run, which may wrap from chunk n-1 to chunk 0 (the
# copy goes on past the end of the device at the start); prints where the
# run begins.
run_start() {
	local prev= c start=${1%% *} breaks=0
	for c in $1; do
		if [ -n "$prev" ] && [ "$c" -ne $((prev + 1)) ]; then
			breaks=$((breaks + 1))
			start=$c
		fi
		prev=$c
	done
	[ "$breaks" -le 1 ] || return 1
	[ "$breaks" = 0 ] || { [ "${1%% *}" = 0 ] && [ "$prev" = $(($2 - 1)) ]; } || return 1
	echo "$start"
}
# The order, not the speed: however far the copy got before the pause
# (a slow guest polls late), sequential started at chunk 0 (the VM's reads
# may have migrated its chunk 48 too, piggybacked), and follow copied one
# run (wrapping past the end if the copy got that far) that begins at or
# before the VM's chunk 48, holds it, and does not begin at 0.
first_seq=${sequential%% *}
[ "$first_seq" -eq 0 ] || fail "sequential did not start at chunk 0 ($sequential)"
lo=$(run_start "$follow" 64) || fail "follow copied more than one run ($follow)"
grep -qw 48 <<<"$follow" || fail "follow's run ($follow) does not hold the VM's chunk 48"
[ "$lo" -le 48 ] || fail "follow's run begins at $lo, past the VM's chunk 48 ($follow)"
[ "$lo" -gt 0 ] || fail "follow's run starts at chunk 0: it did not follow the VM ($follow)"
