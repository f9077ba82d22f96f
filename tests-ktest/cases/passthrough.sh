#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Reads in `synced` skip the engine lock (issue 26: the map path at
# dm-linear's cost) and still return the right data. With the cache off and
# reads on the source: before `synced` (paused) no read passes through;
# once synced, 320 reads of 4 KiB pass through but one in 32 (the router's
# sample), the source serves them all, the destination none, and they
# return what both devices hold, a mirrored write included. With `reads
# destination` none passes through and the destination serves them. (That
# a cached block is served from memory, not passed through, is cache.sh's
# "cache hits read the source".)
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module

src=$(make_loop 16)
dst=$(make_loop 16)
fill "$src" 16 pass
len=$(sectors "$src")
passed() { stat_of pt passthrough_reads; }
# reads4k <dev> <count> <seed>: 4 KiB O_DIRECT reads spread over 16 MiB.
reads4k() {
	local i
	for ((i = 0; i < $2; i++)); do
		dd if="$1" bs=4k skip=$(((i * 37 + $3) % 4096)) count=1 iflag=direct status=none
	done
}

dm_create pt "0 $len iofollow $src $dst 128 5 paused cache 0 reads source"
reads4k /dev/mapper/pt 64 1 >"$SCRATCH/copying"
cmp "$SCRATCH/copying" <(reads4k "$src" 64 1) || fail "reads while copying returned wrong data"
[ "$(passed)" -eq 0 ] || fail "$(passed) reads passed through before synced: $(dmsetup message pt 0 stats)"

dmsetup message pt 0 resume
wait_state pt synced 120
# Mirrored: the block is migrated, so the write reaches both devices.
pattern "$SCRATCH/new" 1 pt-new
dd if="$SCRATCH/new" of=/dev/mapper/pt bs=64k seek=64 oflag=direct status=none
# The destination's reads by the target: its loop device's counter also
# moves for udev's probes of it (the debug kernel's suite saw 2).
dest_reads() { status_field pt dest_reads; }
p0=$(passed) s0=$(reads_of "$src") d0=$(dest_reads)
reads4k /dev/mapper/pt 320 7 >"$SCRATCH/synced"
p1=$(passed) s1=$(reads_of "$src") d1=$(dest_reads)
note "synced, reads source: $((p1 - p0)) of 320 reads passed through; source reads +$((s1 - s0)), target's destination reads +$((d1 - d0))"
# udev may read too (the write's close), never fewer.
[ $((p1 - p0)) -ge $((320 - 320 / 32 - 1)) ] || fail "only $((p1 - p0)) of 320 synced reads passed through"
[ $((s1 - s0)) -ge 320 ] || fail "the source served $((s1 - s0)) of 320 reads"
[ "$d1" -eq "$d0" ] || fail "reads source, yet the destination served $((d1 - d0)) reads"
cmp "$SCRATCH/synced" <(reads4k "$src" 320 7) || fail "reads that passed through differ from the source"
cmp "$SCRATCH/synced" <(reads4k "$dst" 320 7) || fail "the destination differs from what was read"
cmp <(direct_read_at /dev/mapper/pt $((64 * 65536)) 1048576) "$SCRATCH/new" || fail "the mirrored write does not read back"

dmsetup message pt 0 reads destination
p2=$(passed) d2=$(dest_reads)
reads4k /dev/mapper/pt 64 3 >"$SCRATCH/dest"
[ "$(passed)" -eq "$p2" ] || fail "$(($(passed) - p2)) reads passed through with reads destination"
[ $(($(dest_reads) - d2)) -ge 64 ] || fail "reads destination: the destination served $(($(dest_reads) - d2)) of 64"
cmp "$SCRATCH/dest" <(reads4k "$src" 64 3) || fail "reads from the destination returned wrong data"
dm_remove pt
