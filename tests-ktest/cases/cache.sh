#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The migration-aware cache: reads of migrated blocks are served from memory
# (the hit counter rises and the source disk sees no read), a write makes the
# cached bytes go away (a read after it returns the write's data), the cache
# stays within its capacity, gives its memory back to reclaim (drop_caches),
# on suspend and on `cache 0`, and refuses bad sizes with their own errors.
. "$(dirname "$0")/../lib.sh"
load_module

MiB=$((1024 * 1024))
reads_of() { # <blockdev>: reads completed (field 1 of its stat)
	local f
	read -r -a f <"/sys/block/$(sysfs_name "$1")/stat"
	echo "${f[0]}"
}
hits_of() { status_field "$1" cache_hits; }
misses_of() { status_field "$1" cache_misses; }
cached_bytes() { status_field "$1" cache_bytes; }
capacity_bytes() { status_field "$1" cache_capacity_bytes; }

# --- hits are real, writes invalidate ---
migration_pair ch 16 0 0
src=$SRC slow=$SLOW dst=$DST len=$LEN
dm_create ch "0 $len iofollow $slow $dst 2048"
wait_state ch synced 120
# Every block was copied, and cached: the cache (64 MiB) holds the device.
[ "$(cached_bytes ch)" -eq $((16 * MiB)) ] || fail "synced 16 MiB but cached $(cached_bytes ch) bytes: $(dmsetup status ch)"
[ "$(capacity_bytes ch)" -eq $((64 * MiB)) ] || fail "capacity $(capacity_bytes ch), not 64 MiB"
hits=$(hits_of ch) misses=$(misses_of ch) src_reads=$(reads_of "$src")
dd if=/dev/mapper/ch of="$SCRATCH/all" bs=64k iflag=direct status=none
# Counters first: reading the source to compare counts as source reads.
[ "$(reads_of "$src")" -eq "$src_reads" ] || fail "cache hits read the source: $src_reads -> $(reads_of "$src") reads"
[ "$(hits_of ch)" -eq $((hits + 256)) ] || fail "256 reads of cached blocks, hits $hits -> $(hits_of ch)"
[ "$(misses_of ch)" -eq "$misses" ] || fail "misses rose on cached reads: $misses -> $(misses_of ch)"
# The source is read with O_DIRECT: its page cache would go stale under the
# VM's writes, which reach it below the page cache.
cmp "$SCRATCH/all" <(dd if="$src" bs=1M count=16 iflag=direct status=none) || fail "reads from the cache returned wrong data"
note "256 hits, source reads unchanged at $src_reads"
# Reads across block boundaries and inside a block.
# One bio each (none crosses a chunk, where dm would split it): 128 KiB at
# 2 MiB + 32 KiB, over blocks 32 to 34, and 2.5 KiB at 5 MiB + 2.5 KiB.
src_reads=$(reads_of "$src")
dd if=/dev/mapper/ch of="$SCRATCH/r" bs=128k skip=$((2 * MiB + 32768)) count=1 iflag=direct,skip_bytes status=none
[ "$(reads_of "$src")" -eq "$src_reads" ] || fail "a read over three cached blocks read the source"
cmp "$SCRATCH/r" <(dd if="$src" bs=128k skip=$((2 * MiB + 32768)) count=1 iflag=direct,skip_bytes status=none) ||
	fail "a read across three blocks returned wrong data"
src_reads=$(reads_of "$src")
dd if=/dev/mapper/ch of="$SCRATCH/r" bs=2560 skip=$((5 * MiB / 2560 + 1)) count=1 iflag=direct status=none
[ "$(reads_of "$src")" -eq "$src_reads" ] || fail "a read inside a cached block read the source"
cmp "$SCRATCH/r" <(dd if="$src" bs=2560 skip=$((5 * MiB / 2560 + 1)) count=1 iflag=direct status=none) || fail "a 2.5 KiB read inside a block returned wrong data"
[ "$(hits_of ch)" -eq $((hits + 258)) ] || fail "unaligned reads were not hits: $(dmsetup status ch)"
# A write drops the blocks it covers: reading them back gives the write's data.
pattern "$SCRATCH/new" 1 ch-new
dd if="$SCRATCH/new" of=/dev/mapper/ch bs=64k seek=80 oflag=direct status=none
[ "$(cached_bytes ch)" -eq $((15 * MiB)) ] || fail "a 1 MiB write left $(cached_bytes ch) bytes cached, not 15 MiB"
dd if=/dev/mapper/ch of="$SCRATCH/back" bs=4k skip=$((80 * 16)) count=256 iflag=direct status=none
cmp "$SCRATCH/back" "$SCRATCH/new" || fail "a read after a write returned stale cached data"
# A discard and a write-zeroes drop their blocks too (the source reads back
# zeroes from the loop device's punched hole). Paused: a discard is never
# mirrored, so it leaves its block dirty, and a copy would cache it again.
dmsetup message ch 0 pause
before=$(cached_bytes ch)
blkdiscard -o $((12 * MiB)) -l 65536 /dev/mapper/ch || fail "discard refused"
[ "$(cached_bytes ch)" -eq $((before - 65536)) ] || fail "a discard left its block cached: $(dmsetup status ch)"
cmp <(dd if=/dev/mapper/ch bs=64k skip=192 count=1 iflag=direct status=none) \
	<(dd if="$src" bs=64k skip=192 count=1 iflag=direct status=none) || fail "a read after a discard returned stale data"
blkdiscard -z -o $((13 * MiB)) -l 65536 /dev/mapper/ch || fail "write-zeroes refused"
[ "$(cached_bytes ch)" -eq $((before - 131072)) ] || fail "a write-zeroes left its block cached: $(dmsetup status ch)"
cmp <(dd if=/dev/mapper/ch bs=64k skip=208 count=1 iflag=direct status=none) <(head -c 65536 /dev/zero) ||
	fail "a read after a write-zeroes returned stale data"
dmsetup message ch 0 resume
wait_state ch synced 60
# A partial write of a block drops the whole block.
head -c 4096 /dev/urandom >"$SCRATCH/4k"
write_range /dev/mapper/ch $((10 * MiB + 8192)) "$SCRATCH/4k"
read_range /dev/mapper/ch $((10 * MiB)) 65536 "$SCRATCH/blk"
cmp <(dd if="$SCRATCH/blk" bs=4k skip=2 count=1 status=none) "$SCRATCH/4k" || fail "a read after a 4 KiB write returned stale data"
dmsetup suspend ch
compare_devices "$src" "$dst" $((16 * MiB))
# Suspending gives the memory back.
[ "$(cached_bytes ch)" -eq 0 ] || fail "suspended with $(cached_bytes ch) bytes cached"
dmsetup resume ch

# --- a write while the block's copy is on its way to the destination ---
# Destination writes take 3 s. A VM read at 4 MiB puts the head there, so the
# first run starts at block 65; the VM then writes into block 66 while that
# run waits on the destination, which leaves it dirty. Its old bytes must not
# be cached when the run completes (the VM's write moved the head to it, so it
# is copied again at once, but that copy takes 3 s too): reading it right
# after the run returns the write. (3 s, not less: on the sanitizer kernel
# the few commands between resume and the write take over a second.)
migration_pair cw 16 0 0
src=$SRC slow=$SLOW dst=$DST len=$LEN
dslow=$(slow_dev cw-dslow "$dst" 0 3000)
dm_create cw "0 $len iofollow $slow $dslow 2048 1 paused"
pattern "$SCRATCH/w" 1 cw-new
head -c 4096 "$SCRATCH/w" >"$SCRATCH/w4k"
read_range /dev/mapper/cw $((4 * MiB)) 4096 "$SCRATCH/r4k"
dmsetup message cw 0 resume
sleep 0.3
[ "$(migrated_of cw)" -eq 0 ] || fail "copies completed before the write: test proves nothing ($(dmsetup status cw))"
at=$((4 * MiB + 2 * 65536 + 8192))
write_range /dev/mapper/cw $at "$SCRATCH/w4k"
dmsetup message cw 0 stats | grep -q "invalidated_copies 1 " ||
	fail "the write did not meet its block's copy: test proves nothing ($(dmsetup message cw 0 stats))"
for ((i = 0; i < 200; i++)); do
	[ "$(migrated_of cw)" -ge 16 ] && break
	sleep 0.05
done
dmsetup message cw 0 pause
[ "$(migrated_of cw)" -ge 16 ] || fail "the first runs did not complete: $(dmsetup status cw)"
[ "$(cached_bytes cw)" -gt 0 ] || fail "nothing cached after the first runs: $(dmsetup status cw)"
read_range /dev/mapper/cw $at 4096 "$SCRATCH/r4k"
cmp "$SCRATCH/r4k" "$SCRATCH/w4k" || fail "a read after a write during the block's copy returned the copy's old bytes"
note "write during the copy: $(dmsetup status cw)"
unslow cw-dslow "$dst" # the rest needs no crawling copy
dmsetup message cw 0 resume
wait_state cw synced 120
dm_remove cw
dm_remove cw-dslow
dm_remove cw-slow

# --- messages: size, eviction, bad input ---
dmsetup message ch 0 cache 0
[ "$(capacity_bytes ch)" -eq 0 ] || fail "cache 0 left a capacity: $(dmsetup status ch)"
dmsetup table ch | grep -q " cache 0" || fail "table does not show cache 0: $(dmsetup table ch)"
hits=$(hits_of ch)
dd if=/dev/mapper/ch of=/dev/null bs=64k count=16 iflag=direct status=none
[ "$(hits_of ch)" -eq "$hits" ] || fail "hits rose with the cache off"
dmsetup message ch 0 cache 4
[ "$(capacity_bytes ch)" -eq $((4 * MiB)) ] || fail "cache 4: capacity $(capacity_bytes ch)"
dmsetup message ch 0 cache_eviction lru
dmsetup table ch | grep -q " cache 4 cache_eviction lru" || fail "table: $(dmsetup table ch)"
dmsetup message ch 0 cache_eviction liveness
for bad in "cache -1:Cache size is negative" "cache 999999999:Cache size larger than 65536 MiB" \
	"cache x:Invalid cache size" "cache_eviction mru:Unknown cache eviction: liveness or lru"; do
	kmsg_mark
	# shellcheck disable=SC2086 # the message's words (after --: -1 is no option)
	dmsetup message ch 0 -- ${bad%%:*} 2>/dev/null && fail "message '${bad%%:*}' accepted"
	kmsg_since_mark | grep -qF "${bad#*:}" || fail "no '${bad#*:}' in the kernel log for message '${bad%%:*}'"
done
[ "$(capacity_bytes ch)" -eq $((4 * MiB)) ] || fail "a refused message changed the cache: $(dmsetup status ch)"
dm_remove ch
dm_remove ch-slow

# --- bounds, eviction and reclaim, with a verified random workload during the copy ---
command -v fio >/dev/null || fail "fio missing"
# verified_load <name> <seed> <read %> <io size>: fio randrw with crc32c verify backlog while
# readers keep hitting what is cached, so that every write races the cached
# reads of its blocks.
verified_load() {
	local name=$1 seed=$2 mix=$3 size=$4
	# One fio, two jobs; --exitall stops the readers when the verifier ends.
	fio --exitall --filename="/dev/mapper/$name" --direct=1 --ioengine=libaio --size=32M \
		--name=v --iodepth=8 --rw=randrw --rwmixread="$mix" --bs=4k --io_size="$size" --randseed="$seed" \
		--verify=crc32c --verify_backlog=32 --verify_state_save=0 --verify_fatal=1 \
		--name=r --iodepth=4 --rw=randread --bs=16k --time_based --runtime=600 \
		--output="$SCRATCH/fio.out" 2>"$SCRATCH/fio.err" || { cat "$SCRATCH/fio.out" "$SCRATCH/fio.err"; return 1; }
}

run() { # <cache MiB> <eviction> [churn: resize and switch the order under the load]
	local mib=$1 eviction=$2 churn=${3:-} name=cb-$1-$2${3:+-$3} max=0 b
	# 20 ms per source IO, one copy at a time and 8 VM IOs per copy while the
	# VM is busy, started once the load's IO is under way (fio starts slowly
	# in the guest): the copy outlasts the first load. Then it speeds up.
	# VM reads stay on the source: reads the destination serves are not
	# source load, and the copy then outran the load on the debug kernel.
	migration_pair "$name" 32 20 20
	src=$SRC slow=$SLOW dst=$DST len=$LEN
	dm_create "$name" "0 $len iofollow $slow $dst 1024 9 cache $mib cache_eviction $eviction ratio 8:1 paused reads source"
	dmsetup message "$name" 0 depth 1
	(while :; do
		b=$(cached_bytes "$name")
		s=$(dmsetup message "$name" 0 stats)
		s=${s#*cache_buffers_in_module }
		echo "$b ${s%% *}"
		sleep 0.05
	done) >"$SCRATCH/bytes" &
	local sampler=$!
	local messenger=
	if [ -n "$churn" ]; then
		(while :; do
			for m in "cache $((mib / 2))" "cache_eviction lru" "cache $mib" "cache_eviction liveness"; do
				# shellcheck disable=SC2086 # the message's words
				dmsetup message "$name" 0 $m
				sleep 0.3
			done
		done) &
		messenger=$!
	fi
	local t0=$SECONDS
	(while [ "$(status_field "$name" vm_ios)" -lt 200 ]; do sleep 0.05; done
		dmsetup message "$name" 0 resume) &
	verified_load "$name" "$mib" 50 1M || { kill $sampler; fail "fio verify failed on $name during the copy"; }
	[ "$(state_of "$name")" = copying ] || fail "$name: the copy ended before the load did ($((SECONDS - t0)) s; $(grep -o 'run=[0-9]*' "$SCRATCH/fio.out")): test proves nothing"
	note "$name: after the load during the copy: $(dmsetup status "$name")"
	dmsetup message "$name" 0 depth 4
	wait_state "$name" synced 300
	if [ -n "$messenger" ]; then
		kill "$messenger"
		wait "$messenger" 2>/dev/null || true
	fi
	# Synced: the cache holds what the last copies wrote and no write has
	# dropped; mostly reads now, so that some of it stays for the checks below.
	verified_load "$name" $((mib + 1000)) 90 2M || { kill $sampler; fail "fio verify failed on $name after sync"; }
	kill $sampler
	wait $sampler 2>/dev/null || true
	max=$(cut -d' ' -f1 "$SCRATCH/bytes" | sort -n | tail -1)
	[ "$max" -le $((mib * MiB)) ] || fail "$name: $max bytes cached, above the capacity"
	# Buffers alive: the cached ones, one being inserted, and those reads
	# hold while being filled (16 KiB reads of fio and verify reads, at most
	# 2 blocks each, 12 in flight).
	local bufs
	bufs=$(cut -d' ' -f2 "$SCRATCH/bytes" | sort -n | tail -1)
	[ "$bufs" -le $((mib * MiB / 65536 + 1 + 24)) ] || fail "$name: $bufs cache buffers alive for $((mib * MiB / 65536)) entries"
	note "$name: $(dmsetup status "$name"); most cached $max bytes, most buffers alive $bufs"
	# (A churned 1 MiB cache, off half the time, may well serve nothing.)
	[ -n "$churn" ] || [ "$(hits_of "$name")" -gt 0 ] || fail "$name: no hit"
	# The entry slab cache is its own (a merged cache is a symlink here). Its
	# active count includes the free objects of per-CPU slabs, so it bounds
	# nothing exactly: the module's own count above does.
	[ -d /sys/kernel/slab/iofollow_cache_entry ] && [ ! -L /sys/kernel/slab/iofollow_cache_entry ] ||
		fail "iofollow_cache_entry is not a slab cache of its own"
	note "$name: slabinfo $(grep '^iofollow_cache_entry ' /proc/slabinfo | cut -c1-60)"
	# Reclaim empties it; nothing fails, and reads still return the data. (A
	# churned cache may have been emptied by the last resize: nothing to reclaim.)
	if [ -z "$churn" ]; then
		[ "$(cached_bytes "$name")" -gt 0 ] || fail "$name: synced with an empty cache"
	fi
	kmsg_mark
	echo 2 >/proc/sys/vm/drop_caches
	[ "$(cached_bytes "$name")" -eq 0 ] || fail "$name: drop_caches left $(cached_bytes "$name") bytes cached"
	dmsetup message "$name" 0 stats | grep -qE "cache_buffers_in_module 0( |$)" ||
		fail "$name: buffers alive after reclaim: $(dmsetup message "$name" 0 stats)"
	kmsg_since_mark | grep -i "iofollow.*\(error\|fail\)" && fail "$name: errors after reclaim"
	dmsetup suspend "$name"
	compare_devices "$src" "$dst" $((32 * MiB))
	dmsetup resume "$name"
	cmp <(dd if="/dev/mapper/$name" bs=1M count=8 iflag=direct status=none) \
		<(dd if="$src" bs=1M count=8 iflag=direct status=none) || fail "$name: device reads differ from the source"
	dm_remove "$name"
	dm_remove "$name-slow"
}
# 16 blocks for 512, evictions all along, while the size goes 0 (off) and 1
# and the order LRU and liveness under the load
run 1 liveness churn
run 32 liveness # the whole device fits: every write meets a cached block
