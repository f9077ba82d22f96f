#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Faults while the copy runs under a verifying VM workload: destination
# write errors (dm-flakey), the destination gone (table "error") and back,
# random bio failures on the destination (fail_make_request at 10 and 50 %),
# failing allocations under the module's code (failslab, fail_page_alloc),
# and a destination that delays and reorders writes (dm-delay). The VM sees
# no error from any of them; after each, "resume" continues the copy. Then
# the VM sees exactly the errors of its own IO: a bio failed on the source
# fails the VM's write or read, mirrored or not; one failed on the
# destination does not; one failed on the iofollow device itself fails as
# it would on any device. Last, the copy completes and both sides match.
. "$(dirname "$0")/../lib.sh"
load_module
command -v fio >/dev/null || fail "fio missing"
debugfs_mounted
MiB=$((1024 * 1024))

# 64 MiB behind a 4 ms read delay, 16 KiB chunks (4096); at ratio 8:1 and
# paused between phases the copy lasts through all of them. Reads of
# migrated blocks go to the destination (and back to the source when it
# fails them); the cache, which would serve them first, is off but for
# the allocation phases.
migration_pair fi 64 4 0
src=$SRC dst=$DST len=$LEN slow=$SLOW
dm_create fi-dst "0 $len linear $dst 0"
dm_create fi "0 $len iofollow $slow /dev/mapper/fi-dst 32 7 ratio 8:1 paused reads destination cache 0"
vm=/dev/mapper/fi

# vm_load <seed> <phase>: 2 MiB of random 4 KiB reads and writes over the device,
# every write read back and checked (crc32c); fails the case on any error.
vm_load() {
	fio --name=vm --filename=$vm --direct=1 --ioengine=libaio --iodepth=8 \
		--rw=randrw --bs=4k --size=64M --io_size=2M --randseed="$1" \
		--verify=crc32c --verify_backlog=16 --verify_state_save=0 --verify_fatal=1 \
		--output="$SCRATCH/fio.out" 2>"$SCRATCH/fio.err" ||
		{ cat "$SCRATCH/fio.out" "$SCRATCH/fio.err"; fail "the VM saw an error ($2)"; }
	local w
	w=$(sed -n 's/.*issued rwts: total=[0-9]*,\([0-9]*\),.*/\1/p' "$SCRATCH/fio.out")
	echo "$w" >>"$SCRATCH/verified"
}

# phase <name> <copying|error|if-lost|any> ["<fault>..."]: the VM load with
# the copy running, which pauses after it; "copying": no copy failed,
# "error": one did, "if-lost": error exactly when a destination write failed
# (dest_losses moved; a failed read routed to the destination falls back to
# the source and is no error: at 10 % the failures can all land on reads).
# The faults (fault dirs, at $PCT %) are armed only while the copy runs:
# the pause and resume messages themselves may fail to allocate (ENOMEM, as
# they should).
phase() {
	local m0 l0
	m0=$(migrated_of fi)
	l0=$(stat_of fi dest_losses)
	[ "$m0" -lt "$(total_of fi)" ] || fail "copy complete before '$1': the phase proves nothing"
	vm_load "$RANDOM" "$1" &
	local load=$! v0 i
	# The copy resumes once the VM's IO flows (fio starts slowly here; a
	# copy alone would finish meanwhile).
	v0=$(status_field fi vm_ios)
	for ((i = 0; i < 200; i++)); do
		[ "$(status_field fi vm_ios)" -le $((v0 + 8)) ] || break
		sleep 0.05
	done
	dmsetup message fi 0 resume
	local f
	for f in ${3:-}; do
		fault_arm "$f" "$PCT" 100000
	done
	wait "$load" || fail "the VM saw an error ($1)"
	INJECTED=
	for f in ${3:-}; do
		INJECTED+=" $f $(fault_injected "$f" 100000)"
		fault_disarm "$f"
	done
	dmsetup message fi 0 pause
	case $2 in
	error) wait_state fi error 30 ;;
	if-lost)
		if [ "$(state_of fi)" = error ] || [ "$(stat_of fi dest_losses)" -gt "$l0" ]; then
			wait_state fi error 30
			[ "$(stat_of fi dest_losses)" -gt "$l0" ] ||
				fail "'$1': in error with no destination write lost: $(dmsetup message fi 0 stats)"
		fi
		;;
	copying) [ "$(state_of fi)" = paused ] || fail "'$1': $(dmsetup status fi)" ;;
	esac
	note "$1: VM load verified, copy $m0 -> $(migrated_of fi) of $(total_of fi), state $(state_of fi), destination losses $l0 -> $(stat_of fi dest_losses) (at $SECONDS s)"
}

# heal: the destination works again; resume retries what failed.
heal() {
	dm_reload fi-dst "0 $len linear $dst 0"
	dmsetup message fi 0 resume
	dmsetup message fi 0 pause
	[ "$(state_of fi)" = paused ] || fail "error stays after resume: $(dmsetup status fi)"
}

phase "no fault" copying

# A failed case must not leave faults armed for the next one.
case_cleanup() {
	local f
	for f in fail_make_request failslab fail_page_alloc; do
		fault_disarm "$f" 2>/dev/null
	done
	echo 0 >"$FAULTS/failslab/require-end"
	echo 0 >"$FAULTS/fail_page_alloc/require-end"
	for f in "$src" "$dst"; do
		fail_bios "$f" 0 2>/dev/null
	done
}

load_kmod dm_flakey
dm_reload fi-dst "0 $len flakey $dst 0 0 1 1 error_writes"
phase "destination fails writes (dm-flakey error_writes)" error
heal

dm_reload fi-dst "0 $len error"
phase "destination gone (table error)" error
heal

# Armed by phase, after its resume: a failure before it would be ended by
# the resume, leaving the losses moved and the state paused (a check-debug
# run failed the 10 % phase so).
for pct in 10 50; do
	fail_bios "$dst" 1
	PCT=$pct phase "fail_make_request $pct % on the destination" \
		"$([ "$pct" = 10 ] && echo if-lost || echo error)" fail_make_request
	fail_bios "$dst" 0
	note "  bios failed on the destination:${INJECTED# fail_make_request}"
	heal
done

# Allocations fail only with the module's code on the stack: its map and
# worker paths, the dm-io and cache allocations they make.
read -r lo hi <<<"$(module_text_range)"
dmsetup message fi 0 cache 16
for fault in failslab fail_page_alloc; do
	echo "$lo" >"$FAULTS/$fault/require-start"
	echo "$hi" >"$FAULTS/$fault/require-end"
	echo N >"$FAULTS/$fault/ignore-gfp-wait"
done
echo 0 >"$FAULTS/fail_page_alloc/min-order"
for PCT in 20 100; do
	phase "failslab and fail_page_alloc $PCT % under the module's code" any "failslab fail_page_alloc"
	note "  allocations failed:$INJECTED"
	[ "$(state_of fi)" = paused ] || heal
done

dm_reload fi-dst "0 $len delay $dst 0 0 $dst 0 15"
phase "destination writes 15 ms late, reads at once (reordered)" copying
dm_reload fi-dst "0 $len linear $dst 0"

# --- the VM's own errors, bio by bio (copy paused, cache off: nothing else
# reaches the devices) ---
dmsetup message fi 0 cache 0
sleep 0.2
pattern "$SCRATCH/w" 1 fault-own
# own_error <dev to fail> <expect: fail|ok> <dd arguments...>
own_error() {
	local dev=$1 want=$2 rc=0
	shift 2
	fault_arm fail_make_request 100 1
	fail_bios "$dev" 1
	dd "$@" status=none 2>/dev/null || rc=1
	fail_bios "$dev" 0
	[ "$(fault_injected fail_make_request 1)" = 1 ] || fail "no bio met the fault on $dev ($*)"
	fault_disarm fail_make_request
	case $want in
	fail) [ $rc = 1 ] || fail "the VM did not see the error of its own bio ($dev: $*)" ;;
	ok) [ $rc = 0 ] || fail "the VM saw an error that was not its own ($dev: $*)" ;;
	esac
}
# A copied chunk: the sequential policy takes the lowest chunk not copied
# first, so after some copying chunk 0 is copied. A chunk not copied reads
# as zeros on the destination (the source's pattern is never zero).
dmsetup message fi 0 policy sequential
m0=$(migrated_of fi)
dmsetup message fi 0 resume
wait_migrated fi $((m0 + 16)) 60 || true # judged after the pause
dmsetup message fi 0 pause
dmsetup message fi 0 policy follow
sleep 0.2
copied=0 copied2=16384
same_data_at "$src" "$dst" 0 32768 || fail "chunks 0 and 1 not copied after sequential copying"
# Durable on the destination (the periodic flush), so reads of them are routed.
for ((i = 0; i < 100; i++)); do
	[ "$(stat_of fi unflushed_blocks)" = 0 ] && break
	sleep 0.1
done
[ "$(stat_of fi unflushed_blocks)" = 0 ] || fail "copied blocks not flushed: $(dmsetup message fi 0 stats)"
# A routed read that the destination fails is read again from the source:
# the VM gets the data and no error, the target stays out of error.
d0=$(status_field fi dest_reads)
own_error "$dst" ok if=$vm of="$SCRATCH/r" bs=4k count=1 skip=$((copied2 / 4096)) iflag=direct
cmp "$SCRATCH/r" <(direct_read_at "$src" "$copied2" 4096) || fail "a routed read the destination failed returned wrong data"
[ "$(state_of fi)" = paused ] || fail "a failed destination read put the target in $(state_of fi)"
# Then the destination serves them again.
for ((i = 0; i < 4; i++)); do
	dd if=$vm of=/dev/null bs=4k count=1 skip=$((copied / 4096)) iflag=direct status=none
done
[ "$(status_field fi dest_reads)" -gt "$d0" ] || fail "no read of a copied chunk went to the destination"
# From here the VM's reads go to the source, whose failures they must see.
dmsetup message fi 0 reads source
uncopied=
for ((c = len / 32 - 1; c > len / 64; c--)); do
	if cmp -s <(direct_read_at "$dst" $((c * 16384)) 16384) <(head -c 16384 /dev/zero); then
		uncopied=$((c * 16384))
		break
	fi
done
[ -n "$uncopied" ] || fail "no chunk left that is not copied"
# A mirrored write whose destination half fails succeeds: the source has it.
own_error "$dst" ok if="$SCRATCH/w" of=$vm bs=4k count=1 seek=$((copied2 / 4096)) oflag=direct conv=notrunc
read_range "$src" "$copied2" 4096 "$SCRATCH/r"
cmp -n 4096 "$SCRATCH/w" "$SCRATCH/r" || fail "a write acknowledged with the destination failing is not on the source"
# Whatever the chunk's state, a bio failed on the source fails the VM's IO.
own_error "$src" fail if="$SCRATCH/w" of=$vm bs=4k count=1 seek=$((copied / 4096)) oflag=direct conv=notrunc
own_error "$src" fail if=$vm of=/dev/null bs=4k count=1 skip=$((copied / 4096)) iflag=direct
own_error "$src" fail if="$SCRATCH/w" of=$vm bs=4k count=1 seek=$((uncopied / 4096)) oflag=direct conv=notrunc
own_error "$src" fail if=$vm of=/dev/null bs=4k count=1 skip=$((uncopied / 4096)) iflag=direct
own_error "$vm" fail if="$SCRATCH/w" of=$vm bs=4k count=1 seek=$((copied / 4096)) oflag=direct conv=notrunc
note "own errors: source write and read fail (copied chunk and not), destination-only failure hidden, device failure seen"
unslow fi-slow "$src"
dmsetup message fi 0 resume
wait_state fi synced 300
note "VM writes verified under faults: $(awk '{ s += $1 } END { print s }' "$SCRATCH/verified")"
compare_devices "$src" "$dst" $((64 * MiB))
