// SPDX-License-Identifier: GPL-2.0

//! Which blocks the migration-aware cache holds, where, and which goes first.
//!
//! A [`LivenessIndex`] orders the entries; an open-addressing table (linear
//! probing, deletion by backward shift, no tombstones) finds a block's entry
//! slot. Both live in caller storage sized once by [`CacheIndex::table_len`],
//! so nothing here allocates and every operation is O(log n) at worst. The
//! caller keeps the cached bytes in its own array indexed by the same `u32`
//! slots: a slot is handed out by [`CacheIndex::insert`] and is free again
//! after [`CacheIndex::remove`], [`CacheIndex::evict`] or an eviction that
//! `insert` reports (the new entry then reuses the evicted one's slot).

use crate::policy::liveness::{Eviction, LiveEntry, LivenessIndex, LivenessParams};
use core::ops::DerefMut;

const EMPTY: u32 = u32::MAX;

/// What [`CacheIndex::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheInsert {
    /// Slot of the new entry: its bytes go there.
    pub slot: u32,
    /// The block evicted to make room; its bytes were in `slot`.
    pub evicted: Option<u64>,
}

/// The cache's bookkeeping over an entry arena `A` and a lookup table `T`.
#[derive(Debug)]
pub struct CacheIndex<A, T> {
    live: LivenessIndex<A>,
    table: T,
    mask: u64,
}

impl<A, T> CacheIndex<A, T>
where
    A: DerefMut<Target = [LiveEntry]>,
    T: DerefMut<Target = [u32]>,
{
    /// Lookup table length for `entries` entries: a power of two, at least
    /// twice the entries (probes stay short at half load). `None` on overflow.
    pub fn table_len(entries: u32) -> Option<usize> {
        let twice = u64::from(entries).checked_mul(2)?.max(2);
        usize::try_from(twice.checked_next_power_of_two()?).ok()
    }

    /// An empty cache of `arena.len()` entries; `table` must be
    /// [`CacheIndex::table_len`] long for it (else `None`).
    pub fn new(arena: A, mut table: T, params: LivenessParams) -> Option<Self> {
        let entries = u32::try_from(arena.len()).ok()?;
        if Some(table.len()) != Self::table_len(entries) {
            return None;
        }
        table.fill(EMPTY);
        let mask = u64::try_from(table.len()).ok()?.checked_sub(1)?;
        Some(Self {
            live: LivenessIndex::new(arena, params),
            table,
            mask,
        })
    }

    /// Entries at most.
    pub const fn capacity(&self) -> u32 {
        self.live.capacity()
    }

    /// Entries now.
    pub const fn len(&self) -> u32 {
        self.live.len()
    }

    /// True when nothing is cached.
    pub const fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Sets the eviction order.
    pub fn set_eviction(&mut self, eviction: Eviction) {
        self.live.set_eviction(eviction);
    }

    /// The eviction order in force.
    pub const fn eviction(&self) -> Eviction {
        self.live.eviction()
    }

    /// The block held in `slot`, if any.
    pub fn block(&self, slot: u32) -> Option<u64> {
        self.live.chunk(slot)
    }

    fn home(&self, block: u64) -> u64 {
        // Fibonacci hashing: the high bits of the product are well mixed.
        (block.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) & self.mask
    }

    fn at(&self, pos: u64) -> u32 {
        usize::try_from(pos)
            .ok()
            .and_then(|p| self.table.get(p).copied())
            .unwrap_or(EMPTY)
    }

    fn set_at(&mut self, pos: u64, slot: u32) {
        if let Some(e) = usize::try_from(pos)
            .ok()
            .and_then(|p| self.table.get_mut(p))
        {
            *e = slot;
        }
    }

    /// Table position holding `block`, if cached.
    fn position(&self, block: u64) -> Option<u64> {
        let mut pos = self.home(block);
        // The table is never full (twice the entries): an empty cell ends the probe.
        for _ in 0..=self.mask {
            let slot = self.at(pos);
            if slot == EMPTY {
                return None;
            }
            if self.live.chunk(slot) == Some(block) {
                return Some(pos);
            }
            pos = pos.wrapping_add(1) & self.mask;
        }
        None
    }

    /// The slot caching `block`, if any.
    pub fn lookup(&self, block: u64) -> Option<u32> {
        self.position(block).map(|pos| self.at(pos))
    }

    /// Accounts a hit on `slot` at `head_distance` blocks from the head.
    pub fn touch(&mut self, slot: u32, head_distance: u64) {
        self.live.touch(slot, head_distance);
    }

    /// Caches `block` (migrated) at `head_distance` blocks from the head,
    /// evicting the least-live entry when full. A block already cached is
    /// removed first: its old bytes are stale. `None` when the capacity is 0.
    /// The new entry's bytes replace whatever the caller kept in its slot.
    pub fn insert(&mut self, block: u64, head_distance: u64) -> Option<CacheInsert> {
        if self.capacity() == 0 {
            return None;
        }
        let _ = self.remove(block);
        let evicted = if self.len() >= self.capacity() {
            Some(self.evict()?.1)
        } else {
            None
        };
        let slot = self.live.insert(block, true, head_distance)?.slot;
        let mut pos = self.home(block);
        // Never full (twice the entries): the probe ends at an empty cell.
        for _ in 0..=self.mask {
            if self.at(pos) == EMPTY {
                break;
            }
            pos = pos.wrapping_add(1) & self.mask;
        }
        self.set_at(pos, slot);
        Some(CacheInsert { slot, evicted })
    }

    /// Drops `block` from the cache; returns the slot that held its bytes.
    pub fn remove(&mut self, block: u64) -> Option<u32> {
        let pos = self.position(block)?;
        let slot = self.at(pos);
        self.delete_at(pos);
        self.live.remove(slot)?;
        Some(slot)
    }

    /// Evicts the least-live entry (memory pressure): its slot and block.
    pub fn evict(&mut self) -> Option<(u32, u64)> {
        let (_, block) = self.live.least_live()?;
        // Unlinked while the entry still names its block (the probe needs it).
        if let Some(pos) = self.position(block) {
            self.delete_at(pos);
        }
        self.live.evict()
    }

    /// Forgets every entry.
    pub fn clear(&mut self) {
        self.table.fill(EMPTY);
        self.live.clear();
    }

    /// Empties cell `pos` and shifts the following cells of the probe run
    /// back, so every entry stays reachable from its home without tombstones.
    fn delete_at(&mut self, mut hole: u64) {
        let mut pos = hole;
        loop {
            pos = pos.wrapping_add(1) & self.mask;
            let slot = self.at(pos);
            if slot == EMPTY {
                break;
            }
            let Some(block) = self.live.chunk(slot) else {
                break;
            };
            let home = self.home(block);
            // Move the entry at `pos` into the hole unless its home lies
            // cyclically in (hole, pos].
            let dist_home = pos.wrapping_sub(home) & self.mask;
            let dist_hole = pos.wrapping_sub(hole) & self.mask;
            if dist_home >= dist_hole {
                self.set_at(hole, slot);
                hole = pos;
            }
        }
        self.set_at(hole, EMPTY);
    }
}
