// SPDX-License-Identifier: GPL-2.0

//! What the host tests share: the ordering protocol over `Vec` storage.
#![allow(dead_code, clippy::unwrap_used)]

use iofollow_policy::map::BlockMap;
use iofollow_policy::ordering::{Ordering, Unflushed};

/// The protocol over `n` fresh blocks with `stripes` write counts (a power of two).
pub(crate) fn ordering_with(n: u64, stripes: usize) -> Ordering<Vec<u64>> {
    let map = BlockMap::new(vec![0; BlockMap::<Vec<u64>>::words_needed(n).unwrap()], n).unwrap();
    let unflushed =
        Unflushed::new(vec![0; Unflushed::<Vec<u64>>::words_needed(n).unwrap()], n).unwrap();
    Ordering::new(map, unflushed, vec![0; stripes]).unwrap()
}

/// The protocol over `n` fresh blocks, one write count per block.
pub(crate) fn ordering(n: u64) -> Ordering<Vec<u64>> {
    ordering_with(n, (n as usize).next_power_of_two())
}

/// A fresh map of `n` blocks.
pub(crate) fn new_map(n: u64) -> BlockMap<Vec<u64>> {
    BlockMap::new(vec![0; BlockMap::<Vec<u64>>::words_needed(n).unwrap()], n).unwrap()
}
