#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# iofollow-migrate resume after a kill (issue 26): an LVM move killed
# mid-copy is carried on to the new PV, in LVM's metadata too, and reads
# back every acknowledged write, after a reactivation too; a run killed
# suspended after its LVM commit is refused with the device left as it
# was, and abort settles it. (The rounds: tests-ktest/lvm-move-rounds.sh.)
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
lvm_env

VG=resumevg SLOW_PV=mvrdst
. "$(dirname "$0")/../lvm-move-rounds.sh"

# The first copy runs into B (its writes delayed): still mid-copy at the kill.
round copying destination resume
round committed source resume
