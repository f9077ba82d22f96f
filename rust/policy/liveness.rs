// SPDX-License-Identifier: GPL-2.0

//! Liveness ordering for the migration-aware block cache (MABCM, Algorithm 2).
//!
//! Every cached chunk has a *liveness*: how much it is still worth keeping.
//! The paper names three inputs: whether the chunk is already migrated, how
//! long it has been cached, and the chance that the VM will access it soon.
//! This index computes, in integer arithmetic,
//!
//! ```text
//! value = (migrated ? migrated_value : unmigrated_value)
//!       + hit_value * min(hits, max_hits)
//!       + near_value * radius / (radius + distance from the head in chunks)
//! key   = clock + value
//! ```
//!
//! at insertion and at every hit, and evicts the entry with the smallest key.
//! `clock` rises to the key of every evicted entry (GreedyDual aging), so an
//! entry that is not touched loses liveness relative to newer ones the longer
//! it stays: time in cache counts without touching every entry.
//!
//! For ablations the same index orders by recency alone ([`Eviction::Lru`]):
//! the key is then a counter bumped at every insertion and hit, so the least
//! recently used entry goes first.
//!
//! The entries live in a caller-provided arena of [`LiveEntry`] (like
//! dm-cache-policy-smq's entry space): slots are stable `u32` indices the
//! caller uses for its own data, a binary min-heap threads through the same
//! arena, so insertion, hit, removal and eviction are O(log n) and finding the
//! least-live entry is O(1). The index never holds more entries than the
//! arena has slots. Looking a chunk up by number is the caller's business
//! (an XArray in the kernel, a hash map in the simulator).

use core::ops::DerefMut;

const NONE: u32 = u32::MAX;

/// One slot of the arena. Create the arena with [`LiveEntry::EMPTY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveEntry {
    chunk: u64,
    key: u64,
    hits: u32,
    migrated: bool,
    /// Heap position of this entry, `NONE` when the slot is free.
    pos: u32,
    /// Entry slot stored at heap position == this slot's index.
    heap: u32,
    /// Next free slot while this slot is free.
    next_free: u32,
}

impl LiveEntry {
    /// An unused slot.
    pub const EMPTY: LiveEntry = LiveEntry {
        chunk: 0,
        key: 0,
        hits: 0,
        migrated: false,
        pos: NONE,
        heap: NONE,
        next_free: NONE,
    };
}

impl Default for LiveEntry {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// Tunables of the liveness function (integer units).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LivenessParams {
    /// Base value of a chunk already migrated (it can only serve VM reads).
    pub migrated_value: u64,
    /// Base value of a chunk not yet migrated (it can also save the migration a read).
    pub unmigrated_value: u64,
    /// Value of each hit, counted up to `max_hits`.
    pub hit_value: u64,
    /// Hits counted at most.
    pub max_hits: u32,
    /// Value of a chunk right under the head, decaying with distance.
    pub near_value: u64,
    /// Distance in chunks at which the proximity value halves.
    pub radius: u64,
}

impl Default for LivenessParams {
    fn default() -> Self {
        Self {
            migrated_value: 1024,
            unmigrated_value: 4096,
            hit_value: 1024,
            max_hits: 8,
            near_value: 2048,
            radius: 64,
        }
    }
}

impl LivenessParams {
    /// The largest value [`LivenessParams::value`] can return.
    pub fn max_value(&self) -> u64 {
        self.migrated_value
            .max(self.unmigrated_value)
            .saturating_add(self.hit_value.saturating_mul(u64::from(self.max_hits)))
            .saturating_add(self.near_value)
    }

    /// Liveness value of a chunk with `hits` hits, `migrated` or not, at
    /// `head_distance` chunks from the head.
    pub fn value(&self, migrated: bool, hits: u32, head_distance: u64) -> u64 {
        let base = if migrated {
            self.migrated_value
        } else {
            self.unmigrated_value
        };
        let hits = u64::from(hits.min(self.max_hits));
        let near = self
            .near_value
            .saturating_mul(self.radius)
            .checked_div(self.radius.saturating_add(head_distance))
            .unwrap_or(0);
        base.saturating_add(self.hit_value.saturating_mul(hits))
            .saturating_add(near)
    }
}

/// Which entry an index evicts first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Eviction {
    /// The least live (module documentation): IOFollow's MABCM.
    #[default]
    Liveness,
    /// The least recently inserted or hit: plain LRU, the ablation baseline.
    Lru,
}

impl Eviction {
    /// Name as in the table line and messages.
    pub const fn name(self) -> &'static str {
        match self {
            Eviction::Liveness => "liveness",
            Eviction::Lru => "lru",
        }
    }

    /// Parse a name (ASCII case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("liveness") {
            Some(Eviction::Liveness)
        } else if name.eq_ignore_ascii_case("lru") {
            Some(Eviction::Lru)
        } else {
            None
        }
    }
}

/// Result of [`LivenessIndex::insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inserted {
    /// Slot of the new entry.
    pub slot: u32,
    /// Chunk evicted to make room (it was in the same slot), if any.
    pub evicted: Option<u64>,
}

/// Capacity-bounded liveness index over an arena `A` of [`LiveEntry`].
#[derive(Debug)]
pub struct LivenessIndex<A> {
    arena: A,
    cap: u32,
    len: u32,
    free: u32,
    clock: u64,
    params: LivenessParams,
    eviction: Eviction,
    /// Recency counter of [`Eviction::Lru`].
    tick: u64,
}

impl<A: DerefMut<Target = [LiveEntry]>> LivenessIndex<A> {
    /// An empty index using every slot of `arena` (at most `u32::MAX - 1`).
    pub fn new(arena: A, params: LivenessParams) -> Self {
        let cap = u32::try_from(arena.len()).unwrap_or(NONE - 1).min(NONE - 1);
        let mut idx = Self {
            arena,
            cap,
            len: 0,
            free: NONE,
            clock: 0,
            params,
            eviction: Eviction::Liveness,
            tick: 0,
        };
        idx.clear();
        idx
    }

    /// Forget every entry.
    pub fn clear(&mut self) {
        let cap = self.cap;
        for (i, e) in self.arena.iter_mut().enumerate() {
            *e = LiveEntry::EMPTY;
            let next = u32::try_from(i).ok().and_then(|i| i.checked_add(1));
            e.next_free = match next {
                Some(n) if n < cap => n,
                _ => NONE,
            };
        }
        self.free = if cap > 0 { 0 } else { NONE };
        self.len = 0;
        self.clock = 0;
        self.tick = 0;
    }

    /// Which entry goes first. Changing it re-keys nothing (O(1)): the
    /// entries keyed by the old order are all evicted before any entry keyed
    /// by the new one, in their old order, because the new keys start above
    /// every old key.
    pub fn set_eviction(&mut self, eviction: Eviction) {
        if eviction == self.eviction {
            return;
        }
        match eviction {
            // A liveness key is at most the clock plus the largest value.
            Eviction::Lru => {
                let top = self.clock.saturating_add(self.params.max_value());
                self.tick = self.tick.max(top);
            }
            // Every recency key is at most the tick.
            Eviction::Liveness => self.clock = self.clock.max(self.tick),
        }
        self.eviction = eviction;
    }

    /// The eviction order in force.
    pub const fn eviction(&self) -> Eviction {
        self.eviction
    }

    /// The key of an entry inserted or hit now.
    fn next_key(&mut self, migrated: bool, hits: u32, head_distance: u64) -> u64 {
        match self.eviction {
            Eviction::Liveness => {
                self.clock
                    .saturating_add(self.params.value(migrated, hits, head_distance))
            }
            Eviction::Lru => {
                self.tick = self.tick.saturating_add(1);
                self.tick
            }
        }
    }

    /// Maximum number of entries.
    pub const fn capacity(&self) -> u32 {
        self.cap
    }

    /// Number of entries.
    pub const fn len(&self) -> u32 {
        self.len
    }

    /// True when there is no entry.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The tunables.
    pub const fn params(&self) -> LivenessParams {
        self.params
    }

    /// Chunk held by `slot`, if the slot is in use.
    pub fn chunk(&self, slot: u32) -> Option<u64> {
        let e = self.entry(slot)?;
        (e.pos != NONE).then_some(e.chunk)
    }

    /// Current liveness key of `slot` (smaller is less live).
    pub fn key(&self, slot: u32) -> Option<u64> {
        let e = self.entry(slot)?;
        (e.pos != NONE).then_some(e.key)
    }

    /// Slot and chunk of the least-live entry.
    pub fn least_live(&self) -> Option<(u32, u64)> {
        let slot = self.heap_at(0)?;
        Some((slot, self.entry(slot)?.chunk))
    }

    fn entry(&self, slot: u32) -> Option<&LiveEntry> {
        self.arena.get(usize::try_from(slot).ok()?)
    }

    fn entry_mut(&mut self, slot: u32) -> Option<&mut LiveEntry> {
        self.arena.get_mut(usize::try_from(slot).ok()?)
    }

    fn heap_at(&self, pos: u32) -> Option<u32> {
        if pos >= self.len {
            return None;
        }
        let s = self.entry(pos)?.heap;
        (s != NONE).then_some(s)
    }

    fn key_at(&self, pos: u32) -> Option<u64> {
        let slot = self.heap_at(pos)?;
        Some(self.entry(slot)?.key)
    }

    fn place(&mut self, pos: u32, slot: u32) {
        if let Some(e) = self.entry_mut(pos) {
            e.heap = slot;
        }
        if let Some(e) = self.entry_mut(slot) {
            e.pos = pos;
        }
    }

    fn swap(&mut self, a: u32, b: u32) {
        let (Some(sa), Some(sb)) = (self.heap_at(a), self.heap_at(b)) else {
            return;
        };
        self.place(a, sb);
        self.place(b, sa);
    }

    fn sift_up(&mut self, mut pos: u32) {
        while pos > 0 {
            let parent = pos.saturating_sub(1) / 2;
            match (self.key_at(pos), self.key_at(parent)) {
                (Some(k), Some(pk)) if k < pk => {
                    self.swap(pos, parent);
                    pos = parent;
                }
                _ => break,
            }
        }
    }

    fn sift_down(&mut self, mut pos: u32) {
        loop {
            let Some(k) = self.key_at(pos) else { return };
            let left = pos.saturating_mul(2).saturating_add(1);
            let right = left.saturating_add(1);
            let mut best = pos;
            let mut best_key = k;
            for child in [left, right] {
                if let Some(ck) = self.key_at(child) {
                    if ck < best_key {
                        best = child;
                        best_key = ck;
                    }
                }
            }
            if best == pos {
                return;
            }
            self.swap(pos, best);
            pos = best;
        }
    }

    /// Restore the heap order around the entry at heap position `pos`
    /// after its key changed in either direction.
    fn fix(&mut self, pos: u32) {
        let Some(slot) = self.heap_at(pos) else {
            return;
        };
        self.sift_up(pos);
        if let Some(p) = self.entry(slot).map(|e| e.pos) {
            self.sift_down(p);
        }
    }

    /// Cache `chunk`. When the index is full the least-live entry is evicted
    /// first and its slot reused. `head_distance` is the chunk's distance
    /// from the disk head in chunks. Returns `None` only when the capacity is 0.
    pub fn insert(&mut self, chunk: u64, migrated: bool, head_distance: u64) -> Option<Inserted> {
        let mut evicted = None;
        if self.len >= self.cap {
            let (_slot, old) = self.evict()?;
            evicted = Some(old);
        }
        let slot = self.free;
        let next_free = self.entry(slot)?.next_free;
        self.free = next_free;
        let key = self.next_key(migrated, 0, head_distance);
        let pos = self.len;
        if let Some(e) = self.entry_mut(slot) {
            e.chunk = chunk;
            e.key = key;
            e.hits = 0;
            e.migrated = migrated;
            e.next_free = NONE;
        }
        self.len = self.len.saturating_add(1);
        self.place(pos, slot);
        self.sift_up(pos);
        Some(Inserted { slot, evicted })
    }

    /// Account a VM access to the cached chunk in `slot` (a hit), with its
    /// current distance from the head. Returns false for a free slot.
    pub fn touch(&mut self, slot: u32, head_distance: u64) -> bool {
        let Some(e) = self.entry(slot).copied() else {
            return false;
        };
        if e.pos == NONE {
            return false;
        }
        let hits = e.hits.saturating_add(1);
        let key = self.next_key(e.migrated, hits, head_distance);
        let Some(e) = self.entry_mut(slot) else {
            return false;
        };
        e.hits = hits;
        e.key = key;
        let pos = e.pos;
        self.fix(pos);
        true
    }

    /// Record that the chunk in `slot` was migrated (or dirtied again when
    /// `migrated` is false); its key is recomputed without a hit.
    pub fn set_migrated(&mut self, slot: u32, migrated: bool, head_distance: u64) -> bool {
        let clock = self.clock;
        let params = self.params;
        let lru = self.eviction == Eviction::Lru;
        let Some(e) = self.entry_mut(slot) else {
            return false;
        };
        if e.pos == NONE {
            return false;
        }
        e.migrated = migrated;
        if lru {
            // Not a use: the recency stays.
            return true;
        }
        e.key = clock.saturating_add(params.value(migrated, e.hits, head_distance));
        let pos = e.pos;
        self.fix(pos);
        true
    }

    /// Remove the entry in `slot`; returns its chunk.
    pub fn remove(&mut self, slot: u32) -> Option<u64> {
        let e = *self.entry(slot)?;
        if e.pos == NONE {
            return None;
        }
        let last = self.len.checked_sub(1)?;
        let pos = e.pos;
        if pos != last {
            self.swap(pos, last);
        }
        self.len = last;
        if let Some(h) = self.entry_mut(last) {
            h.heap = NONE;
        }
        let free = self.free;
        if let Some(x) = self.entry_mut(slot) {
            x.pos = NONE;
            x.next_free = free;
        }
        self.free = slot;
        if pos != last {
            self.fix(pos);
        }
        Some(e.chunk)
    }

    /// Evict the least-live entry: returns its slot (now free) and chunk. The
    /// aging clock rises to the evicted key.
    pub fn evict(&mut self) -> Option<(u32, u64)> {
        let (slot, chunk) = self.least_live()?;
        let key = self.entry(slot)?.key;
        self.remove(slot)?;
        self.clock = self.clock.max(key);
        Some((slot, chunk))
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn evicts_least_live_and_bounds_capacity() {
        let mut idx = LivenessIndex::new(vec![LiveEntry::EMPTY; 3], LivenessParams::default());
        let a = idx.insert(10, true, 1000).unwrap();
        let b = idx.insert(11, false, 1000).unwrap();
        let c = idx.insert(12, true, 0).unwrap();
        assert_eq!(idx.len(), 3);
        // migrated and far from the head: least live
        assert_eq!(idx.least_live(), Some((a.slot, 10)));
        assert!(idx.touch(a.slot, 1000));
        assert!(idx.touch(a.slot, 1000));
        assert!(idx.touch(a.slot, 1000));
        assert_eq!(idx.least_live(), Some((c.slot, 12)));
        let d = idx.insert(13, true, 5).unwrap();
        assert_eq!(d.evicted, Some(12));
        assert_eq!(d.slot, c.slot);
        assert_eq!(idx.len(), 3);
        assert_eq!(idx.remove(b.slot), Some(11));
        assert_eq!(idx.remove(b.slot), None);
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.chunk(b.slot), None);
        let e = idx.insert(14, true, 0).unwrap();
        assert_eq!(e.slot, b.slot);
        assert_eq!(e.evicted, None);
    }

    #[test]
    fn lru_evicts_least_recently_used() {
        let mut idx = LivenessIndex::new(vec![LiveEntry::EMPTY; 3], LivenessParams::default());
        idx.set_eviction(Eviction::Lru);
        let a = idx.insert(1, false, 0).unwrap(); // liveness would keep it longest
        let b = idx.insert(2, true, 1_000_000).unwrap();
        idx.insert(3, true, 1_000_000).unwrap();
        assert!(idx.touch(b.slot, 1_000_000));
        assert_eq!(idx.least_live(), Some((a.slot, 1)));
        assert_eq!(idx.insert(4, true, 0).unwrap().evicted, Some(1));
        assert_eq!(idx.insert(5, true, 0).unwrap().evicted, Some(3));
        assert_eq!(idx.insert(6, true, 0).unwrap().evicted, Some(2));
        assert_eq!(Eviction::from_name("LRU"), Some(Eviction::Lru));
        assert_eq!(
            Eviction::from_name(Eviction::Liveness.name()),
            Some(Eviction::Liveness)
        );
        assert_eq!(Eviction::from_name("fifo"), None);
    }

    #[test]
    fn switching_order_evicts_old_keys_first() {
        // Liveness -> LRU: the entries keyed by liveness go first, then LRU order.
        let mut idx = LivenessIndex::new(vec![LiveEntry::EMPTY; 3], LivenessParams::default());
        idx.insert(1, false, 0).unwrap();
        idx.insert(2, true, 0).unwrap();
        idx.set_eviction(Eviction::Lru);
        let c = idx.insert(3, true, 0).unwrap();
        assert!(idx.touch(c.slot, 0));
        let d = idx.insert(4, true, 0).unwrap();
        assert_eq!(
            d.evicted,
            Some(2),
            "the least live of the old entries first"
        );
        assert_eq!(idx.insert(5, true, 0).unwrap().evicted, Some(1));
        assert_eq!(idx.insert(6, true, 0).unwrap().evicted, Some(3));
        // LRU -> liveness: the LRU-keyed entries go first, in recency order.
        idx.set_eviction(Eviction::Liveness);
        assert_eq!(idx.insert(7, false, 0).unwrap().evicted, Some(4));
        assert_eq!(idx.insert(8, false, 0).unwrap().evicted, Some(5));
        assert_eq!(idx.insert(9, true, 1_000_000).unwrap().evicted, Some(6));
        // Only liveness keys now: the least live goes.
        assert_eq!(idx.insert(10, true, 0).unwrap().evicted, Some(9));
    }

    #[test]
    fn zero_capacity() {
        let mut idx = LivenessIndex::new(std::vec::Vec::new(), LivenessParams::default());
        assert_eq!(idx.insert(1, true, 0), None);
        assert_eq!(idx.evict(), None);
        assert!(!idx.touch(0, 0));
    }

    #[test]
    fn untouched_entries_age() {
        let mut idx = LivenessIndex::new(vec![LiveEntry::EMPTY; 2], LivenessParams::default());
        let old = idx.insert(1, false, 0).unwrap(); // high value
        for i in 0..50 {
            idx.insert(100 + i, true, 1_000_000).unwrap();
            if idx.chunk(old.slot) != Some(1) {
                return; // aged out eventually
            }
        }
        panic!("an untouched entry never aged out");
    }
}
