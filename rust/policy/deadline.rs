// SPDX-License-Identifier: GPL-2.0

//! The copy's pace for an operator who must finish by a time (`deadline
//! <seconds>`, feature and message).
//!
//! The ratio is the operator's statement of how much the VM matters; a
//! deadline is a statement of when the copy must end. [`DeadlinePacer`]
//! keeps the configured ratio while the copy keeps ahead of its deadline,
//! and raises the copy's share one step at a time, only as far as the
//! remaining blocks need: every [`CONTROL_INTERVAL_NS`] it compares the rate
//! measured over the last interval with the rate the remaining blocks need
//! in the time left. Behind (measured < 9/8 of needed): one step more share.
//! Well ahead (measured > 2 × needed): one step back, never below the
//! configured ratio. A step halves the VM side, then, at 1, doubles the
//! copy's side up to `1:RATIO_MAX` (a step roughly doubles the copy's rate
//! while the ratio binds, hence the band from 9/8 to 2). Past the deadline
//! the copy gets the largest share.
//!
//! While the VM leaves the disk idle the copy runs freely anyway (the ratio
//! is work-conserving), the measured rate is high and the ratio stays where
//! the operator put it.

use crate::policy::ratio::{Ratio, RATIO_MAX};

/// How often the pace is looked at again: a second, as dm-clone's commits.
pub const CONTROL_INTERVAL_NS: u64 = 1_000_000_000;

/// Largest deadline in seconds (a year; larger values are a typo).
pub const DEADLINE_S_MAX: u32 = 366 * 24 * 3600;

const NS_PER_S: u64 = 1_000_000_000;

/// `ratio` raised by `steps` steps: the VM side halved (rounding up) down to
/// 1, then the copy's side doubled up to [`RATIO_MAX`].
pub fn boosted(ratio: Ratio, steps: u32) -> Ratio {
    let (mut vm, mut mig) = (ratio.vm(), ratio.mig());
    for _ in 0..steps {
        if vm > 1 {
            vm = vm.div_ceil(2);
        } else if mig < RATIO_MAX {
            mig = mig.saturating_mul(2).min(RATIO_MAX);
        } else {
            break;
        }
    }
    Ratio::new(vm, mig).unwrap_or(ratio)
}

/// How many steps from `ratio` to the largest share, `1:RATIO_MAX`.
pub fn max_steps(ratio: Ratio) -> u32 {
    let mut steps: u32 = 0;
    let mut r = ratio;
    // At most 2 * log2(RATIO_MAX) steps; the bound keeps it obviously finite.
    while steps < 32 {
        let next = boosted(r, 1);
        if next == r {
            break;
        }
        r = next;
        steps = steps.saturating_add(1);
    }
    steps
}

/// Parses a deadline in seconds, `0..=DEADLINE_S_MAX` (0: none).
pub fn parse_deadline(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.bytes()
        .try_fold(0u32, |v, b| {
            v.checked_mul(10)?
                .checked_add(u32::from(b.wrapping_sub(b'0')))
        })
        .filter(|&v| v <= DEADLINE_S_MAX)
}

/// The pace controller: the configured ratio, the deadline, and how many
/// steps of extra share are in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadlinePacer {
    base: Ratio,
    /// The deadline on the engine's clock (ns), if one is set.
    deadline_ns: Option<u64>,
    steps: u32,
    /// Time and migrated blocks at the start of the interval being measured.
    sample: Option<(u64, u64)>,
}

impl DeadlinePacer {
    /// No deadline: `base` is the ratio in force.
    pub const fn new(base: Ratio) -> Self {
        Self {
            base,
            deadline_ns: None,
            steps: 0,
            sample: None,
        }
    }

    /// The ratio the operator configured.
    pub const fn base(&self) -> Ratio {
        self.base
    }

    /// The ratio in force: the configured one, raised by the deadline.
    pub fn ratio(&self) -> Ratio {
        boosted(self.base, self.steps)
    }

    /// Steps of extra share in force (0: the configured ratio).
    pub const fn steps(&self) -> u32 {
        self.steps
    }

    /// A new configured ratio (`ratio` message); the steps in force stay.
    pub fn set_base(&mut self, base: Ratio) {
        self.base = base;
        self.steps = self.steps.min(max_steps(base));
    }

    /// A deadline `seconds` from `now_ns`, or none (`0`). The pace is
    /// measured afresh from now.
    pub fn set_deadline(&mut self, now_ns: u64, seconds: u32) {
        self.deadline_ns =
            (seconds != 0).then(|| now_ns.saturating_add(u64::from(seconds) * NS_PER_S));
        self.sample = None;
        if self.deadline_ns.is_none() {
            self.steps = 0;
        }
    }

    /// Whole seconds to the deadline, rounded up, at least 1 once it has
    /// passed (so a table line printed from it keeps a deadline); `None`
    /// without one.
    pub fn seconds_left(&self, now_ns: u64) -> Option<u32> {
        let left = self.deadline_ns?.saturating_sub(now_ns);
        Some(
            u32::try_from(left.div_ceil(NS_PER_S))
                .unwrap_or(u32::MAX)
                .max(1),
        )
    }

    /// When [`DeadlinePacer::poll`] wants to run next, if a deadline is set.
    pub fn next_poll_ns(&self, now_ns: u64) -> Option<u64> {
        self.deadline_ns?;
        Some(match self.sample {
            Some((t, _)) => t.saturating_add(CONTROL_INTERVAL_NS),
            None => now_ns,
        })
    }

    /// Looks at the pace: `migrated` blocks of `total` are migrated now;
    /// `copying` is false while the copy may not run (paused, suspended,
    /// failed), when nothing is measured. Returns the new ratio in force
    /// when it changed.
    pub fn poll(&mut self, now_ns: u64, migrated: u64, total: u64, copying: bool) -> Option<Ratio> {
        let deadline = self.deadline_ns?;
        let before = self.steps;
        let remaining = total.saturating_sub(migrated);
        if remaining == 0 {
            self.steps = 0;
        } else if !copying {
            // An interval without copying says nothing about the pace.
            self.sample = None;
        } else {
            let Some((t0, m0)) = self.sample else {
                self.sample = Some((now_ns, migrated));
                return None;
            };
            let dt = now_ns.saturating_sub(t0);
            if dt < CONTROL_INTERVAL_NS {
                return None;
            }
            self.sample = Some((now_ns, migrated));
            let left = deadline.saturating_sub(now_ns);
            self.steps = if left == 0 {
                max_steps(self.base)
            } else {
                self.step(migrated.saturating_sub(m0), dt, remaining, left)
            };
        }
        (self.steps != before).then(|| self.ratio())
    }

    /// The steps after an interval of `dt` ns in which `done` blocks were
    /// migrated, with `remaining` blocks to go in `left` ns. Rates are
    /// compared cross-multiplied, in u128: no division, no overflow.
    fn step(&self, done: u64, dt: u64, remaining: u64, left: u64) -> u32 {
        // measured = done / dt, needed = remaining / left.
        let measured = u128::from(done).saturating_mul(u128::from(left));
        let needed = u128::from(remaining).saturating_mul(u128::from(dt));
        if measured.saturating_mul(8) < needed.saturating_mul(9) {
            self.steps.saturating_add(1).min(max_steps(self.base))
        } else if measured > needed.saturating_mul(2) {
            self.steps.saturating_sub(1)
        } else {
            self.steps
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const S: u64 = NS_PER_S;

    fn r(v: u32, m: u32) -> Ratio {
        Ratio::new(v, m).unwrap()
    }

    #[test]
    fn steps_halve_the_vm_side_then_double_the_copy_side() {
        assert_eq!(boosted(r(2, 1), 0), r(2, 1));
        assert_eq!(boosted(r(2, 1), 1), r(1, 1));
        assert_eq!(boosted(r(2, 1), 2), r(1, 2));
        assert_eq!(boosted(r(2, 1), 7), r(1, 64));
        assert_eq!(boosted(r(2, 1), 100), r(1, 64));
        assert_eq!(boosted(r(5, 3), 1), r(3, 3));
        assert_eq!(boosted(r(5, 3), 3), r(1, 3));
        assert_eq!(boosted(r(5, 3), 4), r(1, 6));
        assert_eq!(max_steps(r(2, 1)), 7);
        assert_eq!(max_steps(r(64, 1)), 12);
        assert_eq!(max_steps(r(1, 64)), 0);
    }

    #[test]
    fn parses_seconds() {
        assert_eq!(parse_deadline("0"), Some(0));
        assert_eq!(parse_deadline("3600"), Some(3600));
        assert_eq!(parse_deadline("31622400"), Some(DEADLINE_S_MAX));
        for bad in ["", "-1", "1.5", "31622401", "99999999999", "x", " 1"] {
            assert_eq!(parse_deadline(bad), None, "{bad}");
        }
    }

    #[test]
    fn without_a_deadline_nothing_changes() {
        let mut p = DeadlinePacer::new(r(2, 1));
        for t in 0..10 {
            assert_eq!(p.poll(t * S, 0, 100, true), None);
        }
        assert_eq!(p.ratio(), r(2, 1));
        assert_eq!(p.next_poll_ns(0), None);
        assert_eq!(p.seconds_left(0), None);
    }

    /// A copy whose rate is proportional to its share `m / (v + m)` while
    /// the VM keeps the disk busy: `full` blocks a second at share 1.
    fn run(p: &mut DeadlinePacer, full: u64, total: u64, seconds: u64) -> (u64, u32) {
        let mut migrated = 0u64;
        let mut max_steps_seen = 0;
        for t in 0..seconds {
            let ratio = p.ratio();
            let share = full * u64::from(ratio.mig()) / u64::from(ratio.vm() + ratio.mig());
            migrated = (migrated + share).min(total);
            p.poll((t + 1) * S, migrated, total, true);
            max_steps_seen = max_steps_seen.max(p.steps());
            if migrated == total {
                return (t + 1, max_steps_seen);
            }
        }
        (seconds, max_steps_seen)
    }

    #[test]
    fn an_easy_deadline_keeps_the_configured_ratio() {
        // 2:1 gives 30 blocks/s: 3000 blocks in 100 s, deadline 400 s.
        let mut p = DeadlinePacer::new(r(2, 1));
        p.set_deadline(0, 400);
        let (t, steps) = run(&mut p, 90, 3000, 1000);
        assert_eq!(steps, 0);
        assert!((99..=101).contains(&t), "{t}");
    }

    #[test]
    fn a_tight_deadline_is_met_with_no_more_share_than_needed() {
        // 2:1 alone: 3000 blocks at 30/s = 100 s. Deadline 60 s needs 50/s:
        // 1:1 (45/s) is not enough, 1:2 (60/s) is.
        let mut p = DeadlinePacer::new(r(2, 1));
        p.set_deadline(0, 60);
        let (t, steps) = run(&mut p, 90, 3000, 1000);
        assert!(t <= 60, "finished at {t} s");
        assert!(steps <= 3, "{steps} steps");
        // A deadline no share can meet: the largest share, as fast as it goes.
        let mut p = DeadlinePacer::new(r(2, 1));
        p.set_deadline(0, 10);
        let (t, steps) = run(&mut p, 90, 3000, 1000);
        assert_eq!(steps, max_steps(r(2, 1)));
        assert!(t < 45, "{t}");
    }

    #[test]
    fn the_share_comes_back_when_the_copy_is_ahead() {
        let mut p = DeadlinePacer::new(r(2, 1));
        p.set_deadline(0, 100);
        // Behind for a while: the share rises.
        for t in 1..=4 {
            p.poll(t * S, t, 1000, true);
        }
        let raised = p.steps();
        assert!(raised >= 2, "{raised}");
        // Then the VM goes idle and the copy races ahead.
        for t in 5..=8 {
            p.poll(t * S, 4 + (t - 4) * 200, 1000, true);
        }
        assert!(p.steps() < raised);
        // Done: the configured ratio again.
        let was = p.steps();
        let changed = p.poll(9 * S, 1000, 1000, true);
        assert_eq!(changed, (was != 0).then_some(r(2, 1)));
        assert_eq!(p.ratio(), r(2, 1));
    }

    #[test]
    fn paused_intervals_are_not_measured_and_overdue_takes_all() {
        let mut p = DeadlinePacer::new(r(4, 1));
        p.set_deadline(0, 10);
        for t in 0..20 {
            assert_eq!(p.poll(t * S, 0, 100, false), None);
        }
        assert_eq!(p.steps(), 0);
        assert_eq!(p.seconds_left(20 * S), Some(1));
        p.poll(20 * S, 0, 100, true);
        assert_eq!(p.poll(21 * S, 1, 100, true), Some(r(1, 64)));
        p.set_deadline(21 * S, 0);
        assert_eq!(p.ratio(), r(4, 1));
    }

    #[test]
    fn seconds_left_rounds_up() {
        let mut p = DeadlinePacer::new(r(2, 1));
        p.set_deadline(5, 30);
        assert_eq!(p.seconds_left(5), Some(30));
        assert_eq!(p.seconds_left(5 + S / 2), Some(30));
        assert_eq!(p.seconds_left(5 + 29 * S + 1), Some(1));
        assert_eq!(p.next_poll_ns(7), Some(7));
    }
}
