#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `deadline` (issue 24): a copy that 64:1 keeps slow under a busy reader
# (5 ms source) keeps 64:1 with a deadline it meets easily (an hour for
# 64 MiB), gets a raised share from one it cannot meet at 64:1 (a few
# seconds), is back at 64:1 when the deadline is cleared and once the copy
# is complete; the table keeps the configured ratio and the seconds left.
# After synced the target and the destination read as the source (O_DIRECT).
. "$(dirname "$0")/../lib.sh"
load_module

migration_pair dl 64 5 5
src=$SRC dst=$DST len=$LEN slow=$SLOW
# Reads stay on the source (`reads source`, no cache): reads the destination
# serves are not source load, and the copy would run free of the ratio.
# Created paused: the copy runs free until the VM's IO flows.
dm_create dl "0 $len iofollow $slow $dst 256 9 ratio 64:1 deadline 3600 cache 0 reads source paused"

# The busy VM: 4 KiB random reads at depth 4 (the ratio binds only while
# VM IO waits).
fio --name=vm --filename=/dev/mapper/dl --rw=randread --bs=4k --direct=1 \
	--ioengine=libaio --iodepth=4 --runtime=600 --time_based --output=/dev/null &
vm=$!
v0=$(status_field dl vm_ios)
for ((i = 0; i < 200; i++)); do
	[ "$(status_field dl vm_ios)" -gt $((v0 + 20)) ] && break
	sleep 0.05
done
dmsetup message dl 0 resume

# ratio_in_force: the status line's ratio (the one the engine runs on).
ratio_in_force() { status_field dl ratio; }

# wait_raised <seconds>: until the ratio in force is not 64:1 (or, with
# `or_synced`, the copy is complete); fails after.
wait_raised() {
	local end=$((SECONDS + $1))
	while [ "$(ratio_in_force)" = 64:1 ]; do
		[ "${2:-}" = or_synced ] && [ "$(state_of dl)" = synced ] && return 0
		[ "$SECONDS" -lt "$end" ] ||
			fail "a deadline of seconds for $(total_of dl) blocks left the ratio at 64:1 for $1 s: $(dmsetup status dl); $(dmsetup message dl 0 stats)"
		sleep 0.1
	done
}

table=$(dmsetup table dl)
grep -qF "ratio 64:1" <<<"$table" || fail "the table lost the ratio: $table"
grep -q paused <<<"$table" && fail "resume left the table paused: $table"
left=$(sed -n 's/.* deadline \([0-9]*\).*/\1/p' <<<"$table")
[ -n "$left" ] && [ "$left" -le 3600 ] && [ "$left" -gt 3000 ] ||
	fail "the table does not show the seconds left of an hour: $table"
# Three control intervals with an easy deadline.
sleep 3.5
[ "$(state_of dl)" = copying ] || fail "the copy ended before the deadline was judged: $(dmsetup status dl)"
[ "$(stat_of dl deadline_steps)" = 0 ] || fail "an easy deadline raised the ratio: $(dmsetup message dl 0 stats)"
[ "$(ratio_in_force)" = 64:1 ] || fail "an easy deadline changed the ratio: $(dmsetup status dl)"

dmsetup message dl 0 deadline 0
dmsetup table dl | grep -q deadline && fail "deadline 0 left a deadline: $(dmsetup table dl)"
[ "$(stat_of dl deadline_s_left)" = 0 ] || fail "deadline 0: $(dmsetup message dl 0 stats)"

# A deadline 64:1 cannot meet: the share rises, and clearing it restores 64:1.
dmsetup message dl 0 deadline 3
wait_raised 30
raised=$(ratio_in_force)
dmsetup message dl 0 deadline 0
[ "$(ratio_in_force)" = 64:1 ] || fail "deadline 0 kept the raised ratio: $(dmsetup status dl)"

# Again, to the end: complete, the ratio in force is the configured one.
dmsetup message dl 0 deadline 3
wait_raised 30 or_synced
wait_state dl synced 300
[ "$(ratio_in_force)" = 64:1 ] || fail "a complete copy kept a raised ratio: $(dmsetup status dl)"
dmsetup table dl | grep -qF "ratio 64:1" || fail "the table lost the configured ratio: $(dmsetup table dl)"
note "64:1 raised to $raised by a 3 s deadline, back to 64:1 after it and when synced"

kill "$vm" 2>/dev/null || true # may have ended: set -e must not end the case
wait "$vm" 2>/dev/null || true # killed: 143
unslow dl-slow "$src"
dmsetup suspend dl
compare_devices "$src" "$dst" $((64 * 1024 * 1024))
dmsetup resume dl
compare_devices "$src" /dev/mapper/dl $((64 * 1024 * 1024))
