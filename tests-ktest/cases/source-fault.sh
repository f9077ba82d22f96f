#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A source that fails reads in one range: a VM read there fails with the
# error, the copy of that chunk fails (state "error"), VM IO elsewhere keeps
# working; once the source is whole again, "resume" completes the copy.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module

src=$(make_loop 64)
dst=$(make_loop 64)
fill "$src" 64 source-fault
len=$(sectors "$src")
# Sectors 65536..67583 (32 MiB, 1 MiB long) of the source fail.
bad_start=65536 bad_len=2048
dm_create sf-src "0 $bad_start linear $src 0
$bad_start $bad_len error
$((bad_start + bad_len)) $((len - bad_start - bad_len)) linear $src $((bad_start + bad_len))"
dm_create sf "0 $len iofollow /dev/mapper/sf-src $dst 2048"

if dd if=/dev/mapper/sf of=/dev/null bs=4k skip=$((bad_start / 8)) count=1 iflag=direct status=none 2>/dev/null; then
	fail "VM read of the failing range succeeded"
fi
wait_state sf error 120
note "state error: $(dmsetup status sf)"

# Elsewhere the VM reads and writes normally.
pattern "$SCRATCH/w" 1 source-fault-write
write_range /dev/mapper/sf $((8 * 1024 * 1024)) "$SCRATCH/w"
read_range /dev/mapper/sf $((8 * 1024 * 1024)) $((1024 * 1024)) "$SCRATCH/r"
cmp "$SCRATCH/w" "$SCRATCH/r" || fail "VM IO outside the failing range broken"

# The source heals; resume retries the chunk.
dm_reload sf-src "0 $len linear $src 0"
dmsetup message sf 0 resume
wait_state sf synced 300
compare_devices "$src" "$dst" $((64 * 1024 * 1024))
note "healed source, resumed: synced and identical"
