// SPDX-License-Identifier: GPL-2.0

//! What the emulated disk holds.
//!
//! *Data-less* (benchmarks): reads return [`DATALESS_BYTE`] everywhere,
//! writes are dropped, so a whole 1 TB disk costs no memory and a read costs
//! no CPU beyond the kernel's copy (under TCG, filling a 1 MiB position
//! pattern cost milliseconds per copy read). *Sparse* (tests): written 4 KiB
//! pages are kept in memory over [`pattern`], so the disk reads back what
//! was written and a read of the wrong place is visible.

use std::collections::HashMap;

const PAGE: usize = 4096;
const SECTOR: usize = 512;

/// The deterministic content of an unwritten sector: every 8-byte word is
/// the sector number, so a read of the wrong place is visible.
pub fn pattern(sector: u64, out: &mut [u8]) {
    let word = sector.to_le_bytes();
    for w in out.chunks_mut(8) {
        w.copy_from_slice(&word[..w.len()]);
    }
}

/// What every byte of a data-less disk reads as.
pub const DATALESS_BYTE: u8 = 0xa5;

/// Backing of the emulated disk.
pub enum Store {
    DataLess,
    Sparse(HashMap<u64, Box<[u8; PAGE]>>),
}

impl Store {
    pub fn read(&self, lba: u64, out: &mut [u8]) {
        if let Store::DataLess = self {
            out.fill(DATALESS_BYTE);
            return;
        }
        for (i, sector) in out.chunks_mut(SECTOR).enumerate() {
            let s = lba + i as u64;
            match self {
                Store::Sparse(pages) => match pages.get(&(s / 8)) {
                    Some(page) => {
                        let off = (s % 8) as usize * SECTOR;
                        sector.copy_from_slice(&page[off..off + sector.len()]);
                    }
                    None => pattern(s, sector),
                },
                Store::DataLess => {}
            }
        }
    }

    pub fn write(&mut self, lba: u64, data: &[u8]) {
        let Store::Sparse(pages) = self else { return };
        for (i, sector) in data.chunks(SECTOR).enumerate() {
            let s = lba + i as u64;
            let page = pages.entry(s / 8).or_insert_with(|| {
                let mut p = Box::new([0u8; PAGE]);
                for k in 0..8u64 {
                    let off = k as usize * SECTOR;
                    pattern((s / 8) * 8 + k, &mut p[off..off + SECTOR]);
                }
                p
            });
            let off = (s % 8) as usize * SECTOR;
            page[off..off + sector.len()].copy_from_slice(sector);
        }
    }

    /// Discard and write-zeroes: the range reads back as zeroes.
    pub fn zero(&mut self, lba: u64, sectors: u64) {
        if let Store::Sparse(_) = self {
            let zeroes = vec![0u8; SECTOR];
            for s in lba..lba + sectors {
                self.write(s, &zeroes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_reads_back_writes_over_the_pattern() {
        let mut st = Store::Sparse(HashMap::new());
        st.write(9, &[0xab; 1024]);
        let mut got = vec![0u8; 4 * SECTOR];
        st.read(8, &mut got);
        let mut want = vec![0u8; 4 * SECTOR];
        pattern(8, &mut want[..SECTOR]);
        want[SECTOR..3 * SECTOR].fill(0xab);
        pattern(11, &mut want[3 * SECTOR..]);
        assert_eq!(got, want);
        st.zero(10, 1);
        st.read(10, &mut got[..SECTOR]);
        assert!(got[..SECTOR].iter().all(|&b| b == 0));
    }

    #[test]
    fn data_less_drops_writes() {
        let mut st = Store::DataLess;
        st.write(0, &[1; SECTOR]);
        let mut got = vec![0u8; SECTOR];
        st.read(0, &mut got);
        assert!(got.iter().all(|&b| b == DATALESS_BYTE));
    }
}
