#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Status progresses monotonically to "synced"; `dmsetup wait` returns on the
# completion event; pause, resume, ratio and policy messages work and a bad
# message fails with its error in the kernel log.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module

migration_pair prog 64 50 0
src=$SRC dst=$DST len=$LEN slow=$SLOW
dm_create prog "0 $len iofollow $slow $dst 256 1 paused"
[ "$(state_of prog)" = paused ] || fail "not paused at creation"
sleep 1
[ "$(migrated_of prog)" = 0 ] || fail "copied while paused"

dmsetup message prog 0 ratio 3:1
[ "$(status_field prog ratio)" = 3:1 ] || fail "ratio message not applied"
dmsetup message prog 0 policy sequential
[ "$(status_field prog policy)" = sequential ] || fail "policy message not applied"
dmsetup message prog 0 POLICY Follow
[ "$(status_field prog policy)" = follow ] || fail "case-insensitive policy message not applied"
for bad in "frobnicate" "ratio 0:1" "ratio" "policy random" "pause now"; do
	kmsg_mark
	# shellcheck disable=SC2086
	if dmsetup message prog 0 $bad 2>/dev/null; then
		fail "message '$bad' accepted"
	fi
	kmsg_since_mark | grep -q "message '${bad%% *}'" || fail "no log line for message '$bad'"
done
note "messages: ratio, policy work; bad ones fail"

event=$(dmsetup info -c --noheadings -o events prog | tr -d ' ')
dmsetup message prog 0 resume
( timeout 300 dmsetup wait prog "$event" && echo done >"$SCRATCH/waited" ) &
waiter=$!

last=0 samples=0 seen_copying=0
while [ "$(state_of prog)" != synced ]; do
	m=$(migrated_of prog)
	[ "$m" -ge "$last" ] || fail "progress went back from $last to $m"
	[ "$(state_of prog)" = copying ] && seen_copying=1
	if [ $samples -eq 3 ]; then
		dmsetup message prog 0 pause
		a=$(migrated_of prog); sleep 1; b=$(migrated_of prog)
		[ "$(state_of prog)" = paused ] || fail "pause did not pause"
		# An in-flight copy may still complete after the message.
		[ $((b - a)) -le 2 ] || fail "copy went on while paused ($a -> $b)"
		dmsetup message prog 0 resume
		note "paused at $b chunks, resumed"
	fi
	last=$m samples=$((samples + 1))
	sleep 0.2
	[ $samples -lt 3000 ] || fail "no sync after 600 s"
done
[ $seen_copying -eq 1 ] || fail "never saw state copying"
[ "$(migrated_of prog)" = "$(total_of prog)" ] || fail "synced with chunks left"
wait $waiter || fail "dmsetup wait did not return on the completion event"
[ -f "$SCRATCH/waited" ] || fail "dmsetup wait failed"
compare_devices "$src" "$dst" $((64 * 1024 * 1024))
note "$samples samples, monotonic, event seen, devices identical"
