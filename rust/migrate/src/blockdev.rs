// SPDX-License-Identifier: GPL-2.0

//! Block devices as sysfs describes them: sizes, partitions, and the
//! exclusive-open test of "is anyone using it".

use crate::error::{Error, Result};
use iofollow_policy::table::DiskId;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What the migration asks about block devices.
pub trait Blocks {
    /// Size in 512-byte sectors.
    fn sectors(&self, dev: DiskId) -> Result<u64>;
    /// For a partition: its whole disk and its start on it.
    fn partition(&self, dev: DiskId) -> Result<Option<(DiskId, u64)>>;
}

/// The running system's `/sys/dev/block`.
pub struct Sysfs;

fn sys(dev: DiskId) -> PathBuf {
    PathBuf::from(format!("/sys/dev/block/{dev}"))
}

fn read_number(path: &Path) -> Result<u64> {
    let text =
        fs::read_to_string(path).map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
    text.trim()
        .parse()
        .map_err(|_| Error::new(format!("{}: not a number", path.display())))
}

fn read_dev(path: &Path) -> Result<DiskId> {
    let text =
        fs::read_to_string(path).map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
    DiskId::parse(text.trim())
        .ok_or_else(|| Error::new(format!("{}: not <major>:<minor>", path.display())))
}

impl Blocks for Sysfs {
    fn sectors(&self, dev: DiskId) -> Result<u64> {
        read_number(&sys(dev).join("size"))
    }

    fn partition(&self, dev: DiskId) -> Result<Option<(DiskId, u64)>> {
        let dir = sys(dev);
        if !dir.join("partition").exists() {
            return Ok(None);
        }
        let start = read_number(&dir.join("start"))?;
        // /sys/dev/block/M:m links to .../block/<disk>/<partition>.
        let real = fs::canonicalize(&dir)?;
        let parent = real
            .parent()
            .ok_or_else(|| Error::new(format!("{}: partition without a disk", real.display())))?;
        Ok(Some((read_dev(&parent.join("dev"))?, start)))
    }
}

/// The device number of the block device at `path`.
pub fn device_number(path: &Path) -> Result<DiskId> {
    let meta = fs::metadata(path).map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
    if !meta.file_type().is_block_device() {
        return Err(Error::new(format!(
            "{} is not a block device",
            path.display()
        )));
    }
    let rdev = meta.rdev();
    Ok(DiskId {
        major: libc::major(rdev),
        minor: libc::minor(rdev),
    })
}

/// Fails if something holds `path` open exclusively: a mounted filesystem,
/// a device-mapper table, md, or another migration.
pub fn ensure_unused(path: &Path) -> Result<()> {
    match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_EXCL)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Err(Error::new(format!(
            "{} is in use (mounted, or part of another device): refusing to overwrite it",
            path.display()
        ))),
        Err(e) => Err(Error::new(format!("{}: {e}", path.display()))),
    }
}
