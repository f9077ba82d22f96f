//! The VM's IO path: `map` and `end_io`.
//!
//! Reads go to the source. A write to a migrated chunk is handed to the
//! worker, which writes it to both devices and completes it when both are
//! done. Any other write (and a discard) goes to the source only, and when
//! it completes, a chunk that was copied meanwhile is marked dirty, so a
//! copy that may have read the old data is done again: the destination is
//! never left stale. Bios never cross a chunk (`max_io_len`).

use super::IoFollow;
use crate::dm::{Bio, BioOp, BlkStatus, Ctx, MapBio, Routed};
use crate::policy::map::ChunkState;
use kernel::prelude::*;

/// Per-bio data: the bio is VM IO accounted in `vm_in_flight`.
const VM: u64 = 1 << 63;
/// Per-bio data: a write or discard sent to the source only; bits below: the chunk.
const SOURCE_ONLY_WRITE: u64 = 1 << 62;
/// Per-bio data: the flush clone sent to the destination.
const DEST_FLUSH: u64 = 1 << 61;
const CHUNK_MASK: u64 = (1 << 61) - 1;

impl IoFollow {
    pub(super) fn route(&self, ctx: &Ctx<'_>, bio: MapBio<'_>) -> Routed {
        let op = bio.op();
        if op == BioOp::Flush {
            // Two clones of every flush (Target::setup): one per device. Without a
            // healthy destination both go to the source, so the VM never sees the
            // destination's errors.
            let to_dest = bio.target_bio_nr() == 1 && !self.state.lock().error;
            let sector = bio.sector();
            if to_dest {
                bio.set_private(DEST_FLUSH);
                return bio.remap(&self.dest, sector);
            }
            return bio.remap(&self.source, sector);
        }
        let Some(offset) = bio.sector().checked_sub(ctx.target().begin()) else {
            return bio.kill();
        };
        let sectors = u64::from(bio.sectors());
        let chunk = offset >> self.geometry.chunk_shift;
        if matches!(op, BioOp::Read | BioOp::Write) {
            self.head
                .set(self.geometry.disk_offset.saturating_add(offset).saturating_add(sectors));
        }

        let mut st = self.state.lock();
        let waiting = st.vm_in_flight;
        let kick = st.on_vm_dispatch();
        let routed = match op {
            BioOp::Read => {
                let (_, chunk_sectors) = self.geometry.chunk_range(chunk);
                if let Some(slot) = st.reserve_piggyback(chunk, chunk_sectors, sectors, waiting) {
                    // Served from a whole-chunk read, which also migrates the chunk.
                    let (owned, routed) = bio.take();
                    st.attach_piggyback(slot, owned);
                    drop(st);
                    ctx.kick();
                    return routed;
                }
                bio.set_private(VM);
                bio.remap(&self.source, offset)
            }
            BioOp::Write if st.map.state(chunk) == Some(ChunkState::Migrated) && !st.error => {
                let (owned, routed) = bio.take();
                st.mirror_queue.push(owned);
                drop(st);
                ctx.kick();
                return routed;
            }
            BioOp::Write | BioOp::Discard | BioOp::WriteZeroes => {
                // Not mirrored: a migrated chunk is stale on the destination from now on.
                st.source_only_write_done(chunk);
                bio.set_private(VM | SOURCE_ONLY_WRITE | (chunk & CHUNK_MASK));
                bio.remap(&self.source, offset)
            }
            _ => {
                bio.set_private(VM);
                bio.remap(&self.source, offset)
            }
        };
        drop(st);
        if kick {
            ctx.kick();
        }
        routed
    }

    pub(super) fn on_vm_bio_done(&self, ctx: &Ctx<'_>, bio: &Bio, status: BlkStatus) -> BlkStatus {
        let private = bio.private();
        if private & DEST_FLUSH != 0 && !status.is_ok() {
            // The VM's data is safe on the source; a broken destination only
            // stops the copy (state error), it does not fail the VM's flush.
            self.state.lock().error = true;
            pr_err!("{}: flush of the destination failed\n", self.name());
            ctx.kick();
            return BlkStatus::OK;
        }
        if private & VM == 0 {
            return status;
        }
        let mut st = self.state.lock();
        if private & SOURCE_ONLY_WRITE != 0 {
            // A copy may have read the chunk before this write reached the source.
            st.source_only_write_done(private & CHUNK_MASK);
        }
        let kick = st.on_vm_complete();
        drop(st);
        if kick {
            ctx.kick();
        }
        status
    }
}
