// SPDX-License-Identifier: GPL-2.0

//! Exhaustive crash checker for the metadata commit protocol
//! (`policy::commit`).
//!
//! A small world: a source, a destination and a metadata device. Each data
//! device holds one value per block in a durable layer and may hold a newer
//! one in its volatile cache (a completed write no flush has covered); the
//! metadata device holds the bitmap as one page, durable, with possibly a
//! newer page written and not flushed. A VM writes (mirrored to a migrated
//! block, to the source only otherwise, a copy of the block in flight made
//! dirty), flushes either device at any time; a worker copies blocks and
//! runs commits, the protocol's steps in any interleaving. Every reachable
//! state is visited (depth-first, memoised), and in every one the checker
//! crashes the machine every way it can: each unflushed block of each data
//! device lost or kept, the unflushed page lost, kept or torn (a torn page
//! fails its checksum and reads as all clear). It asserts that after any of
//! them, every block the metadata records as migrated holds the same data
//! on the source and on the destination: a resume may trust the bitmap.
//! Blocks written by two overlapping writes are left out, as in the
//! ordering checker: the VM gave them no defined content.
//!
//! The same checker runs the protocol misused in the two ways it exists to
//! prevent, and must find each: `SkipDeviceFlush` records candidates without
//! flushing the devices first, `IgnoreGate` issues a write to a recorded
//! block without waiting for the commit that clears it.
//!
//! It runs twice: as the protocol's documentation has it (the engine
//! withdraws the blocks a destination reset lost), and as the target runs
//! it (`rust/migration/commit.rs`): nothing is withdrawn, the commit's own
//! destination flush may succeed after the reset, and each closed candidate
//! is checked when the flushes complete (`devices_flushed_if` with the
//! ordering protocol's `commit_check`: migrated and no copy in flight, else
//! dropped; a write in flight (the target counts them per stripe of
//! blocks) or a destination cache still holding it: again at the next
//! commit). `RecordClosed` skips that check and must be caught.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use iofollow_policy::commit::{Closed, Commit, CommitStep, Phase, WriteGate};
use iofollow_policy::copyrun::CopyRun;
use std::collections::HashSet;

const BLOCKS: usize = 2;
/// VM writes in one exploration (each writes a new value), without faults
/// and with them (a metadata write failure, a destination reset: 6.8
/// million states with three writes, 2.5 minutes).
const MAX_WRITES: u8 = 3;
const MAX_WRITES_WITH_FAULTS: u8 = 2;
/// VM writes in flight (held or issued) at once.
const MAX_IN_FLIGHT: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Misuse {
    None,
    SkipDeviceFlush,
    IgnoreGate,
    /// The target's way, recording every closed candidate unchecked.
    RecordClosed,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct DataDev {
    durable: [u8; BLOCKS],
    cache: [Option<u8>; BLOCKS],
}

impl DataDev {
    fn view(&self, b: usize) -> u8 {
        self.cache[b].unwrap_or(self.durable[b])
    }
    fn write(&mut self, b: usize, v: u8) {
        self.cache[b] = Some(v);
    }
    fn flush(&mut self) {
        for b in 0..BLOCKS {
            if let Some(v) = self.cache[b].take() {
                self.durable[b] = v;
            }
        }
    }
    fn dirty(&self) -> bool {
        self.cache.iter().any(Option::is_some)
    }
    /// Every image a crash can leave.
    fn crash_images(&self) -> Vec<[u8; BLOCKS]> {
        let mut out = vec![self.durable];
        for b in 0..BLOCKS {
            if let Some(v) = self.cache[b] {
                let kept: Vec<_> = out
                    .iter()
                    .map(|img| {
                        let mut i = *img;
                        i[b] = v;
                        i
                    })
                    .collect();
                out.extend(kept);
            }
        }
        out
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct MetaDev {
    durable: [bool; BLOCKS],
    /// A page written and not flushed.
    cache: Option<[bool; BLOCKS]>,
}

impl MetaDev {
    fn crash_images(&self) -> Vec<[bool; BLOCKS]> {
        match self.cache {
            None => vec![self.durable],
            Some(page) => vec![self.durable, page, [false; BLOCKS]],
        }
    }
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct VmWrite {
    block: usize,
    value: u8,
    mirrored: bool,
    /// `Some(n)`: held until commit `n` completed.
    held: Option<u64>,
    src_done: bool,
    dst_done: bool,
    /// Another write to the block was in flight with it.
    overlap: bool,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct Copy {
    value: u8,
    dirty: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct World {
    src: DataDev,
    dst: DataDev,
    meta: MetaDev,
    /// In-core: the block's destination copy is current (the ordering
    /// protocol's migrated state).
    migrated: [bool; BLOCKS],
    copies: [Option<Copy>; BLOCKS],
    writes: Vec<VmWrite>,
    /// Written by two overlapping writes: no defined content on either
    /// device (as md raid1's mirrors after such writes), until a write
    /// mapped alone has completed on both.
    overlapped: [bool; BLOCKS],
    written: u8,
    commit: Commit<Vec<u64>>,
    /// During `Flushing`: which devices still need their flush.
    flush_src: bool,
    flush_dst: bool,
    pages_written: bool,
    /// Faults injected so far (at most one of each per exploration).
    meta_failed: bool,
    dst_reset: bool,
    max_writes: u8,
    /// The target's way: no withdraw, a check when the flushes complete.
    engine: bool,
}

fn run(b: usize) -> CopyRun {
    CopyRun {
        first: b as u64,
        blocks: 1,
    }
}

impl World {
    fn new() -> Self {
        Self {
            src: DataDev {
                durable: [10, 11],
                cache: [None; BLOCKS],
            },
            dst: DataDev {
                durable: [0; BLOCKS],
                cache: [None; BLOCKS],
            },
            meta: MetaDev {
                durable: [false; BLOCKS],
                cache: None,
            },
            migrated: [false; BLOCKS],
            copies: [None; BLOCKS],
            writes: Vec::new(),
            overlapped: [false; BLOCKS],
            written: 0,
            commit: Commit::new(
                vec![0; Commit::<Vec<u64>>::words_needed(BLOCKS as u64).unwrap()],
                BLOCKS as u64,
            )
            .unwrap(),
            flush_src: false,
            flush_dst: false,
            pages_written: false,
            meta_failed: false,
            dst_reset: false,
            max_writes: MAX_WRITES,
            engine: false,
        }
    }

    /// The target's check of a closed candidate once the device flushes
    /// completed (`Ordering::commit_check`).
    fn commit_check(&self, b: usize) -> Closed {
        if !self.migrated[b] || self.copies[b].is_some() {
            Closed::Drop
        } else if self.write_on(b) || self.dst.cache[b].is_some() {
            Closed::Again
        } else {
            Closed::Record
        }
    }

    fn write_on(&self, b: usize) -> bool {
        self.writes.iter().any(|w| w.block == b)
    }

    /// A block that became migrated, or whose last write completed.
    fn maybe_candidate(&mut self, b: usize) {
        if self.migrated[b] && !self.write_on(b) && self.copies[b].is_none() {
            self.commit.candidate(run(b));
        }
    }

    /// Every state one step away.
    fn successors(&self, misuse: Misuse) -> Vec<World> {
        let mut out = Vec::new();
        // A VM write of a new value to each block.
        if self.written < self.max_writes && self.writes.len() < MAX_IN_FLIGHT {
            for b in 0..BLOCKS {
                let mut w = self.clone();
                w.written += 1;
                let mirrored = w.migrated[b];
                let overlap = w.write_on(b);
                if overlap {
                    w.overlapped[b] = true;
                    for o in w.writes.iter_mut().filter(|o| o.block == b) {
                        o.overlap = true;
                    }
                }
                if let Some(c) = w.copies[b].as_mut() {
                    c.dirty = true;
                }
                let gate = w.commit.map_write(run(b));
                let held = match (gate, misuse) {
                    (_, Misuse::IgnoreGate) | (WriteGate::Go, _) => None,
                    (WriteGate::Wait(n), _) => Some(n),
                };
                w.writes.push(VmWrite {
                    block: b,
                    value: 100 + w.written,
                    mirrored,
                    held,
                    src_done: false,
                    dst_done: !mirrored,
                    overlap,
                });
                out.push(w);
            }
        }
        for (i, vw) in self.writes.iter().enumerate() {
            if let Some(n) = vw.held {
                if self.commit.may_issue(n) {
                    let mut w = self.clone();
                    w.writes[i].held = None;
                    out.push(w);
                }
                continue;
            }
            for dst in [false, true] {
                if (dst && vw.dst_done) || (!dst && vw.src_done) {
                    continue;
                }
                let mut w = self.clone();
                if dst {
                    w.dst.write(vw.block, vw.value);
                    w.writes[i].dst_done = true;
                } else {
                    w.src.write(vw.block, vw.value);
                    w.writes[i].src_done = true;
                }
                if w.writes[i].src_done && w.writes[i].dst_done {
                    w.writes.remove(i);
                    if !vw.overlap {
                        w.overlapped[vw.block] = false;
                    }
                    w.maybe_candidate(vw.block);
                }
                out.push(w);
            }
        }
        // A copy starts (no write counted on the block) or lands.
        for b in 0..BLOCKS {
            match self.copies[b] {
                None if !self.migrated[b] && !self.write_on(b) => {
                    let mut w = self.clone();
                    w.copies[b] = Some(Copy {
                        value: w.src.view(b),
                        dirty: false,
                    });
                    out.push(w);
                }
                Some(c) => {
                    let mut w = self.clone();
                    w.dst.write(b, c.value);
                    w.copies[b] = None;
                    if !c.dirty {
                        w.migrated[b] = true;
                        w.maybe_candidate(b);
                    }
                    out.push(w);
                }
                None => {}
            }
        }
        // Flushes of either data device at any time (the VM's, the copy's
        // periodic one, or the commit's).
        for dst in [false, true] {
            let dev = if dst { &self.dst } else { &self.src };
            let wanted = self.commit.phase() == Phase::Flushing
                && if dst { self.flush_dst } else { self.flush_src };
            if !dev.dirty() && !wanted {
                continue;
            }
            let mut w = self.clone();
            if dst {
                w.dst.flush();
                w.flush_dst = false;
            } else {
                w.src.flush();
                w.flush_src = false;
            }
            out.push(w);
        }
        // The destination resets once, losing its cache: the ordering
        // protocol sees it fail and makes dirty every block it had not
        // flushed, the engine withdraws them, and a commit flushing for its
        // candidates records none of them.
        if !self.dst_reset && self.dst.dirty() && self.writes.iter().all(|w| w.dst_done) {
            let mut w = self.clone();
            w.dst_reset = true;
            for b in 0..BLOCKS {
                if w.dst.cache[b].take().is_some() {
                    w.migrated[b] = false;
                    if !w.engine {
                        w.commit.withdraw(run(b));
                    }
                }
                if let Some(c) = w.copies[b].as_mut() {
                    c.dirty = true;
                }
            }
            if w.engine {
                // The failing IO was another one: the commit's flush goes on,
                // and may succeed on the reset device.
                out.push(w.clone());
            }
            if w.commit.phase() == Phase::Flushing {
                let _ = w.commit.devices_flushed(false);
                w.flush_src = false;
                w.flush_dst = false;
            }
            out.push(w);
        }
        // The commit's steps.
        match self.commit.phase() {
            Phase::Idle if self.commit.has_work() => {
                let mut w = self.clone();
                match w.commit.begin() {
                    Some(CommitStep::FlushDevices) if misuse == Misuse::SkipDeviceFlush => {
                        let _ = w.commit.devices_flushed(true);
                    }
                    Some(CommitStep::FlushDevices) => {
                        w.flush_src = true;
                        w.flush_dst = true;
                    }
                    _ => {}
                }
                out.push(w);
            }
            Phase::Flushing if !self.flush_src && !self.flush_dst => {
                let mut w = self.clone();
                if misuse == Misuse::RecordClosed {
                    let _ = w.commit.devices_flushed_if(true, |_| Closed::Record);
                } else if w.engine {
                    let checked = self.clone();
                    let _ = w
                        .commit
                        .devices_flushed_if(true, |b| checked.commit_check(b as usize));
                } else {
                    let _ = w.commit.devices_flushed(true);
                }
                out.push(w);
            }
            Phase::Writing if !self.pages_written => {
                let mut w = self.clone();
                if w.commit.page_changed(0) {
                    let mut page = [false; BLOCKS];
                    for (b, bit) in page.iter_mut().enumerate() {
                        *bit = w.commit.page_bit(b as u64);
                    }
                    w.meta.cache = Some(page);
                }
                w.pages_written = true;
                out.push(w);
            }
            Phase::Writing => {
                // The metadata flush, then the superblock with FUA.
                let mut w = self.clone();
                if let Some(page) = w.meta.cache.take() {
                    w.meta.durable = page;
                }
                w.pages_written = false;
                w.commit.done(true);
                out.push(w);
                // Or a metadata write fails: the page may be on the device,
                // in its cache, torn or not at all (the crash images).
                if !self.meta_failed {
                    let mut w = self.clone();
                    w.meta_failed = true;
                    w.pages_written = false;
                    w.commit.done(false);
                    out.push(w);
                }
            }
            Phase::Failed => {
                let mut w = self.clone();
                assert_eq!(w.commit.begin(), Some(CommitStep::Invalidate));
                out.push(w);
            }
            Phase::Invalidating => {
                // Both slots zeroed with FUA: a load finds a new device.
                let mut w = self.clone();
                w.meta.durable = [false; BLOCKS];
                w.meta.cache = None;
                w.commit.invalidated(true);
                out.push(w);
                let mut w = self.clone();
                w.commit.invalidated(false);
                out.push(w);
            }
            _ => {}
        }
        out
    }

    /// A crash that leaves a recorded block differing between the devices.
    /// Not checked once the device holds stale bits the protocol could not
    /// invalidate (it says so: a table must not resume from it).
    fn crash_violation(&self) -> Option<String> {
        if self.commit.stale_on_disk() {
            return None;
        }
        for bits in self.meta.crash_images() {
            for s in self.src.crash_images() {
                for d in self.dst.crash_images() {
                    for b in 0..BLOCKS {
                        if bits[b] && !self.overlapped[b] && s[b] != d[b] {
                            return Some(format!(
                                "after a crash block {b} is recorded migrated with source {} and destination {}",
                                s[b], d[b]
                            ));
                        }
                    }
                }
            }
        }
        None
    }

    /// A write issued to a block whose bit a crash may leave set: the clear
    /// must be durable first, whatever the data (the content check above
    /// leaves overlapped blocks out; this rule has no exemption).
    fn issued_over_record(&self) -> Option<String> {
        if self.commit.stale_on_disk() {
            return None;
        }
        let images = self.meta.crash_images();
        self.writes
            .iter()
            .filter(|w| w.held.is_none())
            .find(|w| images.iter().any(|bits| bits[w.block]))
            .map(|w| {
                format!(
                    "a write to block {} was issued while its bit may survive a crash",
                    w.block
                )
            })
    }

    /// A held write that no commit in flight or to come would release.
    fn stuck_write(&self) -> Option<String> {
        let waiting = self
            .writes
            .iter()
            .any(|w| w.held.is_some_and(|n| !self.commit.may_issue(n)));
        let progress = self.commit.phase() != Phase::Idle || self.commit.has_work();
        (waiting && !progress).then(|| "a write is held and no commit will release it".to_string())
    }

    /// A resume loads exactly what the durable page says (a sanity check of
    /// the in-core shadow: a durable bit is one the protocol recorded).
    fn shadow_violation(&self) -> Option<String> {
        (0..BLOCKS)
            .find(|&b| {
                !self.commit.stale_on_disk()
                    && self.meta.durable[b]
                    && !self.commit.recorded(b as u64)
                    && self.commit.phase() != Phase::Writing
            })
            .map(|b| format!("block {b} is durable on the metadata but not recorded in core"))
    }
}

/// Explores every state; returns the first violation with the steps to it.
/// `faults`: a metadata write may fail once, the destination reset once.
fn explore(misuse: Misuse, faults: bool) -> Result<usize, String> {
    explore_as(misuse, faults, false)
}

/// [`explore`], the target's way when `engine`.
fn explore_as(misuse: Misuse, faults: bool, engine: bool) -> Result<usize, String> {
    let mut seen = HashSet::new();
    let mut start = World::new();
    start.engine = engine || misuse == Misuse::RecordClosed;
    if !faults {
        // As if both had happened: no more of them.
        start.meta_failed = true;
        start.dst_reset = true;
    } else {
        start.max_writes = MAX_WRITES_WITH_FAULTS;
    }
    let mut stack = vec![(start, 0usize)];
    let mut recorded_ever = false;
    while let Some((w, depth)) = stack.pop() {
        if !seen.insert(w.clone()) {
            continue;
        }
        if !w.commit.counts_match() {
            return Err(format!(
                "the protocol's set counts differ from its bits (depth {depth}): {w:?}"
            ));
        }
        if let Some(v) = w
            .crash_violation()
            .or_else(|| w.shadow_violation())
            .or_else(|| w.issued_over_record())
            .or_else(|| w.stuck_write())
        {
            return Err(format!("{v} (depth {depth}): {w:?}"));
        }
        recorded_ever |= w.meta.durable.iter().all(|&b| b);
        for next in w.successors(misuse) {
            stack.push((next, depth + 1));
        }
    }
    // Not vacuous: some run records every block durably.
    assert!(
        recorded_ever,
        "no state records every block: the model never commits"
    );
    Ok(seen.len())
}

#[test]
fn no_crash_leaves_a_recorded_block_differing() {
    let states = explore(Misuse::None, false).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{states} states, each crashed every way it can");
    assert!(
        states > 100_000,
        "only {states} states: the model explores nothing"
    );
}

#[test]
fn nor_after_a_metadata_failure_or_a_destination_reset() {
    let states = explore(Misuse::None, true).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{states} states with faults, each crashed every way it can");
    assert!(
        states > 100_000,
        "only {states} states: the model explores nothing"
    );
}

#[test]
fn recording_without_flushing_the_devices_is_caught() {
    let e = explore(Misuse::SkipDeviceFlush, false)
        .expect_err("the checker missed the unflushed record");
    assert!(e.contains("recorded migrated"), "{e}");
}

#[test]
fn writing_a_recorded_block_without_its_clear_is_caught() {
    let e = explore(Misuse::IgnoreGate, false)
        .expect_err("the checker missed the write before its clear");
    assert!(e.contains("issued while its bit may survive"), "{e}");
}

#[test]
fn the_targets_check_on_flush_keeps_every_recorded_block_equal() {
    for faults in [false, true] {
        let states = explore_as(Misuse::None, faults, true).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("the target's way, faults {faults}: {states} states");
        assert!(states > 100_000, "only {states} states");
    }
}

#[test]
fn recording_closed_candidates_unchecked_after_a_reset_is_caught() {
    let e = explore(Misuse::RecordClosed, true)
        .expect_err("the checker missed a candidate the destination lost");
    assert!(e.contains("recorded migrated"), "{e}");
}
