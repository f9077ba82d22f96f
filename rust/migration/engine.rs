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
use crate::dm::{BioList, BlkStatus, IoBuffer, IoCompletion, IoTag, OwnedBio};
use crate::policy::announce::Announcer;
use crate::policy::anticipation::{Anticipation, AnticipationParams};
use crate::policy::{
    copyrun::CopyRun,
    map::ChunkState,
    ordering::{CopyRefused, Ordering, WriteTicket, PARKED_MAX, QUIET_PROBES},
    piggyback::PiggybackRule,
    ratio::{copy_reads_allowed, RatioScheduler},
    select::{AnySelector, Selector},
    table::{StateWord, DEPTH_MAX},
    unflushed::{FlushDue, FlushPacer},
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
pub(super) enum SlotState {
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

/// One copy slot.
///
/// Its buffer is here while no IO and no worker step has it: an IO owns it
/// while it runs (it comes back with the completion), a worker step that
/// reads it (serving a VM read, filling the cache) takes it out under the
/// lock and puts it back under the lock.
pub(super) struct CopySlot {
    state: SlotState,
    buf: Option<IoBuffer>,
    /// The VM read the slot's run read will serve (piggybacking).
    piggy: Option<OwnedBio>,
    /// A VM write overlapped the run a `Caching` slot holds: cache none of it.
    cache_stale: bool,
}

impl CopySlot {
    const ABSENT: Self = Self {
        state: SlotState::Absent,
        buf: None,
        piggy: None,
        cache_stale: false,
    };
}

/// A copy slot that [`EngineState::reserve_piggyback`] reserved for one VM
/// read; [`EngineState::attach_piggyback`] takes it, so a slot serves at
/// most the read it was reserved for.
#[must_use]
pub(super) struct PiggybackReservation {
    slot: usize,
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
    /// The dm events raised so far.
    announcer: Announcer,
    /// The worker stopped on the ratio and wants a kick when VM IO allows.
    waiting_for_ratio: bool,
    /// Whether the VM counts as busy between its requests (deceptive idleness).
    pub(super) anticipation: Anticipation,
    /// Copy IOs start at the head (else at chunk boundaries): `read_at_head`.
    pub(super) read_at_head: bool,
    /// The worker wants to look again then (ns): an anticipation window or
    /// a periodic flush that is not due yet.
    wake_at_ns: Option<u64>,
    slots: [CopySlot; MAX_COPY_SLOTS],
    /// Background copies in flight at most (`depth`, at most the table's).
    depth: usize,
    /// The table's depth: the slots that have buffers, less the piggyback one.
    table_depth: usize,
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
    /// When the destination is flushed during the copy (`flush_interval`).
    pub(super) flush_pacer: FlushPacer,
}

impl EngineState {
    pub(super) fn new(
        ordering: Ordering<KVVec<u64>>,
        selector: AnySelector,
        ratio: RatioScheduler,
        paused: bool,
        depth: u32,
        cache: MigrationCache,
        buffers: impl Iterator<Item = IoBuffer>,
    ) -> Self {
        let depth = usize::try_from(depth)
            .unwrap_or(1)
            .clamp(1, MAX_COPY_SLOTS - 1);
        let mut slots = [CopySlot::ABSENT; MAX_COPY_SLOTS];
        for (slot, buf) in slots.iter_mut().take(depth + 1).zip(buffers) {
            slot.state = SlotState::Idle;
            slot.buf = Some(buf);
        }
        Self {
            ordering,
            selector,
            ratio,
            paused,
            suspended: false,
            announcer: Announcer::new(),
            waiting_for_ratio: false,
            anticipation: Anticipation::new(AnticipationParams::default()),
            read_at_head: true,
            wake_at_ns: None,
            slots,
            depth,
            table_depth: depth,
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
            flush_pacer: FlushPacer::new(0),
        }
    }

    /// A VM write, discard or write-zeroes of `blocks` reaches `map`: drops
    /// their cached bytes (into `out`), and those of a copy not cached yet.
    pub(super) fn invalidate_cache(&mut self, blocks: CopyRun, out: &mut Retired) {
        self.cache.invalidate(blocks, out);
        for slot in self.slots.iter_mut() {
            if let SlotState::Caching(run) = slot.state {
                slot.cache_stale |= run.first < blocks.end() && blocks.first < run.end();
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
    ) -> Option<PiggybackReservation> {
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
        let slot = self
            .slots
            .iter()
            .rposition(|s| s.state == SlotState::Idle && s.piggy.is_none())?;
        let started = self.ordering.start_copy_run(run).ok()?;
        if started != run {
            // Cannot happen under the lock after the check above; never serve
            // a read from a buffer that does not hold all of it.
            self.ordering.copy_run_abandoned(started);
            return None;
        }
        self.slots.get_mut(slot)?.state = SlotState::Piggyback(run);
        self.piggybacked_copies = self.piggybacked_copies.saturating_add(1);
        Some(PiggybackReservation { slot })
    }

    /// Gives the VM read to the slot reserved for it. The reservation made
    /// sure the slot serves no other read; should it ever, the bio is handed
    /// back, to be failed by the caller outside the lock.
    pub(super) fn attach_piggyback(
        &mut self,
        reserved: PiggybackReservation,
        bio: OwnedBio,
    ) -> Result<(), OwnedBio> {
        match self.slots.get_mut(reserved.slot) {
            Some(slot) if slot.piggy.is_none() => {
                slot.piggy = Some(bio);
                Ok(())
            }
            _ => Err(bio),
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

    /// Leaves the error state (`resume` message). A destination fault ends
    /// once no mirrored write from before it is in flight.
    pub(super) fn clear_error(&mut self) {
        self.ordering.clear_error();
    }

    fn slot_mut(&mut self, slot: usize) -> Option<&mut CopySlot> {
        self.slots.get_mut(slot)
    }

    fn set_slot(&mut self, slot: usize, to: SlotState) {
        if let Some(s) = self.slot_mut(slot) {
            s.state = to;
        }
    }

    fn slot_state(&self, slot: usize) -> SlotState {
        self.slots.get(slot).map_or(SlotState::Absent, |s| s.state)
    }

    /// The first slot whose state `pick` maps to a run.
    fn find_slot(&self, pick: impl Fn(SlotState) -> Option<CopyRun>) -> Option<(usize, CopyRun)> {
        self.slots
            .iter()
            .enumerate()
            .find_map(|(i, s)| pick(s.state).map(|r| (i, r)))
    }

    /// Takes the buffer of `slot` out, for an IO or a worker step.
    fn take_buf(&mut self, slot: usize) -> Option<IoBuffer> {
        self.slot_mut(slot)?.buf.take()
    }

    /// Puts a buffer back into its slot (a completion or a worker step).
    fn put_buf(&mut self, slot: usize, buf: Option<IoBuffer>) {
        if let (Some(s), Some(b)) = (self.slot_mut(slot), buf) {
            s.buf = Some(b);
        }
    }

    /// Takes the VM read waiting on `slot`, if any.
    fn take_piggy(&mut self, slot: usize) -> Option<OwnedBio> {
        self.slot_mut(slot)?.piggy.take()
    }

    /// The worker wants to run again at `at_ns` (the earliest of its wishes).
    fn wake_at(&mut self, at_ns: u64) {
        self.wake_at_ns = Some(self.wake_at_ns.map_or(at_ns, |t| t.min(at_ns)));
    }

    /// What the worker announces when it goes idle: a `synced` not yet
    /// announced for this complete copy, an `error` not yet announced.
    fn take_announcements(&mut self) -> (bool, bool) {
        let o = &self.ordering;
        let a = self.announcer.poll(
            o.is_synced(),
            o.sync_generation(),
            o.in_error(),
            o.fault_generation(),
        );
        (a.synced, a.error)
    }
}

/// What an IO issued by the worker was: its tag through dm-io.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IssuedIo {
    /// A copy slot's read of its chunk from the source.
    CopyRead(usize),
    /// A copy slot's write of its buffer to the destination.
    CopyWrite(usize),
    /// A VM write to these migrated blocks: to the source and, unless the
    /// destination had failed when it was issued, to the destination.
    Mirror { blocks: CopyRun, to_dest: bool },
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
const KIND_COPY_READ: u64 = 1;
const KIND_COPY_WRITE: u64 = 2;
const KIND_MIRROR_BOTH: u64 = 3;
const KIND_REREAD: u64 = 4;
const KIND_DEST_FLUSH: u64 = 5;
const KIND_MIRROR_SOURCE: u64 = 6;

impl IoTag for IssuedIo {
    fn into_raw(self) -> u64 {
        let (kind, payload) = match self {
            IssuedIo::CopyRead(slot) => (KIND_COPY_READ, slot as u64),
            IssuedIo::CopyWrite(slot) => (KIND_COPY_WRITE, slot as u64),
            // A bio lies within one chunk: at most 2048 blocks, 12 bits.
            IssuedIo::Mirror { blocks, to_dest } => (
                if to_dest {
                    KIND_MIRROR_BOTH
                } else {
                    KIND_MIRROR_SOURCE
                },
                (u64::from(blocks.blocks) << TAG_FIRST_BITS) | (blocks.first & TAG_FIRST),
            ),
            IssuedIo::Reread => (KIND_REREAD, 0),
            IssuedIo::DestFlush => (KIND_DEST_FLUSH, 0),
        };
        (kind << TAG_SHIFT) | (payload & TAG_PAYLOAD)
    }

    fn from_raw(raw: u64) -> Option<Self> {
        let payload = raw & TAG_PAYLOAD;
        let slot = usize::try_from(payload).ok();
        let kind = raw >> TAG_SHIFT;
        Some(match kind {
            KIND_COPY_READ => IssuedIo::CopyRead(slot?),
            KIND_COPY_WRITE => IssuedIo::CopyWrite(slot?),
            KIND_MIRROR_BOTH | KIND_MIRROR_SOURCE => IssuedIo::Mirror {
                blocks: CopyRun {
                    first: payload & TAG_FIRST,
                    blocks: u32::try_from(payload >> TAG_FIRST_BITS).ok()?,
                },
                to_dest: kind == KIND_MIRROR_BOTH,
            },
            KIND_REREAD => IssuedIo::Reread,
            KIND_DEST_FLUSH => IssuedIo::DestFlush,
            _ => return None,
        })
    }
}

/// One unit of work the worker picked under the lock, with the buffer it
/// needs taken out of its slot.
enum Job {
    /// Copy a written slot's buffer into the cache.
    Cache(usize, CopyRun, IoBuffer),
    /// Fill the VM read waiting on a slot from its buffer.
    Serve(usize, CopyRun, OwnedBio, IoBuffer),
    /// Read a VM bio again from the source alone.
    Reread(OwnedBio),
    /// Write this VM bio to the source and, per its ticket, the destination.
    Mirror(OwnedBio, WriteTicket),
    /// Write the slot's buffer holding the run to the destination.
    WriteOut(usize, CopyRun, IoBuffer),
    /// Read the run into the slot's buffer.
    ReadIn(usize, CopyRun, IoBuffer),
    /// Flush the destination.
    Flush,
}

impl IoFollow {
    /// The worker: runs until there is nothing it may do now.
    pub(super) fn run_worker(&self, ctx: &ProcessCtx<'_>) {
        loop {
            let mut guard = self.state.lock();
            let st = &mut *guard;
            let now = super::now_ns();
            // A VM read waiting on a buffer goes before caching one.
            let job = Self::next_serve(st)
                .or_else(|| Self::next_cache(st))
                .or_else(|| st.reread_queue.pop().map(Job::Reread))
                .or_else(|| self.next_mirror(st, ctx))
                .or_else(|| self.next_copy_step(st, now))
                .or_else(|| Self::next_flush(st, now));
            let Some(job) = job else {
                let (announce_sync, announce_error) = st.take_announcements();
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
                Job::Cache(slot, run, buf) => {
                    drop(ticket);
                    self.cache_run(ctx, slot, run, buf);
                }
                Job::Serve(slot, run, bio, buf) => {
                    drop(ticket);
                    self.serve_piggyback(ctx, slot, run, bio, buf);
                }
                Job::Reread(bio) => {
                    let sector = bio.sector().saturating_sub(begin);
                    ctx.read_bio(ticket, bio, &self.source, sector, IssuedIo::Reread);
                }
                Job::Mirror(bio, write) => {
                    let sector = bio.sector().saturating_sub(begin);
                    self.move_head(sector, u64::from(bio.sectors()));
                    ctx.write_bio(
                        ticket,
                        bio,
                        &self.source,
                        write.to_dest.then_some(&self.dest),
                        sector,
                        IssuedIo::Mirror {
                            blocks: write.blocks(),
                            to_dest: write.to_dest,
                        },
                    );
                }
                Job::WriteOut(slot, run, buf) => {
                    let (sector, sectors) = self.geometry.run_range(run);
                    ctx.write_from_buffer(
                        ticket,
                        &self.dest,
                        sector,
                        sectors,
                        buf,
                        IssuedIo::CopyWrite(slot),
                    );
                }
                Job::ReadIn(slot, run, buf) => {
                    let (sector, sectors) = self.geometry.run_range(run);
                    self.move_head(sector, sectors);
                    ctx.read_into_buffer(
                        ticket,
                        &self.source,
                        sector,
                        sectors,
                        buf,
                        IssuedIo::CopyRead(slot),
                    );
                }
                Job::Flush => ctx.flush(ticket, &self.dest, IssuedIo::DestFlush),
            }
        }
    }

    /// A slot whose run is written and waits to be cached.
    fn next_cache(st: &mut EngineState) -> Option<Job> {
        let (slot, run) = st.find_slot(|s| match s {
            SlotState::Caching(r) => Some(r),
            _ => None,
        })?;
        match st.take_buf(slot) {
            Some(buf) => Some(Job::Cache(slot, run, buf)),
            None => {
                // A slot without its buffer cannot be cached from; never seen.
                st.set_slot(slot, SlotState::Idle);
                None
            }
        }
    }

    /// Copies a written run's blocks into the cache, one at a time (no
    /// sleeping allocation, the lock only around each insertion), then frees
    /// the slot. A block is inserted only while it is still migrated and no
    /// VM write overlapped the run since its copy completed.
    fn cache_run(&self, ctx: &ProcessCtx<'_>, slot: usize, run: CopyRun, buf: IoBuffer) {
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
            let Some(cached) = ctx.copy_to_cache(&buf, offset, bytes) else {
                break;
            };
            let head_block = self.head_block();
            let mut retired = Retired::new();
            let mut st = self.state.lock();
            // Again: a write may have come while the bytes were copied.
            if !Self::cacheable(&st, slot, block) {
                break;
            }
            st.cache.insert(block, cached, head_block, &mut retired);
            drop(st);
            drop(retired);
        }
        let mut st = self.state.lock();
        st.put_buf(slot, Some(buf));
        st.set_slot(slot, SlotState::Idle);
        if let Some(s) = st.slot_mut(slot) {
            s.cache_stale = false;
        }
    }

    /// Whether `block` of the run in `slot` may still go into the cache:
    /// still migrated, no VM write overlapped the run since its copy
    /// completed, and no suspend began.
    fn cacheable(st: &EngineState, slot: usize, block: u64) -> bool {
        !st.slots.get(slot).map_or(true, |s| s.cache_stale)
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
        let (slot, run) = st.find_slot(|s| match s {
            SlotState::Serving(r) => Some(r),
            _ => None,
        })?;
        match (st.take_piggy(slot), st.take_buf(slot)) {
            (Some(bio), Some(buf)) => Some(Job::Serve(slot, run, bio, buf)),
            (bio, buf) => {
                st.put_buf(slot, buf);
                if let Some(bio) = bio {
                    // No buffer to serve from (never seen): read it on its own.
                    st.reread_queue.push(bio);
                }
                st.set_slot(slot, SlotState::ReadDone(run));
                None
            }
        }
    }

    /// Copies the run's bytes into the VM's read (process context: up to a
    /// whole chunk of memcpy) and only then lets the buffer be written out.
    fn serve_piggyback(
        &self,
        ctx: &ProcessCtx<'_>,
        slot: usize,
        run: CopyRun,
        bio: OwnedBio,
        buf: IoBuffer,
    ) {
        let (run_start, _) = self.geometry.run_range(run);
        let offset = bio
            .sector()
            .saturating_sub(ctx.target().begin())
            .saturating_sub(run_start);
        let offset = usize::try_from(offset.saturating_mul(512)).unwrap_or(usize::MAX);
        let status = match ctx.fill_from_buffer(&bio, &buf, offset) {
            Ok(()) => BlkStatus::OK,
            Err(e) => BlkStatus::from_error(e),
        };
        bio.end(status);
        let mut st = self.state.lock();
        // The worker goes on and honours an anticipation window itself.
        let _ = st.on_vm_complete();
        st.put_buf(slot, Some(buf));
        st.set_slot(slot, SlotState::ReadDone(run));
    }

    /// Takes the next queued mirrored write, if fewer than the maximum are
    /// in flight. While the destination is failed it goes to the source only.
    fn next_mirror(&self, st: &mut EngineState, ctx: &ProcessCtx<'_>) -> Option<Job> {
        if st.mirrors_in_flight >= MIRRORS_MAX {
            return None;
        }
        let bio = st.mirror_queue.pop()?;
        st.mirrors_in_flight = st.mirrors_in_flight.saturating_add(1);
        let offset = bio.sector().saturating_sub(ctx.target().begin());
        let blocks = self.geometry.blocks_of(offset, u64::from(bio.sectors()));
        let mut write = WriteTicket {
            first: blocks.first,
            chunks: blocks.blocks,
            mirrored: true,
            to_dest: false,
        };
        st.ordering.mirror_issued(&mut write);
        Some(Job::Mirror(bio, write))
    }

    /// A flush of the destination the target issues on its own: when the
    /// copy is complete and not durable, or when the pacer says a write has
    /// waited `flush_interval` for one.
    fn next_flush(st: &mut EngineState, now: u64) -> Option<Job> {
        if st.suspended || st.ordering.dest_failed() {
            return None;
        }
        let unflushed = st.ordering.unflushed_blocks() > 0;
        let periodic = match st.flush_pacer.poll(now, unflushed) {
            FlushDue::Now => true,
            FlushDue::At(at) => {
                st.wake_at(at);
                false
            }
            FlushDue::No => false,
        };
        if !st.ordering.wants_dest_flush(periodic) {
            return None;
        }
        st.ordering.dest_flush_issued(true);
        st.flush_pacer.flushed();
        Some(Job::Flush)
    }

    /// Picks the next copy step under the lock: issue a piggybacked read,
    /// write a finished read out, or start reading the chunk the policy
    /// selects, if the ratio allows.
    fn next_copy_step(&self, st: &mut EngineState, now: u64) -> Option<Job> {
        // A VM read waits on a piggyback slot: issue it whatever the state.
        if let Some((slot, run)) = st.find_slot(|s| match s {
            SlotState::Piggyback(r) => Some(r),
            _ => None,
        }) {
            if let Some(buf) = st.take_buf(slot) {
                st.set_slot(slot, SlotState::Reading(run));
                st.migration_ios = st.migration_ios.saturating_add(1);
                return Some(Job::ReadIn(slot, run, buf));
            }
        }
        // A finished read is written out even when the copy is paused: the
        // chunk is in flight and must reach an end.
        if let Some((slot, run)) = st.find_slot(|s| match s {
            SlotState::ReadDone(r) => Some(r),
            _ => None,
        }) {
            if !st.ordering.in_error() && !st.suspended {
                if let Some(buf) = st.take_buf(slot) {
                    st.set_slot(slot, SlotState::Writing(run));
                    st.migration_ios = st.migration_ios.saturating_add(1);
                    return Some(Job::WriteOut(slot, run, buf));
                }
            }
            // Suspending or failed: give the blocks back rather than issue IO
            // after postsuspend found the target quiet.
            st.set_slot(slot, SlotState::Idle);
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
            .position(|s| s.state == SlotState::Idle && s.buf.is_some())?;
        let vm_waiting = st.anticipation.vm_busy(now, st.vm_in_flight);
        // A copy read completing kicks the worker again.
        let reads = st
            .slots
            .iter()
            .filter(|s| matches!(s.state, SlotState::Reading(_)))
            .count();
        let allowed = copy_reads_allowed(st.depth(), vm_waiting);
        if u32::try_from(reads).unwrap_or(u32::MAX) >= allowed {
            return None;
        }
        if !st.ratio.may_dispatch_migration(vm_waiting) {
            st.waiting_for_ratio = true;
            if st.vm_in_flight == 0 {
                // Only the anticipation holds the copy: look again when it ends.
                if let Some(end) = st.anticipation.window_end_ns() {
                    st.wake_at(end);
                }
            }
            return None;
        }
        st.waiting_for_ratio = false;
        let run = self.start_selected_copy(st, vm_waiting)?;
        let buf = st.take_buf(slot)?;
        st.ratio.on_migration_dispatch();
        st.background_copies = st.background_copies.saturating_add(1);
        st.migration_ios = st.migration_ios.saturating_add(1);
        st.set_slot(slot, SlotState::Reading(run));
        Some(Job::ReadIn(slot, run, buf))
    }

    /// Asks the policy for the next block and starts a copy run there. A
    /// block with VM writes in flight is parked by the protocol, so the
    /// selector offers the next best one; with no parking place left, the
    /// copy goes on at a quiet pending block near the selected one.
    fn start_selected_copy(&self, st: &mut EngineState, vm_waiting: bool) -> Option<CopyRun> {
        let g = &self.geometry;
        let shape = g.shape(st.read_at_head);
        let head = shape.head_block(self.head.get(), g.disk_offset, g.nr_blocks);
        for _ in 0..=PARKED_MAX {
            let candidate = st.selector.next(st.ordering.map(), head, !vm_waiting)?;
            let plan = shape.plan(st.ordering.map(), candidate);
            match st.ordering.start_copy_run(plan) {
                Ok(run) => return Some(run),
                Err(CopyRefused::Parked) => continue,
                Err(CopyRefused::Busy) => {
                    let quiet = st.ordering.quiet_pending_after(candidate, QUIET_PROBES)?;
                    let plan = shape.plan(st.ordering.map(), quiet);
                    return st.ordering.start_copy_run(plan).ok();
                }
                // Retried when a VM write completes (it kicks the worker).
                Err(CopyRefused::NotPending) => return None,
            }
        }
        None
    }

    /// An IO issued by the worker completed (atomic context).
    pub(super) fn on_io_done(&self, ctx: &AtomicCtx<'_>, done: IoCompletion<IssuedIo>) {
        let ok = done.error_bits == 0;
        let mut st = self.state.lock();
        match done.tag {
            Some(IssuedIo::Mirror { blocks, to_dest }) => {
                let source_ok = done.error_bits & 1 == 0;
                let dest_ok = to_dest && done.error_bits & 2 == 0;
                st.mirrors_in_flight = st.mirrors_in_flight.saturating_sub(1);
                // The kick below runs the worker, which honours the window.
                let _ = st.on_vm_complete();
                let write = WriteTicket {
                    first: blocks.first,
                    chunks: blocks.blocks,
                    mirrored: true,
                    to_dest,
                };
                // The blocks are copied again unless both writes landed; a
                // destination failure costs everything it had not flushed.
                st.ordering.write_done(write, source_ok, dest_ok);
                drop(st);
                if to_dest && !dest_ok {
                    pr_err_ratelimited!(
                        "{}: mirrored write to block {} failed on the destination; \
                         unflushed copies are lost, copying stops until 'resume'\n",
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
                st.put_buf(slot, done.buffer);
                if let SlotState::Reading(run) = st.slot_state(slot) {
                    if ok {
                        let waiting = st.slots.get(slot).is_some_and(|s| s.piggy.is_some());
                        st.set_slot(
                            slot,
                            if waiting {
                                SlotState::Serving(run)
                            } else {
                                SlotState::ReadDone(run)
                            },
                        );
                        drop(st);
                    } else {
                        st.set_slot(slot, SlotState::Idle);
                        // The source failed, not the destination: mirroring goes on.
                        st.ordering.copy_read_failed(run);
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
                st.put_buf(slot, done.buffer);
                if let SlotState::Writing(run) = st.slot_state(slot) {
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
                            SlotState::Caching(run)
                        } else {
                            SlotState::Idle
                        },
                    );
                    if let Some(s) = st.slot_mut(slot) {
                        s.cache_stale = false;
                    }
                    drop(st);
                    if !ok {
                        pr_err_ratelimited!(
                            "{}: blocks {}+{}: destination write failed; unflushed copies \
                             are lost, copying stops until 'resume'\n",
                            self.name(),
                            run.first,
                            run.blocks
                        );
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
                        "{}: flush of the destination failed; unflushed copies are lost, \
                         copying stops until 'resume'\n",
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

    /// Makes what the copy and the mirrored writes wrote durable before the
    /// device is suspended (dm-clone flushes before it commits): after this,
    /// `synced` in the status of a suspended device means the destination is
    /// complete and durable. The dm layer waits for the flush after this
    /// returns.
    pub(super) fn flush_before_suspend(&self, ctx: &ProcessCtx<'_>) {
        // Copies, mirrored writes and a background flush in flight first: a
        // flush issued before the last of them completed does not cover it.
        ctx.wait_idle();
        let mut st = self.state.lock();
        if st.ordering.dest_failed() || st.ordering.dest_durable() {
            return;
        }
        st.ordering.dest_flush_issued(true);
        st.flush_pacer.flushed();
        let ticket = ctx.io_ticket();
        drop(st);
        ctx.flush(ticket, &self.dest, IssuedIo::DestFlush);
    }
}
