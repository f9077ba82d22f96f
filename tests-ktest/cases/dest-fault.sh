#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A failing destination puts the target in state "error": VM IO (flushes
# included) keeps going to the source and nothing is lost; after the fault is removed, the
# "resume" message retries and the copy completes byte-identical.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module

migration_pair flt 64 50 0
src=$SRC dst=$DST len=$LEN slow=$SLOW
dm_create flt-dst "0 $len linear $dst 0"
dm_create flt "0 $len iofollow $slow /dev/mapper/flt-dst 512"
wait_migrated flt 4 60 || true # paused below either way
# Paused while the fault is set up, however long a slow guest takes.
dmsetup message flt 0 pause
[ "$(migrated_of flt)" -lt "$(total_of flt)" ] || fail "copy complete before the fault: test proves nothing"

# The destination fails every IO from now on.
dm_reload flt-dst "0 $len error"
dmsetup message flt 0 resume
# A VM flush (one clone goes to the destination) still succeeds.
sync /dev/mapper/flt || fail "VM flush failed because of the broken destination"
wait_state flt error 60
note "state error: $(dmsetup status flt)"

# VM writes still work and land on the source, also in migrated chunks.
pattern "$SCRATCH/w" 2 fault-write
write_range /dev/mapper/flt 0 "$SCRATCH/w"
write_range /dev/mapper/flt $((40 * 1024 * 1024)) "$SCRATCH/w"
read_range "$src" 0 $((2 * 1024 * 1024)) "$SCRATCH/r0"
read_range "$src" $((40 * 1024 * 1024)) $((2 * 1024 * 1024)) "$SCRATCH/r40"
cmp "$SCRATCH/w" "$SCRATCH/r0" || fail "write at 0 lost while in error"
cmp "$SCRATCH/w" "$SCRATCH/r40" || fail "write at 40 MiB lost while in error"
[ "$(state_of flt)" = error ] || fail "left error state by itself"

# Remove the fault and retry.
dm_reload flt-dst "0 $len linear $dst 0"
dmsetup message flt 0 resume
wait_state flt synced 300
compare_devices "$src" "$dst" $((64 * 1024 * 1024))
note "recovered with 'resume'; source and destination identical"

# Removing a device in the error state, with copies failing, does not hang.
dd if=/dev/zero of="$dst" bs=1M count=64 oflag=direct status=none
dm_reload flt-dst "0 $len error"
dm_create flt2 "0 $len iofollow $slow /dev/mapper/flt-dst 512"
wait_state flt2 error 60
write_range /dev/mapper/flt2 0 "$SCRATCH/w"
dm_remove flt2
note "removed in the error state"
