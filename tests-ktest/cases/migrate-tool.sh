#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# iofollow-migrate on an LVM volume: every refusal has its own message and
# changes nothing; Ctrl-C mid-copy puts the original table back with no
# acknowledged write lost; a full migration under a verifying fio workload
# switches the volume to the destination, where every write reads back.
# (The missing-module error is module-load's: it unloads the module.)
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
lvm_env

disk=$(make_loop 160)
pvcreate -q "$disk" >/dev/null && vgcreate -q toolvg "$disk" >/dev/null || fail "cannot make the volume group"
case_cleanup() { vgchange -q -an toolvg >/dev/null 2>&1; }
make_lv toolvg vm 32
fill /dev/toolvg/vm 32 tool-vm
original=$(dmsetup table toolvg-vm)
dst_loop=$(make_loop 32)
dst=$(slow_dev tooldst "$dst_loop" 0 10)

# unchanged: the volume has its table and no helper.
unchanged() {
	[ "$(dmsetup table toolvg-vm)" = "$original" ] || fail "$1: the table changed to $(dmsetup table toolvg-vm)"
	! dmsetup info iofollow-src-toolvg-vm >/dev/null 2>&1 || fail "$1: a helper device was left"
}

# refused <expected text> <args...>: the tool fails, says why, changes nothing.
refusals=0
refused() {
	local want=$1 out
	shift
	refusals=$((refusals + 1))
	if out=$("$MIGRATE" "$@" 2>&1); then
		fail "accepted: iofollow-migrate $*"
	fi
	grep -qF -- "$want" <<<"$out" || fail "iofollow-migrate $*: said '$out', not '$want'"
	unchanged "iofollow-migrate $*"
}

held=$(make_loop 32)
dm_create tool-holder "0 $(sectors "$held") linear $held 0"
# An LV of two segments: extended after another LV took the space behind it.
make_lv toolvg split 8
make_lv toolvg spacer 8
lvextend -q -L +8M toolvg/split >/dev/null || fail "cannot extend toolvg/split"
[ "$(dmsetup table toolvg-split | wc -l)" -eq 2 ] || fail "toolvg/split is not two segments"
refused "is too small: 32768 sectors, toolvg-vm has" migrate --raw-destination toolvg/vm "$(make_loop 16)"
refused "no device-mapper device named 'nosuch'" migrate nosuch "$dst"
refused "is not a device-mapper device" migrate "$(make_loop 8)" "$dst"
# A PV is a whole-PV move (every volume on it), to another PV of its group only.
refused "is a physical volume of toolvg: its volumes move to another PV of toolvg" migrate "$disk" "$dst"
refused "toolvg/vm is already on $disk" migrate --raw-destination toolvg/vm "$disk"
refused "is not a block device" migrate --raw-destination toolvg/vm /etc/hostname
refused "No such file or directory" migrate --raw-destination toolvg/vm /dev/nonexistent
refused "is in use" migrate --raw-destination toolvg/vm "$held"
refused "has 2 segments" migrate --raw-destination toolvg/split "$dst"
refused "is toolvg-vm itself" migrate --raw-destination toolvg/vm /dev/toolvg/vm
refused "is not V:M" migrate --ratio 0:1 --raw-destination toolvg/vm "$dst"
refused "[possible values: follow, sequential]" migrate --policy random --raw-destination toolvg/vm "$dst"
refused "Cache size larger than 65536 MiB" migrate --cache 70000 --raw-destination toolvg/vm "$dst"
refused "the chunk size must be a power of 2" migrate --chunk 12 --raw-destination toolvg/vm "$dst"
# Issue 22, finding 12: an LV to a raw destination needs the operator's word
# (LVM's metadata would still name the old disk), and nothing that holds
# data is overwritten without --force.
refused "is an LVM logical volume" migrate toolvg/vm "$dst"
sig_fs=$(make_loop 32)
mkfs.ext4 -q "$sig_fs" || fail "mkfs.ext4 failed"
refused "holds a file system (ext4)" migrate --raw-destination toolvg/vm "$sig_fs"
sig_pv=$(make_loop 32)
pvcreate -q "$sig_pv" >/dev/null || fail "pvcreate failed"
refused "holds an LVM physical volume" migrate --raw-destination toolvg/vm "$sig_pv"
# A PV of another volume group is never a destination, --force or not.
other_pv=$(make_loop 32)
pvcreate -q "$other_pv" >/dev/null && vgcreate -q othervg "$other_pv" >/dev/null || fail "cannot make othervg"
refused "is a physical volume of volume group othervg" migrate --force --raw-destination toolvg/vm "$other_pv"
vgs othervg >/dev/null 2>&1 || fail "othervg is damaged after the refusal"
vgchange -q -an othervg >/dev/null
sig_pt=$(make_loop 32)
echo 'label: dos' | sfdisk -q "$sig_pt" >/dev/null || fail "sfdisk failed"
refused "holds a dos partition table" migrate --raw-destination toolvg/vm "$sig_pt"
"$MIGRATE" migrate --dry-run --force --raw-destination toolvg/vm "$sig_fs" >/dev/null ||
	fail "--force does not let the ext4 destination through"
cmp -s -n 4096 <(dd if="$sig_fs" bs=4096 count=1 iflag=direct status=none) /dev/zero &&
	fail "a refusal or --dry-run wrote to the destination"
blkid -p "$sig_fs" | grep -q 'TYPE="ext4"' || fail "the ext4 destination lost its file system"
# Bad usage exits 2 (a value clap refuses, and one the plan refuses).
for args in "--policy random" "--chunk 12"; do
	rc=0
	# shellcheck disable=SC2086
	"$MIGRATE" migrate $args --raw-destination toolvg/vm "$dst" >/dev/null 2>&1 || rc=$?
	[ $rc -eq 2 ] || fail "iofollow-migrate migrate $args exited $rc, not 2"
done
refused "is not being migrated" abort toolvg/vm
refused "is not being migrated by iofollow" status toolvg/vm
refused "is not being migrated by iofollow" set toolvg/vm --ratio 7:3
"$MIGRATE" migrate --dry-run --raw-destination toolvg/vm "$dst" >"$SCRATCH/dry" || fail "--dry-run failed"
grep -q "load toolvg-vm: 0 .* iofollow /dev/mapper/iofollow-src-toolvg-vm " "$SCRATCH/dry" ||
	fail "--dry-run shows no iofollow table: $(cat "$SCRATCH/dry")"
# A head model of its own unless --shared-head asks for the disk's.
! grep -q "load toolvg-vm: .* disk 7:" "$SCRATCH/dry" || fail "a disk argument without --shared-head: $(cat "$SCRATCH/dry")"
"$MIGRATE" migrate --dry-run --raw-destination --shared-head toolvg/vm "$dst" >"$SCRATCH/dry" ||
	fail "--dry-run --shared-head failed"
grep -q "load toolvg-vm: 0 .* iofollow /dev/mapper/iofollow-src-toolvg-vm .* source_offset [0-9]* disk 7:" "$SCRATCH/dry" ||
	fail "--shared-head shows no disk argument: $(cat "$SCRATCH/dry")"
unchanged "--dry-run"
note "$refusals refusals, each with its message; the volume unchanged; --dry-run changes nothing"

# Ctrl-C mid-copy, under writes: the original table comes back, every
# acknowledged write is on the source. The destination holds its writes
# (60 s) while `set` is checked, then takes 100 ms for each (about 13 s of
# copy from there) so that the interrupt lands mid-copy.
set_slow tooldst "$dst_loop" 0 60000
fio_job=(--name=vm --filename=/dev/toolvg/vm --direct=1 --rw=randwrite --bs=4k --size=32M
	--io_size=1M --rate_iops=200 --verify=crc32c --verify_backlog=64 --verify_state_save=0 --randseed=7
	--disk_util=0)
"$MIGRATE" migrate --raw-destination --chunk 64 toolvg/vm "$dst" >"$SCRATCH/int.out" 2>&1 &
tool=$!
until [ "$(dmsetup table toolvg-vm | awk '{print $3}')" = iofollow ]; do
	kill -0 $tool 2>/dev/null || fail "the migration ended early: $(cat "$SCRATCH/int.out")"
	sleep 0.1
done
"$MIGRATE" status toolvg/vm | grep -q "toolvg-vm: copying" || fail "status does not say copying"
out=$("$MIGRATE" migrate --raw-destination toolvg/vm "$(make_loop 32)" 2>&1) && fail "a second migration of toolvg/vm started"
grep -q "already being migrated by iofollow" <<<"$out" || fail "second migration: said '$out'"
# Nor does an abort act under a running migration (it would race the switch-over).
out=$("$MIGRATE" abort toolvg/vm 2>&1) && fail "abort ran under a running migration"
grep -q "already being migrated by iofollow-migrate" <<<"$out" || fail "abort under a run: said '$out'"
[ "$(dmsetup table toolvg-vm | awk '{print $3}')" = iofollow ] || fail "the refused abort changed the table"
# A running migration takes a new ratio from another shell: the target's
# status and table line show it.
"$MIGRATE" set toolvg/vm --ratio 7:3 --deadline 0 >"$SCRATCH/set" 2>&1 || fail "set failed: $(cat "$SCRATCH/set")"
[ "$(status_field toolvg-vm ratio)" = 7:3 ] || fail "set --ratio 7:3: the status says $(dmsetup status toolvg-vm)"
dmsetup table toolvg-vm | grep -q " ratio 7:3" || fail "set --ratio 7:3: the table says $(dmsetup table toolvg-vm)"
grep -q "toolvg-vm: copying" "$SCRATCH/set" || fail "set printed no status: $(cat "$SCRATCH/set")"
# Every migration on the machine (parallel cases may have their own).
"$MIGRATE" status | grep -q "^toolvg-vm: copying" || fail "status lists no toolvg-vm: $("$MIGRATE" status 2>&1)"
"$MIGRATE" --json status | grep -q '"device":"toolvg-vm"' || fail "status --json lists no toolvg-vm: $("$MIGRATE" --json status 2>&1)"
rc=0
"$MIGRATE" set toolvg/vm >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "set with nothing to change exited $rc, not 2"
# Sends the held writes on (dm-delay's presuspend), and slows the rest.
set_slow tooldst "$dst_loop" 0 100
fio "${fio_job[@]}" --output="$SCRATCH/fio1" &
writer=$!
sleep 1.5
kill -INT $tool
rc=0
wait $tool || rc=$?
[ $rc -eq 130 ] || fail "interrupted tool exited $rc: $(tail -n 3 "$SCRATCH/int.out")"
grep -q "has its original table again" "$SCRATCH/int.out" || fail "no restore message: $(tail -n 3 "$SCRATCH/int.out")"
[ "$(dmsetup table toolvg-vm)" = "$original" ] || fail "not the original table after Ctrl-C: $(dmsetup table toolvg-vm)"
! dmsetup info iofollow-src-toolvg-vm >/dev/null 2>&1 || fail "helper left after Ctrl-C"
wait $writer || fail "fio failed across the interrupt: $(tail -n 5 "$SCRATCH/fio1")"
fio "${fio_job[@]}" --verify_only --output="$SCRATCH/fio1v" || fail "writes lost across the interrupt"
note "set --ratio 7:3 in the status and table, status lists it; Ctrl-C: exit 130, original table back, 1 MiB of verified writes read back from the source"

# A whole migration under a verifying workload (200 writes a second, from
# before the copy starts), with --verify.
set_slow tooldst "$dst_loop" 0 5
fio_job=(--name=vm --filename=/dev/toolvg/vm --direct=1 --rw=randwrite --bs=4k --size=32M
	--io_size=3M --rate_iops=200 --verify=crc32c --verify_backlog=64 --verify_state_save=0 --randseed=11
	--disk_util=0)
fio "${fio_job[@]}" --output="$SCRATCH/fio2" &
writer=$!
"$MIGRATE" migrate --raw-destination --chunk 16 --verify toolvg/vm "$dst" >"$SCRATCH/run.out" 2>&1 &
tool=$!
until [ "$(dmsetup table toolvg-vm | awk '{print $3}')" = iofollow ]; do
	kill -0 $tool 2>/dev/null || fail "the migration ended early: $(tail -n 5 "$SCRATCH/run.out")"
	sleep 0.1
done
kill -0 $writer 2>/dev/null || fail "fio ended before the copy started: no overlap to judge"
wait $tool || fail "migration failed: $(tail -n 5 "$SCRATCH/run.out")"
wait $writer || fail "fio failed during the migration: $(tail -n 5 "$SCRATCH/fio2")"
grep -q "verified and switched: toolvg-vm now maps $dst" "$SCRATCH/run.out" || fail "no switch message: $(tail -n 3 "$SCRATCH/run.out")"
grep -q "warning: toolvg-vm now maps $dst, but LVM's metadata will still name its old physical volume" "$SCRATCH/run.out" ||
	fail "no warning about LVM's metadata at the end: $(tail -n 3 "$SCRATCH/run.out")"
grep -qE '\] .* MiB/32.00 MiB .*(copying|synced)' "$SCRATCH/run.out" || fail "no progress bar in the output: $(head -n 5 "$SCRATCH/run.out")"
major_minor=$(dmsetup info -c --noheadings -o major,minor --separator : tooldst)
[ "$(dmsetup table toolvg-vm)" = "0 65536 linear $major_minor 0" ] || fail "not switched: $(dmsetup table toolvg-vm)"
! dmsetup info iofollow-src-toolvg-vm >/dev/null 2>&1 || fail "helper left after the switch"
fio "${fio_job[@]}" --verify_only --output="$SCRATCH/fio2v" || fail "writes made during the migration do not read back from the destination"
note "switched under fio; $(grep -c 'MiB/32.00 MiB' "$SCRATCH/run.out") progress lines; 3 MiB of writes verified on the destination"
