// SPDX-License-Identifier: GPL-2.0

//! Exhaustive crash checker for the clean-checkpoint protocol
//! (`policy::checkpoint`), the one the target runs on its metadata device.
//!
//! A small world: a source and a destination holding one value per block
//! in a durable layer and possibly a newer one in a volatile cache, and a
//! metadata device with two superblock slots (written with FUA: durable
//! when done, torn if the crash comes during the write) and one bitmap
//! page (durable, with possibly a newer one unflushed). Tables come one
//! after another: each loads the newest superblock, restores the bitmap of
//! a clean one, runs `opening`, lives (copies blocks, the VM writes,
//! mirrored to migrated blocks, flushes either device, sends `reset`),
//! and is suspended: the destination flushed, then `closing`. While it is
//! suspended the operator may send `reset` and then write the source
//! outside the target (what `reset` is for). Every
//! reachable state is visited, and in each the machine crashes every way it
//! can (each cached block of each device lost or kept, the unflushed page
//! lost, kept or torn; a superblock write in progress torn); any device
//! may also write back a cached block on its own at any step. The checker
//! asserts that whenever a table would trust the bitmap, after a crash or
//! after a clean hand-over, every block it records holds the same data on
//! both devices.
//!
//! The same checker runs the protocol misused, and must find each misuse:
//! no data flush before the checkpoint, no metadata flush between the
//! bitmap and the superblock, no unclean superblock while a table runs, a
//! `reset` that changes only the map in memory.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use iofollow_policy::checkpoint::{self, Step};
use iofollow_policy::superblock::{self, Found, Geometry, SlotError, Superblock};
use std::collections::HashSet;

const BLOCKS: usize = 2;
const MAX_WRITES: u8 = 3;
const MAX_RESETS: u8 = 1;
/// Tables in one run: a checkpoint, a table that resumes from it and
/// checkpoints again, and a third that resumes from that.
const MAX_TABLES: u8 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Misuse {
    None,
    SkipDataFlush,
    SkipMetadataFlush,
    NoOpening,
    ResetInMemoryOnly,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Dev {
    durable: [u8; BLOCKS],
    cache: [Option<u8>; BLOCKS],
}

impl Dev {
    fn new() -> Self {
        Self {
            durable: [0; BLOCKS],
            cache: [None; BLOCKS],
        }
    }
    fn view(&self, b: usize) -> u8 {
        self.cache[b].unwrap_or(self.durable[b])
    }
    fn flush(&mut self) {
        for b in 0..BLOCKS {
            if let Some(v) = self.cache[b].take() {
                self.durable[b] = v;
            }
        }
    }
    /// Every way a crash can leave it: each cached block lost or kept.
    fn crashed(&self) -> Vec<[u8; BLOCKS]> {
        let cached: Vec<usize> = (0..BLOCKS).filter(|&b| self.cache[b].is_some()).collect();
        (0..1u32 << cached.len())
            .map(|keep| {
                let mut d = self.durable;
                for (i, &b) in cached.iter().enumerate() {
                    if keep & (1 << i) != 0 {
                        d[b] = self.cache[b].unwrap();
                    }
                }
                d
            })
            .collect()
    }
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum Slot {
    Zero,
    Torn,
    Sb(Superblock),
}

impl Slot {
    fn read(self) -> Result<Superblock, SlotError> {
        match self {
            Slot::Zero => Err(SlotError::Zeroed),
            Slot::Torn => Err(SlotError::Checksum),
            Slot::Sb(sb) => Ok(sb),
        }
    }
}

/// A bitmap page: the migrated blocks' bits, or torn (reads as all clear).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum Page {
    Bits(u8),
    Torn,
}

impl Page {
    fn bits(self) -> u8 {
        match self {
            Page::Bits(b) => b,
            Page::Torn => 0,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Meta {
    slots: [Slot; 2],
    page: Page,
    page_cache: Option<u8>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Phase {
    /// `steps[at..]` of a protocol run are left, then `then`.
    Steps {
        steps: Vec<Step>,
        at: usize,
        then: After,
    },
    Live,
    /// After `closing`: the table is suspended; `reset`: one was sent since.
    Suspended {
        reset: bool,
    },
    Done,
}

/// Where a run of steps leads.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum After {
    Live,
    Suspended { reset: bool },
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct World {
    src: Dev,
    dst: Dev,
    meta: Meta,
    /// The live table's migrated blocks.
    map: u8,
    phase: Phase,
    writes: u8,
    resets: u8,
    tables: u8,
}

fn geometry() -> Geometry {
    Geometry {
        block_sectors: 8,
        chunk_sectors: 8,
        nr_blocks: BLOCKS as u64,
        target_sectors: 8 * BLOCKS as u64,
        ..Geometry::default()
    }
}

/// What a table reads: the newest valid superblock (both slots torn is a
/// refused table: nothing is trusted).
fn found(slots: [Slot; 2]) -> Option<Found> {
    superblock::newest(slots[0].read(), slots[1].read()).ok()
}

struct Checker {
    misuse: Misuse,
    seen: HashSet<World>,
    violation: Option<String>,
    crashes: u64,
}

impl Checker {
    /// The bitmap a table would trust, if any, must hold only blocks equal
    /// on both devices.
    fn check_trust(
        &mut self,
        slots: [Slot; 2],
        page: u8,
        src: &[u8; BLOCKS],
        dst: &[u8; BLOCKS],
        what: &str,
    ) {
        let Some(f) = found(slots) else { return };
        if !checkpoint::restores(&f) {
            return;
        }
        for b in 0..BLOCKS {
            if page & (1 << b) != 0 && src[b] != dst[b] && self.violation.is_none() {
                self.violation = Some(format!(
                    "{what}: block {b} recorded migrated, source {} destination {} ({slots:?})",
                    src[b], dst[b]
                ));
            }
        }
    }

    /// Every crash of `w`; `torn_slot`: a superblock write to it in progress.
    fn crash(&mut self, w: &World, torn_slot: Option<usize>) {
        let mut slots = w.meta.slots;
        if let Some(s) = torn_slot {
            slots[s] = Slot::Torn;
        }
        let pages: Vec<Page> = match w.meta.page_cache {
            None => vec![w.meta.page],
            Some(p) => vec![w.meta.page, Page::Bits(p), Page::Torn],
        };
        for src in w.src.crashed() {
            for dst in w.dst.crashed() {
                for &page in &pages {
                    self.crashes += 1;
                    self.check_trust(slots, page.bits(), &src, &dst, "after a crash");
                }
            }
        }
    }

    /// A new table on the device as it is (no crash): restore, then opening.
    fn new_table(&mut self, mut w: World) -> World {
        let page = w.meta.page_cache.unwrap_or(w.meta.page.bits());
        let f = found(w.meta.slots).unwrap_or(Found::Fresh);
        let src: [u8; BLOCKS] = std::array::from_fn(|b| w.src.view(b));
        let dst: [u8; BLOCKS] = std::array::from_fn(|b| w.dst.view(b));
        self.check_trust(w.meta.slots, page, &src, &dst, "at a table's resume");
        w.map = if checkpoint::restores(&f) { page } else { 0 };
        let steps = match self.misuse {
            Misuse::NoOpening => Vec::new(),
            _ => checkpoint::opening(&f, geometry(), u64::from(w.map.count_ones()), false).to_vec(),
        };
        w.tables += 1;
        w.phase = Phase::Steps {
            steps,
            at: 0,
            then: After::Live,
        };
        w
    }

    /// `reset`, live or suspended: the map in memory, then its steps.
    fn reset(&self, w: &World, then: After) -> World {
        let mut n = w.clone();
        n.resets += 1;
        n.map = 0;
        let f = found(n.meta.slots).unwrap_or(Found::Fresh);
        let steps = match self.misuse {
            Misuse::ResetInMemoryOnly => Vec::new(),
            _ => checkpoint::reset(&f, geometry()).to_vec(),
        };
        n.phase = Phase::Steps { steps, at: 0, then };
        n
    }

    fn closing_steps(&self, w: &World) -> Vec<Step> {
        let f = found(w.meta.slots).unwrap_or(Found::Fresh);
        checkpoint::closing(&f, geometry(), u64::from(w.map.count_ones()), false)
            .into_iter()
            .filter(|s| {
                !matches!(
                    (self.misuse, s),
                    (Misuse::SkipDataFlush, Step::FlushData)
                        | (Misuse::SkipMetadataFlush, Step::FlushMetadata)
                )
            })
            .collect()
    }

    fn successors(&mut self, w: &World) -> Vec<World> {
        let mut next = Vec::new();
        // A device writes back what it caches when it likes.
        if w.phase != Phase::Done {
            if let Some(p) = w.meta.page_cache {
                let mut n = w.clone();
                n.meta.page = Page::Bits(p);
                n.meta.page_cache = None;
                next.push(n);
            }
            for b in 0..BLOCKS {
                for dev in 0..2 {
                    let mut n = w.clone();
                    let d = if dev == 0 { &mut n.src } else { &mut n.dst };
                    if let Some(v) = d.cache[b].take() {
                        d.durable[b] = v;
                        next.push(n);
                    }
                }
            }
        }
        match &w.phase {
            Phase::Done => {}
            Phase::Suspended { reset } => {
                if w.tables < MAX_TABLES {
                    next.push(self.new_table(w.clone()));
                } else {
                    next.push(World {
                        phase: Phase::Done,
                        ..w.clone()
                    });
                }
                if w.resets < MAX_RESETS {
                    next.push(self.reset(w, After::Suspended { reset: true }));
                }
                // Once reset, the operator may write the source outside.
                if *reset && w.writes < MAX_WRITES {
                    for b in 0..BLOCKS {
                        let mut n = w.clone();
                        n.writes += 1;
                        n.src.cache[b] = Some(100 + n.writes);
                        next.push(n);
                    }
                }
            }
            Phase::Steps { steps, at, then } => {
                let mut n = w.clone();
                match steps.get(*at) {
                    None => {
                        n.phase = match *then {
                            After::Live => Phase::Live,
                            After::Suspended { reset } => Phase::Suspended { reset },
                        }
                    }
                    Some(step) => {
                        match step {
                            Step::FlushData => {
                                n.src.flush();
                                n.dst.flush();
                            }
                            Step::WriteBitmap => n.meta.page_cache = Some(n.map),
                            Step::FlushMetadata => {
                                if let Some(p) = n.meta.page_cache.take() {
                                    n.meta.page = Page::Bits(p);
                                }
                            }
                            Step::WriteSuperblock(sb) => {
                                let slot = sb.slot() as usize;
                                self.crash(w, Some(slot));
                                n.meta.slots[slot] = Slot::Sb(*sb);
                            }
                        }
                        if let Phase::Steps { at, .. } = &mut n.phase {
                            *at += 1;
                        }
                    }
                }
                next.push(n);
            }
            Phase::Live => {
                for b in 0..BLOCKS {
                    let bit = 1u8 << b;
                    if w.map & bit == 0 {
                        let mut n = w.clone();
                        let v = n.src.view(b);
                        n.dst.cache[b] = Some(v);
                        n.map |= bit;
                        next.push(n);
                    }
                    if w.writes < MAX_WRITES {
                        let mut n = w.clone();
                        n.writes += 1;
                        let v = 100 + n.writes;
                        n.src.cache[b] = Some(v);
                        if n.map & bit != 0 {
                            n.dst.cache[b] = Some(v);
                        }
                        next.push(n);
                    }
                }
                let mut n = w.clone();
                n.src.flush();
                next.push(n);
                let mut n = w.clone();
                n.dst.flush();
                next.push(n);
                if w.resets < MAX_RESETS {
                    next.push(self.reset(w, After::Live));
                }
                // Suspend: the destination flushed (flush_before_suspend), then closing.
                let mut n = w.clone();
                n.dst.flush();
                n.phase = Phase::Steps {
                    steps: self.closing_steps(&n),
                    at: 0,
                    then: After::Suspended { reset: false },
                };
                next.push(n);
            }
        }
        next
    }

    fn run(misuse: Misuse) -> Checker {
        let mut c = Checker {
            misuse,
            seen: HashSet::new(),
            violation: None,
            crashes: 0,
        };
        let start = World {
            src: Dev::new(),
            dst: Dev::new(),
            meta: Meta {
                slots: [Slot::Zero; 2],
                page: Page::Bits(0),
                page_cache: None,
            },
            map: 0,
            phase: Phase::Done,
            writes: 0,
            resets: 0,
            tables: 0,
        };
        // The source starts with data the destination does not have.
        let mut start = start;
        start.src.durable = std::array::from_fn(|b| 1 + b as u8);
        let first = c.new_table(start);
        let mut stack = vec![first];
        while let Some(w) = stack.pop() {
            if c.violation.is_some() {
                break;
            }
            if !c.seen.insert(w.clone()) {
                continue;
            }
            c.crash(&w, None);
            stack.extend(c.successors(&w));
        }
        c
    }
}

#[test]
fn no_crash_and_no_hand_over_trusts_a_block_that_differs() {
    let c = Checker::run(Misuse::None);
    eprintln!("{} states, {} crashes", c.seen.len(), c.crashes);
    assert_eq!(c.violation, None);
    // The exploration is not empty: tables resumed and crashed everywhere.
    assert!(c.seen.len() > 10_000, "{} states", c.seen.len());
    assert!(c.crashes > c.seen.len() as u64);
}

/// The checker finds the misuse `m`.
fn assert_caught(m: Misuse) {
    let c = Checker::run(m);
    assert!(
        c.violation.is_some(),
        "{m:?} not found in {} states",
        c.seen.len()
    );
}

#[test]
fn a_checkpoint_without_the_data_flush_is_caught() {
    assert_caught(Misuse::SkipDataFlush);
}

#[test]
fn a_superblock_before_its_bitmap_is_durable_is_caught() {
    assert_caught(Misuse::SkipMetadataFlush);
}

#[test]
fn a_live_table_that_leaves_a_clean_slot_is_caught() {
    assert_caught(Misuse::NoOpening);
}

#[test]
fn a_reset_that_leaves_the_checkpoint_clean_is_caught() {
    assert_caught(Misuse::ResetInMemoryOnly);
}
