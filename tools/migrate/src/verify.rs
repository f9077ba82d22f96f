// SPDX-License-Identifier: GPL-2.0

//! `--verify`: source and destination compared byte for byte, read with
//! O_DIRECT so that no stale page cache of either device can agree (or
//! disagree) in the media's place.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Bytes read per step.
const STEP: usize = 1 << 20;
/// O_DIRECT buffer alignment (a page: covers every logical block size).
const ALIGN: usize = 4096;

fn open_direct(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .map_err(|e| Error::new(format!("{}: {e}", path.display())))
}

/// A `len`-byte window of `buf` aligned for O_DIRECT.
fn aligned(buf: &mut [u8], len: usize) -> &mut [u8] {
    let off = buf.as_ptr().align_offset(ALIGN).min(ALIGN);
    &mut buf[off..off + len]
}

fn read_full(f: &mut File, buf: &mut [u8], path: &Path) -> Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match f.read(&mut buf[done..]) {
            Ok(0) => return Err(Error::new(format!("{}: ends early", path.display()))),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::new(format!("{}: {e}", path.display()))),
        }
    }
    Ok(())
}

/// Compares the first `sectors` of `a` and `b`. `Err` names the first
/// sector that differs.
pub fn compare(a: &Path, b: &Path, sectors: u64) -> Result<()> {
    let (mut fa, mut fb) = (open_direct(a)?, open_direct(b)?);
    let mut ba = vec![0u8; STEP + ALIGN];
    let mut bb = vec![0u8; STEP + ALIGN];
    let total = sectors.saturating_mul(512);
    let mut pos = 0u64;
    while pos < total {
        // Devices are whole sectors; a step ends on one.
        let len = usize::try_from((total - pos).min(STEP as u64)).unwrap_or(STEP);
        let (wa, wb) = (aligned(&mut ba, len), aligned(&mut bb, len));
        read_full(&mut fa, wa, a)?;
        read_full(&mut fb, wb, b)?;
        if let Some(i) = wa.iter().zip(wb.iter()).position(|(x, y)| x != y) {
            let sector = (pos + i as u64) / 512;
            return Err(Error::new(format!(
                "{} and {} differ at sector {sector}",
                a.display(),
                b.display()
            )));
        }
        pos += len as u64;
    }
    Ok(())
}
