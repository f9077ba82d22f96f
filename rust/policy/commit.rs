// SPDX-License-Identifier: GPL-2.0

//! The metadata commit protocol (issue 26): when a block's bit in the
//! metadata device's migrated bitmap ([`crate::policy::bitmap_page`]) may
//! be set, and when it must be cleared. The target runs it in its worker
//! (`rust/migration/commit.rs`).
//!
//! A bit survives a crash, and a resume trusts it, so it may stand only for
//! a block whose data is equal, and durable, on both devices:
//!
//! * **Setting.** A block becomes a *candidate* once it is migrated with no
//!   VM write in flight (its copy, or the last mirrored write to it,
//!   completed on both devices). A commit *closes* the candidates (as
//!   dm-clone swaps its in-core dirty bitmaps), flushes the source and the
//!   destination (the copy read data the source may hold only in its cache;
//!   its destination write is in the destination's), and only then issues
//!   their bits. A VM write to a closed candidate before its bit is issued
//!   withdraws it.
//! * **Clearing.** A VM write to a block whose bit is recorded, or issued,
//!   waits until a commit that clears it has completed (dm-raid1's
//!   `dm_rh_flush()` before `do_write()`); once it has completed on both
//!   devices the block may be a candidate again, recorded by a later commit
//!   (the target offers it once its writes have been quiet for a while:
//!   [`crate::policy::cleaning`]).
//! * **A commit** writes the bitmap pages holding a bit it changes, flushes
//!   the metadata device, then writes the superblock of the next sequence
//!   with FUA ([`crate::policy::superblock`]). A torn page reads as all
//!   clear: safe, because every bit it held before was still true.
//! * **A failed metadata write** leaves the device's bits unknown: writes
//!   to recorded blocks stay held while both superblock slots are zeroed
//!   (a load then finds a new device and copies everything again, as
//!   dm-raid1 holds writes when its log fails); then nothing is recorded
//!   any more and they go. If the zeroing fails too, the device may hold
//!   stale bits and says so ([`Commit::stale_on_disk`]).
//!
//! "No VM write in flight" counts held writes: a held write is in flight.
//!
//! Five bit sets over caller storage, one word per 64 blocks each:
//! `recorded` (set on the device, or issued to it), the open and the closed
//! candidates, and the open and the closed clears.

use crate::policy::bitmap_page::BITS_PER_PAGE;
use crate::policy::copyrun::CopyRun;
use core::ops::{Deref, DerefMut};

const RECORDED: usize = 0;
const CANDIDATES: usize = 1;
const CLOSED: usize = 2;
const CLEARS: usize = 3;
const CLEARING: usize = 4;
const SETS: usize = 5;

/// Where the commit in flight is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// No commit in flight.
    Idle,
    /// The source and the destination are being flushed for the closed
    /// candidates.
    Flushing,
    /// The bitmap pages and the superblock are being written.
    Writing,
    /// A metadata write failed: the device's bits are unknown, and writes
    /// to recorded blocks are held until it is invalidated.
    Failed,
    /// Both superblock slots are being zeroed.
    Invalidating,
    /// Nothing is recorded any more (sticky): the device was invalidated,
    /// or could not be ([`Commit::stale_on_disk`]).
    Off,
}

/// The metadata device's state as `stats` reports it (`metadata <word>`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Health {
    /// The table has no metadata device.
    #[default]
    None,
    /// Commits record blocks.
    Ok,
    /// A metadata write failed; its superblock slots are being zeroed, and
    /// writes to recorded blocks wait for that.
    Failed,
    /// The slots were zeroed after a failed write: the copy goes on
    /// without commits, and the next table copies everything again.
    Invalidated,
    /// Zeroing the slots failed too: the device may hold stale bits, and
    /// must not be resumed from ([`Commit::stale_on_disk`]).
    Stale,
}

impl Health {
    /// The word as printed.
    pub const fn as_str(self) -> &'static str {
        match self {
            Health::None => "none",
            Health::Ok => "ok",
            Health::Failed => "failed",
            Health::Invalidated => "invalidated",
            Health::Stale => "stale",
        }
    }
}

/// What a VM write must do before it is issued ([`Commit::map_write`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteGate {
    /// Issue it: no block of it is recorded.
    Go,
    /// Hold it until commit number `n` has completed ([`Commit::committed`]).
    Wait(u64),
}

/// What becomes of a closed candidate once the device flushes completed
/// ([`Commit::devices_flushed_if`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// Equal and durable on both devices: its bit is issued.
    Record,
    /// Equal, but a write to the destination no completed flush covers yet:
    /// a candidate of the next commit.
    Again,
    /// No longer migrated (lost, or written since): not recorded; it becomes
    /// a candidate again when its next copy or write completes.
    Drop,
}

/// What [`Commit::begin`] asks the caller to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitStep {
    /// Flush the source and the destination, then call
    /// [`Commit::devices_flushed`].
    FlushDevices,
    /// Write the pages [`Commit::page_changed`] names and the superblock,
    /// then call [`Commit::done`].
    WritePages,
    /// Zero both superblock slots with FUA (a load then finds a new device
    /// and copies everything again), then call [`Commit::invalidated`].
    Invalidate,
}

/// The commit protocol's state for `nr_blocks` blocks, over caller storage.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Commit<S> {
    words: S,
    nr_blocks: u64,
    /// Words of one set.
    set_words: usize,
    phase: Phase,
    /// Commits completed (the superblock's sequence counts on from this).
    committed: u64,
    /// Bits in each set (so that emptiness costs no scan under the
    /// engine's lock).
    counts: [u64; SETS],
    /// A failed commit could not be invalidated either.
    stale: bool,
}

impl<S> core::fmt::Debug for Commit<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Commit")
            .field("phase", &self.phase)
            .field("committed", &self.committed)
            .field("recorded", &self.recorded_count())
            .finish()
    }
}

impl<S> Commit<S> {
    /// Words of storage for `nr_blocks` blocks, `None` when 0 or too many.
    pub fn words_needed(nr_blocks: u64) -> Option<usize> {
        if nr_blocks == 0 {
            return None;
        }
        usize::try_from(nr_blocks.div_ceil(64))
            .ok()?
            .checked_mul(SETS)
    }

    /// Where the commit in flight is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Commits completed.
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// Blocks recorded migrated (set on the device, or issued to it).
    pub fn recorded_count(&self) -> u64 {
        self.counts.get(RECORDED).copied().unwrap_or(0)
    }

    /// Whether every set's count matches its bits (a test's check of the
    /// counts that stand in for scans).
    #[doc(hidden)]
    pub fn counts_match(&self) -> bool
    where
        S: Deref<Target = [u64]>,
    {
        (0..SETS).all(|set| {
            let start = self.set_words.saturating_mul(set);
            let bits: u64 = self
                .words
                .get(start..start.saturating_add(self.set_words))
                .map_or(0, |w| w.iter().map(|x| u64::from(x.count_ones())).sum());
            self.counts.get(set) == Some(&bits)
        })
    }

    /// Whether the device may still hold bits that are no longer true (a
    /// commit failed and so did zeroing its superblock): a table must not
    /// resume from it (the operator resets the migration).
    pub fn stale_on_disk(&self) -> bool {
        self.stale
    }

    /// What `stats` says of the device.
    pub fn health(&self) -> Health {
        match self.phase {
            Phase::Idle | Phase::Flushing | Phase::Writing => Health::Ok,
            Phase::Failed | Phase::Invalidating => Health::Failed,
            Phase::Off if self.stale => Health::Stale,
            Phase::Off => Health::Invalidated,
        }
    }

    /// Whether commits record blocks (not after a metadata failure).
    fn recording(&self) -> bool {
        matches!(self.phase, Phase::Idle | Phase::Flushing | Phase::Writing)
    }
}

impl<S: Deref<Target = [u64]> + DerefMut> Commit<S> {
    /// Nothing recorded, `storage` (at least [`Commit::words_needed`] words)
    /// overwritten.
    pub fn new(mut storage: S, nr_blocks: u64) -> Option<Self> {
        let total = Self::words_needed(nr_blocks)?;
        let words = storage.get_mut(..total)?;
        words.fill(0);
        Some(Self {
            words: storage,
            nr_blocks,
            set_words: total / SETS,
            phase: Phase::Idle,
            committed: 0,
            counts: [0; SETS],
            stale: false,
        })
    }

    fn at(&self, set: usize, block: u64) -> Option<(usize, u64)> {
        if block >= self.nr_blocks {
            return None;
        }
        let w = usize::try_from(block / 64).ok()?;
        Some((
            self.set_words.checked_mul(set)?.checked_add(w)?,
            1u64 << (block % 64),
        ))
    }

    fn test(&self, set: usize, block: u64) -> bool {
        self.at(set, block)
            .and_then(|(i, bit)| self.words.get(i).map(|w| w & bit != 0))
            .unwrap_or(false)
    }

    /// Sets or clears `block` in `set`; returns whether it was set before.
    fn assign(&mut self, set: usize, block: u64, value: bool) -> bool {
        let Some((i, bit)) = self.at(set, block) else {
            return false;
        };
        let Some(w) = self.words.get_mut(i) else {
            return false;
        };
        let before = *w & bit != 0;
        if value {
            *w |= bit;
        } else {
            *w &= !bit;
        }
        if before != value {
            if let Some(n) = self.counts.get_mut(set) {
                *n = if value {
                    n.saturating_add(1)
                } else {
                    n.saturating_sub(1)
                };
            }
        }
        before
    }

    fn set_range(&self, set: usize) -> core::ops::Range<usize> {
        let start = self.set_words.saturating_mul(set);
        start..start.saturating_add(self.set_words)
    }

    fn count_add(&mut self, set: usize, n: u64) {
        if let Some(c) = self.counts.get_mut(set) {
            *c = c.saturating_add(n);
        }
    }

    fn count_sub(&mut self, set: usize, n: u64) {
        if let Some(c) = self.counts.get_mut(set) {
            *c = c.saturating_sub(n);
        }
    }

    fn is_empty(&self, set: usize) -> bool {
        !matches!(self.counts.get(set), Some(&n) if n != 0)
    }

    /// Moves set `from` into set `to` (which is empty) and empties `from`.
    fn close(&mut self, from: usize, to: usize) {
        let (f, t) = (self.set_range(from), self.set_range(to));
        for (fi, ti) in f.zip(t) {
            let w = self.words.get(fi).copied().unwrap_or(0);
            if let Some(x) = self.words.get_mut(ti) {
                *x = w;
            }
            if let Some(x) = self.words.get_mut(fi) {
                *x = 0;
            }
        }
        let moved = self.counts.get(from).copied().unwrap_or(0);
        if let Some(n) = self.counts.get_mut(to) {
            *n = moved;
        }
        if let Some(n) = self.counts.get_mut(from) {
            *n = 0;
        }
    }

    /// Sets (`value`) or clears in `recorded` every block of set `from`.
    fn record_from(&mut self, from: usize, value: bool) {
        for (fi, ri) in self.set_range(from).zip(self.set_range(RECORDED)) {
            let w = self.words.get(fi).copied().unwrap_or(0);
            let Some(r) = self.words.get_mut(ri) else {
                continue;
            };
            let changed = u64::from(if value { w & !*r } else { w & *r }.count_ones());
            if value {
                *r |= w;
            } else {
                *r &= !w;
            }
            if value {
                self.count_add(RECORDED, changed);
            } else {
                self.count_sub(RECORDED, changed);
            }
        }
    }

    fn clear_set(&mut self, set: usize) {
        let r = self.set_range(set);
        if let Some(words) = self.words.get_mut(r) {
            words.fill(0);
        }
        if let Some(n) = self.counts.get_mut(set) {
            *n = 0;
        }
    }

    /// Whether `block` is recorded migrated (or its bit is being written).
    pub fn recorded(&self, block: u64) -> bool {
        self.test(RECORDED, block)
    }

    /// A block read as migrated from the device when the table was loaded.
    pub fn load_recorded(&mut self, block: u64) {
        let _ = self.assign(RECORDED, block, true);
    }

    /// The blocks of `run` are migrated, with no VM write in flight: record
    /// them in a later commit. Blocks already recorded are left alone.
    pub fn candidate(&mut self, run: CopyRun) {
        if !self.recording() {
            return;
        }
        for b in run.iter() {
            if !self.recorded(b) {
                let _ = self.assign(CANDIDATES, b, true);
            }
        }
    }

    /// The ordering protocol made the blocks of `run` dirty (a destination
    /// fault loses what no flush covered): they are no longer candidates,
    /// nor recorded by a commit whose device flushes are still to complete.
    /// (None of them is recorded: a recorded block was flushed, and every
    /// write to it since waited for its clear.)
    pub fn withdraw(&mut self, run: CopyRun) {
        for b in run.iter() {
            let _ = self.assign(CANDIDATES, b, false);
            if self.phase == Phase::Flushing {
                let _ = self.assign(CLOSED, b, false);
            }
        }
    }

    /// The commit that a clear requested now is part of.
    fn next_commit(&self) -> u64 {
        let in_flight = u64::from(matches!(self.phase, Phase::Flushing | Phase::Writing));
        self.committed.saturating_add(1).saturating_add(in_flight)
    }

    /// A VM write (or discard) to `run` is mapped: from now on its blocks
    /// may differ between the devices until it has completed on both.
    pub fn map_write(&mut self, run: CopyRun) -> WriteGate {
        let mut wait = 0u64;
        for b in run.iter() {
            let _ = self.assign(CANDIDATES, b, false);
            if self.phase == Phase::Flushing {
                // Its bit is not issued yet: withdrawn from this commit.
                let _ = self.assign(CLOSED, b, false);
            }
            if self.phase == Phase::Off || !self.recorded(b) {
                continue;
            }
            let until = if self.test(CLEARING, b) {
                self.committed.saturating_add(1)
            } else {
                let _ = self.assign(CLEARS, b, true);
                self.next_commit()
            };
            wait = wait.max(until);
        }
        if wait == 0 {
            WriteGate::Go
        } else {
            WriteGate::Wait(wait)
        }
    }

    /// Whether a write held with [`WriteGate::Wait`]`(n)` may be issued.
    pub fn may_issue(&self, n: u64) -> bool {
        match self.phase {
            Phase::Off => true,
            Phase::Failed | Phase::Invalidating => false,
            Phase::Idle | Phase::Flushing | Phase::Writing => self.committed >= n,
        }
    }

    /// Whether a held write waits for a commit (start one now).
    pub fn clears_waiting(&self) -> bool {
        !self.is_empty(CLEARS)
    }

    /// Whether a commit would change anything.
    pub fn has_work(&self) -> bool {
        match self.phase {
            Phase::Failed => true,
            Phase::Invalidating | Phase::Off => false,
            Phase::Idle | Phase::Flushing | Phase::Writing => {
                !(self.is_empty(CANDIDATES) && self.is_empty(CLEARS))
            }
        }
    }

    /// Starts a commit (when idle and [`Commit::has_work`]): closes the
    /// candidates and the clears asked for so far.
    pub fn begin(&mut self) -> Option<CommitStep> {
        if self.phase == Phase::Failed {
            self.phase = Phase::Invalidating;
            return Some(CommitStep::Invalidate);
        }
        if self.phase != Phase::Idle || !self.has_work() {
            return None;
        }
        self.close(CANDIDATES, CLOSED);
        self.close(CLEARS, CLEARING);
        if self.is_empty(CLOSED) {
            self.phase = Phase::Writing;
            return Some(CommitStep::WritePages);
        }
        self.phase = Phase::Flushing;
        Some(CommitStep::FlushDevices)
    }

    /// The flushes of [`CommitStep::FlushDevices`] completed (`ok`: both
    /// succeeded). The closed candidates' bits are issued now; after a
    /// failed flush they are dropped (the blocks are copied again, or
    /// become candidates again). Then write the pages.
    pub fn devices_flushed(&mut self, ok: bool) -> CommitStep {
        if self.phase == Phase::Flushing {
            if ok {
                self.record_from(CLOSED, true);
            } else {
                self.clear_set(CLOSED);
            }
            self.phase = Phase::Writing;
        }
        CommitStep::WritePages
    }

    /// [`Commit::devices_flushed`], recording only the closed candidates that
    /// `check` says are still equal and durable on both devices
    /// ([`Closed::Record`]). The engine's check that no destination loss,
    /// VM write or second copy came after the candidate was closed (its own
    /// flush may succeed on a destination that reset and lost the copy
    /// meanwhile), and that the flush covered it.
    pub fn devices_flushed_if(
        &mut self,
        ok: bool,
        mut check: impl FnMut(u64) -> Closed,
    ) -> CommitStep {
        if self.phase == Phase::Flushing && ok {
            let closed = self.set_range(CLOSED);
            let open = self.set_range(CANDIDATES);
            for (w, (ci, oi)) in closed.zip(open).enumerate() {
                let mut word = self.words.get(ci).copied().unwrap_or(0);
                let (mut record, mut again) = (word, 0u64);
                while word != 0 {
                    let bit = word.trailing_zeros();
                    word &= word.wrapping_sub(1);
                    let block = u64::try_from(w)
                        .unwrap_or(u64::MAX)
                        .saturating_mul(64)
                        .saturating_add(u64::from(bit));
                    match check(block) {
                        Closed::Record => {}
                        Closed::Again => {
                            record &= !(1u64 << bit);
                            again |= 1u64 << bit;
                        }
                        Closed::Drop => record &= !(1u64 << bit),
                    }
                }
                let dropped =
                    u64::from((self.words.get(ci).copied().unwrap_or(0) & !record).count_ones());
                if let Some(x) = self.words.get_mut(ci) {
                    *x = record;
                }
                let mut added = 0u64;
                if let Some(x) = self.words.get_mut(oi) {
                    added = u64::from((again & !*x).count_ones());
                    *x |= again;
                }
                self.count_sub(CLOSED, dropped);
                self.count_add(CANDIDATES, added);
            }
        }
        self.devices_flushed(ok)
    }

    /// The table wrote the whole bitmap itself (the checkpoint at suspend,
    /// nothing in flight), or stopped trusting the device (`reset`): every
    /// set is emptied and commits record again. The caller then calls
    /// [`Commit::load_recorded`] for each bit the device holds now. No write
    /// may be held: none is in flight at a suspend, and `reset` releases
    /// them.
    pub fn restart(&mut self) {
        if let Some(words) = self.words.get_mut(..self.set_words.saturating_mul(SETS)) {
            words.fill(0);
        }
        self.counts = [0; SETS];
        self.stale = false;
        self.phase = Phase::Idle;
    }

    /// Whether bitmap page `page` holds a bit the commit in flight changes.
    pub fn page_changed(&self, page: u64) -> bool {
        let first = page.saturating_mul(BITS_PER_PAGE);
        let Ok(w0) = usize::try_from(first / 64) else {
            return false;
        };
        let words = usize::try_from(BITS_PER_PAGE / 64).unwrap_or(0);
        [CLOSED, CLEARING].iter().any(|&set| {
            let start = self.set_words.saturating_mul(set);
            let from = start.saturating_add(w0.min(self.set_words));
            let to = start.saturating_add(w0.saturating_add(words).min(self.set_words));
            self.words
                .get(from..to)
                .is_some_and(|s| s.iter().any(|&w| w != 0))
        })
    }

    /// The bit of `block` in the pages the commit in flight writes.
    pub fn page_bit(&self, block: u64) -> bool {
        self.recorded(block) && !self.test(CLEARING, block)
    }

    /// The commit's pages and superblock are durable (`ok`), or a write
    /// failed: then the device's bits are unknown; writes to recorded
    /// blocks stay held, and the next [`Commit::begin`] invalidates it.
    pub fn done(&mut self, ok: bool) {
        if self.phase != Phase::Writing {
            return;
        }
        if !ok {
            self.phase = Phase::Failed;
            return;
        }
        self.record_from(CLEARING, false);
        self.clear_set(CLEARING);
        self.clear_set(CLOSED);
        self.committed = self.committed.saturating_add(1);
        self.phase = Phase::Idle;
    }

    /// The zeroing of [`CommitStep::Invalidate`] completed (`ok`), or
    /// failed: either way nothing is recorded from now on and held writes
    /// go; after a failure the device may hold stale bits
    /// ([`Commit::stale_on_disk`]).
    pub fn invalidated(&mut self, ok: bool) {
        if self.phase != Phase::Invalidating {
            return;
        }
        for set in 0..SETS {
            self.clear_set(set);
        }
        self.stale = !ok;
        self.phase = Phase::Off;
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn commit(nr_blocks: u64) -> Commit<Vec<u64>> {
        let words = Commit::<Vec<u64>>::words_needed(nr_blocks).unwrap_or(0);
        Commit::new(vec![u64::MAX; words], nr_blocks).expect("storage is large enough")
    }

    fn one(b: u64) -> CopyRun {
        CopyRun {
            first: b,
            blocks: 1,
        }
    }

    #[test]
    fn storage() {
        assert_eq!(Commit::<Vec<u64>>::words_needed(0), None);
        assert_eq!(Commit::<Vec<u64>>::words_needed(64), Some(5));
        assert_eq!(Commit::<Vec<u64>>::words_needed(65), Some(10));
        assert!(Commit::new(vec![0u64; 9], 65).is_none());
        // Storage handed in dirty is cleared.
        let c = commit(100);
        assert_eq!(c.recorded_count(), 0);
        assert!(!c.has_work());
    }

    #[test]
    fn a_candidate_is_recorded_after_the_device_flushes() {
        let mut c = commit(100);
        c.candidate(one(7));
        assert_eq!(c.begin(), Some(CommitStep::FlushDevices));
        assert!(!c.recorded(7), "recorded before the devices were flushed");
        assert_eq!(c.devices_flushed(true), CommitStep::WritePages);
        assert!(c.recorded(7) && c.page_bit(7));
        assert!(c.page_changed(0) && !c.page_changed(1));
        c.done(true);
        assert_eq!(
            (c.phase(), c.committed(), c.recorded_count()),
            (Phase::Idle, 1, 1)
        );
    }

    #[test]
    fn a_write_during_the_flushes_withdraws_its_block() {
        let mut c = commit(100);
        c.candidate(CopyRun {
            first: 3,
            blocks: 2,
        });
        assert_eq!(c.begin(), Some(CommitStep::FlushDevices));
        assert_eq!(c.map_write(one(4)), WriteGate::Go);
        let _ = c.devices_flushed(true);
        c.done(true);
        assert!(c.recorded(3) && !c.recorded(4));
    }

    #[test]
    fn a_write_to_a_recorded_block_waits_for_its_clear() {
        let mut c = commit(100);
        c.load_recorded(9);
        // Idle: the next commit clears it.
        assert_eq!(c.map_write(one(9)), WriteGate::Wait(1));
        assert!(c.clears_waiting() && !c.may_issue(1));
        assert_eq!(c.begin(), Some(CommitStep::WritePages));
        assert!(c.page_changed(0) && !c.page_bit(9));
        // Another write while that clear is written: the same commit.
        assert_eq!(c.map_write(one(9)), WriteGate::Wait(1));
        c.done(true);
        assert!(c.may_issue(1) && !c.recorded(9));
        assert_eq!(c.map_write(one(9)), WriteGate::Go);
    }

    #[test]
    fn a_write_to_a_bit_being_written_waits_for_the_next_commit() {
        let mut c = commit(100);
        c.candidate(one(5));
        let _ = c.begin();
        let _ = c.devices_flushed(true);
        // Its bit is issued: only a later commit can clear it.
        assert_eq!(c.map_write(one(5)), WriteGate::Wait(2));
        c.done(true);
        assert!(c.recorded(5) && !c.may_issue(2));
        assert_eq!(c.begin(), Some(CommitStep::WritePages));
        c.done(true);
        assert!(c.may_issue(2) && !c.recorded(5));
    }

    #[test]
    fn blocks_a_fault_made_dirty_are_not_recorded() {
        let mut c = commit(100);
        c.candidate(CopyRun {
            first: 0,
            blocks: 3,
        });
        let _ = c.begin();
        c.candidate(one(50));
        c.withdraw(CopyRun {
            first: 1,
            blocks: 50,
        });
        let _ = c.devices_flushed(true);
        c.done(true);
        assert!(c.recorded(0) && !c.recorded(1) && !c.recorded(2));
        assert!(!c.has_work(), "block 50 stayed a candidate");
    }

    #[test]
    fn only_candidates_still_durable_after_the_flushes_are_recorded() {
        let mut c = commit(200);
        c.candidate(CopyRun {
            first: 60,
            blocks: 10,
        });
        c.candidate(one(130));
        assert_eq!(c.begin(), Some(CommitStep::FlushDevices));
        // The destination reset while it flushed: blocks 62 and 130 were lost.
        // The destination reset while it flushed: block 62 was lost; block
        // 64's copy was written again after the flush was issued.
        let mut asked = Vec::new();
        let step = c.devices_flushed_if(true, |b| {
            asked.push(b);
            match b {
                62 | 130 => Closed::Drop,
                64 => Closed::Again,
                _ => Closed::Record,
            }
        });
        assert_eq!(step, CommitStep::WritePages);
        assert_eq!(asked, [60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 130]);
        c.done(true);
        assert!(c.recorded(61) && !c.recorded(62) && c.recorded(63) && !c.recorded(130));
        assert_eq!(c.recorded_count(), 8);
        // Block 64 is a candidate of the next commit; the dropped ones are not.
        assert_eq!(c.begin(), Some(CommitStep::FlushDevices));
        let mut again = Vec::new();
        let _ = c.devices_flushed_if(true, |b| {
            again.push(b);
            Closed::Record
        });
        c.done(true);
        assert_eq!(again, [64]);
        assert!(c.recorded(64) && !c.has_work());
        // A failed flush asks nothing and records nothing.
        c.candidate(one(5));
        let _ = c.begin();
        let _ = c.devices_flushed_if(false, |_| panic!("asked after a failed flush"));
        c.done(true);
        assert!(!c.recorded(5));
    }

    #[test]
    fn a_restart_forgets_every_set_and_records_again() {
        let mut c = commit(100);
        c.load_recorded(3);
        c.candidate(one(4));
        assert_eq!(c.map_write(one(3)), WriteGate::Wait(1));
        let _ = c.begin();
        let _ = c.devices_flushed(true);
        c.done(false);
        assert_eq!(c.phase(), Phase::Failed);
        c.restart();
        assert_eq!((c.phase(), c.recorded_count()), (Phase::Idle, 0));
        assert!(!c.has_work() && !c.recorded(3) && !c.clears_waiting());
        assert_eq!(c.map_write(one(3)), WriteGate::Go);
        c.load_recorded(8);
        assert_eq!(c.recorded_count(), 1);
        assert_eq!(c.map_write(one(8)), WriteGate::Wait(c.committed() + 1));
    }

    #[test]
    fn a_failed_device_flush_records_nothing() {
        let mut c = commit(100);
        c.candidate(one(1));
        let _ = c.begin();
        assert_eq!(c.devices_flushed(false), CommitStep::WritePages);
        c.done(true);
        assert!(!c.recorded(1) && !c.has_work());
    }

    #[test]
    fn a_failed_metadata_write_holds_writes_until_the_device_is_invalidated() {
        for zeroed in [true, false] {
            let mut c = commit(100);
            c.load_recorded(2);
            c.load_recorded(4);
            assert_eq!(c.health(), Health::Ok);
            assert_eq!(c.map_write(one(2)), WriteGate::Wait(1));
            let _ = c.begin();
            c.done(false);
            assert_eq!((c.phase(), c.health()), (Phase::Failed, Health::Failed));
            // The stale bits may be on the device: nothing to a recorded block goes.
            assert!(!c.may_issue(1));
            let WriteGate::Wait(n) = c.map_write(one(4)) else {
                panic!("a write to a recorded block went after a failed commit");
            };
            assert!(!c.may_issue(n));
            assert_eq!(c.map_write(one(5)), WriteGate::Go);
            c.candidate(one(3));
            assert_eq!(c.begin(), Some(CommitStep::Invalidate));
            assert!(!c.may_issue(1) && c.begin().is_none());
            c.invalidated(zeroed);
            assert_eq!((c.phase(), c.stale_on_disk()), (Phase::Off, !zeroed));
            let health = if zeroed {
                Health::Invalidated
            } else {
                Health::Stale
            };
            assert_eq!(c.health(), health);
            // Nothing is recorded any more: held writes go, new ones too.
            assert!(c.may_issue(1) && c.may_issue(n));
            assert_eq!(c.map_write(one(2)), WriteGate::Go);
            c.candidate(one(3));
            assert!(!c.has_work() && c.begin().is_none() && c.recorded_count() == 0);
        }
    }

    #[test]
    fn blocks_past_the_end_are_ignored() {
        let mut c = commit(10);
        c.candidate(CopyRun {
            first: 8,
            blocks: 5,
        });
        c.load_recorded(10);
        assert_eq!(
            c.map_write(CopyRun {
                first: 9,
                blocks: 4
            }),
            WriteGate::Go
        );
        let _ = c.begin();
        let _ = c.devices_flushed(true);
        c.done(true);
        assert_eq!(c.recorded_count(), 1);
        assert!(c.recorded(8) && !c.recorded(9) && !c.recorded(10));
    }
}
