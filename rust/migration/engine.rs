// SPDX-License-Identifier: GPL-2.0

//! The migration engine's state and its worker: picks chunks through the
//! policy core, copies them source → buffer → destination with a bounded
//! number of copies in flight, mirrors the VM writes `map` handed over,
//! flushes the destination before it calls the copy `synced`, and announces
//! it. A completed copy's buffer goes into the migration-aware cache
//! ([`super::cache`]) before its slot is reused. Which copy may start and
//! when a chunk counts is the ordering protocol's decision
//! ([`crate::policy::ordering`]).

use super::cache::{MigrationCache, Retired};
use super::IoFollow;
use super::{AtomicCtx, ProcessCtx};
use crate::dm::{BioList, BlkStatus, IoCompletion, IoTag, OwnedBio};
use crate::policy::anticipation::{Anticipation, AnticipationParams};
use crate::policy::{
    copyrun::CopyRun,
    map::ChunkState,
    ordering::{CopyRefused, Ordering, WriteTicket, PARKED_MAX},
    piggyback::PiggybackRule,
    ratio::{copy_reads_allowed, RatioScheduler},
    select::{AnySelector, Selector},
    table::{StateWord, DEPTH_MAX},
};
use kernel::prelude::*;

/// Copy slots at most; each present one owns a chunk-sized buffer. A target
/// has its table's `depth` of them for background copies (four by default;
/// copy reads on the disk at most: `ratio::copy_reads_allowed`) and one
/// more, kept for a piggybacked VM read.
const MAX_COPY_SLOTS: usize = DEPTH_MAX as usize + 1;

/// Mirrored VM writes in flight at most; more wait in the queue.
const MIRRORS_MAX: u32 = 64;

/// Most blocks a map may have: a mirrored write's first block fits in its
/// IO tag's 44 bits (64 PiB of 4 KiB blocks).
pub(super) const MAX_BLOCKS: u64 = 1 << TAG_FIRST_BITS;

/// What an accounting step asks of the worker.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kick {
    No,
    Now,
    /// In this many ns (an anticipation window).
    After(u64),
}

impl Kick {
    /// `Now` if `now`, else this.
    pub(super) fn or_now(self, now: bool) -> Self {
        if now {
            Kick::Now
        } else {
            self
        }
    }
}

/// What a copy slot is doing, with which run of blocks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// Beyond the table's depth: no buffer.
    Absent,
    Idle,
    /// Reserved by `map` for a piggybacked VM read of these blocks: the
    /// worker reads them whole, the VM's bio is served from the buffer.
    Piggyback(CopyRun),
    /// Reading the run from the source into the slot's buffer.
    Reading(CopyRun),
    /// Read done; the worker fills the waiting VM read from the buffer.
    Serving(CopyRun),
    /// Read done (and served); the worker writes the buffer to the destination.
    ReadDone(CopyRun),
    /// Writing the run to the destination.
    Writing(CopyRun),
    /// Written and counted; the worker copies the buffer into the cache.
    Caching(CopyRun),
}

/// Everything `map`, `end_io`, the worker and IO completions share, under
/// the target's interrupt-safe lock.
pub(super) struct EngineState {
    pub(super) ordering: Ordering<KVVec<u64>>,
    pub(super) selector: AnySelector,
    pub(super) ratio: RatioScheduler,
    /// `pause` message or `paused` feature.
    pub(super) paused: bool,
    /// Between presuspend and resume: no new copies.
    pub(super) suspended: bool,
    /// The dm event for `synced` has been raised (and the state still holds).
    announced: bool,
    /// The dm event for the error state has been raised.
    error_announced: bool,
    /// The worker stopped on the ratio and wants a kick when VM IO allows.
    waiting_for_ratio: bool,
    /// Whether the VM counts as busy between its requests (deceptive idleness).
    pub(super) anticipation: Anticipation,
    /// Copy IOs start at the head (else at chunk boundaries): `read_at_head`.
    pub(super) read_at_head: bool,
    /// The worker held a copy back for an anticipation window ending then (ns).
    wake_at_ns: Option<u64>,
    slots: [Slot; MAX_COPY_SLOTS],
    /// Background copies in flight at most (`depth`, at most the table's).
    depth: usize,
    /// The table's depth: the slots that have buffers, less the piggyback one.
    table_depth: usize,
    /// The VM read each slot's run read will serve (piggybacking).
    piggy_bios: [Option<OwnedBio>; MAX_COPY_SLOTS],
    /// When a VM read is served by reading its whole chunk.
    piggyback: PiggybackRule,
    /// VM writes to migrated chunks, to be written to both devices by the worker.
    pub(super) mirror_queue: BioList,
    mirrors_in_flight: u32,
    /// VM reads whose piggybacked chunk read failed: read again on their own.
    reread_queue: BioList,
    /// VM bios sent to the disk and not completed yet.
    pub(super) vm_in_flight: u64,
    pub(super) vm_ios: u64,
    pub(super) migration_ios: u64,
    /// Chunk reads the copier chose (by the policy and the ratio).
    pub(super) background_copies: u64,
    /// Chunk reads that served a VM read (piggybacking).
    pub(super) piggybacked_copies: u64,
    /// Migrated blocks kept in memory for the VM's reads.
    pub(super) cache: MigrationCache,
    /// A VM write overlapped the run a `Caching` slot holds: cache none of it.
    cache_stale: [bool; MAX_COPY_SLOTS],
}

impl EngineState {
    pub(super) fn new(
        ordering: Ordering<KVVec<u64>>,
        selector: AnySelector,
        ratio: RatioScheduler,
        paused: bool,
        depth: u32,
        cache: MigrationCache,
    ) -> Self {
        let depth = usize::try_from(depth)
            .unwrap_or(1)
            .clamp(1, MAX_COPY_SLOTS - 1);
        let mut slots = [Slot::Absent; MAX_COPY_SLOTS];
        for slot in slots.iter_mut().take(depth + 1) {
            *slot = Slot::Idle;
        }
        Self {
            ordering,
            selector,
            ratio,
            paused,
            suspended: false,
            announced: false,
            error_announced: false,
            waiting_for_ratio: false,
            anticipation: Anticipation::new(AnticipationParams::default()),
            read_at_head: true,
            wake_at_ns: None,
            slots,
            depth,
            table_depth: depth,
            piggy_bios: [const { None }; MAX_COPY_SLOTS],
            piggyback: PiggybackRule::default(),
            mirror_queue: BioList::new(),
            mirrors_in_flight: 0,
            reread_queue: BioList::new(),
            vm_in_flight: 0,
            vm_ios: 0,
            migration_ios: 0,
            background_copies: 0,
            piggybacked_copies: 0,
            cache,
            cache_stale: [false; MAX_COPY_SLOTS],
        }
    }

    /// A VM write, discard or write-zeroes of `blocks` reaches `map`: drops
    /// their cached bytes (into `out`), and those of a copy not cached yet.
    pub(super) fn invalidate_cache(&mut self, blocks: CopyRun, out: &mut Retired) {
        self.cache.invalidate(blocks, out);
        for (slot, stale) in self.slots.iter().zip(self.cache_stale.iter_mut()) {
            if let Slot::Caching(run) = slot {
                *stale |= run.first < blocks.end() && blocks.first < run.end();
            }
        }
    }

    /// The state word of `dmsetup status`.
    pub(super) fn state_word(&self) -> StateWord {
        if self.ordering.in_error() {
            StateWord::Error
        } else if self.paused {
            StateWord::Paused
        } else if self.ordering.is_synced() {
            StateWord::Synced
        } else {
            StateWord::Copying
        }
    }

    /// Reserves a copy slot for a VM read of `sectors` in the blocks of
    /// `run` (of `run_sectors` in all) if the policy's piggyback rule says
    /// that reading those whole blocks pays; `waiting` is the VM IO already
    /// in flight. The caller hands the VM's bio to
    /// [`EngineState::attach_piggyback`] under the same lock.
    pub(super) fn reserve_piggyback(
        &mut self,
        run: CopyRun,
        run_sectors: u64,
        sectors: u64,
        waiting: u64,
    ) -> Option<usize> {
        let map = self.ordering.map();
        let pending = run.iter().all(|block| {
            map.state(block).is_some_and(|s| s.is_pending())
                && !self.ordering.writes_in_flight(block)
        });
        let waiting = u32::try_from(waiting).unwrap_or(u32::MAX);
        if !self.copying_allowed()
            || !self
                .piggyback
                .decide(pending, run_sectors, sectors, waiting)
        {
            return None;
        }
        // The highest idle slot: the spare one past the background slots first.
        let slot = self.slots.iter().rposition(|s| *s == Slot::Idle)?;
        let started = self.ordering.start_copy_run(run).ok()?;
        if started != run {
            // Cannot happen under the lock after the check above; never serve
            // a read from a buffer that does not hold all of it.
            self.ordering.copy_run_abandoned(started);
            return None;
        }
        *self.slots.get_mut(slot)? = Slot::Piggyback(run);
        self.piggybacked_copies = self.piggybacked_copies.saturating_add(1);
        Some(slot)
    }

    /// The VM read that a slot reserved by `reserve_piggyback` will serve.
    pub(super) fn attach_piggyback(&mut self, slot: usize, bio: OwnedBio) {
        if let Some(entry) = self.piggy_bios.get_mut(slot) {
            *entry = Some(bio);
        }
    }

    /// Copy buffers a target of table depth `depth` needs.
    pub(super) fn buffers_for(depth: u32) -> u32 {
        depth.clamp(1, DEPTH_MAX).saturating_add(1)
    }

    /// Sets the background copy depth (`depth` message): at most the table's,
    /// which sized the buffers. Copies beyond a lowered depth finish.
    pub(super) fn set_depth(&mut self, depth: u32) -> Result {
        let depth = usize::try_from(depth).map_err(|_| EINVAL)?;
        if depth == 0 || depth > self.table_depth {
            return Err(EINVAL);
        }
        self.depth = depth;
        Ok(())
    }

    /// The depth in force.
    pub(super) fn depth(&self) -> u32 {
        u32::try_from(self.depth).unwrap_or(1)
    }

    /// The table's depth.
    pub(super) fn table_depth(&self) -> u32 {
        u32::try_from(self.table_depth).unwrap_or(1)
    }

    /// Whether new copies may start at all.
    fn copying_allowed(&self) -> bool {
        !self.paused && !self.suspended && !self.ordering.in_error()
    }

    /// Switch queue-aware piggybacking on or off (table feature, message).
    pub(super) fn set_queue_aware(&mut self, on: bool) {
        self.piggyback.queue_aware = on;
    }

    /// Whether piggybacking is queue-aware.
    pub(super) fn queue_aware(&self) -> bool {
        self.piggyback.queue_aware
    }

    /// Switch anticipation on or off (table feature, message).
    pub(super) fn set_anticipation(&mut self, on: bool) {
        let params = AnticipationParams {
            enabled: on,
            ..self.anticipation.params()
        };
        self.anticipation.set_params(params);
    }

    /// Accounts a VM bio sent to the disk; true when the worker should be
    /// kicked because the VM has now earned the migration its share.
    pub(super) fn on_vm_dispatch(&mut self) -> bool {
        // The clock only matters when the VM comes back from idle (a think
        // time): not read for every bio.
        if self.vm_in_flight == 0 {
            self.anticipation.on_vm_dispatch(super::now_ns(), 0);
        }
        self.vm_ios = self.vm_ios.saturating_add(1);
        self.vm_in_flight = self.vm_in_flight.saturating_add(1);
        self.ratio.on_vm_dispatch();
        self.waiting_for_ratio && self.ratio.may_dispatch_migration(true)
    }

    /// Accounts a VM bio completion. When the disk has no VM IO left and the
    /// worker waits on the ratio, it may copy freely once the VM's
    /// anticipation window has passed without a new request.
    pub(super) fn on_vm_complete(&mut self) -> Kick {
        self.vm_in_flight = self.vm_in_flight.saturating_sub(1);
        if self.vm_in_flight != 0 {
            return Kick::No;
        }
        let now_ns = super::now_ns();
        self.anticipation.on_vm_idle(now_ns);
        if !self.waiting_for_ratio {
            return Kick::No;
        }
        match self.anticipation.window_end_ns() {
            Some(end) => Kick::After(end.saturating_sub(now_ns)),
            None => Kick::Now,
        }
    }

    /// Leaves the error state (`resume` message); the `synced` event is
    /// raised again only if the state actually changes.
    pub(super) fn clear_error(&mut self) {
        if self.ordering.clear_error() {
            self.error_announced = false;
        }
    }

    fn set_slot(&mut self, slot: usize, to: Slot) {
        if let Some(s) = self.slots.get_mut(slot) {
            *s = to;
        }
    }

    /// Takes the VM read waiting on `slot`, if any.
    fn take_piggy(&mut self, slot: usize) -> Option<OwnedBio> {
        self.piggy_bios.get_mut(slot)?.take()
    }
}

/// What an IO issued by the worker was: its tag through dm-io.
#[derive(Clone, Copy)]
pub(crate) enum IssuedIo {
    /// A copy slot's read of its chunk from the source.
    CopyRead(usize),
    /// A copy slot's write of its buffer to the destination.
    CopyWrite(usize),
    /// A VM write to these migrated blocks, written to both devices.
    Mirror(CopyRun),
    /// A VM read re-issued on its own after its piggybacked chunk read failed.
    Reread,
    /// The background flush of the destination.
    DestFlush,
}

const TAG_SHIFT: u32 = 56;
const TAG_PAYLOAD: u64 = (1 << TAG_SHIFT) - 1;
/// A mirror tag's payload: the number of blocks above the first block.
const TAG_FIRST_BITS: u32 = 44;
const TAG_FIRST: u64 = (1 << TAG_FIRST_BITS) - 1;

impl IoTag for IssuedIo {
    fn into_raw(self) -> u64 {
        let (kind, payload) = match self {
            IssuedIo::CopyRead(slot) => (1u64, slot as u64),
            IssuedIo::CopyWrite(slot) => (2, slot as u64),
            // A bio lies within one chunk: at most 2048 blocks, 12 bits.
            IssuedIo::Mirror(run) => (
                3,
                (u64::from(run.blocks) << TAG_FIRST_BITS) | (run.first & TAG_FIRST),
            ),
            IssuedIo::Reread => (4, 0),
            IssuedIo::DestFlush => (5, 0),
        };
        (kind << TAG_SHIFT) | (payload & TAG_PAYLOAD)
    }

    fn from_raw(raw: u64) -> Option<Self> {
        let payload = raw & TAG_PAYLOAD;
        let slot = usize::try_from(payload).ok();
        Some(match raw >> TAG_SHIFT {
            1 => IssuedIo::CopyRead(slot?),
            2 => IssuedIo::CopyWrite(slot?),
            3 => IssuedIo::Mirror(CopyRun {
                first: payload & TAG_FIRST,
                blocks: u32::try_from(payload >> TAG_FIRST_BITS).ok()?,
            }),
            4 => IssuedIo::Reread,
            5 => IssuedIo::DestFlush,
            _ => return None,
        })
    }
}

/// One unit of work the worker picked under the lock.
enum Job {
    /// Copy a written slot's buffer into the cache.
    Cache(usize, CopyRun),
    /// Fill the VM read waiting on a slot from its buffer.
    Serve(usize, CopyRun, OwnedBio),
    /// Read a VM bio again from the source alone.
    Reread(OwnedBio),
    /// Write both devices with this mirrored VM bio (of these blocks).
    Mirror(OwnedBio, CopyRun),
    /// Write slot's buffer holding the run to the destination.
    WriteOut(usize, CopyRun),
    /// Read the run into slot's buffer.
    ReadIn(usize, CopyRun),
    /// Flush the destination.
    Flush,
}

impl IoFollow {
    /// The worker: runs until there is nothing it may do now.
    pub(super) fn run_worker(&self, ctx: &ProcessCtx<'_>) {
        loop {
            let mut guard = self.state.lock();
            let st = &mut *guard;
            // A VM read waiting on a buffer goes before caching one.
            let job = Self::next_serve(st)
                .or_else(|| Self::next_cache(st))
                .or_else(|| st.reread_queue.pop().map(Job::Reread))
                .or_else(|| self.next_mirror(st, ctx))
                .or_else(|| self.next_copy_step(st))
                .or_else(|| Self::next_flush(st));
            let Some(job) = job else {
                let synced = st.ordering.is_synced();
                let announce_sync = synced && !st.announced;
                // A chunk dirtied after the end of the copy: announce the next end too.
                st.announced = synced;
                let error = st.ordering.in_error();
                let announce_error = error && !st.error_announced;
                st.error_announced = error;
                let wake_at = st.wake_at_ns.take();
                drop(guard);
                if let Some(at) = wake_at {
                    ctx.kick_after(at.saturating_sub(super::now_ns()));
                }
                if announce_sync {
                    pr_info!(
                        "{}: copy complete and flushed, device synced\n",
                        self.name()
                    );
                }
                if announce_sync || announce_error {
                    ctx.raise_event();
                }
                return;
            };
            // Taken under the lock that presuspend's flag is set under: a suspend
            // that waits for in-flight IO cannot miss this one.
            let ticket = ctx.io_ticket();
            drop(guard);
            let begin = ctx.target().begin();
            match job {
                Job::Cache(slot, run) => {
                    drop(ticket);
                    self.cache_run(ctx, slot, run);
                }
                Job::Serve(slot, run, bio) => {
                    drop(ticket);
                    self.serve_piggyback(ctx, slot, run, bio);
                }
                Job::Reread(bio) => {
                    let sector = bio.sector().saturating_sub(begin);
                    ctx.read_bio(ticket, bio, &self.source, sector, IssuedIo::Reread);
                }
                Job::Mirror(bio, blocks) => {
                    let sector = bio.sector().saturating_sub(begin);
                    self.move_head(sector, u64::from(bio.sectors()));
                    ctx.write_bio(
                        ticket,
                        bio,
                        &self.source,
                        Some(&self.dest),
                        sector,
                        IssuedIo::Mirror(blocks),
                    );
                }
                Job::WriteOut(slot, run) => {
                    let (sector, sectors) = self.geometry.run_range(run);
                    ctx.write_from_buffer(
                        ticket,
                        &self.dest,
                        sector,
                        sectors,
                        slot as u32,
                        IssuedIo::CopyWrite(slot),
                    );
                }
                Job::ReadIn(slot, run) => {
                    let (sector, sectors) = self.geometry.run_range(run);
                    self.move_head(sector, sectors);
                    ctx.read_into_buffer(
                        ticket,
                        &self.source,
                        sector,
                        sectors,
                        slot as u32,
                        IssuedIo::CopyRead(slot),
                    );
                }
                Job::Flush => ctx.flush(ticket, &self.dest, IssuedIo::DestFlush),
            }
        }
    }

    /// A slot whose run is written and waits to be cached.
    fn next_cache(st: &mut EngineState) -> Option<Job> {
        st.slots.iter().enumerate().find_map(|(i, s)| match s {
            Slot::Caching(r) => Some(Job::Cache(i, *r)),
            _ => None,
        })
    }

    /// Copies a written run's blocks into the cache, one at a time (no
    /// sleeping allocation, the lock only around each insertion), then frees
    /// the slot. A block is inserted only while it is still migrated and no
    /// VM write overlapped the run since its copy completed.
    fn cache_run(&self, ctx: &ProcessCtx<'_>, slot: usize, run: CopyRun) {
        let g = &self.geometry;
        let (run_start, _) = g.run_range(run);
        for block in run.iter() {
            if !self.may_cache(slot, block) {
                break;
            }
            let (start, sectors) = g.run_range(CopyRun {
                first: block,
                blocks: 1,
            });
            let offset = start.saturating_sub(run_start).saturating_mul(512);
            let (Ok(offset), Ok(bytes)) = (
                usize::try_from(offset),
                u32::try_from(sectors.saturating_mul(512)),
            ) else {
                break;
            };
            // Without memory the rest simply is not cached.
            let Some(buf) = ctx.copy_to_cache(slot as u32, offset, bytes) else {
                break;
            };
            let head_block = self.head_block();
            let mut retired = Retired::new();
            let mut st = self.state.lock();
            // Again: a write may have come while the bytes were copied.
            if !Self::cacheable(&st, slot, block) {
                break;
            }
            st.cache.insert(block, buf, head_block, &mut retired);
            drop(st);
            drop(retired);
        }
        let mut st = self.state.lock();
        st.set_slot(slot, Slot::Idle);
        if let Some(stale) = st.cache_stale.get_mut(slot) {
            *stale = false;
        }
    }

    /// Whether `block` of the run in `slot` may still go into the cache:
    /// still migrated, no VM write overlapped the run since its copy
    /// completed, and no suspend began.
    fn cacheable(st: &EngineState, slot: usize, block: u64) -> bool {
        !st.cache_stale.get(slot).copied().unwrap_or(true)
            && !st.suspended
            && st.ordering.map().state(block) == Some(ChunkState::Migrated)
    }

    fn may_cache(&self, slot: usize, block: u64) -> bool {
        Self::cacheable(&self.state.lock(), slot, block)
    }

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

    /// A slot whose read is done and has a VM read waiting.
    fn next_serve(st: &mut EngineState) -> Option<Job> {
        let (slot, run) = st.slots.iter().enumerate().find_map(|(i, s)| match s {
            Slot::Serving(r) => Some((i, *r)),
            _ => None,
        })?;
        match st.take_piggy(slot) {
            Some(bio) => Some(Job::Serve(slot, run, bio)),
            None => {
                st.set_slot(slot, Slot::ReadDone(run));
                None
            }
        }
    }

    /// Copies the run's bytes into the VM's read (process context: up to a
    /// whole chunk of memcpy) and only then lets the buffer be written out.
    fn serve_piggyback(&self, ctx: &ProcessCtx<'_>, slot: usize, run: CopyRun, bio: OwnedBio) {
        let (run_start, _) = self.geometry.run_range(run);
        let offset = bio
            .sector()
            .saturating_sub(ctx.target().begin())
            .saturating_sub(run_start);
        let offset = usize::try_from(offset.saturating_mul(512)).unwrap_or(usize::MAX);
        let status = match ctx.fill_from_buffer(&bio, slot as u32, offset) {
            Ok(()) => BlkStatus::OK,
            Err(e) => BlkStatus::from_error(e),
        };
        bio.end(status);
        let mut st = self.state.lock();
        // The worker goes on and honours an anticipation window itself.
        let _ = st.on_vm_complete();
        st.set_slot(slot, Slot::ReadDone(run));
    }

    /// Takes the next queued mirrored write, if fewer than the maximum are in flight.
    fn next_mirror(&self, st: &mut EngineState, ctx: &ProcessCtx<'_>) -> Option<Job> {
        if st.mirrors_in_flight >= MIRRORS_MAX {
            return None;
        }
        let bio = st.mirror_queue.pop()?;
        st.mirrors_in_flight = st.mirrors_in_flight.saturating_add(1);
        let offset = bio.sector().saturating_sub(ctx.target().begin());
        let blocks = self.geometry.blocks_of(offset, u64::from(bio.sectors()));
        Some(Job::Mirror(bio, blocks))
    }

    /// The background flush that makes a complete copy durable.
    fn next_flush(st: &mut EngineState) -> Option<Job> {
        if st.suspended || !st.ordering.wants_dest_flush() {
            return None;
        }
        st.ordering.dest_flush_issued(true);
        Some(Job::Flush)
    }

    /// Picks the next copy step under the lock: issue a piggybacked read,
    /// write a finished read out, or start reading the chunk the policy
    /// selects, if the ratio allows.
    fn next_copy_step(&self, st: &mut EngineState) -> Option<Job> {
        // A VM read waits on a piggyback slot: issue it whatever the state.
        if let Some((slot, run)) = st.slots.iter().enumerate().find_map(|(i, s)| match s {
            Slot::Piggyback(r) => Some((i, *r)),
            _ => None,
        }) {
            st.set_slot(slot, Slot::Reading(run));
            st.migration_ios = st.migration_ios.saturating_add(1);
            return Some(Job::ReadIn(slot, run));
        }
        // A finished read is written out even when the copy is paused: the
        // chunk is in flight and must reach an end.
        if let Some((slot, run)) = st.slots.iter().enumerate().find_map(|(i, s)| match s {
            Slot::ReadDone(r) => Some((i, *r)),
            _ => None,
        }) {
            if !st.ordering.in_error() && !st.suspended {
                st.set_slot(slot, Slot::Writing(run));
                st.migration_ios = st.migration_ios.saturating_add(1);
                return Some(Job::WriteOut(slot, run));
            }
            // Suspending or failed: give the blocks back rather than issue IO
            // after postsuspend found the target quiet.
            st.set_slot(slot, Slot::Idle);
            st.ordering.copy_run_abandoned(run);
        }
        if !st.copying_allowed() {
            return None;
        }
        st.ordering.unpark_quiet();
        let slot = st
            .slots
            .iter()
            .take(st.depth)
            .position(|s| *s == Slot::Idle)?;
        let now = super::now_ns();
        let vm_waiting = st.anticipation.vm_busy(now, st.vm_in_flight);
        // A copy read completing kicks the worker again.
        let reads = st
            .slots
            .iter()
            .filter(|s| matches!(s, Slot::Reading(_)))
            .count();
        let allowed = copy_reads_allowed(st.depth(), vm_waiting);
        if u32::try_from(reads).unwrap_or(u32::MAX) >= allowed {
            return None;
        }
        if !st.ratio.may_dispatch_migration(vm_waiting) {
            st.waiting_for_ratio = true;
            if st.vm_in_flight == 0 {
                // Only the anticipation holds the copy: look again when it ends.
                st.wake_at_ns = st.anticipation.window_end_ns();
            }
            return None;
        }
        st.waiting_for_ratio = false;
        let g = &self.geometry;
        let shape = g.shape(st.read_at_head);
        let head = shape.head_block(self.head.get(), g.disk_offset, g.nr_blocks);
        // A block with VM writes in flight is parked by the protocol, so the
        // selector offers the next best one.
        let mut started = None;
        for _ in 0..=PARKED_MAX {
            let candidate = st.selector.next(st.ordering.map(), head, !vm_waiting)?;
            let plan = shape.plan(st.ordering.map(), candidate);
            match st.ordering.start_copy_run(plan) {
                Ok(run) => {
                    started = Some(run);
                    break;
                }
                Err(CopyRefused::Parked) => continue,
                // Retried when a VM write completes (it kicks the worker).
                Err(CopyRefused::Busy | CopyRefused::NotPending) => return None,
            }
        }
        let run = started?;
        st.ratio.on_migration_dispatch();
        st.background_copies = st.background_copies.saturating_add(1);
        st.migration_ios = st.migration_ios.saturating_add(1);
        st.set_slot(slot, Slot::Reading(run));
        Some(Job::ReadIn(slot, run))
    }

    /// An IO issued by the worker completed (atomic context).
    pub(super) fn on_io_done(&self, ctx: &AtomicCtx<'_>, done: IoCompletion<IssuedIo>) {
        let ok = done.error_bits == 0;
        let mut st = self.state.lock();
        match done.tag {
            Some(IssuedIo::Mirror(blocks)) => {
                let source_ok = done.error_bits & 1 == 0;
                let dest_ok = done.error_bits & 2 == 0;
                st.mirrors_in_flight = st.mirrors_in_flight.saturating_sub(1);
                // The kick below runs the worker, which honours the window.
                let _ = st.on_vm_complete();
                let ticket = WriteTicket {
                    first: blocks.first,
                    chunks: blocks.blocks,
                    mirrored: true,
                };
                // Any failure re-dirties the blocks; a destination failure stops the copy.
                st.ordering.write_done(ticket, source_ok, dest_ok);
                drop(st);
                if !dest_ok {
                    pr_err_ratelimited!(
                        "{}: mirrored write to block {} failed on the destination\n",
                        self.name(),
                        blocks.first
                    );
                }
                if let Some(bio) = done.bio {
                    bio.end(if source_ok {
                        BlkStatus::OK
                    } else {
                        BlkStatus::from_error(EIO)
                    });
                }
            }
            Some(IssuedIo::CopyRead(slot)) => {
                if let Some(Slot::Reading(run)) = st.slots.get(slot).copied() {
                    if ok {
                        let waiting = st.piggy_bios.get(slot).is_some_and(Option::is_some);
                        st.set_slot(
                            slot,
                            if waiting {
                                Slot::Serving(run)
                            } else {
                                Slot::ReadDone(run)
                            },
                        );
                        drop(st);
                    } else {
                        st.set_slot(slot, Slot::Idle);
                        st.ordering.copy_run_done(run, false);
                        // The VM's read may well succeed on its own (the bad sector
                        // can be elsewhere in the run): read it again alone.
                        if let Some(bio) = st.take_piggy(slot) {
                            st.reread_queue.push(bio);
                        }
                        drop(st);
                        pr_err_ratelimited!(
                            "{}: blocks {}+{}: source read failed; copying stops until 'resume'\n",
                            self.name(),
                            run.first,
                            run.blocks
                        );
                    }
                }
            }
            Some(IssuedIo::CopyWrite(slot)) => {
                if let Some(Slot::Writing(run)) = st.slots.get(slot).copied() {
                    st.ordering.copy_run_done(run, ok);
                    // The buffer is kept for the cache if every block counts as
                    // copied (a VM write during the copy left some dirty: then
                    // none); from now on a write to them marks it stale.
                    let map = st.ordering.map();
                    let cache = ok
                        && st.cache.enabled()
                        && !st.suspended
                        && run
                            .iter()
                            .all(|b| map.state(b) == Some(ChunkState::Migrated));
                    st.set_slot(
                        slot,
                        if cache {
                            Slot::Caching(run)
                        } else {
                            Slot::Idle
                        },
                    );
                    if let Some(stale) = st.cache_stale.get_mut(slot) {
                        *stale = false;
                    }
                    drop(st);
                    if !ok {
                        pr_err_ratelimited!("{}: blocks {}+{}: destination write failed; copying stops until 'resume'\n", self.name(), run.first, run.blocks);
                    }
                }
            }
            Some(IssuedIo::Reread) => {
                let _ = st.on_vm_complete();
                drop(st);
                if let Some(bio) = done.bio {
                    bio.end(if ok {
                        BlkStatus::OK
                    } else {
                        BlkStatus::from_error(EIO)
                    });
                }
            }
            Some(IssuedIo::DestFlush) => {
                st.ordering.background_flush_done(ok);
                drop(st);
                if !ok {
                    pr_err_ratelimited!(
                        "{}: flush of the destination failed; copying stops until 'resume'\n",
                        self.name()
                    );
                }
            }
            None => {
                drop(st);
                pr_err_ratelimited!("{}: completion with an unknown tag\n", self.name());
            }
        }
        ctx.kick();
    }

    /// Makes what the copy wrote durable before the device is suspended
    /// (dm-clone flushes before it commits): after this, `synced` in the
    /// status of a suspended device means the destination is complete and
    /// durable. The dm layer waits for the flush after this returns.
    pub(super) fn flush_before_suspend(&self, ctx: &ProcessCtx<'_>) {
        // Copies and mirrored writes still in flight first.
        ctx.wait_idle();
        let mut st = self.state.lock();
        if st.ordering.in_error()
            || st.ordering.background_flush_in_flight()
            || st.ordering.copies_durable()
        {
            return;
        }
        st.ordering.dest_flush_issued(true);
        let ticket = ctx.io_ticket();
        drop(st);
        ctx.flush(ticket, &self.dest, IssuedIo::DestFlush);
    }
}
