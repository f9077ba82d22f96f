// SPDX-License-Identifier: GPL-2.0

//! Discrete-event simulation of VM IO and migration IO sharing one HDD.
//!
//! One disk, one request in service at a time (the host dispatches the next
//! request when the disk is idle). Each VM has an image at a fixed offset on
//! the disk, an open-loop request stream, a FIFO queue of VM requests, one
//! migration stream with one outstanding chunk read, a `RatioScheduler`,
//! and (optionally) a migration-aware cache. VMs are served round robin, one
//! dispatch each; within a VM the ratio scheduler decides between its VM
//! queue and its migration stream. All decisions come from the policy crate.

use crate::trace::Req;
use iofollow_hddmodel::{Disk, DiskParams};
use iofollow_policy::cache::CacheIndex;
use iofollow_policy::copyrun::{CopyRun, RunShape};
use iofollow_policy::head::{block_of_head, HeadModel};
use iofollow_policy::liveness::{Eviction, LiveEntry, LivenessParams};
use iofollow_policy::map::BlockMap;
use iofollow_policy::piggyback::{extends_a_run, PiggybackRule};
use iofollow_policy::ratio::RatioScheduler;
use iofollow_policy::readroute::ReadsMode;
use iofollow_policy::select::{AnySelector, Follow, FollowParams, Selector, Sequential};
use std::collections::VecDeque;

/// Migration policy of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// No migration ("normal state").
    Normal,
    /// Standard start-to-end migration.
    Sequential,
    /// IO following with these tunables.
    Follow(FollowParams),
}

/// Device queueing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queueing {
    /// VM requests in arrival order.
    Fifo,
    /// Shortest positioning time first among the first 32 queued VM
    /// requests (NCQ-like), oldest first once one waited 500 ms.
    Ncq,
}

/// Configuration of one run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub mode: Mode,
    /// Longest copy IO.
    pub chunk_sectors: u64,
    /// Unit of migration state (the map's block), at most the chunk.
    pub block_sectors: u64,
    /// Copy IOs start at the head (else at chunk boundaries).
    pub read_at_head: bool,
    /// Copy reads in flight at most (`kernel_like` only; the host schedule
    /// has one request in service).
    pub depth: u32,
    pub ratio: (u32, u32),
    /// Cache capacity in blocks.
    pub cache_blocks: u32,
    /// Which cached block goes first.
    pub cache_eviction: Eviction,
    pub piggyback: PiggybackRule,
    pub queueing: Queueing,
    pub disk: DiskParams,
    /// Image size in sectors (multiple of the chunk size) of every VM.
    pub image_sectors: u64,
    /// Disk offset in sectors of VM i's image: `i * image_stride`.
    pub image_stride: u64,
    /// Stop VM arrivals at this time when there is no migration (ns).
    pub normal_window_ns: u64,
    /// Record (time, head) samples for plots.
    pub record_head: bool,
    /// Arrival-rate scale of synthetic workloads (1.0 = Table 2).
    pub load_scale: f64,
    /// Keep measuring the VM after the migration ends, until the trace
    /// does (the benchmark's window: the same for every contender).
    pub full_window: bool,
    /// Longest copy IO while the VM is idle, in blocks; 0 = whole chunks,
    /// two at a time (`kernel_like` only, as the `idle_run` feature).
    pub idle_run_blocks: u32,
    /// Which device serves VM reads of migrated, durable blocks
    /// (`kernel_like` only, as the `reads` feature).
    pub reads: ReadsMode,
    /// Service time of a destination read (a parallel device, no queue).
    pub dest_read_ns: u64,
    /// A copied or mirrored block is durable on the destination, and may be
    /// read there, from the next multiple of this after it was written
    /// (the periodic flush).
    pub flush_interval_ns: u64,
}

impl RunConfig {
    /// How copy IOs are cut from the block map.
    pub fn shape(&self) -> RunShape {
        RunShape::new(self.block_sectors, self.chunk_sectors, self.read_at_head)
            .expect("block and chunk sizes: powers of two, block <= chunk")
            .with_island_guard(self.piggyback.avoid_islands)
    }
}

/// Results of one run.
#[derive(Clone, Debug, Default)]
pub struct RunResult {
    /// Response times (ns) of VM requests that arrived during the window.
    pub vm_lat_ns: Vec<u64>,
    /// Arrival time (ns) of each of those requests, in the same order.
    pub vm_arrival_ns: Vec<u64>,
    pub vm_cache_hits: u64,
    /// VM reads that found a block uncached while the cache was on.
    pub vm_cache_misses: u64,
    /// Whether each request of `vm_lat_ns` was a read.
    pub vm_is_read: Vec<bool>,
    pub vm_piggybacked: u64,
    /// Response times (ns) of migration requests.
    pub mig_lat_ns: Vec<u64>,
    /// Sectors each migration request read.
    pub mig_sectors: u64,
    /// End of the window: last migration completion (or the normal window).
    pub window_ns: u64,
    /// Blocks copied, and copied again after a VM write.
    pub chunks_copied: u64,
    pub chunks_recopied: u64,
    /// Head travel in sectors and in full strokes during the window.
    pub travel_sectors: u64,
    pub travel_strokes: f64,
    pub seeks: u64,
    /// Disk busy time during the window.
    pub busy_ns: u64,
    pub head_samples: Vec<(u64, u64, bool)>,
    /// VM requests still queued when the window closed (a large value means
    /// the VM load exceeded the VM share of the disk: saturated).
    pub vm_backlog_at_end: u64,
    /// When the last VM's migration completed.
    pub mig_done_ns: Option<u64>,
    /// VM requests completed before it (`kernel_like` only).
    pub vm_done_during_migration: u64,
    /// Copy IOs completed before the last VM request completed (`kernel_like` only).
    pub chunks_copied_while_vm_active: u64,
    /// VM reads the destination served (`kernel_like` only).
    pub vm_dest_reads: u64,
    /// Copy IOs issued (`kernel_like` only).
    pub copy_ios: u64,
}

struct VmState {
    trace: Box<dyn Iterator<Item = Req> + Send>,
    next_arrival: Option<Req>,
    queue: VecDeque<Req>,
    offset: u64,
    map: Option<BlockMap<Vec<u64>>>,
    sel: AnySelector,
    sched: RatioScheduler,
    mig_inflight: bool,
    mig_ready_at: u64,
    mig_done_at: Option<u64>,
    cache: Option<CacheIndex<Vec<LiveEntry>, Vec<u32>>>,
}

/// Most blocks a read served from the cache may cover (the kernel's
/// `CACHED_READ_MAX`).
const CACHED_READ_MAX: u32 = 8;

enum InService {
    Vm {
        vm: usize,
        req: Req,
        piggy_chunk: Option<CopyRun>,
    },
    Mig {
        vm: usize,
        run: CopyRun,
        ready_at: u64,
    },
}

pub fn run(cfg: &RunConfig, traces: Vec<Box<dyn Iterator<Item = Req> + Send>>) -> RunResult {
    let shape = cfg.shape();
    let shift = shape.block_shift;
    let nr_blocks = cfg.image_sectors >> shift;
    let mut disk = Disk::new(cfg.disk);
    let mut head = HeadModel::new(0);
    let migrating = cfg.mode != Mode::Normal;
    let mut vms: Vec<VmState> = traces
        .into_iter()
        .enumerate()
        .map(|(i, mut t)| {
            let map = migrating.then(|| {
                let w = BlockMap::<Vec<u64>>::words_needed(nr_blocks).expect("map size");
                BlockMap::new(vec![0; w], nr_blocks).expect("map")
            });
            let sel = match cfg.mode {
                Mode::Follow(p) => AnySelector::Follow(Follow::new(p)),
                _ => AnySelector::Sequential(Sequential::new()),
            };
            let cache = (migrating && cfg.cache_blocks > 0).then(|| {
                let table = CacheIndex::<Vec<LiveEntry>, Vec<u32>>::table_len(cfg.cache_blocks)
                    .expect("cache size");
                let mut idx = CacheIndex::new(
                    vec![LiveEntry::EMPTY; cfg.cache_blocks as usize],
                    vec![0; table],
                    LivenessParams::default(),
                )
                .expect("cache index");
                idx.set_eviction(cfg.cache_eviction);
                idx
            });
            VmState {
                next_arrival: t.next(),
                trace: t,
                queue: VecDeque::new(),
                offset: i as u64 * cfg.image_stride,
                map,
                sel,
                sched: RatioScheduler::new(cfg.ratio.0, cfg.ratio.1),
                mig_inflight: false,
                mig_ready_at: 0,
                mig_done_at: None,
                cache,
            }
        })
        .collect();

    let mut res = RunResult::default();
    let mut now = 0u64;
    let mut busy_until: Option<(u64, InService)> = None;
    let mut rr = 0usize;
    // Dispatches left in the current VM's unit (V VM + M migration requests,
    // the paper's multi-VM schedule: one VM's IO as a unit, round robin).
    let mut unit_left = 0u32;
    let stroke_of = |d: &Disk, lba: u64| d.stroke(lba);
    let mut last_end_stroke = 0.0f64;
    let mut window_end: Option<u64> = if migrating {
        None
    } else {
        Some(cfg.normal_window_ns)
    };
    let sample_every = 1u64;
    let mut dispatches = 0u64;

    loop {
        // Arrivals up to `now`.
        for vm in vms.iter_mut() {
            while let Some(r) = vm.next_arrival {
                if r.t_ns > now {
                    break;
                }
                if window_end.is_some_and(|w| r.t_ns >= w) {
                    vm.next_arrival = None;
                    if !migrating {
                        res.vm_backlog_at_end += vm.queue.len() as u64;
                    }
                    break;
                }
                vm.next_arrival = vm.trace.next();
                // As the kernel's map: a read of cached blocks only (at most
                // CACHED_READ_MAX) is a hit and touches them; a write drops them.
                let blocks = CopyRun::covering(r.lba, r.sectors, shift);
                let mut hit = false;
                if let Some(idx) = vm.cache.as_mut() {
                    let head_block = block_of_head(head.position(), vm.offset, shift, nr_blocks);
                    if r.write {
                        for c in blocks.iter() {
                            idx.remove(c);
                        }
                    } else {
                        hit = blocks.blocks <= CACHED_READ_MAX
                            && blocks.iter().all(|c| idx.lookup(c).is_some());
                        if hit {
                            for c in blocks.iter() {
                                if let Some(slot) = idx.lookup(c) {
                                    idx.touch(slot, c.abs_diff(head_block));
                                }
                            }
                        } else {
                            res.vm_cache_misses += 1;
                        }
                    }
                }
                if hit {
                    res.vm_lat_ns.push(0);
                    res.vm_arrival_ns.push(r.t_ns);
                    res.vm_is_read.push(true);
                    res.vm_cache_hits += 1;
                } else {
                    vm.queue.push_back(r);
                }
            }
        }
        // Completion.
        if let Some((t_done, _)) = &busy_until {
            if *t_done <= now {
                let (t_done, what) = busy_until.take().expect("busy");
                match what {
                    InService::Vm {
                        vm,
                        req,
                        piggy_chunk,
                    } => {
                        res.vm_lat_ns.push(t_done - req.t_ns);
                        res.vm_arrival_ns.push(req.t_ns);
                        res.vm_is_read.push(!req.write);
                        if let Some(run) = piggy_chunk {
                            let v = &mut vms[vm];
                            complete_run(v, run, &head, shift, nr_blocks, &mut res);
                        }
                    }
                    InService::Mig { vm, run, ready_at } => {
                        res.mig_lat_ns.push(t_done - ready_at);
                        res.mig_sectors += u64::from(run.blocks) << shift;
                        let v = &mut vms[vm];
                        v.mig_inflight = false;
                        v.mig_ready_at = t_done;
                        complete_run(v, run, &head, shift, nr_blocks, &mut res);
                    }
                }
                // Migration finished for a VM?
                for v in vms.iter_mut() {
                    if let Some(m) = &v.map {
                        if v.mig_done_at.is_none() && m.is_synced() {
                            v.mig_done_at = Some(t_done);
                        }
                    }
                }
                if migrating
                    && res.mig_done_ns.is_none()
                    && vms.iter().all(|v| v.mig_done_at.is_some())
                {
                    res.mig_done_ns = Some(t_done);
                }
                if migrating
                    && !cfg.full_window
                    && window_end.is_none()
                    && vms.iter().all(|v| v.mig_done_at.is_some())
                {
                    window_end = Some(t_done);
                    res.vm_backlog_at_end = vms.iter().map(|v| v.queue.len() as u64).sum();
                }
            }
        }
        // Dispatch when idle.
        if busy_until.is_none() {
            let any_vm_waiting = vms.iter().any(|v| !v.queue.is_empty());
            let n = vms.len();
            let mut dispatched = None;
            if unit_left == 0 {
                unit_left = cfg.ratio.0 + cfg.ratio.1;
            }
            for k in 0..n {
                let i = (rr + k) % n;
                let v = &mut vms[i];
                let vm_waiting = !v.queue.is_empty() || (n > 1 && any_vm_waiting);
                let mig_possible =
                    v.map.as_ref().is_some_and(|m| m.nr_pending() > 0) && !v.mig_inflight;
                if mig_possible && v.sched.may_dispatch_migration(vm_waiting) {
                    let map = v.map.as_mut().expect("map");
                    let picked = start_copy(
                        map,
                        &mut v.sel,
                        shape,
                        head.position(),
                        v.offset,
                        !any_vm_waiting,
                        u32::MAX,
                    );
                    if let Some(run) = picked {
                        v.mig_inflight = true;
                        v.sched.on_migration_dispatch();
                        dispatched = Some((
                            v.offset + (run.first << shift),
                            u64::from(run.blocks) << shift,
                            false,
                            InService::Mig {
                                vm: i,
                                run,
                                ready_at: v.mig_ready_at,
                            },
                        ));
                    }
                }
                if dispatched.is_none() && !v.queue.is_empty() {
                    let pos = pick_vm(&v.queue, cfg.queueing, &disk, now, v.offset);
                    let req = v.queue.remove(pos).expect("queued");
                    v.sched.on_vm_dispatch();
                    let waiting = u32::try_from(v.queue.len()).unwrap_or(u32::MAX);
                    let piggy = v
                        .map
                        .as_mut()
                        .and_then(|map| map_vm_request(map, &req, cfg, waiting));
                    res.vm_piggybacked += u64::from(piggy.is_some());
                    let (lba, sectors) = match piggy {
                        Some(run) => (
                            v.offset + (run.first << shift),
                            u64::from(run.blocks) << shift,
                        ),
                        None => (v.offset + req.lba, req.sectors),
                    };
                    dispatched = Some((
                        lba,
                        sectors,
                        req.write,
                        InService::Vm {
                            vm: i,
                            req,
                            piggy_chunk: piggy,
                        },
                    ));
                }
                if dispatched.is_some() {
                    if i != rr {
                        unit_left = cfg.ratio.0 + cfg.ratio.1;
                    }
                    unit_left -= 1;
                    rr = if unit_left == 0 { (i + 1) % n } else { i };
                    break;
                }
            }
            if let Some((lba, sectors, write, what)) = dispatched {
                let in_window = window_end.is_none_or(|w| now < w);
                let s = disk.access(now, lba, sectors, write);
                head.on_dispatch(lba, sectors);
                if in_window {
                    let st = stroke_of(&disk, lba);
                    res.travel_strokes += (st - last_end_stroke).abs();
                    res.travel_sectors += s.distance;
                    res.busy_ns += s.total_ns();
                    if s.seek_ns > 0 {
                        res.seeks += 1;
                    }
                    dispatches += 1;
                    if cfg.record_head && dispatches % sample_every == 0 {
                        res.head_samples
                            .push((now, lba, matches!(what, InService::Mig { .. })));
                    }
                }
                last_end_stroke = stroke_of(&disk, lba + sectors);
                busy_until = Some((now + s.total_ns(), what));
                continue;
            }
        }
        // Advance the clock.
        let mut t_next = u64::MAX;
        if let Some((t, _)) = &busy_until {
            t_next = t_next.min(*t);
        }
        for v in &vms {
            if let Some(r) = &v.next_arrival {
                t_next = t_next.min(r.t_ns.max(now));
            }
        }
        if t_next == u64::MAX {
            break;
        }
        now = t_next;
    }
    res.window_ns = window_end.unwrap_or(now);
    res
}

/// What the worker does to pick a copy: the selector's block from the
/// head, cut into a run by `shape`, marked in flight.
pub fn start_copy(
    map: &mut BlockMap<Vec<u64>>,
    sel: &mut AnySelector,
    shape: RunShape,
    head: u64,
    offset: u64,
    idle: bool,
    max_blocks: u32,
) -> Option<CopyRun> {
    let head_block = shape.head_block(head, offset, map.nr_blocks());
    let block = sel.next(map, head_block, idle)?;
    let mut plan = shape.plan(map, block);
    plan.blocks = plan.blocks.min(max_blocks.max(1));
    map.mark_in_flight(plan.first).expect("pending");
    Some(map.extend_run(plan, |_| false))
}

/// What the target's `map` does to the migration map for a VM request: a
/// write dirties the blocks it covers; a read of pending blocks becomes a
/// read of those whole blocks (returned) when the piggyback rule says so,
/// with `waiting` other VM requests queued.
pub fn map_vm_request(
    map: &mut BlockMap<Vec<u64>>,
    req: &Req,
    cfg: &RunConfig,
    waiting: u32,
) -> Option<CopyRun> {
    let shift = cfg.block_sectors.trailing_zeros();
    let run = CopyRun::covering(req.lba, req.sectors, shift);
    if req.write {
        for c in run.iter() {
            let _ = map.mark_written(c);
        }
        return None;
    }
    // No longer than a copy buffer (the kernel splits VM bios at chunks).
    let pending = u64::from(run.blocks) << shift <= cfg.chunk_sectors
        && run
            .iter()
            .all(|c| map.state(c).is_some_and(|s| s.is_pending()));
    if !cfg.piggyback.decide(
        pending,
        extends_a_run(map, run),
        u64::from(run.blocks) << shift,
        req.sectors,
        waiting,
    ) {
        return None;
    }
    map.mark_in_flight(run.first).expect("pending");
    let marked = map.extend_run(run, |_| false);
    assert_eq!(marked, run, "every block was pending");
    Some(run)
}

fn complete_run(
    v: &mut VmState,
    run: CopyRun,
    head: &HeadModel,
    shift: u32,
    nr_blocks: u64,
    res: &mut RunResult,
) {
    for c in run.iter() {
        complete_chunk(v, c, head, shift, nr_blocks, res);
    }
}

fn complete_chunk(
    v: &mut VmState,
    c: u64,
    head: &HeadModel,
    shift: u32,
    nr_blocks: u64,
    res: &mut RunResult,
) {
    let Some(map) = v.map.as_mut() else { return };
    let redirtied = map.is_redirtied(c);
    let st = map.complete(c, true).expect("in flight");
    res.chunks_copied += 1;
    if redirtied {
        res.chunks_recopied += 1;
    }
    // As the kernel: a copied block is cached if it is still migrated (no VM
    // write reached it during the copy).
    if let Some(idx) = v.cache.as_mut() {
        if st == iofollow_policy::map::BlockState::Migrated {
            let head_block = block_of_head(head.position(), v.offset, shift, nr_blocks);
            idx.insert(c, c.abs_diff(head_block));
        }
    }
}

/// Index of the VM request to dispatch.
fn pick_vm(queue: &VecDeque<Req>, q: Queueing, disk: &Disk, now: u64, offset: u64) -> usize {
    match q {
        Queueing::Fifo => 0,
        Queueing::Ncq => {
            if let Some(front) = queue.front() {
                if now.saturating_sub(front.t_ns) > 500_000_000 {
                    return 0;
                }
            }
            let mut best = 0;
            let mut best_t = u64::MAX;
            for (i, r) in queue.iter().take(32).enumerate() {
                let s = disk.estimate(now, offset + r.lba, r.sectors, r.write);
                if s.positioning_ns() < best_t {
                    best_t = s.positioning_ns();
                    best = i;
                }
            }
            best
        }
    }
}
