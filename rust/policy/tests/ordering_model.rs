// SPDX-License-Identifier: GPL-2.0

//! Exhaustive interleaving checker for the per-chunk ordering protocol
//! (`policy::ordering`).
//!
//! A small world: a source and a destination of a few chunks, each chunk
//! holding one value; a VM that writes, discards and flushes; a worker that
//! copies any pending chunk (every selection is tried); device writes that
//! land and complete in any order; a destination with a volatile cache.
//! Every reachable state is visited (depth-first, memoised), and after every
//! step the checker asserts:
//!
//! 1. a chunk the protocol counts as migrated, with no VM write to it in
//!    flight, holds on the destination what the source holds;
//! 2. `synced` implies: no VM write in flight went to the source only, every
//!    chunk with no write in flight is identical on both devices, and every
//!    copy write is covered by a completed destination flush.
//!
//! The same checker runs on a port of the engine's logic before the ordering
//! protocol (`OldLogic`), and must find a violation there: that is the proof
//! that it can fail (findings 2 and 3 of issue 7).
#![allow(
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use iofollow_policy::map::{ChunkMap, ChunkState};
use iofollow_policy::ordering::{CopyRefused, FlushTicket, Ordering, WriteRoute, WriteTicket};
use std::collections::HashSet;
use std::hash::Hash;

/// What the driver needs from a protocol: the calls the kernel engine makes.
trait Protocol: Clone + Hash + Eq {
    type Ticket: Clone + Copy + Hash + Eq + std::fmt::Debug;
    fn new(chunks: u64) -> Self;
    /// Returns (mirrored, ticket).
    fn map_write(&mut self, first: u64, n: u32, discard: bool) -> (bool, Self::Ticket);
    /// A queued mirrored write is issued by the worker.
    fn mirror_issued(&mut self, t: Self::Ticket);
    fn write_done(&mut self, t: Self::Ticket, src_ok: bool, dst_ok: bool);
    fn start_copy(&mut self, c: u64) -> bool;
    fn worker_tick(&mut self);
    fn copy_done(&mut self, c: u64, ok: bool);
    fn wants_bg_flush(&self) -> bool;
    fn flush_issued(&mut self, bg: bool) -> FlushTicket;
    fn flush_done(&mut self, t: FlushTicket, ok: bool);
    fn clear_error(&mut self);
    fn state(&self, c: u64) -> ChunkState;
    fn is_synced(&self) -> bool;
}

type Map = ChunkMap<Vec<u64>>;

fn new_map(n: u64) -> Map {
    ChunkMap::new(vec![0; Map::words_needed(n).unwrap()], n).unwrap()
}

impl Protocol for Ordering<Vec<u64>> {
    type Ticket = WriteTicket;
    fn new(chunks: u64) -> Self {
        Ordering::new(new_map(chunks))
    }
    fn map_write(&mut self, first: u64, n: u32, discard: bool) -> (bool, WriteTicket) {
        let d = Ordering::map_write(self, first, n, discard);
        (d.route == WriteRoute::Mirror, d.ticket)
    }
    fn mirror_issued(&mut self, _t: WriteTicket) {}
    fn write_done(&mut self, t: WriteTicket, s: bool, d: bool) {
        Ordering::write_done(self, t, s, d);
    }
    fn start_copy(&mut self, c: u64) -> bool {
        match Ordering::start_copy(self, c) {
            Ok(()) => true,
            Err(CopyRefused::Parked | CopyRefused::Busy | CopyRefused::NotPending) => false,
        }
    }
    fn worker_tick(&mut self) {
        self.unpark_quiet();
    }
    fn copy_done(&mut self, c: u64, ok: bool) {
        Ordering::copy_done(self, c, ok);
    }
    fn wants_bg_flush(&self) -> bool {
        self.wants_dest_flush()
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
    fn state(&self, c: u64) -> ChunkState {
        self.map().state(c).unwrap()
    }
    fn is_synced(&self) -> bool {
        Ordering::is_synced(self)
    }
}

/// The engine's rules before the ordering protocol (rust/migration/engine.rs and
/// routing.rs at commit 0e28463): copies exclude only *issued* mirrored
/// writes, a source-only write re-dirties its chunk at map time and again at
/// completion, a discard dirties only its first chunk, `synced` is "every
/// chunk migrated", and nothing flushes the destination.
///
/// `DISCARD_ALL` fixes one of them (a discard dirties every chunk it covers),
/// so that the checker can show the others on their own.
#[derive(Clone, Hash, PartialEq, Eq)]
struct OldLogic<const DISCARD_ALL: bool = false> {
    map: Map,
    mirrors: Vec<u64>,
    error: bool,
}

#[derive(Clone, Copy, Hash, PartialEq, Eq, Debug)]
struct OldTicket {
    chunk: u64,
    covered: u64,
    mirrored: bool,
}

impl<const DISCARD_ALL: bool> OldLogic<DISCARD_ALL> {
    fn source_only_write_done(&mut self, c: u64) {
        if matches!(
            self.map.state(c),
            Some(ChunkState::Migrated | ChunkState::InFlight)
        ) {
            let _ = self.map.mark_dirty(c);
        }
    }
}

impl<const DISCARD_ALL: bool> Protocol for OldLogic<DISCARD_ALL> {
    type Ticket = OldTicket;
    fn new(chunks: u64) -> Self {
        OldLogic {
            map: new_map(chunks),
            mirrors: Vec::new(),
            error: false,
        }
    }
    fn map_write(&mut self, first: u64, n: u32, discard: bool) -> (bool, OldTicket) {
        if !discard && self.map.state(first) == Some(ChunkState::Migrated) && !self.error {
            return (
                true,
                OldTicket {
                    chunk: first,
                    covered: 1,
                    mirrored: true,
                },
            );
        }
        let covered = if DISCARD_ALL { u64::from(n) } else { 1 };
        for c in first..first + covered {
            self.source_only_write_done(c);
        }
        (
            false,
            OldTicket {
                chunk: first,
                covered,
                mirrored: false,
            },
        )
    }
    fn mirror_issued(&mut self, t: OldTicket) {
        self.mirrors.push(t.chunk);
    }
    fn write_done(&mut self, t: OldTicket, _s: bool, d: bool) {
        if t.mirrored {
            let i = self.mirrors.iter().position(|&c| c == t.chunk).unwrap();
            self.mirrors.remove(i);
            if !d {
                let _ = self.map.mark_dirty(t.chunk);
                self.error = true;
            }
        } else {
            for c in t.chunk..t.chunk + t.covered {
                self.source_only_write_done(c);
            }
        }
    }
    fn start_copy(&mut self, c: u64) -> bool {
        !self.error && !self.mirrors.contains(&c) && self.map.mark_in_flight(c).is_ok()
    }
    fn worker_tick(&mut self) {}
    fn copy_done(&mut self, c: u64, ok: bool) {
        let _ = self.map.complete(c, ok);
        self.error |= !ok;
    }
    fn wants_bg_flush(&self) -> bool {
        false
    }
    fn flush_issued(&mut self, bg: bool) -> FlushTicket {
        FlushTicket {
            covers: 0,
            background: bg,
        }
    }
    fn flush_done(&mut self, _t: FlushTicket, ok: bool) {
        self.error |= !ok;
    }
    fn clear_error(&mut self) {
        self.error = false;
    }
    fn state(&self, c: u64) -> ChunkState {
        self.map.state(c).unwrap()
    }
    fn is_synced(&self) -> bool {
        self.map.is_synced() && !self.error
    }
}

/// A VM write or discard in flight.
#[derive(Clone, Hash, PartialEq, Eq, Debug)]
struct VmWrite<T> {
    ticket: T,
    /// Blocks written: `block` alone, or every block of the chunks for a discard.
    blocks: (usize, usize),
    first: u64,
    n: u32,
    value: u8,
    mirrored: bool,
    /// Mirrored writes wait in the worker's queue until issued.
    queued: bool,
    src_landed: bool,
    /// None: not landed yet (or not sent); Some(ok).
    dst_landed: Option<bool>,
}

#[derive(Clone, Hash, PartialEq, Eq, Debug)]
struct CopyIo {
    chunk: u64,
    buf: Option<[u8; BLOCKS]>,
    landed: bool,
}

#[derive(Clone, Hash, PartialEq, Eq, Debug)]
struct Flush {
    ticket: FlushTicket,
    /// Per chunk, the copy generation completed when the flush was issued.
    covers: Vec<u8>,
}

/// Limits of one configuration.
#[derive(Clone, Copy, Debug)]
struct Config {
    chunks: u64,
    writes: u8,
    discards: u8,
    vm_flushes: u8,
    /// Destination write or flush failures the world may inject.
    failures: u8,
    max_copies: usize,
    /// Check invariant 2 (synced); and in it, the flush of copy writes.
    check_synced: bool,
    check_durability: bool,
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct World<P: Protocol> {
    p: P,
    src: Vec<u8>,
    dst: Vec<u8>,
    /// Copy writes completed per chunk, and the part of them a completed flush covers.
    copy_gen: Vec<u8>,
    flushed_gen: Vec<u8>,
    next_value: u8,
    writes_left: u8,
    discards_left: u8,
    flushes_left: u8,
    failures_left: u8,
    vm: Vec<VmWrite<P::Ticket>>,
    copies: Vec<CopyIo>,
    flushes: Vec<Flush>,
}

const DISCARDED: u8 = 0xff;
/// Blocks per chunk: VM writes are block-sized, copies chunk-sized, so two
/// writes may be in flight to one chunk at once.
const BLOCKS: usize = 2;

impl<P: Protocol> World<P> {
    fn new(cfg: Config) -> Self {
        let n = cfg.chunks as usize;
        World {
            p: P::new(cfg.chunks),
            src: (1..=(n * BLOCKS) as u8).collect(),
            dst: vec![0; n * BLOCKS],
            copy_gen: vec![0; n],
            flushed_gen: vec![0; n],
            next_value: 100,
            writes_left: cfg.writes,
            discards_left: cfg.discards,
            flushes_left: cfg.vm_flushes,
            failures_left: cfg.failures,
            vm: Vec::new(),
            copies: Vec::new(),
            flushes: Vec::new(),
        }
    }

    fn block_busy(&self, b: usize) -> bool {
        self.vm.iter().any(|w| b >= w.blocks.0 && b < w.blocks.1)
    }

    fn chunk_blocks(c: u64) -> std::ops::Range<usize> {
        c as usize * BLOCKS..(c as usize + 1) * BLOCKS
    }

    fn chunk_differs(&self, c: u64) -> bool {
        Self::chunk_blocks(c).any(|b| self.dst[b] != self.src[b])
    }

    fn vm_busy(&self, c: u64) -> bool {
        self.vm
            .iter()
            .any(|w| c >= w.first && c < w.first + u64::from(w.n))
    }

    /// Every state one step from here, with the name of the step.
    fn successors(&self, cfg: Config) -> Vec<(String, World<P>)> {
        let mut out = Vec::new();
        // The VM writes a chunk nobody writes now (overlapping concurrent
        // writes have no defined result on any block device).
        if self.writes_left > 0 {
            for b in 0..cfg.chunks as usize * BLOCKS {
                if self.block_busy(b) {
                    continue;
                }
                let c = (b / BLOCKS) as u64;
                let mut w = self.clone();
                w.writes_left -= 1;
                let value = w.next_value;
                w.next_value += 1;
                let (mirrored, ticket) = w.p.map_write(c, 1, false);
                w.vm.push(VmWrite {
                    ticket,
                    blocks: (b, b + 1),
                    first: c,
                    n: 1,
                    value,
                    mirrored,
                    queued: mirrored,
                    src_landed: false,
                    dst_landed: None,
                });
                out.push((
                    format!("vm write block {b} of chunk {c} (mirrored {mirrored})"),
                    w,
                ));
            }
        }
        // A discard over every chunk.
        let all_blocks = cfg.chunks as usize * BLOCKS;
        if self.discards_left > 0 && (0..all_blocks).all(|b| !self.block_busy(b)) {
            let mut w = self.clone();
            w.discards_left -= 1;
            let (mirrored, ticket) = w.p.map_write(0, cfg.chunks as u32, true);
            assert!(!mirrored, "a discard was mirrored");
            w.vm.push(VmWrite {
                ticket,
                blocks: (0, all_blocks),
                first: 0,
                n: cfg.chunks as u32,
                value: DISCARDED,
                mirrored,
                queued: false,
                src_landed: false,
                dst_landed: None,
            });
            out.push(("vm discard all".into(), w));
        }
        for (i, vw) in self.vm.iter().enumerate() {
            if vw.queued {
                let mut w = self.clone();
                w.p.mirror_issued(vw.ticket);
                w.vm[i].queued = false;
                out.push((format!("issue mirrored write {i}"), w));
                continue;
            }
            if !vw.src_landed {
                let mut w = self.clone();
                for b in vw.blocks.0..vw.blocks.1 {
                    w.src[b] = vw.value;
                }
                w.vm[i].src_landed = true;
                out.push((format!("vm write {i} lands on source"), w));
            }
            if vw.mirrored && vw.dst_landed.is_none() {
                let mut w = self.clone();
                for b in vw.blocks.0..vw.blocks.1 {
                    w.dst[b] = vw.value;
                }
                w.vm[i].dst_landed = Some(true);
                out.push((format!("vm write {i} lands on destination"), w));
                if self.failures_left > 0 {
                    let mut w = self.clone();
                    w.failures_left -= 1;
                    w.vm[i].dst_landed = Some(false);
                    out.push((format!("vm write {i} fails on destination"), w));
                }
            }
            if vw.src_landed && (!vw.mirrored || vw.dst_landed.is_some()) {
                let mut w = self.clone();
                let vw = w.vm.remove(i);
                w.p.write_done(vw.ticket, true, vw.dst_landed.unwrap_or(true));
                out.push((format!("vm write {i} completes"), w));
            }
        }
        // The worker: any pending chunk may be selected (every policy's choice).
        {
            let mut w = self.clone();
            w.p.worker_tick();
            if w != *self {
                out.push(("worker tick".into(), w.clone()));
            }
            if w.copies.len() < cfg.max_copies {
                for c in 0..cfg.chunks {
                    let mut w2 = w.clone();
                    if w2.p.start_copy(c) {
                        w2.copies.push(CopyIo {
                            chunk: c,
                            buf: None,
                            landed: false,
                        });
                        out.push((format!("copy chunk {c} starts"), w2));
                    } else if w2 != w {
                        out.push((format!("copy chunk {c} refused (parked)"), w2));
                    }
                }
            }
            if w.p.wants_bg_flush() {
                let mut w2 = w.clone();
                let ticket = w2.p.flush_issued(true);
                let covers = w2.copy_gen.clone();
                w2.flushes.push(Flush { ticket, covers });
                out.push(("background destination flush issued".into(), w2));
            }
        }
        for (j, cp) in self.copies.iter().enumerate() {
            match (cp.buf, cp.landed) {
                (None, _) => {
                    let mut w = self.clone();
                    let mut buf = [0; BLOCKS];
                    for (k, b) in Self::chunk_blocks(cp.chunk).enumerate() {
                        buf[k] = w.src[b];
                    }
                    w.copies[j].buf = Some(buf);
                    out.push((format!("copy of chunk {} reads source", cp.chunk), w));
                }
                (Some(v), false) => {
                    let mut w = self.clone();
                    for (k, b) in Self::chunk_blocks(cp.chunk).enumerate() {
                        w.dst[b] = v[k];
                    }
                    w.copies[j].landed = true;
                    out.push((
                        format!("copy of chunk {} lands on destination", cp.chunk),
                        w,
                    ));
                    if self.failures_left > 0 {
                        let mut w = self.clone();
                        w.failures_left -= 1;
                        let cp = w.copies.remove(j);
                        w.p.copy_done(cp.chunk, false);
                        out.push((
                            format!("copy of chunk {} fails on destination", cp.chunk),
                            w,
                        ));
                    }
                }
                (Some(_), true) => {
                    let mut w = self.clone();
                    let cp = w.copies.remove(j);
                    w.copy_gen[cp.chunk as usize] += 1;
                    w.p.copy_done(cp.chunk, true);
                    out.push((format!("copy of chunk {} completes", cp.chunk), w));
                }
            }
        }
        if self.flushes_left > 0 {
            let mut w = self.clone();
            w.flushes_left -= 1;
            let ticket = w.p.flush_issued(false);
            let covers = w.copy_gen.clone();
            w.flushes.push(Flush { ticket, covers });
            out.push(("vm flush issued".into(), w));
        }
        for (k, f) in self.flushes.iter().enumerate() {
            let mut w = self.clone();
            w.flushes.remove(k);
            for (c, g) in f.covers.iter().enumerate() {
                w.flushed_gen[c] = w.flushed_gen[c].max(*g);
            }
            w.p.flush_done(f.ticket, true);
            out.push((format!("destination flush {k} completes"), w));
            if self.failures_left > 0 {
                let mut w = self.clone();
                w.failures_left -= 1;
                w.flushes.remove(k);
                // The volatile cache is lost: nothing since the last good flush survives.
                w.p.flush_done(f.ticket, false);
                out.push((format!("destination flush {k} fails"), w));
            }
        }
        {
            let mut w = self.clone();
            w.p.clear_error();
            if w != *self {
                out.push(("resume message".into(), w));
            }
        }
        out
    }

    /// The two invariants; `Err` names the broken one.
    fn check(&self, cfg: Config) -> Result<(), String> {
        for c in 0..cfg.chunks {
            let i = c as usize;
            let _ = i;
            if self.p.state(c) == ChunkState::Migrated && !self.vm_busy(c) && self.chunk_differs(c)
            {
                let b = Self::chunk_blocks(c);
                return Err(format!(
                    "chunk {c} counted migrated but destination {:?} != source {:?}",
                    &self.dst[b.clone()],
                    &self.src[b]
                ));
            }
        }
        if cfg.check_synced && self.p.is_synced() {
            if let Some(w) = self.vm.iter().find(|w| !w.mirrored) {
                return Err(format!(
                    "synced while a source-only write to chunk {} is in flight",
                    w.first
                ));
            }
            for c in 0..cfg.chunks {
                let i = c as usize;
                if !self.vm_busy(c) && self.chunk_differs(c) {
                    return Err(format!("synced but chunk {c} differs"));
                }
                if cfg.check_durability && self.copy_gen[i] > self.flushed_gen[i] {
                    return Err(format!(
                        "synced but the copy of chunk {c} was never flushed on the destination"
                    ));
                }
            }
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
    chunks: 2,
    writes: 2,
    discards: 0,
    vm_flushes: 0,
    failures: 0,
    max_copies: 2,
    check_synced: true,
    check_durability: true,
};

#[test]
fn new_protocol_holds_writes_and_copies() {
    let n = explore::<Ordering<Vec<u64>>>(SMALL).unwrap_or_else(|e| panic!("{e}"));
    println!("writes/copies: {n} states");
    assert!(n > 10_000, "the checker explored too little ({n} states)");
}

#[test]
fn new_protocol_holds_with_discards_and_flushes() {
    let cfg = Config {
        writes: 1,
        discards: 1,
        vm_flushes: 1,
        ..SMALL
    };
    let n = explore::<Ordering<Vec<u64>>>(cfg).unwrap_or_else(|e| panic!("{e}"));
    println!("discards/flushes: {n} states");
}

#[test]
fn new_protocol_holds_with_failures() {
    let cfg = Config {
        writes: 1,
        discards: 0,
        vm_flushes: 1,
        failures: 1,
        ..SMALL
    };
    let n = explore::<Ordering<Vec<u64>>>(cfg).unwrap_or_else(|e| panic!("{e}"));
    println!("failures: {n} states");
}

#[test]
fn new_protocol_holds_on_three_chunks() {
    let cfg = Config {
        chunks: 3,
        writes: 1,
        discards: 1,
        ..SMALL
    };
    let n = explore::<Ordering<Vec<u64>>>(cfg).unwrap_or_else(|e| panic!("{e}"));
    println!("three chunks: {n} states");
}

/// The checker finds the old engine's bugs, each on its own: it can fail.
#[test]
fn old_logic_is_caught() {
    // Finding 3: a source-only write overtaken by the copy of its chunk, and
    // "synced" said while it is in flight.
    let only_synced = Config {
        check_durability: false,
        ..SMALL
    };
    let err = explore::<OldLogic>(only_synced).unwrap_err();
    println!("finding 3: {err}");
    assert!(err.contains("synced while a source-only write"), "{err}");
    // Finding 9: a discard over two chunks dirties only the first.
    let only_migrated = Config {
        writes: 1,
        discards: 1,
        check_synced: false,
        ..SMALL
    };
    let err = explore::<OldLogic>(only_migrated).unwrap_err();
    println!("finding 9: {err}");
    assert!(err.contains("counted migrated but"), "{err}");
    // Finding 2, with finding 9 fixed: a queued mirrored write and a copy of
    // its chunk (made dirty by a discard) land in the wrong order.
    let two_writes = Config {
        writes: 2,
        check_synced: false,
        ..SMALL
    };
    let err = explore::<OldLogic<true>>(two_writes).unwrap_err();
    println!("finding 2: {err}");
    assert!(
        err.contains("counted migrated but") && err.contains("issue mirrored write"),
        "{err}"
    );
    // Finding 4: synced with nothing ever flushed on the destination.
    let err = explore::<OldLogic>(Config { writes: 0, ..SMALL }).unwrap_err();
    println!("finding 4: {err}");
    assert!(err.contains("never flushed"), "{err}");
}

/// Random walks through larger worlds than the exhaustive search can cover.
mod random_walks {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
        #[test]
        fn new_protocol_holds_on_long_walks(
            chunks in 2u64..6,
            writes in 2u8..12,
            discards in 0u8..3,
            vm_flushes in 0u8..3,
            failures in 0u8..2,
            choices in proptest::collection::vec(any::<u16>(), 50..400),
        ) {
            let cfg = Config { chunks, writes, discards, vm_flushes, failures, max_copies: 3, ..SMALL };
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
        }
    }
}
