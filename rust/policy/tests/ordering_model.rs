// SPDX-License-Identifier: GPL-2.0

//! Exhaustive interleaving checker for the per-block ordering protocol
//! (`policy::ordering`).
//!
//! A small world: a source and a destination of a few blocks, each block
//! holding one value. The destination has a durable layer and a volatile
//! cache: a write lands in the cache, a flush makes durable what had
//! completed when it was issued, and a *reset* drops the cache. A reset is
//! seen by the first destination IO to complete after it, whatever it is (a
//! write that landed before, a flush issued after): it fails. That is what a
//! real reset looks like (an NBD reconnect, a disk power-cycling); a device
//! that loses its cache and fails nothing cannot be told from a good one. A VM writes (one or
//! two blocks, overlapping ones too), discards, reads, flushes; a worker
//! copies runs of pending blocks from any block (every policy's choice), up
//! to a chunk, several at once; reads may be piggybacked on a copy; source
//! reads and writes, destination writes and flushes may fail; the device may
//! be suspended (copies abandoned, then the postsuspend flush) and resumed;
//! the operator may send `resume` at any time. Every reachable state is
//! visited (depth-first, memoised), and after every step the checker asserts:
//!
//! 1. a block the protocol counts as migrated, with no VM write to it in
//!    flight, holds on the destination what the source holds;
//! 2. `synced` implies: no VM write in flight went to the source only, every
//!    block with no write in flight is identical on both devices, and no
//!    copy write sits only in the volatile cache;
//! 3. a suspended device whose postsuspend flush is done and that says
//!    `synced` has a destination whose *durable* layer equals the source;
//! 4. a VM read returns data at least as new as the last write to its block
//!    that completed before the read was mapped;
//! 5. liveness: a state with nothing left to do is `synced`.
//!
//! Invariants 1 and 2 are not asserted while a reset is not yet seen (no
//! target can know). Blocks written by two overlapping writes of which one
//! is mirrored have no defined content on any mirror and leave 1–3;
//! overlapped blocks leave 4.
//!
//! The same checker runs on ports of earlier rules and must find their
//! bugs: that is the proof that it can fail. `OldLogic` is the engine before
//! the ordering protocol (issue 7); `UnflushedIgnored` is the protocol before
//! issue 22, which a reset defeats (finding 1).
#![allow(
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use iofollow_policy::copyrun::CopyRun;
use iofollow_policy::map::{BlockMap, BlockState};
use iofollow_policy::ordering::{FlushTicket, Ordering, WriteRoute, WriteTicket};
use std::collections::HashSet;
use std::hash::Hash;
use support::new_map;

/// What the driver needs from a protocol: the calls the kernel engine makes.
trait Protocol: Clone + Hash + Eq {
    fn new(blocks: u64, stripes: usize) -> Self;
    /// Returns (mirrored, ticket).
    fn map_write(&mut self, first: u64, n: u32, discard: bool) -> (bool, WriteTicket);
    /// A queued mirrored write is issued by the worker: whether it goes to
    /// the destination too.
    fn mirror_issued(&mut self, t: &mut WriteTicket) -> bool;
    fn write_done(&mut self, t: WriteTicket, src_ok: bool, dst_ok: bool);
    /// Starts a copy of up to `run.blocks` from `run.first`; the run started.
    fn start_copy_run(&mut self, run: CopyRun) -> Option<CopyRun>;
    fn worker_tick(&mut self);
    fn copy_run_done(&mut self, run: CopyRun, ok: bool);
    fn copy_read_failed(&mut self, run: CopyRun);
    fn copy_abandoned(&mut self, run: CopyRun);
    fn wants_bg_flush(&self, periodic: bool) -> bool;
    fn flush_issued(&mut self, bg: bool) -> FlushTicket;
    fn flush_done(&mut self, t: FlushTicket, ok: bool);
    fn clear_error(&mut self);
    fn state(&self, b: u64) -> BlockState;
    fn is_synced(&self) -> bool;
    fn in_error(&self) -> bool;
    /// VM flushes and mirrors skip the destination.
    fn dest_failed(&self) -> bool;
    /// Whether postsuspend may skip its flush.
    fn dest_durable(&self) -> bool;
    fn writes_in_flight(&self, b: u64) -> bool;
    /// Whether a VM read of `run` may be served by the destination.
    fn dest_readable(&self, _run: CopyRun) -> bool {
        false
    }
}

impl Protocol for Ordering<Vec<u64>> {
    fn new(blocks: u64, stripes: usize) -> Self {
        support::ordering_with(blocks, stripes)
    }
    fn map_write(&mut self, first: u64, n: u32, discard: bool) -> (bool, WriteTicket) {
        let d = Ordering::map_write(self, first, n, discard);
        (d.route == WriteRoute::Mirror, d.ticket)
    }
    fn mirror_issued(&mut self, t: &mut WriteTicket) -> bool {
        Ordering::mirror_issued(self, t)
    }
    fn write_done(&mut self, t: WriteTicket, s: bool, d: bool) {
        Ordering::write_done(self, t, s, d);
    }
    fn start_copy_run(&mut self, run: CopyRun) -> Option<CopyRun> {
        Ordering::start_copy_run(self, run).ok()
    }
    fn worker_tick(&mut self) {
        self.unpark_quiet();
    }
    fn copy_run_done(&mut self, run: CopyRun, ok: bool) {
        Ordering::copy_run_done(self, run, ok);
    }
    fn copy_read_failed(&mut self, run: CopyRun) {
        Ordering::copy_read_failed(self, run);
    }
    fn copy_abandoned(&mut self, run: CopyRun) {
        self.copy_run_abandoned(run);
    }
    fn wants_bg_flush(&self, periodic: bool) -> bool {
        self.wants_dest_flush(periodic)
    }
    fn flush_issued(&mut self, bg: bool) -> FlushTicket {
        self.dest_flush_issued(bg)
    }
    fn flush_done(&mut self, t: FlushTicket, ok: bool) {
        self.dest_flush_done(t, ok);
    }
    fn clear_error(&mut self) {
        Ordering::clear_error(self);
    }
    fn state(&self, c: u64) -> BlockState {
        self.map().state(c).unwrap()
    }
    fn is_synced(&self) -> bool {
        Ordering::is_synced(self)
    }
    fn in_error(&self) -> bool {
        Ordering::in_error(self)
    }
    fn dest_failed(&self) -> bool {
        Ordering::dest_failed(self)
    }
    fn dest_durable(&self) -> bool {
        Ordering::dest_durable(self)
    }
    fn writes_in_flight(&self, b: u64) -> bool {
        Ordering::writes_in_flight(self, b)
    }
    fn dest_readable(&self, run: CopyRun) -> bool {
        Ordering::dest_readable(self, run)
    }
}

type Map = BlockMap<Vec<u64>>;

/// The ordering protocol as it was before issue 22 (rust/policy/ordering.rs
/// at c8e4659), reduced to what decides data: a failed copy or mirrored
/// write dirties only its own blocks, a failed flush every migrated block,
/// `resume` just clears the error, queued mirrored writes still go to the
/// destination in the error state, and postsuspend flushes only when copy
/// writes are not yet flushed. Write counts are exact (no stripes).
#[derive(Clone, Hash, PartialEq, Eq)]
struct UnflushedIgnored {
    map: Map,
    writes: Vec<u32>,
    unmirrored: u32,
    copies_done: u32,
    copies_flushed: u32,
    bg: bool,
    error: bool,
}

impl Protocol for UnflushedIgnored {
    fn new(blocks: u64, _stripes: usize) -> Self {
        Self {
            map: new_map(blocks),
            writes: vec![0; blocks as usize],
            unmirrored: 0,
            copies_done: 0,
            copies_flushed: 0,
            bg: false,
            error: false,
        }
    }
    fn map_write(&mut self, first: u64, n: u32, discard: bool) -> (bool, WriteTicket) {
        let run = CopyRun { first, blocks: n };
        let mirror = !discard
            && !self.error
            && run
                .iter()
                .all(|b| self.map.state(b) == Some(BlockState::Migrated));
        for b in run.iter() {
            self.writes[b as usize] += 1;
            if !mirror {
                let _ = self.map.mark_dirty(b);
            }
        }
        if !mirror {
            self.unmirrored += 1;
        }
        let t = WriteTicket {
            first,
            blocks: n,
            mirrored: mirror,
            to_dest: false,
        };
        (mirror, t)
    }
    fn mirror_issued(&mut self, t: &mut WriteTicket) -> bool {
        t.to_dest = t.mirrored;
        t.mirrored
    }
    fn write_done(&mut self, t: WriteTicket, s: bool, d: bool) {
        for b in t.blocks().iter() {
            self.writes[b as usize] -= 1;
            if t.mirrored && !(s && d) {
                let _ = self.map.mark_dirty(b);
            }
        }
        if t.mirrored {
            self.error |= !d;
        } else {
            self.unmirrored -= 1;
        }
    }
    fn start_copy_run(&mut self, run: CopyRun) -> Option<CopyRun> {
        if self.error || self.writes[run.first as usize] > 0 {
            return None;
        }
        self.map.mark_in_flight(run.first).ok()?;
        let writes = &self.writes;
        Some(self.map.extend_run(run, |b| writes[b as usize] > 0))
    }
    fn worker_tick(&mut self) {}
    fn copy_run_done(&mut self, run: CopyRun, ok: bool) {
        for b in run.iter() {
            let _ = self.map.complete(b, ok);
        }
        if ok {
            self.copies_done += 1;
        }
        self.error |= !ok;
    }
    fn copy_read_failed(&mut self, run: CopyRun) {
        self.copy_run_done(run, false);
    }
    fn copy_abandoned(&mut self, run: CopyRun) {
        for b in run.iter() {
            let _ = self.map.complete(b, false);
        }
    }
    fn wants_bg_flush(&self, _periodic: bool) -> bool {
        self.map.is_synced() && !self.error && self.copies_flushed != self.copies_done && !self.bg
    }
    fn flush_issued(&mut self, bg: bool) -> FlushTicket {
        self.bg |= bg;
        FlushTicket {
            covers: u64::from(self.copies_done),
            epoch: 0,
            background: bg,
        }
    }
    fn flush_done(&mut self, t: FlushTicket, ok: bool) {
        if t.background {
            self.bg = false;
        }
        if ok {
            self.copies_flushed = self.copies_flushed.max(t.covers as u32);
        } else {
            self.map.redirty_migrated();
            self.error = true;
        }
    }
    fn clear_error(&mut self) {
        self.error = false;
    }
    fn state(&self, c: u64) -> BlockState {
        self.map.state(c).unwrap()
    }
    fn is_synced(&self) -> bool {
        self.map.is_synced()
            && !self.error
            && self.unmirrored == 0
            && self.copies_flushed == self.copies_done
    }
    fn in_error(&self) -> bool {
        self.error
    }
    fn dest_failed(&self) -> bool {
        self.error
    }
    fn dest_durable(&self) -> bool {
        self.copies_flushed == self.copies_done
    }
    fn writes_in_flight(&self, b: u64) -> bool {
        self.writes[b as usize] > 0
    }
}

/// The engine's rules before the ordering protocol (rust/migration/engine.rs and
/// routing.rs at commit 0e28463): copies exclude only *issued* mirrored
/// writes, a source-only write re-dirties its block at map time and again at
/// completion, a discard dirties only its first block, `synced` is "every
/// block migrated", and nothing flushes the destination.
///
/// `DISCARD_ALL` fixes one of them (a discard dirties every block it covers),
/// so that the checker can show the others on their own.
#[derive(Clone, Hash, PartialEq, Eq)]
struct OldLogic<const DISCARD_ALL: bool = false> {
    map: Map,
    mirrors: Vec<u64>,
    error: bool,
}

impl<const DISCARD_ALL: bool> OldLogic<DISCARD_ALL> {
    fn source_only_write_done(&mut self, c: u64) {
        if matches!(
            self.map.state(c),
            Some(BlockState::Migrated | BlockState::InFlight)
        ) {
            let _ = self.map.mark_dirty(c);
        }
    }
}

impl<const DISCARD_ALL: bool> Protocol for OldLogic<DISCARD_ALL> {
    fn new(blocks: u64, _stripes: usize) -> Self {
        OldLogic {
            map: new_map(blocks),
            mirrors: Vec::new(),
            error: false,
        }
    }
    fn map_write(&mut self, first: u64, n: u32, discard: bool) -> (bool, WriteTicket) {
        let mut t = WriteTicket {
            first,
            blocks: 1,
            mirrored: true,
            to_dest: false,
        };
        if !discard && self.map.state(first) == Some(BlockState::Migrated) && !self.error {
            return (true, t);
        }
        t.mirrored = false;
        t.blocks = if DISCARD_ALL { n } else { 1 };
        for c in t.blocks().iter() {
            self.source_only_write_done(c);
        }
        (false, t)
    }
    fn mirror_issued(&mut self, t: &mut WriteTicket) -> bool {
        self.mirrors.push(t.first);
        t.to_dest = true;
        true
    }
    fn write_done(&mut self, t: WriteTicket, _s: bool, d: bool) {
        if t.mirrored {
            let i = self.mirrors.iter().position(|&c| c == t.first).unwrap();
            self.mirrors.remove(i);
            if !d {
                let _ = self.map.mark_dirty(t.first);
                self.error = true;
            }
        } else {
            for c in t.blocks().iter() {
                self.source_only_write_done(c);
            }
        }
    }
    fn start_copy_run(&mut self, run: CopyRun) -> Option<CopyRun> {
        if self.error || self.mirrors.contains(&run.first) {
            return None;
        }
        self.map.mark_in_flight(run.first).ok()?;
        Some(CopyRun {
            first: run.first,
            blocks: 1,
        })
    }
    fn worker_tick(&mut self) {}
    fn copy_run_done(&mut self, run: CopyRun, ok: bool) {
        let _ = self.map.complete(run.first, ok);
        self.error |= !ok;
    }
    fn copy_read_failed(&mut self, run: CopyRun) {
        self.copy_run_done(run, false);
    }
    fn copy_abandoned(&mut self, run: CopyRun) {
        let _ = self.map.complete(run.first, false);
    }
    fn wants_bg_flush(&self, _periodic: bool) -> bool {
        false
    }
    fn flush_issued(&mut self, bg: bool) -> FlushTicket {
        FlushTicket {
            covers: 0,
            epoch: 0,
            background: bg,
        }
    }
    fn flush_done(&mut self, _t: FlushTicket, ok: bool) {
        self.error |= !ok;
    }
    fn clear_error(&mut self) {
        self.error = false;
    }
    fn state(&self, c: u64) -> BlockState {
        self.map.state(c).unwrap()
    }
    fn is_synced(&self) -> bool {
        self.map.is_synced() && !self.error
    }
    fn in_error(&self) -> bool {
        self.error
    }
    fn dest_failed(&self) -> bool {
        self.error
    }
    fn dest_durable(&self) -> bool {
        true
    }
    fn writes_in_flight(&self, b: u64) -> bool {
        self.mirrors.contains(&b)
    }
}

/// One leg of a VM write.
#[derive(Clone, Copy, Hash, PartialEq, Eq, Debug)]
enum Leg {
    /// Not sent to this device.
    Off,
    Pending,
    Landed,
    Failed,
}

/// A VM write or discard in flight.
#[derive(Clone, Hash, PartialEq, Eq, Debug)]
struct VmWrite {
    ticket: WriteTicket,
    first: usize,
    n: usize,
    value: u8,
    /// Mirrored writes wait in the worker's queue until issued.
    queued: bool,
    src: Leg,
    dst: Leg,
    /// The stamps of its landing on the destination.
    stamps: Vec<u8>,
}

/// A VM read in flight: must return a value at least `min`.
#[derive(Clone, Hash, PartialEq, Eq, Debug)]
struct VmRead {
    block: usize,
    min: u8,
    /// Routed to the destination (the gate allowed it when it was mapped).
    from_dest: bool,
}

#[derive(Clone, Hash, PartialEq, Eq, Debug)]
enum CopyPhase {
    Reading,
    /// Read; the worker writes it out, or abandons it (suspend, fault).
    Read(Vec<u8>),
    Writing(Vec<u8>),
    /// With the stamps of its landing.
    Landed(Vec<u8>),
}

#[derive(Clone, Hash, PartialEq, Eq, Debug)]
struct CopyIo {
    run: CopyRun,
    phase: CopyPhase,
    /// The VM read it serves (piggybacked), until its read is done.
    piggy: Option<VmRead>,
}

#[derive(Clone, Hash, PartialEq, Eq, Debug)]
struct Flush {
    ticket: FlushTicket,
    /// Per block, the completed volatile write it makes durable.
    covers: Vec<Option<Cached>>,
}

/// One volatile block of the destination's cache.
#[derive(Clone, Copy, Hash, PartialEq, Eq, Debug)]
struct Cached {
    value: u8,
    /// Which landing on this block it was (they count up).
    stamp: u8,
    /// The write that put it there completed.
    completed: bool,
    /// A copy write (not a mirrored VM write).
    copy: bool,
}

/// Limits of one configuration.
#[derive(Clone, Copy, Debug)]
struct Config {
    blocks: u64,
    /// Longest copy run, in blocks.
    chunk: u32,
    stripes: usize,
    writes: u8,
    /// VM writes may cover two blocks.
    wide_writes: bool,
    /// A VM write may overlap one in flight.
    overlapping: bool,
    discards: u8,
    reads: u8,
    vm_flushes: u8,
    /// Destination write or flush failures the world may inject.
    failures: u8,
    /// Source read or write failures.
    src_failures: u8,
    /// Destination resets (volatile cache lost).
    resets: u8,
    /// VM reads may be routed to the destination.
    dest_reads: bool,
    suspends: u8,
    /// The target's periodic flush.
    periodic: bool,
    max_copies: usize,
    /// Check invariants 2 and 3 (synced); and in 2, that copy writes are flushed.
    check_synced: bool,
    check_durability: bool,
    /// Check invariant 5.
    check_liveness: bool,
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct World<P: Protocol> {
    p: P,
    src: Vec<u8>,
    durable: Vec<u8>,
    /// The stamp of the write `durable` holds.
    durable_stamp: Vec<u8>,
    cache: Vec<Option<Cached>>,
    /// Landings per block so far.
    landings: Vec<u8>,
    /// Value of the last write to each block that completed (for reads).
    committed: Vec<u8>,
    /// Two overlapping writes, one of them mirrored: no defined content.
    undefined: Vec<bool>,
    /// Written by overlapping or failed writes: reads are not judged.
    overlapped: Vec<bool>,
    next_value: u8,
    /// A VM read that returned stale data (invariant 4).
    stale_read: Option<String>,
    writes_left: u8,
    discards_left: u8,
    reads_left: u8,
    flushes_left: u8,
    failures_left: u8,
    src_failures_left: u8,
    resets_left: u8,
    suspends_left: u8,
    /// A reset no destination IO has seen yet: the next to complete fails.
    reset_unseen: bool,
    suspended: bool,
    postsuspended: bool,
    vm: Vec<VmWrite>,
    reads: Vec<VmRead>,
    copies: Vec<CopyIo>,
    flushes: Vec<Flush>,
}

impl<P: Protocol> World<P> {
    fn new(cfg: Config) -> Self {
        let n = cfg.blocks as usize;
        World {
            p: P::new(cfg.blocks, cfg.stripes),
            src: (1..=n as u8).collect(),
            durable: vec![0; n],
            durable_stamp: vec![0; n],
            cache: vec![None; n],
            landings: vec![0; n],
            committed: (1..=n as u8).collect(),
            undefined: vec![false; n],
            overlapped: vec![false; n],
            next_value: 100,
            stale_read: None,
            writes_left: cfg.writes,
            discards_left: cfg.discards,
            reads_left: cfg.reads,
            flushes_left: cfg.vm_flushes,
            failures_left: cfg.failures,
            src_failures_left: cfg.src_failures,
            resets_left: cfg.resets,
            suspends_left: cfg.suspends,
            reset_unseen: false,
            suspended: false,
            postsuspended: false,
            vm: Vec::new(),
            reads: Vec::new(),
            copies: Vec::new(),
            flushes: Vec::new(),
        }
    }

    fn visible(&self, b: usize) -> u8 {
        self.cache[b].map_or(self.durable[b], |c| c.value)
    }

    fn block_busy(&self, b: usize) -> bool {
        self.vm.iter().any(|w| b >= w.first && b < w.first + w.n)
    }

    /// A destination IO completes: false (it fails) if it is the first
    /// since a reset.
    fn dst_completion_ok(&mut self) -> bool {
        !std::mem::replace(&mut self.reset_unseen, false)
    }

    fn land_on_dst(&mut self, first: usize, values: &[u8], copy: bool) {
        for (k, &v) in values.iter().enumerate() {
            let b = first + k;
            self.landings[b] += 1;
            self.cache[b] = Some(Cached {
                value: v,
                stamp: self.landings[b],
                completed: false,
                copy,
            });
        }
    }

    /// The writes that landed with `stamps` completed.
    fn complete_on_dst(&mut self, first: usize, stamps: &[u8]) {
        for (k, &st) in stamps.iter().enumerate() {
            if let Some(c) = self.cache[first + k].as_mut() {
                if c.stamp == st {
                    c.completed = true;
                }
            }
        }
    }

    fn stamps(&self, first: usize, n: usize) -> Vec<u8> {
        (first..first + n)
            .map(|b| self.cache[b].map_or(0, |c| c.stamp))
            .collect()
    }

    fn vm_write(&self, cfg: Config, first: usize, n: usize, discard: bool) -> World<P> {
        let mut w = self.clone();
        let value = w.next_value;
        w.next_value += 1;
        let (mirrored, ticket) = w.p.map_write(first as u64, n as u32, discard);
        assert!(!(discard && mirrored), "a discard was mirrored");
        for b in first..first + n {
            if self.block_busy(b) {
                w.overlapped[b] = true;
                // Two overlapping writes to both devices may land in either
                // order on each: no mirror defines the result.
                let other_mirrored = self
                    .vm
                    .iter()
                    .any(|o| b >= o.first && b < o.first + o.n && o.ticket.mirrored);
                w.undefined[b] |= mirrored && other_mirrored;
            }
        }
        let _ = cfg;
        w.vm.push(VmWrite {
            ticket,
            first,
            n,
            value,
            queued: mirrored,
            src: if mirrored { Leg::Off } else { Leg::Pending },
            dst: Leg::Off,
            stamps: Vec::new(),
        });
        w
    }

    /// Every state one step from here, with the name of the step.
    fn successors(&self, cfg: Config) -> Vec<(String, World<P>)> {
        let mut out = Vec::new();
        let n = cfg.blocks as usize;
        // --- the VM (dm holds its bios while the device is suspended) ---
        if !self.suspended {
            if self.writes_left > 0 {
                for b in 0..n {
                    for len in [1usize, 2] {
                        if len == 2 && (!cfg.wide_writes || b + 1 >= n) {
                            continue;
                        }
                        if !cfg.overlapping && (b..b + len).any(|x| self.block_busy(x)) {
                            continue;
                        }
                        let mut w = self.vm_write(cfg, b, len, false);
                        w.writes_left -= 1;
                        let m = w.vm.last().unwrap().ticket.mirrored;
                        out.push((format!("vm write blocks {b}+{len} (mirrored {m})"), w));
                    }
                }
            }
            if self.discards_left > 0 && (cfg.overlapping || (0..n).all(|b| !self.block_busy(b))) {
                let mut w = self.vm_write(cfg, 0, n, true);
                w.discards_left -= 1;
                out.push(("vm discard all".into(), w));
            }
            if self.reads_left > 0 {
                for b in 0..n {
                    let mut w = self.clone();
                    w.reads_left -= 1;
                    let read = VmRead {
                        block: b,
                        min: self.committed[b],
                        from_dest: false,
                    };
                    let mut plain = w.clone();
                    plain.reads.push(read.clone());
                    out.push((format!("vm read block {b}"), plain));
                    let one = CopyRun {
                        first: b as u64,
                        blocks: 1,
                    };
                    if cfg.dest_reads && w.p.dest_readable(one) {
                        let mut routed = w.clone();
                        routed.reads.push(VmRead {
                            from_dest: true,
                            ..read.clone()
                        });
                        out.push((
                            format!("vm read block {b} routed to the destination"),
                            routed,
                        ));
                    }
                    // Piggybacked, as the engine's reserve_piggyback: the
                    // block pending, quiet, and copying allowed.
                    let run = CopyRun {
                        first: b as u64,
                        blocks: 1,
                    };
                    if !w.p.in_error()
                        && w.copies.len() < cfg.max_copies
                        && w.p.state(b as u64).is_pending()
                        && !w.p.writes_in_flight(b as u64)
                    {
                        if let Some(started) = w.p.start_copy_run(run) {
                            assert_eq!(started, run, "piggyback started another run");
                            w.copies.push(CopyIo {
                                run,
                                phase: CopyPhase::Reading,
                                piggy: Some(read),
                            });
                            out.push((format!("vm read block {b} piggybacked"), w));
                        }
                    }
                }
            }
            if self.flushes_left > 0 {
                let mut w = self.clone();
                w.flushes_left -= 1;
                // In the error state dm's destination clone goes to the source.
                if !w.p.dest_failed() {
                    let ticket = w.p.flush_issued(false);
                    let covers = w.covered();
                    w.flushes.push(Flush { ticket, covers });
                }
                out.push(("vm flush issued".into(), w));
            }
        }
        for (i, vw) in self.vm.iter().enumerate() {
            if vw.queued {
                let mut w = self.clone();
                let to_dest = w.p.mirror_issued(&mut w.vm[i].ticket);
                w.vm[i].queued = false;
                w.vm[i].src = Leg::Pending;
                if to_dest {
                    w.vm[i].dst = Leg::Pending;
                }
                out.push((
                    format!("issue mirrored write {i} (to destination {to_dest})"),
                    w,
                ));
                continue;
            }
            if vw.src == Leg::Pending {
                let mut w = self.clone();
                for b in vw.first..vw.first + vw.n {
                    w.src[b] = vw.value;
                }
                w.vm[i].src = Leg::Landed;
                out.push((format!("vm write {i} lands on source"), w.clone()));
                if self.src_failures_left > 0 {
                    // A failed write may or may not have changed the blocks.
                    for landed in [w, self.clone()] {
                        let mut w = landed;
                        w.src_failures_left -= 1;
                        w.vm[i].src = Leg::Failed;
                        for b in vw.first..vw.first + vw.n {
                            w.overlapped[b] = true;
                        }
                        out.push((format!("vm write {i} fails on source"), w));
                    }
                }
            }
            if vw.dst == Leg::Pending {
                let mut w = self.clone();
                w.land_on_dst(vw.first, &vec![vw.value; vw.n], false);
                w.vm[i].stamps = w.stamps(vw.first, vw.n);
                w.vm[i].dst = Leg::Landed;
                out.push((format!("vm write {i} lands on destination"), w));
                if self.failures_left > 0 {
                    let mut w = self.clone();
                    w.failures_left -= 1;
                    w.vm[i].dst = Leg::Failed;
                    out.push((format!("vm write {i} fails on destination"), w));
                }
            }
            if vw.src != Leg::Pending && !vw.queued && vw.dst != Leg::Pending {
                let mut w = self.clone();
                let vw = w.vm.remove(i);
                let src_ok = vw.src == Leg::Landed;
                let dst_ok = match vw.dst {
                    Leg::Landed => w.dst_completion_ok(),
                    // A failure sees the reset too.
                    Leg::Failed => {
                        w.reset_unseen = false;
                        false
                    }
                    _ => false,
                };
                if dst_ok {
                    w.complete_on_dst(vw.first, &vw.stamps);
                }
                if src_ok {
                    for b in vw.first..vw.first + vw.n {
                        w.committed[b] = w.committed[b].max(vw.value);
                    }
                }
                w.p.write_done(vw.ticket, src_ok, dst_ok);
                out.push((format!("vm write {i} completes"), w));
            }
        }
        for (r, rd) in self.reads.iter().enumerate() {
            let mut w = self.clone();
            w.reads.remove(r);
            if rd.from_dest {
                let v = w.visible(rd.block);
                w.check_read(rd, v);
                out.push((format!("vm read {r} reads the destination"), w));
                if self.failures_left > 0 {
                    // A failed destination read is read again from the source.
                    let mut w = self.clone();
                    w.failures_left -= 1;
                    w.reads[r].from_dest = false;
                    out.push((format!("vm read {r} fails on the destination"), w));
                }
            } else {
                let v = w.src[rd.block];
                w.check_read(rd, v);
                out.push((format!("vm read {r} reads the source"), w));
            }
        }
        // --- the worker: any pending block may start a copy (every policy's choice) ---
        {
            let mut w = self.clone();
            w.p.worker_tick();
            if w != *self {
                out.push(("worker tick".into(), w.clone()));
            }
            if !w.suspended && w.copies.len() < cfg.max_copies {
                for b in 0..cfg.blocks {
                    let mut w2 = w.clone();
                    let run = CopyRun {
                        first: b,
                        blocks: cfg.chunk,
                    };
                    if let Some(run) = w2.p.start_copy_run(run) {
                        w2.copies.push(CopyIo {
                            run,
                            phase: CopyPhase::Reading,
                            piggy: None,
                        });
                        out.push((format!("copy of {}+{} starts", run.first, run.blocks), w2));
                    } else if w2 != w {
                        out.push((format!("copy of block {b} refused (parked)"), w2));
                    }
                }
            }
            if !w.suspended {
                for periodic in [false, true] {
                    if !cfg.periodic && periodic {
                        continue;
                    }
                    if w.p.wants_bg_flush(periodic) && (!periodic || !w.p.wants_bg_flush(false)) {
                        let mut w2 = w.clone();
                        let ticket = w2.p.flush_issued(true);
                        let covers = w2.covered();
                        w2.flushes.push(Flush { ticket, covers });
                        out.push((format!("background flush issued (periodic {periodic})"), w2));
                    }
                }
            }
        }
        for (j, cp) in self.copies.iter().enumerate() {
            let (first, len) = (cp.run.first as usize, cp.run.blocks as usize);
            match &cp.phase {
                CopyPhase::Reading => {
                    let mut w = self.clone();
                    let buf: Vec<u8> = w.src[first..first + len].to_vec();
                    if let Some(rd) = w.copies[j].piggy.take() {
                        w.check_read(&rd, buf[rd.block - first]);
                    }
                    w.copies[j].phase = CopyPhase::Read(buf);
                    out.push((format!("copy of {first}+{len} reads the source"), w));
                    if self.src_failures_left > 0 {
                        let mut w = self.clone();
                        w.src_failures_left -= 1;
                        let cp = w.copies.remove(j);
                        w.p.copy_read_failed(cp.run);
                        // The VM's read is read again on its own.
                        w.reads.extend(cp.piggy);
                        out.push((format!("copy of {first}+{len} fails to read the source"), w));
                    }
                }
                CopyPhase::Read(buf) => {
                    let mut w = self.clone();
                    if w.p.in_error() || w.suspended {
                        let cp = w.copies.remove(j);
                        w.p.copy_abandoned(cp.run);
                        out.push((format!("copy of {first}+{len} abandoned"), w));
                    } else {
                        w.copies[j].phase = CopyPhase::Writing(buf.clone());
                        out.push((format!("copy of {first}+{len} writes the destination"), w));
                    }
                }
                CopyPhase::Writing(buf) => {
                    let mut w = self.clone();
                    w.land_on_dst(first, buf, true);
                    w.copies[j].phase = CopyPhase::Landed(w.stamps(first, len));
                    out.push((format!("copy of {first}+{len} lands on destination"), w));
                    if self.failures_left > 0 {
                        let mut w = self.clone();
                        w.failures_left -= 1;
                        let cp = w.copies.remove(j);
                        w.reset_unseen = false;
                        w.p.copy_run_done(cp.run, false);
                        out.push((format!("copy of {first}+{len} fails on destination"), w));
                    }
                }
                CopyPhase::Landed(stamps) => {
                    let mut w = self.clone();
                    let cp = w.copies.remove(j);
                    let ok = w.dst_completion_ok();
                    if ok {
                        w.complete_on_dst(first, stamps);
                    }
                    w.p.copy_run_done(cp.run, ok);
                    out.push((format!("copy of {first}+{len} completes (ok {ok})"), w));
                }
            }
        }
        for k in 0..self.flushes.len() {
            let mut w = self.clone();
            let f = w.flushes.remove(k);
            if !w.dst_completion_ok() {
                w.p.flush_done(f.ticket, false);
                out.push((format!("destination flush {k} fails (reset)"), w));
                continue;
            }
            for (b, c) in f.covers.iter().enumerate() {
                let Some(c) = *c else { continue };
                if c.stamp > w.durable_stamp[b] {
                    w.durable[b] = c.value;
                    w.durable_stamp[b] = c.stamp;
                }
                if w.cache[b].is_some_and(|x| x.stamp == c.stamp) {
                    w.cache[b] = None;
                }
            }
            w.p.flush_done(f.ticket, true);
            out.push((format!("destination flush {k} completes"), w));
            if self.failures_left > 0 {
                let mut w = self.clone();
                w.failures_left -= 1;
                let f = w.flushes.remove(k);
                // The volatile cache is lost: nothing since the last good flush survives.
                w.cache = vec![None; n];
                w.reset_unseen = false;
                w.p.flush_done(f.ticket, false);
                out.push((format!("destination flush {k} fails"), w));
            }
        }
        if self.resets_left > 0 {
            let mut w = self.clone();
            w.resets_left -= 1;
            w.cache = vec![None; n];
            w.reset_unseen = true;
            out.push(("destination resets (cache lost)".into(), w));
        }
        // --- suspend, postsuspend, resume of the device; the resume message ---
        if self.suspends_left > 0 && !self.suspended {
            let mut w = self.clone();
            w.suspended = true;
            out.push(("presuspend".into(), w));
        }
        let quiet = self.vm.is_empty()
            && self.reads.is_empty()
            && self.copies.is_empty()
            && self.flushes.is_empty();
        if self.suspended && !self.postsuspended && quiet {
            // postsuspend: every IO drained, then flush unless durable.
            let mut w = self.clone();
            w.postsuspended = true;
            if !w.p.dest_failed() && !w.p.dest_durable() {
                let ticket = w.p.flush_issued(true);
                let covers = w.covered();
                w.flushes.push(Flush { ticket, covers });
            }
            out.push(("postsuspend".into(), w));
        }
        if self.suspended && self.postsuspended && self.flushes.is_empty() {
            let mut w = self.clone();
            w.suspended = false;
            w.postsuspended = false;
            w.suspends_left -= 1;
            out.push(("device resumed".into(), w));
        }
        if self.p.in_error() {
            let mut w = self.clone();
            w.p.clear_error();
            if w != *self {
                out.push(("resume message".into(), w));
            }
        }
        out
    }

    /// What a flush issued now makes durable: completed volatile writes.
    fn covered(&self) -> Vec<Option<Cached>> {
        self.cache
            .iter()
            .map(|c| c.filter(|c| c.completed))
            .collect()
    }

    fn check_read(&mut self, rd: &VmRead, v: u8) {
        if !self.overlapped[rd.block] && v < rd.min && self.stale_read.is_none() {
            self.stale_read = Some(format!(
                "a VM read of block {} returned {v}, older than {} completed before it",
                rd.block, rd.min
            ));
        }
    }

    /// The invariants; `Err` names the broken one.
    fn check(&self, cfg: Config) -> Result<(), String> {
        if let Some(why) = &self.stale_read {
            return Err(why.clone());
        }
        let seen = !self.reset_unseen;
        for b in 0..cfg.blocks as usize {
            if seen
                && !self.undefined[b]
                && self.p.state(b as u64) == BlockState::Migrated
                && !self.block_busy(b)
                && self.visible(b) != self.src[b]
            {
                return Err(format!(
                    "block {b} counted migrated but destination {} != source {}",
                    self.visible(b),
                    self.src[b]
                ));
            }
        }
        if cfg.check_synced && self.p.is_synced() && seen {
            // Routed to the source only by `map`, or issued there by the worker.
            if let Some(w) = self.vm.iter().find(|w| !w.queued && w.dst == Leg::Off) {
                return Err(format!(
                    "synced while a source-only write to block {} is in flight",
                    w.first
                ));
            }
            for b in 0..cfg.blocks as usize {
                if self.undefined[b] || self.block_busy(b) {
                    continue;
                }
                if self.visible(b) != self.src[b] {
                    return Err(format!("synced but block {b} differs"));
                }
                if cfg.check_durability && self.cache[b].is_some_and(|c| c.copy) {
                    return Err(format!(
                        "synced but the copy of block {b} was never flushed on the destination"
                    ));
                }
            }
        }
        if cfg.check_synced
            && self.suspended
            && self.postsuspended
            && self.flushes.is_empty()
            && self.p.is_synced()
        {
            for b in 0..cfg.blocks as usize {
                if !self.undefined[b] && self.durable[b] != self.src[b] {
                    return Err(format!(
                        "suspended and synced but block {b} is not durable on the destination \
                         (durable {}, source {})",
                        self.durable[b], self.src[b]
                    ));
                }
            }
        }
        Ok(())
    }

    /// Invariant 5, for a state with no successor.
    fn check_terminal(&self, cfg: Config) -> Result<(), String> {
        if cfg.check_liveness && !self.p.is_synced() {
            return Err(format!(
                "stuck: nothing left to do but not synced (error {})",
                self.p.in_error()
            ));
        }
        Ok(())
    }
}

/// Explores every interleaving; returns the number of states or the first
/// violation with the steps that lead to it.
fn explore<P: Protocol>(cfg: Config) -> Result<usize, String> {
    let mut seen: HashSet<World<P>> = HashSet::new();
    let mut path: Vec<String> = Vec::new();
    visit(World::<P>::new(cfg), cfg, &mut seen, &mut path)?;
    Ok(seen.len())
}

/// Depth-first visit of every state reachable from `w`; `path` names the
/// steps that led to it, for the report of a violation.
fn visit<P: Protocol>(
    w: World<P>,
    cfg: Config,
    seen: &mut HashSet<World<P>>,
    path: &mut Vec<String>,
) -> Result<(), String> {
    if let Err(why) = w.check(cfg) {
        return Err(format!("{why}\n  after: {}", path.join(" -> ")));
    }
    let next = w.successors(cfg);
    if next.is_empty() {
        if let Err(why) = w.check_terminal(cfg) {
            return Err(format!("{why}\n  after: {}", path.join(" -> ")));
        }
    }
    seen.insert(w);
    for (step, n) in next {
        if seen.contains(&n) {
            continue;
        }
        path.push(step);
        visit(n, cfg, seen, path)?;
        path.pop();
    }
    Ok(())
}

const SMALL: Config = Config {
    blocks: 2,
    chunk: 1,
    stripes: 2,
    writes: 2,
    wide_writes: false,
    overlapping: false,
    discards: 0,
    reads: 0,
    vm_flushes: 0,
    failures: 0,
    src_failures: 0,
    resets: 0,
    dest_reads: false,
    suspends: 0,
    periodic: false,
    max_copies: 2,
    check_synced: true,
    check_durability: true,
    check_liveness: true,
};

fn holds(name: &str, cfg: Config) -> usize {
    let n = explore::<Ordering<Vec<u64>>>(cfg).unwrap_or_else(|e| panic!("{name}: {e}"));
    println!("{name}: {n} states");
    n
}

#[test]
fn holds_for_writes_and_copies() {
    let n = holds("writes/copies", SMALL);
    assert!(n > 1_000, "the checker explored too little ({n} states)");
}

#[test]
fn holds_for_runs_wide_and_overlapping_writes() {
    holds(
        "runs",
        Config {
            blocks: 3,
            chunk: 2,
            stripes: 4,
            writes: 1,
            wide_writes: true,
            ..SMALL
        },
    );
    holds(
        "overlapping",
        Config {
            chunk: 2,
            wide_writes: true,
            overlapping: true,
            ..SMALL
        },
    );
}

#[test]
fn holds_with_discards_and_flushes() {
    holds(
        "discards/flushes",
        Config {
            writes: 1,
            discards: 1,
            vm_flushes: 1,
            ..SMALL
        },
    );
}

#[test]
fn holds_with_destination_failures() {
    holds(
        "failures",
        Config {
            writes: 1,
            vm_flushes: 1,
            failures: 1,
            ..SMALL
        },
    );
}

/// Finding 1 of issue 22: a reset between copies, seen by a later IO.
#[test]
fn holds_across_a_destination_reset() {
    holds(
        "reset",
        Config {
            chunk: 2,
            writes: 1,
            resets: 1,
            periodic: true,
            ..SMALL
        },
    );
}

#[test]
fn holds_across_a_reset_and_a_suspend() {
    holds(
        "reset/suspend",
        Config {
            writes: 1,
            resets: 1,
            suspends: 1,
            ..SMALL
        },
    );
}

#[test]
fn holds_with_reads_and_source_failures() {
    holds(
        "reads/source failures",
        Config {
            writes: 1,
            reads: 2,
            src_failures: 1,
            ..SMALL
        },
    );
}

/// Issue 24: reads routed to the destination, across writes, a reset and
/// failures: never older than a write completed before them.
#[test]
fn holds_with_reads_routed_to_the_destination() {
    holds(
        "destination reads",
        Config {
            writes: 1,
            reads: 1,
            dest_reads: true,
            resets: 1,
            periodic: true,
            ..SMALL
        },
    );
    holds(
        "destination reads, failures",
        Config {
            writes: 1,
            reads: 1,
            dest_reads: true,
            failures: 1,
            periodic: true,
            ..SMALL
        },
    );
}

#[test]
fn holds_with_a_shared_stripe() {
    holds(
        "one stripe",
        Config {
            blocks: 3,
            stripes: 1,
            writes: 2,
            ..SMALL
        },
    );
}

/// The checker finds the bugs of earlier rules, each on its own: it can fail.
#[test]
fn earlier_rules_are_caught() {
    // Issue 22, finding 1: a reset loses copies that were never flushed; a
    // later copy write fails; after `resume` the old rules call it synced.
    let reset = Config {
        writes: 0,
        resets: 1,
        check_liveness: false,
        ..SMALL
    };
    let err = explore::<UnflushedIgnored>(reset).unwrap_err();
    println!("issue 22 finding 1: {err}");
    assert!(
        err.contains("synced but block") || err.contains("counted migrated but"),
        "{err}"
    );
    assert!(err.contains("destination resets"), "{err}");
    // Issue 7, finding 3: a source-only write overtaken by the copy of its
    // block, and "synced" said while it is in flight.
    let only_synced = Config {
        check_durability: false,
        check_liveness: false,
        ..SMALL
    };
    let err = explore::<OldLogic>(only_synced).unwrap_err();
    println!("issue 7 finding 3: {err}");
    assert!(err.contains("synced while a source-only write"), "{err}");
    // Issue 7, finding 9: a discard over two blocks dirties only the first.
    let only_migrated = Config {
        writes: 1,
        discards: 1,
        check_synced: false,
        check_liveness: false,
        ..SMALL
    };
    let err = explore::<OldLogic>(only_migrated).unwrap_err();
    println!("issue 7 finding 9: {err}");
    assert!(err.contains("counted migrated but"), "{err}");
    // Issue 7, finding 2, with finding 9 fixed: a queued mirrored write and
    // a copy of its block (made dirty again by the completion of an
    // overlapping source-only write) land in the wrong order.
    let two_writes = Config {
        writes: 2,
        overlapping: true,
        check_synced: false,
        check_liveness: false,
        ..SMALL
    };
    let err = explore::<OldLogic<true>>(two_writes).unwrap_err();
    println!("issue 7 finding 2: {err}");
    assert!(
        err.contains("counted migrated but") && err.contains("issue mirrored write"),
        "{err}"
    );
    // Issue 7, finding 4: synced with nothing ever flushed on the destination.
    let err = explore::<OldLogic>(Config {
        writes: 0,
        check_liveness: false,
        ..SMALL
    })
    .unwrap_err();
    println!("issue 7 finding 4: {err}");
    assert!(err.contains("never flushed"), "{err}");
}

/// Random walks through larger worlds than the exhaustive search can cover:
/// up to 8 blocks, runs of 4, 8 copies in flight; each walk then drains
/// (no VM IO, no faults) and must end synced.
mod random_walks {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        #[test]
        fn protocol_holds_on_long_walks(
            blocks in 2u64..9,
            chunk in 1u32..5,
            stripes_log in 0u32..4,
            writes in 2u8..12,
            discards in 0u8..3,
            reads in 0u8..6,
            vm_flushes in 0u8..3,
            failures in 0u8..2,
            src_failures in 0u8..2,
            resets in 0u8..2,
            suspends in 0u8..2,
            max_copies in 1usize..9,
            choices in proptest::collection::vec(any::<u16>(), 50..400),
        ) {
            let cfg = Config {
                blocks, chunk, stripes: 1 << stripes_log, writes, wide_writes: true,
                overlapping: true, discards, reads, vm_flushes, failures, src_failures,
                resets, dest_reads: true, suspends, periodic: true, max_copies, ..SMALL
            };
            let mut w = World::<Ordering<Vec<u64>>>::new(cfg);
            let mut path = Vec::new();
            for pick in choices {
                let mut next = w.successors(cfg);
                if next.is_empty() {
                    break;
                }
                let (step, n) = next.swap_remove(usize::from(pick) % next.len());
                path.push(step);
                w = n;
                if let Err(why) = w.check(cfg) {
                    prop_assert!(false, "{why}\n  after: {}", path.join(" -> "));
                }
            }
            // Drain: the VM stops, nothing fails any more; the first step
            // each time (resume messages, completions, copies) must end synced.
            w.writes_left = 0;
            w.discards_left = 0;
            w.reads_left = 0;
            w.flushes_left = 0;
            w.failures_left = 0;
            w.src_failures_left = 0;
            w.resets_left = 0;
            w.suspends_left = w.suspends_left.min(u8::from(w.suspended));
            for _ in 0..10_000 {
                let mut next = w.successors(cfg);
                if next.is_empty() {
                    break;
                }
                let (step, n) = next.remove(0);
                path.push(step);
                w = n;
                if let Err(why) = w.check(cfg) {
                    prop_assert!(false, "{why}\n  after: {}", path.join(" -> "));
                }
            }
            if let Err(why) = w.check_terminal(cfg) {
                prop_assert!(false, "{why}\n  after: {}", path.join(" -> "));
            }
        }
    }
}
