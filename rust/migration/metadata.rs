// SPDX-License-Identifier: GPL-2.0

//! The metadata device (`metadata <dev>`): the migrated map kept across a
//! reload, a `dmsetup remove` and a reboot, so that the next table resumes
//! the copy instead of starting it over (format version 1,
//! [`crate::policy::superblock`]).
//!
//! A clean checkpoint at suspend, and commits while the table runs
//! ([`super::commit`]); the checkpoint's steps and their order are
//! [`crate::policy::checkpoint`]'s, run here:
//! - `ctr` reads the superblock and refuses metadata of another geometry or
//!   another device's (a precise `ti->error`); it writes nothing, because
//!   the table it may replace is still live.
//! - The first `preresume` reads the newest superblock again (the replaced
//!   table checkpointed in its postsuspend, after this ctr) and restores the
//!   bitmap of a clean or committed one (its bits recorded, so a write to
//!   one waits for its clear); every `preresume` runs `opening`, and an
//!   error fails the resume before any bio is mapped.
//! - `postsuspend`, once nothing is in flight and the destination is
//!   durable, runs `closing`. A target in error gets no checkpoint: the
//!   next table starts over.

use super::state::EngineState;
use super::{IoFollow, ProcessCtx};
use crate::dm::{CtrError, CtrTarget, DmDev, MaySleep, MetaIo, DEV_IDENTITY_MAX, META_BLOCK_BYTES};
use crate::policy::bitmap_page::{decode_page, encode_page_into};
use crate::policy::checkpoint::{self, Step};
use crate::policy::map::BlockState;
use crate::policy::superblock::{self, Found, Geometry, Identity, Layout, Superblock};
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::{new_mutex, prelude::*, sync::Mutex};

/// Metadata blocks per IO: both superblock slots, or a batch of bitmap pages.
const IO_BLOCKS: u32 = 32;

/// The two superblock slots, in sectors.
const SLOTS_SECTORS: u64 = 2 * META_BLOCK_BYTES as u64 / 512;

/// The metadata device of a table, what it is checked against, and its IO
/// state, which suspend and resume sleep on.
#[pin_data]
pub(super) struct Metadata {
    dev: DmDev,
    want: Geometry,
    layout: Layout,
    #[pin]
    io: Mutex<MetadataIo>,
}

/// What suspend, resume and commits change, under the target's metadata
/// mutex.
pub(super) struct MetadataIo {
    io: MetaIo,
    /// The first preresume has read the checkpoint (restored or not).
    loaded: bool,
    /// Every bit the device's bitmap holds is recorded in the commit
    /// protocol (restored, or written by this table): a superblock may say
    /// `committed`. Until then a commit writes every page.
    trusted: bool,
    /// The newest superblock's sequence number written or read.
    seq: u64,
}

impl MetadataIo {
    /// Whether the first preresume has read the checkpoint.
    pub(super) fn loaded(&self) -> bool {
        self.loaded
    }

    /// The synchronous IO, for the commit's device flushes.
    pub(super) fn io_mut(&mut self) -> &mut MetaIo {
        &mut self.io
    }
}

impl Metadata {
    /// Opens and checks the metadata device of a table over `source` and
    /// `dest` with the map geometry `map`, or the table's error. Boxed, and
    /// not inlined: ctr's frame has no room for it.
    #[inline(never)]
    pub(super) fn open(
        target: &CtrTarget<'_>,
        path: &str,
        [source, dest]: [&DmDev; 2],
        map: Geometry,
    ) -> Result<Pin<KBox<Self>>, CtrError> {
        let dev = DmDev::open(target, path)
            .map_err(|e| CtrError::new(e, c"Error opening metadata device"))?;
        // A partition of a whole-disk leg (or the reverse) is not opened at
        // all: the block layer refuses to claim it (EBUSY).
        let same = |d: &DmDev| {
            d.whole_disk() == dev.whole_disk() && d.start_on_disk() == dev.start_on_disk()
        };
        if same(source) || same(dest) {
            return Err(CtrError::new(
                EINVAL,
                c"Metadata device is the source or the destination",
            ));
        }
        if usize::try_from(dev.logical_block_size()).map_or(true, |b| b > META_BLOCK_BYTES) {
            return Err(CtrError::new(
                EINVAL,
                c"Metadata device's logical block size is larger than 4 KiB",
            ));
        }
        let mut id = [0u8; DEV_IDENTITY_MAX];
        let want = Geometry {
            source: Identity::of(source.nr_sectors(), source.identity(&mut id)),
            dest: Identity::of(dest.nr_sectors(), dest.identity(&mut id)),
            ..map
        };
        let io = MetaIo::new(target, IO_BLOCKS)
            .map_err(|e| CtrError::new(e, c"Cannot allocate the metadata buffer"))?;
        let layout = Layout::for_blocks(want.nr_blocks);
        let mut mio = MetadataIo {
            io,
            loaded: false,
            trusted: false,
            seq: 0,
        };
        load(&dev, &want, target, &mut mio.io).map_err(|e| match e {
            LoadFailure::Io(e) => CtrError::new(e, c"Cannot read the metadata device"),
            LoadFailure::Refused(e) => CtrError::new(EINVAL, e.c_message()),
        })?;
        KBox::pin_init(
            try_pin_init!(Self {
                dev,
                want,
                layout,
                io <- new_mutex!(mio, "iofollow_metadata"),
            }? Error),
            GFP_KERNEL,
        )
        .map_err(|e| CtrError::new(e, c"Cannot allocate the metadata buffer"))
    }

    /// The device as the table line prints it.
    pub(super) fn name(&self) -> &str {
        self.dev.name()
    }

    /// The IO state, for a commit (sleeps while a checkpoint runs).
    pub(super) fn lock_io(&self) -> Guard<'_, MetadataIo, MutexBackend> {
        self.io.lock()
    }

    /// The newest superblock on the device, checked against the table.
    fn load(&self, ctx: &impl MaySleep, io: &mut MetaIo) -> Result<Found, LoadFailure> {
        load(&self.dev, &self.want, ctx, io)
    }

    /// Writes `sb` to its slot, durable on return.
    fn write_superblock(
        &self,
        ctx: &ProcessCtx<'_>,
        mio: &mut MetadataIo,
        sb: &Superblock,
    ) -> Result {
        // The next superblock goes past this one even if its write failed.
        mio.seq = mio.seq.max(sb.seq);
        let block = mio.io.block_mut(0).ok_or(EINVAL)?;
        sb.encode_into(block);
        mio.io.write(ctx, &self.dev, sb.slot(), 1, true)
    }

    /// Both superblock slots zeroed with FUA: a table then finds a new
    /// device and trusts no bit.
    pub(super) fn zero_slots(&self, ctx: &ProcessCtx<'_>, mio: &mut MetadataIo) -> Result {
        mio.trusted = false;
        for i in 0..2 {
            mio.io.block_mut(i).ok_or(EINVAL)?.fill(0);
        }
        mio.io.write(ctx, &self.dev, 0, 2, true)
    }
}

/// The newest superblock on `dev`, checked against `want`.
fn load(
    dev: &DmDev,
    want: &Geometry,
    ctx: &impl MaySleep,
    io: &mut MetaIo,
) -> Result<Found, LoadFailure> {
    // Both slots must exist before they are read (the format's own check
    // comes after the read).
    if dev.nr_sectors() < SLOTS_SECTORS {
        return Err(LoadFailure::Refused(superblock::LoadError::TooSmall));
    }
    io.read(ctx, dev, 0, 2).map_err(LoadFailure::Io)?;
    let (Some(slot0), Some(slot1)) = (io.block(0), io.block(1)) else {
        return Err(LoadFailure::Io(EINVAL));
    };
    superblock::load(slot0, slot1, dev.nr_sectors(), want).map_err(LoadFailure::Refused)
}

/// Why the superblock was not read.
enum LoadFailure {
    /// The device failed the read.
    Io(Error),
    /// It holds something this table may not resume from.
    Refused(superblock::LoadError),
}

impl LoadFailure {
    /// The errno of a step that needed the superblock: the device's own
    /// error, or EINVAL for metadata that changed under the table.
    fn errno(self) -> Error {
        match self {
            LoadFailure::Io(e) => e,
            LoadFailure::Refused(_) => EINVAL,
        }
    }
}

impl IoFollow {
    /// Preresume: the checkpoint read once, then no slot left clean while the
    /// table runs. An error fails the resume: no bio is mapped.
    pub(super) fn metadata_preresume(&self, ctx: &ProcessCtx<'_>) -> Result {
        let Some(md) = &self.metadata else {
            return Ok(());
        };
        let mut guard = md.io.lock();
        let mio = &mut *guard;
        let found = md.load(ctx, &mut mio.io).map_err(|e| {
            match e {
                LoadFailure::Io(e) => pr_err!(
                    "{}: cannot read the metadata device: error {}\n",
                    self.name(),
                    e.to_errno()
                ),
                LoadFailure::Refused(e) => pr_err!(
                    "{}: metadata device changed since the table was loaded: {}\n",
                    self.name(),
                    e.as_str()
                ),
            }
            EIO
        })?;
        mio.seq = mio.seq.max(checkpoint::last_seq(&found));
        if !mio.loaded {
            match found {
                Found::Superblock(sb) if checkpoint::restores(&found) => {
                    let kept = self.restore(ctx, md, &mut mio.io)?;
                    // Every bit it holds is recorded now (`restore`).
                    mio.trusted = true;
                    pr_info!(
                        "{}: resumed from the metadata's {} {}: {} of {} blocks migrated\n",
                        self.name(),
                        if sb.clean {
                            "checkpoint"
                        } else {
                            "last commit"
                        },
                        sb.seq,
                        kept,
                        md.want.nr_blocks
                    );
                }
                Found::Superblock(sb) => pr_warn!(
                    "{}: metadata's last table did not shut down cleanly or was reset (commit {}): \
                     the copy starts over\n",
                    self.name(),
                    sb.seq
                ),
                Found::Fresh => {}
            }
            mio.loaded = true;
        }
        let (migrated, recording) = {
            let st = self.state.lock();
            (
                st.ordering.map().nr_migrated(),
                st.commits.as_ref().is_some_and(|c| c.recording()),
            )
        };
        for step in checkpoint::opening(&found, md.want, migrated, mio.trusted && recording) {
            self.run_step(ctx, md, mio, step).inspect_err(|e| {
                pr_err!(
                    "{}: cannot write the metadata superblock: error {}\n",
                    self.name(),
                    e.to_errno()
                );
            })?;
        }
        Ok(())
    }

    /// Marks migrated every block the clean checkpoint's bitmap holds:
    /// returns how many. A page that fails its checks counts as empty (its
    /// blocks are copied again).
    fn restore(&self, ctx: &ProcessCtx<'_>, md: &Metadata, io: &mut MetaIo) -> Result<u64> {
        let nr_blocks = md.want.nr_blocks;
        let pages = md.layout.bitmap_pages;
        let batch = u64::try_from(io.blocks()).unwrap_or(1);
        let mut kept = 0u64;
        let mut first = 0u64;
        while first < pages {
            let n = batch.min(pages - first);
            io.read(
                ctx,
                &md.dev,
                md.layout.page_mblock(first),
                usize::try_from(n).unwrap_or(1),
            )
            .inspect_err(|e| {
                pr_err!(
                    "{}: cannot read the metadata bitmap: error {}\n",
                    self.name(),
                    e.to_errno()
                );
            })?;
            for i in 0..n {
                let Some(page) = io.block(usize::try_from(i).unwrap_or(usize::MAX)) else {
                    break;
                };
                let index = first.saturating_add(i);
                let mut st = self.state.lock();
                let EngineState {
                    ordering, commits, ..
                } = &mut **st;
                let decoded = decode_page(index, nr_blocks, page, |b| {
                    if ordering.restore_migrated(b) {
                        kept = kept.saturating_add(1);
                    }
                    // Set on the device: a write to it waits for its clear.
                    if let Some(c) = commits.as_mut() {
                        c.load_recorded(b);
                    }
                });
                self.refresh_passthrough(&st);
                drop(st);
                if let Err(e) = decoded {
                    pr_warn!(
                        "{}: metadata bitmap page {} unreadable ({:?}): its blocks are copied again\n",
                        self.name(),
                        index,
                        e
                    );
                }
            }
            first = first.saturating_add(n);
            ctx.cond_resched();
        }
        Ok(kept)
    }

    /// The `reset` message: the map starts over, and the metadata's
    /// checkpoint is withdrawn ([`checkpoint::reset`]) before the reply.
    /// Under the metadata mutex, so a checkpoint or a restore in progress
    /// ends before the map changes; a suspended table writes no checkpoint
    /// again, and without this a remove would leave the old one to trust.
    pub(super) fn reset(&self, ctx: &ProcessCtx<'_>) -> Result {
        let mut guard = self.metadata.as_ref().map(|md| (md, md.io.lock()));
        // Withdrawn first, while writes to recorded blocks are still held: a
        // crash before it completes finds only bits that are still true.
        let withdrawn = match &mut guard {
            None => Ok(()),
            Some((md, mio)) => {
                let mio = &mut **mio;
                mio.trusted = false;
                md.load(ctx, &mut mio.io)
                    .map_err(LoadFailure::errno)
                    .and_then(|found| {
                        checkpoint::reset(&found, md.want)
                            .into_iter()
                            .try_for_each(|step| self.run_step(ctx, md, mio, step))
                    })
            }
        };
        let again = {
            let mut st = self.state.lock();
            let again = st.ordering.start_over();
            let EngineState {
                commits,
                mirror_queue,
                ..
            } = &mut **st;
            // Nothing is trusted on the device any more: nothing is recorded,
            // and no write waits for a clear. If the withdrawal failed, the
            // bits stay recorded (and writes to them held until a commit).
            if let (Some(c), true) = (commits.as_mut(), withdrawn.is_ok()) {
                c.restart(mirror_queue);
            }
            self.refresh_passthrough(&st);
            again
        };
        pr_info!(
            "{}: reset: the copy starts over ({} migrated blocks to copy again)\n",
            self.name(),
            again
        );
        ctx.kick();
        withdrawn.map_err(|e| {
            pr_err!(
                "{}: reset: cannot withdraw the metadata's checkpoint: error {}; \
                 zero the metadata device's first 8 KiB before another table uses it\n",
                self.name(),
                e.to_errno()
            );
            EIO
        })
    }

    /// Postsuspend, after the destination flush: the clean checkpoint.
    pub(super) fn metadata_checkpoint(&self, ctx: &ProcessCtx<'_>) {
        let Some(md) = &self.metadata else {
            return;
        };
        // The destination flush of flush_before_suspend completes first.
        ctx.wait_idle();
        let mut guard = md.io.lock();
        let mio = &mut *guard;
        if !mio.loaded {
            return;
        }
        let durable = {
            let st = self.state.lock();
            !st.ordering.in_error()
                && st.ordering.dest_durable()
                && st.ordering.unmirrored_in_flight() == 0
        };
        if !durable {
            pr_warn!(
                "{}: destination not durable at suspend: no checkpoint, the next table copies again\n",
                self.name()
            );
            return;
        }
        if let Err(e) = self.write_checkpoint(ctx, md, mio) {
            pr_err!(
                "{}: cannot write the metadata checkpoint: error {}; the next table copies again\n",
                self.name(),
                e.to_errno()
            );
        }
    }

    fn write_checkpoint(
        &self,
        ctx: &ProcessCtx<'_>,
        md: &Metadata,
        mio: &mut MetadataIo,
    ) -> Result {
        let found = md.load(ctx, &mut mio.io).map_err(LoadFailure::errno)?;
        // Suspended: the map does not change until resume.
        let (migrated, recording) = {
            let st = self.state.lock();
            (
                st.ordering.map().nr_migrated(),
                st.commits.as_ref().is_some_and(|c| c.recording()),
            )
        };
        for step in checkpoint::closing(&found, md.want, migrated, recording) {
            self.run_step(ctx, md, mio, step)?;
        }
        // Every bit written is recorded (`write_bitmap`).
        mio.trusted = recording;
        Ok(())
    }

    /// One step of the checkpoint protocol, done when it returns `Ok`.
    fn run_step(
        &self,
        ctx: &ProcessCtx<'_>,
        md: &Metadata,
        mio: &mut MetadataIo,
        step: Step,
    ) -> Result {
        match step {
            Step::FlushData => {
                mio.io.flush(ctx, &self.source)?;
                mio.io.flush(ctx, &self.dest)
            }
            Step::WriteBitmap => self.write_bitmap(ctx, md, &mut mio.io),
            Step::FlushMetadata => mio.io.flush(ctx, &md.dev),
            Step::WriteSuperblock(sb) => md.write_superblock(ctx, mio, &sb),
        }
    }

    /// Every bitmap page from the map, in batches (no FUA: a flush follows).
    /// Each bit set is recorded in the commit protocol before its page is
    /// written: a write to its block after the resume waits for its clear.
    fn write_bitmap(&self, ctx: &ProcessCtx<'_>, md: &Metadata, io: &mut MetaIo) -> Result {
        let nr_blocks = md.want.nr_blocks;
        let pages = md.layout.bitmap_pages;
        let batch = u64::try_from(io.blocks()).unwrap_or(1);
        let mut first = 0u64;
        while first < pages {
            let n = batch.min(pages - first);
            for i in 0..n {
                let Some(page) = io.block_mut(usize::try_from(i).unwrap_or(usize::MAX)) else {
                    break;
                };
                let mut st = self.state.lock();
                let EngineState {
                    ordering, commits, ..
                } = &mut **st;
                let map = ordering.map();
                encode_page_into(page, first.saturating_add(i), nr_blocks, |b| {
                    let set = map.state(b) == Some(BlockState::Migrated);
                    if let (true, Some(c)) = (set, commits.as_mut()) {
                        c.load_recorded(b);
                    }
                    set
                });
            }
            first = write_pages(ctx, md, io, first, n)?;
        }
        Ok(())
    }

    /// The pages and the superblock of the commit in flight: every page the
    /// commit changes (all of them while the device's bitmap is not
    /// trusted), a flush of the metadata device, then the superblock of the
    /// next sequence number, `committed`, with FUA.
    pub(super) fn write_commit(
        &self,
        ctx: &ProcessCtx<'_>,
        md: &Metadata,
        mio: &mut MetadataIo,
    ) -> Result {
        let nr_blocks = md.want.nr_blocks;
        let pages = md.layout.bitmap_pages;
        let every_page = !mio.trusted;
        let batch = u64::try_from(mio.io.blocks()).unwrap_or(1);
        let mut first = 0u64;
        while first < pages {
            // A run of consecutive pages to write, encoded under the lock.
            let mut n = 0u64;
            while n < batch && first.saturating_add(n) < pages {
                let index = first.saturating_add(n);
                let st = self.state.lock();
                let c = st.commits.as_ref().ok_or(EINVAL)?;
                if !every_page && !c.page_changed(index) {
                    break;
                }
                let page = mio
                    .io
                    .block_mut(usize::try_from(n).unwrap_or(usize::MAX))
                    .ok_or(EINVAL)?;
                encode_page_into(page, index, nr_blocks, |b| c.page_bit(b));
                drop(st);
                n = n.saturating_add(1);
            }
            if n == 0 {
                first = first.saturating_add(1);
                continue;
            }
            first = write_pages(ctx, md, &mut mio.io, first, n)?;
        }
        // The pages durable before the superblock that makes them count.
        mio.io.flush(ctx, &md.dev)?;
        let recorded = self
            .state
            .lock()
            .commits
            .as_ref()
            .map_or(0, |c| c.counts().0);
        let sb = Superblock {
            seq: mio.seq.saturating_add(1),
            clean: false,
            committed: true,
            geometry: md.want,
            migrated_blocks: recorded.min(nr_blocks),
        };
        md.write_superblock(ctx, mio, &sb)?;
        mio.trusted = true;
        Ok(())
    }
}

/// Writes the `n` bitmap pages encoded in `io`'s buffer from page `first`
/// on (no FUA: a flush follows), then yields: returns the next page.
fn write_pages(
    ctx: &ProcessCtx<'_>,
    md: &Metadata,
    io: &mut MetaIo,
    first: u64,
    n: u64,
) -> Result<u64> {
    io.write(
        ctx,
        &md.dev,
        md.layout.page_mblock(first),
        usize::try_from(n).unwrap_or(1),
        false,
    )?;
    ctx.cond_resched();
    Ok(first.saturating_add(n))
}
