// SPDX-License-Identifier: GPL-2.0

//! Commits of the migrated bitmap while the table runs (`metadata <dev>`),
//! so that a crash costs only the copy since the last commit. The protocol
//! is [`crate::policy::commit`]'s; this is its mechanism:
//!
//! - `map` asks the protocol about every VM write; one to a chunk holding
//!   a recorded block is held here until the commit that clears the
//!   chunk's bits has completed (dm-raid1 marks its region in the log
//!   before it writes: the chunk is the region).
//! - A copy that completes makes its migrated blocks candidates; the worker
//!   commits them every `COMMIT_INTERVAL_NS`, or at once when a write is
//!   held. A written chunk is offered again only after an interval with no
//!   write to it ([`crate::policy::cleaning`]), so a VM that keeps writing
//!   one waits for a commit once.
//! - A commit runs in the worker, synchronously, under the metadata mutex
//!   (as dm-clone's worker commits): flush the source and the destination,
//!   record the candidates that are still durable, write the pages that
//!   changed, flush the metadata device, write the superblock with FUA.
//!
//! A failed metadata write leaves the device's bits unknown: held writes
//! stay held while both superblock slots are zeroed, then nothing is
//! recorded any more and the copy goes on without commits (the next table
//! starts over, or resumes from a later clean checkpoint).

use super::metadata::{Metadata, MetadataIo};
use super::state::EngineState;
use super::{IoFollow, ProcessCtx};
use crate::dm::{BioList, OwnedBio};
use crate::policy::cleaning::Cleaning;
use crate::policy::commit::{Commit, CommitStep, Health, Phase, WriteGate};
use crate::policy::copyrun::CopyRun;
use crate::policy::map::BlockState;
use crate::policy::ordering::Ordering;
use kernel::prelude::*;

/// How long a candidate waits for a commit at most, when no write is held
/// (dm-clone commits every second).
const COMMIT_INTERVAL_NS: u64 = 1_000_000_000;

/// The commit protocol's state and the writes it holds, under the engine
/// lock.
pub(super) struct Commits {
    protocol: Commit<KVVec<u64>>,
    /// Chunks written lately, offered to the protocol again once quiet.
    cleaning: Cleaning<KVVec<u64>>,
    /// When the written chunks are looked at again (ns).
    tick_ns: Option<u64>,
    /// Held VM writes, by the commit they wait for: `[0]` the next one to
    /// complete, `[1]` the one after. Mirrored ones, and ones to the source
    /// alone.
    held_mirrors: [BioList; 2],
    held_source: [BioList; 2],
    /// Released writes to the source alone, for the worker to issue.
    pub(super) source_queue: BioList,
    /// When the candidates waiting are committed (ns), if no write is held.
    due_ns: Option<u64>,
    /// Commits completed, writes held so far (for `stats`).
    pub(super) held_writes: u64,
}

impl Commits {
    /// Nothing recorded, for `nr_blocks` blocks in chunks of
    /// `chunk_blocks`. Boxed, and not inlined:
    /// ctr's frame has no room for it.
    #[inline(never)]
    pub(super) fn new(nr_blocks: u64, chunk_blocks: u32) -> Result<KBox<Self>> {
        let words = Commit::<KVVec<u64>>::words_needed(nr_blocks).ok_or(EINVAL)?;
        let storage = KVVec::from_elem(0u64, words, GFP_KERNEL)?;
        let written =
            Cleaning::<KVVec<u64>>::words_needed(nr_blocks, chunk_blocks).ok_or(EINVAL)?;
        let written = KVVec::from_elem(0u64, written, GFP_KERNEL)?;
        let commits = KBox::new(
            Self {
                protocol: Commit::new(storage, nr_blocks).ok_or(EINVAL)?,
                cleaning: Cleaning::new(written, nr_blocks, chunk_blocks).ok_or(EINVAL)?,
                tick_ns: None,
                held_mirrors: [BioList::new(), BioList::new()],
                held_source: [BioList::new(), BioList::new()],
                source_queue: BioList::new(),
                due_ns: None,
                held_writes: 0,
            },
            GFP_KERNEL,
        )?;
        Ok(commits)
    }

    /// Blocks recorded migrated, commits completed.
    pub(super) fn counts(&self) -> (u64, u64) {
        (self.protocol.recorded_count(), self.protocol.committed())
    }

    /// Whether bitmap page `page` holds a bit the commit in flight changes.
    pub(super) fn page_changed(&self, page: u64) -> bool {
        self.protocol.page_changed(page)
    }

    /// The bit of `block` the commit in flight writes.
    pub(super) fn page_bit(&self, block: u64) -> bool {
        self.protocol.page_bit(block)
    }

    /// Whether commits still record blocks (not after a metadata failure).
    pub(super) fn recording(&self) -> bool {
        self.protocol.phase() != Phase::Off
    }

    /// The device's state, for `stats`.
    pub(super) fn health(&self) -> Health {
        self.protocol.health()
    }

    /// A block the device's bitmap holds (restored, or written by a
    /// checkpoint): a write to it waits for a commit that clears it.
    pub(super) fn load_recorded(&mut self, block: u64) {
        self.protocol.load_recorded(block);
    }

    /// A VM write to `blocks` reaches `map`: `Some(i)` if it must be held
    /// (in `held_*[i]`) until a commit has cleared its chunks' bits.
    pub(super) fn gate(&mut self, blocks: CopyRun, now: u64) -> Option<usize> {
        self.written(blocks, now);
        match self.protocol.map_write(self.cleaning.regions_of(blocks)) {
            WriteGate::Go => None,
            WriteGate::Wait(n) => {
                self.held_writes = self.held_writes.saturating_add(1);
                let ahead = n
                    .saturating_sub(self.protocol.committed())
                    .saturating_sub(1);
                Some(usize::from(ahead > 0))
            }
        }
    }

    /// A VM write to `blocks` was mapped or completed: their chunks are
    /// offered to the protocol again after an interval without another.
    fn written(&mut self, blocks: CopyRun, now: u64) {
        self.cleaning.written(blocks);
        if self.tick_ns.is_none() {
            self.tick_ns = Some(now.saturating_add(COMMIT_INTERVAL_NS));
        }
    }

    /// The interval is over: the chunks written in the last one and not
    /// since offer their blocks that are migrated with no write in flight.
    /// When to look at the written chunks again, if any are left.
    fn offer_quiet(&mut self, ordering: &Ordering<KVVec<u64>>, now: u64) -> Option<u64> {
        let Self {
            cleaning, protocol, ..
        } = self;
        let mut offered = false;
        cleaning.tick(|chunk| {
            let mut quiet = true;
            for block in chunk.iter() {
                if ordering.writes_in_flight(block) {
                    quiet = false;
                } else if ordering.map().state(block) == Some(BlockState::Migrated) {
                    protocol.candidate(CopyRun {
                        first: block,
                        blocks: 1,
                    });
                    offered = true;
                }
            }
            quiet
        });
        if offered && self.due_ns.is_none() && self.protocol.has_work() {
            self.due_ns = Some(now.saturating_add(COMMIT_INTERVAL_NS));
        }
        self.tick_ns = self
            .cleaning
            .has_work()
            .then(|| now.saturating_add(COMMIT_INTERVAL_NS));
        self.tick_ns
    }

    /// Holds a write `gate` said waits in `held_*[i]`.
    pub(super) fn hold(&mut self, i: usize, bio: OwnedBio, mirrored: bool) {
        let lists = if mirrored {
            &mut self.held_mirrors
        } else {
            &mut self.held_source
        };
        if let Some(list) = lists.get_mut(i.min(1)) {
            list.push(bio);
        }
    }

    /// The blocks of `run` are migrated with no write in flight (their copy
    /// completed on both devices): a later commit records them.
    pub(super) fn candidate(&mut self, run: CopyRun, now: u64) {
        self.protocol.candidate(run);
        if self.due_ns.is_none() && self.protocol.has_work() {
            self.due_ns = Some(now.saturating_add(COMMIT_INTERVAL_NS));
        }
    }

    /// Whether a VM write waits for a commit.
    fn holding(&self) -> bool {
        let waiting = |lists: &[BioList; 2]| lists.iter().any(|l| !l.is_empty());
        waiting(&self.held_mirrors) || waiting(&self.held_source)
    }

    /// Whether the worker should commit now; else when to look again. A
    /// suspended table commits only for the writes it holds (dm waits for
    /// them before postsuspend): after its checkpoint, the next table owns
    /// the metadata device.
    fn due(&self, now: u64, suspended: bool) -> (bool, Option<u64>) {
        let p = &self.protocol;
        if !matches!(p.phase(), Phase::Idle | Phase::Failed)
            || !p.has_work()
            || (suspended && !self.holding())
        {
            return (false, None);
        }
        if p.phase() == Phase::Failed || p.clears_waiting() {
            return (true, None);
        }
        match self.due_ns {
            Some(at) if at > now => (false, Some(at)),
            _ => (true, None),
        }
    }

    /// After a commit completed: the writes that waited for it go, and those
    /// that waited for the next one wait for the next one to complete.
    /// Once nothing is recorded any more (or the protocol restarted), all go.
    fn release(&mut self, mirror_queue: &mut BioList, all: bool) {
        let [m0, m1] = &mut self.held_mirrors;
        let [s0, s1] = &mut self.held_source;
        move_all(m0, mirror_queue);
        move_all(s0, &mut self.source_queue);
        if all {
            move_all(m1, mirror_queue);
            move_all(s1, &mut self.source_queue);
        } else {
            core::mem::swap(m0, m1);
            core::mem::swap(s0, s1);
        }
    }

    /// `reset`: nothing is recorded, and no write waits (the device's bitmap
    /// is no longer trusted).
    pub(super) fn restart(&mut self, mirror_queue: &mut BioList) {
        self.protocol.restart();
        self.cleaning.clear();
        self.tick_ns = None;
        self.due_ns = None;
        self.release(mirror_queue, true);
    }
}

fn move_all(from: &mut BioList, to: &mut BioList) {
    while let Some(bio) = from.pop() {
        to.push(bio);
    }
}

impl EngineState {
    /// Under the lock, in the worker: whether a commit is due now, and
    /// records when to look again if one will be.
    pub(super) fn commit_due(&mut self, now: u64) -> bool {
        self.offer_quiet_chunks(now);
        let Some(c) = &self.commits else {
            return false;
        };
        let (now_due, later) = c.due(now, self.suspended);
        if let Some(at) = later {
            self.wake_at(at);
        }
        now_due
    }

    /// Under the lock, in the worker: once an interval has passed, every
    /// chunk written in the last one and not since offers its blocks that
    /// are migrated with no write in flight (not while suspended: the next
    /// table may own the metadata device).
    fn offer_quiet_chunks(&mut self, now: u64) {
        if self.suspended {
            return;
        }
        let Some(c) = self.commits.as_mut() else {
            return;
        };
        let look_again = match c.tick_ns {
            Some(at) if at <= now => c.offer_quiet(&self.ordering, now),
            later => later,
        };
        if let Some(at) = look_again {
            self.wake_at(at);
        }
    }

    /// A mirrored write of `run` completed: its chunks are offered again
    /// after an interval without another write.
    pub(super) fn commit_written(&mut self, run: CopyRun) {
        if let Some(c) = self.commits.as_mut() {
            c.written(run, super::now_ns());
        }
    }

    /// A copy of `run` completed: its blocks that are migrated with no write
    /// in flight are commit candidates (those of a chunk written lately
    /// are offered with it, once quiet).
    pub(super) fn commit_candidates(&mut self, run: CopyRun) {
        let Some(c) = self.commits.as_mut() else {
            return;
        };
        let now = super::now_ns();
        for block in run.iter() {
            if self.ordering.map().state(block) == Some(BlockState::Migrated)
                && !self.ordering.writes_in_flight(block)
                && !c.cleaning.settling(block)
            {
                c.candidate(
                    CopyRun {
                        first: block,
                        blocks: 1,
                    },
                    now,
                );
            }
        }
    }

    /// A released write to the source alone, for the worker.
    pub(super) fn next_held_source(&mut self) -> Option<OwnedBio> {
        self.commits.as_mut()?.source_queue.pop()
    }
}

impl IoFollow {
    /// One commit (or the invalidation after a failed one), in the worker.
    pub(super) fn run_commit(&self, ctx: &ProcessCtx<'_>) {
        let Some(md) = &self.metadata else {
            return;
        };
        let mut guard = md.lock_io();
        let mio = &mut *guard;
        if !mio.loaded() {
            return;
        }
        let step = {
            let mut st = self.state.lock();
            st.commits.as_mut().and_then(|c| c.protocol.begin())
        };
        let Some(mut step) = step else {
            return;
        };
        if step == CommitStep::Invalidate {
            self.invalidate(ctx, md, mio);
            return;
        }
        if step == CommitStep::FlushDevices {
            let ok = self.flush_devices(ctx, mio);
            let mut st = self.state.lock();
            let EngineState {
                ordering, commits, ..
            } = &mut **st;
            let Some(c) = commits else {
                return;
            };
            step = c
                .protocol
                .devices_flushed_if(ok, |b| ordering.commit_check(b));
        }
        if step != CommitStep::WritePages {
            return;
        }
        let written = self.write_commit(ctx, md, mio).inspect_err(|e| {
            pr_err!(
                "{}: metadata commit failed: error {}; holding writes to recorded blocks \
                 while the metadata is invalidated\n",
                self.name(),
                e.to_errno()
            );
        });
        let mut st = self.state.lock();
        let EngineState {
            commits,
            mirror_queue,
            ..
        } = &mut **st;
        let Some(c) = commits else {
            return;
        };
        c.protocol.done(written.is_ok());
        if written.is_ok() {
            c.due_ns = c
                .protocol
                .has_work()
                .then(|| super::now_ns().saturating_add(COMMIT_INTERVAL_NS));
            c.release(mirror_queue, false);
        }
        drop(st);
        ctx.kick();
    }

    /// The source and the destination flushed for the closed candidates:
    /// the destination's flush is the ordering protocol's too (it makes the
    /// copies durable there, or is a destination fault). Returns whether
    /// both succeeded.
    fn flush_devices(&self, ctx: &ProcessCtx<'_>, mio: &mut MetadataIo) -> bool {
        let ticket = {
            let mut st = self.state.lock();
            (!st.ordering.dest_failed()).then(|| st.ordering.dest_flush_issued(false))
        };
        let source_ok = mio.io_mut().flush(ctx, &self.source).is_ok();
        let dest_ok = match ticket {
            Some(ticket) => {
                let ok = mio.io_mut().flush(ctx, &self.dest).is_ok();
                self.state.lock().ordering.dest_flush_done(ticket, ok);
                ok
            }
            None => false,
        };
        if !source_ok || (ticket.is_some() && !dest_ok) {
            pr_err_ratelimited!(
                "{}: flush of the {} for a metadata commit failed; its blocks are not recorded\n",
                self.name(),
                if source_ok { "destination" } else { "source" }
            );
        }
        source_ok && dest_ok
    }

    /// After a failed commit: both superblock slots zeroed, then nothing is
    /// recorded any more and the held writes go.
    fn invalidate(&self, ctx: &ProcessCtx<'_>, md: &Metadata, mio: &mut MetadataIo) {
        let zeroed = md.zero_slots(ctx, mio);
        let mut st = self.state.lock();
        let EngineState {
            commits,
            mirror_queue,
            ..
        } = &mut **st;
        if let Some(c) = commits {
            c.protocol.invalidated(zeroed.is_ok());
            c.release(mirror_queue, true);
        }
        drop(st);
        match zeroed {
            Ok(()) => pr_warn!(
                "{}: metadata invalidated after a failed commit: the copy goes on without \
                 commits, and a crash or a reload starts it over\n",
                self.name()
            ),
            Err(e) => pr_err!(
                "{}: cannot invalidate the metadata after a failed commit (error {}): \
                 it may hold stale bits; zero its first 8 KiB before another table uses it\n",
                self.name(),
                e.to_errno()
            ),
        }
        ctx.kick();
    }
}
