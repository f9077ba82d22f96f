#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `dmsetup table` prints a line that recreates the device; `dmsetup status`
# starts with the state word and carries the policy and ratio.
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
[ "${f[4]}" = "0/$((len / 512))" ] || fail "progress '${f[4]}', want 0/$((len / 512))"
[ "${f[12]}" = sequential ] || fail "policy '${f[12]}'"
[ "${f[13]}" = 3:1 ] || fail "ratio '${f[13]}'"
