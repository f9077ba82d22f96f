#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# An LV moved by iofollow-migrate to another PV of its own volume group, as
# 'pvmove -n vm A B' would: LVM's metadata follows the data. After the
# switch-over, every way LVM loads the volume again (lvchange --refresh,
# vgchange -an/-ay) maps the new PV and reads back every write made before,
# during and after the copy; vgck is clean; the old PV leaves the group with
# vgreduce and the volume is intact after it is wiped.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
lvm_env
lvm_pv_pair mvdst 64
pv_a=$PV_A pv_b=$PV_B dst_loop=$PV_B_LOOP
vgcreate -q movevg "$pv_a" >/dev/null ||
	fail "cannot make the volume group"
case_cleanup() { vgchange -q -an movevg >/dev/null 2>&1; }
MIB=16
make_lv movevg vm $MIB
echo movevg-vm_iofollow >>"$DM_LIST"
fill /dev/movevg/vm $MIB lvm-move
vgextend -q movevg "$pv_b" >/dev/null || fail "vgextend movevg $pv_b failed"
# 200 ms per copy write to the new PV (4 in flight): a copy of 15 s or so.
set_slow mvdst "$dst_loop" 0 200
uuid_before=$(lvs --noheadings -o lv_uuid movevg/vm | tr -d ' ')

model_init /dev/movevg/vm $MIB
write_some() { model_write /dev/movevg/vm "$@"; } # <count> <when>
holds_model() { model_check /dev/movevg/vm "$1"; }
on_pv() { lv_on_pv movevg vm "$@"; } # <pv> <when>
on_pv "$pv_a" "before"

"$MIGRATE" --json migrate --chunk 64 movevg/vm "$pv_b" >"$SCRATCH/out.json" 2>"$SCRATCH/err" &
mig=$!
until [ "$(dmsetup table movevg-vm | awk '{print $3}')" = iofollow ]; do
	kill -0 $mig 2>/dev/null || fail "the migration ended early: $(cat "$SCRATCH/err")"
	sleep 0.2
done
# LVM warns of the mismatch between its metadata and the live table while
# the copy runs (the log keeps it).
lvs --noheadings -o lv_tags movevg/vm_iofollow 2>>"$SCRATCH/lvm.err" | grep -q iofollow_migrate ||
	fail "no tagged twin on the destination: $(lvs movevg 2>&1)"
# Writes mid-copy: the copy is held meanwhile, so that it cannot end first.
dmsetup message movevg-vm 0 pause
[ "$(state_of movevg-vm)" = paused ] || fail "the copy is not held mid-copy: $(dmsetup status movevg-vm)"
write_some 24 "during the copy"
note "$MODEL_WRITES writes during the copy, at $(migrated_of movevg-vm) of $(total_of movevg-vm) blocks"
dmsetup message movevg-vm 0 resume
wait $mig || fail "the migration failed: $(cat "$SCRATCH/err")"
tail -n 1 "$SCRATCH/out.json" | grep -q '"event":"switched' || fail "no switched event: $(tail -n 2 "$SCRATCH/out.json")"
grep -q "committing LVM metadata" "$SCRATCH/err" || fail "no metadata commit in the log: $(cat "$SCRATCH/err")"

on_pv "$pv_b" "after the switch-over"
! lvs movevg/vm_iofollow >/dev/null 2>&1 || fail "the twin is left: $(lvs movevg)"
! dmsetup info iofollow-src-movevg-vm >/dev/null 2>&1 || fail "the helper is left"
[ "$(lvs --noheadings -o lv_uuid movevg/vm | tr -d ' ')" = "$uuid_before" ] || fail "the volume's UUID changed"
holds_model "after the switch-over"
write_some 8 "after the switch-over"
holds_model "after writes on the destination"

lvchange --refresh movevg/vm || fail "lvchange --refresh failed"
on_pv "$pv_b" "after lvchange --refresh"
holds_model "after lvchange --refresh"
vgchange -q -an movevg >/dev/null || fail "vgchange -an failed"
vgchange -q -ay movevg >/dev/null || fail "vgchange -ay failed"
on_pv "$pv_b" "after vgchange -an/-ay"
holds_model "after vgchange -an/-ay"
vgck movevg || fail "vgck movevg reports a problem"
vgreduce -q movevg "$pv_a" >/dev/null || fail "vgreduce movevg $pv_a failed: something still uses the old PV"
dd if=/dev/zero of="$pv_a" bs=1M oflag=direct status=none 2>/dev/null || true
vgchange -q -an movevg >/dev/null && vgchange -q -ay movevg >/dev/null || fail "reactivation without the old PV failed"
holds_model "after the old PV was removed and wiped"
note "movevg/vm on $pv_b in LVM and in its table; $MODEL_WRITES writes read back after refresh, reactivation and vgreduce"
