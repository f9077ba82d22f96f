// SPDX-License-Identifier: GPL-2.0

//! V:M ratio scheduler between VM IO and migration IO.
//!
//! The paper's rule (section 4.1): "2:1 means that the storage system will
//! serve two VM I/O requests before performing one migration I/O request,
//! unless there is no VM I/O request waiting in the IO queue". The scheduler
//! is work-conserving: migration IO may always be dispatched while no VM IO
//! waits, and it never starves VM IO: while VM IO waits, at most `m`
//! migration requests are dispatched after every `v` VM requests.
//!
//! Migration requests dispatched while no VM IO waits are *free*: they do not
//! use up the migration's share. So when both sides keep the queue busy the
//! dispatch order is exactly `v` VM, `m` migration, `v` VM, ...

use core::fmt;

/// Copy reads on the source disk at most while the VM is idle.
pub const IDLE_COPY_READS: u32 = 2;

/// How many copy reads may be on the source disk at once: `depth` while the
/// VM is busy, where each of them was granted by the ratio and several in
/// the drive's queue let the ratio (not the queue turn behind the VM's
/// requests) set the share; [`IDLE_COPY_READS`] while it is idle, so that a
/// VM request arriving then waits behind one copy read, not `depth`.
pub fn copy_reads_allowed(depth: u32, vm_busy: bool) -> u32 {
    if vm_busy {
        depth.max(1)
    } else {
        depth.clamp(1, IDLE_COPY_READS)
    }
}

/// Largest accepted value of either side of a ratio.
pub const RATIO_MAX: u32 = 64;

/// A `V:M` ratio, both sides in `1..=RATIO_MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ratio {
    vm: u32,
    mig: u32,
}

impl Default for Ratio {
    /// The paper's 2:1.
    fn default() -> Self {
        Self { vm: 2, mig: 1 }
    }
}

impl Ratio {
    /// A ratio of `vm` VM requests to `mig` migration requests, or `None`
    /// unless both are in `1..=RATIO_MAX`.
    pub const fn new(vm: u32, mig: u32) -> Option<Self> {
        if vm == 0 || mig == 0 || vm > RATIO_MAX || mig > RATIO_MAX {
            None
        } else {
            Some(Self { vm, mig })
        }
    }

    /// VM side.
    pub const fn vm(self) -> u32 {
        self.vm
    }

    /// Migration side.
    pub const fn mig(self) -> u32 {
        self.mig
    }

    /// Parse `V:M` (decimal, no sign, no spaces).
    pub fn parse(s: &str) -> Option<Self> {
        let (v, m) = s.split_once(':')?;
        Self::new(parse_small(v)?, parse_small(m)?)
    }
}

/// Decimal digits only, at most 4 of them (values beyond `RATIO_MAX` are
/// rejected by [`Ratio::new`]).
fn parse_small(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 4 {
        return None;
    }
    let mut v = 0u32;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v
            .checked_mul(10)?
            .checked_add(u32::from(b.wrapping_sub(b'0')))?;
    }
    Some(v)
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.vm, self.mig)
    }
}

/// Work-conserving `V:M` dispatcher state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RatioScheduler {
    ratio: Ratio,
    /// VM requests dispatched since the migration last used its share.
    vm_done: u32,
    /// Migration requests dispatched in the current share.
    mig_done: u32,
}

impl RatioScheduler {
    /// A scheduler for `vm:mig`; out-of-range sides are clamped to `1..=RATIO_MAX`.
    pub fn new(vm: u32, mig: u32) -> Self {
        let ratio = Ratio {
            vm: vm.clamp(1, RATIO_MAX),
            mig: mig.clamp(1, RATIO_MAX),
        };
        Self::with_ratio(ratio)
    }

    /// A scheduler for `ratio`.
    pub const fn with_ratio(ratio: Ratio) -> Self {
        Self {
            ratio,
            vm_done: 0,
            mig_done: 0,
        }
    }

    /// The ratio in force.
    pub const fn ratio(&self) -> Ratio {
        self.ratio
    }

    /// Change the ratio (the `ratio` message); the current round restarts.
    pub fn set_ratio(&mut self, ratio: Ratio) {
        *self = Self::with_ratio(ratio);
    }

    /// Whether a migration request may be dispatched now. `vm_waiting`: VM IO
    /// is queued and could be dispatched instead.
    pub const fn may_dispatch_migration(&self, vm_waiting: bool) -> bool {
        !vm_waiting || self.vm_done >= self.ratio.vm
    }

    /// Whether a VM request may be dispatched now. `migration_waiting`: a
    /// migration request is ready and could be dispatched instead. VM IO is
    /// only held back while the migration uses its share.
    pub const fn may_dispatch_vm(&self, migration_waiting: bool) -> bool {
        !migration_waiting || self.vm_done < self.ratio.vm
    }

    /// Account a dispatched VM request.
    pub fn on_vm_dispatch(&mut self) {
        if self.vm_done < self.ratio.vm {
            self.vm_done = self.vm_done.saturating_add(1);
        }
    }

    /// Account a dispatched migration request. A request dispatched before
    /// the VM side earned the migration's share (no VM IO was waiting) is free.
    pub fn on_migration_dispatch(&mut self) {
        if self.vm_done < self.ratio.vm {
            return;
        }
        self.mig_done = self.mig_done.saturating_add(1);
        if self.mig_done >= self.ratio.mig {
            self.vm_done = 0;
            self.mig_done = 0;
        }
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::unwrap_used)]
mod tests {
    use super::copy_reads_allowed;

    #[test]
    fn copy_reads_by_vm_state() {
        assert_eq!(copy_reads_allowed(4, true), 4);
        assert_eq!(copy_reads_allowed(4, false), 2);
        assert_eq!(copy_reads_allowed(1, false), 1);
        assert_eq!(copy_reads_allowed(0, true), 1);
        assert_eq!(copy_reads_allowed(0, false), 1);
    }

    use super::*;

    #[test]
    fn parse_ratio() {
        assert_eq!(Ratio::parse("2:1"), Ratio::new(2, 1));
        assert_eq!(Ratio::parse("64:64"), Ratio::new(64, 64));
        for bad in [
            "", ":", "0:1", "1:0", "65:1", "1:65", "a:1", "1:1:1", "+1:1", " 1:1", "00001:1",
        ] {
            assert_eq!(Ratio::parse(bad), None, "{bad}");
        }
        assert_eq!(Ratio::parse("0002:01"), Ratio::new(2, 1));
        assert_eq!(std::format!("{}", Ratio::default()), "2:1");
    }

    #[test]
    fn two_to_one_when_both_busy() {
        let mut s = RatioScheduler::new(2, 1);
        let mut order = std::string::String::new();
        for _ in 0..9 {
            if s.may_dispatch_migration(true) {
                s.on_migration_dispatch();
                order.push('M');
            } else {
                assert!(s.may_dispatch_vm(true));
                s.on_vm_dispatch();
                order.push('V');
            }
        }
        assert_eq!(order, "VVMVVMVVM");
    }

    #[test]
    fn work_conserving() {
        let mut s = RatioScheduler::new(4, 1);
        for _ in 0..10 {
            assert!(s.may_dispatch_migration(false));
            s.on_migration_dispatch();
        }
        // free migrations did not eat the VM's turn
        assert!(!s.may_dispatch_migration(true));
        assert!(s.may_dispatch_vm(true));
        assert!(s.may_dispatch_vm(false));
    }
}
