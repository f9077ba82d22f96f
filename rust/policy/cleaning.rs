// SPDX-License-Identifier: GPL-2.0

//! Lazy cleaning of written regions (dm-raid1's region hash): which blocks
//! the commit protocol ([`crate::policy::commit`]) is asked to clear before
//! a VM write, and when written blocks are offered to it again.
//!
//! The region is the chunk, as in the ordering protocol
//! ([`crate::policy::ordering`]) and as dm-mirror's region: a write clears
//! the bits of the whole chunks it touches, and a chunk is offered again
//! only once a full [`Cleaning::tick`] interval has passed with no write
//! mapped to it or completed in it (the target reports mirrored
//! completions; a write still in flight at the tick makes it wait). So a
//! VM that keeps writing a chunk waits for a commit once, not once a
//! second (as it would if a written block were recorded again a second
//! after each write), and what a crash costs is the copy of the chunks
//! written in the last interval or two. A coarser region waits less often under scattered writes and keeps less
//! of the copy across a crash: the operator chooses it with the chunk. A
//! cleared bit only ever costs a copy, never data: offering a block is the
//! caller's [`crate::policy::commit::Commit::candidate`], with its own
//! checks.
//!
//! Two generations over caller storage, one bit per region each: regions
//! written in this interval, and those written in the last one.

use crate::policy::copyrun::CopyRun;
use core::num::NonZeroU64;
use core::ops::{Deref, DerefMut};

const WRITTEN: usize = 0;
const SETTLING: usize = 1;

/// Regions of `region_blocks` that `blocks` blocks fill (the last one
/// may be cut).
fn regions_in(blocks: u64, region_blocks: NonZeroU64) -> u64 {
    blocks / region_blocks + u64::from(blocks % region_blocks != 0)
}

/// The two generations of written regions.
pub struct Cleaning<S> {
    words: S,
    nr_blocks: u64,
    /// Blocks per region (non-zero: no division here can panic).
    region_blocks: NonZeroU64,
    nr_regions: u64,
    gen_words: usize,
    /// Regions set in each generation (so that an empty one is not scanned).
    counts: [u64; 2],
}

impl<S> Cleaning<S> {
    /// Words of storage for `nr_blocks` blocks in regions of
    /// `region_blocks`.
    pub fn words_needed(nr_blocks: u64, region_blocks: u32) -> Option<usize> {
        let regions = regions_in(nr_blocks, NonZeroU64::new(u64::from(region_blocks))?);
        usize::try_from(regions.div_ceil(64)).ok()?.checked_mul(2)
    }

    /// Whether a region written lately waits to be offered again.
    pub fn has_work(&self) -> bool {
        self.counts != [0, 0]
    }

    /// The blocks of the regions `run` touches (the blocks a write clears).
    pub fn regions_of(&self, run: CopyRun) -> CopyRun {
        let first = run.first.saturating_sub(run.first % self.region_blocks);
        let end = run.first.saturating_add(u64::from(run.blocks));
        let end = regions_in(end, self.region_blocks)
            .saturating_mul(self.region_blocks.get())
            .min(self.nr_blocks)
            .max(first);
        CopyRun {
            first,
            blocks: u32::try_from(end.saturating_sub(first)).unwrap_or(u32::MAX),
        }
    }

    /// The blocks of region `region` (the last one is cut at the end).
    fn region(&self, region: u64) -> CopyRun {
        let first = region.saturating_mul(self.region_blocks.get());
        let blocks = self
            .region_blocks
            .get()
            .min(self.nr_blocks.saturating_sub(first));
        CopyRun {
            first,
            blocks: u32::try_from(blocks).unwrap_or(0),
        }
    }
}

impl<S: Deref<Target = [u64]> + DerefMut> Cleaning<S> {
    /// Nothing written, `storage` (at least [`Cleaning::words_needed`]
    /// words) overwritten.
    pub fn new(mut storage: S, nr_blocks: u64, region_blocks: u32) -> Option<Self> {
        let total = Self::words_needed(nr_blocks, region_blocks)?;
        storage.get_mut(..total)?.fill(0);
        let region_blocks = NonZeroU64::new(u64::from(region_blocks))?;
        Some(Self {
            words: storage,
            nr_blocks,
            region_blocks,
            nr_regions: regions_in(nr_blocks, region_blocks),
            gen_words: total / 2,
            counts: [0, 0],
        })
    }

    fn at(&self, generation: usize, region: u64) -> Option<(usize, u64)> {
        if region >= self.nr_regions {
            return None;
        }
        let w = usize::try_from(region / 64).ok()?;
        Some((
            self.gen_words.checked_mul(generation)?.checked_add(w)?,
            1u64 << (region % 64),
        ))
    }

    fn test(&self, generation: usize, region: u64) -> bool {
        self.at(generation, region)
            .and_then(|(i, bit)| self.words.get(i).map(|w| w & bit != 0))
            .unwrap_or(false)
    }

    fn set(&mut self, generation: usize, region: u64) {
        let Some((i, bit)) = self.at(generation, region) else {
            return;
        };
        if let Some(w) = self.words.get_mut(i) {
            if *w & bit == 0 {
                *w |= bit;
                if let Some(n) = self.counts.get_mut(generation) {
                    *n = n.saturating_add(1);
                }
            }
        }
    }

    /// A VM write to `run` was mapped, or completed: its regions are offered
    /// again only after a full interval without another.
    pub fn written(&mut self, run: CopyRun) {
        if run.blocks == 0 {
            return;
        }
        let last = run.first.saturating_add(u64::from(run.blocks) - 1) / self.region_blocks;
        for region in run.first / self.region_blocks..=last.min(self.nr_regions) {
            self.set(WRITTEN, region);
        }
    }

    /// Whether `block`'s region was written in this interval or the last
    /// (a copy completing there is offered with the region, later).
    pub fn settling(&self, block: u64) -> bool {
        let region = block / self.region_blocks;
        self.test(WRITTEN, region) || self.test(SETTLING, region)
    }

    /// One interval has passed: every region written in the last interval
    /// and not since is offered (`offer` returns false if the region must
    /// wait: a write to it is still in flight; it then waits another
    /// interval). This interval's regions become the last one's.
    pub fn tick(&mut self, mut offer: impl FnMut(CopyRun) -> bool) {
        if self.counts[SETTLING] != 0 {
            for w in 0..self.gen_words {
                let old = self.words.get(self.gen_words + w).copied().unwrap_or(0);
                let new = self.words.get(w).copied().unwrap_or(0);
                let mut due = old & !new;
                while due != 0 {
                    let bit = u64::from(due.trailing_zeros());
                    due &= due - 1;
                    let region = u64::try_from(w)
                        .unwrap_or(u64::MAX)
                        .saturating_mul(64)
                        .saturating_add(bit);
                    if !offer(self.region(region)) {
                        self.set(WRITTEN, region);
                    }
                }
            }
        }
        // SETTLING := WRITTEN, WRITTEN := empty.
        for w in 0..self.gen_words {
            let new = self.words.get(w).copied().unwrap_or(0);
            if let Some(x) = self.words.get_mut(self.gen_words + w) {
                *x = new;
            }
            if let Some(x) = self.words.get_mut(w) {
                *x = 0;
            }
        }
        self.counts = [0, self.counts[WRITTEN]];
    }

    /// `reset`: nothing waits.
    pub fn clear(&mut self) {
        self.words.fill(0);
        self.counts = [0, 0];
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn cleaning(nr_blocks: u64, region_blocks: u32) -> Cleaning<Vec<u64>> {
        let words = Cleaning::<Vec<u64>>::words_needed(nr_blocks, region_blocks).expect("size");
        Cleaning::new(vec![7u64; words], nr_blocks, region_blocks).expect("storage")
    }

    fn run(first: u64, blocks: u32) -> CopyRun {
        CopyRun { first, blocks }
    }

    fn offered(c: &mut Cleaning<Vec<u64>>) -> Vec<CopyRun> {
        let mut v = Vec::new();
        c.tick(|r| {
            v.push(r);
            true
        });
        v
    }

    #[test]
    fn a_write_clears_its_whole_regions() {
        let c = cleaning(1000, 16);
        assert_eq!(c.regions_of(run(70, 1)), run(64, 16));
        assert_eq!(c.regions_of(run(60, 10)), run(48, 32));
        // The last region is cut at the device's end.
        assert_eq!(c.regions_of(run(990, 5)), run(976, 24));
        assert_eq!(c.regions_of(run(0, 0)), run(0, 0));
        // A region of one block is the write's own blocks.
        let c = cleaning(1000, 1);
        assert_eq!(c.regions_of(run(70, 3)), run(70, 3));
    }

    #[test]
    fn a_region_is_offered_after_a_full_quiet_interval() {
        let mut c = cleaning(1000, 16);
        assert!(!c.has_work());
        c.written(run(70, 1));
        assert!(c.settling(64) && c.settling(79) && !c.settling(63) && !c.settling(80));
        // The interval it was written in ends: not offered yet.
        assert!(offered(&mut c).is_empty());
        assert!(c.settling(70));
        // A full interval with no write: offered, once.
        assert_eq!(offered(&mut c), vec![run(64, 16)]);
        assert!(!c.settling(70) && !c.has_work());
        assert!(offered(&mut c).is_empty());
    }

    #[test]
    fn a_region_written_again_waits_again_and_its_neighbour_does_not() {
        let mut c = cleaning(1000, 1);
        c.written(run(5, 2));
        assert!(offered(&mut c).is_empty());
        c.written(run(6, 1));
        assert_eq!(offered(&mut c), vec![run(5, 1)]);
        assert_eq!(offered(&mut c), vec![run(6, 1)]);
    }

    #[test]
    fn a_region_with_a_write_in_flight_waits_another_interval() {
        let mut c = cleaning(1000, 16);
        c.written(run(200, 1));
        assert!(offered(&mut c).is_empty());
        c.tick(|_| false);
        // Offered again at the next tick, unless written meanwhile.
        assert!(c.settling(200));
        assert_eq!(offered(&mut c), vec![run(192, 16)]);
        assert!(!c.settling(200));
    }

    #[test]
    fn the_last_region_is_cut_and_past_the_end_is_ignored() {
        let mut c = cleaning(1000, 16);
        c.written(run(999, 5));
        c.written(run(5000, 1));
        assert!(!c.settling(5000));
        assert!(offered(&mut c).is_empty());
        assert_eq!(offered(&mut c), vec![run(992, 8)]);
    }

    #[test]
    fn clear_forgets_everything() {
        let mut c = cleaning(100_000, 4);
        c.written(run(0, 100_000));
        c.clear();
        assert!(!c.has_work() && !c.settling(0));
        assert!(offered(&mut c).is_empty() && offered(&mut c).is_empty());
    }
}
