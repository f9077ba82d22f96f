#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# iofollow-migrate after a kill (issue 26): an LVM move killed mid-copy is
# carried on to the new PV by a second 'migrate' naming that PV (one naming
# another PV is refused), in LVM's metadata too, and reads back every
# acknowledged write, after a reactivation too; 'resume' of a run killed
# suspended after its LVM commit is refused with the device left as it
# was, and abort settles it. (The rounds: tests-ktest/lvm-move-rounds.sh.)
# suite: parallel
. "$(dirname "$0")/../lib.sh"
load_module
lvm_env

VG=resumevg SLOW_PV=mvrdst
. "$(dirname "$0")/../lvm-move-rounds.sh"

# The first copy runs into B (its writes delayed): still mid-copy at the kill.
round copying destination migrate
round committed source resume
