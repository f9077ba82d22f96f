// SPDX-License-Identifier: GPL-2.0

//! Reads at dm-linear's cost once the copy is done (issue 26).
//!
//! In `synced` a read needs a decision only if the cache may hold one of
//! its blocks or the router may send it to the destination. Any other read
//! goes to the source in `map` without the engine lock, and its `end_io`
//! has nothing to account. That is always correct, not only in `synced`:
//! the source holds every acknowledged write until the switch-over. The
//! flag and the cache bits may therefore lag the engine's state in the
//! safe direction: a read the engine would have served from the cache or
//! the destination reaches the source, a read that could have passed
//! through takes the lock.
//!
//! Invariants:
//! - `on` is written under the engine lock: set only while the target is
//!   `synced` and the router keeps reads on the source, looked at again
//!   when the worker goes idle, after a message, by every read that takes
//!   the locked path, and when such a read's latency is measured.
//! - A block's bit in [`CachedBlocks`] is set under the engine lock before
//!   the block enters the cache, and cleared after it has left it.
//! - One read in [`PASSTHROUGH_SAMPLE`] still takes the locked path, so the
//!   router's estimates and probes stay alive; it stands for the reads the
//!   router did not see.

use crate::policy::copyrun::CopyRun;
use crate::policy::readroute::PASSTHROUGH_SAMPLE;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use kernel::prelude::*;
use kernel::sync::Arc;

/// One bit per block: the cache may hold it. Read without the engine lock.
pub(super) struct CachedBlocks {
    words: KVVec<AtomicU64>,
}

impl CachedBlocks {
    /// All clear, for `nr_blocks` blocks (process context).
    pub(super) fn new(nr_blocks: u64) -> Result<Arc<Self>> {
        let nr = usize::try_from(nr_blocks.div_ceil(64)).map_err(|_| EINVAL)?;
        let mut words = KVVec::with_capacity(nr, GFP_KERNEL)?;
        for _ in 0..nr {
            words.push(AtomicU64::new(0), GFP_KERNEL)?;
        }
        Ok(Arc::new(Self { words }, GFP_KERNEL)?)
    }

    fn word(&self, block: u64) -> Option<(&AtomicU64, u64)> {
        let word = self.words.get(usize::try_from(block / 64).ok()?)?;
        Some((word, 1u64 << (block % 64)))
    }

    /// `block` is about to enter the cache.
    pub(super) fn set(&self, block: u64) {
        if let Some((word, bit)) = self.word(block) {
            word.fetch_or(bit, Relaxed);
        }
    }

    /// `block` has left the cache.
    pub(super) fn clear(&self, block: u64) {
        if let Some((word, bit)) = self.word(block) {
            word.fetch_and(!bit, Relaxed);
        }
    }

    /// Every block has left the cache (it was replaced). A block a new
    /// cache takes meanwhile loses its bit: its reads reach the source
    /// until it is cached again, which is correct, only slower.
    pub(super) fn clear_all(&self) {
        for word in self.words.iter() {
            word.store(0, Relaxed);
        }
    }

    /// Whether the cache may hold a block of `run` (a block past the map
    /// counts as held: the locked path sorts it out).
    fn any(&self, run: CopyRun) -> bool {
        run.iter().any(|block| {
            self.word(block)
                .map_or(true, |(w, bit)| w.load(Relaxed) & bit != 0)
        })
    }
}

/// How a read reaches its leg.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadPath {
    /// Through the engine lock and the router.
    Locked,
    /// Through the lock as the one read in [`PASSTHROUGH_SAMPLE`] that keeps
    /// the router's estimates ([`crate::policy::readroute::ReadRouter::sampled_for_passthrough`]).
    Sampled,
    /// To the source without the lock.
    Through,
}

/// The lock-free read path's state.
pub(super) struct Passthrough {
    on: AtomicBool,
    /// Reads that passed through (status and `stats`).
    reads: AtomicU64,
    /// Eligible reads, for the sampling.
    tick: AtomicU32,
    pub(super) cached: Arc<CachedBlocks>,
}

impl Passthrough {
    pub(super) fn new(cached: Arc<CachedBlocks>) -> Self {
        Self {
            on: AtomicBool::new(false),
            reads: AtomicU64::new(0),
            tick: AtomicU32::new(0),
            cached,
        }
    }

    /// Under the engine lock: whether reads may pass through now.
    pub(super) fn set(&self, on: bool) {
        self.on.store(on, Relaxed);
    }

    /// How a read of `blocks` goes: without the engine lock to the source
    /// (counted), or through it.
    pub(super) fn take(&self, blocks: CopyRun) -> ReadPath {
        if !self.on.load(Relaxed) || self.cached.any(blocks) {
            return ReadPath::Locked;
        }
        if self.tick.fetch_add(1, Relaxed) % PASSTHROUGH_SAMPLE == 0 {
            return ReadPath::Sampled;
        }
        self.reads.fetch_add(1, Relaxed);
        ReadPath::Through
    }

    /// Reads that passed through so far.
    pub(super) fn reads(&self) -> u64 {
        self.reads.load(Relaxed)
    }
}
