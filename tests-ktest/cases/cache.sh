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
# The copy goes in order from block 0, one run at a time, and the
# destination holds every write (60 s) until the case lets it go: nothing
# here races a time, so a slow guest cannot let the copy outrun the write
# (a 3 s delay once did). The VM writes into block 2 while the first run's
# write is held, which leaves the block dirty. Released, the run completes
# and must not cache block 2's old bytes (a run with a dirty block caches
# none); its copy again is held at the destination, so a read of it now
# misses and comes from the source, or hits a stale entry if the bug is back.
migration_pair cw 16 0 0
src=$SRC slow=$SLOW dst=$DST len=$LEN
dslow=$(slow_dev cw-dslow "$dst" 0 60000)
dest_write_held() { # dm-delay's status: reads, writes and flushes it holds
	local f
	read -r -a f <<<"$(dmsetup status cw-dslow)"
	[ "${f[4]}" -gt 0 ]
}
wait_dest_write_held() {
	local end=$((SECONDS + 30))
	until dest_write_held; do
		[ $SECONDS -lt $end ] || fail "no copy reached the destination in 30 s: $(dmsetup status cw)"
		sleep 0.1
	done
}
# Paused until udev's probe is done: a probe read could piggyback a copy.
dm_create cw "0 $len iofollow $slow $dslow 2048 5 policy sequential depth 1 paused"
dmsetup message cw 0 resume
wait_dest_write_held
[ "$(migrated_of cw)" -eq 0 ] || fail "a copy completed while the destination held its write: $(dmsetup status cw)"
pattern "$SCRATCH/w" 1 cw-new
head -c 4096 "$SCRATCH/w" >"$SCRATCH/w4k"
at=$((2 * 65536 + 8192))
write_range /dev/mapper/cw $at "$SCRATCH/w4k"
dmsetup message cw 0 stats | grep -q "invalidated_copies 1 " ||
	fail "the write did not meet its block's copy: test proves nothing ($(dmsetup message cw 0 stats))"
# A reload of the delay device sends what it holds on (dm-delay's
# presuspend) and holds the next writes again.
set_slow cw-dslow "$dst" 0 60000
wait_migrated cw 1 30 || true # judged below
[ "$(migrated_of cw)" -gt 0 ] || fail "the released run did not complete: $(dmsetup status cw)"
wait_dest_write_held
hits=$(hits_of cw)
read_range /dev/mapper/cw $at 4096 "$SCRATCH/r4k"
cmp "$SCRATCH/r4k" "$SCRATCH/w4k" || fail "a read after a write during the block's copy returned the copy's old bytes"
[ "$(hits_of cw)" -eq "$hits" ] || fail "block 2 was cached from the copy its write met: $(dmsetup status cw)"
note "write during the copy: $(dmsetup status cw)"
unslow cw-dslow "$dst" # the rest needs no crawling copy
wait_state cw synced 120
compare_devices "$src" "$dst" $((16 * MiB))
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
# verified_load <name> <seed> <read %> <MiB>: fio randrw of <MiB> with crc32c
# verify backlog while a reader keeps hitting what is cached, so that every
# write races the cached reads of its blocks. Both jobs have a size, not a
# time: the load is a fixed number of VM IOs (<MiB> * 256 by the verifier,
# half as many by the reader).
verified_load() {
	local name=$1 seed=$2 mix=$3 mib=$4
	fio --filename="/dev/mapper/$name" --direct=1 --ioengine=libaio --size=32M \
		--name=v --iodepth=8 --rw=randrw --rwmixread="$mix" --bs=4k --io_size="${mib}M" --randseed="$seed" \
		--verify=crc32c --verify_backlog=32 --verify_state_save=0 --verify_fatal=1 \
		--name=r --iodepth=4 --rw=randread --bs=16k --io_size="$((2 * mib))M" \
		--output="$SCRATCH/fio.out" 2>"$SCRATCH/fio.err" || { cat "$SCRATCH/fio.out" "$SCRATCH/fio.err"; return 1; }
}

run() { # <cache MiB> <eviction> [churn: resize and switch the order under the load]
	local mib=$1 eviction=$2 churn=${3:-} name=cb-$1-$2${3:+-$3} max=0 b
	# The copy must still run when the load ends, whatever the guest's
	# speed. The ratio (8:1) is work-conserving: while no VM IO waits
	# (cache hits, fio between IOs) the copy runs free, and once outran a
	# fixed number of VM IOs, fio's start-up alone once outlasted it. So
	# it is bounded by the devices, not by time: source IOs take 100 ms,
	# one copy runs at a time and copies one block (64 KiB chunks), so
	# the 512 blocks take 51 s at least, against a load of 384 VM IOs, 12
	# in flight, of 100 ms (about 4 s). It is resumed once fio's reads
	# reach the source, and the source is fast again after the load.
	# VM reads stay on the source: reads the destination serves are not
	# source load.
	migration_pair "$name" 32 100 100
	src=$SRC slow=$SLOW dst=$DST len=$LEN
	dm_create "$name" "0 $len iofollow $slow $dst 128 9 cache $mib cache_eviction $eviction ratio 8:1 paused reads source"
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
	local t0=$SECONDS source_reads
	source_reads=$(reads_of "$slow")
	(while [ "$(reads_of "$slow")" -lt $((source_reads + 16)) ]; do sleep 0.02; done
		dmsetup message "$name" 0 resume) &
	local resumer=$!
	verified_load "$name" "$mib" 50 1 || fail "fio verify failed on $name during the copy"
	local during
	during=$(dmsetup status "$name")
	# Gone already unless the load ended within its first 16 reads.
	kill $resumer 2>/dev/null || true
	wait $resumer 2>/dev/null || true
	# shellcheck disable=SC2086 # its fields
	set -- $during
	[ "$4" = copying ] || fail "$name: the copy was not running when the load ended ($((SECONDS - t0)) s; $(grep -o 'run=[0-9]*' "$SCRATCH/fio.out" | tr '\n' ' ')): test proves nothing ($during)"
	[ "${5%/*}" -gt 0 ] || fail "$name: nothing copied during the load: test proves nothing ($during)"
	note "$name: after the load during the copy: $during"
	unslow "$name-slow" "$src"
	dmsetup message "$name" 0 depth 4
	wait_state "$name" synced 300
	if [ -n "$messenger" ]; then
		kill "$messenger" 2>/dev/null || true
		wait "$messenger" 2>/dev/null || true
	fi
	# Synced: the cache holds what the last copies wrote and no write has
	# dropped; mostly reads now, so that some of it stays for the checks below.
	verified_load "$name" $((mib + 1000)) 90 2 || fail "fio verify failed on $name after sync"
	kill $sampler 2>/dev/null || true
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
