#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# An LVM move across a reboot (issue 26): the run killed mid-copy, then
# the host goes down and comes up as a reboot would (the dm devices
# removed, the metadata's loop device gone, the volume group activated
# again: the volume on its old PV, its twin beside it); 'resume' carries
# the copy on from the migration's checkpoint (the kernel log's count) into
# the same twin and switches over, in LVM's metadata too, with every
# acknowledged write read back, and after a reactivation.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
lvm_env

VG=rebootvg SLOW_PV=mvbdst
. "$(dirname "$0")/../lvm-move-rounds.sh"
meta=$IOFOLLOW_MIGRATE_STATE_DIR/$VG-vm.meta

src=$(lvm_pv)
dst=$(other_pv "$src")
"$MIGRATE" migrate --chunk 64 $VG/vm "$dst" >/dev/null 2>"$SCRATCH/run.err" &
mig=$!
until [ "$(dmsetup table $VG-vm | awk '{print $3}')" = iofollow ] && [ "$(migrated_of $VG-vm)" -ge 16 ]; do
	kill -0 $mig 2>/dev/null || fail "the migration ended early: $(cat "$SCRATCH/run.err")"
	sleep 0.2
done
# Held for the writes, so that they land mid-copy.
dmsetup message $VG-vm 0 pause
write_some 6 "during the copy"
kill -9 $mig
rc=0
wait $mig || rc=$?
[ $rc = 137 ] || fail "the killed run ended with $rc"
killed_at=$(migrated_of $VG-vm) && total=$(total_of $VG-vm) || fail "no status after the kill"
[ "$killed_at" -lt "$total" ] || fail "the copy was done before the kill: test proves nothing"

# Down (a host removes its dm devices: the iofollow table writes its
# checkpoint) and up again.
dmsetup remove $VG-vm && dmsetup remove iofollow-src-$VG-vm || fail "cannot take the devices down"
vgchange -q -an $VG >/dev/null || fail "cannot deactivate $VG"
losetup -nO NAME -j "$meta" | xargs -r -n1 losetup -d || fail "cannot detach the metadata"
vgchange -q -ay $VG >/dev/null || fail "cannot activate $VG"
lv_on_pv $VG vm "$src" "after the reboot"
lvs $VG/vm_iofollow >/dev/null 2>&1 || fail "the twin is gone after the reboot"

kmsg_mark
"$MIGRATE" resume $VG/vm >"$SCRATCH/resume.out" 2>&1 ||
	fail "resume failed: $(tail -n 5 "$SCRATCH/resume.out")"
resumed_from_checkpoint $VG-vm "$SCRATCH/resume.out" "$killed_at" "$total"
grep -q "switched: $VG-vm now maps $VG/vm on $dst (in LVM's metadata too)" "$SCRATCH/resume.out" ||
	fail "resume said $(tail -n 3 "$SCRATCH/resume.out")"
whole "$dst" "after the resume"
[ ! -e "$meta" ] || fail "the checkpoint outlived the switch-over"
write_some 2 "after the resume"
vgchange -q -an $VG >/dev/null && vgchange -q -ay $VG >/dev/null || fail "reactivation failed"
whole "$dst" "after reactivation"
vgck $VG || fail "vgck reports a problem"
note "killed at $killed_at of $total blocks, taken down and activated again: resume carried on with $KEPT blocks into the twin and switched, in LVM's metadata too; $MODEL_WRITES writes read back, after a reactivation too"
