#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A migration whose table is gone (issue 26: a reboot, a crash of the host,
# a removed device) carries on from its checkpoint. iofollow-migrate gives
# every migration a metadata device of its own; here a run is killed
# mid-copy and every device is removed and created again, as after a
# reboot: 'resume' loads the iofollow table with the same metadata, the
# target resumes with the copied blocks (the kernel log's count), and the
# device switches over with every block and every write on the
# destination. Then a device written between the runs (as a VM started
# before the resume would): the plain 'migrate' (another destination
# refused first) withdraws the checkpoint and copies every block again,
# and the block written in between reads back from the destination. Last,
# a destination formatted between the runs: the run refuses to overwrite
# it and keeps the record until 'abort'.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
command -v fio >/dev/null || fail "fio missing"

MIB=16
src=$(make_loop $MIB)
fill "$src" $MIB migrate-reboot
dst_loop=$(make_loop $MIB)
dst2_loop=$(make_loop $MIB)
dst3_loop=$(make_loop $MIB)
other_loop=$(make_loop $MIB)
# Listed before the live device, so removed after it if the case fails.
echo iofollow-src-rbt-vm >>"$DM_LIST"
dst=$(slow_dev rbtdst "$dst_loop" 0 100)
dst2=$(slow_dev rbtdst2 "$dst2_loop" 0 100)
dst3=$(slow_dev rbtdst3 "$dst3_loop" 0 100)
dm_create rbt-vm "0 $(sectors "$src") linear $src 0"
vm=/dev/mapper/rbt-vm
meta=$IOFOLLOW_MIGRATE_STATE_DIR/rbt-vm.meta
table_kind() { dmsetup table rbt-vm | awk '{print $3}'; }

# fio_job <seed>: 512 KiB of verified random writes, 100 a second.
fio_job() { verified_writes $vm $MIB 512k "$1"; }

# killed_mid_copy <destination> <fio seed>: a migration to <destination>,
# its copy paused once under way (so that a fast guest does not finish it),
# fio's writes (mirrored where copied), then the run killed.
killed_mid_copy() {
	"$MIGRATE" migrate --chunk 64 rbt-vm "$1" >"$SCRATCH/run.out" 2>&1 &
	local tool=$! rc=0
	until [ "$(table_kind)" = iofollow ] && [ "$(migrated_of rbt-vm)" -ge 16 ]; do
		kill -0 $tool 2>/dev/null || fail "the migration ended early: $(cat "$SCRATCH/run.out")"
		sleep 0.1
	done
	dmsetup message rbt-vm 0 pause || fail "cannot pause the copy"
	# shellcheck disable=SC2046
	fio $(fio_job "$2") --output="$SCRATCH/fio.$2" ||
		fail "fio failed under the copy: $(tail -n 5 "$SCRATCH/fio.$2")"
	dmsetup table rbt-vm | grep -q " metadata " || fail "the table keeps no checkpoint: $(dmsetup table rbt-vm)"
	kill -9 $tool
	wait $tool || rc=$?
	[ $rc = 137 ] || fail "the killed run ended with $rc"
	KILLED_AT=$(migrated_of rbt-vm) && TOTAL=$(total_of rbt-vm) || fail "no status after the kill"
	[ "$KILLED_AT" -lt "$TOTAL" ] || fail "the copy was done before the kill: test proves nothing"
}

# rebooted <destination name> <its loop>: every device of the migration
# removed (the iofollow table writes its checkpoint) and created again as a
# reboot would: the live device with its original table, the destination
# new, the metadata file detached.
rebooted() {
	local original=$1
	dmsetup remove rbt-vm || fail "cannot remove rbt-vm"
	dmsetup remove iofollow-src-rbt-vm || fail "cannot remove the helper"
	dmsetup remove "$2" || fail "cannot remove $2"
	losetup -nO NAME -j "$meta" | xargs -r -n1 losetup -d || fail "cannot detach the metadata"
	[ -s "$IOFOLLOW_MIGRATE_STATE_DIR/rbt-vm.record" ] || fail "no record of the migration"
	slow_dev "$2" "$3" 0 100 >/dev/null
	dm_create rbt-vm "$original"
}

# 1. Killed, every device gone and back: 'resume' goes on from the
# checkpoint and switches over.
original="0 $(sectors "$src") linear $src 0"
killed_mid_copy "$dst" 1
rebooted "$original" rbtdst "$dst_loop"
kmsg_mark
"$MIGRATE" resume --verify rbt-vm >"$SCRATCH/resume.out" 2>&1 ||
	fail "resume failed: $(tail -n 5 "$SCRATCH/resume.out")"
resumed_from_checkpoint rbt-vm "$SCRATCH/resume.out" "$KILLED_AT" "$TOTAL"
grep -q "verified and switched: rbt-vm now maps $dst" "$SCRATCH/resume.out" ||
	fail "no switch message: $(tail -n 3 "$SCRATCH/resume.out")"
dmsetup table rbt-vm | grep -q "^0 $(sectors "$src") linear $(dmsetup info -c --noheadings -o major,minor --separator : rbtdst) 0$" ||
	fail "not switched to $dst: $(dmsetup table rbt-vm)"
# shellcheck disable=SC2046
fio $(fio_job 1) --verify_only --output="$SCRATCH/fio.1v" ||
	fail "writes made before the kill do not read back from the destination"
[ ! -e "$meta" ] && [ ! -e "$IOFOLLOW_MIGRATE_STATE_DIR/rbt-vm.record" ] ||
	fail "the record outlived the switch-over: $(ls "$IOFOLLOW_MIGRATE_STATE_DIR")"
! losetup -j "$meta" | grep -q . || fail "the metadata's loop device outlived the switch-over"
unslow rbtdst "$dst_loop"
note "killed at $KILLED_AT of $TOTAL blocks, every device removed and created again: resume carried on with $KEPT blocks, verified and switched; 512 KiB of writes read back"

# 2. The same, but the device is written between the runs: the checkpoint
# is withdrawn, every block copied again (--verify compares both devices
# whole), and the block written between the runs is on the destination.
original=$(dmsetup table rbt-vm)
killed_mid_copy "$dst2" 2
rebooted "$original" rbtdst2 "$dst2_loop"
# A block the checkpoint holds, written through the table that maps the
# source directly: trusted, the checkpoint would leave it stale.
reader=$(losetup -f --show -r "$meta")
block=$(md_first_recorded "$reader")
losetup -d "$reader"
[ -n "$block" ] || fail "the checkpoint holds no block: test proves nothing"
pattern "$SCRATCH/between.1m" 1 between
head -c 65536 "$SCRATCH/between.1m" >"$SCRATCH/between"
write_range $vm $((block * 65536)) "$SCRATCH/between" || fail "cannot write rbt-vm between the runs"
out=$("$MIGRATE" migrate --chunk 64 rbt-vm "$other_loop" 2>&1) && fail "a migrate of rbt-vm to $other_loop started"
grep -qF "has a migration to $dst2 recorded, not to $other_loop" <<<"$out" ||
	fail "a migrate to another destination said '$out'"
[ "$(table_kind)" = linear ] || fail "the refused migrate changed the table: $(dmsetup table rbt-vm)"
kmsg_mark
"$MIGRATE" migrate --verify --chunk 64 rbt-vm "$dst2" >"$SCRATCH/again.out" 2>&1 ||
	fail "the migrate after the write failed: $(tail -n 5 "$SCRATCH/again.out")"
grep -q "took [0-9]* writes, discards or IOs in flight since it appeared: the checkpoint cannot be trusted" "$SCRATCH/again.out" ||
	fail "migrate did not withdraw the checkpoint: $(head -n 5 "$SCRATCH/again.out")"
! kmsg_since_mark | grep -q "rbt-vm.*resumed from the metadata" ||
	fail "the target trusted the withdrawn checkpoint: $(kmsg_since_mark | grep resumed)"
grep -q "verified and switched: rbt-vm now maps $dst2" "$SCRATCH/again.out" ||
	fail "no switch message: $(tail -n 3 "$SCRATCH/again.out")"
cmp -s "$SCRATCH/between" <(direct_read_at "$dst2_loop" $((block * 65536)) 65536) ||
	fail "block $block, written between the runs, is not on the destination"
note "killed at $KILLED_AT of $TOTAL blocks, recorded block $block written between the runs: the checkpoint was withdrawn, the copy started over, verified and switched; the write is on the destination"

# 3. The destination formatted between the runs, as by someone who took
# the migration for dead: neither the checkpoint nor a copy started over
# may overwrite it. The source holds a file system of its own, which the
# copy may have brought over: that one does not stop a run.
original=$(dmsetup table rbt-vm)
mkfs.ext4 -q -F $vm || fail "mkfs.ext4 of rbt-vm failed"
killed_mid_copy "$dst3" 3
rebooted "$original" rbtdst3 "$dst3_loop"
out=$("$MIGRATE" migrate --dry-run --chunk 64 rbt-vm "$dst3" 2>&1) ||
	fail "the destination holding only the copy was refused: $out"
grep -qF "carry on the migration to $dst3 from its checkpoint" <<<"$out" ||
	fail "the dry run before the format said '$out'"
mkfs.ext4 -q -F "$dst3" || fail "mkfs.ext4 of the destination failed"
uuid=$(blkid -p -s UUID -o value "$dst3")
[ -n "$uuid" ] || fail "no file system on $dst3 after mkfs: test proves nothing"
for run in "resume rbt-vm" "migrate --chunk 64 rbt-vm $dst3"; do
	# shellcheck disable=SC2086
	out=$("$MIGRATE" $run 2>&1) && fail "'$run' overwrote the file system made on $dst3"
	grep -qF "$dst3 holds a file system (ext4), which rbt-vm does not: it was written since the migration was recorded" <<<"$out" ||
		fail "'$run' said '$out'"
done
[ "$(table_kind)" = linear ] || fail "a refused run changed the table: $(dmsetup table rbt-vm)"
[ -s "$IOFOLLOW_MIGRATE_STATE_DIR/rbt-vm.record" ] || fail "a refused run dropped the record"
[ "$(blkid -p -s UUID -o value "$dst3")" = "$uuid" ] || fail "the file system made on $dst3 was overwritten"
"$MIGRATE" abort rbt-vm >"$SCRATCH/abort.out" 2>&1 || fail "abort failed: $(cat "$SCRATCH/abort.out")"
[ ! -e "$meta" ] && [ ! -e "$IOFOLLOW_MIGRATE_STATE_DIR/rbt-vm.record" ] ||
	fail "abort kept the record: $(ls "$IOFOLLOW_MIGRATE_STATE_DIR")"
[ "$(blkid -p -s UUID -o value "$dst3")" = "$uuid" ] || fail "abort overwrote the file system made on $dst3"
note "killed at $KILLED_AT of $TOTAL blocks, the destination formatted between the runs: resume and migrate refused, the file system and the record kept until abort"
