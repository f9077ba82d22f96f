//! The migration engine's state and its worker: picks chunks through the
//! policy core, copies them source → buffer → destination with a bounded
//! number of copies in flight, mirrors the VM writes `map` handed over, and
//! announces the end of the copy.

use super::IoFollow;
use crate::dm::{BioList, BlkStatus, Ctx, IoCompletion, OwnedBio};
use crate::policy::{
    head::chunk_of_head,
    map::{ChunkMap, ChunkState},
    piggyback::PiggybackRule,
    ratio::RatioScheduler,
    select::{AnySelector, Selector},
    table::StateWord,
};
use kernel::prelude::*;

/// Copies in flight at most; each owns one chunk-sized buffer. Background
/// copies use two (the source reads the next chunk while the previous one is
/// written); the third is kept for a piggybacked VM read.
pub(super) const COPY_SLOTS: usize = 3;
const BACKGROUND_SLOTS: usize = 2;

/// Mirrored VM writes in flight at most; more wait in the queue. Each slot
/// records its chunk so that no copy of that chunk starts meanwhile: a copy
/// could read the source before the write lands and then overwrite the
/// destination with the old data.
const MIRROR_SLOTS: usize = 64;

/// What a copy slot is doing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    Idle,
    /// Reserved by `map` for a piggybacked VM read of this chunk: the worker
    /// reads the whole chunk, the VM's bio is served from the buffer.
    Piggyback(u64),
    /// Reading this chunk from the source into the slot's buffer.
    Reading(u64),
    /// Read done; the worker writes the buffer to the destination.
    ReadDone(u64),
    /// Writing this chunk to the destination.
    Writing(u64),
}

/// Everything `map`, `end_io`, the worker and IO completions share, under
/// the target's interrupt-safe lock.
pub(super) struct EngineState {
    pub(super) map: ChunkMap<KVVec<u64>>,
    pub(super) selector: AnySelector,
    pub(super) ratio: RatioScheduler,
    /// `pause` message or `paused` feature.
    pub(super) paused: bool,
    /// Between presuspend and resume: no new copies.
    pub(super) suspended: bool,
    /// A copy or a mirrored write failed; copying stops until `resume`.
    pub(super) error: bool,
    /// The dm event for the end of the copy has been raised.
    pub(super) announced: bool,
    /// The dm event for the error state has been raised.
    pub(super) error_announced: bool,
    /// The worker stopped on the ratio and wants a kick when VM IO allows.
    pub(super) waiting_for_ratio: bool,
    pub(super) slots: [Slot; COPY_SLOTS],
    /// The VM read each slot's chunk read will serve (piggybacking).
    piggy_bios: [Option<OwnedBio>; COPY_SLOTS],
    /// When a VM read is served by reading its whole chunk.
    piggyback: PiggybackRule,
    /// VM writes to migrated chunks, to be written to both devices by the worker.
    pub(super) mirror_queue: BioList,
    /// Chunks of the mirrored writes in flight.
    mirrors: [Option<u64>; MIRROR_SLOTS],
    /// VM bios sent to the disk and not completed yet.
    pub(super) vm_in_flight: u64,
    pub(super) vm_ios: u64,
    pub(super) migration_ios: u64,
}

impl EngineState {
    pub(super) fn new(map: ChunkMap<KVVec<u64>>, selector: AnySelector, ratio: RatioScheduler, paused: bool) -> Self {
        Self {
            map,
            selector,
            ratio,
            paused,
            suspended: false,
            error: false,
            announced: false,
            error_announced: false,
            waiting_for_ratio: false,
            slots: [Slot::Idle; COPY_SLOTS],
            piggy_bios: [const { None }; COPY_SLOTS],
            piggyback: PiggybackRule::default(),
            mirror_queue: BioList::new(),
            mirrors: [None; MIRROR_SLOTS],
            vm_in_flight: 0,
            vm_ios: 0,
            migration_ios: 0,
        }
    }

    /// The state word of `dmsetup status`.
    pub(super) fn state_word(&self) -> StateWord {
        if self.error {
            StateWord::Error
        } else if self.paused {
            StateWord::Paused
        } else if self.map.is_synced() {
            StateWord::Synced
        } else {
            StateWord::Copying
        }
    }

    /// Reserves a copy slot for a VM read of `sectors` in `chunk` (of
    /// `chunk_sectors`) if the policy's piggyback rule says that reading the
    /// whole chunk pays; `waiting` is the VM IO already in flight. The caller
    /// hands the VM's bio to [`EngineState::attach_piggyback`] under the same lock.
    pub(super) fn reserve_piggyback(&mut self, chunk: u64, chunk_sectors: u64, sectors: u64, waiting: u64) -> Option<usize> {
        let pending = self.map.state(chunk).is_some_and(ChunkState::is_pending)
            && !self.mirrors.contains(&Some(chunk));
        let waiting = u32::try_from(waiting).unwrap_or(u32::MAX);
        if !self.copying_allowed() || !self.piggyback.decide(pending, chunk_sectors, sectors, waiting) {
            return None;
        }
        let slot = self.slots.iter().position(|s| *s == Slot::Idle)?;
        self.map.mark_in_flight(chunk).ok()?;
        self.slots[slot] = Slot::Piggyback(chunk);
        Some(slot)
    }

    /// The VM read that a slot reserved by `reserve_piggyback` will serve.
    pub(super) fn attach_piggyback(&mut self, slot: usize, bio: OwnedBio) {
        if let Some(entry) = self.piggy_bios.get_mut(slot) {
            *entry = Some(bio);
        }
    }

    /// Whether new copies may start at all.
    fn copying_allowed(&self) -> bool {
        !self.paused && !self.suspended && !self.error
    }

    /// Accounts a VM bio sent to the disk; true when the worker should be kicked
    /// because the VM has now earned the migration its share.
    pub(super) fn on_vm_dispatch(&mut self) -> bool {
        self.vm_ios = self.vm_ios.saturating_add(1);
        self.vm_in_flight = self.vm_in_flight.saturating_add(1);
        self.ratio.on_vm_dispatch();
        self.waiting_for_ratio && self.ratio.may_dispatch_migration(true)
    }

    /// Accounts a VM bio completion; true when the worker should be kicked
    /// because the disk has no VM IO left (migration runs freely then).
    pub(super) fn on_vm_complete(&mut self) -> bool {
        self.vm_in_flight = self.vm_in_flight.saturating_sub(1);
        self.waiting_for_ratio && self.vm_in_flight == 0
    }

    /// A VM write or discard completed on the source only, while `chunk`
    /// may have been copied meanwhile: make sure it is copied (again).
    pub(super) fn source_only_write_done(&mut self, chunk: u64) {
        match self.map.state(chunk) {
            Some(ChunkState::Migrated) | Some(ChunkState::InFlight) => {
                let _ = self.map.mark_dirty(chunk);
            }
            _ => {}
        }
    }
}

/// IO tags: the kind in the top byte, the copy or mirror slot below.
const TAG_READ: u64 = 1 << 56;
const TAG_WRITE: u64 = 2 << 56;
const TAG_MIRROR: u64 = 3 << 56;
const TAG_KIND: u64 = 0xff << 56;

/// One unit of work the worker picked under the lock.
enum Job {
    /// Write both devices with this mirrored VM bio, tracked in a mirror slot.
    Mirror(crate::dm::OwnedBio, usize),
    /// Write slot's buffer holding `chunk` to the destination.
    WriteOut(usize, u64),
    /// Read `chunk` into slot's buffer.
    ReadIn(usize, u64),
}

impl IoFollow {
    /// The worker: runs until there is nothing it may do now.
    pub(super) fn run_worker(&self, ctx: &Ctx<'_>) {
        loop {
            let mut st = self.state.lock();
            let (job, ticket) = if let Some(job) = self.next_mirror(&mut st, ctx) {
                (job, ctx.io_ticket())
            } else if let Some(job) = self.next_copy_step(&mut st) {
                (job, ctx.io_ticket())
            } else {
                let synced = st.map.is_synced() && !st.error;
                let announce_sync = synced && !st.announced;
                // A chunk dirtied after the end of the copy: announce the next end too.
                st.announced = synced;
                let announce_error = st.error && !st.error_announced;
                st.error_announced = st.error;
                drop(st);
                if announce_sync {
                    pr_info!("{}: copy complete, device synced\n", self.name());
                }
                if announce_sync || announce_error {
                    ctx.raise_event();
                }
                return;
            };
            drop(st);

            match job {
                Job::Mirror(bio, slot) => {
                    let sector = bio.sector().saturating_sub(ctx.target().begin());
                    ctx.write_bio(ticket, bio, &self.source, Some(&self.dest), sector, TAG_MIRROR | slot as u64);
                }
                Job::WriteOut(slot, chunk) => {
                    let (sector, sectors) = self.geometry.chunk_range(chunk);
                    let r = ctx.write_from_buffer(ticket, &self.dest, sector, sectors, slot as u32, TAG_WRITE | slot as u64);
                    if r.is_err() {
                        self.copy_failed(slot, chunk, "destination write could not be issued");
                    }
                }
                Job::ReadIn(slot, chunk) => {
                    let (sector, sectors) = self.geometry.chunk_range(chunk);
                    self.head.set(self.geometry.disk_offset.saturating_add(sector).saturating_add(sectors));
                    let r = ctx.read_into_buffer(ticket, &self.source, sector, sectors, slot as u32, TAG_READ | slot as u64);
                    if r.is_err() {
                        self.copy_failed(slot, chunk, "source read could not be issued");
                    }
                }
            }
        }
    }

    /// Takes the next queued mirrored write, if a mirror slot is free.
    fn next_mirror(&self, st: &mut EngineState, ctx: &Ctx<'_>) -> Option<Job> {
        let slot = st.mirrors.iter().position(Option::is_none)?;
        let bio = st.mirror_queue.pop()?;
        let chunk = self.geometry.chunk_of_bio(bio.sector(), ctx.target().begin());
        st.mirrors[slot] = Some(chunk);
        Some(Job::Mirror(bio, slot))
    }

    /// Picks the next copy step under the lock: finish a read (write it out),
    /// or start reading the chunk the policy selects, if the ratio allows.
    fn next_copy_step(&self, st: &mut EngineState) -> Option<Job> {
        // A VM read waits on a piggyback slot: issue it whatever the state.
        if let Some(slot) = st.slots.iter().position(|s| matches!(s, Slot::Piggyback(_))) {
            if let Some(Slot::Piggyback(chunk)) = st.slots.get(slot).copied() {
                st.slots[slot] = Slot::Reading(chunk);
                st.migration_ios = st.migration_ios.saturating_add(1);
                return Some(Job::ReadIn(slot, chunk));
            }
        }
        // A finished read is written out even when the copy is paused: the
        // chunk is in flight and must reach an end.
        if let Some(slot) = st.slots.iter().position(|s| matches!(s, Slot::ReadDone(_))) {
            if let Some(Slot::ReadDone(chunk)) = st.slots.get(slot).copied() {
                if !st.error && !st.suspended {
                    st.slots[slot] = Slot::Writing(chunk);
                    st.migration_ios = st.migration_ios.saturating_add(1);
                    return Some(Job::WriteOut(slot, chunk));
                }
                // Suspending or failed: give the chunk back rather than issue IO
                // after postsuspend found the target quiet.
                st.slots[slot] = Slot::Idle;
                let _ = st.map.complete(chunk, false);
            }
        }
        if !st.copying_allowed() {
            return None;
        }
        let slot = st.slots.iter().take(BACKGROUND_SLOTS).position(|s| *s == Slot::Idle)?;
        let vm_waiting = st.vm_in_flight > 0;
        if !st.ratio.may_dispatch_migration(vm_waiting) {
            st.waiting_for_ratio = true;
            return None;
        }
        st.waiting_for_ratio = false;
        let g = &self.geometry;
        let head = chunk_of_head(self.head.get(), g.disk_offset, g.chunk_shift, g.nr_chunks);
        let chunk = st.selector.next(&st.map, head, !vm_waiting)?;
        if st.mirrors.contains(&Some(chunk)) {
            // Retried when that mirrored write completes (it kicks the worker).
            return None;
        }
        st.map.mark_in_flight(chunk).ok()?;
        st.ratio.on_migration_dispatch();
        st.migration_ios = st.migration_ios.saturating_add(1);
        st.slots[slot] = Slot::Reading(chunk);
        Some(Job::ReadIn(slot, chunk))
    }

    fn copy_failed(&self, slot: usize, chunk: u64, why: &str) {
        pr_err!("{}: chunk {}: {}; copying stops until 'resume'\n", self.name(), chunk, why);
        let mut st = self.state.lock();
        if let Some(s) = st.slots.get_mut(slot) {
            *s = Slot::Idle;
        }
        let _ = st.map.complete(chunk, false);
        st.error = true;
        let piggy = Self::take_piggy(&mut st, slot);
        drop(st);
        if let Some(bio) = piggy {
            bio.end(BlkStatus::from_error(EIO));
        }
    }

    /// Takes the VM read waiting on `slot`, if any, and accounts its end.
    fn take_piggy(st: &mut EngineState, slot: usize) -> Option<OwnedBio> {
        let bio = st.piggy_bios.get_mut(slot)?.take()?;
        st.vm_in_flight = st.vm_in_flight.saturating_sub(1);
        Some(bio)
    }

    /// Completes a piggybacked VM read from the chunk its slot read (atomic
    /// context): the buffer is not reused before the worker writes it out.
    fn serve_piggyback(&self, ctx: &Ctx<'_>, bio: OwnedBio, slot: usize, chunk: u64, read_failed: bool) {
        let (chunk_start, chunk_sectors) = self.geometry.chunk_range(chunk);
        let offset = bio.sector().saturating_sub(ctx.target().begin()).saturating_sub(chunk_start);
        let bytes = usize::try_from(chunk_sectors.saturating_mul(512)).unwrap_or(0);
        let offset = usize::try_from(offset.saturating_mul(512)).unwrap_or(usize::MAX);
        let status = if read_failed {
            BlkStatus::from_error(EIO)
        } else {
            match ctx.fill_from_buffer(&bio, slot as u32, offset, bytes) {
                Ok(()) => BlkStatus::OK,
                Err(e) => BlkStatus::from_error(e),
            }
        };
        bio.end(status);
    }

    /// An IO issued by the worker completed (atomic context).
    pub(super) fn on_io_done(&self, ctx: &Ctx<'_>, done: IoCompletion) {
        let failed = done.error_bits != 0;
        match done.tag & TAG_KIND {
            TAG_MIRROR => {
                let slot = (done.tag & !TAG_KIND) as usize;
                let source_failed = done.error_bits & 1 != 0;
                let dest_failed = done.error_bits & 2 != 0;
                let mut st = self.state.lock();
                let chunk = st.mirrors.get_mut(slot).and_then(Option::take).unwrap_or(u64::MAX);
                st.vm_in_flight = st.vm_in_flight.saturating_sub(1);
                if dest_failed {
                    // The VM's data is on the source; the chunk is copied again later.
                    let _ = st.map.mark_dirty(chunk);
                    st.error = true;
                }
                drop(st);
                if dest_failed {
                    pr_err!("{}: mirrored write to chunk {} failed on the destination\n", self.name(), chunk);
                }
                if let Some(bio) = done.bio {
                    let status = if source_failed { BlkStatus::from_error(EIO) } else { BlkStatus::OK };
                    bio.end(status);
                }
            }
            TAG_READ => {
                let slot = (done.tag & !TAG_KIND) as usize;
                let mut st = self.state.lock();
                let piggy = Self::take_piggy(&mut st, slot);
                if let Some(Slot::Reading(chunk)) = st.slots.get(slot).copied() {
                    if failed {
                        st.slots[slot] = Slot::Idle;
                        let _ = st.map.complete(chunk, false);
                        st.error = true;
                        drop(st);
                        pr_err!("{}: chunk {}: source read failed; copying stops until 'resume'\n", self.name(), chunk);
                    } else {
                        st.slots[slot] = Slot::ReadDone(chunk);
                        drop(st);
                    }
                    if let Some(bio) = piggy {
                        self.serve_piggyback(ctx, bio, slot, chunk, failed);
                    }
                } else if let Some(bio) = piggy {
                    drop(st);
                    bio.end(BlkStatus::from_error(EIO));
                }
            }
            TAG_WRITE => {
                let slot = (done.tag & !TAG_KIND) as usize;
                let mut st = self.state.lock();
                if let Some(Slot::Writing(chunk)) = st.slots.get(slot).copied() {
                    st.slots[slot] = Slot::Idle;
                    let _ = st.map.complete(chunk, !failed);
                    if failed {
                        st.error = true;
                        drop(st);
                        pr_err!("{}: chunk {}: destination write failed; copying stops until 'resume'\n", self.name(), chunk);
                    }
                }
            }
            _ => {}
        }
        ctx.kick();
    }
}
