// SPDX-License-Identifier: GPL-2.0

//! Property tests of the metadata device's format (superblock, bitmap
//! pages): what is written reads back the same, for any geometry and any
//! set of migrated blocks; a table resumes only the metadata it wrote; and
//! the two slots always give the newest intact commit.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use iofollow_policy::bitmap_page::{decode_page, encode_page, page_blocks, PageError};
use iofollow_policy::superblock::{
    load, Found, Geometry, Identity, Layout, LoadError, Superblock, MBLOCK_BYTES,
};
use proptest::prelude::*;

fn enc(s: &Superblock) -> [u8; MBLOCK_BYTES] {
    let mut b = [0u8; MBLOCK_BYTES];
    s.encode_into(&mut b);
    b
}
use std::collections::BTreeSet;

prop_compose! {
    fn geometry()(
        block_shift in 3u32..12,
        chunk_extra in 0u32..6,
        target in 1u64..(1u64 << 40),
        src_extra in 0u64..4096,
        dst_extra in 0u64..4096,
        src_tag in any::<[u8; 16]>(),
        dst_tag in any::<[u8; 16]>(),
    ) -> Geometry {
        let block_sectors = 1u32 << block_shift;
        Geometry {
            block_sectors,
            chunk_sectors: block_sectors << chunk_extra,
            nr_blocks: target.div_ceil(u64::from(block_sectors)),
            target_sectors: target,
            source: Identity { sectors: target + src_extra, tag: src_tag },
            dest: Identity { sectors: target + dst_extra, tag: dst_tag },
        }
    }
}

prop_compose! {
    fn superblock()(g in geometry(), seq in any::<u64>(), clean in any::<bool>(),
        committed in any::<bool>(), frac in 0u64..=1000)
        -> Superblock {
        Superblock { seq, clean, committed, geometry: g, migrated_blocks: g.nr_blocks / 1000 * frac }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn a_superblock_reads_back(sb in superblock()) {
        prop_assert_eq!(Superblock::decode(&enc(&sb)), Ok(sb));
        let dev = sb.layout().min_sectors();
        let zero = [0u8; MBLOCK_BYTES];
        let (slot0, slot1) = if sb.slot() == 0 { (enc(&sb), zero) } else { (zero, enc(&sb)) };
        prop_assert_eq!(load(&slot0, &slot1, dev, &sb.geometry), Ok(Found::Superblock(sb)));
    }

    /// Two commits in their slots, the newer one torn at a sector boundary
    /// or not: the newest intact one is read.
    #[test]
    fn the_newest_intact_commit_wins(sb in superblock(), torn_sectors in 0usize..8, torn in any::<bool>()) {
        let mut old = sb;
        old.seq = sb.seq.saturating_sub(1);
        let mut new = sb;
        new.seq = old.seq + 1;
        new.migrated_blocks = sb.geometry.nr_blocks;
        let mut new_block = enc(&new);
        if torn {
            // The sectors from `torn_sectors` on did not reach the disk (zeros).
            new_block[torn_sectors * 512..].fill(0);
        }
        let mut slots = [[0u8; MBLOCK_BYTES]; 2];
        slots[old.slot() as usize] = enc(&old);
        slots[new.slot() as usize] = new_block;
        let dev = sb.layout().min_sectors();
        // Only a write that reached all 8 sectors (or whose lost sectors
        // were zeros anyway) is the new commit.
        let intact = Superblock::decode(&new_block) == Ok(new);
        let want = if intact { new } else { old };
        prop_assert_eq!(load(&slots[0], &slots[1], dev, &sb.geometry), Ok(Found::Superblock(want)));
    }

    /// Any other table is refused, with the field that differs.
    #[test]
    fn another_table_is_refused(sb in superblock(), other in geometry()) {
        let dev = Layout::for_blocks(sb.geometry.nr_blocks.max(other.nr_blocks)).min_sectors();
        let mut slots = [[0u8; MBLOCK_BYTES]; 2];
        slots[sb.slot() as usize] = enc(&sb);
        let got = load(&slots[0], &slots[1], dev, &other);
        let mut same = other;
        same.chunk_sectors = sb.geometry.chunk_sectors;
        if same == sb.geometry {
            prop_assert_eq!(got, Ok(Found::Superblock(sb)));
        } else {
            prop_assert!(matches!(got, Err(
                LoadError::BlockSize | LoadError::Length | LoadError::SourceSize
                | LoadError::SourceIdentity | LoadError::DestSize | LoadError::DestIdentity
            )), "{:?}", got);
        }
    }

    /// A bitmap page reads back exactly the blocks that were migrated.
    #[test]
    fn a_bitmap_page_reads_back(
        nr_blocks in 1u64..200_000,
        index in 0u64..7,
        picks in proptest::collection::vec(any::<u64>(), 0..300),
        dense in any::<bool>(),
    ) {
        let (first, count) = page_blocks(index, nr_blocks);
        let migrated: BTreeSet<u64> = if dense {
            (first..first + count).filter(|b| !picks.iter().any(|p| p % count.max(1) == b - first)).collect()
        } else {
            picks.iter().filter(|_| count > 0).map(|p| first + p % count).collect()
        };
        let page = encode_page(index, nr_blocks, |b| migrated.contains(&b));
        let mut got = BTreeSet::new();
        let n = decode_page(index, nr_blocks, &page, |b| { got.insert(b); });
        prop_assert_eq!(n, Ok(migrated.len() as u64));
        prop_assert_eq!(got, migrated);
        // Torn after any sector but the last: never read as the new bits.
        for sectors in 1..8 {
            let mut torn = page;
            torn[sectors * 512..].fill(0);
            if torn != page {
                prop_assert_eq!(decode_page(index, nr_blocks, &torn, |_| {}), Err(PageError::Checksum));
            }
        }
    }
}
