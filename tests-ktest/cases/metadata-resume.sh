#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `metadata <dev>`: a suspend, a remove and a reload keep the migrated map,
# and the next table copies only the rest (the source's read counter says
# so), ending byte-identical; while the table runs, commits keep the bitmap
# (a VM write to a recorded block returns only after its bit is cleared on
# the device), so what a crash leaves resumes from the last commit and ends
# identical; metadata of another geometry, another
# program's data, a device too small or one inside a leg each fail the
# table with its own error and are not written; a reset, live or
# suspended, starts over; metadata of another volume or of the legs
# swapped is refused by the identity tags.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
DUMP=$REPO/target/release/iofollow-dump
[ -x "$DUMP" ] || fail "no $DUMP (make bins)"

migration_pair mdr 64 200 0
src=$SRC dst=$DST len=$LEN slow=$SLOW
meta=$(make_loop 1)
# Volatile caches, so that the checkpoint's flushes are counted.
write_back "$src"
write_back "$meta"
meta_majmin=$(lsblk -dno MAJ:MIN "$meta" | tr -d ' ')
table="0 $len iofollow $slow $dst 512 2 metadata $meta"
# sectors_read <dev>: sectors the device has read (field 3 of its stat).
sectors_read() {
	local f
	read -r -a f <"/sys/block/$(sysfs_name "$1")/stat"
	echo "${f[2]}"
}
# dump_field <pattern>: the metadata's dump, one line matched.
dump_line() {
	"$DUMP" "$meta" | grep -E "$1" || true
}
# A fresh device: the table prints it, and while it is live no slot is clean.
dm_create mdr "0 $len iofollow $slow $dst 512 3 metadata $meta paused"
dmsetup table mdr | grep -q " metadata $meta_majmin\( \|$\)" ||
	fail "table line does not print the metadata device: $(dmsetup table mdr)"
[ -n "$(dump_line '^superblock: .*clean shutdown no')" ] ||
	fail "a live table left a clean superblock: $("$DUMP" "$meta")"
dmsetup message mdr 0 resume
wait_migrated mdr 300 120 || fail "copy did not reach 300 blocks: $(dmsetup status mdr)"
dmsetup message mdr 0 pause

# VM writes while part is migrated: mirrored or not, the end is identical.
pattern "$SCRATCH/w" 1 mdr-w
write_range /dev/mapper/mdr 0 "$SCRATCH/w"
write_range /dev/mapper/mdr $((40 * 1048576)) "$SCRATCH/w"

# Suspended means drained: the count is exact, and the checkpoint is
# written after a flush of the source (a copy may have read its cache) and
# of the metadata device (the bitmap before the superblock).
# (udev's probe after the writes first: a probe of a suspended device waits.)
udevadm settle --timeout=10 2>/dev/null || true
src_flushes=$(flush_count "$src") meta_flushes=$(flush_count "$meta")
dmsetup suspend mdr
[ "$(flush_count "$src")" -gt "$src_flushes" ] || fail "checkpoint without a source flush"
[ "$(flush_count "$meta")" -gt "$meta_flushes" ] || fail "checkpoint without a metadata flush"
kept=$(migrated_of mdr)
total=$(total_of mdr)
[ "$kept" -lt "$total" ] || fail "copy complete before the checkpoint: test proves nothing"
# Resumed, still paused, then removed: the remove writes the checkpoint again.
dmsetup resume mdr
dm_remove mdr
[ -n "$(dump_line '^superblock: .*clean shutdown yes')" ] ||
	fail "no clean checkpoint after remove: $("$DUMP" "$meta")"
[ -n "$(dump_line "^migrated: $kept of $total blocks in the bitmap, $kept at the last commit")" ] ||
	fail "checkpoint does not hold the $kept migrated blocks: $("$DUMP" "$meta")"
note "removed at $kept of $total blocks: checkpoint clean"

# A new table resumes: the blocks count before any copy (paused), and only
# the rest is read from the source.
kmsg_mark
dm_create mdr "0 $len iofollow $slow $dst 512 3 metadata $meta paused"
[ "$(migrated_of mdr)" = "$kept" ] || fail "resumed with $(migrated_of mdr) blocks, checkpoint had $kept"
kmsg_since_mark | grep -q "resumed from the metadata's checkpoint [0-9]*: $kept of $total blocks migrated" ||
	fail "no resume line in the kernel log: $(kmsg_since_mark | grep iofollow)"
before=$(sectors_read "$src")
dmsetup message mdr 0 resume
wait_state mdr synced 300
read_again=$(($(sectors_read "$src") - before))
rest=$(((total - kept) * 128))
# Nothing else reads the source's loop device; a little room for udev.
[ "$read_again" -le $((rest + 2048)) ] ||
	fail "copy read $read_again sectors of the source, the $((total - kept)) blocks left are $rest: it started over"
[ "$read_again" -ge "$rest" ] || fail "copy read $read_again sectors, fewer than the $rest left: test proves nothing"
unslow mdr-slow "$src"
compare_devices "$src" "$dst" $((64 * 1048576))
note "resumed copy read $read_again sectors for $rest left; identical"

# A reload of the synced device: synced at once, nothing copied again (the
# new table's copy counter; udev's probe of the reloaded device reads it).
dm_reload mdr "$table"
[ "$(state_of mdr)" = synced ] || fail "reload of a synced device: $(dmsetup status mdr)"
[ "$(migrated_of mdr)" = "$total" ] || fail "reload kept $(migrated_of mdr) of $total blocks"
[ "$(status_field mdr migration_ios)" = 0 ] || fail "reload of a synced device copied again: $(dmsetup status mdr)"

# `reset` starts over on purpose: every block is read from the source again.
kmsg_mark
before=$(sectors_read "$src")
dmsetup message mdr 0 reset
kmsg_since_mark | grep -q "reset: the copy starts over ($total migrated blocks to copy again)" ||
	fail "no reset line in the kernel log: $(kmsg_since_mark | grep iofollow)"
wait_state mdr synced 300
read_again=$(($(sectors_read "$src") - before))
[ "$read_again" -ge $((total * 128)) ] ||
	fail "after reset the copy read $read_again sectors of the source, the whole is $((total * 128))"
compare_devices "$src" "$dst" $((64 * 1048576))
note "reset: the copy read all $read_again sectors again; identical"

# `reset` of a suspended device, after its checkpoint: the checkpoint is
# withdrawn before the reply, so the source may then be written outside the
# target, and a remove (no postsuspend: it is suspended) leaves nothing to
# trust. The next table copies everything, the outside write too.
udevadm settle --timeout=10 2>/dev/null || true
dmsetup suspend mdr
[ -n "$(dump_line '^superblock: .*clean shutdown yes')" ] || fail "no clean checkpoint at suspend"
dmsetup message mdr 0 reset
[ -n "$(dump_line '^superblock: .*clean shutdown no')" ] ||
	fail "reset of a suspended device left its checkpoint clean: $("$DUMP" "$meta")"
pattern "$SCRATCH/outside" 1 mdr-outside
dd if="$SCRATCH/outside" of="$src" bs=1M seek=8 oflag=direct conv=notrunc status=none
dm_remove mdr
kmsg_mark
# The metadata behind dm-delay (fast for now): the gate below slows it.
meta_slow=$(slow_dev mdr-meta "$meta" 0 0)
dm_create mdr "0 $len iofollow $slow $dst 512 3 metadata $meta_slow paused"
[ "$(migrated_of mdr)" = 0 ] || fail "after a reset the next table trusted $(migrated_of mdr) blocks"
kmsg_since_mark | grep -q "did not shut down cleanly or was reset" || fail "no start-over line in the log"
[ -n "$(dump_line '^superblock: .*clean shutdown no, committed no')" ] ||
	fail "a table that trusts nothing yet says committed: $("$DUMP" "$meta")"

# Commits while the table runs: the copied blocks reach the bitmap without
# a suspend, under a superblock that is committed and not clean (copy
# reads slowed again, so that the copy is still running then).
set_slow mdr-slow "$src" 200 0
dmsetup message mdr 0 resume
wait_migrated mdr 200 120 || fail "copy did not reach 200 blocks: $(dmsetup status mdr)"
dmsetup message mdr 0 pause
wait_recorded mdr 20
recorded=$(stat_of mdr recorded_blocks)
[ "$recorded" -lt "$total" ] || fail "copy complete before the commit: test proves nothing"
[ -n "$(dump_line '^superblock: .*clean shutdown no, committed yes')" ] ||
	fail "no committed superblock while live: $("$DUMP" "$meta")"
[ -n "$(dump_line "^migrated: $recorded of $total blocks in the bitmap, $recorded at the last commit")" ] ||
	fail "the bitmap does not hold the $recorded recorded blocks: $("$DUMP" "$meta")"

# A VM write to a recorded block is acknowledged only after a commit has
# cleared the bits of its chunk (the region: 4 blocks) on the device; once
# the chunk's writes have been quiet for a second, a later commit records
# it again. The metadata's writes take 300 ms each, so a write let through
# before its clear returns with the bit still set.
block=$(md_first_recorded "$meta")
[ -n "$block" ] && [ "$(md_bit "$meta" "$block")" = 1 ] || fail "no recorded block on the device: '$block'"
# A recorded block of the same chunk, and one of another chunk.
near= far=
for b in $((block / 4 * 4)) $((block / 4 * 4 + 1)) $((block / 4 * 4 + 2)) $((block / 4 * 4 + 3)); do
	[ "$b" != "$block" ] && [ "$(md_bit "$meta" "$b")" = 1 ] && { near=$b; break; }
done
[ -n "$near" ] || fail "no other recorded block in block $block's chunk: cannot test the region"
for k in 2 3 4 5 6 7 8 9; do
	b=$(md_first_recorded "$meta" $k)
	[ -n "$b" ] && [ $((b / 4)) != $((block / 4)) ] && { far=$b; break; }
done
[ -n "$far" ] || fail "no recorded block in another chunk than block $block's: cannot test the region"
held=$(stat_of mdr held_writes) commits=$(stat_of mdr metadata_commits)
pattern "$SCRATCH/gate" 1 mdr-gate
set_slow mdr-meta "$meta" 0 300
dd if="$SCRATCH/gate" of=/dev/mapper/mdr bs=4096 count=1 seek=$((block * 16)) oflag=direct conv=notrunc status=none ||
	fail "write to recorded block $block failed"
# The chunk's clear covered block $near: a write to it right after is not
# held (it would be, were it still recorded).
dd if="$SCRATCH/gate" of=/dev/mapper/mdr bs=4096 count=1 seek=$((near * 16)) oflag=direct conv=notrunc status=none ||
	fail "write to block $near failed"
[ "$(stat_of mdr held_writes)" = $((held + 1)) ] ||
	fail "$(($(stat_of mdr held_writes) - held)) writes held, not 1: the write to block $block, then the one to block $near in its cleared chunk"
# Set again only by a second commit after the one that cleared them (the
# written chunk waits a second or more for it).
for b in $block $near; do
	if [ "$(md_bit "$meta" "$b")" != 0 ] && [ "$(stat_of mdr metadata_commits)" -lt $((commits + 2)) ]; then
		fail "block $b's bit was set on the device when the writes returned"
	fi
done
[ "$(md_bit "$meta" "$far")" = 1 ] || fail "block $far's bit, in another chunk, was cleared by a write to block $block"
# A discard goes to the source alone (map remaps it, no worker in between):
# it too returns only after its block's clear.
discarded=$far
[ "$(md_bit "$meta" "$discarded")" = 1 ] || fail "block $discarded is not recorded: cannot test the discard"
blkdiscard -o $((discarded * 65536)) -l 65536 /dev/mapper/mdr || fail "discard of block $discarded failed"
[ "$(md_bit "$meta" "$discarded")" = 0 ] || fail "block $discarded's bit was set on the device when its discard returned"
unslow mdr-meta "$meta"
# Cleaned lazily: while the VM keeps writing block $block (back-to-back
# writes for 6 s, one process; the metadata fast again), it is not
# recorded again between them, so none waits (one commit a second would record it after each write, were
# the written block offered again at once). Counted from fio's second
# completed write: its start may leave the block quiet long enough to be
# recorded, and its first write then waits, as it should.
fio --name=hot --filename=/dev/mapper/mdr --rw=write --bs=4096 --direct=1 --ioengine=psync \
	--offset=$((block * 65536)) --size=4096 --time_based --runtime=6 --output-format=json \
	--output="$SCRATCH/hot.json" &
hot=$! started=$SECONDS
writes=$(writes_of /dev/mapper/mdr)
until [ "$(writes_of /dev/mapper/mdr)" -ge $((writes + 2)) ]; do
	kill -0 $hot 2>/dev/null || fail "fio ended before its second write to block $block"
	sleep 0.05
done
held=$(stat_of mdr held_writes) writes=$(writes_of /dev/mapper/mdr)
# Not recorded while written: looked at only while fio has 2 s or more
# to run (once it ends, the quiet chunk is recorded again, as it should).
bit=$(md_bit "$meta" "$block")
if [ $((SECONDS - started)) -le 3 ] && [ "$bit" != 0 ]; then
	fail "block $block was recorded while the VM kept writing it"
fi
wait $hot || fail "writes to block $block failed"
n=$(($(writes_of /dev/mapper/mdr) - writes))
[ "$n" -gt 10 ] || fail "only $n writes to block $block in 6 s: cannot test the cleaning"
[ "$(stat_of mdr held_writes)" = "$held" ] ||
	fail "$(($(stat_of mdr held_writes) - held)) of the last $n writes to block $block were held: it was recorded again between them"
wait_recorded mdr 20
[ "$(md_bit "$meta" "$block")" = 1 ] && [ "$(md_bit "$meta" "$near")" = 1 ] ||
	fail "blocks $block and $near were not recorded again after their writes"
note "commits: $recorded blocks recorded live; a write to block $block waited for its chunk's clear (block $near's too, not block $far's), the last $n of 6 s back-to-back did not, and the chunk was recorded again once quiet; a discard of block $discarded waited for its clear"

# What a crash leaves: the whole metadata device of this live table (a
# crash of the guest is make crash's). The copy goes on to the end first;
# with no write since, every bit the image holds is still true.
recorded=$(stat_of mdr recorded_blocks)
dd if="$meta" of="$SCRATCH/live-meta" bs=64k iflag=direct status=none
unslow mdr-slow "$src"
dmsetup message mdr 0 resume
wait_state mdr synced 300
compare_devices "$src" "$dst" $((64 * 1048576))
note "reset while suspended: checkpoint withdrawn, the outside write copied; identical"
dm_remove mdr
[ -n "$(dump_line '^superblock: .*clean shutdown yes')" ] || fail "no clean checkpoint after the second remove"
dd if="$SCRATCH/live-meta" of="$meta" bs=64k oflag=direct conv=notrunc status=none
kmsg_mark
dm_create mdr "0 $len iofollow $slow $dst 512 3 metadata $meta paused"
[ "$(migrated_of mdr)" = "$recorded" ] || fail "resumed from a live table's metadata with $(migrated_of mdr) blocks, it had committed $recorded"
kmsg_since_mark | grep -q "resumed from the metadata's last commit [0-9]*: $recorded of $total blocks migrated" ||
	fail "no resume-from-commit line in the log: $(kmsg_since_mark | grep iofollow)"
before=$(sectors_read "$src")
dmsetup message mdr 0 resume
wait_state mdr synced 300
read_again=$(($(sectors_read "$src") - before))
rest=$(((total - recorded) * 128))
[ "$read_again" -le $((rest + 2048)) ] ||
	fail "resumed from a commit, the copy read $read_again sectors, the $((total - recorded)) blocks left are $rest"
compare_devices "$src" "$dst" $((64 * 1048576))
dm_remove mdr
note "a live table's metadata: resumed from its last commit at $recorded blocks, read $read_again sectors for $rest left; identical"

# Refused metadata is not written. Each attempt's error is in the log.
refused() { # <what> <error text> <table>
	local sum
	sum=$(md5sum <"$meta")
	kmsg_mark
	! dmsetup create mdr-bad --table "$3" 2>/dev/null || fail "$1: table accepted"
	kmsg_since_mark | grep -qF "$2" || fail "$1: no '$2' in the log: $(kmsg_since_mark | grep iofollow)"
	[ "$(md5sum <"$meta")" = "$sum" ] || fail "$1: the metadata device was written"
}
refused "another length" "Metadata was written for a target of another length" \
	"0 $((len - 128)) iofollow $slow $dst 512 2 metadata $meta"
refused "another block size" "Metadata block size differs from the table's" \
	"0 $len iofollow $slow $dst 512 4 metadata $meta block 256"
refused "the destination as metadata" "Metadata device is the source or the destination" \
	"0 $len iofollow $slow $dst 512 2 metadata $dst"
other=$SCRATCH/other
head -c 8192 /dev/urandom >"$other"
dd if="$other" of="$meta" bs=4096 count=2 oflag=direct conv=notrunc status=none
refused "another program's data" "Metadata device holds other data" "$table"
truncate -s 8192 "$SCRATCH/tiny"
tiny=$(losetup -f --show "$SCRATCH/tiny")
echo "$tiny" >>"$LOOP_LIST"
meta=$tiny refused "a device too small" "Metadata device is too small" \
	"0 $len iofollow $slow $dst 512 2 metadata $tiny"
# A partition of a whole-disk destination: the checkpoint would write into
# the copy. The block layer does not let the table claim both (EBUSY).
disk=$(make_loop 66 -P)
printf 'start=2048, size=2048\n' | sfdisk -q "$disk" >/dev/null || fail "cannot partition $disk"
udevadm settle --timeout=10 || true
[ -b "${disk}p1" ] || fail "no partition ${disk}p1"
meta=${disk}p1 refused "a partition of the destination" "Error opening metadata device (-16)" \
	"0 $len iofollow $slow $disk 512 2 metadata ${disk}p1"
note "refused: another length, block size, the destination or a partition of it, other data, too small"

# Identity: metadata written for one pair of dm devices (tagged by their
# UUIDs) is refused for another source of the same size and for the legs
# swapped, and accepted again for the same pair.
meta=$(make_loop 1)
dm_uuid() { # <name> <uuid> <table>
	dmsetup create "$1" -u "$2" --table "$3" || fail "dmsetup create $1 failed"
	echo "$1" >>"$DM_LIST"
}
dm_uuid mdr-a IOFTEST-mdr-source "0 $len linear $src 0"
dm_uuid mdr-b IOFTEST-mdr-other "0 $len linear $src 0"
dm_uuid mdr-d IOFTEST-mdr-dest "0 $len linear $dst 0"
pair="0 $len iofollow /dev/mapper/mdr-a /dev/mapper/mdr-d 512 3 metadata $meta paused"
dm_create mdr "$pair"
dm_remove mdr
[ -n "$(dump_line '^source: [0-9]+ sectors, tag [0-9a-f]{32}$')" ] ||
	fail "no source tag in the metadata: $("$DUMP" "$meta")"
[ -n "$(dump_line '^destination: [0-9]+ sectors, tag [0-9a-f]{32}$')" ] ||
	fail "no destination tag in the metadata: $("$DUMP" "$meta")"
refused "another source volume" "Metadata source identity differs" \
	"0 $len iofollow /dev/mapper/mdr-b /dev/mapper/mdr-d 512 2 metadata $meta"
refused "the legs swapped" "identity differs" \
	"0 $len iofollow /dev/mapper/mdr-d /dev/mapper/mdr-a 512 2 metadata $meta"
dm_create mdr "$pair"
dm_remove mdr
note "identity: another source and swapped legs refused, the same pair accepted"
