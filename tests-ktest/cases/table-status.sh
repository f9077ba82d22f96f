#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `dmsetup table` prints a line that recreates the device; `dmsetup status`
# starts with the state word and carries the policy and ratio.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module

src=$(make_loop 32)
dst=$(make_loop 32)
len=$(sectors "$src")
majmin() { printf '%d:%d' "$(stat -L -c '0x%t' "$1")" "$(stat -L -c '0x%T' "$1")"; }

dm_create tbl "0 $len iofollow $src $dst 256"
want="0 $len iofollow $(majmin "$src") $(majmin "$dst") 256"
got=$(dmsetup table tbl)
[ "$got" = "$want" ] || fail "table: got '$got', want '$want'"

dm_create tbl-feat "0 $len iofollow $src $dst 512 7 ratio 3:1 policy sequential cache 0 paused"
table=$(dmsetup table tbl-feat)
note "table: $table"
for word in "ratio 3:1" "policy sequential" "cache 0" paused; do
	grep -qF "$word" <<<"$table" || fail "table lost '$word': $table"
done
# Round trip: a device created from the printed table prints the same table.
dm_create tbl-again "${table}"
[ "$(dmsetup table tbl-again)" = "$table" ] || fail "table does not round-trip"

status=$(dmsetup status tbl-feat)
note "status: $status"
read -r -a f <<<"$status"
# 0 <len> iofollow <state> <migrated>/<total> <dirty> <head> <vm ios> <mig ios>
# <hits> <misses> <bytes>/<capacity> <policy> <V>:<M>
[ "${#f[@]}" -eq 14 ] || fail "status has ${#f[@]} fields, want 14"
case ${f[3]} in copying | paused | synced | error) ;; *) fail "bad state word '${f[3]}'" ;; esac
# Progress counts blocks (64 KiB by default), not chunks.
[ "${f[4]}" = "0/$((len / 128))" ] || fail "progress '${f[4]}', want 0/$((len / 128))"
[ "${f[12]}" = sequential ] || fail "policy '${f[12]}'"
[ "${f[13]}" = 3:1 ] || fail "ratio '${f[13]}'"

# The map's block and the copy's start are table features too.
dm_create tbl-blk "0 $len iofollow $src $dst 512 4 block 256 no_read_at_head paused"
table=$(dmsetup table tbl-blk)
note "table: $table"
grep -qF "block 256 no_read_at_head" <<<"$table" || fail "table lost the block features: $table"
[ "$(total_of tbl-blk)" = $((len / 256)) ] || fail "total '$(total_of tbl-blk)', want $((len / 256)) blocks"
dmsetup message tbl-blk 0 read_at_head on
table=$(dmsetup table tbl-blk)
grep -qF no_read_at_head <<<"$table" && fail "read_at_head on not reflected: $table"
dm_create tbl-blk-again "${table}"
[ "$(dmsetup table tbl-blk-again)" = "$table" ] || fail "block table does not round-trip"
