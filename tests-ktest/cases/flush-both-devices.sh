#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A VM fsync on an iofollow device flushes BOTH the source and the destination
# (their loop devices, set to write back, count a flush request each): paused,
# copying, synced, and for a target that is the second segment of its table
# (there the flush must also succeed instead of failing with EIO).
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module

pattern "$SCRATCH/w" 1 flush-both
head -c 65536 "$SCRATCH/w" >"$SCRATCH/w64"
rm -f "$SCRATCH/w"

# measure <label> <dm device> <byte offset> <source loop> <destination loop>:
# one VM write+fsync; both loops' flush counters must move (no periodic
# flush in these tables: only the fsync may move them). Failures are
# collected so that every state is reported; the case fails at the end.
failures=()
measure() {
	local label=$1 dev=$2 off=$3 s0 d0 s1 d1 ok=1
	s0=$(flush_count "$4") d0=$(flush_count "$5")
	if ! vm_fsync "$dev" "$off" "$SCRATCH/w64"; then
		failures+=("$label: VM write+fsync failed")
		ok=0
	fi
	s1=$(flush_count "$4") d1=$(flush_count "$5")
	if [ "$s1" -le "$s0" ] || [ "$d1" -le "$d0" ]; then
		failures+=("$label: fsync did not flush both devices: source flushes $s0 -> $s1, destination flushes $d0 -> $d1")
		ok=0
	fi
	note "$label: $([ $ok = 1 ] && echo ok || echo BAD): source flushes $s0 -> $s1, destination flushes $d0 -> $d1"
}

# The instrument: dm-linear over a write-back loop moves its flush counter.
ref=$(make_loop 16)
write_back "$ref"
dm_create fl-ref "0 $(sectors "$ref") linear $ref 0"
r0=$(flush_count "$ref")
vm_fsync /dev/mapper/fl-ref 0 "$SCRATCH/w64" || fail "fsync through dm-linear failed"
r1=$(flush_count "$ref")
[ "$r1" -gt "$r0" ] || fail "instrument broken: dm-linear fsync left the loop's flush counter at $r0 -> $r1"
note "dm-linear reference: flushes $r0 -> $r1"
dm_remove fl-ref

# (a) paused at creation.
src=$(make_loop 64)
dst=$(make_loop 64)
write_back "$src"
write_back "$dst"
len=$(sectors "$src")
dm_create fl-p "0 $len iofollow $src $dst 512 3 paused flush_interval 0"
[ "$(state_of fl-p)" = paused ] || fail "fl-p not paused"
measure paused /dev/mapper/fl-p $((32 * 1024 * 1024)) "$src" "$dst"
dm_remove fl-p

# (b) copying: the source behind dm-delay (slow reads; its flushes take the
# write class, 0 ms, and reach the loop below). Reads of 1 s make the copy
# last a minute whatever the guest's speed: at 100 ms it took 6 s, and the
# debug kernel's fsync outlasted it once ("test proves nothing").
migration_pair fl-c 64 1000 0
write_back "$SRC"
write_back "$DST"
dm_create fl-c "0 $LEN iofollow $SLOW $DST 512 2 flush_interval 0"
sleep 1
[ "$(state_of fl-c)" = copying ] || fail "fl-c not copying before the fsync: $(dmsetup status fl-c)"
measure copying /dev/mapper/fl-c $((32 * 1024 * 1024)) "$SRC" "$DST"
[ "$(state_of fl-c)" = copying ] || fail "fl-c not copying after the fsync: test proves nothing"
dm_remove fl-c
dm_remove fl-c-slow

# (c) synced.
src=$(make_loop 64)
dst=$(make_loop 64)
write_back "$src"
write_back "$dst"
fill "$src" 64 flush-synced
dm_create fl-s "0 $len iofollow $src $dst 512 2 flush_interval 0"
wait_state fl-s synced 300
measure synced /dev/mapper/fl-s $((32 * 1024 * 1024)) "$src" "$dst"
dm_remove fl-s

# (d) synced, iofollow as the second segment (begin = 2048).
other=$(make_loop 4)
src=$(make_loop 64)
dst=$(make_loop 64)
write_back "$other"
write_back "$src"
write_back "$dst"
fill "$src" 64 flush-second
dm_create fl-2 "0 2048 linear $other 0
2048 $len iofollow $src $dst 512 2 flush_interval 0"
wait_state fl-2 synced 300
measure "second segment" /dev/mapper/fl-2 $((1024 * 1024 + 32 * 1024 * 1024)) "$src" "$dst"
read_range "$src" $((32 * 1024 * 1024)) 65536 "$SCRATCH/r"
cmp "$SCRATCH/w64" "$SCRATCH/r" || failures+=("second segment: the write is not at offset 32 MiB of the source")

for f in "${failures[@]}"; do
	echo "FAIL: $f" >&2
done
[ ${#failures[@]} -eq 0 ] || fail "${#failures[@]} of the checks above failed"
