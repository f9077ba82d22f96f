// SPDX-License-Identifier: GPL-2.0

//! The migration-aware cache (the paper's MABCM): blocks the copy has just
//! written to the destination, kept in memory to serve the VM's reads, the
//! least live evicted first ([`crate::policy::cache`]).
//!
//! Coherency, under the engine lock that also orders mirroring:
//! - a block is cached only if it is migrated when its copy completes, so no
//!   VM write reached the source between the copy's read and now (a write
//!   mapped meanwhile leaves the block dirty);
//! - every VM write, discard or write-zeroes drops the blocks it covers
//!   before it is routed, and marks a copy being cached that overlaps it
//!   stale, so its bytes are never inserted;
//! - a VM read hits only if every block it covers is cached. A read that is
//!   being filled from a buffer when a write drops it raced with that write,
//!   and may return either data, as with any device.

use crate::dm::{CacheBuf, CachedRead, CACHED_READ_MAX};
use crate::policy::{
    cache::CacheIndex,
    copyrun::CopyRun,
    liveness::{Eviction, LiveEntry, LivenessParams},
};
use kernel::prelude::*;

/// Buffers dropped outside the engine lock at most per batch (reclaim, clear).
pub(super) const DRAIN_BATCH: usize = 32;

/// The cache of one target.
pub(super) struct MigrationCache {
    index: CacheIndex<KVVec<LiveEntry>, KVVec<u32>>,
    /// The bytes of each index slot.
    bufs: KVVec<Option<CacheBuf>>,
    /// The size asked for (table or message), in MiB.
    mib: u32,
    /// Bytes cached now.
    bytes: u64,
    block_bytes: u64,
    pub(super) hits: u64,
    pub(super) misses: u64,
}

impl MigrationCache {
    /// A cache of `mib` MiB in blocks of `block_bytes`, as many entries as
    /// fit. Allocates its index (process context, may sleep).
    pub(super) fn new(mib: u32, block_bytes: u64, eviction: Eviction) -> Result<Self> {
        let capacity = u64::from(mib)
            .checked_shl(20)
            .and_then(|b| b.checked_div(block_bytes))
            .unwrap_or(0);
        let entries = u32::try_from(capacity).map_err(|_| EINVAL)?;
        let nr = usize::try_from(entries).map_err(|_| EINVAL)?;
        let table_len =
            CacheIndex::<KVVec<LiveEntry>, KVVec<u32>>::table_len(entries).ok_or(EINVAL)?;
        let arena = KVVec::from_elem(LiveEntry::EMPTY, nr, GFP_KERNEL)?;
        let table = KVVec::from_elem(0u32, table_len, GFP_KERNEL)?;
        let mut bufs = KVVec::with_capacity(nr, GFP_KERNEL)?;
        for _ in 0..nr {
            bufs.push(None, GFP_KERNEL)?;
        }
        let mut index = CacheIndex::new(arena, table, LivenessParams::default()).ok_or(EINVAL)?;
        index.set_eviction(eviction);
        Ok(Self {
            index,
            bufs,
            mib,
            bytes: 0,
            block_bytes,
            hits: 0,
            misses: 0,
        })
    }

    /// Whether it caches anything at all.
    pub(super) fn enabled(&self) -> bool {
        self.index.capacity() > 0
    }

    /// The size in force in MiB, as the table prints it.
    pub(super) fn mib(&self) -> u32 {
        self.mib
    }

    /// Bytes cached now.
    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes it may hold.
    pub(super) fn capacity_bytes(&self) -> u64 {
        u64::from(self.index.capacity()).saturating_mul(self.block_bytes)
    }

    /// Blocks cached now.
    pub(super) fn len(&self) -> u32 {
        self.index.len()
    }

    /// Which block goes first.
    pub(super) fn eviction(&self) -> Eviction {
        self.index.eviction()
    }

    /// Sets which block goes first.
    pub(super) fn set_eviction(&mut self, eviction: Eviction) {
        self.index.set_eviction(eviction);
    }

    /// Hit and miss counters carried over into a resized cache.
    pub(super) fn take_counters(&mut self, from: &Self) {
        self.hits = from.hits;
        self.misses = from.misses;
        self.index.set_eviction(from.eviction());
    }

    fn buf_slot(&mut self, slot: u32) -> Option<&mut Option<CacheBuf>> {
        self.bufs.get_mut(usize::try_from(slot).ok()?)
    }

    fn take_slot(&mut self, slot: u32) -> Option<CacheBuf> {
        let buf = self.buf_slot(slot)?.take()?;
        self.bytes = self.bytes.saturating_sub(u64::from(buf.bytes()));
        Some(buf)
    }

    /// A VM read of `blocks`: their buffers in order if every one is cached
    /// (a hit, each block touched at `head_block`), else `None` (a miss).
    pub(super) fn read(&mut self, blocks: CopyRun, head_block: u64) -> Option<CachedRead> {
        if !self.enabled() {
            return None;
        }
        let cached = usize::try_from(blocks.blocks).is_ok_and(|n| n <= CACHED_READ_MAX)
            && blocks.iter().all(|b| self.index.lookup(b).is_some());
        if !cached {
            self.misses = self.misses.saturating_add(1);
            return None;
        }
        let mut hit = CachedRead::new();
        for block in blocks.iter() {
            let slot = self.index.lookup(block)?;
            self.index.touch(slot, block.abs_diff(head_block));
            let buf = self.buf_slot(slot)?.as_ref()?.clone();
            hit.push(buf);
        }
        self.hits = self.hits.saturating_add(1);
        Some(hit)
    }

    /// Drops every cached block of `blocks` (a VM write to them).
    pub(super) fn invalidate(&mut self, blocks: CopyRun) {
        if self.index.is_empty() {
            return;
        }
        for block in blocks.iter() {
            if let Some(slot) = self.index.remove(block) {
                // Freeing pages does not sleep; a write covers few blocks.
                drop(self.take_slot(slot));
            }
        }
    }

    /// Caches `buf` as the bytes of `block`; returns the buffer it replaces
    /// (an evicted block's), to be dropped outside the lock.
    pub(super) fn insert(
        &mut self,
        block: u64,
        buf: CacheBuf,
        head_block: u64,
    ) -> Option<CacheBuf> {
        let Some(ins) = self.index.insert(block, block.abs_diff(head_block)) else {
            return Some(buf);
        };
        let bytes = u64::from(buf.bytes());
        let old = self.take_slot(ins.slot);
        if let Some(entry) = self.buf_slot(ins.slot) {
            *entry = Some(buf);
            self.bytes = self.bytes.saturating_add(bytes);
        }
        old
    }

    /// Evicts up to `max` of the least-live blocks (reclaim, or emptying
    /// it); their buffers go to `out`, to be dropped outside the lock.
    pub(super) fn drain(&mut self, max: usize, out: &mut [Option<CacheBuf>; DRAIN_BATCH]) -> usize {
        let mut n = 0;
        for entry in out.iter_mut().take(max) {
            let Some((slot, _)) = self.index.evict() else {
                break;
            };
            *entry = self.take_slot(slot);
            n += 1;
        }
        n
    }
}
