#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Suspend stops the copy and resume continues it; a table reload mid-copy
# starts a fresh copy that still ends byte-identical; removing the device
# mid-copy leaves nothing behind (the module unloads, no splat).
. "$(dirname "$0")/../lib.sh"
load_module

migration_pair sus 64 50 1
src=$SRC dst=$DST len=$LEN slow=$SLOW
dm_create sus "0 $len iofollow $slow $dst 512 1 paused"
fio --name=w --filename=/dev/mapper/sus --direct=1 --ioengine=libaio --iodepth=4 \
	--rw=randwrite --bs=4k --size=64M --time_based --runtime=20 --randseed=7 \
	--output="$SCRATCH/fio.out" &
fio_pid=$!
sleep 2
dmsetup message sus 0 resume
sleep 2

dmsetup suspend sus
a=$(migrated_of sus); sleep 1; b=$(migrated_of sus)
[ "$a" = "$b" ] || fail "copy went on while suspended ($a -> $b)"
[ "$a" -lt "$(total_of sus)" ] || fail "copy already complete before the suspend: test proves nothing"
dmsetup resume sus
sleep 1
note "suspended at $a chunks, resumed"

table=$(dmsetup table sus)
dm_reload sus "$table"
note "reloaded mid-copy: $(dmsetup status sus)"

wait $fio_pid || { cat "$SCRATCH/fio.out"; fail "fio failed"; }
wait_state sus synced 300
compare_devices "$src" "$dst" $((64 * 1024 * 1024))
note "identical after suspend/resume and reload"
dm_remove sus

# Remove in the middle of a copy: every IO drains, the worker stops.
dd if=/dev/zero of="$dst" bs=1M count=64 oflag=direct status=none
dm_create sus2 "0 $len iofollow $slow $dst 256"
sleep 1
m=$(migrated_of sus2)
[ "$m" -lt "$(total_of sus2)" ] || fail "sus2 finished before removal: test proves nothing"
dm_remove sus2
note "removed sus2 after $m chunks"
dm_remove sus-slow
rmmod dm_iofollow || fail "module busy after removal mid-copy"
insmod "$MODULE"
