// SPDX-License-Identifier: GPL-2.0

//! Reading a metadata device by 4 KiB metadata blocks, with O_DIRECT: the
//! target writes it with dm-io, past the page cache, so a buffered read
//! could return blocks cached before (udev's probes leave such). A file on
//! a filesystem without O_DIRECT (tmpfs) is read through the cache.

use iofollow_policy::superblock::MBLOCK_BYTES;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// An open metadata device or image.
pub struct Device {
    file: File,
    bytes: u64,
    /// Room for one block at a 4 KiB-aligned offset (O_DIRECT's alignment).
    buf: Vec<u8>,
}

impl Device {
    /// Opens `path` read-only.
    pub fn open(path: &Path) -> io::Result<Self> {
        let direct = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path);
        let mut file = match direct {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => File::open(path)?,
            r => r?,
        };
        // The size of a block device too (its end), unlike metadata().len().
        let bytes = file.seek(SeekFrom::End(0))?;
        Ok(Self {
            file,
            bytes,
            buf: vec![0; MBLOCK_BYTES * 2],
        })
    }

    /// Size in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        self.bytes / 512
    }

    /// Metadata block `n`, or `None` past the end of the device.
    pub fn block(&mut self, n: u64) -> io::Result<Option<[u8; MBLOCK_BYTES]>> {
        let Some(at) = n.checked_mul(MBLOCK_BYTES as u64) else {
            return Ok(None);
        };
        if at.saturating_add(MBLOCK_BYTES as u64) > self.bytes {
            return Ok(None);
        }
        let skew = self.buf.as_ptr() as usize % MBLOCK_BYTES;
        let start = (MBLOCK_BYTES - skew) % MBLOCK_BYTES;
        let aligned = &mut self.buf[start..start + MBLOCK_BYTES];
        self.file.read_exact_at(aligned, at)?;
        let mut out = [0u8; MBLOCK_BYTES];
        out.copy_from_slice(aligned);
        Ok(Some(out))
    }
}
