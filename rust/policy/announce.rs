// SPDX-License-Identifier: GPL-2.0

//! Which dm events the target raises: one for each complete copy it reaches
//! (`synced`), one for each fault that begins (`error`).
//!
//! The worker asks whenever it has nothing left to do. Sampling "synced
//! now, not announced before" only then misses a second complete copy if
//! the state left `synced` and came back between two such moments (a
//! discard under a steady stream of mirrored writes): `dmsetup wait` would
//! block. So each announcement is keyed by the protocol's generations
//! ([`crate::policy::ordering::Ordering::sync_generation`],
//! [`crate::policy::ordering::Ordering::fault_generation`]), which change
//! whenever a complete copy may have been lost or a fault began.

/// What to announce now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Announce {
    /// Raise the event for a complete, durable copy.
    pub synced: bool,
    /// Raise the event for a new fault.
    pub error: bool,
}

/// The generations last announced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Announcer {
    synced: Option<(u64, u64)>,
    fault: u64,
}

impl Announcer {
    /// Nothing announced yet.
    pub const fn new() -> Self {
        Self {
            synced: None,
            fault: 0,
        }
    }

    /// What to announce, given the state now: `synced` and `in_error`, and
    /// the protocol's sync and fault generations.
    pub fn poll(
        &mut self,
        synced: bool,
        sync_generation: u64,
        in_error: bool,
        fault_generation: u64,
    ) -> Announce {
        let key = (sync_generation, fault_generation);
        let sync = synced && self.synced != Some(key);
        if sync {
            self.synced = Some(key);
        }
        let error = in_error && self.fault != fault_generation;
        if error {
            self.fault = fault_generation;
        }
        Announce {
            synced: sync,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule before issue 22: announce `synced` when it holds at an idle
    /// moment and did not at the one before.
    struct Sampled {
        announced: bool,
    }

    impl Sampled {
        fn poll(&mut self, synced: bool) -> bool {
            let announce = synced && !self.announced;
            self.announced = synced;
            announce
        }
    }

    /// Synced, then a discard dirties a block and the copy ends again while
    /// mirrored writes keep the worker busy: no idle moment in between.
    #[test]
    fn a_second_complete_copy_is_announced_without_an_idle_moment() {
        let mut a = Announcer::new();
        let mut old = Sampled { announced: false };
        assert!(a.poll(true, 0, false, 0).synced);
        assert!(old.poll(true));
        // Generation 1: the block was dirtied and copied again, unseen.
        assert!(a.poll(true, 1, false, 0).synced);
        assert!(
            !old.poll(true),
            "the old rule announces it: test proves nothing"
        );
        // Nothing new: nothing announced.
        assert_eq!(a.poll(true, 1, false, 0), Announce::default());
    }

    #[test]
    fn each_fault_once_and_synced_again_after_it() {
        let mut a = Announcer::new();
        assert!(a.poll(true, 0, false, 0).synced);
        assert!(a.poll(false, 0, true, 1).error);
        assert!(!a.poll(false, 0, true, 1).error);
        // Resumed and synced again, nothing lost: a new event all the same.
        assert!(a.poll(true, 0, false, 1).synced);
        // A second fault, seen only after it ended and began again.
        assert!(a.poll(false, 0, true, 2).error);
    }
}
