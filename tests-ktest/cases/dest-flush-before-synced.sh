#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The copy's writes are made durable before "synced" is said: with no VM IO
# at all, by the time the completion event is raised and the status says
# synced, the destination (a write-back loop) has received a flush. A
# 'resume' message then raises no second event, and a suspend keeps the
# state synced.
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module

src=$(make_loop 16)
dst=$(make_loop 16)
write_back "$src"
write_back "$dst"
fill "$src" 16 dest-flush
len=$(sectors "$src")

d0=$(flush_count "$dst")
# No periodic flush: the one that makes the copy durable must be there.
dm_create dfs "0 $len iofollow $src $dst 512 3 paused flush_interval 0"
event=$(dmsetup info -c --noheadings -o events dfs | tr -d ' ')
dmsetup message dfs 0 resume
timeout 300 dmsetup wait dfs "$event" || fail "no event within 300 s: $(dmsetup status dfs)"
d1=$(flush_count "$dst")
[ "$(state_of dfs)" = synced ] || fail "event raised but state is not synced: $(dmsetup status dfs)"
[ "$d1" -gt "$d0" ] ||
	fail "synced announced, but the destination got no flush (flushes $d0 at creation -> $d1 at synced)"
note "destination flushes: $d0 at creation, $d1 at synced"

# A 'resume' message that changes nothing raises no second event.
e1=$(dmsetup info -c --noheadings -o events dfs | tr -d ' ')
dmsetup message dfs 0 resume
sleep 1
e2=$(dmsetup info -c --noheadings -o events dfs | tr -d ' ')
[ "$e2" = "$e1" ] || fail "'resume' on a synced device raised another event ($e1 -> $e2)"

dmsetup suspend dfs
d2=$(flush_count "$dst")
note "destination flushes after suspend: $d2"
[ "$(state_of dfs)" = synced ] || fail "not synced after suspend: $(dmsetup status dfs)"
dmsetup resume dfs
compare_devices "$src" "$dst" $((16 * 1024 * 1024))
