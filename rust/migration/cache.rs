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

use super::passthrough::CachedBlocks;
use super::ProcessCtx;
use crate::dm::{CacheBuf, CacheBufs, CachedRead, CACHED_READ_MAX};
use crate::policy::{
    cache::CacheIndex,
    copyrun::CopyRun,
    liveness::{Eviction, LiveEntry, LivenessParams},
};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Buffers freed outside the engine lock at most per batch.
pub(super) const DRAIN_BATCH: usize = 32;

/// The cache of one target.
pub(super) struct MigrationCache {
    index: CacheIndex<KVVec<LiveEntry>, KVVec<u32>>,
    /// The bytes of each index slot.
    bufs: KVVec<Option<CacheBuf>>,
    /// The size asked for (table or message), in MiB.
    mib: u32,
    /// Bytes cached now, and the pages holding them.
    bytes: u64,
    pages: u64,
    block_bytes: u64,
    pub(super) hits: u64,
    pub(super) misses: u64,
    /// Which blocks it may hold, for the lock-free read path (none once
    /// it is replaced: [`MigrationCache::detach`]).
    cached: Option<Arc<CachedBlocks>>,
}

impl MigrationCache {
    /// A cache of `mib` MiB in blocks of `block_bytes`, as many entries as
    /// fit, keeping `cached` up to date. Allocates its index (process
    /// context, may sleep).
    pub(super) fn new(
        mib: u32,
        block_bytes: u64,
        eviction: Eviction,
        cached: Arc<CachedBlocks>,
    ) -> Result<Self> {
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
            pages: 0,
            block_bytes,
            hits: 0,
            misses: 0,
            cached: Some(cached),
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

    /// Hit and miss counters, and the eviction order, carried over into a
    /// resized cache.
    pub(super) fn take_counters(&mut self, from: &Self) {
        self.hits = from.hits;
        self.misses = from.misses;
        self.index.set_eviction(from.eviction());
    }

    /// Replaced by a new cache (under the engine lock): its blocks stop
    /// counting, the caller clears them all ([`CachedBlocks::clear_all`]).
    pub(super) fn detach(&mut self) {
        self.cached = None;
    }

    fn mark(&self, block: u64) {
        if let Some(c) = &self.cached {
            c.set(block);
        }
    }

    fn unmark(&self, block: u64) {
        if let Some(c) = &self.cached {
            c.clear(block);
        }
    }

    fn buf_slot(&mut self, slot: u32) -> Option<&mut Option<CacheBuf>> {
        self.bufs.get_mut(usize::try_from(slot).ok()?)
    }

    fn take_slot(&mut self, slot: u32) -> Option<CacheBuf> {
        let buf = self.buf_slot(slot)?.take()?;
        let (bytes, pages) = Self::size_of(&buf);
        self.bytes = self.bytes.saturating_sub(bytes);
        self.pages = self.pages.saturating_sub(pages);
        Some(buf)
    }

    /// Bytes and pages of a buffer.
    fn size_of(buf: &CacheBuf) -> (u64, u64) {
        let bytes = u64::from(buf.bytes());
        let page = u64::try_from(PAGE_SIZE).unwrap_or(4096);
        (bytes, bytes.div_ceil(page))
    }

    /// Pages cached now (what reclaim can get back).
    pub(super) fn pages(&self) -> u64 {
        self.pages
    }

    /// A VM read of `blocks`: their buffers in order if every one is cached
    /// (a hit, each block touched at `head_block`), else `None` (a miss).
    pub(super) fn read(&mut self, blocks: CopyRun, head_block: u64) -> Option<CachedRead> {
        if !self.enabled() {
            return None;
        }
        // Every block's slot, or a miss (too many blocks, or one not cached).
        let mut slots = [0u32; CACHED_READ_MAX];
        let fits = usize::try_from(blocks.blocks).is_ok_and(|n| n <= CACHED_READ_MAX);
        let found = fits
            && slots
                .iter_mut()
                .zip(blocks.iter())
                .all(|(s, b)| self.index.lookup(b).map(|slot| *s = slot).is_some());
        if !found {
            self.misses = self.misses.saturating_add(1);
            return None;
        }
        let mut hit = CachedRead::new();
        for (&slot, block) in slots.iter().zip(blocks.iter()) {
            self.index.touch(slot, block.abs_diff(head_block));
            let buf = self.buf_slot(slot)?.as_ref()?.clone();
            hit.push(buf).ok()?;
        }
        self.hits = self.hits.saturating_add(1);
        Some(hit)
    }

    /// Drops every cached block of `blocks` (a VM write to them). Their
    /// buffers go to `out` to be freed after the lock is dropped; past
    /// [`DRAIN_BATCH`] of them (small blocks under a long write), in place.
    pub(super) fn invalidate(&mut self, blocks: CopyRun, out: &mut Retired) {
        if self.index.is_empty() {
            return;
        }
        for block in blocks.iter() {
            if let Some(slot) = self.index.remove(block) {
                retire(out, self.take_slot(slot));
                self.unmark(block);
            }
        }
    }

    /// Caches `buf` as the bytes of `block`. The buffers it replaces (the
    /// block's own older bytes, and an evicted block's) go to `out`.
    pub(super) fn insert(&mut self, block: u64, buf: CacheBuf, head_block: u64, out: &mut Retired) {
        if let Some(slot) = self.index.remove(block) {
            retire(out, self.take_slot(slot));
        }
        // Before the entry can serve a read: a lock-free read of the block
        // now takes the locked path.
        self.mark(block);
        let Some(ins) = self.index.insert(block, block.abs_diff(head_block)) else {
            self.unmark(block);
            retire(out, Some(buf));
            return;
        };
        if let Some(evicted) = ins.evicted {
            self.unmark(evicted);
        }
        // An evicted block's bytes sit in the slot the new entry got.
        retire(out, self.take_slot(ins.slot));
        let (bytes, pages) = Self::size_of(&buf);
        if let Some(entry) = self.buf_slot(ins.slot) {
            *entry = Some(buf);
            self.bytes = self.bytes.saturating_add(bytes);
            self.pages = self.pages.saturating_add(pages);
        }
    }

    /// Evicts the least-live blocks until `pages` pages are out or `out` is
    /// full (reclaim, or emptying it); returns the pages evicted.
    pub(super) fn drain(&mut self, pages: u64, out: &mut Retired) -> u64 {
        let mut freed = 0u64;
        while freed < pages && !out.is_full() {
            let Some((slot, block)) = self.index.evict() else {
                break;
            };
            self.unmark(block);
            let buf = self.take_slot(slot);
            freed = freed.saturating_add(buf.as_ref().map_or(0, |b| Self::size_of(b).1));
            retire(out, buf);
        }
        freed
    }
}

/// Cache buffers taken out under the engine lock, freed when this is dropped
/// after the lock (freeing a block's pages with interrupts off is what it
/// avoids).
pub(super) type Retired = CacheBufs<DRAIN_BATCH>;

/// Keeps `buf`, if any, in `out` to be freed later; when `out` is full,
/// frees it now.
fn retire(out: &mut Retired, buf: Option<CacheBuf>) {
    if let Some(buf) = buf {
        // Full: dropped here, under the lock (many small blocks under one write).
        let _ = out.push(buf);
    }
}

impl super::IoFollow {
    /// Evicts one batch of the least-live cached blocks, up to `pages`
    /// pages, and frees it after the engine lock; returns the pages and the
    /// buffers evicted.
    fn evict_batch(&self, pages: u64) -> (u64, usize) {
        let mut retired = Retired::new();
        let freed = self.state.lock().cache.drain(pages, &mut retired);
        (freed, retired.len())
    }

    /// Evicts the least-live cached blocks until `pages` pages are out;
    /// returns the pages evicted (memory reclaim: a shrinker counts pages).
    pub(super) fn shrink_cache(&self, pages: u64) -> u64 {
        let mut freed = 0u64;
        while freed < pages {
            let (n, buffers) = self.evict_batch(pages.saturating_sub(freed));
            freed = freed.saturating_add(n);
            if buffers == 0 {
                break;
            }
        }
        freed
    }

    /// Empties the cache (suspend), yielding the CPU between batches.
    pub(super) fn empty_cache(&self, ctx: &ProcessCtx<'_>) {
        while self.evict_batch(u64::MAX).1 > 0 {
            ctx.cond_resched();
        }
    }
}
