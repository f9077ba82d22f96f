#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Queue-aware piggybacking: two VM reads of pending 64 KiB blocks issued
# together (a 300 ms source, the sequential copy far behind: 40 MiB takes it
# 12 s, several times what the checks take even on the sanitizer kernel). Without it
# only the first is piggybacked (the second has VM IO in flight ahead of
# it); with it both are, since their extra transfer stays within the bound.
# Either way the VM reads the source's data and the piggybacked blocks are
# on the destination. The reads are in the middle of pending space:
# `islands allow` (piggyback.sh covers the guard).
. "$(dirname "$0")/../lib.sh"
load_module

migration_pair qa 64 300 0
src=$SRC dst=$DST len=$LEN slow=$SLOW
dm_create qa "0 $len iofollow $slow $dst 512 4 policy sequential islands allow"
mib=$((1024 * 1024))

# two_reads <MiB> <MiB>: two concurrent 4 KiB VM reads, 4 KiB into those
# MiB; checks their data and prints how many were piggybacked.
two_reads() {
	local p0 p1 a=$(($1 * mib + 4096)) b=$(($2 * mib + 4096))
	p0=$(stat_of qa piggybacked_copies)
	read_range /dev/mapper/qa $a 4096 "$SCRATCH/a" &
	read_range /dev/mapper/qa $b 4096 "$SCRATCH/b" &
	wait
	p1=$(stat_of qa piggybacked_copies)
	read_range "$src" $a 4096 "$SCRATCH/want-a"
	read_range "$src" $b 4096 "$SCRATCH/want-b"
	cmp -s "$SCRATCH/a" "$SCRATCH/want-a" || fail "VM read at $1 MiB returned wrong data"
	cmp -s "$SCRATCH/b" "$SCRATCH/want-b" || fail "VM read at $2 MiB returned wrong data"
	echo $((p1 - p0))
}

dmsetup table qa | grep -q queue_aware && fail "queue_aware is not off by default: $(dmsetup table qa)"
off=$(two_reads 40 44)
dmsetup message qa 0 queue_aware on
dmsetup table qa | grep -q " queue_aware" || fail "table does not show queue_aware: $(dmsetup table qa)"
on=$(two_reads 48 52)
m=$(migrated_of qa)
note "piggybacked: $off of 2 without queue awareness, $on of 2 with it; copy at block $m"
[ "$m" -lt 600 ] || fail "sequential copy already near 40 MiB ($m blocks): test proves nothing"
[ "$off" -eq 1 ] || fail "without queue awareness $off reads were piggybacked, want 1 (the first)"
[ "$on" -eq 2 ] || fail "with queue awareness $on reads were piggybacked, want 2"
sleep 1 # the piggybacked blocks' destination writes
for at in 48 52; do
	read_range "$src" $((at * mib)) 65536 "$SCRATCH/s"
	read_range "$dst" $((at * mib)) 65536 "$SCRATCH/d"
	cmp -s "$SCRATCH/s" "$SCRATCH/d" || fail "the block at $at MiB is not on the destination"
done
dmsetup message qa 0 queue_aware maybe 2>/dev/null && fail "queue_aware maybe accepted"
unslow qa-slow "$src" # the rest needs no crawling copy

wait_state qa synced 300
dmsetup suspend qa
compare_devices "$src" "$dst" $((64 * mib))
dmsetup resume qa
