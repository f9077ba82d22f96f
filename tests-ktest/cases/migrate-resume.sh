#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# iofollow-migrate killed (kill -9) mid-copy leaves the iofollow table
# copying with no run to switch it over (issue 26: continue an interrupted
# migration). A second 'migrate' to another destination is refused and
# names 'resume'; one to the same destination (a dry run first) carries the
# copy on and switches the device to the destination, where every write
# made before, across and after the kill reads back; 'resume' of a paused
# copy says so and waits, and interrupted by Ctrl-C puts the original table
# back, with every write on the source. (LVM moves:
# lvm-move-resume.)
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
command -v fio >/dev/null || fail "fio missing"

MIB=32
src=$(make_loop $MIB)
fill "$src" $MIB migrate-resume
# 100 ms per copy write: the copy of 512 chunks of 64 KiB takes 13 s or so
# once it goes on.
dst_loop=$(make_loop $MIB)
dst=$(slow_dev rsmdst "$dst_loop" 0 100)
dst2_loop=$(make_loop $MIB)
dst2=$(slow_dev rsmdst2 "$dst2_loop" 0 100)
# Listed before the live device, so removed after it if the case fails.
echo iofollow-src-rsm-vm >>"$DM_LIST"
dm_create rsm-vm "0 $(sectors "$src") linear $src 0"
vm=/dev/mapper/rsm-vm
devno() { dmsetup info -c --noheadings -o major,minor --separator : "$1"; }
table_kind() { dmsetup table rsm-vm | awk '{print $3}'; }

# fio_job <seed>: 1 MiB of verified random writes, 100 a second.
fio_job() { verified_writes $vm $MIB 1M "$1"; }

# killed_mid_copy <destination> <fio seed>: a migration to <destination>,
# its copy paused once under way (a slow guest must not finish it before
# the kill), fio's writes started, then the run killed; fio goes on.
killed_mid_copy() {
	"$MIGRATE" migrate --chunk 64 rsm-vm "$1" >"$SCRATCH/run.out" 2>&1 &
	local tool=$! rc=0
	until [ "$(table_kind)" = iofollow ] && [ "$(migrated_of rsm-vm)" -ge 8 ]; do
		kill -0 $tool 2>/dev/null || fail "the migration ended early: $(cat "$SCRATCH/run.out")"
		sleep 0.1
	done
	dmsetup message rsm-vm 0 pause || fail "cannot pause the copy"
	# shellcheck disable=SC2046
	fio $(fio_job "$2") --output="$SCRATCH/fio.$2" &
	WRITER=$!
	sleep 1
	kill -9 $tool
	wait $tool || rc=$?
	[ $rc = 137 ] || fail "the killed run ended with $rc"
	[ "$(table_kind)" = iofollow ] || fail "no iofollow table after the kill: $(dmsetup table rsm-vm)"
	mid_copy "after the kill"
	KILLED_AT=$(migrated_of rsm-vm) || fail "no status after the kill"
	TOTAL=$(total_of rsm-vm) || fail "no status after the kill"
}

# mid_copy <when>: the copy is held (paused) and not done.
mid_copy() {
	[ "$(state_of rsm-vm)" = paused ] && [ "$(migrated_of rsm-vm)" -lt "$(total_of rsm-vm)" ] ||
		fail "not mid-copy $1: test proves nothing: $(dmsetup status rsm-vm)"
}

# 1. Killed, then carried on to the switch-over by a second migrate to the
# same destination, with --verify.
killed_mid_copy "$dst" 1
out=$("$MIGRATE" migrate --chunk 64 rsm-vm "$dst2" 2>&1) && fail "a migrate of rsm-vm to $dst2 started"
grep -qF "being migrated by iofollow, to $dst and not to $dst2" <<<"$out" &&
	grep -qF "'iofollow-migrate resume rsm-vm' carries the copy on" <<<"$out" ||
	fail "a migrate to another destination said '$out', not where to go on"
[ "$(table_kind)" = iofollow ] && [ "$(state_of rsm-vm)" = paused ] ||
	fail "the refused migrate changed the table or the copy: $(dmsetup status rsm-vm)"
out=$("$MIGRATE" migrate --dry-run --chunk 64 rsm-vm "$dst" 2>&1) || fail "the dry run failed: $out"
grep -q "^rsm-vm: carry on the migration to $dst ([0-9]* of $TOTAL blocks copied, paused)" <<<"$out" ||
	fail "the dry run said '$out'"
[ "$(table_kind)" = iofollow ] && [ "$(state_of rsm-vm)" = paused ] ||
	fail "the dry run changed the table or the copy: $(dmsetup status rsm-vm)"
dmsetup message rsm-vm 0 resume || fail "cannot let the copy go on"
"$MIGRATE" migrate --verify --chunk 64 --ratio 4:1 rsm-vm "$dst" >"$SCRATCH/resume.out" 2>&1 ||
	fail "the second migrate failed: $(tail -n 5 "$SCRATCH/resume.out")"
grep -q "carrying on the migration of rsm-vm to $dst (" "$SCRATCH/resume.out" ||
	fail "the second migrate did not say what it carries on: $(head -n 3 "$SCRATCH/resume.out")"
grep -q "the copy keeps its table's settings" "$SCRATCH/resume.out" ||
	fail "the second migrate did not say that --ratio is not applied: $(head -n 3 "$SCRATCH/resume.out")"
grep -q "verified and switched: rsm-vm now maps $dst" "$SCRATCH/resume.out" ||
	fail "no switch message: $(tail -n 3 "$SCRATCH/resume.out")"
[ "$(dmsetup table rsm-vm)" = "0 $(sectors "$src") linear $(devno rsmdst) 0" ] ||
	fail "not switched to $dst: $(dmsetup table rsm-vm)"
! dmsetup info iofollow-src-rsm-vm >/dev/null 2>&1 || fail "helper left after the switch"
wait $WRITER || fail "fio failed across the kill and the second migrate: $(tail -n 5 "$SCRATCH/fio.1")"
# shellcheck disable=SC2046
fio $(fio_job 1) --verify_only --output="$SCRATCH/fio.1v" ||
	fail "writes made across the kill do not read back from the destination"
unslow rsmdst "$dst_loop"
note "killed at $KILLED_AT of $TOTAL blocks; a migrate elsewhere refused, its dry run and a migrate --verify to the same destination carried on and switched; 1 MiB of writes read back from the destination"

# 2. Killed again (from the destination to another disk), then 'resume'
# interrupted: the table it found is back, every write on it.
original=$(dmsetup table rsm-vm)
killed_mid_copy "$dst2" 2
"$MIGRATE" resume rsm-vm >"$SCRATCH/resume2.out" 2>&1 &
tool=$!
# Still paused: resume says so and waits.
until grep -q "rsm-vm is paused: the copy goes on after" "$SCRATCH/resume2.out"; do
	kill -0 $tool 2>/dev/null || fail "resume ended early: $(cat "$SCRATCH/resume2.out")"
	sleep 0.1
done
grep -q "carrying on the migration of rsm-vm to $dst2 (" "$SCRATCH/resume2.out" ||
	fail "resume did not say what it carries on: $(cat "$SCRATCH/resume2.out")"
sleep 1
mid_copy "when resume is interrupted"
kill -INT $tool
rc=0
wait $tool || rc=$?
[ $rc = 130 ] || fail "the interrupted resume exited $rc: $(tail -n 3 "$SCRATCH/resume2.out")"
[ "$(dmsetup table rsm-vm)" = "$original" ] || fail "not the table before the migration: $(dmsetup table rsm-vm)"
! dmsetup info iofollow-src-rsm-vm >/dev/null 2>&1 || fail "helper left after the interrupted resume"
wait $WRITER || fail "fio failed across the interrupted resume: $(tail -n 5 "$SCRATCH/fio.2")"
# shellcheck disable=SC2046
fio $(fio_job 2) --verify_only --output="$SCRATCH/fio.2v" || fail "writes lost across the interrupted resume"
out=$("$MIGRATE" resume rsm-vm 2>&1) && fail "resume of a device not being migrated succeeded"
grep -q "is not being migrated: nothing to resume" <<<"$out" || fail "resume of nothing said '$out'"
note "killed at $KILLED_AT of $TOTAL blocks; resume interrupted: exit 130, the table before it back, 1 MiB of writes read back; nothing left to resume"
