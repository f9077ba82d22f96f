// SPDX-License-Identifier: GPL-2.0

//! Field access to a 4 KiB metadata block (the superblock and the bitmap
//! pages of [`crate::policy::superblock`]): little-endian fields at fixed
//! offsets, and the CRC-32C of a block with its checksum field zero.

use crate::policy::crc32c::checksum;

/// Bytes of a metadata block.
pub const MBLOCK_BYTES: usize = 4096;

/// A metadata block.
pub type MBlock = [u8; MBLOCK_BYTES];

/// Writes `bytes` at `at` (nothing if they do not fit: offsets are constants).
pub(crate) fn put(block: &mut MBlock, at: usize, bytes: &[u8]) {
    if let Some(dst) = block.get_mut(at..at.saturating_add(bytes.len())) {
        dst.copy_from_slice(bytes);
    }
}

/// The `N` bytes at `at` (zeros past the end).
pub(crate) fn get<const N: usize>(block: &MBlock, at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = block.get(at..at.saturating_add(N)) {
        out.copy_from_slice(src);
    }
    out
}

pub(crate) fn get_u32(block: &MBlock, at: usize) -> u32 {
    u32::from_le_bytes(get(block, at))
}

pub(crate) fn get_u64(block: &MBlock, at: usize) -> u64 {
    u64::from_le_bytes(get(block, at))
}

/// The CRC-32C of `block` with its 4-byte checksum field at `at` read as zero.
pub(crate) fn crc_without_field(block: &MBlock, at: usize) -> u32 {
    let (head, rest) = block.split_at(at.min(MBLOCK_BYTES));
    let tail = rest.get(4..).unwrap_or(&[]);
    checksum(&[head, &[0u8; 4], tail])
}
