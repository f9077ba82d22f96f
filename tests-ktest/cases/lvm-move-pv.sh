#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A whole PV moved at once, as 'pvmove A B': iofollow-migrate moves every
# LV on A to B, each with its own iofollow device, all sharing one head
# model with --shared-head (their status shows the same head), under fio
# writes that verify
# after the switch-over; all three are on B after a reactivation, with
# their data, and A leaves the group.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
lvm_env

lvm_pv_pair mvpdst 64
pv_a=$PV_A pv_b=$PV_B dst_loop=$PV_B_LOOP
vgcreate -q pvvg "$pv_a" >/dev/null ||
	fail "cannot make the volume group"
case_cleanup() { vgchange -q -an pvvg >/dev/null 2>&1; }
lvs_="one two three"
for lv in $lvs_; do
	make_lv pvvg "$lv" 16
	echo "pvvg-${lv}_iofollow" >>"$DM_LIST"
	fill "/dev/pvvg/$lv" 16 "pv-$lv"
	# The part fio leaves alone: it must read back as filled.
	direct_read_at "/dev/pvvg/$lv" $((8 << 20)) $((8 << 20)) | md5sum >"$SCRATCH/$lv.tail"
done
vgextend -q pvvg "$pv_b" >/dev/null || fail "vgextend failed"
set_slow mvpdst "$dst_loop" 0 200

"$MIGRATE" --json migrate --chunk 64 --shared-head "$pv_a" "$pv_b" >"$SCRATCH/out.json" 2>"$SCRATCH/err" &
mig=$!
# Hold each copy as soon as it runs, in whatever order the tool starts
# them (its LVM steps take seconds each on a slow guest): the checks below
# need all three mid-copy.
held=
while [ "$(wc -w <<<"$held")" -lt 3 ]; do
	kill -0 $mig 2>/dev/null || fail "the move ended early: $(cat "$SCRATCH/err")"
	for lv in $lvs_; do
		[[ " $held " != *" $lv "* ]] || continue
		if [ "$(dmsetup table "pvvg-$lv" 2>/dev/null | awk '{print $3}')" = iofollow ]; then
			dmsetup message "pvvg-$lv" 0 pause
			held+=" $lv"
		fi
	done
	sleep 0.1
done
for lv in $lvs_; do
	[ "$(state_of "pvvg-$lv")" = paused ] || fail "$lv is not paused mid-copy: $(dmsetup status "pvvg-$lv")"
done
grep -q "3 volumes on $pv_a" "$SCRATCH/err" || fail "the tool did not find the three volumes: $(cat "$SCRATCH/err")"
# One head: with the copies held and the disk idle, every device reports
# the same head (separate models would each keep their own last IO).
inflight=/sys/class/block/$(basename "$pv_a")/inflight
end=$((SECONDS + 60))
until [ "$(awk '{ print $1 + $2 }' "$inflight")" = 0 ]; do
	[ $SECONDS -lt $end ] || fail "IO still in flight on $pv_a: $(cat "$inflight")"
	sleep 0.2
done
heads=$(for lv in $lvs_; do status_field "pvvg-$lv" head_sector; done | sort -u)
[ "$(wc -l <<<"$heads")" = 1 ] || fail "the volumes do not share a head: $heads"
note "three copies held, one head at $heads"

# fio writes during the copy (each block of the first 4 MiB once, with a
# checksum), verified after the move. The destination is fast again for
# them: a write to a copied block is mirrored, and the copies held first
# may be most of the way through.
unslow mvpdst "$dst_loop"
fio_job() { # <lv> [extra fio args]
	local lv=$1
	shift
	fio --name="w-$lv" --filename="/dev/pvvg/$lv" --rw=randwrite --bs=4k --size=4M \
		--direct=1 --verify=crc32c --verify_state_save=0 --verify_fatal=1 --randseed=7 --output="$SCRATCH/fio-$lv.out" "$@" >/dev/null
}
for lv in $lvs_; do
	fio_job "$lv" --do_verify=0 || fail "fio writes on $lv failed: $(cat "$SCRATCH/fio-$lv.out")"
	dmsetup message "pvvg-$lv" 0 resume
done
wait $mig || fail "the move failed: $(cat "$SCRATCH/err")"
[ "$(grep -c '"event":"switched' "$SCRATCH/out.json")" = 3 ] ||
	fail "not three switch-overs: $(grep '"event":"switched\|"event":"failed' "$SCRATCH/out.json")"

check_all() { # <when>
	local lv
	for lv in $lvs_; do
		lv_on_pv pvvg "$lv" "$pv_b" "$1"
		fio_job "$lv" --verify_only || fail "$1: fio's writes on $lv do not verify: $(cat "$SCRATCH/fio-$lv.out")"
		cmp -s <(direct_read_at "/dev/pvvg/$lv" $((8 << 20)) $((8 << 20)) | md5sum) "$SCRATCH/$lv.tail" ||
			fail "$1: the untouched half of $lv changed"
	done
}
check_all "after the move"
vgchange -q -an pvvg >/dev/null && vgchange -q -ay pvvg >/dev/null || fail "reactivation failed"
check_all "after reactivation"
! lvs --noheadings -o lv_name pvvg | grep -q _iofollow || fail "a twin is left: $(lvs pvvg)"
vgreduce -q pvvg "$pv_a" >/dev/null || fail "vgreduce pvvg $pv_a failed"
note "three volumes on $pv_b in LVM and in their tables, fio verifies, $pv_a out of the group"
