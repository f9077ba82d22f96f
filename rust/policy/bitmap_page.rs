// SPDX-License-Identifier: GPL-2.0

//! A page of the metadata device's migrated bitmap (format version 1, see
//! [`crate::policy::superblock`]): one bit per block, set when the block's
//! copy is on the destination *and* covered by a destination flush.
//!
//! A page is one 4 KiB metadata block, little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | CRC-32C of the page with this field zero |
//! | 4 | 4 | zero |
//! | 8 | 8 | page index (catches a page written to the wrong place) |
//! | 16 | 4080 | bits of blocks `index * 32640 ..`, bit `b % 8` of byte `b / 8` |
//!
//! A page of all zeros is valid and empty (a new device needs no format
//! beyond its superblock). Bits past the last block are zero. A page that
//! fails its checksum is *not* an error of the device: it is a torn write
//! of a commit the crash interrupted, and its blocks count as not migrated,
//! so they are copied again. That is safe only because bits are set after
//! the copies they stand for are flushed, and cleared (a mirrored write to
//! a migrated block) in a commit that completes before that write is
//! issued: an interrupted commit's old bits were still true.

use crate::policy::mblock::{crc_without_field, get_u32, get_u64, put, MBLOCK_BYTES};

/// Bytes before the bits.
pub const HEADER_BYTES: usize = 16;
/// Blocks one page covers: (4096 - 16) * 8.
pub const BITS_PER_PAGE: u64 = 32640;

/// Why a page's bits were not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageError {
    /// The checksum does not match: a torn write (its blocks count as not migrated).
    Checksum,
    /// Checksummed, but written for another page index or with bits past
    /// the last block: a misdirected write or another device's metadata.
    Misplaced,
}

/// The first block of page `index` and how many blocks it covers, of `nr_blocks`.
pub fn page_blocks(index: u64, nr_blocks: u64) -> (u64, u64) {
    let first = index.saturating_mul(BITS_PER_PAGE);
    (first, nr_blocks.saturating_sub(first).min(BITS_PER_PAGE))
}

fn page_crc(page: &[u8; MBLOCK_BYTES]) -> u32 {
    crc_without_field(page, 0)
}

/// Page `index` of a map of `nr_blocks` blocks, block `b` set when
/// `migrated(b)`.
pub fn encode_page(
    index: u64,
    nr_blocks: u64,
    migrated: impl FnMut(u64) -> bool,
) -> [u8; MBLOCK_BYTES] {
    let mut page = [0u8; MBLOCK_BYTES];
    encode_page_into(&mut page, index, nr_blocks, migrated);
    page
}

/// [`encode_page`] into the caller's buffer (a page on the stack is too
/// large for a kernel frame).
pub fn encode_page_into(
    page: &mut [u8; MBLOCK_BYTES],
    index: u64,
    nr_blocks: u64,
    mut migrated: impl FnMut(u64) -> bool,
) {
    page.fill(0);
    put(page, 8, &index.to_le_bytes());
    let (first, count) = page_blocks(index, nr_blocks);
    let bits = page.get_mut(HEADER_BYTES..).unwrap_or(&mut []);
    for (i, byte) in bits.iter_mut().enumerate() {
        let base = u64::try_from(i).unwrap_or(u64::MAX).saturating_mul(8);
        if base >= count {
            break;
        }
        for bit in 0..8u32 {
            let offset = base.saturating_add(u64::from(bit));
            if offset < count && migrated(first.saturating_add(offset)) {
                *byte |= 1u8.wrapping_shl(bit);
            }
        }
    }
    let crc = page_crc(page);
    put(page, 0, &crc.to_le_bytes());
}

/// Reads page `index` of a map of `nr_blocks` blocks: calls `set(b)` for
/// every migrated block `b` and returns how many there were.
pub fn decode_page(
    index: u64,
    nr_blocks: u64,
    page: &[u8; MBLOCK_BYTES],
    mut set: impl FnMut(u64),
) -> Result<u64, PageError> {
    if page.iter().all(|&b| b == 0) {
        return Ok(0);
    }
    if get_u32(page, 0) != page_crc(page) {
        return Err(PageError::Checksum);
    }
    if get_u32(page, 4) != 0 || get_u64(page, 8) != index {
        return Err(PageError::Misplaced);
    }
    let (first, count) = page_blocks(index, nr_blocks);
    let bits = page.get(HEADER_BYTES..).unwrap_or(&[]);
    // Bits past the last block must be zero (checked before any `set`): the
    // high bits of the byte holding block `count`, and every byte after it.
    // `count` is at most BITS_PER_PAGE: the conversions are exact.
    let last_byte = usize::try_from(count / 8).unwrap_or(usize::MAX);
    let past_mask = 0xffu8.wrapping_shl(u32::try_from(count % 8).unwrap_or(0));
    let past_end = match bits.get(last_byte..) {
        Some([partial, rest @ ..]) => partial & past_mask != 0 || rest.iter().any(|&b| b != 0),
        _ => false,
    };
    if past_end {
        return Err(PageError::Misplaced);
    }
    let mut n = 0u64;
    for (i, &byte) in bits.iter().enumerate() {
        if byte == 0 {
            continue;
        }
        let base = u64::try_from(i).unwrap_or(u64::MAX).saturating_mul(8);
        for bit in 0..8u32 {
            if byte & 1u8.wrapping_shl(bit) != 0 {
                set(first.saturating_add(base).saturating_add(u64::from(bit)));
                n = n.saturating_add(1);
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn round_trip_of_a_partial_last_page() {
        let nr = BITS_PER_PAGE + 1000;
        let migrated = |b: u64| b % 7 == 0 || b == nr - 1;
        for index in 0..2 {
            let page = encode_page(index, nr, migrated);
            let mut got = Vec::new();
            let n = decode_page(index, nr, &page, |b| got.push(b)).unwrap();
            let (first, count) = page_blocks(index, nr);
            let want: Vec<u64> = (first..first + count).filter(|&b| migrated(b)).collect();
            assert_eq!(got, want);
            assert_eq!(n, want.len() as u64);
        }
    }

    #[test]
    fn encoding_into_a_used_buffer_is_the_same_page() {
        let nr = BITS_PER_PAGE + 77;
        let mut buf = [0xa5u8; MBLOCK_BYTES];
        encode_page_into(&mut buf, 1, nr, |b| b % 5 == 1);
        assert_eq!(buf, encode_page(1, nr, |b| b % 5 == 1));
    }

    #[test]
    fn the_bits_fill_the_page() {
        assert_eq!(BITS_PER_PAGE, ((MBLOCK_BYTES - HEADER_BYTES) * 8) as u64);
    }

    #[test]
    fn zeros_are_an_empty_page() {
        let page = [0u8; MBLOCK_BYTES];
        assert_eq!(decode_page(3, 1 << 20, &page, |_| panic!("set")), Ok(0));
        // An encoded empty page is not all zeros, and reads empty too.
        let empty = encode_page(3, 1 << 20, |_| false);
        assert_eq!(decode_page(3, 1 << 20, &empty, |_| panic!("set")), Ok(0));
    }

    #[test]
    fn torn_and_misplaced_pages() {
        let nr = 3 * BITS_PER_PAGE;
        let page = encode_page(1, nr, |b| b % 2 == 0);
        // A torn write: the last sector still old (zeros).
        let mut torn = page;
        torn[MBLOCK_BYTES - 512..].fill(0);
        assert_eq!(
            decode_page(1, nr, &torn, |_| panic!("set")),
            Err(PageError::Checksum)
        );
        // Written to page 2's place.
        assert_eq!(
            decode_page(2, nr, &page, |_| panic!("set")),
            Err(PageError::Misplaced)
        );
        // Bits past the end of a shorter map: another device's metadata.
        assert_eq!(
            decode_page(1, BITS_PER_PAGE + 10, &page, |_| panic!("set")),
            Err(PageError::Misplaced)
        );
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let page = encode_page(0, 5000, |b| b % 3 == 0);
        for byte in 0..MBLOCK_BYTES {
            for bit in 0..8 {
                let mut c = page;
                c[byte] ^= 1 << bit;
                assert!(
                    decode_page(0, 5000, &c, |_| {}).is_err(),
                    "byte {byte} bit {bit}"
                );
            }
        }
    }
}
