#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A piggybacked VM read (64 KiB blocks, VM idle, sequential copy far behind)
# into a block with 8 bad source sectors ELSEWHERE in it: the whole-block read
# fails, but the VM's own 4 KiB read is of good sectors and must succeed with
# the source's data, as it would without the target (`islands allow`: the
# read is in the middle of pending space).
. "$(dirname "$0")/../lib.sh"
load_module

src=$(make_loop 64)
dst=$(make_loop 64)
fill "$src" 64 piggyback-bad
len=$(sectors "$src")
# Block 960 covers sectors 122880..123007; sectors 122944..122951 (60 MiB +
# 32 KiB) fail, the rest of the source is good.
bad=122944
dm_create pbs-src "0 $bad linear $src 0
$bad 8 error
$((bad + 8)) $((len - bad - 8)) linear $src $((bad + 8))"
slow=$(slow_dev pbs-slow /dev/mapper/pbs-src 100 0)
dm_create pbs "0 $len iofollow $slow $dst 512 4 policy sequential islands allow"

# Without the target, the VM's read works.
offset=$((60 * 1024 * 1024 + 12288))
read_range /dev/mapper/pbs-src $offset 4096 "$SCRATCH/want" ||
	fail "the source itself fails the good sectors: test proves nothing"
cmp "$SCRATCH/want" <(dd if="$src" bs=4096 skip=$((offset / 4096)) count=1 iflag=direct status=none) ||
	fail "source table maps the wrong data"

read_range /dev/mapper/pbs $offset 4096 "$SCRATCH/vm" ||
	fail "VM read of good sectors in block 960 failed (bad sectors elsewhere in the block): $(dmsetup status pbs)"
cmp "$SCRATCH/vm" "$SCRATCH/want" || fail "VM read in block 960 returned wrong data"
m=$(migrated_of pbs)
[ "$m" -lt 920 ] || fail "sequential copy already near block 960 ($m): not piggybacked, test proves nothing"
note "VM read of good sectors in block 960 served while the copy was at $m; state now: $(dmsetup status pbs)"
