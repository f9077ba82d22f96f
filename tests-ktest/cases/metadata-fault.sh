#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `metadata <dev>` when the metadata device fails its writes: a VM write
# held for a commit that fails is still acknowledged, once both superblock
# slots are zeroed, and is on both legs; `stats` says `metadata
# invalidated`, no commit follows, the copy ends identical, and the next
# table trusts nothing. When the slots cannot be zeroed either, the write
# still completes, `stats` says `metadata stale` and the log names the
# remedy.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module

migration_pair mdf 64 100 0
src=$SRC dst=$DST len=$LEN slow=$SLOW
meta=$(make_loop 1)
msz=$(sectors "$meta")
# The table's metadata device is dm-linear over the loop device, so that a
# reload can make its writes fail (dm's error target takes no flushes).
dm_create mdf-meta "0 $msz linear $meta 0"
mdev=/dev/mapper/mdf-meta
# meta_table <table lines>: a live reload of mdf-meta (several lines).
meta_table() {
	printf '%s\n' "$@" | dmsetup load mdf-meta || fail "cannot load mdf-meta: $*"
	dmsetup suspend mdf-meta && dmsetup resume mdf-meta || fail "cannot reload mdf-meta"
}
# recorded_then_fault <fault table lines>: a copy part-way with every
# migrated block recorded, then the fault; sets block and other to two
# recorded blocks.
recorded_then_fault() {
	dmsetup message mdf 0 resume
	wait_migrated mdf 100 120 || fail "copy did not reach 100 blocks: $(dmsetup status mdf)"
	dmsetup message mdf 0 pause
	wait_recorded mdf 20
	[ "$(stat_of mdf metadata)" = ok ] || fail "metadata not ok before the fault: $(dmsetup message mdf 0 stats)"
	block=$(md_first_recorded "$meta") other=$(md_first_recorded "$meta" 2)
	[ -n "$block" ] && [ "$(md_bit "$meta" "$block")" = 1 ] || fail "no recorded block on the device: '$block'"
	[ -n "$other" ] && [ "$(md_bit "$meta" "$other")" = 1 ] || fail "no second recorded block on the device: '$other'"
	meta_table "$@"
}
# write_recorded <block> <pattern file>: a VM write to the block, which
# must be acknowledged and read back from both legs (it was migrated, so
# mirrored).
write_recorded() {
	local off=$(($1 * 65536))
	dd if="$2" of=/dev/mapper/mdf bs=4096 count=1 seek=$(($1 * 16)) oflag=direct conv=notrunc status=none ||
		fail "write to recorded block $1 failed after a metadata fault"
	cmp -s <(head -c 4096 "$2") <(direct_read_at "$src" "$off" 4096) || fail "block $1's write is not on the source"
	cmp -s <(head -c 4096 "$2") <(direct_read_at "$dst" "$off" 4096) || fail "block $1's write is not on the destination"
}

dm_create mdf "0 $len iofollow $slow $dst 512 3 metadata $mdev paused"
[ "$(stat_of mdf metadata)" = ok ] || fail "a table with metadata says: $(dmsetup message mdf 0 stats)"

# The bitmap pages fail their writes, the superblock slots still take them.
kmsg_mark
recorded_then_fault "0 16 linear $meta 0" "16 $((msz - 16)) error"
commits=$(stat_of mdf metadata_commits)
held=$(stat_of mdf held_writes)
pattern "$SCRATCH/w1" 1 mdf-w1
write_recorded "$block" "$SCRATCH/w1"
[ "$(stat_of mdf held_writes)" -gt "$held" ] || fail "the write to recorded block $block was not held"
[ "$(stat_of mdf metadata)" = invalidated ] || fail "after a failed commit: $(dmsetup message mdf 0 stats)"
kmsg_since_mark | grep -q "metadata commit failed" || fail "no failed-commit line in the log"
kmsg_since_mark | grep -q "metadata invalidated after a failed commit" || fail "no invalidation line in the log"
[ -z "$(dd if="$meta" bs=4096 count=2 iflag=direct status=none | tr -d '\0' | head -c 1)" ] ||
	fail "the superblock slots were not zeroed after the failed commit"
# Nothing is recorded any more: a write to another block recorded before
# the fault (held, were it still recorded) goes at once.
held=$(stat_of mdf held_writes)
pattern "$SCRATCH/w2" 1 mdf-w2
write_recorded "$other" "$SCRATCH/w2"
[ "$(stat_of mdf held_writes)" = "$held" ] || fail "a write was held after the metadata was invalidated"
unslow mdf-slow "$src"
dmsetup message mdf 0 resume
wait_state mdf synced 300
[ "$(stat_of mdf metadata_commits)" = "$commits" ] || fail "commits went on after the metadata was invalidated"
compare_devices "$src" "$dst" $((64 * 1048576))
dm_remove mdf
# The device back: the next table finds it zeroed and copies everything.
meta_table "0 $msz linear $meta 0"
dm_create mdf "0 $len iofollow $slow $dst 512 3 metadata $mdev paused"
[ "$(migrated_of mdf)" = 0 ] || fail "after an invalidation the next table trusted $(migrated_of mdf) blocks"
note "bitmap writes failed: write to block $block acknowledged on both legs, slots zeroed, a write to recorded block $other then not held, no commit after; identical; the next table trusts nothing"

# Every metadata write fails: the slots cannot be zeroed. The held write
# still completes; the device is called stale.
set_slow mdf-slow "$src" 100 0
kmsg_mark
recorded_then_fault "0 $msz error"
held=$(stat_of mdf held_writes)
pattern "$SCRATCH/w3" 1 mdf-w3
write_recorded "$block" "$SCRATCH/w3"
[ "$(stat_of mdf held_writes)" -gt "$held" ] || fail "the write to recorded block $block was not held"
[ "$(stat_of mdf metadata)" = stale ] || fail "after a failed invalidation: $(dmsetup message mdf 0 stats)"
kmsg_since_mark | grep -q "cannot invalidate the metadata after a failed commit.*zero its first 8 KiB" ||
	fail "no stale-metadata line naming the remedy in the log"
unslow mdf-slow "$src"
dmsetup message mdf 0 resume
wait_state mdf synced 300
compare_devices "$src" "$dst" $((64 * 1048576))
dm_remove mdf
note "every metadata write failed: write to block $block acknowledged on both legs, metadata stale (logged with the remedy); identical"
