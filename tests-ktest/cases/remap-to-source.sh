#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Data written at offset X of the target is at offset X of the SOURCE device,
# including when the target does not start at sector 0 of the mapped device.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module

src=$(make_loop 64)
dst=$(make_loop 64)
len=$(sectors "$src")

dm_create remap "0 $len iofollow $src $dst 2048"
pattern "$SCRATCH/a" 3 seed-a
offset=$((5 * 1024 * 1024 + 4096))
write_range /dev/mapper/remap $offset "$SCRATCH/a"
read_range "$src" $offset $((3 * 1024 * 1024)) "$SCRATCH/a.src"
cmp "$SCRATCH/a" "$SCRATCH/a.src" || fail "source does not hold the data at offset $offset"
read_range /dev/mapper/remap $offset $((3 * 1024 * 1024)) "$SCRATCH/a.dm"
cmp "$SCRATCH/a" "$SCRATCH/a.dm" || fail "reading back through the target differs"
note "3 MiB at $offset found on the source"

# The iofollow segment starts 1 MiB into the mapped device.
dm_create remap2 "0 2048 zero
2048 $((len - 2048)) iofollow $src $dst 2048"
pattern "$SCRATCH/b" 1 seed-b
write_range /dev/mapper/remap2 $((1024 * 1024 + 8192)) "$SCRATCH/b"
read_range "$src" 8192 $((1024 * 1024)) "$SCRATCH/b.src"
cmp "$SCRATCH/b" "$SCRATCH/b.src" || fail "segment at sector 2048 not remapped to source offset 0"
note "segment starting at sector 2048 maps to source sector 0"

# Flushes pass through (an empty flush must not be remapped by its sector).
sync /dev/mapper/remap
blockdev --flushbufs /dev/mapper/remap
