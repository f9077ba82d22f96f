// SPDX-License-Identifier: GPL-2.0

//! Destination writes that no completed destination flush covers yet.
//!
//! A write that completed on the destination may still sit in its volatile
//! cache: a device reset (an NBD or iSCSI server restarting, a disk power
//! cycling) loses it without failing it. Only a flush issued after the
//! write completed, and completed successfully, makes it durable. So when
//! any destination IO fails, every block written there since the last such
//! flush has to be copied again ([`crate::policy::ordering`]).
//!
//! Two bit sets of blocks, as dm-clone swaps its in-core dirty bitmaps
//! before a commit: new writes go to the *open* set; a flush that is issued
//! while no other is closing a set *closes* the open one (the sets swap), and
//! its success clears the closed set. A flush issued while another closes a
//! set covers that closed set too (its writes completed before both), and
//! nothing more is recorded for it: a later flush covers the rest. Each set
//! has one summary bit per word, so clearing or walking it costs the words
//! that hold writes, not the whole map.
//!
//! [`FlushPacer`] decides when the target flushes the destination on its
//! own during the copy, so that what an outage costs stays bounded.

use crate::policy::copyrun::CopyRun;
use core::ops::{Deref, DerefMut};

/// Word layout of one set: the flat bits, then one summary bit per flat word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct SetLayout {
    nr_blocks: u64,
    flat_words: usize,
    summary_words: usize,
}

impl SetLayout {
    fn new(nr_blocks: u64) -> Option<Self> {
        if nr_blocks == 0 {
            return None;
        }
        let flat_words = usize::try_from(nr_blocks.div_ceil(64)).ok()?;
        Some(Self {
            nr_blocks,
            flat_words,
            summary_words: flat_words.div_ceil(64),
        })
    }

    fn set_words(&self) -> Option<usize> {
        self.flat_words.checked_add(self.summary_words)
    }
}

/// The blocks written to the destination and not yet covered by a completed
/// flush, over caller storage `S` (as [`crate::policy::map::BlockMap`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Unflushed<S> {
    words: S,
    layout: SetLayout,
    /// Which set (0 or 1) takes new writes.
    open: usize,
    /// The epoch of the flush in flight that closed the other set.
    closing: Option<u64>,
    /// Names each closing; a flush that completes with an older one covers
    /// nothing tracked any more.
    epoch: u64,
    /// Blocks in each set.
    counts: [u64; 2],
}

impl<S> core::fmt::Debug for Unflushed<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Unflushed")
            .field("open", &self.counts.get(self.open))
            .field("closing", &self.closing)
            .finish()
    }
}

impl<S> Unflushed<S> {
    /// Words of storage for `nr_blocks` blocks, `None` when 0 or too many.
    pub fn words_needed(nr_blocks: u64) -> Option<usize> {
        SetLayout::new(nr_blocks)?.set_words()?.checked_mul(2)
    }

    /// Blocks written and not covered by a completed flush.
    pub fn len(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &n| a.saturating_add(n))
    }

    /// Whether every destination write is covered by a completed flush.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a flush that closed a set is in flight.
    pub fn closing(&self) -> bool {
        self.closing.is_some()
    }

    fn closed(&self) -> usize {
        self.open ^ 1
    }
}

impl<S: Deref<Target = [u64]> + DerefMut> Unflushed<S> {
    /// An empty set of `nr_blocks` blocks in `storage` (at least
    /// [`Unflushed::words_needed`] words, overwritten).
    pub fn new(mut storage: S, nr_blocks: u64) -> Option<Self> {
        let layout = SetLayout::new(nr_blocks)?;
        let total = layout.set_words()?.checked_mul(2)?;
        if storage.len() < total {
            return None;
        }
        for w in storage.iter_mut().take(total) {
            *w = 0;
        }
        Some(Self {
            words: storage,
            layout,
            open: 0,
            closing: None,
            epoch: 0,
            counts: [0; 2],
        })
    }

    fn base(&self, set: usize) -> usize {
        self.layout.set_words().unwrap_or(0).saturating_mul(set)
    }

    fn word(&self, idx: usize) -> u64 {
        self.words.get(idx).copied().unwrap_or(0)
    }

    fn or_word(&mut self, idx: usize, mask: u64) -> u64 {
        match self.words.get_mut(idx) {
            Some(w) => {
                let before = *w;
                *w |= mask;
                before
            }
            None => u64::MAX,
        }
    }

    /// Whether `block` was written to the destination and no completed
    /// flush covers it yet.
    pub fn contains(&self, block: u64) -> bool {
        if block >= self.layout.nr_blocks {
            return false;
        }
        let (Ok(w), bit) = (usize::try_from(block / 64), 1u64 << (block % 64)) else {
            return false;
        };
        (0..2).any(|set| self.word(self.base(set).saturating_add(w)) & bit != 0)
    }

    /// Records a completed destination write of the blocks of `run`.
    pub fn mark(&mut self, run: CopyRun) {
        let set = self.open;
        let base = self.base(set);
        let summary = base.saturating_add(self.layout.flat_words);
        let nr_blocks = self.layout.nr_blocks;
        for block in run.iter().take_while(|&b| b < nr_blocks) {
            let (Ok(w), bit) = (usize::try_from(block / 64), 1u64 << (block % 64)) else {
                return;
            };
            let before = self.or_word(base.saturating_add(w), bit);
            if before & bit == 0 {
                if let Some(n) = self.counts.get_mut(set) {
                    *n = n.saturating_add(1);
                }
            }
            if before == 0 {
                let _ = self.or_word(summary.saturating_add(w / 64), 1u64 << (w % 64));
            }
        }
    }

    /// A destination flush is issued: returns the epoch its completion is
    /// reported with. It covers every write recorded so far.
    pub fn flush_issued(&mut self) -> u64 {
        if let Some(epoch) = self.closing {
            return epoch;
        }
        // The closed set is empty here: a flush's success clears it and a
        // loss clears both.
        self.open = self.closed();
        self.epoch = self.epoch.wrapping_add(1);
        self.closing = Some(self.epoch);
        self.epoch
    }

    /// A destination flush issued with `epoch` succeeded: what it closed is durable.
    pub fn flush_done(&mut self, epoch: u64) {
        if self.closing == Some(epoch) {
            let set = self.closed();
            self.clear_set(set, |_, _| {});
            self.closing = None;
        }
    }

    /// The destination may have lost everything not covered by a completed
    /// flush: calls `lost(word, mask)` for each word of blocks in either set,
    /// then forgets them (they are to be copied again). Returns how many.
    pub fn take_lost(&mut self, mut lost: impl FnMut(usize, u64)) -> u64 {
        let n = self.len();
        self.clear_set(0, &mut lost);
        self.clear_set(1, &mut lost);
        self.closing = None;
        // A flush still in flight must not clear a set closed later.
        self.epoch = self.epoch.wrapping_add(1);
        n
    }

    /// Calls `f` for each non-zero word of `set` and zeroes it.
    fn clear_set(&mut self, set: usize, mut f: impl FnMut(usize, u64)) {
        let base = self.base(set);
        let summary = base.saturating_add(self.layout.flat_words);
        for s in 0..self.layout.summary_words {
            let idx = summary.saturating_add(s);
            let mut bits = self.word(idx);
            while bits != 0 {
                let w = s
                    .saturating_mul(64)
                    .saturating_add(bits.trailing_zeros() as usize);
                bits &= bits.wrapping_sub(1);
                let flat = base.saturating_add(w);
                let mask = self.word(flat);
                if mask != 0 {
                    f(w, mask);
                }
                if let Some(word) = self.words.get_mut(flat) {
                    *word = 0;
                }
            }
            if let Some(word) = self.words.get_mut(idx) {
                *word = 0;
            }
        }
        if let Some(n) = self.counts.get_mut(set) {
            *n = 0;
        }
    }
}

/// When the target flushes the destination during the copy: once a
/// destination write has waited `interval_ns` for a flush. 0 = never (only
/// when the copy is complete, and at suspend).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlushPacer {
    interval_ns: u64,
    /// When the worker first saw unflushed writes since the last flush.
    since_ns: Option<u64>,
}

/// What [`FlushPacer::poll`] says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushDue {
    /// Flush now.
    Now,
    /// Not yet: look again at this time (ns).
    At(u64),
    /// Nothing to flush, or periodic flushing is off.
    No,
}

/// Default interval between destination flushes during the copy, in ms
/// (dm-clone commits its metadata every second).
pub const FLUSH_INTERVAL_MS_DEFAULT: u32 = 1000;
/// Largest `flush_interval`, in ms (one hour).
pub const FLUSH_INTERVAL_MS_MAX: u32 = 3_600_000;

impl FlushPacer {
    /// A pacer flushing every `interval_ms` ms (0 = off).
    pub fn new(interval_ms: u32) -> Self {
        Self {
            interval_ns: u64::from(interval_ms.min(FLUSH_INTERVAL_MS_MAX))
                .saturating_mul(1_000_000),
            since_ns: None,
        }
    }

    /// The interval in ms.
    pub fn interval_ms(&self) -> u32 {
        u32::try_from(self.interval_ns / 1_000_000).unwrap_or(u32::MAX)
    }

    /// Whether a flush is due at `now_ns`, given whether unflushed
    /// destination writes exist.
    pub fn poll(&mut self, now_ns: u64, unflushed: bool) -> FlushDue {
        if self.interval_ns == 0 || !unflushed {
            self.since_ns = None;
            return FlushDue::No;
        }
        let since = *self.since_ns.get_or_insert(now_ns);
        let due = since.saturating_add(self.interval_ns);
        if now_ns >= due {
            FlushDue::Now
        } else {
            FlushDue::At(due)
        }
    }

    /// A flush was issued: writes from now on start a new interval.
    pub fn flushed(&mut self) {
        self.since_ns = None;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn set(n: u64) -> Unflushed<Vec<u64>> {
        Unflushed::new(vec![7; Unflushed::<Vec<u64>>::words_needed(n).unwrap()], n).unwrap()
    }

    fn run(first: u64, blocks: u32) -> CopyRun {
        CopyRun { first, blocks }
    }

    fn lost(u: &mut Unflushed<Vec<u64>>) -> Vec<u64> {
        let mut out = Vec::new();
        u.take_lost(|w, mut mask| {
            while mask != 0 {
                out.push(w as u64 * 64 + u64::from(mask.trailing_zeros()));
                mask &= mask - 1;
            }
        });
        out
    }

    #[test]
    fn a_flush_covers_what_completed_before_it() {
        let mut u = set(10_000);
        u.mark(run(5, 3));
        u.mark(run(6000, 1));
        assert_eq!(u.len(), 4);
        let e = u.flush_issued();
        u.mark(run(9000, 2));
        assert!(u.contains(6) && u.contains(6000) && u.contains(9001));
        u.flush_done(e);
        assert_eq!(u.len(), 2);
        assert!(!u.contains(6) && u.contains(9000) && !u.contains(99_999));
        assert_eq!(lost(&mut u), vec![9000, 9001]);
        assert!(u.is_empty());
    }

    #[test]
    fn overlapping_flushes_and_a_loss() {
        let mut u = set(200);
        u.mark(run(1, 1));
        let e1 = u.flush_issued();
        u.mark(run(2, 1));
        // A second flush while the first closes a set covers that set only.
        let e2 = u.flush_issued();
        assert_eq!(e1, e2);
        u.mark(run(3, 1));
        assert_eq!(lost(&mut u), vec![1, 2, 3]);
        // The old flush completes late: it must not clear anything new.
        u.mark(run(4, 1));
        u.flush_done(e1);
        assert_eq!(u.len(), 1);
        let e3 = u.flush_issued();
        u.flush_done(e3);
        assert!(u.is_empty());
        assert!(!u.closing());
    }

    #[test]
    fn out_of_range_blocks_are_ignored() {
        let mut u = set(70);
        u.mark(run(68, 10));
        assert_eq!(u.len(), 2);
        u.mark(run(u64::MAX, 3));
        assert_eq!(lost(&mut u), vec![68, 69]);
    }

    #[test]
    fn pacer_flushes_after_the_interval() {
        let mut p = FlushPacer::new(1000);
        assert_eq!(p.poll(5, false), FlushDue::No);
        assert_eq!(p.poll(10, true), FlushDue::At(10 + 1_000_000_000));
        assert_eq!(p.poll(500_000_000, true), FlushDue::At(10 + 1_000_000_000));
        assert_eq!(p.poll(1_000_000_010, true), FlushDue::Now);
        p.flushed();
        assert_eq!(p.poll(1_000_000_020, true), FlushDue::At(2_000_000_020));
        assert_eq!(FlushPacer::new(0).poll(1, true), FlushDue::No);
        assert_eq!(
            FlushPacer::new(u32::MAX).interval_ms(),
            FLUSH_INTERVAL_MS_MAX
        );
    }
}
