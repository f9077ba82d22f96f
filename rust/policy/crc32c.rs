// SPDX-License-Identifier: GPL-2.0

//! CRC-32C (Castagnoli), the checksum of the on-disk metadata: the one
//! dm-clone, dm-era and dm-thin use for their superblocks
//! (`dm_bm_checksum()`), and ext4 and btrfs for theirs. Table-driven, the
//! table built at compile time; no allocation.
//!
//! Like the kernel's `crc32c()`, [`crc32c`] takes and returns the raw
//! register: callers start from `!0` and invert the result, as
//! [`checksum`] does.

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82f6_3b78;

// `i` < 256 indexes the 256 entries: `get_mut` is not const in Rust 1.85.
#[allow(clippy::indexing_slicing)]
const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0usize;
    while i < 256 {
        // `i` < 256: the cast is exact.
        let mut crc = i as u32;
        let mut bit = 0u32;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit = bit.wrapping_add(1);
        }
        table[i] = crc;
        i = i.wrapping_add(1);
    }
    table
}

static TABLE: [u32; 256] = make_table();

/// Feeds `data` to the CRC register `crc`.
pub fn crc32c(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        let index = usize::from((crc as u8) ^ b);
        crc = (crc >> 8) ^ TABLE.get(index).copied().unwrap_or(0);
    }
    crc
}

/// The CRC-32C of `parts`, concatenated (initial value `!0`, final inversion).
pub fn checksum(parts: &[&[u8]]) -> u32 {
    !parts.iter().fold(!0u32, |crc, part| crc32c(crc, part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // RFC 3720, B.4: 32 bytes of zeros, of ones, ascending.
        assert_eq!(checksum(&[&[0u8; 32]]), 0x8a91_36aa);
        assert_eq!(checksum(&[&[0xffu8; 32]]), 0x62a8_ab43);
        let ascending: [u8; 32] = core::array::from_fn(|i| i as u8);
        assert_eq!(checksum(&[&ascending]), 0x46dd_794e);
        assert_eq!(checksum(&[b"123456789"]), 0xe306_9283);
    }

    #[test]
    fn parts_concatenate() {
        assert_eq!(checksum(&[b"1234", b"56789"]), checksum(&[b"123456789"]));
        assert_eq!(checksum(&[]), 0);
    }
}
