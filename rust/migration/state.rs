// SPDX-License-Identifier: GPL-2.0

//! The migration engine's state: what `map`, `end_io`, the worker
//! ([`super::worker`]) and IO completions ([`super::completion`]) share
//! under the target's interrupt-safe lock, and the copy slots. Which copy
//! may start and when a block counts is the ordering protocol's decision
//! ([`crate::policy::ordering`]).

use super::cache::{MigrationCache, Retired};
use super::commit::Commits;
use crate::dm::{BioList, IoBuffer, IoTag, OwnedBio};
use crate::policy::announce::Announcer;
use crate::policy::anticipation::{Anticipation, AnticipationParams};
use crate::policy::readroute::{ReadRouter, ReadsMode};
use crate::policy::{
    copyrun::CopyRun,
    deadline::DeadlinePacer,
    iotag::IssuedIo,
    ordering::Ordering,
    piggyback::{extends_a_run, PiggybackRule},
    ratio::RatioScheduler,
    select::AnySelector,
    stats::EngineCounters,
    status::StateWord,
    table::DEPTH_MAX,
    unflushed::FlushPacer,
};
use kernel::prelude::*;

/// Copy slots at most; each present one owns a chunk-sized buffer. A target
/// has its table's `depth` of them for background copies (four by default;
/// copy reads on the disk at most: `ratio::copy_reads_allowed`) and one
/// more, kept for a piggybacked VM read.
pub(super) const MAX_COPY_SLOTS: usize = DEPTH_MAX as usize + 1;

/// Mirrored VM writes in flight at most; more wait in the queue.
pub(super) const MIRRORS_MAX: u32 = 64;

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
    pub(super) state: SlotState,
    pub(super) buf: Option<IoBuffer>,
    /// The VM read the slot's run read will serve (piggybacking).
    pub(super) piggy: Option<OwnedBio>,
    /// A VM write overlapped the run a `Caching` slot holds: cache none of it.
    pub(super) cache_stale: bool,
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
    /// The configured ratio and how far a deadline raised it: the ratio in
    /// force is `pacer.ratio()`, which `ratio` runs on.
    pub(super) pacer: DeadlinePacer,
    /// `pause` message or `paused` feature.
    pub(super) paused: bool,
    /// Between presuspend and resume: no new copies.
    pub(super) suspended: bool,
    /// The dm events raised so far.
    pub(super) announcer: Announcer,
    /// The worker stopped on the ratio and wants a kick when VM IO allows.
    pub(super) waiting_for_ratio: bool,
    /// Whether the VM counts as busy between its requests (deceptive idleness).
    pub(super) anticipation: Anticipation,
    /// Copy IOs start at the head (else at chunk boundaries): `read_at_head`.
    pub(super) read_at_head: bool,
    /// Longest copy IO while the VM is idle, in sectors (0: whole chunks).
    pub(super) idle_run_sectors: u32,
    /// The worker wants to look again then (ns): an anticipation window or
    /// a periodic flush that is not due yet.
    pub(super) wake_at_ns: Option<u64>,
    pub(super) slots: [CopySlot; MAX_COPY_SLOTS],
    /// Background copies in flight at most (`depth`, at most the table's).
    pub(super) depth: usize,
    /// The table's depth: the slots that have buffers, less the piggyback
    /// one (a u32: ctr's frame holds the state on its way into its box).
    pub(super) table_depth: u32,
    /// When a VM read is served by reading its whole chunk.
    pub(super) piggyback: PiggybackRule,
    /// VM writes to migrated chunks, to be written to both devices by the worker.
    pub(super) mirror_queue: BioList,
    pub(super) mirrors_in_flight: u32,
    /// VM reads whose piggybacked chunk read failed: read again on their own.
    pub(super) reread_queue: BioList,
    /// VM reads of migrated blocks routed to the destination, for the worker.
    pub(super) dest_read_queue: BioList,
    /// Which device serves VM reads of migrated blocks.
    pub(super) router: ReadRouter,
    /// VM bios sent to the disk and not completed yet.
    pub(super) vm_in_flight: u64,
    /// What the engine did, for `dmsetup status` and `stats`.
    pub(super) counters: EngineCounters,
    /// Migrated blocks kept in memory for the VM's reads.
    pub(super) cache: MigrationCache,
    /// When the destination is flushed during the copy (`flush_interval`).
    pub(super) flush_pacer: FlushPacer,
    /// The metadata commits, with a metadata device.
    pub(super) commits: Option<KBox<Commits>>,
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
            pacer: DeadlinePacer::new(ratio.ratio()),
            paused,
            suspended: false,
            announcer: Announcer::new(),
            waiting_for_ratio: false,
            anticipation: Anticipation::new(AnticipationParams::default()),
            read_at_head: true,
            idle_run_sectors: 0,
            wake_at_ns: None,
            slots,
            depth,
            table_depth: u32::try_from(depth).unwrap_or(1),
            piggyback: PiggybackRule::default(),
            mirror_queue: BioList::new(),
            mirrors_in_flight: 0,
            reread_queue: BioList::new(),
            dest_read_queue: BioList::new(),
            router: ReadRouter::new(ReadsMode::Auto),
            vm_in_flight: 0,
            counters: EngineCounters::default(),
            cache,
            flush_pacer: FlushPacer::new(0),
            commits: None,
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
        let extends = extends_a_run(map, run);
        let waiting = u32::try_from(waiting).unwrap_or(u32::MAX);
        if !self.copying_allowed()
            || !self
                .piggyback
                .decide(pending, extends, run_sectors, sectors, waiting)
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
        self.counters.piggybacked_copies = self.counters.piggybacked_copies.saturating_add(1);
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
        if depth == 0 || depth > self.table_depth {
            return Err(EINVAL);
        }
        let depth = usize::try_from(depth).map_err(|_| EINVAL)?;
        self.depth = depth;
        Ok(())
    }

    /// The depth in force.
    pub(super) fn depth(&self) -> u32 {
        u32::try_from(self.depth).unwrap_or(1)
    }

    /// The table's depth.
    pub(super) fn table_depth(&self) -> u32 {
        self.table_depth
    }

    /// Whether new copies may start at all.
    pub(super) fn copying_allowed(&self) -> bool {
        !self.paused && !self.suspended && !self.ordering.in_error()
    }

    /// Switch queue-aware piggybacking on or off (table feature, message).
    pub(super) fn set_queue_aware(&mut self, on: bool) {
        self.piggyback.queue_aware = on;
    }

    /// Keep reads at the head and piggybacking from leaving islands, or not.
    pub(super) fn set_avoid_islands(&mut self, on: bool) {
        self.piggyback.avoid_islands = on;
    }

    /// Whether the island guard is on.
    pub(super) fn avoid_islands(&self) -> bool {
        self.piggyback.avoid_islands
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

    /// Accounts a VM bio sent to the source disk; true when the worker
    /// should be kicked because the VM has now earned the migration its share.
    pub(super) fn on_vm_dispatch(&mut self) -> bool {
        self.counters.vm_ios = self.counters.vm_ios.saturating_add(1);
        self.on_source_load()
    }

    /// A VM bio loads the source disk (for the ratio and the anticipation):
    /// every VM bio mapped to it, and a destination read that falls back.
    pub(super) fn on_source_load(&mut self) -> bool {
        // The clock only matters when the VM comes back from idle (a think
        // time): not read for every bio.
        if self.vm_in_flight == 0 {
            self.anticipation.on_vm_dispatch(super::now_ns(), 0);
        }
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

    /// A new configured ratio (`ratio` message): a deadline's raise stays.
    pub(super) fn set_ratio(&mut self, ratio: crate::policy::ratio::Ratio) {
        self.pacer.set_base(ratio);
        self.ratio.set_ratio(self.pacer.ratio());
    }

    /// A deadline `seconds` from now, or none (`0`): table feature, message.
    pub(super) fn set_deadline(&mut self, now_ns: u64, seconds: u32) {
        self.pacer.set_deadline(now_ns, seconds);
        self.ratio.set_ratio(self.pacer.ratio());
    }

    /// Looks at the pace the deadline needs (at most once a
    /// `CONTROL_INTERVAL_NS`) and wakes the worker for the next look while
    /// the copy runs.
    pub(super) fn pace_to_deadline(&mut self, now_ns: u64) {
        let map = self.ordering.map();
        let (migrated, total) = (map.nr_migrated(), map.nr_blocks());
        let copying = self.copying_allowed();
        if let Some(ratio) = self.pacer.poll(now_ns, migrated, total, copying) {
            self.ratio.set_ratio(ratio);
        }
        if copying && migrated < total {
            if let Some(at) = self.pacer.next_poll_ns(now_ns) {
                self.wake_at(at);
            }
        }
    }

    /// Leaves the error state (`resume` message). A destination fault ends
    /// once no mirrored write from before it is in flight.
    pub(super) fn clear_error(&mut self) {
        self.ordering.clear_error();
    }

    pub(super) fn slot_mut(&mut self, slot: usize) -> Option<&mut CopySlot> {
        self.slots.get_mut(slot)
    }

    pub(super) fn set_slot(&mut self, slot: usize, to: SlotState) {
        if let Some(s) = self.slot_mut(slot) {
            s.state = to;
        }
    }

    pub(super) fn slot_state(&self, slot: usize) -> SlotState {
        self.slots.get(slot).map_or(SlotState::Absent, |s| s.state)
    }

    /// The first slot whose state `pick` maps to a run.
    pub(super) fn find_slot(
        &self,
        pick: impl Fn(SlotState) -> Option<CopyRun>,
    ) -> Option<(usize, CopyRun)> {
        self.slots
            .iter()
            .enumerate()
            .find_map(|(i, s)| pick(s.state).map(|r| (i, r)))
    }

    /// Takes the buffer of `slot` out, for an IO or a worker step.
    pub(super) fn take_buf(&mut self, slot: usize) -> Option<IoBuffer> {
        self.slot_mut(slot)?.buf.take()
    }

    /// Puts a buffer back into its slot (a completion or a worker step).
    pub(super) fn put_buf(&mut self, slot: usize, buf: Option<IoBuffer>) {
        if let (Some(s), Some(b)) = (self.slot_mut(slot), buf) {
            s.buf = Some(b);
        }
    }

    /// Takes the VM read waiting on `slot`, if any.
    pub(super) fn take_piggy(&mut self, slot: usize) -> Option<OwnedBio> {
        self.slot_mut(slot)?.piggy.take()
    }

    /// The worker wants to run again at `at_ns` (the earliest of its wishes).
    pub(super) fn wake_at(&mut self, at_ns: u64) {
        self.wake_at_ns = Some(self.wake_at_ns.map_or(at_ns, |t| t.min(at_ns)));
    }

    /// What the worker announces when it goes idle: a `synced` not yet
    /// announced for this complete copy, an `error` not yet announced.
    pub(super) fn take_announcements(&mut self) -> (bool, bool) {
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

/// The engine's IO tags cross the dm layer as [`IssuedIo`] (the policy
/// core's codec, tested on the host).
impl IoTag for IssuedIo {
    fn into_raw(self) -> u64 {
        IssuedIo::into_raw(self)
    }

    fn from_raw(raw: u64) -> Option<Self> {
        IssuedIo::from_raw(raw)
    }
}
