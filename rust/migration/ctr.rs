// SPDX-License-Identifier: GPL-2.0

//! Constructor: table arguments to a running target, with one precise
//! error string per rejection.

use super::cache::MigrationCache;
use super::commit::Commits;
use super::head::DiskHead;
use super::metadata::Metadata;
use super::passthrough::{CachedBlocks, Passthrough};
use super::state::EngineState;
use super::{Geometry, IoFollow, Settings};
use crate::dm::{CtrError, CtrTarget, DmDev, TargetLimits};
use crate::policy::superblock::Geometry as MapGeometry;
use crate::policy::{
    iotag::MAX_BLOCKS,
    map::BlockMap,
    ordering::{Ordering, Unflushed, WRITE_STRIPES},
    ratio::RatioScheduler,
    readroute::ReadRouter,
    select::AnySelector,
    table::{parse_table, DiskId},
    unflushed::FlushPacer,
};
use kernel::prelude::*;

pub(super) fn construct(
    target: &CtrTarget<'_>,
    args: &[&str],
) -> Result<impl PinInit<IoFollow, Error>, CtrError> {
    let cfg = parse_table(args).map_err(|e| CtrError::new(EINVAL, e.c_message()))?;
    let len = target.len();

    let source = DmDev::open(target, cfg.source)
        .map_err(|e| CtrError::new(e, c"Error opening source device"))?;
    let dest = DmDev::open(target, cfg.dest)
        .map_err(|e| CtrError::new(e, c"Error opening destination device"))?;
    if source.whole_disk() == dest.whole_disk() && source.start_on_disk() == dest.start_on_disk() {
        return Err(CtrError::new(
            EINVAL,
            c"Source and destination are the same device",
        ));
    }

    // Always true while blocks are at least 4 KiB and logical blocks at most
    // a page, but a block that is not whole logical blocks could never be copied.
    let chunk_bytes = cfg.chunk_sectors.saturating_mul(512);
    let block_sectors = cfg.block_sectors();
    for dev in [&source, &dest] {
        if block_sectors.saturating_mul(512) % u64::from(dev.logical_block_size().max(1)) != 0 {
            return Err(CtrError::new(
                EINVAL,
                c"Block size is not a multiple of the logical block size",
            ));
        }
    }
    if source.nr_sectors() < len {
        return Err(CtrError::new(
            EINVAL,
            c"Source device is smaller than the target",
        ));
    }
    if dest.nr_sectors() < len {
        return Err(CtrError::new(
            EINVAL,
            c"Destination device is smaller than the target",
        ));
    }

    // The map keeps one state per block; a copy IO is a run of blocks.
    let nr_blocks = len.div_ceil(block_sectors);
    // Before the metadata is read: its layout is sized by the blocks.
    let words = BlockMap::<KVVec<u64>>::words_needed(nr_blocks)
        .filter(|_| nr_blocks <= MAX_BLOCKS)
        .ok_or(CtrError::new(EINVAL, c"Too many blocks"))?;
    let metadata = match cfg.metadata {
        Some(path) => Some(Metadata::open(
            target,
            path,
            [&source, &dest],
            MapGeometry {
                block_sectors: u32::try_from(block_sectors).unwrap_or(0),
                chunk_sectors: u32::try_from(cfg.chunk_sectors).unwrap_or(0),
                nr_blocks,
                target_sectors: len,
                ..MapGeometry::default()
            },
        )?),
        None => None,
    };
    let storage = KVVec::from_elem(0u64, words, GFP_KERNEL)
        .map_err(|_| CtrError::new(ENOMEM, c"Cannot allocate the migration map"))?;
    let map = BlockMap::new(storage, nr_blocks)
        .ok_or(CtrError::new(EINVAL, c"Cannot set up the migration map"))?;
    // What the destination holds unflushed, and the VM writes in flight.
    let unflushed_words = Unflushed::<KVVec<u64>>::words_needed(nr_blocks)
        .ok_or(CtrError::new(EINVAL, c"Too many blocks"))?;
    let unflushed = KVVec::from_elem(0u64, unflushed_words, GFP_KERNEL)
        .ok()
        .and_then(|s| Unflushed::new(s, nr_blocks))
        .ok_or(CtrError::new(ENOMEM, c"Cannot allocate the migration map"))?;
    let writes = KVVec::from_elem(0u64, WRITE_STRIPES, GFP_KERNEL)
        .map_err(|_| CtrError::new(ENOMEM, c"Cannot allocate the migration map"))?;
    let ordering = Ordering::new(map, unflushed, writes)
        .ok_or(CtrError::new(EINVAL, c"Cannot set up the migration map"))?;

    // An empty flush reaches each device (two clones); no bio crosses a chunk.
    let limits = TargetLimits {
        flush_clones: 2,
        discard_clones: 1,
        write_zeroes_clones: 0,
        max_io_sectors: cfg.chunk_sectors,
    };
    target
        .set_limits(limits)
        .map_err(|e| CtrError::new(e, c"Cannot set the maximum IO size"))?;

    // Partitions are resolved here; a stacked source (an LVM volume, md) has
    // to be told its place on the physical disk with `source_offset`, and
    // the disk with `disk` to share that disk's head model.
    let disk_offset = cfg.source_offset.unwrap_or(source.start_on_disk());
    let head_disk = cfg.disk.map_or(source.whole_disk(), DiskId::dev_t);
    let head = DiskHead::join(head_disk, disk_offset).ok_or(CtrError::new(
        ENOSPC,
        c"Too many disks with iofollow devices",
    ))?;

    let cached = CachedBlocks::new(nr_blocks)
        .map_err(|e| CtrError::new(e, c"Cannot allocate the cache index"))?;
    let passthrough = Passthrough::new(cached.clone());
    let cache = MigrationCache::new(
        cfg.cache_mib,
        block_sectors.saturating_mul(512),
        cfg.cache_eviction,
        cached,
    )
    .map_err(|e| CtrError::new(e, c"Cannot allocate the cache index"))?;
    // One chunk-sized buffer per copy slot.
    let buffers = target
        .io_buffers(
            EngineState::buffers_for(cfg.depth),
            usize::try_from(chunk_bytes).unwrap_or(usize::MAX),
        )
        .map_err(|e| CtrError::new(e, c"Cannot allocate worker and IO buffers"))?;
    // Boxed before it is set up: the state crosses the frame once.
    let mut state = KBox::new(
        EngineState::new(
            ordering,
            AnySelector::new(cfg.policy),
            RatioScheduler::with_ratio(cfg.ratio),
            cfg.paused,
            cfg.depth,
            cache,
            buffers,
        ),
        GFP_KERNEL,
    )
    .map_err(|_| CtrError::new(ENOMEM, c"Cannot allocate target context"))?;
    let geometry = Geometry {
        len,
        chunk_sectors: cfg.chunk_sectors,
        block_sectors,
        block_shift: block_sectors.trailing_zeros(),
        nr_blocks,
        disk_offset,
    };
    state.flush_pacer = FlushPacer::new(cfg.flush_interval_ms);
    if metadata.is_some() {
        add_commits(&mut state, nr_blocks, geometry.chunk_blocks())?;
    }
    state.router = ReadRouter::new(cfg.reads);
    state.set_anticipation(cfg.anticipation);
    state.read_at_head = cfg.read_at_head;
    state.set_queue_aware(cfg.queue_aware);
    state.idle_run_sectors = cfg.idle_run_sectors;
    state.set_avoid_islands(cfg.avoid_islands);
    state.set_deadline(super::now_ns(), cfg.deadline_s);
    let settings = Settings {
        source_offset: cfg.source_offset,
        disk: cfg.disk,
    };
    let label = target.label();
    let init = try_pin_init!(IoFollow {
        label,
        source,
        dest,
        settings,
        geometry,
        head,
        passthrough,
        metadata,
        state <- new_irq_spinlock!(state, "iofollow_engine"),
    });
    Ok(init)
}

/// The metadata commit state of a table with a metadata device. Not
/// inlined: ctr's frame has no room for it.
#[inline(never)]
fn add_commits(state: &mut EngineState, nr_blocks: u64, chunk_blocks: u32) -> Result<(), CtrError> {
    let commits = Commits::new(nr_blocks, chunk_blocks)
        .map_err(|e| CtrError::new(e, c"Cannot allocate the metadata commit state"))?;
    state.commits = Some(commits);
    Ok(())
}
