// SPDX-License-Identifier: GPL-2.0

//! Property tests of the policy core (host only).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use iofollow_policy::liveness::{LiveEntry, LivenessIndex, LivenessParams};
use iofollow_policy::map::{BlockMap, BlockState};
use iofollow_policy::message::{parse_message, Message};
use iofollow_policy::ratio::{Ratio, RatioScheduler};
use iofollow_policy::select::{AnySelector, Follow, FollowParams, PolicyKind, Selector};
use iofollow_policy::table::{format_table, parse_table};
use proptest::prelude::*;
use std::collections::HashMap;

fn new_map(n: u64) -> BlockMap<Vec<u64>> {
    let w = BlockMap::<Vec<u64>>::words_needed(n).unwrap();
    BlockMap::new(vec![0; w], n).unwrap()
}

fn brute_next(p: &[bool], from: u64) -> Option<u64> {
    (from..p.len() as u64).find(|&i| p[i as usize])
}

fn brute_prev(p: &[bool], from: u64) -> Option<u64> {
    let from = from.min(p.len() as u64 - 1);
    (0..=from).rev().find(|&i| p[i as usize])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Hierarchical next/prev/nearest search equals a linear scan.
    #[test]
    fn nearest_equals_brute_force(
        n in 1u64..20_000,
        density in 0u32..=100,
        seed in any::<u64>(),
        queries in prop::collection::vec(any::<u64>(), 1..64),
    ) {
        let mut m = new_map(n);
        let mut pending = vec![true; n as usize];
        // xorshift to thin the map to `density` percent pending
        let mut x = seed | 1;
        for c in 0..n {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            if (x % 100) as u32 >= density {
                m.mark_in_flight(c).unwrap();
                pending[c as usize] = false;
            }
        }
        prop_assert_eq!(m.nr_pending(), pending.iter().filter(|&&p| p).count() as u64);
        for q in queries {
            let q = q % (n + 3);
            prop_assert_eq!(m.next_pending(q), if q < n { brute_next(&pending, q) } else { None });
            prop_assert_eq!(m.prev_pending(q), brute_prev(&pending, q));
            let qc = q.min(n - 1);
            let f = brute_next(&pending, qc);
            let b = if qc > 0 { brute_prev(&pending, qc - 1) } else { None };
            let want = match (f, b) {
                (Some(f), Some(b)) => Some(if f - qc <= qc - b { f } else { b }),
                (f, b) => f.or(b),
            };
            prop_assert_eq!(m.nearest_pending(q), want);
        }
    }

    /// Every chunk is copied exactly once, plus once more for every time it
    /// had to be copied again (dirtied after migration, written during its
    /// copy, or a failed copy); the map ends synced; counters match the states.
    #[test]
    fn every_chunk_migrated_exactly_once_unless_dirtied(
        n in 1u64..400,
        follow in any::<bool>(),
        ops in prop::collection::vec((0u8..6, any::<u64>()), 0..1500),
    ) {
        let mut m = new_map(n);
        let mut sel = if follow {
            AnySelector::Follow(Follow::new(FollowParams::default()))
        } else {
            AnySelector::new(PolicyKind::Sequential)
        };
        let mut copies = vec![0u64; n as usize];
        let mut needed = vec![1u64; n as usize];
        let mut in_flight: Vec<u64> = Vec::new();
        let mut head = 0u64;
        let mut step = |m: &mut BlockMap<Vec<u64>>, op: u8, r: u64,
                        in_flight: &mut Vec<u64>, copies: &mut Vec<u64>, needed: &mut Vec<u64>| {
            match op {
                0 | 1 => {
                    if let Some(c) = sel.next(m, head, r % 2 == 0) {
                        assert!(m.state(c).unwrap().is_pending());
                        m.mark_in_flight(c).unwrap();
                        in_flight.push(c);
                        head = c + 1;
                    }
                }
                2 => {
                    if !in_flight.is_empty() {
                        let c = in_flight.swap_remove((r % in_flight.len() as u64) as usize);
                        let ok = r % 7 != 0;
                        copies[c as usize] += 1;
                        let redirtied = m.is_redirtied(c);
                        let st = m.complete(c, ok).unwrap();
                        if !ok || redirtied {
                            needed[c as usize] += 1;
                            assert!(st.is_pending());
                        } else {
                            assert_eq!(st, BlockState::Migrated);
                        }
                    }
                }
                3 => {
                    let c = r % n;
                    head = c;
                    m.mark_written(c).unwrap();
                }
                4 => {
                    let c = r % n;
                    let before = m.state(c).unwrap();
                    let after = m.mark_dirty(c).unwrap();
                    if before == BlockState::Migrated {
                        assert_eq!(after, BlockState::Dirty);
                        needed[c as usize] += 1;
                    } else {
                        assert_eq!(after, before);
                    }
                }
                _ => head = r % (n + 10),
            }
        };
        for (op, r) in ops {
            step(&mut m, op, r, &mut in_flight, &mut copies, &mut needed);
            let (mut un, mut fl, mut mi, mut di) = (0, 0, 0, 0);
            for c in 0..n {
                match m.state(c).unwrap() {
                    BlockState::Unmigrated => un += 1,
                    BlockState::InFlight => fl += 1,
                    BlockState::Migrated => mi += 1,
                    BlockState::Dirty => di += 1,
                }
            }
            prop_assert_eq!((un, fl, mi, di),
                (m.nr_unmigrated(), m.nr_in_flight(), m.nr_migrated(), m.nr_dirty()));
            prop_assert_eq!(m.nr_pending(), un + di);
        }
        // Drain: copy everything that is left, with successful copies only.
        for c in in_flight.drain(..) {
            copies[c as usize] += 1;
            let redirtied = m.is_redirtied(c);
            m.complete(c, true).unwrap();
            if redirtied { needed[c as usize] += 1; }
        }
        let mut guard = 0;
        while let Some(c) = sel.next(&m, head, false) {
            m.mark_in_flight(c).unwrap();
            m.complete(c, true).unwrap();
            copies[c as usize] += 1;
            head = c + 1;
            guard += 1;
            prop_assert!(guard <= 2 * n);
        }
        prop_assert!(m.is_synced());
        for c in 0..n as usize {
            prop_assert_eq!(copies[c], needed[c], "chunk {}", c);
        }
    }

    /// A chunk that is never written nor fails is copied exactly once.
    #[test]
    fn clean_chunks_copied_once(n in 1u64..2000, heads in prop::collection::vec(any::<u64>(), 1..50), follow in any::<bool>()) {
        let mut m = new_map(n);
        let mut sel = AnySelector::new(if follow { PolicyKind::Follow } else { PolicyKind::Sequential });
        let mut copies = vec![0u32; n as usize];
        let mut i = 0usize;
        while let Some(c) = sel.next(&m, heads[i % heads.len()] % n, i % 3 == 0) {
            m.mark_in_flight(c).unwrap();
            m.complete(c, true).unwrap();
            copies[c as usize] += 1;
            i += 1;
        }
        prop_assert!(m.is_synced());
        prop_assert!(copies.iter().all(|&c| c == 1));
    }

    /// The scheduler is work-conserving, never dispatches more than M
    /// migration requests in a row while VM IO waits, and under constant
    /// contention dispatches exactly V:M.
    #[test]
    fn ratio_holds(v in 1u32..=64, mg in 1u32..=64,
                   pattern in prop::collection::vec((any::<bool>(), any::<bool>()), 1..3000)) {
        let mut s = RatioScheduler::new(v, mg);
        let mut run_m = 0u32;
        for (vm_waiting, mig_waiting) in pattern {
            if mig_waiting && s.may_dispatch_migration(vm_waiting) {
                s.on_migration_dispatch();
                if vm_waiting { run_m += 1; }
                prop_assert!(run_m <= mg);
            } else if vm_waiting && s.may_dispatch_vm(mig_waiting) {
                s.on_vm_dispatch();
                run_m = 0;
            } else {
                prop_assert!(!vm_waiting && !mig_waiting, "idle while IO waits");
            }
        }
        let mut s = RatioScheduler::new(v, mg);
        let (mut nv, mut nm) = (0u64, 0u64);
        let rounds = 50u64;
        for _ in 0..rounds * u64::from(v + mg) {
            if s.may_dispatch_migration(true) { s.on_migration_dispatch(); nm += 1; }
            else { prop_assert!(s.may_dispatch_vm(true)); s.on_vm_dispatch(); nv += 1; }
        }
        prop_assert_eq!((nv, nm), (rounds * u64::from(v), rounds * u64::from(mg)));
    }

    /// Eviction always takes an entry of minimal key and the index never
    /// exceeds its capacity; it agrees with a brute-force model.
    #[test]
    fn eviction_takes_least_live(cap in 0usize..40,
                                 ops in prop::collection::vec((0u8..4, any::<u64>(), any::<bool>()), 0..600)) {
        let mut idx = LivenessIndex::new(vec![LiveEntry::EMPTY; cap], LivenessParams::default());
        let mut model: HashMap<u32, u64> = HashMap::new(); // slot -> chunk
        let mut next_chunk = 0u64;
        for (op, r, b) in ops {
            match op {
                0 | 1 => {
                    let before_min = (0..cap as u32).filter_map(|s| idx.key(s)).min();
                    let least = idx.least_live();
                    let res = idx.insert(next_chunk, b, r % 5000);
                    if cap == 0 { prop_assert!(res.is_none()); continue; }
                    let ins = res.unwrap();
                    if model.len() == cap {
                        let (ls, lc) = least.unwrap();
                        prop_assert_eq!(ins.evicted, Some(lc));
                        prop_assert_eq!(ins.slot, ls);
                        prop_assert_eq!(model.remove(&ls), Some(lc));
                        let _ = before_min;
                    } else {
                        prop_assert_eq!(ins.evicted, None);
                    }
                    prop_assert!(model.insert(ins.slot, next_chunk).is_none());
                    next_chunk += 1;
                }
                2 => {
                    if let Some(&slot) = model.keys().nth((r as usize) % model.len().max(1)) {
                        prop_assert!(idx.touch(slot, r % 300));
                    }
                }
                _ => {
                    if let Some(&slot) = model.keys().nth((r as usize) % model.len().max(1)) {
                        prop_assert_eq!(idx.remove(slot), model.remove(&slot));
                    }
                }
            }
            prop_assert!(idx.len() as usize <= cap);
            prop_assert_eq!(idx.len() as usize, model.len());
            for (&s, &c) in &model { prop_assert_eq!(idx.chunk(s), Some(c)); }
            let min = model.keys().filter_map(|&s| idx.key(s)).min();
            prop_assert_eq!(idx.least_live().map(|(s, _)| idx.key(s).unwrap()), min);
        }
    }

    /// The table parser never panics on arbitrary words, and what it accepts
    /// formats to a line that parses back to the same configuration.
    #[test]
    fn table_parser_total_and_round_trips(words in prop::collection::vec(
        prop_oneof![
            Just("ratio".to_string()), Just("policy".to_string()), Just("cache".to_string()),
            Just("paused".to_string()), Just("source_offset".to_string()), Just("follow".to_string()),
            Just("block".to_string()), Just("no_read_at_head".to_string()), Just("no_anticipation".to_string()),
            Just("depth".to_string()), Just("queue_aware".to_string()),
            Just("cache_eviction".to_string()), Just("lru".to_string()), Just("LIVENESS".to_string()),
            Just("-1".to_string()),
            Just("Sequential".to_string()), Just("2:1".to_string()), Just("64:3".to_string()),
            (0u64..12).prop_map(|n| n.to_string()), (0u32..24).prop_map(|s| (1u64 << s).to_string()),
            any::<u64>().prop_map(|n| n.to_string()), "[ -~]{0,12}",
        ], 0..14)) {
        let mut args: Vec<&str> = vec!["/dev/src", "/dev/dst"];
        args.extend(words.iter().map(String::as_str));
        if let Ok(cfg) = parse_table(&args) {
            let mut line = String::new();
            format_table(&cfg, "253:0", "253:1", &mut line).unwrap();
            let toks: Vec<&str> = line.split(' ').collect();
            let back = parse_table(&toks).unwrap();
            prop_assert_eq!(back.source, "253:0");
            prop_assert_eq!(back.dest, "253:1");
            let mut expect = cfg;
            expect.source = "253:0";
            expect.dest = "253:1";
            prop_assert_eq!(back, expect);
        }
        // Arbitrary text too.
        let _ = parse_table(&words.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// The message parser never panics and round-trips what it accepts.
    #[test]
    fn message_parser_total_and_round_trips(words in prop::collection::vec(
        prop_oneof![
            Just("pause".to_string()), Just("RESUME".to_string()), Just("ratio".to_string()),
            Just("policy".to_string()), Just("follow".to_string()), Just("3:2".to_string()),
            Just("read_at_head".to_string()), Just("anticipation".to_string()), Just("ON".to_string()),
            Just("depth".to_string()), Just("4".to_string()),
            Just("cache".to_string()), Just("cache_eviction".to_string()), Just("Lru".to_string()),
            Just("0".to_string()), Just("-1".to_string()),
            "[ -~]{0,8}",
        ], 0..4), v in 0u32..70, m in 0u32..70) {
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        if let Ok(msg) = parse_message(&args) {
            let s = msg.to_string();
            let toks: Vec<&str> = s.split(' ').collect();
            prop_assert_eq!(parse_message(&toks), Ok(msg));
        }
        let r = format!("{v}:{m}");
        let got = parse_message(&["ratio", &r]);
        prop_assert_eq!(got.is_ok(), Ratio::new(v, m).is_some());
        if let Ok(Message::Ratio(x)) = got { prop_assert_eq!((x.vm(), x.mig()), (v, m)); }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Anticipation, whatever the VM does: IO in flight is always busy; the
    /// window is 0 or within [min, max]; an idle VM is never held longer
    /// than the longest window; and a VM whose every think time exceeds the
    /// longest window ends up not anticipated (the copy runs flat out).
    #[test]
    fn anticipation_bounds(
        steps in prop::collection::vec((0u64..30_000_000, 1u64..20_000_000, 1u64..4), 1..200),
        slow in 12_000_000u64..100_000_000,
    ) {
        use iofollow_policy::anticipation::{Anticipation, AnticipationParams};
        let p = AnticipationParams::default();
        let mut a = Anticipation::new(p);
        let mut t = 0u64;
        for &(think, service, depth) in &steps {
            t += think;
            for k in 0..depth {
                a.on_vm_dispatch(t, k);
                prop_assert!(a.vm_busy(t, k + 1));
            }
            t += service;
            a.on_vm_idle(t);
            let w = a.window_ns();
            prop_assert!(w == 0 || (p.min_window_ns..=p.max_window_ns).contains(&w), "window {w}");
            prop_assert!(!a.vm_busy(t + p.max_window_ns, 0));
            if let Some(end) = a.window_end_ns() {
                prop_assert!(end > t && end <= t + p.max_window_ns);
            }
        }
        for _ in 0..40 {
            t += slow;
            a.on_vm_dispatch(t, 0);
            t += 1_000_000;
            a.on_vm_idle(t);
        }
        prop_assert_eq!(a.window_ns(), 0);
        prop_assert!(!a.vm_busy(t, 0));
    }
}

mod status_line {
    use iofollow_policy::ordering::Fault;
    use iofollow_policy::ratio::Ratio;
    use iofollow_policy::select::PolicyKind;
    use iofollow_policy::status::{StateWord, StatusLine, FIELDS};
    use proptest::prelude::*;

    fn status_line() -> impl Strategy<Value = StatusLine> {
        (
            (
                0usize..4,
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
            ),
            (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
            (
                any::<u64>(),
                any::<u64>(),
                any::<bool>(),
                1u32..=64,
                1u32..=64,
                0usize..3,
            ),
            (any::<u64>(), any::<u64>()),
        )
            .prop_map(
                |(
                    (s, a, b, dirty, head),
                    (vm, mig, hits, misses),
                    (c1, c2, seq, v, m, f),
                    (source_reads, dest_reads),
                )| {
                    StatusLine {
                        state: StateWord::ALL[s],
                        migrated_blocks: a.min(b),
                        total_blocks: a.max(b),
                        dirty_blocks: dirty,
                        head_sector: head,
                        vm_ios: vm,
                        migration_ios: mig,
                        cache_hits: hits,
                        cache_misses: misses,
                        cache_bytes: c1,
                        cache_capacity_bytes: c2,
                        policy: if seq {
                            PolicyKind::Sequential
                        } else {
                            PolicyKind::Follow
                        },
                        ratio: Ratio::new(v, m).unwrap(),
                        fault: [None, Some(Fault::Source), Some(Fault::Destination)][f],
                        source_reads,
                        dest_reads,
                    }
                },
            )
    }

    proptest! {
        /// What the kernel prints, the tool reads back to the same value, and
        /// every field has a name.
        #[test]
        fn status_line_round_trips(line in status_line()) {
            let text = line.to_string();
            prop_assert_eq!(text.split(' ').count(), FIELDS.len() - 3);
            prop_assert_eq!(StatusLine::parse(&text), Ok(line));
            for name in FIELDS {
                prop_assert!(line.field(name).is_some());
            }
        }

        /// Any text: no panic.
        #[test]
        fn status_parser_is_total(text in ".{0,120}") {
            let _ = StatusLine::parse(&text);
        }
    }
}

mod io_tags {
    use iofollow_policy::copyrun::CopyRun;
    use iofollow_policy::iotag::{IssuedIo, MAX_BLOCKS, MAX_MIRROR_BLOCKS};
    use proptest::prelude::*;

    proptest! {
        /// Every tag the engine can make comes back as itself; any raw
        /// value decodes to something or nothing, never a panic.
        #[test]
        fn tags_round_trip(kind in 0u8..5, slot in 0usize..9, first in 0..MAX_BLOCKS,
                           blocks in 1..=MAX_MIRROR_BLOCKS, to_dest in any::<bool>(), raw in any::<u64>()) {
            let tag = match kind {
                0 => IssuedIo::CopyRead(slot),
                1 => IssuedIo::CopyWrite(slot),
                2 => IssuedIo::Mirror { blocks: CopyRun { first, blocks }, to_dest },
                3 => IssuedIo::Reread,
                _ => IssuedIo::DestFlush,
            };
            prop_assert_eq!(IssuedIo::from_raw(tag.into_raw()), Some(tag));
            if let Some(t) = IssuedIo::from_raw(raw) {
                prop_assert_eq!(IssuedIo::from_raw(t.into_raw()), Some(t));
            }
        }
    }
}
