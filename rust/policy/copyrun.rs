// SPDX-License-Identifier: GPL-2.0

//! Copy runs: the migration map is kept in small *blocks*, and one copy IO
//! covers a run of consecutive pending blocks, up to a *chunk*.
//!
//! The block is the unit of state (what is migrated, dirty, in flight); the
//! chunk is the longest copy IO (the size of a copy buffer). With blocks
//! smaller than chunks, a copy can start where the head already is:
//!
//! * **Read at the head** (default): the selector is given the first block
//!   at or after the head sector, so a forward pick starts at most one block
//!   past the end of the last request: no seek and (almost) no rotational
//!   wait. The run grows forward through pending blocks up to a chunk's
//!   length, across chunk boundaries.
//! * **Chunk-aligned** (`no_read_at_head`): the selector is given the block
//!   under the head, and a run starts at the first pending block of the
//!   selected block's chunk and ends at that chunk's end: the copy IOs of a
//!   chunk-granular map, kept for the ablation.
//!
//! *Island guard* (default): reading at the head where fewer than half a
//! chunk of pending blocks lie ahead would leave the pending blocks behind
//! the head as a fragment shorter than a chunk, an *island* that costs a
//! copy IO of its own later (the simulator counted 473 in one busy run, a
//! guest demo twice the copy IOs of sequential). There the run is planned
//! chunk-aligned instead, taking the fragment with it.
//!
//! [`RunShape`] turns a selected block into a run; the ordering protocol
//! ([`crate::policy::ordering::Ordering::start_copy_run`]) marks it in flight.

use crate::policy::head::block_of_head;
use crate::policy::map::BlockMap;
use core::ops::Deref;

/// `blocks` consecutive blocks from `first`: one copy IO.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CopyRun {
    /// First block.
    pub first: u64,
    /// Number of blocks (at least 1 for a run that is copied).
    pub blocks: u32,
}

impl CopyRun {
    /// The blocks of `2^block_shift` sectors that `sectors` sectors from
    /// `offset` cover (at least one).
    pub fn covering(offset: u64, sectors: u64, block_shift: u32) -> Self {
        let first = offset.checked_shr(block_shift).unwrap_or(0);
        let last = offset
            .saturating_add(sectors.max(1).saturating_sub(1))
            .checked_shr(block_shift)
            .unwrap_or(0);
        Self {
            first,
            blocks: u32::try_from(last.saturating_sub(first).saturating_add(1)).unwrap_or(u32::MAX),
        }
    }

    /// The blocks of the run, in order.
    pub fn iter(self) -> impl Iterator<Item = u64> {
        (0..u64::from(self.blocks)).map_while(move |i| self.first.checked_add(i))
    }

    /// One past the last block.
    pub fn end(self) -> u64 {
        self.first.saturating_add(u64::from(self.blocks))
    }
}

/// How copy IOs are cut from the block map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunShape {
    /// log2 of the block size in sectors.
    pub block_shift: u32,
    /// Blocks per chunk (the longest run), a power of two.
    pub chunk_blocks: u32,
    /// Start runs at the head (true) or at chunk boundaries (false).
    pub read_at_head: bool,
    /// Read at the head only where at least half a chunk is pending ahead.
    pub avoid_islands: bool,
}

impl RunShape {
    /// The shape for blocks of `block_sectors` and chunks of `chunk_sectors`
    /// (both powers of two, block ≤ chunk), or `None` when they are not.
    pub fn new(block_sectors: u64, chunk_sectors: u64, read_at_head: bool) -> Option<Self> {
        if !block_sectors.is_power_of_two()
            || !chunk_sectors.is_power_of_two()
            || block_sectors > chunk_sectors
        {
            return None;
        }
        let chunk_blocks = u32::try_from(chunk_sectors >> block_sectors.trailing_zeros()).ok()?;
        Some(Self {
            block_shift: block_sectors.trailing_zeros(),
            chunk_blocks,
            read_at_head,
            avoid_islands: false,
        })
    }

    /// The same shape with the island guard on or off.
    pub const fn with_island_guard(self, avoid_islands: bool) -> Self {
        Self {
            avoid_islands,
            ..self
        }
    }

    /// The block the selector is given as the head: with read at the head,
    /// the first block that starts at or after the head sector (the head
    /// reaches it without turning back); else the block under the head.
    /// `head` is on the disk; the source starts at `source_offset` and has
    /// `nr_blocks` blocks.
    pub fn head_block(&self, head: u64, source_offset: u64, nr_blocks: u64) -> u64 {
        let under = block_of_head(head, source_offset, self.block_shift, nr_blocks);
        let mask = 1u64
            .checked_shl(self.block_shift)
            .map_or(u64::MAX, |b| b.saturating_sub(1));
        if self.read_at_head && head.saturating_sub(source_offset) & mask != 0 {
            under.saturating_add(1).min(nr_blocks.saturating_sub(1))
        } else {
            under
        }
    }

    /// Where the copy of the selected pending block `block` starts, and the
    /// most blocks it may cover.
    pub fn plan<S: Deref<Target = [u64]>>(&self, map: &BlockMap<S>, block: u64) -> CopyRun {
        let half = (self.chunk_blocks / 2).max(1);
        if self.read_at_head && (!self.avoid_islands || pending_ahead(map, block, half) >= half) {
            return CopyRun {
                first: block,
                blocks: self.chunk_blocks,
            };
        }
        let chunk_start = block & !u64::from(self.chunk_blocks.saturating_sub(1));
        // `block` is pending, so the search stops at it at the latest.
        let first = map
            .next_pending(chunk_start)
            .filter(|&b| b <= block)
            .unwrap_or(block);
        let chunk_end = chunk_start.saturating_add(u64::from(self.chunk_blocks));
        CopyRun {
            first,
            blocks: u32::try_from(chunk_end.saturating_sub(first)).unwrap_or(1),
        }
    }
}

/// How many consecutive pending blocks start at `block`, counting up to `limit`.
fn pending_ahead<S: Deref<Target = [u64]>>(map: &BlockMap<S>, block: u64, limit: u32) -> u32 {
    let mut n = 0u32;
    while n < limit
        && block
            .checked_add(u64::from(n))
            .and_then(|b| map.state(b))
            .is_some_and(|s| s.is_pending())
    {
        n = n.saturating_add(1);
    }
    n
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn map(n: u64) -> BlockMap<Vec<u64>> {
        let w = BlockMap::<Vec<u64>>::words_needed(n).unwrap();
        BlockMap::new(vec![0; w], n).unwrap()
    }

    #[test]
    fn head_block_rounds_up_only_at_the_head() {
        // 64 KiB blocks, 1 MiB chunks.
        let at = RunShape::new(128, 2048, true).unwrap();
        let aligned = RunShape::new(128, 2048, false).unwrap();
        assert_eq!(at.chunk_blocks, 16);
        assert_eq!(at.head_block(1000 + 256, 1000, 100), 2);
        assert_eq!(at.head_block(1000 + 257, 1000, 100), 3);
        assert_eq!(aligned.head_block(1000 + 257, 1000, 100), 2);
        assert_eq!(at.head_block(0, 1000, 100), 0);
        assert_eq!(at.head_block(u64::MAX, 0, 100), 99);
        assert!(RunShape::new(256, 128, true).is_none());
        assert!(RunShape::new(96, 2048, true).is_none());
    }

    #[test]
    fn plan_at_head_or_aligned() {
        let mut m = map(64);
        for b in 16..20 {
            m.mark_in_flight(b).unwrap();
            m.complete(b, true).unwrap();
        }
        let at = RunShape::new(128, 2048, true).unwrap();
        let aligned = RunShape::new(128, 2048, false).unwrap();
        assert_eq!(
            at.plan(&m, 21),
            CopyRun {
                first: 21,
                blocks: 16
            }
        );
        // Chunk 1 (blocks 16..32) has 16..20 migrated: starts at 20, ends at 32.
        assert_eq!(
            aligned.plan(&m, 21),
            CopyRun {
                first: 20,
                blocks: 12
            }
        );
        assert_eq!(
            CopyRun::covering(1000, 300, 7).iter().collect::<Vec<_>>(),
            vec![7, 8, 9, 10]
        );
        assert_eq!(
            CopyRun::covering(128, 0, 7).iter().collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(
            CopyRun {
                first: 3,
                blocks: 2
            }
            .end(),
            5
        );
    }

    #[test]
    fn island_guard_reads_at_the_head_only_before_half_a_chunk() {
        let mut m = map(64);
        // Chunk 1 is blocks 16..32; 22..32 migrated: 16..22 pending.
        for b in 22..32 {
            m.mark_in_flight(b).unwrap();
            m.complete(b, true).unwrap();
        }
        let guarded = RunShape::new(128, 2048, true)
            .unwrap()
            .with_island_guard(true);
        let unguarded = RunShape::new(128, 2048, true).unwrap();
        // Head at 20: 2 pending ahead (< 8): the whole fragment 16..22.
        assert_eq!(
            guarded.plan(&m, 20),
            CopyRun {
                first: 16,
                blocks: 16
            }
        );
        assert_eq!(unguarded.plan(&m, 20).first, 20);
        // Head at 8 in untouched chunk 0: 14 pending ahead: at the head.
        assert_eq!(guarded.plan(&m, 8).first, 8);
        // Exactly half a chunk ahead still reads at the head.
        let mut m = map(64);
        for b in 40..48 {
            m.mark_in_flight(b).unwrap();
            m.complete(b, true).unwrap();
        }
        assert_eq!(guarded.plan(&m, 32).first, 32);
        assert_eq!(guarded.plan(&m, 33).first, 32);
    }
}
