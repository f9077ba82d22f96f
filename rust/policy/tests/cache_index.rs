// SPDX-License-Identifier: GPL-2.0

//! The cache index against a model: every cached block is found in the slot
//! it was given, nothing else is found, no two blocks share a slot, and the
//! capacity is never exceeded, whatever the order of inserts, removals,
//! hits and evictions.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use iofollow_policy::cache::CacheIndex;
use iofollow_policy::liveness::{Eviction, LiveEntry, LivenessParams};
use proptest::prelude::*;
use std::collections::HashMap;

#[derive(Clone, Debug)]
enum Op {
    Insert(u64, u64),
    Remove(u64),
    Touch(u64, u64),
    Evict,
}

fn op() -> impl Strategy<Value = Op> {
    // Few distinct blocks, so that probes collide and runs wrap.
    prop_oneof![
        4 => (0u64..64, 0u64..200).prop_map(|(b, d)| Op::Insert(b, d)),
        2 => (0u64..64).prop_map(Op::Remove),
        2 => (0u64..64, 0u64..200).prop_map(|(b, d)| Op::Touch(b, d)),
        1 => Just(Op::Evict),
    ]
}

fn check(idx: &CacheIndex<Vec<LiveEntry>, Vec<u32>>, model: &HashMap<u64, u32>) {
    assert_eq!(idx.len() as usize, model.len());
    assert!(idx.len() <= idx.capacity());
    let mut slots = std::collections::HashSet::new();
    for (&b, &slot) in model {
        assert_eq!(idx.lookup(b), Some(slot), "block {b}");
        assert_eq!(idx.block(slot), Some(b));
        assert!(slots.insert(slot), "two blocks in slot {slot}");
    }
    for b in 0..64 {
        if !model.contains_key(&b) {
            assert_eq!(idx.lookup(b), None, "block {b} found after it left");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn index_matches_model(cap in 0u32..20, lru in any::<bool>(), ops in prop::collection::vec(op(), 0..300)) {
        let table = vec![0u32; CacheIndex::<Vec<LiveEntry>, Vec<u32>>::table_len(cap).unwrap()];
        let mut idx = CacheIndex::new(vec![LiveEntry::EMPTY; cap as usize], table, LivenessParams::default()).unwrap();
        if lru {
            idx.set_eviction(Eviction::Lru);
        }
        let mut model: HashMap<u64, u32> = HashMap::new();
        for op in ops {
            match op {
                Op::Insert(b, d) => match idx.insert(b, d) {
                    None => prop_assert_eq!(cap, 0),
                    Some(ins) => {
                        model.remove(&b);
                        if let Some(old) = ins.evicted {
                            prop_assert!(model.remove(&old).is_some(), "evicted {} was not cached", old);
                            prop_assert!(old != b);
                        } else {
                            prop_assert!(model.len() < cap as usize);
                        }
                        prop_assert!(model.values().all(|&s| s != ins.slot));
                        model.insert(b, ins.slot);
                    }
                },
                Op::Remove(b) => prop_assert_eq!(idx.remove(b), model.remove(&b)),
                Op::Touch(b, d) => {
                    if let Some(slot) = idx.lookup(b) {
                        idx.touch(slot, d);
                    }
                }
                Op::Evict => match idx.evict() {
                    None => prop_assert!(model.is_empty()),
                    Some((slot, b)) => prop_assert_eq!(model.remove(&b), Some(slot)),
                },
            }
            check(&idx, &model);
        }
        idx.clear();
        model.clear();
        check(&idx, &model);
    }
}

#[test]
fn lru_keeps_the_recently_hit_block() {
    let len = CacheIndex::<Vec<LiveEntry>, Vec<u32>>::table_len(2).unwrap();
    let mut idx = CacheIndex::new(
        vec![LiveEntry::EMPTY; 2],
        vec![0; len],
        LivenessParams::default(),
    )
    .unwrap();
    idx.set_eviction(Eviction::Lru);
    idx.insert(1, 0).unwrap();
    idx.insert(2, 0).unwrap();
    idx.touch(idx.lookup(1).unwrap(), 0);
    assert_eq!(idx.insert(3, 0).unwrap().evicted, Some(2));
    assert!(idx.lookup(1).is_some());
}

#[test]
fn wrong_table_length_is_refused() {
    assert!(CacheIndex::new(
        vec![LiveEntry::EMPTY; 3],
        vec![0u32; 4],
        LivenessParams::default()
    )
    .is_none());
    assert_eq!(
        CacheIndex::<Vec<LiveEntry>, Vec<u32>>::table_len(3),
        Some(8)
    );
    assert_eq!(
        CacheIndex::<Vec<LiveEntry>, Vec<u32>>::table_len(0),
        Some(2)
    );
}
