#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# iofollow-migrate killed at each step of an LVM move it can be stopped at
# (IOFOLLOW_MIGRATE_FAILPOINT, or kill -9 mid-copy), then 'abort': the
# volume is on its old PV or its new one, never half: LVM's metadata and
# the live table name the same PV, it reads back every acknowledged write,
# after a reactivation too, and no twin or helper is left. At the commit
# step, before the abort, the metadata already names the new PV, and that PV
# holds every write: a host crash there would come back whole. (The
# rounds: tests-ktest/lvm-move-rounds.sh; resume: lvm-move-resume.)
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
lvm_env

VG=crashvg SLOW_PV=mvcdst
. "$(dirname "$0")/../lvm-move-rounds.sh"

round twin-created source
round copying source
round committed source
round switched destination
