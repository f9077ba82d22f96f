# SPDX-License-Identifier: GPL-2.0
# Sourced by lvm-move-crash and lvm-move-resume: a volume group $VG on two
# PVs (B behind the dm-delay device $SLOW_PV), a 16 MiB volume vm with a
# model of its writes, and round(): iofollow-migrate killed at one step of
# an LVM move, then abort or resume, and the volume checked whole.
lvm_pv_pair "$SLOW_PV" 64
pv_a=$PV_A pv_b=$PV_B dst_loop=$PV_B_LOOP
vgcreate -q $VG "$pv_a" "$pv_b" >/dev/null ||
	fail "cannot make the volume group"
case_cleanup() { vgchange -q -an $VG >/dev/null 2>&1; }
MIB=16
make_lv $VG vm $MIB
echo $VG-vm_iofollow >>"$DM_LIST"
fill /dev/$VG/vm $MIB "$VG"
# 200 ms per copy write to B (4 in flight): copies into B take 15 s or so.
set_slow "$SLOW_PV" "$dst_loop" 0 200

model_init /dev/$VG/vm $MIB
write_some() { model_write /dev/$VG/vm "$@"; } # <count> <when>
reads_model() { model_check "$@"; }                # <device> <when>
lvm_pv() { lv_pv $VG vm; }
whole() { # <pv> <when>: metadata and table agree on <pv>; the data is all there
	lv_on_pv $VG vm "$1" "$2"
	[ "$(dmsetup info -c --noheadings -o suspended $VG-vm)" = Active ] || fail "$2: left suspended"
	! lvs $VG/vm_iofollow >/dev/null 2>&1 || fail "$2: the twin is left"
	! dmsetup info iofollow-src-$VG-vm >/dev/null 2>&1 || fail "$2: the helper is left"
	reads_model /dev/$VG/vm "$2"
}

other_pv() { if [ "$1" = "$pv_a" ]; then echo "$pv_b"; else echo "$pv_a"; fi; }

# round <step> <where it must end: source|destination> [resume|migrate]:
# after the kill, 'abort' (or 'resume', which carries a copy on to the
# switch-over and refuses a run killed suspended after its commit, which
# abort then settles; or 'migrate' again, which carries the copy on when
# it names the same PV).
round() {
	local step=$1 src dst rc=0 want how=${3:-abort}
	src=$(lvm_pv)
	dst=$(other_pv "$src")
	IOFOLLOW_MIGRATE_FAILPOINT=$step "$MIGRATE" migrate --chunk 64 $VG/vm "$dst" \
		>/dev/null 2>"$SCRATCH/$step.err" &
	local mig=$!
	if [ "$step" != twin-created ]; then
		until [ "$(dmsetup table $VG-vm | awk '{print $3}')" = iofollow ]; do
			kill -0 $mig 2>/dev/null || fail "$step: the migration ended early: $(cat "$SCRATCH/$step.err")"
			sleep 0.2
		done
		# Held for the writes, so that they land mid-copy.
		dmsetup message $VG-vm 0 pause
		[ "$(state_of $VG-vm)" = paused ] || fail "$step: the copy is not held mid-copy"
		write_some 6 "$step: during the copy"
		if [ "$step" = copying ]; then
			kill -9 $mig
		else
			dmsetup message $VG-vm 0 resume
		fi
	fi
	wait $mig || rc=$?
	[ $rc = 137 ] || fail "$step: the tool ended with $rc, not at its failpoint: $(cat "$SCRATCH/$step.err")"
	if [ "$step" = committed ]; then
		# Suspended, synced, metadata committed: a crash now reboots into B.
		[ "$(lvm_pv)" = "$dst" ] || fail "committed: LVM has the volume on $(lvm_pv), not $dst"
		reads_model /dev/$VG/vm_iofollow "committed: the destination (through the twin's table)"
	fi
	if [ "$how" != abort ] && [ "$step" = copying ]; then
		# The copy was held for the writes; 'resume' honours a pause.
		[ "$(migrated_of $VG-vm)" -lt "$(total_of $VG-vm)" ] ||
			fail "$step: the copy was done before the kill: test proves nothing"
		if [ "$how" = migrate ]; then
			# Another destination is refused, and changes nothing.
			out=$("$MIGRATE" migrate --chunk 64 $VG/vm "$src" 2>&1) &&
				fail "$step: a migrate to $src carried on a copy into $dst"
			grep -qF "being migrated by iofollow, to $dst and not to $src" <<<"$out" ||
				fail "$step: a migrate to $src said '$out'"
			[ "$(state_of $VG-vm)" = paused ] && [ "$(lvm_pv)" = "$src" ] &&
				lvs $VG/vm_iofollow >/dev/null 2>&1 ||
				fail "$step: the refused migrate changed the copy, the metadata or the twin"
		fi
		dmsetup message $VG-vm 0 resume || fail "$step: cannot let the copy go on"
		# 'migrate' to the same PV carries the copy on as 'resume' does.
		if [ "$how" = migrate ]; then
			"$MIGRATE" migrate --chunk 64 $VG/vm "$dst" >"$SCRATCH/$step.resume" 2>&1
		else
			"$MIGRATE" resume $VG/vm >"$SCRATCH/$step.resume" 2>&1
		fi || fail "$step: $how failed: $(tail -n 5 "$SCRATCH/$step.resume")"
		grep -q "carrying on the migration of $VG-vm to $dst (" "$SCRATCH/$step.resume" ||
			fail "$step: $how did not say what it carries on: $(head -n 3 "$SCRATCH/$step.resume")"
		grep -q "switched: $VG-vm now maps $VG/vm on $dst (in LVM's metadata too)" \
			"$SCRATCH/$step.resume" || fail "$step: $how said $(tail -n 3 "$SCRATCH/$step.resume")"
	elif [ "$how" = resume ]; then
		out=$("$MIGRATE" resume $VG/vm 2>&1) && fail "$step: resume carried on a committed run"
		# Killed suspended, after the commit: refused before anything changes.
		grep -qF "$VG-vm is suspended: a run was killed in its switch-over" <<<"$out" &&
			grep -qF "'iofollow-migrate abort $VG-vm' settles" <<<"$out" ||
			fail "$step: resume said '$out'"
		[ "$(dmsetup info -c --noheadings -o suspended $VG-vm)" = Suspended ] ||
			fail "$step: the refused resume resumed the device"
	fi
	if [ "$how" = abort ] || [ "$step" != copying ]; then
		"$MIGRATE" abort $VG/vm 2>"$SCRATCH/$step.abort" ||
			fail "$step: abort failed: $(cat "$SCRATCH/$step.abort")"
	fi
	want=$src
	[ "$2" = source ] || want=$dst
	whole "$want" "$step: after $how"
	write_some 2 "$step: after $how"
	vgchange -q -an $VG >/dev/null && vgchange -q -ay $VG >/dev/null || fail "$step: reactivation failed"
	whole "$want" "$step: after reactivation"
	vgck $VG || fail "$step: vgck reports a problem"
	note "$step: on $want after $how and reactivation, $MODEL_WRITES writes read back"
}

