// SPDX-License-Identifier: GPL-2.0

//! Which device serves a VM read of migrated blocks (the `reads` feature).
//!
//! Follow copies the VM's working set first, so its reads can move to the
//! destination early: that is what makes following pay (the simulator's
//! analysis: follow with destination reads 8.1 ms against 28 ms without, at
//! 32 GiB). Whether a read *may* go there is the ordering protocol's gate
//! ([`crate::policy::ordering::Ordering::dest_readable`]: every block
//! migrated, durable on the destination, no write in flight, no fault).
//! Whether it *should* is this router's choice, as md raid1's
//! `read_balance()` chooses a leg:
//!
//! * `source`: never the destination (dm-mirror's and QEMU's behaviour);
//! * `destination`: always when the gate allows (dm-clone's);
//! * `auto` (default): a read right behind the source's head stays there
//!   (a rotational source serves it for its transfer time: md raid1 keeps
//!   sequential reads on their disk); otherwise the leg whose expected
//!   latency is lower: its measured latency (an EWMA, 1/8 per sample, in
//!   ns) times one more than its reads in flight. A leg with no sample yet
//!   is tried. After a failed destination read the next
//!   [`DEST_FAILURE_BACKOFF`] reads stay on the source.
//! * the losing leg is probed now and then (after [`PROBE_GAP_MIN`]
//!   decisions, the gap doubling up to [`PROBE_GAP_MAX`] while it keeps
//!   losing), and a probe's sample replaces its estimate: an estimate taken
//!   once, under load that has gone, must not keep a fast leg idle forever.
//!
//! A destination read that fails is read again from the source: it costs
//! the VM time, never data or an error.

/// How reads of migrated blocks are routed (table feature and message `reads`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadsMode {
    /// Every read from the source.
    Source,
    /// Every read the gate allows from the destination.
    Destination,
    /// Chosen per read by measured latency and the head (default).
    #[default]
    Auto,
}

impl ReadsMode {
    /// Every mode, in documentation order.
    pub const ALL: [ReadsMode; 3] = [ReadsMode::Source, ReadsMode::Destination, ReadsMode::Auto];

    /// The name in tables and messages.
    pub const fn name(self) -> &'static str {
        match self {
            ReadsMode::Source => "source",
            ReadsMode::Destination => "destination",
            ReadsMode::Auto => "auto",
        }
    }

    /// The mode called `s` (ASCII case-insensitive).
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s))
    }
}

/// A device that serves reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leg {
    /// The source.
    Source,
    /// The destination.
    Destination,
}

impl Leg {
    fn index(self) -> usize {
        match self {
            Leg::Source => 0,
            Leg::Destination => 1,
        }
    }

    fn other(self) -> Leg {
        match self {
            Leg::Source => Leg::Destination,
            Leg::Destination => Leg::Source,
        }
    }
}

/// Reads within this many sectors past the source's head stay on the
/// source in `auto` (128 KiB: a short transfer, no positioning).
pub const NEAR_HEAD_SECTORS: u64 = 256;
/// Reads that stay on the source after a failed destination read.
pub const DEST_FAILURE_BACKOFF: u32 = 64;
/// Decisions of `auto` before the losing leg is first probed again.
pub const PROBE_GAP_MIN: u32 = 32;
/// The longest gap between probes of a leg that keeps losing (a probe of
/// a leg 50 ms slower costs 12 us a read on average at this gap).
pub const PROBE_GAP_MAX: u32 = 4096;

/// Once the target is `synced`, a read of blocks the cache does not hold
/// needs no decision while the router would keep it on the source anyway:
/// the engine sends it there without its lock (at dm-linear's cost, issue
/// 26). One such read in this many still comes here, so that `auto` keeps
/// measuring the source and probing the destination.
pub const PASSTHROUGH_SAMPLE: u32 = 32;

/// The router's state: a mode, and per leg a latency estimate and the
/// reads in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadRouter {
    mode: ReadsMode,
    /// EWMA of each leg's read latency in ns, 0 before the first sample.
    latency_ns: [u64; 2],
    in_flight: [u32; 2],
    /// Reads served per leg (for the status line).
    served: [u64; 2],
    /// Decisions left that keep reads off the destination after a failure.
    backoff: u32,
    /// The leg the last comparison chose.
    winner: Leg,
    /// Comparisons left before the losing leg is probed.
    probe_in: u32,
    /// The gap after the next probe.
    probe_gap: u32,
    /// Per leg: the next sample replaces the estimate (a probe was sent).
    resample: [bool; 2],
}

impl Default for ReadRouter {
    fn default() -> Self {
        Self::new(ReadsMode::default())
    }
}

impl ReadRouter {
    /// A router in `mode`.
    pub const fn new(mode: ReadsMode) -> Self {
        Self {
            mode,
            latency_ns: [0; 2],
            in_flight: [0; 2],
            served: [0; 2],
            backoff: 0,
            winner: Leg::Destination,
            probe_in: PROBE_GAP_MIN,
            probe_gap: PROBE_GAP_MIN,
            resample: [false; 2],
        }
    }

    /// The mode in force.
    pub const fn mode(&self) -> ReadsMode {
        self.mode
    }

    /// Sets the mode (the `reads` message); estimates are kept.
    pub fn set_mode(&mut self, mode: ReadsMode) {
        self.mode = mode;
    }

    /// Reads served by (source, destination) so far.
    pub const fn served(&self) -> (u64, u64) {
        (self.served[0], self.served[1])
    }

    /// The latency estimate of `leg` in ns (0: no sample yet).
    pub fn latency_ns(&self, leg: Leg) -> u64 {
        self.latency_ns.get(leg.index()).copied().unwrap_or(0)
    }

    /// Chooses the leg of a read the gate allows on the destination
    /// (`dest_allowed`), starting `distance` sectors from the source's head
    /// (`None`: before it, or on another disk). Call [`ReadRouter::started`]
    /// with the answer.
    pub fn choose(&mut self, dest_allowed: bool, distance: Option<u64>) -> Leg {
        if !dest_allowed {
            return Leg::Source;
        }
        match self.mode {
            ReadsMode::Source => Leg::Source,
            ReadsMode::Destination => Leg::Destination,
            ReadsMode::Auto => {
                if self.backoff > 0 {
                    self.backoff = self.backoff.saturating_sub(1);
                    return Leg::Source;
                }
                if distance.is_some_and(|d| d <= NEAR_HEAD_SECTORS) {
                    return Leg::Source;
                }
                let winner = self.faster_leg();
                if winner != self.winner {
                    self.winner = winner;
                    self.probe_in = PROBE_GAP_MIN;
                    self.probe_gap = PROBE_GAP_MIN;
                }
                if self.probe_in > 0 {
                    self.probe_in = self.probe_in.saturating_sub(1);
                    return winner;
                }
                self.probe_gap = self.probe_gap.saturating_mul(2).min(PROBE_GAP_MAX);
                self.probe_in = self.probe_gap;
                let probed = winner.other();
                if let Some(r) = self.resample.get_mut(probed.index()) {
                    *r = true;
                }
                probed
            }
        }
    }

    /// The leg whose expected latency is lower (the destination on a tie):
    /// its estimate times one more than its reads in flight.
    fn faster_leg(&self) -> Leg {
        let expected = |leg: Leg| {
            let i = leg.index();
            let lat = self.latency_ns.get(i).copied().unwrap_or(0);
            let queued = u64::from(self.in_flight.get(i).copied().unwrap_or(0));
            lat.saturating_mul(queued.saturating_add(1))
        };
        if expected(Leg::Destination) <= expected(Leg::Source) {
            Leg::Destination
        } else {
            Leg::Source
        }
    }

    /// Whether a read the gate allows would stay on the source now, short
    /// of a probe: `source`, or `auto` while the source is the faster leg
    /// by the estimates as they stand, once it has been measured, and no
    /// probe of the destination is due (or a failed destination read keeps
    /// reads off it). Reads outside the router's view
    /// ([`PASSTHROUGH_SAMPLE`]) go to the source only then.
    pub fn keeps_reads_on_source(&self) -> bool {
        match self.mode {
            ReadsMode::Source => true,
            ReadsMode::Destination => false,
            // A probe that is due needs the router: the next read is it.
            ReadsMode::Auto => {
                self.backoff > 0
                    || (self.latency_ns(Leg::Source) != 0
                        && self.faster_leg() == Leg::Source
                        && self.probe_in > 0)
            }
        }
    }

    /// The next read is the one in [`PASSTHROUGH_SAMPLE`] that the lock-free
    /// path leaves to the router, so it stands for that many reads the
    /// router did not see. The next source sample replaces the source's
    /// estimate: at 1/8 a sample, the estimate would take some 256 reads to
    /// follow a source that has slowed down (CI: 38 of 200 reads reached a
    /// destination 50 ms faster). And the next probe comes that many
    /// decisions closer, so probes are as frequent in reads as without the
    /// lock-free path.
    pub fn sampled_for_passthrough(&mut self) {
        if let Some(r) = self.resample.get_mut(Leg::Source.index()) {
            *r = true;
        }
        self.probe_in = self
            .probe_in
            .saturating_sub(PASSTHROUGH_SAMPLE.saturating_sub(1));
    }

    /// A read went to `leg`.
    pub fn started(&mut self, leg: Leg) {
        if let Some(n) = self.in_flight.get_mut(leg.index()) {
            *n = n.saturating_add(1);
        }
    }

    /// A read `started` on `leg` ended after `latency_ns`; `ok` when it
    /// succeeded (a failed destination read is read again from the source).
    pub fn done(&mut self, leg: Leg, latency_ns: u64, ok: bool) {
        let i = leg.index();
        if let Some(n) = self.in_flight.get_mut(i) {
            *n = n.saturating_sub(1);
        }
        if !ok {
            if leg == Leg::Destination {
                self.backoff = DEST_FAILURE_BACKOFF;
            }
            return;
        }
        if let Some(s) = self.served.get_mut(i) {
            *s = s.saturating_add(1);
        }
        let resample = self
            .resample
            .get_mut(i)
            .map(core::mem::take)
            .unwrap_or(false);
        if let Some(l) = self.latency_ns.get_mut(i) {
            // EWMA with weight 1/8; the first sample, and a probe's, sets it.
            *l = if *l == 0 || resample {
                latency_ns.max(1)
            } else {
                (*l).saturating_sub(*l / 8)
                    .saturating_add(latency_ns / 8)
                    .max(1)
            };
        }
        // The faster leg, measured afresh, is now within 2x of the other's
        // estimate: that estimate may be stale (taken under other load), so
        // the other leg is probed at the next decision rather than after
        // the gap. At most once a resample: one read in PASSTHROUGH_SAMPLE.
        let other = self.latency_ns(leg.other());
        if resample && self.faster_leg() == leg && other <= self.latency_ns(leg).saturating_mul(2) {
            self.probe_in = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passthrough_only_while_the_source_wins() {
        let mut r = ReadRouter::new(ReadsMode::Source);
        assert!(r.keeps_reads_on_source());
        r.set_mode(ReadsMode::Destination);
        assert!(!r.keeps_reads_on_source());
        // `auto` starts by trying the destination.
        r.set_mode(ReadsMode::Auto);
        assert!(!r.keeps_reads_on_source());
        // A slow destination loses: reads stay on the source.
        assert_eq!(serve(&mut r, 1_000, 50_000_000), Leg::Destination);
        assert_eq!(serve(&mut r, 1_000, 50_000_000), Leg::Source);
        assert!(r.keeps_reads_on_source());
        // A fast destination wins again: reads need the router.
        let mut fast = ReadRouter::new(ReadsMode::Auto);
        assert_eq!(serve(&mut fast, 50_000_000, 1_000), Leg::Destination);
        assert!(!fast.keeps_reads_on_source());
        // A failed destination read keeps reads off it for a while.
        let mut f = ReadRouter::new(ReadsMode::Auto);
        assert_eq!(f.choose(true, None), Leg::Destination);
        f.started(Leg::Destination);
        f.done(Leg::Destination, 1_000, false);
        assert!(f.keeps_reads_on_source());
    }

    #[test]
    fn modes() {
        for m in ReadsMode::ALL {
            assert_eq!(ReadsMode::from_name(m.name()), Some(m));
        }
        assert_eq!(ReadsMode::from_name("AUTO"), Some(ReadsMode::Auto));
        assert_eq!(ReadsMode::from_name("both"), None);
        let mut r = ReadRouter::new(ReadsMode::Source);
        assert_eq!(r.choose(true, None), Leg::Source);
        r.set_mode(ReadsMode::Destination);
        assert_eq!(r.choose(true, Some(0)), Leg::Destination);
        assert_eq!(r.choose(false, None), Leg::Source, "the gate comes first");
    }

    #[test]
    fn auto_picks_the_faster_leg_and_keeps_reads_at_the_head() {
        let mut r = ReadRouter::new(ReadsMode::Auto);
        // No samples: the destination is tried.
        assert_eq!(r.choose(true, None), Leg::Destination);
        r.done(Leg::Destination, 500_000, true);
        r.done(Leg::Source, 8_000_000, true);
        assert_eq!(r.choose(true, Some(100_000)), Leg::Destination);
        assert_eq!(
            r.choose(true, Some(8)),
            Leg::Source,
            "right behind the head"
        );
        // A slow destination (a remote device): reads stay on the source.
        let mut slow = ReadRouter::new(ReadsMode::Auto);
        slow.done(Leg::Source, 4_000_000, true);
        slow.done(Leg::Destination, 20_000_000, true);
        assert_eq!(slow.choose(true, None), Leg::Source);
        // Reads piling up on the destination make the source worth it.
        for _ in 0..20 {
            r.started(Leg::Destination);
        }
        assert_eq!(r.choose(true, None), Leg::Source);
    }

    #[test]
    fn a_failed_destination_read_backs_off() {
        let mut r = ReadRouter::new(ReadsMode::Auto);
        r.done(Leg::Destination, 100, true);
        r.done(Leg::Source, 1000, true);
        r.started(Leg::Destination);
        r.done(Leg::Destination, 0, false);
        for _ in 0..DEST_FAILURE_BACKOFF {
            assert_eq!(r.choose(true, None), Leg::Source);
        }
        assert_eq!(r.choose(true, None), Leg::Destination);
        assert_eq!(r.served(), (1, 1));
    }

    /// One read routed by `r` and served in `source_ns` or `dest_ns`.
    fn serve(r: &mut ReadRouter, source_ns: u64, dest_ns: u64) -> Leg {
        let leg = r.choose(true, None);
        r.started(leg);
        let ns = match leg {
            Leg::Source => source_ns,
            Leg::Destination => dest_ns,
        };
        r.done(leg, ns, true);
        leg
    }

    #[test]
    fn one_slow_sample_does_not_exile_a_leg() {
        // As CI's parallel suite saw (1 of 200 reads): a first destination
        // read slower than the source's 50 ms (here 80 ms, a model: the real
        // figure was not recorded) kept a fast destination idle for good.
        let mut r = ReadRouter::new(ReadsMode::Auto);
        assert_eq!(r.choose(true, None), Leg::Destination);
        r.started(Leg::Destination);
        r.done(Leg::Destination, 80_000_000, true);
        let mut dest = 0;
        for _ in 0..200 {
            let leg = serve(&mut r, 50_000_000, 200_000);
            dest += u32::from(leg == Leg::Destination);
        }
        assert!(
            dest >= 150,
            "{dest} of 200 reads went to the fast destination"
        );
    }

    #[test]
    fn probes_of_a_slower_leg_thin_out() {
        // A destination 50 ms slow (remote), a source at 100 us: a probe now
        // and then, fewer as the destination keeps losing.
        let mut r = ReadRouter::new(ReadsMode::Auto);
        let mut dest = [0u32; 2];
        for i in 0..10_000 {
            if serve(&mut r, 100_000, 50_000_000) == Leg::Destination {
                dest[usize::from(i >= 200)] += 1;
            }
        }
        assert!(
            dest[0] <= 4,
            "{} of the first 200 reads probed the destination",
            dest[0]
        );
        assert!(dest[1] <= 8, "{} probes in the next 9800 reads", dest[1]);
        assert!(dest[1] >= 2, "a slower leg is still probed now and then");
    }

    /// `reads` reads served in `source_ns` or `dest_ns` through a model of
    /// the lock-free path: while the router keeps reads on the source, one
    /// read in [`PASSTHROUGH_SAMPLE`] reaches it (the last of them first:
    /// the worst case) and the others go to the source unseen. Returns the
    /// reads the destination served.
    fn serve_with_passthrough(
        r: &mut ReadRouter,
        reads: u32,
        source_ns: u64,
        dest_ns: u64,
        sampled: fn(&mut ReadRouter),
    ) -> u32 {
        let mut tick = 1u32;
        let mut dest = 0;
        for _ in 0..reads {
            if r.keeps_reads_on_source() {
                tick = tick.wrapping_add(1);
                if tick % PASSTHROUGH_SAMPLE != 0 {
                    continue;
                }
                sampled(r);
            }
            dest += u32::from(serve(r, source_ns, dest_ns) == Leg::Destination);
        }
        dest
    }

    /// A router whose destination lost its first comparison: a cold first
    /// read of 30 ms against a source at 1 ms, as after udev's probes.
    fn source_won_once() -> ReadRouter {
        let mut r = ReadRouter::new(ReadsMode::Auto);
        assert_eq!(serve(&mut r, 1_000_000, 30_000_000), Leg::Destination);
        assert_eq!(serve(&mut r, 1_000_000, 30_000_000), Leg::Source);
        assert!(r.keeps_reads_on_source());
        r
    }

    #[test]
    fn passthrough_samples_follow_a_source_that_slows_down() {
        // read-routing's `auto` step: synced, then the source slowed to
        // 50 ms, 200 reads. CI saw 38 reach the destination, the debug
        // kernel 0: the sampled reads moved the source's estimate by 1/8.
        // Fixed, only the reads before the first sample stay on the source.
        let mut r = source_won_once();
        let dest = serve_with_passthrough(
            &mut r,
            200,
            50_000_000,
            200_000,
            ReadRouter::sampled_for_passthrough,
        );
        assert_eq!(
            dest,
            200 - PASSTHROUGH_SAMPLE,
            "reads to the fast destination"
        );
        let mut unfixed = source_won_once();
        let dest = serve_with_passthrough(&mut unfixed, 200, 50_000_000, 200_000, |_| {});
        assert!(
            dest < 150,
            "the model reproduces CI's failure: {dest} of 200"
        );
    }

    #[test]
    fn a_due_probe_does_not_wait_for_the_next_sample() {
        // The debug kernel's read-routing (148 of 200): the destination had
        // lost a probe before the source slowed down (its cold reads slower
        // than the source then), so its next probe was 64 decisions away,
        // and the slowed source's samples (50 ms) stayed below its stale
        // estimate (60 ms). Once the faster leg's fresh sample comes within
        // 2x of the other's estimate, the other is probed at once (136 of
        // 200 without that, in this model), and the next read is the probe.
        let mut r = ReadRouter::new(ReadsMode::Auto);
        let mut probes = 0;
        for _ in 0..40 {
            probes += u32::from(serve(&mut r, 1_000_000, 60_000_000) == Leg::Destination);
        }
        assert_eq!(probes, 2, "the first read and one probe");
        let dest = serve_with_passthrough(
            &mut r,
            200,
            50_000_000,
            200_000,
            ReadRouter::sampled_for_passthrough,
        );
        assert_eq!(dest, 167, "reads to the fast destination");
    }

    #[test]
    fn passthrough_keeps_the_rate_of_probes() {
        // A destination 50 ms slow: as many probes in 10 000 reads with the
        // lock-free path as without it (probes_of_a_slower_leg_thin_out).
        let mut r = ReadRouter::new(ReadsMode::Auto);
        let dest = serve_with_passthrough(
            &mut r,
            10_000,
            100_000,
            50_000_000,
            ReadRouter::sampled_for_passthrough,
        );
        assert!((3..=12).contains(&dest), "{dest} probes in 10 000 reads");
        // A fast source keeps the lock-free path: a sampled source read
        // that is fast again does not hand reads to the slow destination.
        assert!(r.keeps_reads_on_source());
    }

    #[test]
    fn ewma_moves_by_an_eighth() {
        let mut r = ReadRouter::new(ReadsMode::Auto);
        r.done(Leg::Source, 8000, true);
        r.done(Leg::Source, 16000, true);
        assert_eq!(r.latency_ns(Leg::Source), 8000 - 1000 + 2000);
    }
}
