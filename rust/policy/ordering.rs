// SPDX-License-Identifier: GPL-2.0

//! The per-chunk ordering protocol of a migration: which device a VM write
//! goes to, when a chunk may be copied, when a copy counts, and when the
//! destination may be called `synced`.
//!
//! Shaped like dm-region-hash's region states (`dm-region-hash.c`) for
//! dm-raid1, with the chunk as the region:
//!
//! * Every VM write or discard is counted against its chunks from the moment
//!   `map` sees it until it has completed on every device it was sent to,
//!   queued or issued (the region's "pending" count).
//! * A chunk is copied only while no VM write to it is counted (the region is
//!   quiesced), so a copy never reads the source under a write that has not
//!   landed, and its destination write never lands over a mirrored one.
//! * A write to a migrated chunk is mirrored (both devices). Any other write
//!   goes to the source only, and its chunks stop counting as migrated at
//!   `map` time: a chunk being copied finishes its copy as dirty.
//! * A copy write sits in the destination's volatile cache until a flush of
//!   the destination that was issued after it completed, succeeds. `synced`
//!   needs every chunk migrated, no unmirrored write in flight, and every
//!   copy write flushed. A failed destination flush may have lost anything
//!   volatile there: every migrated chunk is copied again.
//!
//! Write counts are kept per stripe (`chunk % WRITE_STRIPES`), not per chunk:
//! constant memory and no allocation in `map`. Two chunks that share a stripe
//! only delay each other's copies; they never make one unsafe.
//!
//! The caller holds one lock around every call, owns the queues and the IO,
//! and passes back the [`WriteTicket`] or [`FlushTicket`] it was given.

use crate::policy::copyrun::CopyRun;
use crate::policy::map::{ChunkMap, ChunkState};
use core::ops::{Deref, DerefMut};

/// Number of write-count stripes.
pub const WRITE_STRIPES: usize = 256;
const STRIPE_MASK: u64 = 255;
const _: () = assert!(STRIPE_MASK as usize + 1 == WRITE_STRIPES);
/// Chunks that were selected while VM writes to them were in flight, set
/// aside until those writes complete.
pub const PARKED_MAX: usize = 8;

/// Where a VM write goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteRoute {
    /// To the source and the destination (the chunk is migrated).
    Mirror,
    /// To the source only (the chunk is not migrated, or the destination failed).
    SourceOnly,
}

/// A VM write or discard counted by [`Ordering::map_write`], handed back to
/// [`Ordering::write_done`] when it has completed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WriteTicket {
    /// First chunk the bio covers.
    pub first: u64,
    /// Number of chunks it covers (at least 1 for a counted ticket).
    pub chunks: u32,
    /// Whether it was mirrored.
    pub mirrored: bool,
}

/// What [`Ordering::map_write`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteDecision {
    /// Where to send the bio.
    pub route: WriteRoute,
    /// The ticket to hand back on completion.
    pub ticket: WriteTicket,
    /// A chunk became pending: the copy has work again.
    pub kick: bool,
}

/// A destination flush in flight: covers the copies completed before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlushTicket {
    /// Copy writes completed when the flush was issued.
    pub covers: u64,
    /// Issued by the target itself (not a VM flush).
    pub background: bool,
}

/// Why a copy may not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyRefused {
    /// Not pending (migrated, in flight, or out of range).
    NotPending,
    /// VM writes to the chunk are in flight; it was parked and comes back when they end.
    Parked,
    /// VM writes to the chunk are in flight and no parking place is free.
    Busy,
}

/// Counters for `dmsetup message <dev> 0 stats`: how often each ordering
/// rule was exercised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OrderingStats {
    /// VM writes sent to both devices.
    pub mirrored_writes: u64,
    /// VM writes and discards sent to the source only.
    pub source_only_writes: u64,
    /// Copies that a racing VM write turned dirty before they finished.
    pub invalidated_copies: u64,
    /// Copies held back because VM writes to their chunk were in flight.
    pub deferred_copies: u64,
    /// Destination flushes that completed successfully.
    pub dest_flushes: u64,
    /// Times every migrated chunk was made dirty by a failed destination flush.
    pub dest_losses: u64,
}

/// The ordering protocol over a [`ChunkMap`] in storage `S`.
#[derive(Clone, Debug)]
pub struct Ordering<S> {
    map: ChunkMap<S>,
    /// VM writes and discards counted and not completed, per stripe.
    writes: [u32; WRITE_STRIPES],
    /// Of those, the ones sent to the source only.
    unmirrored_in_flight: u64,
    /// Chunks selected while busy: in flight in the map, no copy running.
    parked: [Option<u64>; PARKED_MAX],
    /// Copy writes completed (a generation for flush coverage).
    copies_done: u64,
    /// Copy writes completed up to this generation are durable on the destination.
    copies_flushed: u64,
    /// The background flush of the destination in flight, if any.
    background_flush: Option<FlushTicket>,
    /// The destination failed; writes go to the source only, copies stop.
    error: bool,
    /// Statistics.
    pub stats: OrderingStats,
}

impl<S> Ordering<S> {
    /// Everything but the statistics: what decides the protocol's future.
    #[allow(clippy::type_complexity)]
    fn key(
        &self,
    ) -> (
        &ChunkMap<S>,
        &[u32; WRITE_STRIPES],
        u64,
        &[Option<u64>; PARKED_MAX],
        u64,
        u64,
        Option<FlushTicket>,
        bool,
    ) {
        (
            &self.map,
            &self.writes,
            self.unmirrored_in_flight,
            &self.parked,
            self.copies_done,
            self.copies_flushed,
            self.background_flush,
            self.error,
        )
    }
}

// Two protocol states that differ only in their statistics behave alike (the
// interleaving checker relies on it to merge them).
impl<S: PartialEq> PartialEq for Ordering<S> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl<S: Eq> Eq for Ordering<S> {}

impl<S: core::hash::Hash> core::hash::Hash for Ordering<S> {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        self.key().hash(h);
    }
}

fn stripe(chunk: u64) -> usize {
    // WRITE_STRIPES is a power of two: the mask is the remainder, and it fits.
    (chunk & STRIPE_MASK) as usize
}

impl<S> Ordering<S> {
    /// The map (read only: every change goes through the protocol).
    pub fn map(&self) -> &ChunkMap<S> {
        &self.map
    }

    /// Whether the target is in the error state.
    pub fn in_error(&self) -> bool {
        self.error
    }

    /// VM writes sent to the source only and not completed yet.
    pub fn unmirrored_in_flight(&self) -> u64 {
        self.unmirrored_in_flight
    }

    /// Whether copy writes completed so far are all covered by a successful
    /// destination flush.
    pub fn copies_durable(&self) -> bool {
        self.copies_flushed == self.copies_done
    }

    /// The destination is a current, durable copy of the source: every chunk
    /// migrated, no unmirrored write in flight, every copy write flushed.
    pub fn is_synced(&self) -> bool {
        self.map.is_synced()
            && !self.error
            && self.unmirrored_in_flight == 0
            && self.copies_durable()
    }

    /// Whether the target should flush the destination on its own now: the
    /// copy is complete but not durable, and no background flush is running.
    pub fn wants_dest_flush(&self) -> bool {
        self.map.is_synced()
            && !self.error
            && !self.copies_durable()
            && self.background_flush.is_none()
    }
}

impl<S: Deref<Target = [u64]> + DerefMut> Ordering<S> {
    /// The protocol over a fresh map (every chunk unmigrated).
    pub fn new(map: ChunkMap<S>) -> Self {
        Self {
            map,
            writes: [0; WRITE_STRIPES],
            unmirrored_in_flight: 0,
            parked: [None; PARKED_MAX],
            copies_done: 0,
            copies_flushed: 0,
            background_flush: None,
            error: false,
            stats: OrderingStats::default(),
        }
    }

    fn chunks(first: u64, chunks: u32) -> impl Iterator<Item = u64> {
        CopyRun {
            first,
            blocks: chunks,
        }
        .iter()
    }

    /// Whether VM writes to `chunk` (or to a chunk of its stripe) are in flight.
    pub fn writes_in_flight(&self, chunk: u64) -> bool {
        self.writes.get(stripe(chunk)).is_some_and(|&n| n > 0)
    }

    /// A VM write or discard of `chunks` chunks from `first` reaches `map`
    /// (`discard`: it carries no data and is never mirrored). It is counted
    /// until [`Ordering::write_done`].
    pub fn map_write(&mut self, first: u64, chunks: u32, discard: bool) -> WriteDecision {
        let chunks = chunks.max(1);
        let mirror = !discard
            && !self.error
            && Self::chunks(first, chunks).all(|c| self.map.state(c) == Some(ChunkState::Migrated));
        let mut kick = false;
        for chunk in Self::chunks(first, chunks) {
            if let Some(n) = self.writes.get_mut(stripe(chunk)) {
                *n = n.saturating_add(1);
            }
            if mirror {
                continue;
            }
            // Not mirrored: the destination's copy of the chunk is stale from now
            // on, and a copy running now may have read the old data.
            match self.map.state(chunk) {
                Some(ChunkState::Migrated) => {
                    self.redirty(chunk);
                    kick = true;
                }
                Some(ChunkState::InFlight) => {
                    if !self.map.is_redirtied(chunk) && !self.is_parked(chunk) {
                        self.stats.invalidated_copies =
                            self.stats.invalidated_copies.saturating_add(1);
                    }
                    self.redirty(chunk);
                }
                _ => {}
            }
        }
        let route = if mirror {
            self.stats.mirrored_writes = self.stats.mirrored_writes.saturating_add(1);
            WriteRoute::Mirror
        } else {
            self.unmirrored_in_flight = self.unmirrored_in_flight.saturating_add(1);
            self.stats.source_only_writes = self.stats.source_only_writes.saturating_add(1);
            WriteRoute::SourceOnly
        };
        WriteDecision {
            route,
            ticket: WriteTicket {
                first,
                chunks,
                mirrored: mirror,
            },
            kick,
        }
    }

    /// A write counted by [`Ordering::map_write`] completed: `source_ok` and
    /// `dest_ok` say how it went on each device it was sent to (`dest_ok` is
    /// ignored for a source-only write). Returns true when the worker should
    /// run: a chunk it waits for is quiet now, or became pending.
    pub fn write_done(&mut self, ticket: WriteTicket, source_ok: bool, dest_ok: bool) -> bool {
        if ticket.chunks == 0 {
            return false;
        }
        let mut quiet = false;
        let mut dirtied = false;
        for chunk in Self::chunks(ticket.first, ticket.chunks) {
            if let Some(n) = self.writes.get_mut(stripe(chunk)) {
                *n = n.saturating_sub(1);
                quiet |= *n == 0;
            }
            if ticket.mirrored && !(source_ok && dest_ok) {
                // The devices may now differ in this chunk: copy it again.
                self.redirty(chunk);
                dirtied = true;
            }
        }
        if ticket.mirrored {
            if !dest_ok {
                self.error = true;
            }
        } else {
            self.unmirrored_in_flight = self.unmirrored_in_flight.saturating_sub(1);
        }
        dirtied || (quiet && (self.nr_parked() > 0 || self.map.nr_pending() > 0))
    }

    /// Makes `chunk` copy again. `mark_dirty` fails only for a chunk out of
    /// range, and every chunk here comes from a ticket or the map itself.
    fn redirty(&mut self, chunk: u64) {
        // Nothing to undo if it ever did: no panic path in the kernel.
        let _ = self.map.mark_dirty(chunk);
    }

    /// Returns an in-flight chunk to the pending set, as before its copy.
    /// `complete` fails only for a chunk not in flight, which the callers
    /// (parked chunks, abandoned copies) never pass.
    fn give_back(&mut self, chunk: u64) {
        // Nothing to undo if it ever did: no panic path in the kernel.
        let _ = self.map.complete(chunk, false);
    }

    fn is_parked(&self, chunk: u64) -> bool {
        self.parked.contains(&Some(chunk))
    }

    fn nr_parked(&self) -> usize {
        self.parked.iter().filter(|p| p.is_some()).count()
    }

    /// Gives parked chunks whose writes have completed back to the pending set.
    pub fn unpark_quiet(&mut self) {
        for i in 0..PARKED_MAX {
            let Some(Some(chunk)) = self.parked.get(i).copied() else {
                continue;
            };
            if !self.writes_in_flight(chunk) {
                self.give_back(chunk);
                if let Some(p) = self.parked.get_mut(i) {
                    *p = None;
                }
            }
        }
    }

    /// Starts a copy of `chunk` (a background copy or a piggybacked read):
    /// allowed only for a pending chunk with no VM write in flight. A busy
    /// chunk is parked, so that the selector offers another one.
    pub fn start_copy(&mut self, chunk: u64) -> Result<(), CopyRefused> {
        if self.error || !self.map.state(chunk).is_some_and(ChunkState::is_pending) {
            return Err(CopyRefused::NotPending);
        }
        if self.writes_in_flight(chunk) {
            self.stats.deferred_copies = self.stats.deferred_copies.saturating_add(1);
            let Some(free) = self.parked.iter().position(Option::is_none) else {
                return Err(CopyRefused::Busy);
            };
            if self.map.mark_in_flight(chunk).is_err() {
                return Err(CopyRefused::NotPending);
            }
            if let Some(p) = self.parked.get_mut(free) {
                *p = Some(chunk);
            }
            return Err(CopyRefused::Parked);
        }
        self.map
            .mark_in_flight(chunk)
            .map_err(|_| CopyRefused::NotPending)
    }

    /// Starts a copy of up to `run.blocks` blocks from `run.first`: the first
    /// block as [`Ordering::start_copy`] (parked when busy), then every
    /// following block that is pending and has no VM write in flight, until
    /// the first that is not. Returns the run marked in flight.
    pub fn start_copy_run(&mut self, run: CopyRun) -> Result<CopyRun, CopyRefused> {
        self.start_copy(run.first)?;
        let writes = &self.writes;
        Ok(self.map.extend_run(run, |block| {
            writes.get(stripe(block)).is_some_and(|&n| n > 0)
        }))
    }

    /// The copy of every block of `run` has ended ([`Ordering::copy_done`]).
    pub fn copy_run_done(&mut self, run: CopyRun, ok: bool) {
        for block in run.iter() {
            let _ = self.copy_done(block, ok);
        }
    }

    /// The copy of `run` was abandoned ([`Ordering::copy_abandoned`]).
    pub fn copy_run_abandoned(&mut self, run: CopyRun) {
        for block in run.iter() {
            self.copy_abandoned(block);
        }
    }

    /// The copy of `chunk` has ended: `ok` when its destination write
    /// completed. Returns the chunk's new state.
    pub fn copy_done(&mut self, chunk: u64, ok: bool) -> Option<ChunkState> {
        let state = self.map.complete(chunk, ok).ok()?;
        if ok {
            self.copies_done = self.copies_done.saturating_add(1);
        } else {
            self.error = true;
        }
        Some(state)
    }

    /// The copy of `chunk` was abandoned before anything was written
    /// (suspend): the chunk is pending again, no error.
    pub fn copy_abandoned(&mut self, chunk: u64) {
        self.give_back(chunk);
    }

    /// A flush of the destination is issued (a VM flush's destination clone,
    /// or a background flush when `background`).
    pub fn dest_flush_issued(&mut self, background: bool) -> FlushTicket {
        let ticket = FlushTicket {
            covers: self.copies_done,
            background,
        };
        if background {
            self.background_flush = Some(ticket);
        }
        ticket
    }

    /// Whether a background flush of the destination is in flight.
    pub fn background_flush_in_flight(&self) -> bool {
        self.background_flush.is_some()
    }

    /// The background flush in flight completed (its ticket is kept here).
    pub fn background_flush_done(&mut self, ok: bool) {
        if let Some(ticket) = self.background_flush {
            self.dest_flush_done(ticket, ok);
        }
    }

    /// A destination flush completed. On failure nothing volatile on the
    /// destination can be trusted: every migrated chunk becomes dirty and the
    /// target enters the error state.
    pub fn dest_flush_done(&mut self, ticket: FlushTicket, ok: bool) {
        if ticket.background {
            self.background_flush = None;
        }
        if ok {
            self.copies_flushed = self.copies_flushed.max(ticket.covers);
            self.stats.dest_flushes = self.stats.dest_flushes.saturating_add(1);
        } else {
            self.map.redirty_migrated();
            self.error = true;
            self.stats.dest_losses = self.stats.dest_losses.saturating_add(1);
        }
    }

    /// Leaves the error state (the `resume` message): failed chunks are
    /// pending again and are retried. Returns whether it was in error.
    pub fn clear_error(&mut self) -> bool {
        core::mem::replace(&mut self.error, false)
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

    fn proto(n: u64) -> Ordering<Vec<u64>> {
        let words = ChunkMap::<Vec<u64>>::words_needed(n).unwrap();
        Ordering::new(ChunkMap::new(vec![0; words], n).unwrap())
    }

    /// A protocol whose `n` chunks are all copied (not yet flushed).
    fn copied(n: u64) -> Ordering<Vec<u64>> {
        let mut p = proto(n);
        for c in 0..n {
            p.start_copy(c).unwrap();
            p.copy_done(c, true);
        }
        p
    }

    #[test]
    fn busy_chunk_is_parked_then_returns() {
        let mut p = proto(4);
        let w = p.map_write(1, 1, false);
        assert_eq!(w.route, WriteRoute::SourceOnly);
        assert_eq!(p.start_copy(1), Err(CopyRefused::Parked));
        assert_eq!(p.map().next_pending(0), Some(0));
        assert_eq!(p.map().next_pending(1), Some(2));
        assert!(p.write_done(w.ticket, true, true));
        p.unpark_quiet();
        assert_eq!(p.map().next_pending(1), Some(1));
        assert_eq!(p.start_copy(1), Ok(()));
    }

    #[test]
    fn synced_needs_a_flush_after_the_last_copy() {
        let mut p = copied(2);
        assert!(p.map().is_synced());
        assert!(!p.is_synced());
        assert!(p.wants_dest_flush());
        let f = p.dest_flush_issued(true);
        assert!(!p.wants_dest_flush());
        p.dest_flush_done(f, true);
        assert!(p.is_synced());
    }

    #[test]
    fn failed_dest_flush_redirties_everything() {
        let mut p = copied(3);
        let f = p.dest_flush_issued(false);
        p.dest_flush_done(f, false);
        assert!(p.in_error());
        assert_eq!(p.map().nr_migrated(), 0);
        assert_eq!(p.map().nr_dirty(), 3);
        assert_eq!(p.map().nr_pending(), 3);
        assert!(p.clear_error());
        assert_eq!(p.map().next_pending(0), Some(0));
    }

    #[test]
    fn source_only_write_during_copy_invalidates_it() {
        let mut p = proto(2);
        p.start_copy(0).unwrap();
        let w = p.map_write(0, 1, false);
        assert_eq!(w.route, WriteRoute::SourceOnly);
        assert_eq!(p.copy_done(0, true), Some(ChunkState::Dirty));
        assert_eq!(p.stats.invalidated_copies, 1);
        assert_eq!(p.start_copy(0), Err(CopyRefused::Parked));
        p.write_done(w.ticket, true, true);
        p.unpark_quiet();
        assert_eq!(p.start_copy(0), Ok(()));
    }

    #[test]
    fn discard_dirties_every_chunk_it_covers() {
        let mut p = copied(4);
        let d = p.map_write(1, 2, true);
        assert_eq!(d.route, WriteRoute::SourceOnly);
        assert!(d.kick);
        assert_eq!(p.map().state(1), Some(ChunkState::Dirty));
        assert_eq!(p.map().state(2), Some(ChunkState::Dirty));
        assert_eq!(p.map().state(3), Some(ChunkState::Migrated));
    }

    #[test]
    fn mirrored_write_failing_on_either_side_redirties() {
        for (s, d) in [(false, true), (true, false)] {
            let mut p = copied(1);
            let w = p.map_write(0, 1, false);
            assert_eq!(w.route, WriteRoute::Mirror);
            p.write_done(w.ticket, s, d);
            assert_eq!(p.map().state(0), Some(ChunkState::Dirty));
            assert_eq!(p.in_error(), !d);
        }
    }
}
