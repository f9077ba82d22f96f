// SPDX-License-Identifier: GPL-2.0

//! Disk head model.
//!
//! The head position of one physical disk, in that disk's sector space, is the
//! end sector of the last request dispatched to it (VM or migration IO). All
//! migrating sources that live on the same physical disk share one model
//! (Algorithm 1 of the paper: `Update position with I/O requests' addresses and
//! sizes`). The kernel keeps the shared position in an atomic and hands the
//! value to [`block_of_head`] and the selection policies; this struct is the
//! plain single-threaded form used by the simulator and the tests.

/// Head position of one physical disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeadModel {
    pos: u64,
    travel: u64,
}

impl HeadModel {
    /// A head parked at `pos` (a sector of the physical disk).
    pub const fn new(pos: u64) -> Self {
        Self { pos, travel: 0 }
    }

    /// Current head position: end sector of the last dispatched request.
    pub const fn position(&self) -> u64 {
        self.pos
    }

    /// Total distance in sectors the head moved between requests so far
    /// (sum of |start of request - end of previous request|).
    pub const fn travel(&self) -> u64 {
        self.travel
    }

    /// Account a request dispatched to the disk: `nr_sectors` sectors starting
    /// at `start_sector` of the physical disk. Returns the seek distance in
    /// sectors from the previous position.
    pub fn on_dispatch(&mut self, start_sector: u64, nr_sectors: u64) -> u64 {
        let dist = self.pos.abs_diff(start_sector);
        self.travel = self.travel.saturating_add(dist);
        self.pos = start_sector.saturating_add(nr_sectors);
        dist
    }
}

/// Chunk of a migrating source that is nearest to the head.
///
/// `head` is a sector of the physical disk, `source_offset` the sector at
/// which the source device starts on that disk, `chunk_shift` log2 of the
/// chunk size in sectors, `nr_blocks` the number of chunks of the source.
/// A head before the source maps to chunk 0, a head after it to the last
/// chunk, so that the policies naturally pick the chunk nearest to it.
/// Returns 0 when `nr_blocks` is 0.
pub fn block_of_head(head: u64, source_offset: u64, chunk_shift: u32, nr_blocks: u64) -> u64 {
    let last = nr_blocks.saturating_sub(1);
    let rel = head.saturating_sub(source_offset);
    let chunk = rel.checked_shr(chunk_shift).unwrap_or(0);
    chunk.min(last)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn head_follows_end_of_request() {
        let mut h = HeadModel::new(0);
        assert_eq!(h.on_dispatch(100, 8), 100);
        assert_eq!(h.position(), 108);
        assert_eq!(h.on_dispatch(108, 8), 0);
        assert_eq!(h.on_dispatch(16, 8), 100);
        assert_eq!(h.travel(), 200);
        assert_eq!(h.on_dispatch(u64::MAX, 8), u64::MAX - 24);
        assert_eq!(h.position(), u64::MAX);
    }

    #[test]
    fn head_chunk_is_clamped() {
        assert_eq!(block_of_head(0, 1000, 3, 10), 0);
        assert_eq!(block_of_head(1000, 1000, 3, 10), 0);
        assert_eq!(block_of_head(1015, 1000, 3, 10), 1);
        assert_eq!(block_of_head(u64::MAX, 1000, 3, 10), 9);
        assert_eq!(block_of_head(5, 0, 99, 10), 0);
        assert_eq!(block_of_head(5, 0, 0, 0), 0);
    }
}
