#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# insmod registers target iofollow 0.1.0; rmmod is refused while an iofollow
# device exists and works once it is gone.
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
insmod "$MODULE"
note "rmmod and insmod again"
