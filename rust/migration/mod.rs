// SPDX-License-Identifier: GPL-2.0

//! The `iofollow` target: the VM's IO path, the migration engine, status
//! and messages.
//!
//! Mechanism only: every decision is taken by [`crate::policy`], every
//! kernel interaction goes through the safe [`crate::dm`] layer.
#![forbid(unsafe_code)]

mod cache;
mod commit;
mod completion;
mod ctr;
mod head;
mod message;
mod metadata;
mod passthrough;
mod routing;
mod state;
mod status;
mod suspend;
mod worker;

use crate::dm::{
    Atomic, Bio, BlkStatus, CtrError, CtrTarget, Ctx, DeviceLabel, DeviceVisitor, DmDev,
    IoCompletion, IrqSpinLock, MapBio, Process, QueueLimits, Reply, Routed, StatusType,
    StatusWriter, TargetOps,
};
use crate::policy::copyrun::{CopyRun, RunShape};
use crate::policy::iotag::IssuedIo;
use crate::policy::table::DiskId;
use head::DiskHead;
use kernel::prelude::*;
use routing::VmBio;
use state::EngineState;

/// The context of the worker, messages and suspend callbacks (may sleep).
type ProcessCtx<'a> = Ctx<'a, Process, IssuedIo>;
/// The context of `map`, `end_io` and IO completions (must not sleep).
type AtomicCtx<'a> = Ctx<'a, Atomic, IssuedIo>;

/// Target type name, as in the table line.
pub(crate) const NAME: &CStr = kernel::c_str!("iofollow");
/// Target type version (major, minor, patch).
pub(crate) const VERSION: [u32; 3] = [0, 1, 0];

/// Table arguments kept to print the table back.
#[derive(Clone, Copy)]
pub(crate) struct Settings {
    source_offset: Option<u64>,
    disk: Option<DiskId>,
}

/// Sizes of one target instance, fixed at construction.
pub(crate) struct Geometry {
    /// Target length in sectors.
    len: u64,
    /// The longest copy IO (a copy buffer), and the longest VM bio.
    chunk_sectors: u64,
    /// The unit of migration state.
    block_sectors: u64,
    block_shift: u32,
    nr_blocks: u64,
    /// Where the source starts on its physical disk, in sectors.
    disk_offset: u64,
}

impl Geometry {
    /// First sector and length of a run of blocks (the last block may be short).
    fn run_range(&self, run: CopyRun) -> (u64, u64) {
        let start = run
            .first
            .checked_shl(self.block_shift)
            .unwrap_or(u64::MAX)
            .min(self.len);
        let sectors = u64::from(run.blocks)
            .checked_shl(self.block_shift)
            .unwrap_or(u64::MAX);
        (start, sectors.min(self.len - start))
    }

    /// The blocks a VM bio of `sectors` at target offset `offset` covers.
    fn blocks_of(&self, offset: u64, sectors: u64) -> CopyRun {
        CopyRun::covering(offset, sectors, self.block_shift)
    }

    /// How copy IOs are cut from the map (read at the head or not, with
    /// the island guard or not).
    fn shape(&self, read_at_head: bool, avoid_islands: bool) -> RunShape {
        RunShape {
            block_shift: self.block_shift,
            chunk_blocks: self.chunk_blocks(),
            read_at_head,
            avoid_islands,
        }
    }

    /// Blocks per chunk: the longest copy IO.
    fn chunk_blocks(&self) -> u32 {
        u32::try_from(self.chunk_sectors >> self.block_shift).unwrap_or(1)
    }

    /// The idle-time copy IO cap of `idle_run_sectors`, in whole blocks (at
    /// least one; 0 stays 0: off).
    fn idle_run_blocks(&self, idle_run_sectors: u32) -> u32 {
        if idle_run_sectors == 0 {
            return 0;
        }
        (idle_run_sectors >> self.block_shift).max(1)
    }
}

/// One `iofollow` target instance.
#[pin_data]
pub(crate) struct IoFollow {
    /// How log lines name the device.
    label: DeviceLabel,
    source: DmDev,
    dest: DmDev,
    settings: Settings,
    geometry: Geometry,
    head: DiskHead,
    /// Reads in `synced` that need no decision skip the engine lock.
    passthrough: passthrough::Passthrough,
    /// The `metadata` device, if the migration survives reloads and reboots.
    metadata: Option<Pin<KBox<metadata::Metadata>>>,
    /// Boxed: built in `ctr`, whose stack it would otherwise cross by
    /// value several times (ctr's frames were 13.7 KiB of a 16 KiB stack).
    #[pin]
    state: IrqSpinLock<KBox<EngineState>>,
}

/// The monotonic clock in ns (anticipation windows are measured on it).
fn now_ns() -> u64 {
    u64::try_from(kernel::time::Ktime::ktime_get().to_ns()).unwrap_or(0)
}

impl IoFollow {
    /// Records a request of `sectors` at target sector `sector` sent to the
    /// source disk: the head ends just past it.
    fn move_head(&self, sector: u64, sectors: u64) {
        self.head.set(
            self.geometry
                .disk_offset
                .saturating_add(sector)
                .saturating_add(sectors),
        );
    }

    /// The block under the head (for the cache's liveness).
    fn head_block(&self) -> u64 {
        let g = &self.geometry;
        crate::policy::head::block_of_head(
            self.head.get(),
            g.disk_offset,
            g.block_shift,
            g.nr_blocks,
        )
    }

    /// Under the engine lock: lets reads pass through if the target is
    /// `synced` and the router keeps reads on the source.
    fn refresh_passthrough(&self, st: &EngineState) {
        self.passthrough
            .set(st.ordering.is_synced() && st.router.keeps_reads_on_source());
    }

    /// How log lines name this target: the mapped device's dm name and number.
    fn name(&self) -> &str {
        self.label.as_str()
    }
}

#[vtable]
impl TargetOps for IoFollow {
    type PerBio = VmBio;
    type Tag = IssuedIo;

    fn ctr(target: &CtrTarget<'_>, args: &[&str]) -> Result<impl PinInit<Self, Error>, CtrError> {
        ctr::construct(target, args)
    }

    fn map(&self, ctx: &AtomicCtx<'_>, bio: MapBio<'_, VmBio>) -> Routed {
        self.route(ctx, bio)
    }

    fn end_io(&self, ctx: &AtomicCtx<'_>, bio: &Bio, data: VmBio, status: BlkStatus) -> BlkStatus {
        self.on_vm_bio_done(ctx, bio, data, status)
    }

    fn work(&self, ctx: &ProcessCtx<'_>) {
        self.run_worker(ctx)
    }

    fn io_done(&self, ctx: &AtomicCtx<'_>, done: IoCompletion<IssuedIo, VmBio>) {
        self.on_io_done(ctx, done)
    }

    fn status(&self, kind: StatusType, out: &mut StatusWriter<'_>) {
        // A truncated status is all dm can show when its buffer is too small.
        let _ = match kind {
            StatusType::Info => status::info(self, out),
            StatusType::Table => status::table(self, out),
        };
    }

    fn message(
        &self,
        ctx: &ProcessCtx<'_>,
        args: &[&str],
        reply: &mut StatusWriter<'_>,
    ) -> Result<Reply> {
        message::handle(self, ctx, args, reply)
    }

    fn iterate_devices(&self, visitor: &mut DeviceVisitor<'_>) -> i32 {
        match visitor.visit(&self.source, 0, self.geometry.len) {
            0 => visitor.visit(&self.dest, 0, self.geometry.len),
            stop => stop,
        }
    }

    fn io_hints(&self, limits: &mut QueueLimits) {
        limits.set_chunk(u32::try_from(self.geometry.chunk_sectors).unwrap_or(u32::MAX));
    }

    fn presuspend(&self, _ctx: &ProcessCtx<'_>) {
        self.stop_copying();
    }

    fn presuspend_undo(&self, ctx: &ProcessCtx<'_>) {
        self.restart_copying(ctx);
    }

    fn postsuspend(&self, ctx: &ProcessCtx<'_>) {
        self.quiesce(ctx);
        self.metadata_checkpoint(ctx);
    }

    fn preresume(&self, ctx: &ProcessCtx<'_>) -> Result {
        self.metadata_preresume(ctx)
    }

    fn resume(&self, ctx: &ProcessCtx<'_>) {
        self.restart_copying(ctx);
    }

    fn reclaimable(&self) -> u64 {
        self.state.lock().cache.pages()
    }

    fn reclaim(&self, nr: u64) -> u64 {
        self.shrink_cache(nr)
    }
}
