// SPDX-License-Identifier: GPL-2.0

//! When is the VM idle? Anticipation against deceptive idleness.
//!
//! The ratio lets the copy run freely while no VM IO waits. A VM that issues
//! dependent IO (one request, think, the next: most guests) has nothing in
//! flight between a completion and its next request, so counting requests
//! in flight calls it idle after every request and the copy takes the disk
//! (measured in the guest at 2:1: 4.3 copy IOs per VM IO at fio iodepth 1,
//! 0.53 at iodepth 8). This is the deceptive idleness of Iyer and Druschel
//! (SOSP 2001, the anticipatory scheduler).
//!
//! As that scheduler and BFQ's `slice_idle` do, a VM whose last request
//! completed counts as busy for a short *anticipation window*, learned from
//! its think time (the gap between its last completion and its next
//! request): a VM that comes back quickly is waited for, one that thinks
//! longer than the longest window is not, and the copy then runs flat out.

/// Tunables of [`Anticipation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnticipationParams {
    /// Off: the VM is idle as soon as nothing is in flight (the old rule).
    pub enabled: bool,
    /// Longest window, ns; a VM whose mean think time is longer is not
    /// anticipated (BFQ's `slice_idle` default is 8 ms).
    pub max_window_ns: u64,
    /// Shortest window, ns: covers the host's own turnaround between a
    /// completion and the next request of a VM that does not think at all.
    pub min_window_ns: u64,
}

impl Default for AnticipationParams {
    fn default() -> Self {
        Self {
            enabled: true,
            max_window_ns: 8_000_000,
            min_window_ns: 1_000_000,
        }
    }
}

/// Think-time samples before the learned window replaces the longest one.
pub const LEARNING_SAMPLES: u32 = 4;

/// Weight of a new think-time sample in the running mean: 1/8.
const EWMA_SHIFT: u32 = 3;

/// The anticipation state of one VM (one target).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anticipation {
    params: AnticipationParams,
    /// Running mean of the think time, ns.
    think_ns: u64,
    samples: u32,
    /// When the VM's last request in flight completed, while none is.
    idle_since_ns: Option<u64>,
}

impl Anticipation {
    /// A VM with no history.
    pub const fn new(params: AnticipationParams) -> Self {
        Self {
            params,
            think_ns: 0,
            samples: 0,
            idle_since_ns: None,
        }
    }

    /// The tunables in force.
    pub const fn params(&self) -> AnticipationParams {
        self.params
    }

    /// Change the tunables (a message); the learned think time is kept.
    pub fn set_params(&mut self, params: AnticipationParams) {
        self.params = params;
    }

    /// The running mean think time, ns.
    pub const fn think_ns(&self) -> u64 {
        self.think_ns
    }

    /// A VM request is sent to the disk at `now_ns`, with `in_flight_before`
    /// of the VM's requests already there.
    pub fn on_vm_dispatch(&mut self, now_ns: u64, in_flight_before: u64) {
        if in_flight_before != 0 {
            return;
        }
        let Some(since) = self.idle_since_ns.take() else {
            return;
        };
        // A pause longer than twice the longest window counts as that much:
        // one long pause should not hide a quick VM for long, and a VM that
        // pauses long every time still ends above the longest window.
        let cap = self.params.max_window_ns.saturating_mul(2);
        let think = now_ns.saturating_sub(since).min(cap);
        self.think_ns = if self.samples == 0 {
            think
        } else {
            // mean += (think - mean) / 8, without signed arithmetic.
            let old = self.think_ns;
            if think >= old {
                old.saturating_add(think.saturating_sub(old) >> EWMA_SHIFT)
            } else {
                old.saturating_sub(old.saturating_sub(think) >> EWMA_SHIFT)
            }
        };
        self.samples = self.samples.saturating_add(1);
    }

    /// The VM's last request in flight completed at `now_ns`.
    pub fn on_vm_idle(&mut self, now_ns: u64) {
        self.idle_since_ns = Some(now_ns);
    }

    /// How long after its last completion the VM still counts as busy.
    pub fn window_ns(&self) -> u64 {
        let p = self.params;
        if !p.enabled {
            return 0;
        }
        if self.samples < LEARNING_SAMPLES {
            return p.max_window_ns;
        }
        if self.think_ns > p.max_window_ns {
            return 0;
        }
        // Twice the mean: most of a quick VM's think times fit.
        self.think_ns
            .saturating_mul(2)
            .clamp(p.min_window_ns, p.max_window_ns.max(p.min_window_ns))
    }

    /// Whether the VM counts as busy at `now_ns` with `in_flight` of its
    /// requests on the disk: the ratio then holds the copy to its share.
    pub fn vm_busy(&self, now_ns: u64, in_flight: u64) -> bool {
        in_flight > 0 || self.window_end_ns().is_some_and(|end| now_ns < end)
    }

    /// End of the current anticipation window, if the VM is idle and
    /// anticipated: a copy held back now may start then.
    pub fn window_end_ns(&self) -> Option<u64> {
        let since = self.idle_since_ns?;
        let w = self.window_ns();
        (w > 0).then(|| since.saturating_add(w))
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::unwrap_used)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// A VM doing `n` dependent requests of `service` with `think` between.
    fn dependent(a: &mut Anticipation, mut t: u64, n: u32, service: u64, think: u64) -> u64 {
        for _ in 0..n {
            a.on_vm_dispatch(t, 0);
            t += service;
            a.on_vm_idle(t);
            t += think;
        }
        t
    }

    #[test]
    fn a_quick_dependent_vm_is_waited_for() {
        let mut a = Anticipation::new(AnticipationParams::default());
        let t = dependent(&mut a, 0, 50, 5 * MS, 2 * MS) - 2 * MS;
        // Just after a completion, the VM counts as busy: the next request
        // comes 2 ms later.
        assert!(a.vm_busy(t + MS, 0));
        assert_eq!(a.window_ns(), 4 * MS);
        assert!(!a.vm_busy(t + 4 * MS, 0), "the window closes");
        assert_eq!(a.window_end_ns(), Some(t + 4 * MS));
    }

    #[test]
    fn a_vm_that_thinks_long_is_not_anticipated() {
        let mut a = Anticipation::new(AnticipationParams::default());
        let t = dependent(&mut a, 0, 50, 5 * MS, 30 * MS) - 30 * MS;
        assert_eq!(a.window_ns(), 0);
        assert!(!a.vm_busy(t, 0), "idle at once: the copy runs flat out");
        assert!(a.vm_busy(t, 1), "IO in flight is always busy");
    }

    #[test]
    fn no_think_time_gets_the_shortest_window() {
        let mut a = Anticipation::new(AnticipationParams::default());
        dependent(&mut a, 0, 20, 5 * MS, 0);
        assert_eq!(a.window_ns(), MS);
    }

    #[test]
    fn disabled_is_the_old_rule() {
        let mut a = Anticipation::new(AnticipationParams {
            enabled: false,
            ..AnticipationParams::default()
        });
        let t = dependent(&mut a, 0, 20, 5 * MS, MS) - MS;
        assert!(!a.vm_busy(t, 0));
        assert!(a.window_end_ns().is_none());
    }

    #[test]
    fn learning_starts_with_the_longest_window_and_forgets_one_pause() {
        let mut a = Anticipation::new(AnticipationParams::default());
        a.on_vm_dispatch(0, 0);
        a.on_vm_idle(5 * MS);
        assert_eq!(a.window_ns(), 8 * MS, "anticipate while learning");
        let t = dependent(&mut a, 7 * MS, 40, 5 * MS, 2 * MS);
        // One 10 s pause, then quick again: the window comes back.
        let t = dependent(&mut a, t + 10_000 * MS, 1, 5 * MS, 2 * MS);
        assert!(
            a.think_ns() <= 4 * MS,
            "a pause is capped: {}",
            a.think_ns()
        );
        dependent(&mut a, t, 10, 5 * MS, 2 * MS);
        assert!(a.window_ns() > 0 && a.window_ns() <= 8 * MS);
    }

    #[test]
    fn requests_already_in_flight_are_not_think_time() {
        let mut a = Anticipation::new(AnticipationParams::default());
        a.on_vm_idle(0);
        a.on_vm_dispatch(MS, 0);
        a.on_vm_dispatch(100 * MS, 1);
        assert_eq!(a.think_ns(), MS);
    }
}
