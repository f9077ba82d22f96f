// SPDX-License-Identifier: GPL-2.0

//! Images built with the policy core's encoders, read back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::device::Device;
use crate::report::Report;
use iofollow_policy::bitmap_page::encode_page;
use iofollow_policy::superblock::{Geometry, Identity, Superblock, MBLOCK_BYTES};
use std::collections::BTreeMap;

const BLOCKS: u64 = 40_000; // two bitmap pages

fn encoded(seq: u64, migrated: u64) -> [u8; MBLOCK_BYTES] {
    let mut b = [0u8; MBLOCK_BYTES];
    superblock(seq, migrated).encode_into(&mut b);
    b
}

fn superblock(seq: u64, migrated: u64) -> Superblock {
    Superblock {
        seq,
        clean: false,
        committed: true,
        geometry: Geometry {
            block_sectors: 128,
            chunk_sectors: 2048,
            nr_blocks: BLOCKS,
            target_sectors: BLOCKS * 128,
            source: Identity {
                sectors: BLOCKS * 128,
                tag: *b"LVM-src-uuid-001",
            },
            dest: Identity {
                sectors: BLOCKS * 128 + 64,
                tag: [0; 16],
            },
        },
        migrated_blocks: migrated,
    }
}

/// A device of `mblocks` metadata blocks, zero but for `blocks`.
fn read(mblocks: u64, blocks: &BTreeMap<u64, [u8; MBLOCK_BYTES]>) -> Report {
    Report::read(mblocks * 8, &mut |n| {
        Ok((n < mblocks).then(|| blocks.get(&n).copied().unwrap_or([0; MBLOCK_BYTES])))
    })
    .unwrap()
}

#[test]
fn a_zeroed_device_is_fresh() {
    let r = read(16, &BTreeMap::new());
    assert!(!r.refused());
    assert!(
        r.to_string()
            .contains("fresh: both superblock slots are zero"),
        "{r}"
    );
}

#[test]
fn the_newest_slot_and_the_bitmap_counts() {
    let mut b = BTreeMap::new();
    b.insert(0, encoded(2, 10));
    b.insert(1, encoded(3, 7));
    // Page 0: blocks 0..5 and 32639 migrated; page 1 torn (garbage).
    b.insert(2, encode_page(0, BLOCKS, |x| x < 5 || x == 32_639));
    let mut torn = encode_page(1, BLOCKS, |_| true);
    torn[100] ^= 1;
    b.insert(3, torn);
    let r = read(4, &b);
    let text = r.to_string();
    assert!(!r.refused(), "{text}");
    for line in [
        "slot 0: seq 2",
        "slot 1: seq 3",
        "superblock: seq 3 in slot 1 of 2, clean shutdown no, committed yes",
        "geometry: block 128 sectors, chunk 2048 sectors, 40000 blocks, target 5120000 sectors",
        "source: 5120000 sectors, tag 4c564d2d7372632d757569642d303031",
        "destination: 5120064 sectors, tag none",
        "bitmap: 2 pages from metadata block 2",
        "migrated: 6 of 40000 blocks in the bitmap, 7 at the last commit",
        "pages: 1 valid, 1 torn (read as not migrated), 0 misplaced",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in:\n{text}"
        );
    }
}

#[test]
fn a_torn_slot_beside_a_valid_one_is_the_interrupted_commit() {
    let mut b = BTreeMap::new();
    b.insert(0, encoded(4, 0));
    let mut torn = encoded(5, 0);
    torn[200] = 1;
    b.insert(1, torn);
    let r = read(4, &b);
    let text = r.to_string();
    assert!(!r.refused(), "{text}");
    assert!(
        text.contains("slot 1: checksum mismatch") && text.contains("superblock: seq 4"),
        "{text}"
    );
}

#[test]
fn other_data_is_refused_by_name() {
    let mut b = BTreeMap::new();
    b.insert(0, [0x5a; MBLOCK_BYTES]);
    let r = read(4, &b);
    assert!(r.refused());
    assert!(
        r.to_string()
            .contains("error: Metadata device holds other data (zero its first 8 KiB to use it)"),
        "{r}"
    );
}

#[test]
fn a_device_smaller_than_its_layout_is_refused() {
    let mut b = BTreeMap::new();
    b.insert(0, encoded(2, 0));
    let r = read(3, &b); // the layout needs 2 slots + 2 pages
    assert!(r.refused());
    assert!(
        r.to_string()
            .contains("error: Metadata device is too small"),
        "{r}"
    );
}

#[test]
fn a_page_of_another_index_is_misplaced() {
    let mut b = BTreeMap::new();
    b.insert(0, encoded(2, 0));
    b.insert(3, encode_page(0, BLOCKS, |x| x == 1));
    let r = read(4, &b);
    assert!(r.refused());
    assert!(
        r.to_string()
            .contains("pages: 1 valid, 0 torn (read as not migrated), 1 misplaced"),
        "{r}"
    );
}

#[test]
fn a_file_read_through_the_device_reader() {
    let path = std::env::temp_dir().join(format!("iofollow-dump-test-{}", std::process::id()));
    let mut image = vec![0u8; 4 * MBLOCK_BYTES];
    image[MBLOCK_BYTES..2 * MBLOCK_BYTES].copy_from_slice(&encoded(9, 3));
    image[2 * MBLOCK_BYTES..3 * MBLOCK_BYTES]
        .copy_from_slice(&encode_page(0, BLOCKS, |x| x % 10_000 == 0));
    std::fs::write(&path, &image).unwrap();
    let mut dev = Device::open(&path).unwrap();
    assert_eq!(dev.sectors(), 32);
    assert!(dev.block(4).unwrap().is_none());
    let r = Report::read(dev.sectors(), &mut |n| dev.block(n)).unwrap();
    std::fs::remove_file(&path).unwrap();
    let text = r.to_string();
    assert!(
        text.contains("superblock: seq 9 in slot 1") && text.contains("migrated: 4 of 40000"),
        "{text}"
    );
}
