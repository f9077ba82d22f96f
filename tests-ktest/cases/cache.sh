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
hits_of() { status_field "$1" 6; }
misses_of() { status_field "$1" 7; }
cached_bytes() { local p; p=$(status_field "$1" 8); echo "${p%/*}"; }
capacity_bytes() { local p; p=$(status_field "$1" 8); echo "${p#*/}"; }

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
run() { # <cache MiB> <eviction>
	local mib=$1 eviction=$2 name=cb-$1-$2 max=0 b
	migration_pair "$name" 64 1 1
	src=$SRC slow=$SLOW dst=$DST len=$LEN
	dm_create "$name" "0 $len iofollow $slow $dst 1024 4 cache $mib cache_eviction $eviction"
	# Readers keep hitting what the copy just cached while fio writes and
	# verifies: every write races the cached reads of its blocks.
	(while :; do
		fio --name=r --filename="/dev/mapper/$name" --direct=1 --ioengine=libaio --iodepth=4 \
			--rw=randread --bs=16k --size=64M --io_size=4M --output=/dev/null >/dev/null 2>&1
	done) &
	local readers=$!
	(while :; do
		b=$(status_field "$name" 8)
		s=$(dmsetup message "$name" 0 stats)
		s=${s#*cache_buffers_in_module }
		echo "${b%/*} ${s%% *}"
		sleep 0.05
	done) >"$SCRATCH/bytes" &
	local sampler=$!
	fio --name=v --filename="/dev/mapper/$name" --direct=1 --ioengine=libaio --iodepth=8 \
		--rw=randrw --bs=4k --size=64M --io_size=16M --randseed=$mib \
		--verify=crc32c --verify_backlog=32 --verify_state_save=0 --verify_fatal=1 \
		--output="$SCRATCH/fio.out" ||
		{ kill $readers $sampler; cat "$SCRATCH/fio.out"; fail "fio verify failed on $name"; }
	kill $readers
	wait $readers 2>/dev/null || true
	wait_state "$name" synced 300
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
	[ "$(hits_of "$name")" -gt 0 ] || fail "$name: no hit during the copy"
	# The entry slab cache is there, unmerged. Its active count includes the
	# free objects of per-CPU slabs, so it bounds nothing exactly.
	grep -q '^iofollow_cache_entry ' /proc/slabinfo || fail "no iofollow_cache_entry in /proc/slabinfo"
	note "$name: slabinfo $(grep '^iofollow_cache_entry ' /proc/slabinfo | cut -c1-60)"
	# Reclaim empties it; nothing fails, and reads still return the data.
	[ "$(cached_bytes "$name")" -gt 0 ] || fail "$name: synced with an empty cache"
	kmsg_mark
	echo 2 >/proc/sys/vm/drop_caches
	[ "$(cached_bytes "$name")" -eq 0 ] || fail "$name: drop_caches left $(cached_bytes "$name") bytes cached"
	dmsetup message "$name" 0 stats | grep -q "cache_buffers_in_module 0$" ||
		fail "$name: buffers alive after reclaim: $(dmsetup message "$name" 0 stats)"
	kmsg_since_mark | grep -i "iofollow.*\(error\|fail\)" && fail "$name: errors after reclaim"
	dmsetup suspend "$name"
	compare_devices "$src" "$dst" $((64 * MiB))
	dmsetup resume "$name"
	cmp <(dd if="/dev/mapper/$name" bs=1M iflag=direct status=none) <(dd if="$src" bs=1M iflag=direct status=none) ||
		fail "$name: device reads differ from the source"
	dm_remove "$name"
	dm_remove "$name-slow"
}
run 1 liveness # 16 blocks for 1024: evictions all along
run 1 lru
run 64 liveness # the whole device fits: every write meets a cached block
