// SPDX-License-Identifier: GPL-2.0

//! The simulator scheduling as the kernel module does (for `make bench`'s
//! comparison with the guest).
//!
//! `sim::run` serialises VM and migration requests on the host by the
//! ratio. The kernel does not: `map` sends every VM bio to the disk at
//! once, and only the copy waits. Here, as in `rust/migration`:
//!
//! * a VM request enters the drive's queue when it arrives; the head model
//!   moves when it is mapped, not when the drive serves it;
//! * a VM read of a pending chunk, with at most the piggyback rule's number
//!   of VM requests in flight, becomes a whole-chunk read (it counts as VM
//!   IO for the ratio, as `map` counts it);
//! * the worker issues the next copy read (one background read at a time:
//!   with a fast destination the second slot's write is instantaneous) when
//!   no VM request is in flight, or when the ratio grants one;
//! * the drive serves its queue in FIFO or NCQ order, one request at a time,
//!   with the same model;
//! * while the VM is idle, copies are capped at `idle_run_blocks` and one
//!   at a time (`copy_gate`, `copy_run_blocks`), and runs are cut with the
//!   island guard when the piggyback rule has it;
//! * a VM read whose blocks are all migrated, durable (copied or mirrored
//!   before the last periodic flush) and not being written may be served by
//!   the destination, as the policy core's `ReadRouter` chooses: a parallel
//!   device with a fixed service time. Such reads neither move the head
//!   model nor count as source load for the ratio and the anticipation.
//!
//! The host's own delays (the worker's turnaround, the guest's per-request
//! CPU cost under TCG) are not modelled.

use crate::sim::{map_vm_request, start_copy, Mode, Queueing, RunConfig, RunResult};
use crate::trace::{Req, Rng};
use iofollow_hddmodel::Disk;
use iofollow_policy::anticipation::{Anticipation, AnticipationParams};
use iofollow_policy::copyrun::CopyRun;
use iofollow_policy::head::HeadModel;
use iofollow_policy::map::BlockMap;
use iofollow_policy::ratio::RatioScheduler;
use iofollow_policy::readroute::{Leg, ReadRouter};
use iofollow_policy::select::{AnySelector, Follow, Sequential};
use iofollow_policy::worker::{copy_gate, copy_run_blocks, CopyGate};
use std::collections::VecDeque;

#[derive(Clone, Copy)]
enum What {
    Vm {
        vm: usize,
        req: Req,
        piggy: Option<CopyRun>,
    },
    Copy {
        vm: usize,
        run: CopyRun,
    },
}

#[derive(Clone, Copy)]
struct DevReq {
    what: What,
    arrival: u64,
    lba: u64,
    sectors: u64,
    write: bool,
}

/// A closed-loop VM: `depth` streams of dependent random reads of
/// `sectors` over the image, each thinking `think_ns` between a completion
/// and its next request, until `until_ns`.
#[derive(Clone, Copy, Debug)]
pub struct ClosedLoop {
    pub depth: u32,
    pub think_ns: u64,
    pub sectors: u64,
    pub until_ns: u64,
    pub seed: u64,
}

/// Where a VM's requests come from.
pub enum Workload {
    /// Replayed at their timestamps, whatever happens to earlier ones.
    Open(Box<dyn Iterator<Item = Req> + Send>),
    /// Each request waits for the previous one of its stream.
    Closed(ClosedLoop),
}

struct Vm {
    trace: Box<dyn Iterator<Item = Req> + Send>,
    next: Option<Req>,
    /// Closed loop: the streams' next requests, and how to make more.
    closed: Option<(ClosedLoop, Rng)>,
    upcoming: Vec<Req>,
    anticipation: Anticipation,
    offset: u64,
    map: Option<BlockMap<Vec<u64>>>,
    sel: AnySelector,
    ratio: RatioScheduler,
    in_flight: u64,
    /// Copy reads in flight (at most `cfg.depth`).
    copying: u32,
    done_at: Option<u64>,
    router: ReadRouter,
    /// Per block: the flush epoch of its last destination write (copy or
    /// mirror); durable once the epoch has passed.
    written_epoch: Vec<u32>,
    /// Per block: VM writes in flight.
    writing: Vec<u16>,
}

/// One run, scheduled as the kernel does, with the worker's anticipation
/// tunables. Same outputs as [`crate::sim::run`] (no cache: the kernel has
/// none yet).
pub fn run_workloads(
    cfg: &RunConfig,
    workloads: Vec<Workload>,
    anticipation: AnticipationParams,
) -> RunResult {
    let shape = cfg.shape();
    let shift = shape.block_shift;
    let nr_blocks = cfg.image_sectors >> shift;
    let migrating = cfg.mode != Mode::Normal;
    let mut disk = Disk::new(cfg.disk);
    let mut head = HeadModel::new(0);
    let mut vms: Vec<Vm> = workloads
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            let (mut t, closed): (Box<dyn Iterator<Item = Req> + Send>, _) = match w {
                Workload::Open(t) => (t, None),
                Workload::Closed(c) => (Box::new(std::iter::empty()), Some((c, Rng::new(c.seed)))),
            };
            let mut upcoming = Vec::new();
            let mut closed = closed;
            if let Some((c, rng)) = closed.as_mut() {
                for _ in 0..c.depth {
                    upcoming.push(closed_request(c, rng, cfg.image_sectors, 0));
                }
            }
            Vm {
                next: t.next(),
                trace: t,
                closed,
                upcoming,
                anticipation: Anticipation::new(anticipation),
                offset: i as u64 * cfg.image_stride,
                map: migrating.then(|| {
                    let w = BlockMap::<Vec<u64>>::words_needed(nr_blocks).expect("map size");
                    BlockMap::new(vec![0; w], nr_blocks).expect("map")
                }),
                sel: match cfg.mode {
                    Mode::Follow(p) => AnySelector::Follow(Follow::new(p)),
                    _ => AnySelector::Sequential(Sequential::new()),
                },
                ratio: RatioScheduler::new(cfg.ratio.0, cfg.ratio.1),
                in_flight: 0,
                copying: 0,
                done_at: None,
                router: ReadRouter::new(cfg.reads),
                written_epoch: if migrating {
                    vec![0; nr_blocks as usize]
                } else {
                    Vec::new()
                },
                writing: if migrating {
                    vec![0; nr_blocks as usize]
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    // When a copy held back for an anticipation window may go.
    let mut wake_at: Option<u64> = None;
    let mut copy_done_ns: Vec<u64> = Vec::new();
    let mut last_vm_done_ns = 0u64;
    let mut res = RunResult::default();
    let mut queue: VecDeque<DevReq> = VecDeque::new();
    let mut busy: Option<(u64, DevReq)> = None;
    // Reads the destination serves: (done at, VM, request).
    let mut dest: Vec<(u64, usize, Req)> = Vec::new();
    let mut now = 0u64;
    loop {
        // The destination's completions.
        while let Some(k) = dest.iter().position(|d| d.0 <= now) {
            let (t, vm, req) = dest.swap_remove(k);
            let v = &mut vms[vm];
            v.router.done(Leg::Destination, t - req.t_ns.min(t), true);
            res.vm_lat_ns.push(t - req.t_ns);
            res.vm_arrival_ns.push(req.t_ns);
            res.vm_is_read.push(true);
            last_vm_done_ns = last_vm_done_ns.max(t);
            if res.mig_done_ns.is_none() {
                res.vm_done_during_migration += 1;
            }
            if let Some((c, rng)) = v.closed.as_mut() {
                let at = t + c.think_ns;
                if at < c.until_ns {
                    v.upcoming
                        .push(closed_request(c, rng, cfg.image_sectors, at));
                }
            }
        }
        // Arrivals: `map`.
        for (i, v) in vms.iter_mut().enumerate() {
            while let Some(r) = next_arrival(v, now) {
                let blocks = CopyRun::covering(r.lba, r.sectors, shift);
                if !r.write && routable(v, blocks, now, cfg.flush_interval_ns) {
                    let distance = (v.offset + r.lba).checked_sub(head.position());
                    if v.router.choose(true, distance) == Leg::Destination {
                        v.router.started(Leg::Destination);
                        res.vm_dest_reads += 1;
                        dest.push((now + cfg.dest_read_ns, i, r));
                        continue;
                    }
                }
                if !r.write && v.map.is_some() {
                    v.router.started(Leg::Source);
                }
                if r.write && v.map.is_some() {
                    let epoch = epoch_at(now, cfg.flush_interval_ns);
                    for b in blocks.iter() {
                        if let Some(w) = v.writing.get_mut(b as usize) {
                            *w += 1;
                        }
                        // A mirrored write makes the block unflushed again.
                        if let Some(e) = v.written_epoch.get_mut(b as usize) {
                            *e = epoch;
                        }
                    }
                }
                let waiting = v.in_flight;
                v.anticipation.on_vm_dispatch(now, waiting);
                v.in_flight += 1;
                v.ratio.on_vm_dispatch();
                let waiting = u32::try_from(waiting).unwrap_or(u32::MAX);
                let piggy = v
                    .map
                    .as_mut()
                    .and_then(|map| map_vm_request(map, &r, cfg, waiting));
                res.vm_piggybacked += u64::from(piggy.is_some());
                let (lba, sectors) = match piggy {
                    Some(run) => (
                        v.offset + (run.first << shift),
                        u64::from(run.blocks) << shift,
                    ),
                    None => (v.offset + r.lba, r.sectors),
                };
                if piggy.is_none() {
                    head.on_dispatch(lba, sectors);
                }
                queue.push_back(DevReq {
                    what: What::Vm {
                        vm: i,
                        req: r,
                        piggy,
                    },
                    arrival: now,
                    lba,
                    sectors,
                    write: r.write,
                });
            }
        }
        // The worker: up to `depth` copy reads in flight, each by the ratio.
        for (i, v) in vms.iter_mut().enumerate() {
            let Some(map) = v.map.as_mut() else { continue };
            while map.nr_pending() > 0 {
                // The engine's own gate (rust/policy/worker.rs).
                match copy_gate(
                    now,
                    cfg.depth,
                    v.copying,
                    v.in_flight,
                    &v.anticipation,
                    &v.ratio,
                    cfg.idle_run_blocks,
                ) {
                    CopyGate::Go => {}
                    CopyGate::Full => break,
                    CopyGate::Ratio { wake_at_ns } => {
                        if let Some(end) = wake_at_ns {
                            wake_at = Some(wake_at.map_or(end, |w: u64| w.min(end)));
                        }
                        break;
                    }
                }
                let busy = v.anticipation.vm_busy(now, v.in_flight);
                let max_blocks = copy_run_blocks(busy, shape.chunk_blocks, cfg.idle_run_blocks);
                let Some(run) = start_copy(
                    map,
                    &mut v.sel,
                    shape,
                    head.position(),
                    v.offset,
                    !busy,
                    max_blocks,
                ) else {
                    break;
                };
                res.copy_ios += 1;
                v.ratio.on_migration_dispatch();
                v.copying += 1;
                let lba = v.offset + (run.first << shift);
                let sectors = u64::from(run.blocks) << shift;
                head.on_dispatch(lba, sectors);
                queue.push_back(DevReq {
                    what: What::Copy { vm: i, run },
                    arrival: now,
                    lba,
                    sectors,
                    write: false,
                });
            }
        }
        // The drive.
        if busy.is_none() && !queue.is_empty() {
            let pick = pick(&queue, cfg.queueing, &disk, now);
            let r = queue.remove(pick).expect("queued");
            let s = disk.access(now, r.lba, r.sectors, r.write);
            res.travel_sectors += s.distance;
            res.busy_ns += s.total_ns();
            if s.seek_ns > 0 {
                res.seeks += 1;
            }
            if cfg.record_head {
                res.head_samples
                    .push((now, r.lba, matches!(r.what, What::Copy { .. })));
            }
            busy = Some((now + s.total_ns(), r));
            continue;
        }
        if let Some((t, r)) = busy.filter(|(t, _)| *t <= now) {
            busy = None;
            match r.what {
                What::Vm { vm, req, piggy } => {
                    let v = &mut vms[vm];
                    if v.map.is_some() {
                        if req.write {
                            for b in CopyRun::covering(req.lba, req.sectors, shift).iter() {
                                if let Some(w) = v.writing.get_mut(b as usize) {
                                    *w = w.saturating_sub(1);
                                }
                            }
                        } else {
                            v.router.done(Leg::Source, t - r.arrival, true);
                        }
                    }
                    res.vm_lat_ns.push(t - req.t_ns);
                    res.vm_arrival_ns.push(req.t_ns);
                    res.vm_is_read.push(!req.write);
                    last_vm_done_ns = last_vm_done_ns.max(t);
                    if res.mig_done_ns.is_none() {
                        res.vm_done_during_migration += 1;
                    }
                    v.in_flight -= 1;
                    if v.in_flight == 0 {
                        v.anticipation.on_vm_idle(t);
                    }
                    if let Some((c, rng)) = v.closed.as_mut() {
                        let at = t + c.think_ns;
                        if at < c.until_ns {
                            v.upcoming
                                .push(closed_request(c, rng, cfg.image_sectors, at));
                        }
                    }
                    if let Some(run) = piggy {
                        complete(v, run, &mut res);
                        let epoch = epoch_at(t, cfg.flush_interval_ns);
                        for b in run.iter() {
                            if let Some(e) = v.written_epoch.get_mut(b as usize) {
                                *e = epoch;
                            }
                        }
                    }
                }
                What::Copy { vm, run } => {
                    res.mig_lat_ns.push(t - r.arrival);
                    res.mig_sectors += r.sectors;
                    let v = &mut vms[vm];
                    v.copying -= 1;
                    complete(v, run, &mut res);
                    let epoch = epoch_at(t, cfg.flush_interval_ns);
                    for b in run.iter() {
                        if let Some(e) = v.written_epoch.get_mut(b as usize) {
                            *e = epoch;
                        }
                    }
                    copy_done_ns.push(t);
                }
            }
            for v in vms.iter_mut() {
                if v.done_at.is_none() && v.map.as_ref().is_some_and(|m| m.is_synced()) {
                    v.done_at = Some(t);
                }
            }
            if migrating && res.mig_done_ns.is_none() && vms.iter().all(|v| v.done_at.is_some()) {
                res.mig_done_ns = Some(t);
            }
            continue;
        }
        // Advance the clock.
        let mut t_next = busy.map_or(u64::MAX, |(t, _)| t);
        for d in &dest {
            t_next = t_next.min(d.0);
        }
        for v in &vms {
            if let Some(r) = &v.next {
                t_next = t_next.min(r.t_ns.max(now));
            }
            for r in &v.upcoming {
                t_next = t_next.min(r.t_ns.max(now));
            }
        }
        if let Some(w) = wake_at.take() {
            if w > now {
                t_next = t_next.min(w);
            }
        }
        if t_next == u64::MAX {
            break;
        }
        now = t_next;
    }
    res.window_ns = now;
    res.chunks_copied_while_vm_active = copy_done_ns
        .iter()
        .filter(|&&t| t <= last_vm_done_ns)
        .count() as u64;
    res
}

/// The flush epoch at `t_ns`: blocks written to the destination in an
/// earlier epoch have been flushed.
fn epoch_at(t_ns: u64, flush_interval_ns: u64) -> u32 {
    u32::try_from(t_ns / flush_interval_ns.max(1) + 1).unwrap_or(u32::MAX)
}

/// The ordering protocol's gate for reading `blocks` from the destination:
/// all migrated, flushed, not being written.
fn routable(v: &Vm, blocks: CopyRun, now: u64, flush_interval_ns: u64) -> bool {
    let Some(map) = v.map.as_ref() else {
        return false;
    };
    let epoch = epoch_at(now, flush_interval_ns);
    blocks.iter().all(|b| {
        map.state(b) == Some(iofollow_policy::map::BlockState::Migrated)
            && v.writing.get(b as usize) == Some(&0)
            && v.written_epoch.get(b as usize).is_some_and(|&e| e < epoch)
    })
}

/// The VM's next request due by `now`, from its trace or its streams.
fn next_arrival(v: &mut Vm, now: u64) -> Option<Req> {
    if let Some(r) = v.next.filter(|r| r.t_ns <= now) {
        v.next = v.trace.next();
        return Some(r);
    }
    let i = v.upcoming.iter().position(|r| r.t_ns <= now)?;
    Some(v.upcoming.swap_remove(i))
}

/// A closed-loop stream's next read, issued at `t_ns`.
fn closed_request(c: &ClosedLoop, rng: &mut Rng, image_sectors: u64, t_ns: u64) -> Req {
    let lba = rng.below(image_sectors.saturating_sub(c.sectors).max(1)) & !7;
    Req {
        t_ns,
        lba,
        sectors: c.sectors,
        write: false,
    }
}

fn complete(v: &mut Vm, run: CopyRun, res: &mut RunResult) {
    let Some(map) = v.map.as_mut() else { return };
    for c in run.iter() {
        if map.is_redirtied(c) {
            res.chunks_recopied += 1;
        }
        map.complete(c, true).expect("in flight");
        res.chunks_copied += 1;
    }
}

/// The drive's choice: FIFO, or NCQ (shortest positioning among the first
/// 32, unless the oldest waited 500 ms), as `iofollow-hddemu` does.
fn pick(queue: &VecDeque<DevReq>, q: Queueing, disk: &Disk, now: u64) -> usize {
    if q == Queueing::Fifo {
        return 0;
    }
    let mut best = (u64::MAX, 0usize);
    for (i, r) in queue.iter().enumerate().take(32) {
        if now.saturating_sub(r.arrival) >= 500_000_000 {
            return i;
        }
        let p = disk
            .estimate(now, r.lba, r.sectors, r.write)
            .positioning_ns();
        if p < best.0 {
            best = (p, i);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use iofollow_hddmodel::DiskParams;
    use iofollow_policy::piggyback::PiggybackRule;
    use iofollow_policy::readroute::ReadsMode;
    use iofollow_policy::select::FollowParams;

    fn cfg() -> RunConfig {
        RunConfig {
            mode: Mode::Follow(FollowParams::default()),
            chunk_sectors: 2048,
            block_sectors: 128,
            read_at_head: true,
            depth: 1,
            ratio: (2, 1),
            cache_blocks: 0,
            cache_eviction: Default::default(),
            piggyback: PiggybackRule::default(),
            queueing: Queueing::Fifo,
            disk: DiskParams::ST31000524AS,
            // 4 GiB: the copy outlasts the 20 s reader.
            image_sectors: 8 << 21,
            image_stride: 8 << 21,
            normal_window_ns: u64::MAX,
            record_head: false,
            load_scale: 1.0,
            full_window: true,
            idle_run_blocks: 0,
            reads: ReadsMode::Source,
            dest_read_ns: 100_000,
            flush_interval_ns: 1_000_000_000,
        }
    }

    /// Chunks copied per VM request of a closed-loop reader while it reads.
    fn copies_per_vm_io(depth: u32, think_us: u64, anticipate: bool) -> f64 {
        copies_at_copy_depth(depth, think_us, anticipate, 1, Queueing::Fifo)
    }

    /// The same with `copy_depth` copy reads in flight at most.
    fn copies_at_copy_depth(
        depth: u32,
        think_us: u64,
        anticipate: bool,
        copy_depth: u32,
        queueing: Queueing,
    ) -> f64 {
        let c = ClosedLoop {
            depth,
            think_ns: think_us * 1000,
            sectors: 8,
            until_ns: 20_000_000_000,
            seed: 7,
        };
        let p = AnticipationParams {
            enabled: anticipate,
            ..AnticipationParams::default()
        };
        let mut cfg = cfg();
        cfg.depth = copy_depth;
        cfg.queueing = queueing;
        let r = run_workloads(&cfg, vec![Workload::Closed(c)], p);
        assert!(
            r.mig_done_ns.is_some_and(|t| t > c.until_ns),
            "the copy must outlast the reader"
        );
        r.chunks_copied_while_vm_active as f64 / r.vm_lat_ns.len() as f64
    }

    #[test]
    fn the_ratio_holds_for_dependent_readers() {
        for think_us in [500, 3000] {
            let on = copies_per_vm_io(1, think_us, true);
            assert!(
                (0.25..=0.75).contains(&on),
                "think {think_us} us: {on:.2} copies per VM IO at 2:1"
            );
        }
    }

    #[test]
    fn a_deep_reader_is_not_affected() {
        // Eight requests in flight never look idle. On one actuator the
        // copy's single read waits behind the VM's queue, so it gets about
        // one read per queue turn (1/8), less than its 2:1 share: more copy
        // reads in flight (the policy issue's `depth`) would be needed.
        let on = copies_per_vm_io(8, 500, true);
        let off = copies_per_vm_io(8, 500, false);
        assert_eq!(on, off);
        assert!((0.10..=0.75).contains(&on), "{on:.3}");
    }

    #[test]
    fn deeper_copies_give_a_deep_reader_its_share() {
        // Several copy reads in the drive's queue: the ratio, not the queue
        // turn, sets the share (the policy issue's `depth`).
        for q in [Queueing::Fifo, Queueing::Ncq] {
            let d1 = copies_at_copy_depth(8, 500, true, 1, q);
            let d4 = copies_at_copy_depth(8, 500, true, 4, q);
            assert!(d4 > d1, "{q:?}: depth 4 {d4:.3} <= depth 1 {d1:.3}");
            assert!((0.25..=0.75).contains(&d4), "{q:?}: depth 4 {d4:.3}");
        }
    }

    #[test]
    fn the_ratio_share_holds_at_any_depth() {
        // More copies in flight never take more than the ratio's share from
        // a busy VM (2:1: 0.5 copies per VM request, within 50 %).
        for copy_depth in 1..=8 {
            for (depth, think_us) in [(1, 500), (1, 3000), (8, 500)] {
                let c = copies_at_copy_depth(depth, think_us, true, copy_depth, Queueing::Ncq);
                assert!(
                    c <= 0.75,
                    "copy depth {copy_depth}, reader depth {depth}, think {think_us} us: {c:.3}"
                );
            }
        }
    }

    #[test]
    fn without_anticipation_a_dependent_reader_loses_the_disk() {
        // The deceptive idleness measured in the guest: the copy runs
        // whenever the reader's one request has completed (0.5 ms: the
        // guest's own turnaround to its next request).
        let off = copies_per_vm_io(1, 500, false);
        assert!(off > 0.9, "{off:.2} copies per VM IO");
    }

    #[test]
    fn a_reader_that_thinks_long_leaves_the_copy_flat_out() {
        // 20 ms think time: longer than the longest window, not anticipated.
        let c = copies_per_vm_io(1, 20_000, true);
        assert!(c > 1.0, "{c:.2} copies per VM IO");
    }

    /// A closed-loop reader of 20 s over the copy with `cfg`: (VM mean
    /// latency in ms over the copy window, migration s, destination reads).
    fn closed_run(cfg: &RunConfig, think_us: u64) -> (f64, f64, u64) {
        let c = ClosedLoop {
            depth: 1,
            think_ns: think_us * 1000,
            sectors: 8,
            until_ns: 20_000_000_000,
            seed: 7,
        };
        let r = run_workloads(
            cfg,
            vec![Workload::Closed(c)],
            AnticipationParams::default(),
        );
        let end = r.mig_done_ns.unwrap_or(u64::MAX);
        let lat: Vec<u64> = r
            .vm_lat_ns
            .iter()
            .zip(&r.vm_arrival_ns)
            .filter(|(_, &a)| a < end)
            .map(|(&l, _)| l)
            .collect();
        let mean = lat.iter().sum::<u64>() as f64 / lat.len().max(1) as f64 / 1e6;
        (mean, end as f64 / 1e9, r.vm_dest_reads)
    }

    #[test]
    fn destination_reads_relieve_the_source() {
        let mut cfg = cfg();
        // 512 MiB: the copy ends within the reader's 20 s.
        cfg.image_sectors = 1 << 20;
        cfg.image_stride = 1 << 20;
        let (src_vm, src_t, src_dest) = closed_run(&cfg, 500);
        cfg.reads = ReadsMode::Auto;
        let (auto_vm, auto_t, auto_dest) = closed_run(&cfg, 500);
        assert_eq!(src_dest, 0);
        assert!(auto_dest > 0);
        assert!(
            auto_vm < src_vm,
            "VM {auto_vm:.2} ms routed, {src_vm:.2} ms not"
        );
        assert!(
            auto_t <= src_t * 1.05,
            "copy {auto_t:.1} s routed, {src_t:.1} s not"
        );
    }

    #[test]
    fn idle_copies_are_short_and_single() {
        // A reader thinking 20 ms finds the disk idle (no anticipation past
        // the window): its next read waits behind a copy either way; a
        // 256 KiB one is shorter than a 1 MiB one.
        let mut cfg = cfg();
        let (whole, _, _) = closed_run(&cfg, 20_000);
        cfg.idle_run_blocks = 4;
        let (capped, _, _) = closed_run(&cfg, 20_000);
        assert!(
            capped < whole,
            "VM {capped:.2} ms capped, {whole:.2} ms whole chunks"
        );
    }
}
