// SPDX-License-Identifier: GPL-2.0

//! The worker: one pass picks the next job under the lock, in this order,
//! and carries it out without the lock, until there is nothing it may do:
//! fill a VM read waiting on a piggybacked copy from its buffer, copy a
//! written run into the cache, read a VM bio again alone, read a VM bio
//! routed to the destination, issue a queued mirrored write, the next copy step (a piggybacked read, a finished read
//! written out, a new copy read if the gate of [`crate::policy::worker`]
//! allows), and a destination flush (end of copy, or periodic). When it
//! goes idle it raises the dm events due ([`crate::policy::announce`]).

use super::cache::Retired;
use super::state::{EngineState, SlotState, MIRRORS_MAX};
use super::IoFollow;
use super::ProcessCtx;
use crate::dm::{BlkStatus, IoBuffer, OwnedBio};
use crate::policy::{
    copyrun::CopyRun,
    iotag::IssuedIo,
    map::BlockState,
    ordering::{CopyRefused, WriteTicket, PARKED_MAX, QUIET_PROBES},
    readroute::Leg,
    select::Selector,
    unflushed::FlushDue,
    worker::{copy_gate, copy_run_blocks, CopyGate},
};
use kernel::prelude::*;

/// One unit of work the worker picked under the lock, with the buffer it
/// needs taken out of its slot.
enum Job {
    /// Copy a written slot's buffer into the cache.
    Cache(usize, CopyRun, IoBuffer),
    /// Fill the VM read waiting on a slot from its buffer.
    Serve(usize, CopyRun, OwnedBio, IoBuffer),
    /// Read a VM bio again from the source alone.
    Reread(OwnedBio),
    /// Read a VM bio of migrated blocks from the destination.
    DestRead(OwnedBio),
    /// Write this VM bio to the source and, per its ticket, the destination.
    Mirror(OwnedBio, WriteTicket),
    /// Write the slot's buffer holding the run to the destination.
    WriteOut(usize, CopyRun, IoBuffer),
    /// Read the run into the slot's buffer.
    ReadIn(usize, CopyRun, IoBuffer),
    /// Flush the destination.
    Flush,
    /// Commit the migrated bitmap to the metadata device (sleeps).
    Commit,
    /// Send a VM write or discard that waited for a commit to the source
    /// alone, as `map` would have.
    HeldWrite(OwnedBio),
}

impl IoFollow {
    /// The worker: runs until there is nothing it may do now.
    pub(super) fn run_worker(&self, ctx: &ProcessCtx<'_>) {
        loop {
            let mut guard = self.state.lock();
            let st = &mut *guard;
            let now = super::now_ns();
            // A VM read waiting on a buffer goes before caching one.
            // A held write waits for the commit; candidates wait at most a second.
            let job = st
                .commit_due(now)
                .then_some(Job::Commit)
                .or_else(|| st.next_held_source().map(Job::HeldWrite))
                .or_else(|| Self::next_serve(st))
                .or_else(|| Self::next_cache(st))
                .or_else(|| st.reread_queue.pop().map(Job::Reread))
                .or_else(|| Self::next_dest_read(st))
                .or_else(|| self.next_mirror(st, ctx))
                .or_else(|| self.next_copy_step(st, now))
                .or_else(|| Self::next_flush(st, now));
            let Some(job) = job else {
                self.refresh_passthrough(st);
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
                Job::Commit => {
                    drop(ticket);
                    self.run_commit(ctx);
                }
                Job::HeldWrite(bio) => {
                    // dm counts it in flight until it ends, as a remapped bio.
                    drop(ticket);
                    let sector = bio.sector().saturating_sub(begin);
                    self.move_head(sector, u64::from(bio.sectors()));
                    bio.submit_remapped(&self.source, sector);
                }
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
                Job::DestRead(bio) => {
                    let sector = bio.sector().saturating_sub(begin);
                    ctx.read_bio(ticket, bio, &self.dest, sector, IssuedIo::DestRead);
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
            && st.ordering.map().state(block) == Some(BlockState::Migrated)
    }

    fn may_cache(&self, slot: usize, block: u64) -> bool {
        Self::cacheable(&self.state.lock(), slot, block)
    }

    /// A VM read routed to the destination. If the destination failed since
    /// `map` routed it, the source serves it instead (an unresponsive
    /// destination must not hold it, nor a suspend).
    fn next_dest_read(st: &mut EngineState) -> Option<Job> {
        let bio = st.dest_read_queue.pop()?;
        if st.ordering.dest_failed() {
            st.router.done(Leg::Destination, 0, false);
            let _ = st.on_source_load();
            return Some(Job::Reread(bio));
        }
        Some(Job::DestRead(bio))
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
            blocks: blocks.blocks,
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
        st.pace_to_deadline(now);
        // A VM read waits on a piggyback slot: issue it whatever the state.
        if let Some((slot, run)) = st.find_slot(|s| match s {
            SlotState::Piggyback(r) => Some(r),
            _ => None,
        }) {
            if let Some(buf) = st.take_buf(slot) {
                st.set_slot(slot, SlotState::Reading(run));
                st.counters.migration_ios = st.counters.migration_ios.saturating_add(1);
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
                    st.counters.migration_ios = st.counters.migration_ios.saturating_add(1);
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
        // A copy read completing kicks the worker again.
        let reads = st
            .slots
            .iter()
            .filter(|s| matches!(s.state, SlotState::Reading(_)))
            .count();
        let reads = u32::try_from(reads).unwrap_or(u32::MAX);
        let idle_run_blocks = self.geometry.idle_run_blocks(st.idle_run_sectors);
        match copy_gate(
            now,
            st.depth(),
            reads,
            st.vm_in_flight,
            &st.anticipation,
            &st.ratio,
            idle_run_blocks,
        ) {
            CopyGate::Go => {}
            CopyGate::Full => return None,
            CopyGate::Ratio { wake_at_ns } => {
                st.waiting_for_ratio = true;
                if let Some(end) = wake_at_ns {
                    // Only the anticipation holds the copy: look again when it ends.
                    st.wake_at(end);
                }
                return None;
            }
        }
        st.waiting_for_ratio = false;
        let vm_busy = st.anticipation.vm_busy(now, st.vm_in_flight);
        let max_blocks = copy_run_blocks(vm_busy, self.geometry.chunk_blocks(), idle_run_blocks);
        let run = self.start_selected_copy(st, vm_busy, max_blocks)?;
        let buf = st.take_buf(slot)?;
        st.ratio.on_migration_dispatch();
        st.counters.background_copies = st.counters.background_copies.saturating_add(1);
        st.counters.migration_ios = st.counters.migration_ios.saturating_add(1);
        st.set_slot(slot, SlotState::Reading(run));
        Some(Job::ReadIn(slot, run, buf))
    }

    /// Asks the policy for the next block and starts a copy run there. A
    /// block with VM writes in flight is parked by the protocol, so the
    /// selector offers the next best one; with no parking place left, the
    /// copy goes on at a quiet pending block near the selected one. The run
    /// covers `max_blocks` at most (idle-first copying).
    fn start_selected_copy(
        &self,
        st: &mut EngineState,
        vm_busy: bool,
        max_blocks: u32,
    ) -> Option<CopyRun> {
        let g = &self.geometry;
        let shape = g.shape(st.read_at_head, st.avoid_islands());
        let head = shape.head_block(self.head.get(), g.disk_offset, g.nr_blocks);
        let capped = |mut plan: CopyRun| {
            plan.blocks = plan.blocks.min(max_blocks);
            plan
        };
        for _ in 0..=PARKED_MAX {
            let candidate = st.selector.next(st.ordering.map(), head, !vm_busy)?;
            let plan = capped(shape.plan(st.ordering.map(), candidate));
            match st.ordering.start_copy_run(plan) {
                Ok(run) => return Some(run),
                Err(CopyRefused::Parked) => continue,
                Err(CopyRefused::Busy) => {
                    let quiet = st.ordering.quiet_pending_after(candidate, QUIET_PROBES)?;
                    let plan = capped(shape.plan(st.ordering.map(), quiet));
                    return st.ordering.start_copy_run(plan).ok();
                }
                // Retried when a VM write completes (it kicks the worker).
                Err(CopyRefused::NotPending) => return None,
            }
        }
        None
    }
}
