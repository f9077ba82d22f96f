#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# insmod registers target iofollow 0.1.0; rmmod is refused while an iofollow
# device exists and works once it is gone; without the module,
# iofollow-migrate refuses to start and says why.
. "$(dirname "$0")/../lib.sh"

grep -q '^dm_iofollow ' /proc/modules && rmmod dm_iofollow
insmod "$MODULE"
dmsetup targets | grep -qE '^iofollow +v0\.1\.0$' || fail "target iofollow v0.1.0 not registered"

src=$(make_loop 16)
dst=$(make_loop 16)
dm_create mod-busy "0 $(sectors "$src") iofollow $src $dst 1024"
if rmmod dm_iofollow 2>/dev/null; then
	fail "rmmod succeeded while an iofollow device exists"
fi
grep -q '^dm_iofollow ' /proc/modules || fail "module gone after refused rmmod"
note "rmmod refused while mod-busy exists"

dm_remove mod-busy
rmmod dm_iofollow || fail "rmmod failed with no device left"
dmsetup targets | grep -q '^iofollow ' && fail "target still registered after rmmod"
# iofollow-migrate says what is missing (modprobe cannot find the module:
# it is not installed in this guest) and changes nothing.
dm_create mod-lin "0 $(sectors "$src") linear $src 0"
if out=$("$MIGRATE" migrate mod-lin "$dst" 2>&1); then
	fail "iofollow-migrate started without the module"
fi
grep -q "the iofollow target is not loaded" <<<"$out" || fail "iofollow-migrate without the module said: $out"
[ "$(dmsetup table mod-lin)" = "0 $(sectors "$src") linear $(lsblk -dno MAJ:MIN "$src" | tr -d ' ') 0" ] ||
	fail "iofollow-migrate changed mod-lin: $(dmsetup table mod-lin)"
dm_remove mod-lin
note "iofollow-migrate without the module: refused, saying so"
insmod "$MODULE"
note "rmmod and insmod again"
