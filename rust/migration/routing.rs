// SPDX-License-Identifier: GPL-2.0

//! The VM's IO path: `map` and `end_io`.
//!
//! Every decision about a write is the ordering protocol's
//! ([`crate::policy::ordering`]): a write to a migrated chunk is handed to
//! the worker, which writes it to both devices; any other write or discard
//! goes to the source only and is counted against its chunks until it
//! completes, so no copy of those chunks starts meanwhile. Every write-like
//! bio first drops the blocks it covers from the cache. Reads are served from
//! the cache when it holds all their blocks, else go to the source or are
//! piggybacked on a copy of their blocks; in `synced`, most reads skip all
//! of this ([`super::passthrough`]). An empty flush is sent once to each
//! device, without remapping its (meaningless) sector.

use super::cache::Retired;
use super::passthrough::ReadPath;
use super::state::Kick;
use super::{AtomicCtx, IoFollow};
use crate::dm::{Bio, BioOp, BlkStatus, MapBio, Routed};
use crate::policy::ordering::{FlushTicket, WriteRoute, WriteTicket};
use crate::policy::readroute::Leg;
use kernel::error::code::{EINVAL, EIO};

/// What `map` records in a bio for `end_io`.
#[derive(Clone, Copy, Default)]
pub(crate) enum VmBio {
    /// Not accounted (the source's clone of a flush).
    #[default]
    Untracked,
    /// A VM read sent to the source at this time (ns), counted in
    /// `vm_in_flight` (for the ratio), its latency measured for the read
    /// routing.
    SourceRead(u64),
    /// A VM read taken for the destination at this time (ns) (the worker
    /// issues it; its completion gets this back with the bio).
    DestRead(u64),
    /// A write or discard sent to the source only, counted by the protocol.
    SourceOnly(WriteTicket),
    /// The destination's clone of a VM flush.
    DestFlush(FlushTicket),
}

/// Flush clone numbers (`TargetLimits::flush_clones` is 2).
const FLUSH_TO_SOURCE: u32 = 0;

impl IoFollow {
    pub(super) fn route(&self, ctx: &AtomicCtx<'_>, bio: MapBio<'_, VmBio>) -> Routed {
        let op = bio.op();
        if op == BioOp::Flush {
            return self.route_flush(bio);
        }
        let Some(offset) = bio.sector().checked_sub(ctx.target().begin()) else {
            pr_err_ratelimited!(
                "{}: bio at sector {} before the target\n",
                self.name(),
                bio.sector()
            );
            return bio.kill();
        };
        let sectors = u64::from(bio.sectors());
        let g = &self.geometry;
        let blocks = g.blocks_of(offset, sectors);
        let path = if op == BioOp::Read {
            self.passthrough.take(blocks)
        } else {
            ReadPath::Locked
        };
        if path == ReadPath::Through {
            // Synced, not cached, and the router would keep it on the source:
            // no decision to take, nothing for end_io to account.
            self.move_head(offset, sectors);
            return bio.remap(&self.source, offset);
        }

        // Freed after the lock: declared before it.
        let mut retired = Retired::new();
        let mut st = self.state.lock();
        if op == BioOp::Read {
            if let Some(hit) = st.cache.read(blocks, self.head_block()) {
                // From memory: the disk and its head are not involved.
                drop(st);
                let first_sector = blocks.first.checked_shl(g.block_shift).unwrap_or(0);
                let skip = offset.saturating_sub(first_sector).saturating_mul(512);
                let (owned, routed) = bio.take();
                let status = match usize::try_from(skip)
                    .map_err(|_| EINVAL)
                    .and_then(|s| hit.fill(&owned, s))
                {
                    Ok(()) => BlkStatus::OK,
                    Err(e) => {
                        // The blocks cover the bio by construction: a bug if seen.
                        pr_err_ratelimited!(
                            "{}: read at sector {} not filled from the cache\n",
                            self.name(),
                            offset
                        );
                        BlkStatus::from_error(e)
                    }
                };
                owned.end(status);
                return routed;
            }
        } else {
            st.invalidate_cache(blocks, &mut retired);
        }
        if op == BioOp::Read {
            // Migrated and durable on the destination: the router says which leg.
            let distance = g
                .disk_offset
                .saturating_add(offset)
                .checked_sub(self.head.get());
            let readable = st.ordering.dest_readable(blocks);
            if path == ReadPath::Sampled {
                st.router.sampled_for_passthrough();
            }
            let leg = st.router.choose(readable, distance);
            self.refresh_passthrough(&st);
            if leg == Leg::Destination {
                // A VM IO, but no load on the source: neither the ratio nor the
                // anticipation count it.
                st.counters.vm_ios = st.counters.vm_ios.saturating_add(1);
                st.router.started(Leg::Destination);
                bio.set_data(VmBio::DestRead(super::now_ns()));
                let (owned, routed) = bio.take();
                st.dest_read_queue.push(owned);
                drop(st);
                ctx.kick();
                return routed;
            }
        }
        let waiting = st.vm_in_flight;
        let mut kick = st.on_vm_dispatch();
        let routed = match op {
            BioOp::Read => {
                let (_, run_sectors) = g.run_range(blocks);
                if let Some(reserved) = st.reserve_piggyback(blocks, run_sectors, sectors, waiting)
                {
                    // Served from a read of its whole blocks, which also migrates them.
                    let (owned, routed) = bio.take();
                    let refused = st.attach_piggyback(reserved, owned);
                    drop(st);
                    if let Err(bio) = refused {
                        // A reservation serves one read: this is a bug if seen.
                        pr_err_ratelimited!(
                            "{}: read at sector {} found its copy slot taken\n",
                            self.name(),
                            offset
                        );
                        bio.end(BlkStatus::from_error(EIO));
                    }
                    ctx.kick();
                    return routed;
                }
                // Counted per leg and timed in every mode: `auto` may be
                // chosen later, with an estimate ready.
                st.router.started(Leg::Source);
                drop(st);
                self.move_head(offset, sectors);
                bio.set_data(VmBio::SourceRead(super::now_ns()));
                bio.remap(&self.source, offset)
            }
            BioOp::Write | BioOp::Discard | BioOp::WriteZeroes => {
                let decision =
                    st.ordering
                        .map_write(blocks.first, blocks.blocks, op != BioOp::Write);
                kick |= decision.kick;
                let mirrored = decision.route == WriteRoute::Mirror;
                // A block whose migrated bit is on the metadata device: the
                // write waits for a commit that clears it (the worker's).
                let held = st
                    .commits
                    .as_mut()
                    .and_then(|c| c.gate(blocks, super::now_ns()));
                if let (Some(i), Some(c)) = (held, st.commits.as_mut()) {
                    if !mirrored {
                        // Issued later by the worker; end_io accounts it.
                        bio.set_data(VmBio::SourceOnly(decision.ticket));
                    }
                    let (owned, routed) = bio.take();
                    c.hold(i, owned, mirrored);
                    drop(st);
                    ctx.kick();
                    return routed;
                }
                if mirrored {
                    // The worker writes it to both devices (and moves the head then).
                    let (owned, routed) = bio.take();
                    st.mirror_queue.push(owned);
                    drop(st);
                    ctx.kick();
                    return routed;
                }
                drop(st);
                if op == BioOp::Write {
                    self.move_head(offset, sectors);
                }
                bio.set_data(VmBio::SourceOnly(decision.ticket));
                bio.remap(&self.source, offset)
            }
            // No other kind of bio reaches a target without zone support;
            // one that did would bypass the ordering protocol.
            _ => {
                let _ = st.on_vm_complete();
                drop(st);
                pr_err_ratelimited!(
                    "{}: unsupported bio at sector {} failed\n",
                    self.name(),
                    offset
                );
                return bio.kill();
            }
        };
        if kick {
            ctx.kick();
        }
        routed
    }

    /// One clone of an empty flush per device. While the destination is
    /// failed it may be gone (an unreachable NBD server can take minutes to
    /// fail): its clone goes to the source too, and nothing claims the
    /// destination durable until a later flush of it succeeds. A source
    /// fault leaves the destination in use: its clone goes there.
    fn route_flush(&self, bio: MapBio<'_, VmBio>) -> Routed {
        if bio.target_bio_nr() == FLUSH_TO_SOURCE {
            return bio.remap_flush(&self.source);
        }
        let mut st = self.state.lock();
        if st.ordering.dest_failed() {
            drop(st);
            return bio.remap_flush(&self.source);
        }
        let ticket = st.ordering.dest_flush_issued(false);
        drop(st);
        bio.set_data(VmBio::DestFlush(ticket));
        bio.remap_flush(&self.dest)
    }

    pub(super) fn on_vm_bio_done(
        &self,
        ctx: &AtomicCtx<'_>,
        _bio: &Bio,
        data: VmBio,
        status: BlkStatus,
    ) -> BlkStatus {
        if matches!(data, VmBio::Untracked) {
            // Nothing to account: the source's flush clone, and every bio the
            // target took in map and ended itself (dm calls end_io for those too).
            return status;
        }
        let mut st = self.state.lock();
        let kick = match data {
            VmBio::Untracked => return status,
            VmBio::DestFlush(ticket) => {
                st.ordering.dest_flush_done(ticket, status.is_ok());
                drop(st);
                if status.is_ok() {
                    // May have made the copy durable: the worker announces `synced`.
                    ctx.kick();
                    return status;
                }
                // The VM's data is durable on the source (its own clone); the
                // destination may have lost its cache, so every block written
                // there since its last good flush is copied again after
                // `resume`. The VM's flush does not fail for it.
                pr_err_ratelimited!(
                    "{}: flush of the destination failed; unflushed copies are lost, \
                     copying stops until 'resume'\n",
                    self.name()
                );
                ctx.kick();
                return BlkStatus::OK;
            }
            VmBio::SourceRead(start) => {
                let latency = super::now_ns().saturating_sub(start);
                st.router.done(Leg::Source, latency, status.is_ok());
                // A source that has slowed down hands reads to the router at once.
                self.refresh_passthrough(&st);
                st.on_vm_complete()
            }
            // Taken in map: completed through the worker's IO, not here.
            VmBio::DestRead(_) => Kick::No,
            VmBio::SourceOnly(ticket) => {
                let quiet = st.ordering.write_done(ticket, status.is_ok(), true);
                st.on_vm_complete().or_now(quiet)
            }
        };
        drop(st);
        match kick {
            Kick::Now => ctx.kick(),
            Kick::After(ns) => ctx.kick_after(ns),
            Kick::No => {}
        }
        status
    }
}
