#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A destination that stops answering must not hang a suspend once the
# target is in error (issue 22, finding 4). The destination is two halves
# (dm-delay, reads served at once): the first holds writes and fails them
# when the case says so (reloaded to dm-error: dm-delay's suspend releases
# them to dm-error), the second holds writes for 90 s. A VM keeps 64
# mirrored writes in flight to the first half, then writes the second
# half: those writes wait in the target's queue. When the first ones fail,
# the target enters error, and the queued writes must go to the source
# only: then `timeout 60 dmsetup suspend` succeeds. Before the fix they
# went to the unresponsive half and the suspend waited for them.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
load_kmod dm_delay

mib=64
src=$(make_loop $mib)
dst=$(make_loop $mib)
fill "$src" $mib dest-unresponsive
len=$(sectors "$src")
half=$((len / 2))
dm_create dun-dst "0 $len linear $dst 0"
dm_create dun "0 $len iofollow $src /dev/mapper/dun-dst 512"
wait_state dun synced 300
dm_create dun-err "0 $half error"
# Reads (udev's probe of the reloaded device) are served at once; only
# writes are held: in the first half until it is reloaded, in the second
# for 90 s.
dm_create dun-a "0 $half delay $dst 0 0 /dev/mapper/dun-err 0 600000"
dm_create dun-b "0 $half delay $dst $half 0 $dst $half 90000"
dm_reload dun-dst "0 $half linear /dev/mapper/dun-a 0
$half $half linear /dev/mapper/dun-b 0"

# inflight_writes <dm name>: writes the device has in flight.
inflight_writes() {
	local r w
	read -r r w <"/sys/block/$(sysfs_name "/dev/mapper/$1")/inflight"
	echo "$w"
}
vm_writes() { # <name> <offset MiB> <iodepth>
	fio --name="$1" --filename=/dev/mapper/dun --direct=1 --ioengine=libaio --rw=randwrite \
		--bs=4k --offset="$2M" --size=16M --iodepth="$3" --runtime=15 --time_based \
		--output="$SCRATCH/$1.fio" &
}
# Writes held by a dm-delay half are released when it is reloaded.
release_halves() {
	dmsetup table dun-a 2>/dev/null | grep -q delay && dm_reload dun-a "0 $half error"
	dmsetup table dun-b 2>/dev/null | grep -q delay && dm_reload dun-b "0 $half linear $dst $half"
	dm_reload dun-dst "0 $len linear $dst 0"
}
case_cleanup() { release_halves 2>/dev/null; }
vm_writes first 0 64
first=$!
# The VM's 64 writes wait for their mirrored halves (dm-delay's held bios
# are not counted on its own device).
for _ in $(seq 600); do
	[ "$(inflight_writes dun)" -ge 64 ] && break
	sleep 0.05
done
[ "$(inflight_writes dun)" -ge 64 ] ||
	fail "fewer than 64 mirrored writes in flight ($(inflight_writes dun)): test proves nothing"
# These wait in the target's queue: 64 mirrored writes are in flight.
vm_writes second 40 8
second=$!
for _ in $(seq 600); do
	[ "$(inflight_writes dun)" -ge 72 ] && break
	sleep 0.05
done
[ "$(inflight_writes dun)" -ge 72 ] && [ "$(state_of dun)" = synced ] ||
	fail "the second writes are not queued before the first fail ($(inflight_writes dun) in flight, $(state_of dun)): test proves nothing"
# The first half fails its held writes.
dm_reload dun-a "0 $half error"
wait_state dun error 30
note "in error: $(dmsetup message dun 0 stats | grep -o 'fault [a-z]*')"

start=$SECONDS
timeout 60 dmsetup suspend dun || fail "suspend in the error state did not finish within 60 s"
note "suspended in $((SECONDS - start)) s with the destination unresponsive"
dmsetup resume dun
wait "$first" || fail "VM writes to the first half failed: $(grep -i err "$SCRATCH/first.fio" | head -n 3)"
wait "$second" || fail "VM writes to the second half failed: $(grep -i err "$SCRATCH/second.fio" | head -n 3)"

# The destination answers again: resume copies what was lost.
release_halves
dmsetup message dun 0 resume
wait_state dun synced 300
dmsetup suspend dun
[ "$(state_of dun)" = synced ] || fail "not synced once suspended: $(dmsetup status dun)"
compare_devices "$src" "$dst" $((mib * 1024 * 1024))
dmsetup resume dun
