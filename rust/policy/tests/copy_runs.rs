// SPDX-License-Identifier: GPL-2.0

//! Property tests of copy runs over a block map (host only): the way the
//! kernel's worker cuts copy IOs, driven by random VM writes and completions.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod support;

use iofollow_policy::copyrun::{CopyRun, RunShape};
use iofollow_policy::map::BlockState;
use iofollow_policy::ordering::{CopyRefused, Ordering, WriteRoute, WriteTicket, PARKED_MAX};
use iofollow_policy::select::{Follow, FollowParams, Selector};
use proptest::prelude::*;
use support::ordering;

#[derive(Clone, Debug)]
enum Op {
    /// Start a background copy with the head at this block (scaled).
    Copy(u16),
    /// A VM write of `len` blocks from `first` (scaled) reaches map.
    Write(u16, u8),
    /// Complete the in-flight copy or write with this index (scaled).
    CopyDone(u8),
    WriteDone(u8, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u16>().prop_map(Op::Copy),
        2 => (any::<u16>(), 1u8..40).prop_map(|(f, l)| Op::Write(f, l)),
        3 => any::<u8>().prop_map(Op::CopyDone),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(i, ok)| Op::WriteDone(i, ok)),
    ]
}

struct World {
    o: Ordering<Vec<u64>>,
    shape: RunShape,
    sel: Follow,
    runs: Vec<CopyRun>,
    writes: Vec<WriteTicket>,
    /// VM writes in flight per block (the test's own count).
    writing: Vec<u32>,
    copies: Vec<u32>,
    written: Vec<bool>,
}

impl World {
    fn new(n: u64, chunk_blocks: u32, read_at_head: bool, avoid_islands: bool) -> Self {
        Self {
            o: ordering(n),
            shape: RunShape::new(8, 8 * u64::from(chunk_blocks), read_at_head)
                .unwrap()
                .with_island_guard(avoid_islands),
            sel: Follow::new(FollowParams::default()),
            runs: Vec::new(),
            writes: Vec::new(),
            writing: vec![0; n as usize],
            copies: vec![0; n as usize],
            written: vec![false; n as usize],
        }
    }

    /// What the worker does: select, plan, start; parked picks are skipped.
    fn copy(&mut self, head_block: u64) -> bool {
        self.o.unpark_quiet();
        for _ in 0..=PARKED_MAX {
            let Some(b) = self.sel.next(self.o.map(), head_block, false) else {
                return false;
            };
            let plan = self.shape.plan(self.o.map(), b);
            if self.shape.read_at_head && self.shape.avoid_islands {
                // At the head only before half a chunk of pending blocks;
                // else from the chunk's first pending block.
                let pending = |x: u64| self.o.map().state(x).is_some_and(|s| s.is_pending());
                let half = u64::from((self.shape.chunk_blocks / 2).max(1));
                let chunk_start = b - b % u64::from(self.shape.chunk_blocks);
                let ahead = (b..b + half).take_while(|&x| pending(x)).count() as u64;
                if ahead >= half {
                    assert_eq!(plan.first, b);
                } else {
                    assert!(plan.first >= chunk_start && plan.first <= b);
                    assert!((chunk_start..plan.first).all(|x| !pending(x)));
                }
            }
            match self.o.start_copy_run(plan) {
                Ok(run) => {
                    assert_eq!(run.first, plan.first);
                    assert!(run.blocks >= 1 && run.blocks <= plan.blocks);
                    assert!(run.blocks <= self.shape.chunk_blocks);
                    if !self.shape.read_at_head {
                        let chunk = |b: u64| b / u64::from(self.shape.chunk_blocks);
                        assert_eq!(chunk(run.first), chunk(run.end() - 1));
                    }
                    for blk in run.iter() {
                        // No copy starts under a VM write in flight.
                        assert_eq!(
                            self.writing[blk as usize], 0,
                            "block {blk} is being written"
                        );
                        assert!(!self.runs.iter().any(|r| r.iter().any(|x| x == blk)));
                        assert_eq!(self.o.map().state(blk), Some(BlockState::InFlight));
                    }
                    self.runs.push(run);
                    return true;
                }
                Err(CopyRefused::Parked) => continue,
                Err(_) => return false,
            }
        }
        false
    }

    fn write(&mut self, first: u64, len: u32) {
        let n = self.writing.len() as u64;
        let len = u64::from(len).min(n - first) as u32;
        let d = self.o.map_write(first, len, false);
        for b in first..first + u64::from(len) {
            self.writing[b as usize] += 1;
            self.written[b as usize] = true;
        }
        let mut ticket = d.ticket;
        if d.route == WriteRoute::Mirror {
            assert!(self.o.mirror_issued(&mut ticket));
        }
        self.writes.push(ticket);
    }

    fn copy_done(&mut self, i: usize) {
        let run = self.runs.remove(i);
        for b in run.iter() {
            self.copies[b as usize] += 1;
        }
        self.o.copy_run_done(run, true);
    }

    fn write_done(&mut self, i: usize, ok: bool) {
        let t = self.writes.remove(i);
        for b in t.first..t.first + u64::from(t.blocks) {
            self.writing[b as usize] -= 1;
        }
        // A failed source write dirties its own blocks only (a destination
        // failure dirties everything unflushed: ordering_model.rs checks that).
        self.o.write_done(t, ok, true);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Runs never overlap each other or a VM write in flight; drained, every
    /// block is migrated, and a block no VM wrote was copied exactly once.
    #[test]
    fn runs_cover_every_block_once(
        n in 1u64..300,
        chunk_log in 0u32..5,
        read_at_head in any::<bool>(),
        avoid_islands in any::<bool>(),
        ops in prop::collection::vec(op(), 0..300),
    ) {
        let mut w = World::new(n, 1 << chunk_log, read_at_head, avoid_islands);
        for op in ops {
            match op {
                Op::Copy(h) => {
                    let _ = w.copy(u64::from(h) % n);
                }
                Op::Write(f, l) => w.write(u64::from(f) % n, u32::from(l)),
                Op::CopyDone(i) if !w.runs.is_empty() => {
                    let i = usize::from(i) % w.runs.len();
                    w.copy_done(i);
                }
                Op::WriteDone(i, ok) if !w.writes.is_empty() => {
                    let i = usize::from(i) % w.writes.len();
                    w.write_done(i, ok);
                }
                _ => {}
            }
        }
        while !w.writes.is_empty() {
            w.write_done(0, true);
        }
        while !w.runs.is_empty() {
            w.copy_done(0);
        }
        let mut head = 0;
        while w.copy(head) {
            head = w.runs[0].end().min(n - 1);
            w.copy_done(0);
        }
        prop_assert!(w.o.map().is_synced(), "{:?}", w.o.map());
        for b in 0..n as usize {
            prop_assert!(w.copies[b] >= 1);
            if !w.written[b] {
                prop_assert_eq!(w.copies[b], 1, "block {} copied twice", b);
            }
        }
    }

    /// Reading at the head: on an untouched source the copy starts at the
    /// first block at or after the head sector, and is a whole chunk long.
    #[test]
    fn copy_starts_at_the_head(
        nr_blocks in 2u64..5000,
        head in any::<u64>(),
        offset in 0u64..1_000_000,
    ) {
        let o = ordering(nr_blocks);
        let shape = RunShape::new(128, 2048, true).unwrap();
        let mut sel = Follow::new(FollowParams::default());
        let head = offset + head % (nr_blocks * 128);
        let hb = shape.head_block(head, offset, nr_blocks);
        prop_assert!(hb * 128 >= head - offset || hb == nr_blocks - 1);
        prop_assert!(hb * 128 < head - offset + 128 || hb == nr_blocks - 1);
        let b = sel.next(o.map(), hb, false).unwrap();
        let plan = shape.plan(o.map(), b);
        prop_assert_eq!(plan, CopyRun { first: hb, blocks: 16 });
    }
}
