// SPDX-License-Identifier: GPL-2.0

//! Piggybacking VM reads on migration (Algorithm 2, READBLOCK/WRITEBLOCK).
//!
//! A VM read that lands in a pending chunk can be served by reading the whole
//! chunk in one request: the VM's own positioning then does the migration's
//! work, the chunk is written to the destination and handed to the cache.
//! The price is the transfer of the rest of the chunk, which the VM request
//! (and every request queued behind it) waits for. [`PiggybackRule`] decides
//! when that pays: only when the extra transfer is bounded and the VM queue
//! is short enough that nobody else pays for it.
//!
//! The default bound on the extra transfer is 1024 sectors (512 KiB): about
//! one mean rotational latency of a 7200 rpm disk at its outer zone (4.2 ms),
//! i.e. the VM request pays at most the positioning the migration saves. The
//! simulator's ablation measured unconditional piggybacking of 1 MiB chunks:
//! it shortened the migration but cost VM latency (Documentation/policies.rst).
//!
//! *Queue-aware*: the extra transfer is paid by this request and by every VM
//! request queued behind it, so the bound is on their total, `extra * (1 +
//! waiting)`, rather than on the extra transfer with nobody waiting. Small
//! blocks make the extra transfer small, so a read is piggybacked while a
//! few other VM requests are in flight too.

use crate::policy::copyrun::CopyRun;
use crate::policy::map::BlockMap;
use core::ops::Deref;

/// When to serve a VM read by reading its whole chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PiggybackRule {
    /// Master switch.
    pub enabled: bool,
    /// Largest extra transfer (chunk size minus request size) in sectors.
    pub max_extra_sectors: u64,
    /// Largest number of other VM requests waiting behind this one (when
    /// not `queue_aware`).
    pub max_vm_waiting: u32,
    /// Bound the extra transfer that everyone waiting pays, not only this
    /// request's, and drop the `max_vm_waiting` limit.
    pub queue_aware: bool,
    /// Piggyback only a read whose blocks extend a migrated or in-flight
    /// run (see [`extends_a_run`]): one in the middle of pending space
    /// leaves an island behind that costs a copy IO of its own later.
    pub avoid_islands: bool,
}

impl Default for PiggybackRule {
    fn default() -> Self {
        Self {
            enabled: true,
            max_extra_sectors: 1024,
            max_vm_waiting: 0,
            // Off by measurement: three times as many piggybacked reads, the
            // same VM latency, a migration up to 2 % longer (policies.rst).
            queue_aware: false,
            // On by the simulator: with the head guard, as fast a copy as
            // sequential and 75-85 % of follow's VM gain on a busy random
            // VM (Documentation/policies.rst).
            avoid_islands: true,
        }
    }
}

/// Whether copying `run` leaves no new fragment of pending blocks: the
/// block before it or the block after it is not pending (migrated or in
/// flight), or the run touches the device's start or end. A run in the
/// middle of pending space splits it in two.
pub fn extends_a_run<S: Deref<Target = [u64]>>(map: &BlockMap<S>, run: CopyRun) -> bool {
    let settled = |block: Option<u64>| match block {
        None => true,
        Some(b) => !map.state(b).is_some_and(|s| s.is_pending()),
    };
    settled(run.first.checked_sub(1)) || settled(Some(run.end()))
}

impl PiggybackRule {
    /// A rule that never piggybacks.
    pub const fn disabled() -> Self {
        Self {
            enabled: false,
            max_extra_sectors: 0,
            max_vm_waiting: 0,
            queue_aware: false,
            avoid_islands: false,
        }
    }

    /// Whether a VM read of `req_sectors` sectors, entirely inside one chunk
    /// of `chunk_sectors` sectors that is pending (`chunk_pending`: unmigrated
    /// or dirty and not in flight), should be served by a whole-chunk read,
    /// while `vm_waiting` other VM requests are queued; `extends_run` is
    /// [`extends_a_run`] for its blocks.
    pub fn decide(
        &self,
        chunk_pending: bool,
        extends_run: bool,
        chunk_sectors: u64,
        req_sectors: u64,
        vm_waiting: u32,
    ) -> bool {
        if !self.enabled
            || !chunk_pending
            || (self.avoid_islands && !extends_run)
            || req_sectors == 0
            || req_sectors > chunk_sectors
        {
            return false;
        }
        let extra = chunk_sectors.saturating_sub(req_sectors);
        if self.queue_aware {
            let payers = u64::from(vm_waiting).saturating_add(1);
            return extra.saturating_mul(payers) <= self.max_extra_sectors;
        }
        extra <= self.max_extra_sectors && vm_waiting <= self.max_vm_waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_aware_rule() {
        let r = PiggybackRule {
            queue_aware: true,
            ..PiggybackRule::default()
        };
        // A 4 KiB read of a 64 KiB block: 120 extra sectors, paid by 8 at most.
        assert!(r.decide(true, true, 128, 8, 0));
        assert!(r.decide(true, true, 128, 8, 7));
        assert!(!r.decide(true, true, 128, 8, 8));
        // Nothing extra: any queue.
        assert!(r.decide(true, true, 128, 128, 1000));
        assert!(!r.decide(true, true, 2048, 8, 0));
        assert!(!r.decide(false, true, 128, 8, 0));
    }

    #[test]
    fn rule() {
        let r = PiggybackRule::default();
        assert!(r.decide(true, true, 1024, 32, 0));
        assert!(!r.decide(true, true, 2048, 32, 0));
        assert!(r.decide(true, true, 2048, 1024, 0));
        assert!(!r.decide(true, true, 1024, 32, 1));
        assert!(!r.decide(false, true, 1024, 32, 0));
        assert!(!r.decide(true, true, 2048, 0, 0));
        assert!(!r.decide(true, true, 2048, 4096, 0));
        assert!(!PiggybackRule::disabled().decide(true, true, 2048, 2048, 0));
    }

    #[test]
    fn islands() {
        use std::vec;
        let n = 16;
        let w = BlockMap::<std::vec::Vec<u64>>::words_needed(n).unwrap();
        let mut m = BlockMap::new(vec![0; w], n).unwrap();
        let run = |first, blocks| CopyRun { first, blocks };
        // All pending: only runs at the edges extend anything.
        assert!(extends_a_run(&m, run(0, 1)));
        assert!(extends_a_run(&m, run(15, 1)));
        assert!(!extends_a_run(&m, run(5, 2)));
        // Block 4 migrated, block 8 in flight: 5 and 7 extend a run, 6 does not.
        m.mark_in_flight(4).unwrap();
        m.complete(4, true).unwrap();
        m.mark_in_flight(8).unwrap();
        assert!(extends_a_run(&m, run(5, 1)));
        assert!(extends_a_run(&m, run(7, 1)));
        assert!(!extends_a_run(&m, run(6, 1)));
        assert!(extends_a_run(&m, run(5, 3)));
        let r = PiggybackRule::default();
        assert!(r.decide(true, true, 1024, 32, 0));
        assert!(!r.decide(true, false, 1024, 32, 0));
        let allow = PiggybackRule {
            avoid_islands: false,
            ..r
        };
        assert!(allow.decide(true, false, 1024, 32, 0));
    }
}
