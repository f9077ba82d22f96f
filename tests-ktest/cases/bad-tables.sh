#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Every malformed table line and every malformed message is rejected with its
# own error text, and a rejection keeps nothing: the module's use count and
# its cache buffers are back to zero (on the sanitizer kernel kmemleak checks
# the rest after the suite).
. "$(dirname "$0")/../lib.sh"
load_module

src=$(make_loop 32)
dst=$(make_loop 32)
small=$(make_loop 16)
len=$(sectors "$src")
src_majmin=$(lsblk -dno MAJ:MIN "$src" | tr -d ' ')
refs_before=$(cat /sys/module/dm_iofollow/refcnt)

# Rows are tried first and their kernel log read once after (a dmesg per row
# costs a second of the suite's budget): each attempt leaves a marker line.
rows=0
declare -A what want
# try <what>: log a marker for the next attempt.
try() {
	rows=$((rows + 1))
	what[$rows]=$1
	echo "iofollow-test bad-tables row $rows" >/dev/kmsg
}
# check_rows: each row's log lines hold its expected text.
check_rows() {
	local -A got
	local r line
	while IFS=$'\t' read -r r line; do
		got[$r]+="$line"$'\n'
	done < <(dmesg | awk '/iofollow-test bad-tables row / { r = $NF; next } r { print r "\t" $0 }')
	for ((r = 1; r <= rows; r++)); do
		[[ ${got[$r]:-} == *"${want[$r]}"* ]] || fail "no '${want[$r]}' in the kernel log for ${what[$r]}: ${got[$r]:-nothing}"
	done
	note "$rows rejected, each with its own error"
}

# One table line a row: "<arguments after 'iofollow'> | <ti->error text>".
while IFS='|' read -r args msg; do
	[ -n "$args" ] || continue
	table="0 $len iofollow ${args% }"
	try "table: $table"
	want[$rows]="iofollow: ${msg# }"
	if dmsetup create "bad$rows" --table "$table" 2>/dev/null; then
		echo "bad$rows" >>"$DM_LIST"
		fail "table accepted: $table"
	fi
done <<TABLES
$src $dst | Invalid number of arguments
$src | Invalid number of arguments
$src $dst 1024 0 extra | Invalid number of feature arguments
/dev/iofollow-no-such-device $dst 1024 | Error opening source device
$src /dev/iofollow-no-such-device 1024 | Error opening destination device
$src $dst 1000 | Chunk size is not a power of 2
$src $dst 0 | Invalid chunk size
$src $dst 4 | Invalid chunk size
$src $dst 12ab | Invalid chunk size
$src $dst -1024 | Invalid chunk size
$src $dst 18446744073709551616 | Invalid chunk size
$src $dst 32768 | Chunk size larger than 8 MiB
$src $small 1024 | Destination device is smaller than the target
$small $dst 1024 | Source device is smaller than the target
$src $src 1024 | Source and destination are the same device
$src $src_majmin 1024 | Source and destination are the same device
$src $dst 1024 1 ratio 2:1 | Invalid number of feature arguments
$src $dst 1024 3 paused | Invalid number of feature arguments
$src $dst 1024 x paused | Invalid number of feature arguments
$src $dst 1024 18446744073709551617 paused | Invalid number of feature arguments
$src $dst 1024 1 bogus | Unknown feature argument
$src $dst 1024 2 paused paused | Duplicate feature argument
$src $dst 1024 4 cache 1 CACHE 2 | Duplicate feature argument
$src $dst 1024 4 ratio 2:1 ratio 3:1 | Duplicate feature argument
$src $dst 1024 2 ratio 0:1 | Invalid ratio
$src $dst 1024 2 ratio 0:0 | Invalid ratio
$src $dst 1024 2 ratio 65:1 | Invalid ratio
$src $dst 1024 2 ratio 4294967298:1 | Invalid ratio
$src $dst 1024 2 ratio 2-1 | Invalid ratio
$src $dst 1024 2 ratio 2: | Invalid ratio
$src $dst 1024 2 policy random | Unknown policy
$src $dst 1024 2 cache -1 | Cache size is negative
$src $dst 1024 2 cache 999999999 | Cache size larger than 65536 MiB
$src $dst 1024 2 cache 18446744073709551616 | Cache size larger than 65536 MiB
$src $dst 1024 2 cache x | Invalid cache size
$src $dst 1024 2 cache_eviction mru | Unknown cache eviction: liveness or lru
$src $dst 1024 2 block 2048 | Invalid block size: a power of 2 from 8 to the chunk size
$src $dst 1024 2 block 96 | Invalid block size: a power of 2 from 8 to the chunk size
$src $dst 1024 2 block 4 | Invalid block size: a power of 2 from 8 to the chunk size
$src $dst 1024 3 no_read_at_head block | Invalid number of feature arguments
$src $dst 1024 2 depth 0 | Invalid depth: 1 to 8
$src $dst 1024 2 depth 9 | Invalid depth: 1 to 8
$src $dst 1024 2 depth 4294967297 | Invalid depth: 1 to 8
$src $dst 1024 2 source_offset x | Invalid source offset
$src $dst 1024 2 source_offset 18446744073709551616 | Invalid source offset
$src $dst 1024 2 deadline 31622401 | Invalid deadline: 0 to 31622400 seconds
$src $dst 1024 2 deadline 1h | Invalid deadline: 0 to 31622400 seconds
TABLES

# A table naming the iofollow device itself: device-mapper refuses the device.
dm_create selfie "0 $len iofollow $src $dst 1024"
try "itself as the source"
want[$rows]="iofollow: Error opening source device"
dmsetup load selfie --table "0 $len iofollow /dev/mapper/selfie $dst 1024" 2>/dev/null &&
	fail "a table with itself as the source loaded"
try "itself as the destination"
want[$rows]="iofollow: Error opening destination device"
dmsetup load selfie --table "0 $len iofollow $src /dev/mapper/selfie 1024" 2>/dev/null &&
	fail "a table with itself as the destination loaded"

selfie_table=$(dmsetup table selfie)
# One message a row: "<message words> | <error text in the kernel log>".
while IFS='|' read -r words msg; do
	[ -n "$words" ] || continue
	try "message '${words% }'"
	want[$rows]=": message '${words%% *}': ${msg# }"
	# shellcheck disable=SC2086 # the message's words (after --: -1 is no option)
	dmsetup message selfie 0 -- $words 2>/dev/null && fail "message '$words' accepted"
done <<'MESSAGES'
frobnicate | Unknown message
pause now | Invalid number of message arguments
ratio | Invalid number of message arguments
deadline -5 | Invalid deadline: 0 to 31622400 seconds
ratio 2:1 3:1 | Invalid number of message arguments
ratio 0:0 | Invalid ratio
ratio 1:65 | Invalid ratio
ratio 18446744073709551617:1 | Invalid ratio
policy random | Unknown policy
anticipation maybe | Expected on or off
read_at_head 1 | Expected on or off
queue_aware | Invalid number of message arguments
depth 0 | Invalid depth: 1 to 8
depth x | Invalid depth: 1 to 8
cache -1 | Cache size is negative
cache 65537 | Cache size larger than 65536 MiB
cache x | Invalid cache size
cache_eviction mru | Unknown cache eviction: liveness or lru
MESSAGES
# A refused message changed nothing.
echo "iofollow-test bad-tables row 0" >/dev/kmsg
check_rows
[ "$(dmsetup table selfie)" = "$selfie_table" ] || fail "a refused message changed the table: $(dmsetup table selfie)"
dm_remove selfie

[ "$(cat /sys/module/dm_iofollow/refcnt)" = "$refs_before" ] ||
	fail "module use count $(cat /sys/module/dm_iofollow/refcnt) after the rejections, $refs_before before"
