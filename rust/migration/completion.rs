// SPDX-License-Identifier: GPL-2.0

//! Completions of the IO the worker issued (atomic context): each updates
//! the state through the ordering protocol, ends the VM bio it carried, and
//! kicks the worker.

use super::routing::VmBio;
use super::state::SlotState;
use super::AtomicCtx;
use super::IoFollow;
use crate::dm::{BlkStatus, IoCompletion};
use crate::policy::{iotag::IssuedIo, map::BlockState, ordering::WriteTicket, readroute::Leg};
use kernel::prelude::*;

impl IoFollow {
    /// An IO issued by the worker completed (atomic context).
    pub(super) fn on_io_done(&self, ctx: &AtomicCtx<'_>, done: IoCompletion<IssuedIo, VmBio>) {
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
                    blocks: blocks.blocks,
                    mirrored: true,
                    to_dest,
                };
                // The blocks are copied again unless both writes landed; a
                // destination failure costs everything it had not flushed.
                st.ordering.write_done(write, source_ok, dest_ok);
                st.commit_written(blocks);
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
                    if ok {
                        st.commit_candidates(run);
                    }
                    // The buffer is kept for the cache if every block counts as
                    // copied (a VM write during the copy left some dirty: then
                    // none); from now on a write to them marks it stale.
                    let map = st.ordering.map();
                    let cache = ok
                        && st.cache.enabled()
                        && !st.suspended
                        && run
                            .iter()
                            .all(|b| map.state(b) == Some(BlockState::Migrated));
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
            Some(IssuedIo::DestRead) => {
                let start = match done.bio_data {
                    Some(VmBio::DestRead(start)) => start,
                    _ => 0,
                };
                let latency = super::now_ns().saturating_sub(start);
                st.router.done(Leg::Destination, latency, ok);
                self.refresh_passthrough(&st);
                if ok {
                    drop(st);
                    if let Some(bio) = done.bio {
                        bio.end(BlkStatus::OK);
                    }
                } else {
                    // Read again from the source: it costs time, not the data.
                    let _ = st.on_source_load();
                    if let Some(bio) = done.bio {
                        st.reread_queue.push(bio);
                    }
                    drop(st);
                    pr_err_ratelimited!(
                        "{}: read from the destination failed; read from the source instead\n",
                        self.name()
                    );
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
}
