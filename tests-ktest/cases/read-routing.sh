#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Reads of migrated blocks served by the destination (issue 24):
#  1. `reads destination`: with the copy paused at a known point, a read of
#     migrated (and flushed) blocks moves the destination's read counter, a
#     read of blocks not copied yet does not; both return the source's data;
#  2. under a verifying fio (reads and writes) through pause and resume, a
#     reload of the table, and a destination that fails its reads for a
#     while (dm-flakey error_reads: no error state), then its writes (a fault), and
#     comes back: the VM sees no error and no wrong data, the destination
#     served reads, and after synced both devices are identical;
#  3. `auto`: a slow source and a fast destination: reads go to the
#     destination; a fast source and a slow destination (a remote device):
#     reads stay on the source but for the first few probes.
# The cache is off: it serves reads of copied blocks before any device.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
load_kmod dm_flakey


mib=64
# 200 ms source reads for step 1, so that the copy cannot pass 32 MiB while
# a slow guest polls for the first 4 MiB; 20 ms from step 2 on.
migration_pair rr $mib 200 0
src=$SRC dst=$DST len=$LEN slow=$SLOW
dm_create rr-dst "0 $len linear $dst 0"
dm_create rr "0 $len iofollow $slow /dev/mapper/rr-dst 512 9 policy sequential reads destination flush_interval 100 cache 0 paused"

# 1. Sequential: after 4 MiB and a flush, blocks below 4 MiB are migrated
# and durable; 32 MiB is not copied.
dmsetup message rr 0 resume
for _ in $(seq 600); do
	[ "$(migrated_of rr)" -ge 64 ] && break
	sleep 0.1
done
dmsetup message rr 0 pause
# The copies in flight end, and the periodic flush (100 ms) makes them durable.
for _ in $(seq 100); do
	[ "$(stat_of rr unflushed_blocks)" = 0 ] && break
	sleep 0.1
done
[ "$(stat_of rr unflushed_blocks)" = 0 ] || fail "blocks still unflushed 10 s after the pause: $(dmsetup message rr 0 stats)"
[ "$(migrated_of rr)" -lt 512 ] || fail "the copy reached 32 MiB before the pause: test proves nothing"
# The device's counter shows that routed reads reach it; that none of the
# reads of blocks not copied did is the target's own count: something
# outside (LVM's scans of the parallel LVM cases) read rr-dst twice in that
# window, on both kernels.
r0=$(reads_of /dev/mapper/rr-dst)
read_range /dev/mapper/rr $((1024 * 1024)) $((1024 * 1024)) "$SCRATCH/m"
r1=$(reads_of /dev/mapper/rr-dst)
t1=$(status_field rr dest_reads)
read_range /dev/mapper/rr $((32 * 1024 * 1024)) $((1024 * 1024)) "$SCRATCH/u"
r2=$(reads_of /dev/mapper/rr-dst)
t2=$(status_field rr dest_reads)
note "destination reads: $r0 -> $r1 (migrated range) -> $r2 (not copied); the target's: $t1 -> $t2; $(status_field rr source_reads)/$t2 source/destination"
[ "$r1" -gt "$r0" ] || fail "a read of migrated blocks did not reach the destination"
[ "$t2" -eq "$t1" ] || fail "a read of blocks not copied yet went to the destination"
cmp "$SCRATCH/m" <(dd if="$src" bs=1M skip=1 count=1 iflag=direct status=none) || fail "routed read returned wrong data"
cmp "$SCRATCH/u" <(dd if="$src" bs=1M skip=32 count=1 iflag=direct status=none) || fail "source read returned wrong data"

# 2. A verifying workload through pause/resume, a reload and a failing destination.
set_slow rr-slow "$src" 20 0
fio --name=vm --filename=/dev/mapper/rr --direct=1 --ioengine=libaio --iodepth=4 --rw=randrw \
	--rwmixread=70 --bs=4k --size=${mib}M --io_size=6M --verify=crc32c --verify_backlog=16 \
	--verify_state_save=0 --randseed=24 --output="$SCRATCH/fio" &
writer=$!
dmsetup message rr 0 resume
sleep 2
dmsetup message rr 0 pause
sleep 1
dmsetup message rr 0 resume
# A reload keeps the device (a new, empty map: every read goes to the source again).
dm_reload rr "0 $len iofollow $slow /dev/mapper/rr-dst 512 8 policy sequential reads destination flush_interval 100 cache 0"
sleep 3
# The destination fails its reads (dm-flakey error_reads: routed reads are
# read again from the source, and nothing enters error), then its writes too
# (error_writes: a destination fault), then comes back. A flakey table with
# no features fails writes too since 6.12.y: the feature is named.
kmsg_mark
dm_reload rr-dst "0 $len flakey $dst 0 0 1 1 error_reads"
# Reads of the first MiBs, which the sequential copy migrates first, until
# one is routed to the destination and fails there.
for i in $(seq 300); do
	kmsg_since_mark | grep -q "read from the destination failed" && break
	dd if=/dev/mapper/rr of=/dev/null bs=64k count=16 skip=$((i % 4 * 16)) iflag=direct status=none ||
		fail "a VM read failed while the destination failed its reads"
	sleep 0.1
done
kmsg_since_mark | grep -q "read from the destination failed" ||
	fail "no read reached the failing destination: the fallback was not exercised"
[ "$(state_of rr)" != error ] || fail "failed destination reads put the target in error"
dm_reload rr-dst "0 $len flakey $dst 0 0 1 1 error_writes"
sleep 3
dm_reload rr-dst "0 $len linear $dst 0"
dmsetup message rr 0 resume
wait $writer || fail "the VM saw an error or wrong data: $(grep -iE 'err|verify|bad' "$SCRATCH/fio" | head -n 5)"
unslow rr-slow "$src"
wait_state rr synced 300
note "after the workload: $(status_field rr source_reads)/$(status_field rr dest_reads) reads source/destination; $(stat_of rr dest_losses) destination faults"
[ "$(status_field rr dest_reads)" -gt 0 ] || fail "the destination served no read during the workload"
dmsetup suspend rr
compare_devices "$src" "$dst" $((mib * 1024 * 1024))
dmsetup resume rr
dm_remove rr
dm_remove rr-dst
dm_remove rr-slow

# 3. auto: the faster device serves the reads of migrated blocks.
# run_auto <name> <source read ms> <destination read ms>: after synced, both
# legs slowed as given, 200 random 4 KiB reads; prints how many of them the
# destination served (not udev's probes and other reads before the slowing:
# CI counted 6 from a slow destination since the device was created).
run_auto() {
	local name=$1 s d before after
	s=$(make_loop 32)
	d=$(make_loop 32)
	fill "$s" 32 "$name"
	slow_dev "$name-s" "$s" 0 0 >/dev/null
	slow_dev "$name-d" "$d" 0 0 >/dev/null
	dm_create "$name" "0 $(sectors "$s") iofollow /dev/mapper/$name-s /dev/mapper/$name-d 512 4 flush_interval 100 cache 0"
	wait_state "$name" synced 300
	sleep 1
	set_slow "$name-s" "$s" "$2" 0
	set_slow "$name-d" "$d" "$3" 0
	before=$(status_field "$name" dest_reads)
	fio --name=r --filename="/dev/mapper/$name" --direct=1 --rw=randread --bs=4k --size=32M \
		--io_size=800k --randseed=3 --output=/dev/null || fail "$name: reads failed"
	after=$(status_field "$name" dest_reads)
	note "$name: the destination served $before reads before the 200, $after after" >&2
	echo $((after - before))
	dm_remove "$name"
	dm_remove "$name-d"
	dm_remove "$name-s"
}
# 50 ms either way: on the debug kernel a loop device's read costs several
# ms itself, and 20 ms against that left auto at 142 of 200.
fast_dest=$(run_auto rra 50 0)
slow_dest=$(run_auto rrb 0 50)
note "auto: $fast_dest of 200 reads from a fast destination (slow source), $slow_dest from a slow one"
[ "$fast_dest" -ge 150 ] || fail "auto sent only $fast_dest of 200 reads to the faster destination"
[ "$slow_dest" -le 5 ] || fail "auto sent $slow_dest of 200 reads to a destination 50 ms slow"
