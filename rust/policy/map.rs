// SPDX-License-Identifier: GPL-2.0

//! Migration map: the state of every block of a migrating source.
//!
//! Each block is in one of four states:
//!
//! | state | meaning |
//! |---|---|
//! | [`BlockState::Unmigrated`] | never copied; must be copied |
//! | [`BlockState::InFlight`] | a copy (migration read + destination write) is running |
//! | [`BlockState::Migrated`] | the destination holds the current data |
//! | [`BlockState::Dirty`] | copied once, then written again without mirroring; must be copied again |
//!
//! Blocks that must be copied and are not in flight are *pending*. Pending
//! blocks are kept in a bitmap with summary levels above it (one bit per
//! 64-bit word of the level below), so [`BlockMap::next_pending`] and
//! [`BlockMap::prev_pending`] cost O(log64 n) word operations: 4 levels for
//! the 16 M blocks of a 1 TB source in 64 KiB blocks.
//!
//! The map lives in storage handed in by the caller (`KVec<u64>` in the
//! kernel, `Vec<u64>` in userspace); [`BlockMap::words_needed`] says how much.

use crate::policy::copyrun::CopyRun;
use core::fmt;
use core::ops::{Deref, DerefMut};

/// Maximum number of bitmap levels (64^11 > 2^64, so any `u64` block count fits).
const MAX_LEVELS: usize = 12;

/// State of one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockState {
    /// Never copied to the destination.
    Unmigrated,
    /// A copy is in flight.
    InFlight,
    /// Copied; the destination is up to date.
    Migrated,
    /// Copied before, written since without mirroring: must be copied again.
    Dirty,
}

impl BlockState {
    /// Whether a block in this state still has to be copied (and is not in flight).
    pub const fn is_pending(self) -> bool {
        matches!(self, BlockState::Unmigrated | BlockState::Dirty)
    }
}

/// Errors of the map operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The block number is not below the number of blocks.
    OutOfRange,
    /// [`BlockMap::mark_in_flight`] on a block that is not pending.
    NotPending,
    /// [`BlockMap::complete`] on a block that is not in flight.
    NotInFlight,
}

impl MapError {
    /// Short message for logs.
    pub const fn message(self) -> &'static str {
        match self {
            MapError::OutOfRange => "Block out of range",
            MapError::NotPending => "Block is not pending",
            MapError::NotInFlight => "Block is not in flight",
        }
    }
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// Word layout of a map of a given size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Layout {
    nr_blocks: u64,
    /// Number of levels of the pending hierarchy (level 0 = one bit per block).
    levels: usize,
    /// Word offset of each pending level in the storage.
    level_off: [usize; MAX_LEVELS],
    /// Number of words of each pending level.
    level_words: [usize; MAX_LEVELS],
    /// Number of words of one flat bitmap (level 0 size).
    flat_words: usize,
    /// Word offsets of the in-flight, copied-once and redirtied bitmaps.
    inflight_off: usize,
    copied_off: usize,
    redirty_off: usize,
    total: usize,
}

impl Layout {
    fn new(nr_blocks: u64) -> Option<Self> {
        if nr_blocks == 0 {
            return None;
        }
        let mut level_off = [0usize; MAX_LEVELS];
        let mut level_words = [0usize; MAX_LEVELS];
        let mut bits = nr_blocks;
        let mut off = 0usize;
        let mut levels = 0usize;
        loop {
            let words = usize::try_from(bits.div_ceil(64)).ok()?;
            *level_off.get_mut(levels)? = off;
            *level_words.get_mut(levels)? = words;
            off = off.checked_add(words)?;
            levels = levels.checked_add(1)?;
            if words == 1 {
                break;
            }
            bits = u64::try_from(words).ok()?;
        }
        let flat_words = *level_words.first()?;
        let inflight_off = off;
        let copied_off = inflight_off.checked_add(flat_words)?;
        let redirty_off = copied_off.checked_add(flat_words)?;
        let total = redirty_off.checked_add(flat_words)?;
        Some(Self {
            nr_blocks,
            levels,
            level_off,
            level_words,
            flat_words,
            inflight_off,
            copied_off,
            redirty_off,
            total,
        })
    }
}

/// Word index and bit mask of bit `i` in a flat bitmap.
fn split(i: u64) -> Option<(usize, u64)> {
    let w = usize::try_from(i / 64).ok()?;
    Some((w, 1u64 << (i % 64)))
}

/// Migration map over caller storage `S` (a slice of `u64` words).
#[derive(Clone)]
pub struct BlockMap<S> {
    words: S,
    layout: Layout,
    nr_pending: u64,
    nr_unmigrated: u64,
    nr_dirty: u64,
    nr_inflight: u64,
    nr_migrated: u64,
    /// Changes whenever a migrated block becomes dirty.
    dirty_generation: u64,
}

impl<S> BlockMap<S> {
    /// Everything but the dirty generation, which only counts events: two
    /// maps that differ in it alone behave alike (the interleaving checker
    /// merges them).
    #[allow(clippy::type_complexity)]
    fn key(&self) -> (&S, &Layout, [u64; 5]) {
        (
            &self.words,
            &self.layout,
            [
                self.nr_pending,
                self.nr_unmigrated,
                self.nr_dirty,
                self.nr_inflight,
                self.nr_migrated,
            ],
        )
    }
}

impl<S: PartialEq> PartialEq for BlockMap<S> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl<S: Eq> Eq for BlockMap<S> {}

impl<S: core::hash::Hash> core::hash::Hash for BlockMap<S> {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        self.key().hash(h);
    }
}

impl<S> fmt::Debug for BlockMap<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockMap")
            .field("nr_blocks", &self.layout.nr_blocks)
            .field("pending", &self.nr_pending)
            .field("unmigrated", &self.nr_unmigrated)
            .field("dirty", &self.nr_dirty)
            .field("in_flight", &self.nr_inflight)
            .field("migrated", &self.nr_migrated)
            .finish()
    }
}

impl<S> BlockMap<S> {
    /// Number of `u64` words of storage a map of `nr_blocks` blocks needs, or
    /// `None` when `nr_blocks` is 0 or the size does not fit in `usize`.
    pub fn words_needed(nr_blocks: u64) -> Option<usize> {
        Layout::new(nr_blocks).map(|l| l.total)
    }

    /// Number of blocks.
    pub const fn nr_blocks(&self) -> u64 {
        self.layout.nr_blocks
    }

    /// Number of pending blocks (unmigrated or dirty, not in flight).
    pub const fn nr_pending(&self) -> u64 {
        self.nr_pending
    }

    /// Number of blocks never copied and not in flight.
    pub const fn nr_unmigrated(&self) -> u64 {
        self.nr_unmigrated
    }

    /// Number of dirty-again blocks (not in flight).
    pub const fn nr_dirty(&self) -> u64 {
        self.nr_dirty
    }

    /// Number of blocks in flight.
    pub const fn nr_in_flight(&self) -> u64 {
        self.nr_inflight
    }

    /// Number of migrated blocks (destination up to date).
    pub const fn nr_migrated(&self) -> u64 {
        self.nr_migrated
    }

    /// Changes (wrapping) whenever a migrated block becomes dirty: a
    /// complete copy seen with another generation is a new one.
    pub const fn dirty_generation(&self) -> u64 {
        self.dirty_generation
    }

    /// True when every block is migrated: the destination is a full copy.
    pub const fn is_synced(&self) -> bool {
        self.nr_migrated == self.layout.nr_blocks
    }

    /// Give the storage back.
    pub fn into_storage(self) -> S {
        self.words
    }
}

impl<S: Deref<Target = [u64]>> BlockMap<S> {
    fn word(&self, idx: usize) -> u64 {
        self.words.get(idx).copied().unwrap_or(0)
    }

    fn flat_bit(&self, off: usize, block: u64) -> bool {
        match split(block) {
            Some((w, m)) => match off.checked_add(w) {
                Some(idx) => self.word(idx) & m != 0,
                None => false,
            },
            None => false,
        }
    }

    fn level_word(&self, level: usize, w: usize) -> u64 {
        let (Some(&off), Some(&n)) = (
            self.layout.level_off.get(level),
            self.layout.level_words.get(level),
        ) else {
            return 0;
        };
        if w >= n {
            return 0;
        }
        match off.checked_add(w) {
            Some(idx) => self.word(idx),
            None => 0,
        }
    }

    /// State of `block`, or `None` when it is out of range.
    pub fn state(&self, block: u64) -> Option<BlockState> {
        if block >= self.layout.nr_blocks {
            return None;
        }
        let copied = self.flat_bit(self.layout.copied_off, block);
        Some(if self.flat_bit(self.layout.inflight_off, block) {
            BlockState::InFlight
        } else if self.flat_bit(self.layout.level_off[0], block) {
            if copied {
                BlockState::Dirty
            } else {
                BlockState::Unmigrated
            }
        } else {
            BlockState::Migrated
        })
    }

    /// Whether an in-flight block was written during its copy (it will become
    /// dirty when the copy completes).
    pub fn is_redirtied(&self, block: u64) -> bool {
        block < self.layout.nr_blocks && self.flat_bit(self.layout.redirty_off, block)
    }

    /// First pending block at or after `from`, if any.
    pub fn next_pending(&self, from: u64) -> Option<u64> {
        if from >= self.layout.nr_blocks {
            return None;
        }
        let top = self.layout.levels.checked_sub(1)?;
        let mut idx = from;
        let mut level = 0usize;
        // Ascend until a word with a set bit at or after `idx` is found.
        loop {
            let w = usize::try_from(idx / 64).ok()?;
            let masked = self.level_word(level, w) & (u64::MAX << (idx % 64));
            if masked != 0 {
                let base = u64::try_from(w).ok()?.checked_mul(64)?;
                idx = base.checked_add(u64::from(masked.trailing_zeros()))?;
                break;
            }
            if level >= top {
                return None;
            }
            // Bit `w + 1` of the level above stands for word `w + 1` here.
            let next = w.checked_add(1)?;
            if next >= *self.layout.level_words.get(level)? {
                return None;
            }
            idx = u64::try_from(next).ok()?;
            level = level.checked_add(1)?;
        }
        // Descend: take the lowest set bit of each word below.
        while level > 0 {
            level = level.checked_sub(1)?;
            let w = usize::try_from(idx).ok()?;
            let word = self.level_word(level, w);
            if word == 0 {
                return None; // broken invariant; never panic
            }
            idx = idx
                .checked_mul(64)?
                .checked_add(u64::from(word.trailing_zeros()))?;
        }
        (idx < self.layout.nr_blocks).then_some(idx)
    }

    /// Last pending block at or before `from`, if any (`from` beyond the end
    /// searches from the last block).
    pub fn prev_pending(&self, from: u64) -> Option<u64> {
        let from = from.min(self.layout.nr_blocks.checked_sub(1)?);
        let top = self.layout.levels.checked_sub(1)?;
        let mut idx = from;
        let mut level = 0usize;
        loop {
            let w = usize::try_from(idx / 64).ok()?;
            let masked = self.level_word(level, w) & (u64::MAX >> 63u64.saturating_sub(idx % 64));
            if masked != 0 {
                let base = u64::try_from(w).ok()?.checked_mul(64)?;
                idx = base.checked_add(u64::from(63u32.saturating_sub(masked.leading_zeros())))?;
                break;
            }
            if level >= top || w == 0 {
                return None;
            }
            idx = u64::try_from(w.checked_sub(1)?).ok()?;
            level = level.checked_add(1)?;
        }
        while level > 0 {
            level = level.checked_sub(1)?;
            let w = usize::try_from(idx).ok()?;
            let word = self.level_word(level, w);
            if word == 0 {
                return None;
            }
            idx = idx
                .checked_mul(64)?
                .checked_add(u64::from(63u32.saturating_sub(word.leading_zeros())))?;
        }
        (idx < self.layout.nr_blocks).then_some(idx)
    }

    /// Pending block nearest to `block` in either direction; on a tie the one
    /// at or after `block` wins.
    pub fn nearest_pending(&self, block: u64) -> Option<u64> {
        let block = block.min(self.layout.nr_blocks.checked_sub(1)?);
        let fwd = self.next_pending(block);
        let back = match block.checked_sub(1) {
            Some(c) => self.prev_pending(c),
            None => None,
        };
        match (fwd, back) {
            (Some(f), Some(b)) => {
                if f.abs_diff(block) <= block.abs_diff(b) {
                    Some(f)
                } else {
                    Some(b)
                }
            }
            (f, b) => f.or(b),
        }
    }
}

impl<S: DerefMut<Target = [u64]>> BlockMap<S> {
    /// Build a map of `nr_blocks` blocks, all [`BlockState::Unmigrated`], in
    /// `storage`. Returns `None` when `nr_blocks` is 0 or `storage` holds
    /// fewer than [`BlockMap::words_needed`] words. The storage is overwritten.
    pub fn new(storage: S, nr_blocks: u64) -> Option<Self> {
        let layout = Layout::new(nr_blocks)?;
        if storage.len() < layout.total {
            return None;
        }
        let mut map = Self {
            words: storage,
            layout,
            nr_pending: 0,
            nr_unmigrated: 0,
            nr_dirty: 0,
            nr_inflight: 0,
            nr_migrated: 0,
            dirty_generation: 0,
        };
        map.reset();
        Some(map)
    }

    /// Grows a copy run whose first block is already in flight: marks the
    /// following blocks in flight, up to `run.blocks` in all, until one that
    /// is not pending or is `blocked`. Returns the run as marked.
    pub fn extend_run(&mut self, run: CopyRun, blocked: impl Fn(u64) -> bool) -> CopyRun {
        let mut blocks = 1u32;
        while blocks < run.blocks {
            let Some(block) = run.first.checked_add(u64::from(blocks)) else {
                break;
            };
            if blocked(block)
                || !self.state(block).is_some_and(BlockState::is_pending)
                || self.mark_in_flight(block).is_err()
            {
                break;
            }
            blocks = blocks.saturating_add(1);
        }
        CopyRun {
            first: run.first,
            blocks,
        }
    }

    /// Mark every block [`BlockState::Unmigrated`] again (start over).
    pub fn reset(&mut self) {
        let total = self.layout.total;
        for w in self.words.iter_mut().take(total) {
            *w = 0;
        }
        // Fill every pending level with ones for exactly the valid bits.
        let mut bits = self.layout.nr_blocks;
        for level in 0..self.layout.levels {
            let (Some(&off), Some(&n)) = (
                self.layout.level_off.get(level),
                self.layout.level_words.get(level),
            ) else {
                break;
            };
            let full = usize::try_from(bits / 64).unwrap_or(usize::MAX).min(n);
            let rem = bits % 64;
            for w in 0..n {
                let val = if w < full {
                    u64::MAX
                } else if w == full && rem != 0 {
                    (1u64 << rem).wrapping_sub(1)
                } else {
                    0
                };
                if let Some(slot) = off.checked_add(w).and_then(|i| self.words.get_mut(i)) {
                    *slot = val;
                }
            }
            bits = u64::try_from(n).unwrap_or(u64::MAX);
        }
        self.nr_pending = self.layout.nr_blocks;
        self.nr_unmigrated = self.layout.nr_blocks;
        self.nr_dirty = 0;
        self.nr_inflight = 0;
        self.nr_migrated = 0;
    }

    fn set_flat(&mut self, off: usize, block: u64, on: bool) {
        if let Some((w, m)) = split(block) {
            if let Some(slot) = off.checked_add(w).and_then(|i| self.words.get_mut(i)) {
                if on {
                    *slot |= m;
                } else {
                    *slot &= !m;
                }
            }
        }
    }

    /// Set or clear the pending bit of `block` and keep the summary levels.
    fn set_pending_bit(&mut self, block: u64, on: bool) {
        let mut idx = block;
        for level in 0..self.layout.levels {
            let (Some(&off), Some(&n)) = (
                self.layout.level_off.get(level),
                self.layout.level_words.get(level),
            ) else {
                return;
            };
            let Some((w, m)) = split(idx) else { return };
            if w >= n {
                return;
            }
            let Some(slot) = off.checked_add(w).and_then(|i| self.words.get_mut(i)) else {
                return;
            };
            let before = *slot;
            if on {
                *slot |= m;
                if before != 0 {
                    return; // the summary bit above is already set
                }
            } else {
                *slot &= !m;
                if *slot != 0 {
                    return; // the word still has pending bits
                }
            }
            idx = u64::try_from(w).unwrap_or(u64::MAX);
        }
    }

    /// Start a copy of a pending block: it becomes [`BlockState::InFlight`].
    pub fn mark_in_flight(&mut self, block: u64) -> Result<(), MapError> {
        let state = self.state(block).ok_or(MapError::OutOfRange)?;
        match state {
            BlockState::Unmigrated => {
                self.nr_unmigrated = self.nr_unmigrated.saturating_sub(1);
            }
            BlockState::Dirty => {
                self.nr_dirty = self.nr_dirty.saturating_sub(1);
            }
            BlockState::InFlight | BlockState::Migrated => return Err(MapError::NotPending),
        }
        self.nr_pending = self.nr_pending.saturating_sub(1);
        self.nr_inflight = self.nr_inflight.saturating_add(1);
        self.set_pending_bit(block, false);
        self.set_flat(self.layout.inflight_off, block, true);
        self.set_flat(self.layout.redirty_off, block, false);
        Ok(())
    }

    /// Finish the copy of an in-flight block. With `ok` the block becomes
    /// [`BlockState::Migrated`], or [`BlockState::Dirty`] when it was written
    /// during the copy; without `ok` it becomes pending again (unmigrated or
    /// dirty, as before the copy). Returns the new state.
    pub fn complete(&mut self, block: u64, ok: bool) -> Result<BlockState, MapError> {
        if self.state(block).ok_or(MapError::OutOfRange)? != BlockState::InFlight {
            return Err(MapError::NotInFlight);
        }
        let redirtied = self.flat_bit(self.layout.redirty_off, block);
        let was_copied = self.flat_bit(self.layout.copied_off, block);
        self.set_flat(self.layout.inflight_off, block, false);
        self.set_flat(self.layout.redirty_off, block, false);
        self.nr_inflight = self.nr_inflight.saturating_sub(1);
        let new = if ok && !redirtied {
            self.set_flat(self.layout.copied_off, block, true);
            self.nr_migrated = self.nr_migrated.saturating_add(1);
            BlockState::Migrated
        } else {
            let dirty = (ok && redirtied) || was_copied;
            if dirty {
                self.set_flat(self.layout.copied_off, block, true);
                self.nr_dirty = self.nr_dirty.saturating_add(1);
            } else {
                self.nr_unmigrated = self.nr_unmigrated.saturating_add(1);
            }
            self.nr_pending = self.nr_pending.saturating_add(1);
            self.set_pending_bit(block, true);
            if dirty {
                BlockState::Dirty
            } else {
                BlockState::Unmigrated
            }
        };
        Ok(new)
    }

    /// A block that a durable checkpoint of an earlier table recorded as
    /// migrated (a resumed migration): an unmigrated block becomes
    /// [`BlockState::Migrated`]; any other state stays (a copy in flight
    /// completes as it would). Returns the new state.
    pub fn restore_migrated(&mut self, block: u64) -> Result<BlockState, MapError> {
        let state = self.state(block).ok_or(MapError::OutOfRange)?;
        if state != BlockState::Unmigrated {
            return Ok(state);
        }
        self.nr_unmigrated = self.nr_unmigrated.saturating_sub(1);
        self.nr_pending = self.nr_pending.saturating_sub(1);
        self.nr_migrated = self.nr_migrated.saturating_add(1);
        self.set_pending_bit(block, false);
        self.set_flat(self.layout.copied_off, block, true);
        Ok(BlockState::Migrated)
    }

    /// Account a VM write to `block` that is mirrored to the destination
    /// (written to both devices). A migrated block stays migrated, a pending
    /// block stays pending, and an in-flight block is flagged so that it
    /// becomes dirty (copied once more) when its copy completes, because the
    /// copy may have read the old data. Returns the current state.
    pub fn mark_written(&mut self, block: u64) -> Result<BlockState, MapError> {
        let state = self.state(block).ok_or(MapError::OutOfRange)?;
        if state == BlockState::InFlight {
            self.set_flat(self.layout.redirty_off, block, true);
        }
        Ok(state)
    }

    /// Account a VM write to `block` that was *not* mirrored (for instance
    /// because the destination write failed): a migrated block becomes
    /// [`BlockState::Dirty`] and will be selected again; an in-flight block
    /// is flagged as by [`BlockMap::mark_written`]. Returns the new state.
    pub fn mark_dirty(&mut self, block: u64) -> Result<BlockState, MapError> {
        let state = self.state(block).ok_or(MapError::OutOfRange)?;
        match state {
            BlockState::Migrated => {
                self.nr_migrated = self.nr_migrated.saturating_sub(1);
                self.nr_dirty = self.nr_dirty.saturating_add(1);
                self.nr_pending = self.nr_pending.saturating_add(1);
                self.dirty_generation = self.dirty_generation.wrapping_add(1);
                self.set_pending_bit(block, true);
                Ok(BlockState::Dirty)
            }
            BlockState::InFlight => {
                self.set_flat(self.layout.redirty_off, block, true);
                Ok(BlockState::InFlight)
            }
            other => Ok(other),
        }
    }

    /// Make every migrated block [`BlockState::Dirty`] (the destination lost
    /// what it held in a volatile cache). One pass over the flat bitmaps,
    /// word by word; returns the number of blocks it changed.
    pub fn redirty_migrated(&mut self) -> u64 {
        let mut changed = 0u64;
        for w in 0..self.layout.flat_words {
            changed = changed.saturating_add(self.redirty_word(w, u64::MAX));
        }
        changed
    }

    /// Of the 64 blocks of flat word `w`, those in `mask`: a migrated one
    /// becomes [`BlockState::Dirty`], an in-flight one finishes its copy as
    /// dirty (as [`BlockMap::mark_dirty`]). Returns how many migrated blocks
    /// it made dirty.
    pub fn redirty_word(&mut self, w: usize, mask: u64) -> u64 {
        let l = self.layout;
        let (Some(&pend_off), true) = (l.level_off.first(), w < l.flat_words) else {
            return 0;
        };
        let word = |s: &Self, off: usize| off.checked_add(w).map_or(0, |i| s.word(i));
        let inflight = word(self, l.inflight_off) & mask;
        if inflight != 0 {
            if let Some(slot) = l
                .redirty_off
                .checked_add(w)
                .and_then(|i| self.words.get_mut(i))
            {
                *slot |= inflight;
            }
        }
        let migrated =
            word(self, l.copied_off) & !word(self, l.inflight_off) & !word(self, pend_off) & mask;
        if migrated == 0 {
            return 0;
        }
        let base = u64::try_from(w).unwrap_or(u64::MAX).saturating_mul(64);
        // The first bit goes through set_pending_bit, which keeps the summary
        // levels; the others join a word that is already non-zero.
        self.set_pending_bit(
            base.saturating_add(u64::from(migrated.trailing_zeros())),
            true,
        );
        if let Some(slot) = pend_off.checked_add(w).and_then(|i| self.words.get_mut(i)) {
            *slot |= migrated;
        }
        let n = u64::from(migrated.count_ones());
        self.nr_migrated = self.nr_migrated.saturating_sub(n);
        self.nr_dirty = self.nr_dirty.saturating_add(n);
        self.nr_pending = self.nr_pending.saturating_add(n);
        self.dirty_generation = self.dirty_generation.wrapping_add(1);
        n
    }

    /// Every in-flight block finishes its copy as dirty: whatever its copy
    /// writes to the destination from now on may be lost.
    pub fn redirty_in_flight(&mut self) {
        let l = self.layout;
        for w in 0..l.flat_words {
            let inflight = l.inflight_off.checked_add(w).map_or(0, |i| self.word(i));
            if inflight != 0 {
                if let Some(slot) = l
                    .redirty_off
                    .checked_add(w)
                    .and_then(|i| self.words.get_mut(i))
                {
                    *slot |= inflight;
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn map(n: u64) -> BlockMap<Vec<u64>> {
        let w = BlockMap::<Vec<u64>>::words_needed(n).unwrap();
        BlockMap::new(vec![0xdead_beef; w], n).unwrap()
    }

    #[test]
    fn sizes() {
        assert_eq!(BlockMap::<Vec<u64>>::words_needed(0), None);
        assert_eq!(BlockMap::<Vec<u64>>::words_needed(1), Some(4));
        assert_eq!(BlockMap::<Vec<u64>>::words_needed(64), Some(4));
        assert_eq!(BlockMap::<Vec<u64>>::words_needed(65), Some(2 + 1 + 6));
        // 1 TB in 1 MiB blocks: 2^20 blocks -> 16384 + 256 + 4 + 1 + 3 * 16384
        assert_eq!(
            BlockMap::<Vec<u64>>::words_needed(1 << 20),
            Some(16384 + 256 + 4 + 1 + 3 * 16384)
        );
        let _ = BlockMap::<Vec<u64>>::words_needed(u64::MAX);
        assert!(BlockMap::new(vec![0u64; 3], 1).is_none());
    }

    #[test]
    fn lifecycle() {
        let mut m = map(200);
        assert_eq!(m.nr_pending(), 200);
        assert_eq!(m.next_pending(0), Some(0));
        assert_eq!(m.prev_pending(1000), Some(199));
        m.mark_in_flight(5).unwrap();
        assert_eq!(m.state(5), Some(BlockState::InFlight));
        assert_eq!(m.mark_in_flight(5), Err(MapError::NotPending));
        assert_eq!(m.complete(5, true), Ok(BlockState::Migrated));
        assert_eq!(m.complete(5, true), Err(MapError::NotInFlight));
        assert_eq!(m.mark_written(5), Ok(BlockState::Migrated));
        assert_eq!(m.mark_dirty(5), Ok(BlockState::Dirty));
        assert_eq!(m.nr_dirty(), 1);
        m.mark_in_flight(5).unwrap();
        m.mark_written(5).unwrap();
        assert!(m.is_redirtied(5));
        assert_eq!(m.complete(5, true), Ok(BlockState::Dirty));
        m.mark_in_flight(5).unwrap();
        assert_eq!(m.complete(5, false), Ok(BlockState::Dirty));
        m.mark_in_flight(6).unwrap();
        assert_eq!(m.complete(6, false), Ok(BlockState::Unmigrated));
        assert_eq!(m.state(200), None);
        assert_eq!(m.mark_in_flight(200), Err(MapError::OutOfRange));
    }

    #[test]
    fn restored_blocks_are_migrated_and_behave_as_copied_ones() {
        let mut m = map(300);
        m.mark_in_flight(7).unwrap();
        for b in [0, 7, 64, 65, 299] {
            m.restore_migrated(b).unwrap();
        }
        // A copy in flight completes as it would.
        assert_eq!(m.state(7), Some(BlockState::InFlight));
        assert_eq!(m.restore_migrated(64), Ok(BlockState::Migrated));
        assert_eq!(m.restore_migrated(300), Err(MapError::OutOfRange));
        assert_eq!(
            (m.nr_migrated(), m.nr_pending(), m.nr_unmigrated()),
            (4, 295, 295)
        );
        // The summary levels skip them.
        assert_eq!(m.next_pending(64), Some(66));
        assert_eq!(m.prev_pending(299), Some(298));
        // A write not mirrored makes a restored block dirty, as a copied one.
        assert_eq!(m.mark_dirty(65), Ok(BlockState::Dirty));
        assert_eq!(m.next_pending(64), Some(65));
        // Restoring every block is a complete copy.
        let mut m = map(130);
        for b in 0..130 {
            m.restore_migrated(b).unwrap();
        }
        assert!(m.is_synced());
        assert_eq!(m.nearest_pending(64), None);
    }

    #[test]
    fn full_migration() {
        let mut m = map(130);
        while let Some(c) = m.next_pending(0) {
            m.mark_in_flight(c).unwrap();
            m.complete(c, true).unwrap();
        }
        assert!(m.is_synced());
        assert_eq!(m.prev_pending(129), None);
        assert_eq!(m.nearest_pending(64), None);
        m.reset();
        assert_eq!(m.nr_pending(), 130);
        assert_eq!(m.nearest_pending(64), Some(64));
    }

    #[test]
    fn nearest_tie_goes_forward() {
        let mut m = map(10);
        for c in 0..10 {
            if c != 3 && c != 7 {
                m.mark_in_flight(c).unwrap();
            }
        }
        assert_eq!(m.nearest_pending(5), Some(7));
        assert_eq!(m.nearest_pending(4), Some(3));
        assert_eq!(m.nearest_pending(100), Some(7));
    }
}
