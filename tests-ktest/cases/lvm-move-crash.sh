#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# iofollow-migrate killed at each step of an LVM move it can be stopped at
# (IOFOLLOW_MIGRATE_FAILPOINT, or kill -9 mid-copy), then 'abort': the
# volume is on its old PV or its new one, never half: LVM's metadata and
# the live table name the same PV, it reads back every acknowledged write,
# after a reactivation too, and no twin or helper is left. At the commit
# step, before the abort, the metadata already names the new PV, and that PV
# holds every write: a host crash there would come back whole. 'resume'
# after a kill mid-copy carries the move on to the new PV, in LVM's metadata
# too; killed suspended after the commit, it refuses and names abort.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
lvm_env

lvm_pv_pair mvcdst 64
pv_a=$PV_A pv_b=$PV_B dst_loop=$PV_B_LOOP
vgcreate -q crashvg "$pv_a" "$pv_b" >/dev/null ||
	fail "cannot make the volume group"
case_cleanup() { vgchange -q -an crashvg >/dev/null 2>&1; }
MIB=16
make_lv crashvg vm $MIB
echo crashvg-vm_iofollow >>"$DM_LIST"
fill /dev/crashvg/vm $MIB lvm-move-crash
# 200 ms per copy write to B (4 in flight): copies into B take 15 s or so.
set_slow mvcdst "$dst_loop" 0 200

model_init /dev/crashvg/vm $MIB
write_some() { model_write /dev/crashvg/vm "$@"; } # <count> <when>
reads_model() { model_check "$@"; }                # <device> <when>
lvm_pv() { lv_pv crashvg vm; }
whole() { # <pv> <when>: metadata and table agree on <pv>; the data is all there
	lv_on_pv crashvg vm "$1" "$2"
	[ "$(dmsetup info -c --noheadings -o suspended crashvg-vm)" = Active ] || fail "$2: left suspended"
	! lvs crashvg/vm_iofollow >/dev/null 2>&1 || fail "$2: the twin is left"
	! dmsetup info iofollow-src-crashvg-vm >/dev/null 2>&1 || fail "$2: the helper is left"
	reads_model /dev/crashvg/vm "$2"
}

other_pv() { if [ "$1" = "$pv_a" ]; then echo "$pv_b"; else echo "$pv_a"; fi; }

# round <step> <where it must end: source|destination> [resume]: after the
# kill, 'abort' (or 'resume', which carries a copy on to the switch-over and
# refuses a run killed suspended after its commit, which abort then settles).
round() {
	local step=$1 src dst rc=0 want how=${3:-abort}
	src=$(lvm_pv)
	dst=$(other_pv "$src")
	IOFOLLOW_MIGRATE_FAILPOINT=$step "$MIGRATE" migrate --chunk 64 crashvg/vm "$dst" \
		>/dev/null 2>"$SCRATCH/$step.err" &
	local mig=$!
	if [ "$step" != twin-created ]; then
		until [ "$(dmsetup table crashvg-vm | awk '{print $3}')" = iofollow ]; do
			kill -0 $mig 2>/dev/null || fail "$step: the migration ended early: $(cat "$SCRATCH/$step.err")"
			sleep 0.2
		done
		# Held for the writes, so that they land mid-copy.
		dmsetup message crashvg-vm 0 pause
		[ "$(state_of crashvg-vm)" = paused ] || fail "$step: the copy is not held mid-copy"
		write_some 6 "$step: during the copy"
		if [ "$step" = copying ]; then
			kill -9 $mig
		else
			dmsetup message crashvg-vm 0 resume
		fi
	fi
	wait $mig || rc=$?
	[ $rc = 137 ] || fail "$step: the tool ended with $rc, not at its failpoint: $(cat "$SCRATCH/$step.err")"
	if [ "$step" = committed ]; then
		# Suspended, synced, metadata committed: a crash now reboots into B.
		[ "$(lvm_pv)" = "$dst" ] || fail "committed: LVM has the volume on $(lvm_pv), not $dst"
		reads_model /dev/crashvg/vm_iofollow "committed: the destination (through the twin's table)"
	fi
	if [ "$how" = resume ] && [ "$step" = copying ]; then
		# The copy was held for the writes; 'resume' honours a pause.
		[ "$(migrated_of crashvg-vm)" -lt "$(total_of crashvg-vm)" ] ||
			fail "$step: the copy was done before the kill: test proves nothing"
		dmsetup message crashvg-vm 0 resume || fail "$step: cannot let the copy go on"
		"$MIGRATE" resume crashvg/vm >"$SCRATCH/$step.resume" 2>&1 ||
			fail "$step: resume failed: $(tail -n 5 "$SCRATCH/$step.resume")"
		grep -q "switched: crashvg-vm now maps crashvg/vm on $dst (in LVM's metadata too)" \
			"$SCRATCH/$step.resume" || fail "$step: resume said $(tail -n 3 "$SCRATCH/$step.resume")"
	elif [ "$how" = resume ]; then
		out=$("$MIGRATE" resume crashvg/vm 2>&1) && fail "$step: resume carried on a committed run"
		# Killed suspended, after the commit: refused before anything changes.
		grep -qF "crashvg-vm is suspended: a run was killed in its switch-over" <<<"$out" &&
			grep -qF "'iofollow-migrate abort crashvg-vm' settles" <<<"$out" ||
			fail "$step: resume said '$out'"
		[ "$(dmsetup info -c --noheadings -o suspended crashvg-vm)" = Suspended ] ||
			fail "$step: the refused resume resumed the device"
	fi
	if [ "$how" = abort ] || [ "$step" != copying ]; then
		"$MIGRATE" abort crashvg/vm 2>"$SCRATCH/$step.abort" ||
			fail "$step: abort failed: $(cat "$SCRATCH/$step.abort")"
	fi
	want=$src
	[ "$2" = source ] || want=$dst
	whole "$want" "$step: after $how"
	write_some 2 "$step: after $how"
	vgchange -q -an crashvg >/dev/null && vgchange -q -ay crashvg >/dev/null || fail "$step: reactivation failed"
	whole "$want" "$step: after reactivation"
	vgck crashvg || fail "$step: vgck reports a problem"
	note "$step: on $want after $how and reactivation, $MODEL_WRITES writes read back"
}

# The resumed copy runs into B (its writes delayed): still mid-copy at the kill.
round twin-created source
round copying source
round copying destination resume
round committed source
round switched destination
round committed source resume
