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
# <hits> <misses> <bytes>/<capacity> <policy> <V>:<M> <fault> <src reads>/<dst reads>
[ "${#f[@]}" -eq 16 ] || fail "status has ${#f[@]} fields, want 16"
case ${f[3]} in copying | paused | synced | error) ;; *) fail "bad state word '${f[3]}'" ;; esac
# Progress counts blocks (64 KiB by default), not chunks.
[ "${f[4]}" = "0/$((len / 128))" ] || fail "progress '${f[4]}', want 0/$((len / 128))"
[ "${f[12]}" = sequential ] || fail "policy '${f[12]}'"
[ "${f[13]}" = 3:1 ] || fail "ratio '${f[13]}'"
[ "${f[14]}" = - ] || fail "fault '${f[14]}' on a device that saw none"
# Nothing is migrated yet, so the destination has served no VM read.
[[ ${f[15]} =~ ^[0-9]+/0$ ]] || fail "reads per leg '${f[15]}', want <n>/0 before any copy"

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

# Read routing, idle-time runs and the island guard (issue 24): set in the
# table, changed by message, printed back, and the line recreates them.
dm_create tbl-copy "0 $len iofollow $src $dst 512 7 reads destination idle_run 128 islands allow paused"
table=$(dmsetup table tbl-copy)
note "table: $table"
grep -qF "reads destination idle_run 128 islands allow" <<<"$table" ||
	fail "table lost the copy features: $table"
dmsetup message tbl-copy 0 reads source
dmsetup message tbl-copy 0 idle_run 256
dmsetup message tbl-copy 0 islands avoid
table=$(dmsetup table tbl-copy)
grep -qF "reads source idle_run 256" <<<"$table" || fail "messages not reflected in the table: $table"
grep -qF islands <<<"$table" && fail "islands avoid is the default, yet printed: $table"
dm_create tbl-copy-again "${table}"
[ "$(dmsetup table tbl-copy-again)" = "$table" ] || fail "copy features do not round-trip"
dmsetup message tbl-copy 0 idle_run 16385 2>/dev/null && fail "idle_run 16385 accepted"
dmsetup message tbl-copy 0 reads nowhere 2>/dev/null && fail "reads nowhere accepted"
true
