// SPDX-License-Identifier: GPL-2.0

//! The per-block ordering protocol of a migration: which device a VM write
//! goes to, when a block may be copied, when a copy counts, what a failure
//! costs, and when the destination may be called `synced`.
//!
//! Shaped like dm-region-hash's region states (`dm-region-hash.c`) for
//! dm-raid1, with the block as the region:
//!
//! * Every VM write or discard is counted against its blocks from the moment
//!   `map` sees it until it has completed on every device it was sent to,
//!   queued or issued (the region's "pending" count).
//! * A block is copied only while no VM write to it is counted (the region is
//!   quiesced), so a copy never reads the source under a write that has not
//!   landed, and its destination write never lands over a mirrored one.
//! * A write to a migrated block is mirrored (both devices). Any other write
//!   goes to the source only, and its blocks stop counting as migrated at
//!   `map` time: a block being copied finishes its copy as dirty.
//! * A destination write (copy or mirrored) sits in the destination's
//!   volatile cache until a flush of the destination that was issued after
//!   it completed, succeeds ([`Unflushed`]). A device reset can lose such
//!   writes without failing them, and the next IO to fail tells: so **any**
//!   failed destination IO (a copy write, a mirrored write, a flush) makes
//!   every block written there since the last completed flush dirty again,
//!   together with every destination write still in flight. The target then
//!   stops copying and mirroring (the *destination fault*) until `resume`,
//!   which takes effect once no mirrored write from before is in flight.
//! * A failed read of the source (a copy, or a piggybacked VM read) is a
//!   *source fault*: copying stops until `resume`, but the destination is
//!   healthy, so writes are still mirrored and flushes still reach it.
//! * `synced` needs every block migrated, no fault, no unmirrored write in
//!   flight, and every copy write flushed.
//!
//! Write counts are kept per stripe (`block % stripes`, caller storage),
//! not per block: constant memory and no allocation in `map`. Two blocks
//! that share a stripe only delay each other's copies; they never make one
//! unsafe.
//!
//! The caller holds one lock around every call, owns the queues and the IO,
//! and passes back the [`WriteTicket`] or [`FlushTicket`] it was given.

use crate::policy::commit::Closed;
use crate::policy::copyrun::CopyRun;
use crate::policy::map::{BlockMap, BlockState};
pub use crate::policy::unflushed::Unflushed;
use core::ops::{Deref, DerefMut};

/// Number of write-count stripes the kernel gives a target (power of two).
pub const WRITE_STRIPES: usize = 4096;
/// Blocks that were selected while VM writes to them were in flight, set
/// aside until those writes complete.
pub const PARKED_MAX: usize = 32;
/// Pending blocks [`Ordering::quiet_pending_after`] looks at, at most.
pub const QUIET_PROBES: u32 = 64;

/// Where a VM write goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteRoute {
    /// To the source and the destination (the block is migrated).
    Mirror,
    /// To the source only (the block is not migrated, or the destination failed).
    SourceOnly,
}

/// A VM write or discard counted by [`Ordering::map_write`], handed back to
/// [`Ordering::write_done`] when it has completed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WriteTicket {
    /// First block the bio covers.
    pub first: u64,
    /// Number of blocks it covers (at least 1 for a counted ticket).
    pub blocks: u32,
    /// Whether `map` routed it to both devices.
    pub mirrored: bool,
    /// A mirrored write that [`Ordering::mirror_issued`] sent to the
    /// destination too (not only to the source: the destination had failed).
    pub to_dest: bool,
}

impl WriteTicket {
    /// The blocks it covers.
    pub fn blocks(&self) -> CopyRun {
        CopyRun {
            first: self.first,
            blocks: self.blocks,
        }
    }
}

/// What [`Ordering::map_write`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteDecision {
    /// Where to send the bio.
    pub route: WriteRoute,
    /// The ticket to hand back on completion.
    pub ticket: WriteTicket,
    /// A block became pending: the copy has work again.
    pub kick: bool,
}

/// A destination flush in flight: covers the copies completed before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlushTicket {
    /// Copy writes completed when the flush was issued.
    pub covers: u64,
    /// The [`Unflushed`] epoch it closes.
    pub epoch: u64,
    /// Issued by the target itself (not a VM flush).
    pub background: bool,
}

/// Why a copy may not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyRefused {
    /// Not pending (migrated, in flight, or out of range), or copying is
    /// stopped by a fault.
    NotPending,
    /// VM writes to the block are in flight; it was parked and comes back when they end.
    Parked,
    /// VM writes to the block are in flight and no parking place is free.
    Busy,
}

/// Which device failed, for the state `error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// A read of the source failed: copying stops; mirroring goes on.
    Source,
    /// A destination IO failed: what it held unflushed is copied again.
    Destination,
}

impl Fault {
    /// The word the status line shows.
    pub const fn name(self) -> &'static str {
        match self {
            Fault::Source => "source",
            Fault::Destination => "destination",
        }
    }
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
    /// Copies held back because VM writes to their block were in flight.
    pub deferred_copies: u64,
    /// Destination flushes that completed successfully.
    pub dest_flushes: u64,
    /// Destination failures (any IO) that made unflushed blocks dirty.
    pub dest_losses: u64,
    /// Blocks made dirty by those failures (written, not yet flushed).
    pub lost_blocks: u64,
    /// Failed reads of the source by the copy.
    pub source_faults: u64,
}

/// The ordering protocol over a [`BlockMap`] and an [`Unflushed`] set in
/// storage `S`, and write counts in `S` too.
#[derive(Clone, Debug)]
pub struct Ordering<S> {
    map: BlockMap<S>,
    unflushed: Unflushed<S>,
    /// VM writes and discards counted and not completed, per stripe.
    writes: S,
    stripe_mask: u64,
    /// Of those, the ones sent to the source only.
    unmirrored_in_flight: u64,
    /// Mirrored writes issued to the destination and not completed.
    mirrors_to_dest: u64,
    /// Blocks selected while busy: in flight in the map, no copy running.
    parked: [Option<u64>; PARKED_MAX],
    /// Copy writes completed (a generation for flush coverage).
    copies_done: u64,
    /// Copy writes completed up to this generation are durable on the destination.
    copies_flushed: u64,
    /// The background flush of the destination in flight, if any.
    background_flush: Option<FlushTicket>,
    source_fault: bool,
    dest_fault: bool,
    /// `resume` came while mirrored writes from before the destination
    /// failed were in flight: it takes effect when the last completes.
    resume_pending: bool,
    /// Counts the faults begun, for the `error` event.
    fault_generation: u64,
    /// Statistics.
    pub stats: OrderingStats,
}

impl<S> Ordering<S> {
    /// Everything but the statistics and event counters: what decides the
    /// protocol's future.
    #[allow(clippy::type_complexity)]
    fn key(
        &self,
    ) -> (
        (&BlockMap<S>, &Unflushed<S>, &S),
        [u64; 4],
        &[Option<u64>; PARKED_MAX],
        Option<FlushTicket>,
        [bool; 3],
    ) {
        (
            (&self.map, &self.unflushed, &self.writes),
            [
                self.unmirrored_in_flight,
                self.mirrors_to_dest,
                self.copies_done,
                self.copies_flushed,
            ],
            &self.parked,
            self.background_flush,
            [self.source_fault, self.dest_fault, self.resume_pending],
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

impl<S> Ordering<S> {
    /// The map (read only: every change goes through the protocol).
    pub fn map(&self) -> &BlockMap<S> {
        &self.map
    }

    /// Whether the target is in the error state (either fault).
    pub fn in_error(&self) -> bool {
        self.source_fault || self.dest_fault
    }

    /// The fault in force, the destination's first.
    pub fn fault(&self) -> Option<Fault> {
        if self.dest_fault {
            Some(Fault::Destination)
        } else if self.source_fault {
            Some(Fault::Source)
        } else {
            None
        }
    }

    /// Whether the destination failed and is not written until `resume`.
    pub fn dest_failed(&self) -> bool {
        self.dest_fault
    }

    /// Whether a `resume` waits for mirrored writes from before the failure.
    pub fn resume_pending(&self) -> bool {
        self.resume_pending
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

    /// Blocks written to the destination (copies and mirrored writes) that
    /// no completed destination flush covers yet.
    pub fn unflushed_blocks(&self) -> u64 {
        self.unflushed.len()
    }

    /// Whether every destination write is durable: nothing unflushed, and
    /// every copy write covered.
    pub fn dest_durable(&self) -> bool {
        self.copies_durable() && self.unflushed.is_empty()
    }

    /// The destination is a current, durable copy of the source: every block
    /// migrated, no fault, no unmirrored write in flight, every copy write
    /// flushed.
    pub fn is_synced(&self) -> bool {
        self.map.is_synced()
            && !self.in_error()
            && self.unmirrored_in_flight == 0
            && self.copies_durable()
    }

    /// Changes whenever a complete copy may have been lost (a migrated block
    /// became dirty): each `synced` with a new generation is announced.
    pub fn sync_generation(&self) -> u64 {
        self.map.dirty_generation()
    }

    /// Changes whenever a fault begins: each is announced.
    pub fn fault_generation(&self) -> u64 {
        self.fault_generation
    }

    /// Whether the target should flush the destination on its own now: the
    /// copy is complete but not durable, or `periodic` (the pacer's verdict)
    /// and something is unflushed; and no fault, no background flush running.
    pub fn wants_dest_flush(&self, periodic: bool) -> bool {
        let end_of_copy = self.map.is_synced() && !self.copies_durable();
        !self.dest_fault
            && self.background_flush.is_none()
            && (end_of_copy || (periodic && !self.unflushed.is_empty()))
    }
}

impl<S: Deref<Target = [u64]> + DerefMut> Ordering<S> {
    /// The protocol over a fresh map (every block unmigrated), an empty
    /// unflushed set of the same blocks, and `writes` for the write counts
    /// (its length, a power of two, is the number of stripes; overwritten).
    /// `None` when the sizes do not fit.
    pub fn new(map: BlockMap<S>, unflushed: Unflushed<S>, mut writes: S) -> Option<Self> {
        let stripes = writes.len();
        if !stripes.is_power_of_two() {
            return None;
        }
        for w in writes.iter_mut() {
            *w = 0;
        }
        Some(Self {
            map,
            unflushed,
            writes,
            stripe_mask: u64::try_from(stripes).ok()?.checked_sub(1)?,
            unmirrored_in_flight: 0,
            mirrors_to_dest: 0,
            parked: [None; PARKED_MAX],
            copies_done: 0,
            copies_flushed: 0,
            background_flush: None,
            source_fault: false,
            dest_fault: false,
            resume_pending: false,
            fault_generation: 0,
            stats: OrderingStats::default(),
        })
    }

    fn stripe(&self, block: u64) -> usize {
        // The mask is one less than the storage's length: the index fits.
        usize::try_from(block & self.stripe_mask).unwrap_or(0)
    }

    fn blocks(first: u64, blocks: u32) -> impl Iterator<Item = u64> {
        CopyRun { first, blocks }.iter()
    }

    /// Whether a VM read of `run` may be served by the destination: every
    /// block migrated and durable there (covered by a completed flush: a
    /// destination that lost its cache without failing anything yet still
    /// holds it), no VM write to it in flight (a write whose source half
    /// fails must not have been read), and no destination fault.
    pub fn dest_readable(&self, run: CopyRun) -> bool {
        !self.dest_fault
            && run.blocks > 0
            && run.iter().all(|b| {
                self.map.state(b) == Some(BlockState::Migrated)
                    && !self.unflushed.contains(b)
                    && !self.writes_in_flight(b)
            })
    }

    /// What a metadata commit whose device flushes completed does with
    /// candidate `block` ([`crate::policy::commit`]): record it if it is
    /// migrated, covered by a completed destination flush and has no VM
    /// write in flight (its destination data is durable and, the source
    /// flushed too, equal to the source's); try again at the next commit if
    /// the flush did not cover it (a flush that was already closing another
    /// set), or a write to its stripe is in flight (a write to the block
    /// itself withdrew it from the commit when it was mapped: this is
    /// another block's); else drop it.
    pub fn commit_check(&self, block: u64) -> Closed {
        if self.dest_fault || self.map.state(block) != Some(BlockState::Migrated) {
            Closed::Drop
        } else if self.unflushed.contains(block) || self.writes_in_flight(block) {
            Closed::Again
        } else {
            Closed::Record
        }
    }

    /// Whether VM writes to `block` (or to a block of its stripe) are in flight.
    pub fn writes_in_flight(&self, block: u64) -> bool {
        self.writes.get(self.stripe(block)).is_some_and(|&n| n > 0)
    }

    /// A VM write or discard of `blocks` blocks from `first` reaches `map`
    /// (`discard`: it carries no data and is never mirrored). It is counted
    /// until [`Ordering::write_done`].
    pub fn map_write(&mut self, first: u64, blocks: u32, discard: bool) -> WriteDecision {
        let blocks = blocks.max(1);
        let mirror = !discard
            && !self.dest_fault
            && Self::blocks(first, blocks).all(|c| self.map.state(c) == Some(BlockState::Migrated));
        let mut kick = false;
        for block in Self::blocks(first, blocks) {
            let stripe = self.stripe(block);
            if let Some(n) = self.writes.get_mut(stripe) {
                *n = n.saturating_add(1);
            }
            if mirror {
                continue;
            }
            // Not mirrored: the destination's copy of the block is stale from now
            // on, and a copy running now may have read the old data.
            match self.map.state(block) {
                Some(BlockState::Migrated) => {
                    self.redirty(block);
                    kick = true;
                }
                Some(BlockState::InFlight) => {
                    if !self.map.is_redirtied(block) && !self.is_parked(block) {
                        self.stats.invalidated_copies =
                            self.stats.invalidated_copies.saturating_add(1);
                    }
                    self.redirty(block);
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
                blocks,
                mirrored: mirror,
                to_dest: false,
            },
            kick,
        }
    }

    /// A mirrored write queued by `map` is about to be issued: returns
    /// whether it goes to the destination too. While the destination is
    /// failed it goes to the source only, and its blocks become dirty.
    pub fn mirror_issued(&mut self, ticket: &mut WriteTicket) -> bool {
        if !ticket.mirrored {
            return false;
        }
        if self.dest_fault {
            ticket.to_dest = false;
            for block in ticket.blocks().iter() {
                self.redirty(block);
            }
            return false;
        }
        ticket.to_dest = true;
        self.mirrors_to_dest = self.mirrors_to_dest.saturating_add(1);
        true
    }

    /// A write counted by [`Ordering::map_write`] completed: `source_ok` and
    /// `dest_ok` say how it went on each device it was sent to (`dest_ok` is
    /// ignored unless it went to the destination). Returns true when the
    /// worker should run: a block it waits for is quiet now, or became pending.
    pub fn write_done(&mut self, ticket: WriteTicket, source_ok: bool, dest_ok: bool) -> bool {
        if ticket.blocks == 0 {
            return false;
        }
        let mut quiet = false;
        for block in Self::blocks(ticket.first, ticket.blocks) {
            let stripe = self.stripe(block);
            if let Some(n) = self.writes.get_mut(stripe) {
                *n = n.saturating_sub(1);
                quiet |= *n == 0;
            }
        }
        let mut dirtied = false;
        if ticket.mirrored {
            let on_dest = ticket.to_dest && dest_ok;
            if ticket.to_dest {
                self.mirrors_to_dest = self.mirrors_to_dest.saturating_sub(1);
                if !dest_ok {
                    self.lose();
                }
            }
            // Landed on both devices, and no destination failure since it was
            // issued (one may have lost it): volatile on the destination until
            // a flush. Else the devices may differ there: copy it again.
            if on_dest && source_ok && !self.dest_fault {
                self.unflushed.mark(ticket.blocks());
            } else {
                for block in ticket.blocks().iter() {
                    self.redirty(block);
                }
                dirtied = true;
            }
            if self.resume_pending && self.mirrors_to_dest == 0 {
                self.finish_resume();
                dirtied = true;
            }
        } else {
            self.unmirrored_in_flight = self.unmirrored_in_flight.saturating_sub(1);
        }
        dirtied || (quiet && (self.nr_parked() > 0 || self.map.nr_pending() > 0))
    }

    /// Makes `block` copy again. `mark_dirty` fails only for a block out of
    /// range, and every block here comes from a ticket or the map itself.
    fn redirty(&mut self, block: u64) {
        // Nothing to undo if it ever did: no panic path in the kernel.
        let _ = self.map.mark_dirty(block);
    }

    /// The destination failed: everything it may have lost is copied again,
    /// and it is not written until `resume`.
    fn lose(&mut self) {
        if !self.dest_fault {
            self.fault_generation = self.fault_generation.wrapping_add(1);
        }
        self.dest_fault = true;
        self.resume_pending = false;
        let map = &mut self.map;
        let lost = self.unflushed.take_lost(|w, mask| {
            let _ = map.redirty_word(w, mask);
        });
        // Copies in flight may have landed before the failure, or may land after.
        self.map.redirty_in_flight();
        self.stats.dest_losses = self.stats.dest_losses.saturating_add(1);
        self.stats.lost_blocks = self.stats.lost_blocks.saturating_add(lost);
    }

    /// Returns an in-flight block to the pending set, as before its copy.
    /// `complete` fails only for a block not in flight, which the callers
    /// (parked blocks, abandoned copies) never pass.
    fn give_back(&mut self, block: u64) {
        // Nothing to undo if it ever did: no panic path in the kernel.
        let _ = self.map.complete(block, false);
    }

    fn is_parked(&self, block: u64) -> bool {
        self.parked.contains(&Some(block))
    }

    fn nr_parked(&self) -> usize {
        self.parked.iter().filter(|p| p.is_some()).count()
    }

    /// Gives parked blocks whose writes have completed back to the pending set.
    pub fn unpark_quiet(&mut self) {
        for i in 0..PARKED_MAX {
            let Some(Some(block)) = self.parked.get(i).copied() else {
                continue;
            };
            if !self.writes_in_flight(block) {
                self.give_back(block);
                if let Some(p) = self.parked.get_mut(i) {
                    *p = None;
                }
            }
        }
    }

    /// Records `block` as migrated because a durable checkpoint says so (a
    /// migration resumed from the metadata device, before the table's first
    /// IO): only an unmigrated block with no VM write in flight, and no
    /// fault. Its destination data is durable (the checkpoint followed a
    /// destination flush), so it joins no unflushed set. Returns whether the
    /// block is now migrated by this call.
    pub fn restore_migrated(&mut self, block: u64) -> bool {
        if self.in_error()
            || self.writes_in_flight(block)
            || self.map.state(block) != Some(BlockState::Unmigrated)
        {
            return false;
        }
        self.map.restore_migrated(block).is_ok()
    }

    /// The `reset` message: every migrated block is copied again, and so is
    /// every block whose copy is in flight (it completes as dirty). The
    /// destination keeps what it has until each block is copied over it;
    /// nothing routes a read to it meanwhile. Returns how many migrated
    /// blocks became pending.
    pub fn start_over(&mut self) -> u64 {
        self.map.redirty_in_flight();
        self.map.redirty_migrated()
    }

    /// Starts a copy of `block` (a background copy or a piggybacked read):
    /// allowed only for a pending block with no VM write in flight, and no
    /// fault. A busy block is parked, so that the selector offers another one.
    pub fn start_copy(&mut self, block: u64) -> Result<(), CopyRefused> {
        if self.in_error() || !self.map.state(block).is_some_and(BlockState::is_pending) {
            return Err(CopyRefused::NotPending);
        }
        if self.writes_in_flight(block) {
            self.stats.deferred_copies = self.stats.deferred_copies.saturating_add(1);
            let Some(free) = self.parked.iter().position(Option::is_none) else {
                return Err(CopyRefused::Busy);
            };
            if self.map.mark_in_flight(block).is_err() {
                return Err(CopyRefused::NotPending);
            }
            if let Some(p) = self.parked.get_mut(free) {
                *p = Some(block);
            }
            return Err(CopyRefused::Parked);
        }
        self.map
            .mark_in_flight(block)
            .map_err(|_| CopyRefused::NotPending)
    }

    /// A pending block with no VM write in flight, among the first
    /// `probes` pending blocks after `block` (wrapping): where to copy when
    /// the selected block is busy and no parking place is free.
    pub fn quiet_pending_after(&self, block: u64, probes: u32) -> Option<u64> {
        let n = self.map.nr_blocks();
        let mut at = block.checked_add(1).filter(|&b| b < n).unwrap_or(0);
        for _ in 0..probes {
            let found = self
                .map
                .next_pending(at)
                .or_else(|| self.map.next_pending(0))?;
            if !self.writes_in_flight(found) {
                return Some(found);
            }
            at = found.checked_add(1).filter(|&b| b < n).unwrap_or(0);
        }
        None
    }

    /// Starts a copy of up to `run.blocks` blocks from `run.first`: the first
    /// block as [`Ordering::start_copy`] (parked when busy), then every
    /// following block that is pending and has no VM write in flight, until
    /// the first that is not. Returns the run marked in flight.
    pub fn start_copy_run(&mut self, run: CopyRun) -> Result<CopyRun, CopyRefused> {
        self.start_copy(run.first)?;
        let (writes, mask) = (&self.writes, self.stripe_mask);
        Ok(self.map.extend_run(run, |block| {
            usize::try_from(block & mask)
                .ok()
                .and_then(|i| writes.get(i))
                .is_some_and(|&n| n > 0)
        }))
    }

    /// The destination write of every block of `run` has ended: `ok` when
    /// it completed. A failure is a destination fault.
    pub fn copy_run_done(&mut self, run: CopyRun, ok: bool) {
        if !ok {
            for block in run.iter() {
                self.give_back(block);
            }
            self.lose();
            return;
        }
        for block in run.iter() {
            // A block written during its copy (or flagged by a loss) ends dirty.
            if self.map.complete(block, true) == Ok(BlockState::Migrated) {
                self.unflushed.mark(CopyRun {
                    first: block,
                    blocks: 1,
                });
            }
        }
        self.copies_done = self.copies_done.saturating_add(1);
    }

    /// The copy of `run` could not read the source (a copy read, or the
    /// piggybacked read of a VM bio): its blocks are pending again, and
    /// copying stops until `resume` (a source fault). The destination is fine.
    pub fn copy_read_failed(&mut self, run: CopyRun) {
        for block in run.iter() {
            self.give_back(block);
        }
        if !self.source_fault {
            self.fault_generation = self.fault_generation.wrapping_add(1);
        }
        self.source_fault = true;
        self.stats.source_faults = self.stats.source_faults.saturating_add(1);
    }

    /// The copy of `run` was abandoned before anything was written
    /// (suspend, or a fault): its blocks are pending again, no error.
    pub fn copy_run_abandoned(&mut self, run: CopyRun) {
        for block in run.iter() {
            self.give_back(block);
        }
    }

    /// A flush of the destination is issued (a VM flush's destination clone,
    /// or a background flush when `background`).
    pub fn dest_flush_issued(&mut self, background: bool) -> FlushTicket {
        let ticket = FlushTicket {
            covers: self.copies_done,
            epoch: self.unflushed.flush_issued(),
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
    /// destination can be trusted (a destination fault).
    pub fn dest_flush_done(&mut self, ticket: FlushTicket, ok: bool) {
        if ticket.background {
            self.background_flush = None;
        }
        if ok {
            self.copies_flushed = self.copies_flushed.max(ticket.covers);
            self.unflushed.flush_done(ticket.epoch);
            self.stats.dest_flushes = self.stats.dest_flushes.saturating_add(1);
        } else {
            self.lose();
        }
    }

    fn finish_resume(&mut self) {
        self.dest_fault = false;
        self.resume_pending = false;
    }

    /// The `resume` message: a source fault ends now; a destination fault
    /// ends once no mirrored write issued before it is in flight (those may
    /// still land, or be lost, on the destination). Blocks that failed are
    /// pending and are copied again. Returns whether it was in error.
    pub fn clear_error(&mut self) -> bool {
        let was = self.in_error();
        self.source_fault = false;
        if self.dest_fault {
            if self.mirrors_to_dest == 0 {
                self.finish_resume();
            } else {
                self.resume_pending = true;
            }
        }
        was
    }
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]
pub(crate) mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// The protocol over `n` fresh blocks with `stripes` write counts.
    pub(crate) fn proto_with(n: u64, stripes: usize) -> Ordering<Vec<u64>> {
        let map = BlockMap::new(vec![0; BlockMap::<Vec<u64>>::words_needed(n).unwrap()], n);
        let unflushed = Unflushed::new(vec![0; Unflushed::<Vec<u64>>::words_needed(n).unwrap()], n);
        Ordering::new(map.unwrap(), unflushed.unwrap(), vec![0; stripes]).unwrap()
    }

    fn proto(n: u64) -> Ordering<Vec<u64>> {
        proto_with(n, 64)
    }

    fn one(block: u64) -> CopyRun {
        CopyRun {
            first: block,
            blocks: 1,
        }
    }

    fn copy(p: &mut Ordering<Vec<u64>>, block: u64) {
        p.start_copy(block).unwrap();
        p.copy_run_done(one(block), true);
    }

    /// A protocol whose `n` blocks are all copied (not yet flushed).
    fn copied(n: u64) -> Ordering<Vec<u64>> {
        let mut p = proto(n);
        for c in 0..n {
            copy(&mut p, c);
        }
        p
    }

    fn flush(p: &mut Ordering<Vec<u64>>, ok: bool) {
        let f = p.dest_flush_issued(true);
        p.dest_flush_done(f, ok);
    }

    #[test]
    fn a_commit_records_only_copies_a_completed_flush_covers() {
        let mut p = proto(8);
        copy(&mut p, 0);
        copy(&mut p, 1);
        assert_eq!(p.commit_check(0), Closed::Again, "not flushed yet");
        assert_eq!(p.commit_check(2), Closed::Drop, "never copied");
        flush(&mut p, true);
        assert_eq!(p.commit_check(0), Closed::Record);
        // A write in flight, then one that made it dirty.
        let w = p.map_write(1, 1, false);
        assert_eq!(
            p.commit_check(1),
            Closed::Again,
            "the stripe's write is in flight"
        );
        let _ = p.write_done(w.ticket, true, true);
        let w = p.map_write(0, 1, true);
        let _ = p.write_done(w.ticket, true, true);
        assert_eq!(p.commit_check(0), Closed::Drop, "a discard made it dirty");
        // A copy no flush covers is lost with the destination's cache.
        copy(&mut p, 3);
        flush(&mut p, false);
        assert_eq!(p.commit_check(3), Closed::Drop);
    }

    #[test]
    fn busy_block_is_parked_then_returns() {
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
    fn start_over_copies_every_block_again_and_routes_nothing_to_the_destination() {
        let mut p = copied(4);
        flush(&mut p, true);
        assert!(p.is_synced());
        let gen = p.sync_generation();
        p.start_copy(3).unwrap_err(); // migrated: nothing to copy
        assert_eq!(p.start_over(), 4);
        assert!(!p.is_synced());
        assert_ne!(p.sync_generation(), gen, "the next synced is a new one");
        assert!(!p.dest_readable(one(0)));
        assert_eq!(p.map().nr_pending(), 4);
        // A copy in flight at the reset completes dirty: copied once more.
        let mut p = proto(2);
        p.start_copy(0).unwrap();
        assert_eq!(p.start_over(), 0);
        p.copy_run_done(one(0), true);
        assert_eq!(p.map().state(0), Some(BlockState::Dirty));
        for b in 0..2 {
            copy(&mut p, b);
        }
        flush(&mut p, true);
        assert!(p.is_synced());
    }

    #[test]
    fn synced_needs_a_flush_after_the_last_copy() {
        let mut p = copied(2);
        assert!(p.map().is_synced());
        assert!(!p.is_synced());
        assert!(p.wants_dest_flush(false));
        let f = p.dest_flush_issued(true);
        assert!(!p.wants_dest_flush(false));
        p.dest_flush_done(f, true);
        assert!(p.is_synced());
        assert!(p.dest_durable());
    }

    /// Issue 22, finding 1: copies done and never flushed, then a copy write
    /// fails (the destination reset and lost its cache). Before the fix only
    /// the failed block was copied again, and `synced` followed.
    #[test]
    fn failed_copy_write_loses_every_unflushed_copy() {
        let mut p = proto(4);
        copy(&mut p, 0);
        copy(&mut p, 1);
        p.start_copy(2).unwrap();
        p.copy_run_done(one(2), false);
        assert_eq!(p.fault(), Some(Fault::Destination));
        assert!(p.clear_error());
        copy(&mut p, 3);
        flush(&mut p, true);
        assert!(!p.is_synced(), "synced with blocks 0 and 1 lost");
        assert_eq!(p.map().state(0), Some(BlockState::Dirty));
        assert_eq!(p.map().state(1), Some(BlockState::Dirty));
        assert_eq!(p.stats.lost_blocks, 2);
        for b in 0..3 {
            copy(&mut p, b);
        }
        flush(&mut p, true);
        assert!(p.is_synced());
    }

    #[test]
    fn a_completed_flush_bounds_what_a_failure_costs() {
        let mut p = proto(4);
        copy(&mut p, 0);
        flush(&mut p, true);
        copy(&mut p, 1);
        // A mirrored write to block 0 completes, then fails nothing.
        let w = p.map_write(0, 1, false);
        let mut t = w.ticket;
        assert!(p.mirror_issued(&mut t));
        p.write_done(t, true, true);
        // Block 3's copy write fails: 0 (mirrored since the flush) and 1 are
        // lost, 3 is pending, 2 was never copied.
        p.start_copy(3).unwrap();
        p.copy_run_done(one(3), false);
        assert_eq!(p.map().nr_migrated(), 0);
        assert_eq!(p.map().state(0), Some(BlockState::Dirty));
        assert_eq!(p.map().state(1), Some(BlockState::Dirty));
        // Without the mirrored write block 0 would have stayed migrated.
        let mut q = proto(4);
        copy(&mut q, 0);
        flush(&mut q, true);
        copy(&mut q, 1);
        q.start_copy(3).unwrap();
        q.copy_run_done(one(3), false);
        assert_eq!(q.map().state(0), Some(BlockState::Migrated));
        assert_eq!(q.map().state(1), Some(BlockState::Dirty));
    }

    #[test]
    fn copy_in_flight_at_a_failure_is_copied_again() {
        let mut p = proto(3);
        p.start_copy(0).unwrap();
        p.start_copy(1).unwrap();
        p.copy_run_done(one(1), false);
        // Block 0's write lands after the reset was seen: it may have been lost.
        p.copy_run_done(one(0), true);
        assert!(p.map().state(0).unwrap().is_pending());
        assert_eq!(p.unflushed_blocks(), 0);
    }

    #[test]
    fn mirrored_write_in_flight_at_a_failure_defers_resume() {
        let mut p = copied(2);
        flush(&mut p, true);
        let w = p.map_write(0, 1, false);
        assert_eq!(w.route, WriteRoute::Mirror);
        let mut t = w.ticket;
        assert!(p.mirror_issued(&mut t));
        // Another IO fails while the mirrored write is in flight.
        let f = p.dest_flush_issued(false);
        p.dest_flush_done(f, false);
        assert!(p.clear_error());
        assert!(p.resume_pending());
        assert_eq!(p.fault(), Some(Fault::Destination));
        // It completes "fine": it may have landed before the reset.
        p.write_done(t, true, true);
        assert!(!p.in_error());
        assert_eq!(p.map().state(0), Some(BlockState::Dirty));
        assert_eq!(p.map().state(1), Some(BlockState::Migrated));
    }

    #[test]
    fn queued_mirror_goes_to_the_source_only_after_a_failure() {
        let mut p = copied(2);
        flush(&mut p, true);
        let w = p.map_write(1, 1, false);
        let f = p.dest_flush_issued(false);
        p.dest_flush_done(f, false);
        let mut t = w.ticket;
        assert!(!p.mirror_issued(&mut t));
        assert_eq!(p.map().state(1), Some(BlockState::Dirty));
        p.write_done(t, true, true);
        assert!(p.clear_error());
        assert!(!p.in_error(), "resume waits for no destination write");
    }

    /// Finding 3: a source read failure stops copying but not mirroring.
    #[test]
    fn source_fault_keeps_the_destination_in_use() {
        let mut p = copied(3);
        let d = p.map_write(2, 1, true);
        p.write_done(d.ticket, true, true);
        p.start_copy(2).unwrap();
        p.copy_read_failed(one(2));
        assert_eq!(p.fault(), Some(Fault::Source));
        assert_eq!(p.start_copy(2), Err(CopyRefused::NotPending));
        let w = p.map_write(0, 1, false);
        assert_eq!(w.route, WriteRoute::Mirror);
        let mut t = w.ticket;
        assert!(p.mirror_issued(&mut t));
        p.write_done(t, true, true);
        assert_eq!(p.map().state(0), Some(BlockState::Migrated));
        assert!(!p.wants_dest_flush(false));
        assert!(p.wants_dest_flush(true));
        assert!(p.clear_error());
        assert!(!p.in_error());
    }

    #[test]
    fn failed_dest_flush_loses_the_unflushed() {
        let mut p = copied(3);
        flush(&mut p, false);
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
        p.copy_run_done(one(0), true);
        assert_eq!(p.map().state(0), Some(BlockState::Dirty));
        assert_eq!(p.stats.invalidated_copies, 1);
        assert_eq!(p.start_copy(0), Err(CopyRefused::Parked));
        p.write_done(w.ticket, true, true);
        p.unpark_quiet();
        assert_eq!(p.start_copy(0), Ok(()));
    }

    #[test]
    fn discard_dirties_every_block_it_covers() {
        let mut p = copied(4);
        let d = p.map_write(1, 2, true);
        assert_eq!(d.route, WriteRoute::SourceOnly);
        assert!(d.kick);
        assert_eq!(p.map().state(1), Some(BlockState::Dirty));
        assert_eq!(p.map().state(2), Some(BlockState::Dirty));
        assert_eq!(p.map().state(3), Some(BlockState::Migrated));
    }

    #[test]
    fn mirrored_write_failing_on_either_side_redirties() {
        for (s, d) in [(false, true), (true, false)] {
            let mut p = copied(1);
            let w = p.map_write(0, 1, false);
            assert_eq!(w.route, WriteRoute::Mirror);
            let mut t = w.ticket;
            assert!(p.mirror_issued(&mut t));
            p.write_done(t, s, d);
            assert_eq!(p.map().state(0), Some(BlockState::Dirty));
            assert_eq!(p.in_error(), !d);
        }
    }

    #[test]
    fn sync_generation_moves_when_a_complete_copy_is_dirtied() {
        let mut p = copied(2);
        flush(&mut p, true);
        let g = p.sync_generation();
        let w = p.map_write(0, 1, true);
        p.write_done(w.ticket, true, true);
        assert_ne!(p.sync_generation(), g);
        copy(&mut p, 0);
        flush(&mut p, true);
        assert!(p.is_synced());
    }

    /// Finding 6: a hot block parks the blocks of its stripe; once parking
    /// is full the copy goes on with a quiet block instead of stopping.
    #[test]
    fn a_busy_stripe_does_not_stop_the_copy() {
        let stripes = 4;
        let mut p = proto_with(4 * (PARKED_MAX as u64 + 4), stripes);
        let hot = p.map_write(0, 1, false);
        let mut parked = 0;
        let mut block = 0;
        loop {
            match p.start_copy(block) {
                Err(CopyRefused::Parked) => parked += 1,
                Err(CopyRefused::Busy) => break,
                other => panic!("{other:?}"),
            }
            block += stripes as u64;
        }
        assert_eq!(parked, PARKED_MAX);
        let quiet = p.quiet_pending_after(block, QUIET_PROBES).unwrap();
        assert_ne!(quiet % stripes as u64, 0);
        assert_eq!(p.start_copy(quiet), Ok(()));
        p.write_done(hot.ticket, true, true);
        p.unpark_quiet();
        assert_eq!(p.start_copy(0), Ok(()));
    }
}
