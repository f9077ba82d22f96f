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
    /// Its node in /dev (the kernel's name for it).
    fn node(&self, dev: DiskId) -> Result<String>;
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

    fn node(&self, dev: DiskId) -> Result<String> {
        let path = sys(dev).join("uevent");
        let text = fs::read_to_string(&path)
            .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
        text.lines()
            .find_map(|l| l.strip_prefix("DEVNAME="))
            .map(|name| format!("/dev/{name}"))
            .ok_or_else(|| Error::new(format!("{}: no DEVNAME", path.display())))
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

/// What a low-level probe of a block device found on it: file systems,
/// partition tables, RAID, LVM or LUKS signatures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Signatures {
    /// One description a signature, as `blkid -p` names it.
    pub found: Vec<String>,
}

/// Describes the `KEY=value` lines of `blkid -p -o export`: a file system
/// or a RAID/LVM/LUKS member (`TYPE`, `USAGE`), a partition table (`PTTYPE`).
pub fn parse_blkid_export(text: &str) -> Signatures {
    let mut kind = None;
    let mut usage = None;
    let mut found = Vec::new();
    for line in text.lines() {
        match line.split_once('=') {
            Some(("TYPE", v)) => kind = Some(v.to_string()),
            Some(("USAGE", v)) => usage = Some(v.to_string()),
            Some(("PTTYPE", v)) => found.push(format!("a {v} partition table")),
            _ => {}
        }
    }
    if let Some(kind) = kind {
        let what = match (kind.as_str(), usage.as_deref()) {
            ("LVM2_member", _) => "an LVM physical volume".to_string(),
            ("linux_raid_member", _) => "an md RAID member".to_string(),
            ("crypto_LUKS", _) => "a LUKS volume".to_string(),
            (k, Some("filesystem")) => format!("a file system ({k})"),
            (k, Some(u)) => format!("{k} ({u})"),
            (k, None) => k.to_string(),
        };
        found.insert(0, what);
    }
    Signatures { found }
}

/// What `blkid -p -o export` said of a device: its exit status (0: found,
/// 2: nothing, 8: more than one signature it cannot tell apart) and its
/// `KEY=value` lines but the device's own name, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    pub code: i32,
    pub lines: Vec<String>,
}

impl Probe {
    /// From blkid's exit status and output.
    pub fn new(code: i32, stdout: &str) -> Self {
        let lines = stdout
            .lines()
            .filter(|l| !l.starts_with("DEVNAME="))
            .map(str::to_string)
            .collect();
        Self { code, lines }
    }

    /// Whether blkid found nothing on the device.
    pub fn is_blank(&self) -> bool {
        self.code == 2
    }

    /// What it found, for a message.
    pub fn describe(&self) -> String {
        let found = parse_blkid_export(&self.lines.join("\n")).found;
        if self.code == 0 && !found.is_empty() {
            found.join(" and ")
        } else {
            format!(
                "signatures blkid cannot tell apart (blkid exit {})",
                self.code
            )
        }
    }
}

/// Probes `path` with `blkid -p` (libblkid's low-level probe, which reads
/// the device itself rather than a cache); `Err` if blkid cannot run or
/// fails for another reason than what it found.
pub fn probe(path: &Path) -> Result<Probe> {
    // The device's page cache may hold blocks read before the device was
    // written through another node (udev's probe of a device over a loop
    // written directly): dropped first, where the caller may.
    let _ = std::process::Command::new("blockdev")
        .arg("--flushbufs")
        .arg(path)
        .output();
    let out = std::process::Command::new("blkid")
        .args(["-p", "-o", "export"])
        .arg(path)
        .output()
        .map_err(|e| {
            Error::new(format!(
                "cannot probe {} for data (blkid from util-linux: {e}); pass --force to skip the probe",
                path.display()
            ))
        })?;
    match out.status.code() {
        Some(code @ (0 | 2 | 8)) => Ok(Probe::new(code, &String::from_utf8_lossy(&out.stdout))),
        _ => Err(Error::new(format!(
            "cannot probe {} for data: blkid said {}; pass --force to skip the probe",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

/// What a low-level probe finds on `path` (as `probe`).
pub fn probe_signatures(path: &Path) -> Result<Signatures> {
    let p = probe(path)?;
    match p.code {
        0 => Ok(parse_blkid_export(&p.lines.join("\n"))),
        2 => Ok(Signatures::default()),
        _ => Ok(Signatures {
            found: vec![p.describe()],
        }),
    }
}

/// Why a destination that holds a partial copy of the source, probed as
/// `dest`, holds data the source (probed as `source`) does not: `None` if
/// it is blank or shows what the source shows (a signature the copy
/// brought over, as every block the checkpoint holds is the source's).
pub fn foreign_data(dest: &Probe, source: &Probe) -> Option<String> {
    (!dest.is_blank() && dest != source).then(|| dest.describe())
}

/// Why `dev` may have been written since it appeared (created, activated
/// or attached), from its IO counters in sysfs; `None`: it was not.
/// Writes and discards, completed or in flight, count; a device whose
/// counters are off (`queue/iostats` 0) or unreadable proves nothing.
pub fn written_since_created(dev: DiskId) -> Option<String> {
    let dir = sys(dev);
    // A partition's queue is its disk's.
    let iostats = fs::read_to_string(dir.join("queue/iostats"))
        .or_else(|_| fs::read_to_string(dir.join("../queue/iostats")));
    match iostats.as_deref().map(str::trim) {
        Ok("1") => {}
        _ => {
            return Some(format!(
                "{dev} does not count its IO (queue/iostats is off)"
            ))
        }
    }
    let Ok(stat) = fs::read_to_string(dir.join("stat")) else {
        return Some(format!("{dev}: cannot read its IO counters"));
    };
    match written_in_stat(&stat)? {
        u64::MAX => Some(format!("{dev}: cannot read its IO counters")),
        n => Some(format!(
            "{dev} took {n} writes, discards or IOs in flight since it appeared"
        )),
    }
}

/// The writes, discards and IOs in flight that a sysfs `stat` line counts
/// (Documentation/block/stat.rst: fields 5, 9 and 12); `None` if none.
/// A line that cannot be read counts as written (`u64::MAX`).
pub fn written_in_stat(stat: &str) -> Option<u64> {
    let fields: Vec<u64> = stat
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(u64::MAX))
        .collect();
    if fields.len() < 11 {
        return Some(u64::MAX);
    }
    let n = [4, 8, 11]
        .iter()
        .filter_map(|&i| fields.get(i))
        .fold(0u64, |a, &b| a.saturating_add(b));
    (n > 0).then_some(n)
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A name of `dev` that outlives its device number across a reboot: a
/// device-mapper device's uuid (or, without one, its name), a loop
/// device's backing file, a disk's WWID or serial, a partition's number on
/// its disk's; `None` for a device with none of these.
pub fn stable_id(dev: DiskId) -> Option<String> {
    let dir = sys(dev);
    if let Some(uuid) = read_trimmed(&dir.join("dm/uuid")) {
        return Some(format!("dm-uuid:{uuid}"));
    }
    if let Some(name) = read_trimmed(&dir.join("dm/name")) {
        return Some(format!("dm-name:{name}"));
    }
    if let Some(file) = read_trimmed(&dir.join("loop/backing_file")) {
        return Some(format!("loop:{file}"));
    }
    if let Some(n) = read_trimmed(&dir.join("partition")) {
        let disk = read_dev(&dir.join("../dev")).ok()?;
        return Some(format!("{} partition {n}", stable_id(disk)?));
    }
    // SCSI and NVMe: a WWID; virtio-blk: the disk's serial.
    ["wwid", "device/wwid", "serial", "device/serial"]
        .iter()
        .find_map(|f| read_trimmed(&dir.join(f)))
        .map(|id| format!("disk:{id}"))
}

/// `dev` and every block device under it (its dm or md slaves, a
/// partition's disk), down to the disks.
pub fn stack_below(dev: DiskId) -> Vec<DiskId> {
    let mut seen = vec![dev];
    let mut next = 0;
    while let Some(&d) = seen.get(next) {
        next += 1;
        let dir = sys(d);
        let mut below: Vec<DiskId> = fs::read_dir(dir.join("slaves"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| read_dev(&e.path().join("dev")).ok())
            .collect();
        if dir.join("partition").exists() {
            below.extend(read_dev(&dir.join("../dev")).ok());
        }
        for b in below {
            if !seen.contains(&b) && seen.len() < 64 {
                seen.push(b);
            }
        }
    }
    seen
}
