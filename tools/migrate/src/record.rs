// SPDX-License-Identifier: GPL-2.0

//! A migration's record on the host, kept across a reboot: the target's
//! metadata device (a small file attached as a loop device;
//! Documentation/iofollow.rst, "On-disk metadata") and what the run was
//! asked for, so that a later run carries the copy on from the metadata's
//! checkpoint instead of from the first block.
//!
//! In the state directory (`/var/lib/iofollow-migrate`, or
//! `$IOFOLLOW_MIGRATE_STATE_DIR`) a migration of dm device `<live>` has
//! `<live>.meta`, the metadata, and `<live>.record`, the text below,
//! written after the metadata and removed before it.

use crate::command::output_of;
use crate::error::{Error, Result};
use crate::table::{CopyOptions, Linear, Segment};
use iofollow_policy::ratio::Ratio;
use iofollow_policy::select::PolicyKind;
use iofollow_policy::superblock::{Layout, MBLOCK_SECTORS, SUPERBLOCK_SLOTS};
use iofollow_policy::table::{DiskId, TableConfig};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Overrides the state directory (the in-guest tests keep theirs apart).
pub const STATE_DIR_ENV: &str = "IOFOLLOW_MIGRATE_STATE_DIR";
const STATE_DIR: &str = "/var/lib/iofollow-migrate";
const FORMAT: &str = "iofollow-migrate record 1";

/// The state directory.
pub fn state_dir() -> PathBuf {
    std::env::var_os(STATE_DIR_ENV).map_or_else(|| PathBuf::from(STATE_DIR), PathBuf::from)
}

/// What a migration in progress was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The live device's dm name.
    pub live: String,
    /// The destination as the operator named it (for a move within an
    /// LVM group, the physical volume).
    pub destination: String,
    /// The live device's table when the migration began.
    pub original: Segment,
    /// The copy's settings.
    pub copy: CopyOptions,
    /// What the original table maps, and the destination, by names that
    /// outlive device numbers (`blockdev::stable_id`), if they have one.
    pub source_id: Option<String>,
    /// See `source_id`.
    pub destination_id: Option<String>,
}

fn file(live: &str, ext: &str) -> PathBuf {
    state_dir().join(format!("{live}.{ext}"))
}

/// The metadata file of the migration of `live`.
pub fn metadata_file(live: &str) -> PathBuf {
    file(live, "meta")
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::new(format!("{what} {}: {e}", path.display()))
}

fn sync_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, "cannot sync", e))
}

impl Record {
    /// The record as text.
    pub fn to_text(&self) -> String {
        let c = &self.copy;
        let mut out = format!(
            "{FORMAT}\ndevice {}\ndestination {}\noriginal {} {}\nchunk_sectors {}\nshared_head {}\n",
            self.live,
            self.destination,
            self.original.len,
            self.original.params,
            c.chunk_sectors,
            if c.shared_head { "yes" } else { "no" },
        );
        if let Some(r) = c.ratio {
            out += &format!("ratio {r}\n");
        }
        if let Some(p) = c.policy {
            out += &format!("policy {p}\n");
        }
        if let Some(m) = c.cache_mib {
            out += &format!("cache_mib {m}\n");
        }
        if let Some(d) = c.deadline_s {
            out += &format!("deadline_s {d}\n");
        }
        if let Some(id) = &self.source_id {
            out += &format!("source_id {id}\n");
        }
        if let Some(id) = &self.destination_id {
            out += &format!("destination_id {id}\n");
        }
        out
    }

    /// Reads [`Record::to_text`] back; `None` if it is not one.
    pub fn from_text(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()? != FORMAT {
            return None;
        }
        let (mut live, mut destination, mut original) = (None, None, None);
        let (mut chunk, mut shared_head) = (None, None);
        let (mut source_id, mut destination_id) = (None, None);
        let mut copy = CopyOptions {
            chunk_sectors: 0,
            ratio: None,
            policy: None,
            cache_mib: None,
            deadline_s: None,
            shared_head: false,
        };
        for line in lines {
            let (key, value) = line.split_once(' ')?;
            match key {
                "device" => live = Some(value.to_string()),
                "destination" => destination = Some(value.to_string()),
                "original" => {
                    let (len, params) = value.split_once(' ')?;
                    let lin = Linear::parse(params)?;
                    original = Some(Segment::linear(len.parse().ok()?, lin.dev, lin.offset));
                }
                "chunk_sectors" => chunk = Some(value.parse().ok()?),
                "shared_head" => shared_head = Some(value == "yes"),
                "ratio" => copy.ratio = Some(Ratio::parse(value)?),
                "policy" => copy.policy = Some(PolicyKind::from_name(value)?),
                "cache_mib" => copy.cache_mib = Some(value.parse().ok()?),
                "deadline_s" => copy.deadline_s = Some(value.parse().ok()?),
                "source_id" => source_id = Some(value.to_string()),
                "destination_id" => destination_id = Some(value.to_string()),
                _ => return None,
            }
        }
        copy.chunk_sectors = chunk?;
        copy.shared_head = shared_head?;
        Some(Self {
            live: live?,
            destination: destination?,
            original: original?,
            copy,
            source_id,
            destination_id,
        })
    }

    /// The record of the migration of `live`, if one is kept.
    pub fn load(live: &str) -> Result<Option<Self>> {
        let path = file(live, "record");
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path, "cannot read", e)),
        };
        match Self::from_text(&text) {
            Some(r) if r.live == live => Ok(Some(r)),
            _ => Err(Error::new(format!(
                "{} is not a record of iofollow-migrate for {live}: move it away",
                path.display()
            ))),
        }
    }

    /// Creates the migration's metadata file, empty (zeros: a new device
    /// to the target), sized for the map of the copy's blocks, then
    /// writes the record durably. Fails if either exists, or if the state
    /// directory's file system is on one of `devices` (the migration's
    /// own: the target's metadata writes would go through the device it
    /// suspends).
    pub fn create(&self, devices: &[DiskId]) -> Result<()> {
        let dir = state_dir();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| io_error(&dir, "cannot create the state directory", e))?;
        let fs_dev = fs::metadata(&dir)
            .map_err(|e| io_error(&dir, "cannot read", e))?
            .dev();
        let on = DiskId {
            major: libc::major(fs_dev),
            minor: libc::minor(fs_dev),
        };
        if let Some(d) = crate::blockdev::stack_below(on)
            .into_iter()
            .find(|d| devices.contains(d))
        {
            return Err(Error::new(format!(
                "{} is on {on}, which is on {d}, a device of the migration",
                dir.display()
            )));
        }
        let block = TableConfig::new("", "", self.copy.chunk_sectors).block_sectors();
        let blocks = self.original.len.div_ceil(block.max(1));
        let bytes = Layout::for_blocks(blocks)
            .min_sectors()
            .max((SUPERBLOCK_SLOTS + 1) * MBLOCK_SECTORS)
            .saturating_mul(512);
        let meta = metadata_file(&self.live);
        if meta.exists() && Self::load(&self.live)?.is_none() {
            // Left by a run that ended between the two removals of
            // `forget`, or died before its record was written.
            forget(&self.live)?;
        }
        let m = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&meta)
            .map_err(|e| io_error(&meta, "cannot create the metadata file", e))?;
        m.set_len(bytes)
            .and_then(|()| m.sync_all())
            .map_err(|e| io_error(&meta, "cannot size", e))?;
        let path = file(&self.live, "record");
        let tmp = file(&self.live, "record.new");
        fs::File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(self.to_text().as_bytes())?;
                f.sync_all()
            })
            .map_err(|e| io_error(&tmp, "cannot write", e))?;
        fs::rename(&tmp, &path).map_err(|e| io_error(&path, "cannot write", e))?;
        sync_dir(&dir)
    }
}

fn losetup(args: &[&str]) -> Result<String> {
    output_of(
        Command::new("losetup").args(args),
        &format!("losetup {}", args.join(" ")),
    )
}

/// The loop devices over `meta`.
fn loops_of(meta: &Path) -> Result<Vec<String>> {
    let name = meta.to_string_lossy();
    Ok(losetup(&["-n", "-O", "NAME", "-j", &name])?
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// The loop device over the metadata file of `live`, attached (with direct
/// IO: its writes and flushes reach the file) unless it is already.
pub fn attach(live: &str) -> Result<PathBuf> {
    let meta = metadata_file(live);
    if let Some(dev) = loops_of(&meta)?.into_iter().next() {
        return Ok(PathBuf::from(dev));
    }
    let name = meta.to_string_lossy();
    let dev = losetup(&["--find", "--show", "--direct-io=on", &name])?;
    Ok(PathBuf::from(dev.trim()))
}

/// Withdraws the checkpoint on metadata device `dev`, which no table
/// uses: both superblock slots zeroed (the target then sees a new
/// device and copies every block), with a flush.
pub fn withdraw(dev: &Path) -> Result<()> {
    let zeros = AlignedZeros::new();
    let mut f = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(dev)
        .map_err(|e| io_error(dev, "cannot open", e))?;
    f.write_all(zeros.bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| io_error(dev, "cannot withdraw the checkpoint on", e))
}

/// The superblock slots' bytes of zeros, aligned for `O_DIRECT`.
struct AlignedZeros(Vec<u8>);

const SLOTS_BYTES: usize = (SUPERBLOCK_SLOTS * MBLOCK_SECTORS * 512) as usize;
const ALIGN: usize = 4096;

impl AlignedZeros {
    fn new() -> Self {
        Self(vec![0; SLOTS_BYTES + ALIGN])
    }

    fn bytes(&self) -> &[u8] {
        let skip = self.0.as_ptr().align_offset(ALIGN).min(ALIGN);
        &self.0[skip..skip + SLOTS_BYTES]
    }
}

/// Ends the record of `live`: its loop devices detached (no table may use
/// them), the record and the metadata removed. Nothing kept: `Ok`.
pub fn forget(live: &str) -> Result<()> {
    let meta = metadata_file(live);
    // The record first, durably: without it no run loads the metadata
    // again, whatever fails below.
    remove(&file(live, "record"))?;
    sync_dir(&state_dir())?;
    if meta.exists() {
        for dev in loops_of(&meta)? {
            losetup(&["-d", &dev])?;
        }
    }
    remove(&meta)
}

fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(path, "cannot remove", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            live: "vg0-vm7".into(),
            destination: "/dev/sdc".into(),
            original: Segment::linear(
                2_097_152,
                DiskId {
                    major: 8,
                    minor: 16,
                },
                2048,
            ),
            copy: CopyOptions {
                chunk_sectors: 2048,
                ratio: Ratio::new(4, 1),
                policy: Some(PolicyKind::Sequential),
                cache_mib: Some(64),
                deadline_s: Some(600),
                shared_head: true,
            },
            source_id: Some("disk:0x5000c500a1b2c3d4".into()),
            destination_id: Some("dm-uuid:LVM-abc".into()),
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let r = record();
        assert_eq!(Record::from_text(&r.to_text()), Some(r.clone()));
        let plain = Record {
            copy: CopyOptions {
                ratio: None,
                policy: None,
                cache_mib: None,
                deadline_s: None,
                shared_head: false,
                ..r.copy.clone()
            },
            source_id: None,
            destination_id: None,
            ..r
        };
        assert_eq!(Record::from_text(&plain.to_text()), Some(plain));
    }

    #[test]
    fn anything_else_is_not_a_record() {
        let text = record().to_text();
        assert_eq!(Record::from_text(""), None);
        assert_eq!(
            Record::from_text(&text.replace("record 1", "record 2")),
            None
        );
        assert_eq!(
            Record::from_text(&text.replace("original ", "origin ")),
            None
        );
        assert_eq!(Record::from_text(&text.replace("8:16 2048", "8:16")), None);
        assert_eq!(
            Record::from_text(&text.replace("ratio 4:1", "ratio 4")),
            None
        );
        let no_dest: String = text
            .lines()
            .filter(|l| !l.starts_with("destination"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(Record::from_text(&no_dest), None);
    }

    #[test]
    fn the_metadata_file_holds_the_map() {
        let dir = std::env::temp_dir().join(format!("iofollow-record-{}", std::process::id()));
        std::env::set_var(STATE_DIR_ENV, &dir);
        let r = record();
        r.create(&[]).unwrap();
        assert_eq!(Record::load("vg0-vm7").unwrap(), Some(r.clone()));
        // 1 GiB of 64 KiB blocks: two superblock slots and one bitmap page.
        let bytes = fs::metadata(metadata_file("vg0-vm7")).unwrap().len();
        assert_eq!(bytes, 3 * 4096);
        assert!(r.create(&[]).is_err(), "a second record over the first");
        assert_eq!(Record::load("vg0-vm8").unwrap(), None);
        forget("vg0-vm7").unwrap();
        assert_eq!(Record::load("vg0-vm7").unwrap(), None);
        assert!(!metadata_file("vg0-vm7").exists());
        forget("vg0-vm7").unwrap();
        // A metadata file without its record (a run died between the two)
        // is not a migration: a new one replaces it.
        fs::write(metadata_file("vg0-vm7"), b"left").unwrap();
        r.create(&[]).unwrap();
        assert_eq!(
            fs::metadata(metadata_file("vg0-vm7")).unwrap().len(),
            3 * 4096
        );
        forget("vg0-vm7").unwrap();
        fs::remove_dir(&dir).unwrap();
    }
}
