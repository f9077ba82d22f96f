// SPDX-License-Identifier: GPL-2.0

//! Moving an LVM volume onto another physical volume of its own group, with
//! LVM's metadata following the data (Documentation/iofollow-migrate.rst,
//! "LVM volumes"):
//!
//! 1. `lvcreate` a temporary twin `<lv>_iofollow` (tag `iofollow_migrate`)
//!    of the same size, contiguous, on the destination PV: LVM allocates
//!    the extents, and the copy fills them through the twin;
//! 2. at the switch-over, with the volume suspended and `synced`, commit
//!    metadata in which the volume and its twin trade extents, under the
//!    group's lock (`vgcfgbackup`, one edit, `vgcfgrestore`);
//! 3. load the volume's linear table on its new extents and resume;
//! 4. `lvremove` the twin, which now names the old extents: LVM frees them.
//!
//! While the iofollow table is live, the source is authoritative and the
//! metadata names it; the metadata names the destination only from a
//! moment when the suspended device is synced (both legs hold every
//! acknowledged write). A crash between any two steps leaves metadata that
//! names a leg holding every acknowledged write; `settle` finishes or
//! undoes what a killed run left.

use crate::blockdev::device_number;
use crate::command::output_of;
use crate::error::{Error, Result};
use crate::lvm_text;
use iofollow_policy::table::DiskId;
use nix::fcntl::{Flock, FlockArg};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tag of the temporary volume: only a tagged twin is ever removed.
pub const TEMP_TAG: &str = "iofollow_migrate";

/// An LVM logical volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// Its volume group.
    pub vg: String,
    /// Its name in the group.
    pub lv: String,
}

impl Volume {
    /// `vg/lv`, as LVM's commands take it.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.vg, self.lv)
    }

    /// Its temporary twin on the destination.
    pub fn twin(&self) -> Volume {
        Volume {
            vg: self.vg.clone(),
            lv: format!("{}_iofollow", self.lv),
        }
    }

    /// Its device node, `/dev/<vg>/<lv>`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/dev/{}/{}", self.vg, self.lv))
    }
}

/// The volume behind an LVM device-mapper name: LVM joins group and volume
/// with `-` and doubles every `-` inside them (lvm2's `dm_build_dm_name`).
pub fn volume_of_dm_name(name: &str) -> Option<Volume> {
    let mut parts = vec![String::new()];
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '-' {
            if chars.peek() == Some(&'-') {
                chars.next();
                parts.last_mut()?.push('-');
            } else {
                parts.push(String::new());
            }
        } else {
            parts.last_mut()?.push(c);
        }
    }
    // A third part is a layer (`-real`, `-cow`, `-tpool`): not a plain volume.
    match parts.as_slice() {
        [vg, lv] if !vg.is_empty() && !lv.is_empty() => Some(Volume {
            vg: vg.clone(),
            lv: lv.clone(),
        }),
        _ => None,
    }
}

/// What a destination is to LVM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PvOf {
    /// Not a physical volume.
    NotPv,
    /// A physical volume in no group.
    Orphan,
    /// A physical volume of this group.
    Group(String),
}

/// Runs an LVM command; its stdout, or an error with its stderr. It runs
/// in a process group of its own: a Ctrl-C at the terminal asks the tool
/// to stop (which it does between steps), and must not kill a
/// vgcfgrestore half-way (with --nolocking, LVM does not block signals
/// around its metadata write itself).
fn lvm(args: &[&str]) -> Result<String> {
    output_of(
        Command::new("lvm")
            .args(args)
            // Our descriptors are not LVM's business.
            .env("LVM_SUPPRESS_FD_WARNINGS", "1")
            .process_group(0),
        &format!("lvm {}", args.join(" ")),
    )
}

/// An `lvs` report; `None` when the volume does not exist.
fn lvs(args: &[&str]) -> Result<Option<String>> {
    match lvm(args) {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.to_string().contains("Failed to find logical volume") => Ok(None),
        Err(e) => Err(e),
    }
}

/// What `path` is to LVM.
pub fn pv_of(path: &Path) -> Result<PvOf> {
    let p = path.to_string_lossy();
    // Not a PV, or no LVM on the machine: nothing is a physical volume to it.
    let Ok(out) = lvm(&["pvs", "--noheadings", "-o", "vg_name", &p]) else {
        return Ok(PvOf::NotPv);
    };
    let vg = out.trim().to_string();
    Ok(if vg.is_empty() {
        PvOf::Orphan
    } else {
        PvOf::Group(vg)
    })
}

/// The volumes with extents on the physical volume at `path`, when it is
/// one of a group (`None`: not a PV of a group, not a whole-PV move).
pub fn volumes_on_pv(path: &Path) -> Result<Option<Vec<Volume>>> {
    let Ok(pv) = device_number(path) else {
        return Ok(None);
    };
    let PvOf::Group(vg) = pv_of(path)? else {
        return Ok(None);
    };
    let out = lvm(&[
        "lvs",
        "--noheadings",
        "--separator",
        ":",
        "-o",
        "lv_name,lv_tags,devices",
        &vg,
    ])?;
    let mut found = Vec::new();
    for line in out.lines() {
        let mut fields = line.trim().splitn(3, ':');
        let (Some(lv), Some(tags), Some(devices)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        // A twin left by a killed run is not a volume to move: 'abort' settles it.
        if tags.split(',').any(|t| t == TEMP_TAG) {
            continue;
        }
        // `/dev/sdb(0),/dev/sdc(12)`: any segment on this PV.
        let on_pv = devices.split(',').any(|d| {
            let p = d.split('(').next().unwrap_or("");
            !p.is_empty() && device_number(Path::new(p)).is_ok_and(|d| d == pv)
        });
        let v = Volume {
            vg: vg.clone(),
            lv: lv.to_string(),
        };
        if on_pv && !found.contains(&v) {
            found.push(v);
        }
    }
    if found.is_empty() {
        return Err(Error::new(format!(
            "{} is a physical volume of {vg} with no logical volume on it: nothing to move",
            path.display()
        )));
    }
    Ok(Some(found))
}

/// Where a volume lies: the device of its one segment's physical volume.
/// `extra`: options of a command run under the group's lock.
fn placement(v: &Volume, extra: &[&str]) -> Result<Option<DiskId>> {
    placement_and_path(v, extra).map(|p| p.map(|(dev, _)| dev))
}

/// [`placement`], and the physical volume's path as LVM names it.
fn placement_and_path(v: &Volume, extra: &[&str]) -> Result<Option<(DiskId, String)>> {
    let name = v.full_name();
    let mut args = vec!["lvs", "--noheadings", "-o", "devices"];
    args.extend_from_slice(extra);
    args.push(&name);
    let Some(out) = lvs(&args)? else {
        return Ok(None);
    };
    let line = out.trim();
    let dev = line.split_whitespace().next().unwrap_or("");
    // `/dev/loop1(12)`: the PV and its first extent.
    let path = dev.split('(').next().unwrap_or("");
    if path.is_empty() || dev.contains(',') {
        return Err(Error::new(format!(
            "{name} is not one linear segment on one physical volume (lvs says '{line}')"
        )));
    }
    device_number(Path::new(path)).map(|dev| Some((dev, path.to_string())))
}

/// Whether `volume` has a twin left by a migration (tagged as ours).
pub fn has_twin(volume: &Volume) -> Result<bool> {
    is_our_twin(&volume.twin())
}

/// Whether the volume exists and carries the twin's tag.
fn is_our_twin(v: &Volume) -> Result<bool> {
    let name = v.full_name();
    let tags = lvs(&["lvs", "--noheadings", "-o", "lv_tags", &name])?;
    Ok(tags.is_some_and(|out| out.split(',').any(|t| t.trim() == TEMP_TAG)))
}

/// The move of a volume onto a physical volume of its group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    /// The volume that moves.
    pub volume: Volume,
    /// The device of the PV it is on.
    pub source_pv: DiskId,
    /// The device of the PV it moves to.
    pub dest_pv: DiskId,
    /// The destination PV as the operator named it.
    pub dest_path: String,
}

/// Which of the two physical volumes the metadata has the volume on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The PV it started on (the metadata as before the migration).
    Source,
    /// The destination PV (committed).
    Destination,
}

impl Move {
    /// Checks that `volume` (on one PV) can move to `dest_path`, a PV of its group.
    pub fn new(volume: Volume, dest_path: &str) -> Result<Self> {
        let dest_pv = device_number(Path::new(dest_path))?;
        let source_pv = placement(&volume, &[])?
            .ok_or_else(|| Error::new(format!("no logical volume {}", volume.full_name())))?;
        if source_pv == dest_pv {
            return Err(Error::new(format!(
                "{} is already on {dest_path}",
                volume.full_name()
            )));
        }
        Ok(Self {
            volume,
            source_pv,
            dest_pv,
            dest_path: dest_path.to_string(),
        })
    }

    /// The temporary twin.
    pub fn twin(&self) -> Volume {
        self.volume.twin()
    }

    /// Step 1: allocates the twin of `sectors` on the destination; its path.
    pub fn create_twin(&self, sectors: u64) -> Result<PathBuf> {
        let twin = self.twin();
        if is_our_twin(&twin)? {
            return Err(Error::new(format!(
                "{} exists: an earlier migration of {} did not finish; run 'iofollow-migrate abort {}'",
                twin.full_name(),
                self.volume.full_name(),
                self.volume.full_name()
            )));
        }
        let size = format!("{sectors}s");
        lvm(&[
            "lvcreate",
            "-q",
            "-y",
            "--wipesignatures",
            "n",
            "--zero",
            "n",
            "--alloc",
            "contiguous",
            "--addtag",
            TEMP_TAG,
            "-L",
            &size,
            "-n",
            &twin.lv,
            &self.volume.vg,
            &self.dest_path,
        ])
        .map_err(|e| {
            e.context(format!(
                "cannot allocate {} on {}",
                twin.full_name(),
                self.dest_path
            ))
        })?;
        Ok(twin.path())
    }

    /// Removes the twin (after the switch-over it names the old extents, so
    /// LVM frees them); only one that carries the tag.
    pub fn remove_twin(&self) -> Result<()> {
        let twin = self.twin();
        if !is_our_twin(&twin)? {
            return Ok(());
        }
        lvm(&["lvremove", "-q", "-y", &twin.full_name()]).map(|_| ())
    }

    /// Takes LVM's lock on the group for a commit, and finds the group's
    /// PVs: every LVM command under the lock reads those devices only
    /// (`--devices`), never a device stacked on the volume, which may be
    /// suspended.
    pub fn lock(&self) -> Result<LockedGroup<'_>> {
        let lock = VgLock::take(&self.volume.vg)?;
        let vg = &self.volume.vg;
        let select = format!("vg_name={vg}");
        let pvs = lvm(&[
            "pvs",
            "--noheadings",
            "--nolocking",
            "-o",
            "pv_name",
            "-S",
            &select,
        ])?;
        let devices: Vec<&str> = pvs.split_whitespace().collect();
        if devices.is_empty() {
            return Err(Error::new(format!(
                "{vg} has no physical volumes LVM can see"
            )));
        }
        Ok(LockedGroup {
            mv: self,
            _lock: lock,
            devices: devices.join(","),
        })
    }

    /// Which PV the metadata has the volume on now.
    pub fn side(&self) -> Result<Side> {
        self.lock()?.side()
    }

    fn side_of(&self, on: Option<DiskId>) -> Result<Side> {
        match on {
            Some(d) if d == self.source_pv => Ok(Side::Source),
            Some(d) if d == self.dest_pv => Ok(Side::Destination),
            Some(d) => Err(Error::new(format!(
                "{} is on {d}, neither its source nor {}: another tool moved it",
                self.volume.full_name(),
                self.dest_path
            ))),
            None => Err(Error::new(format!(
                "{} is gone from the metadata",
                self.volume.full_name()
            ))),
        }
    }
}

/// A move's group under LVM's lock (dropping it unlocks).
pub struct LockedGroup<'a> {
    mv: &'a Move,
    _lock: VgLock,
    /// The group's PVs, for `--devices`.
    devices: String,
}

impl LockedGroup<'_> {
    /// Options of every LVM command run under the lock.
    fn locked_args(&self) -> [&str; 3] {
        ["--nolocking", "--devices", &self.devices]
    }

    /// Which PV the metadata has the volume on.
    pub fn side(&self) -> Result<Side> {
        self.mv
            .side_of(placement(&self.mv.volume, &self.locked_args())?)
    }

    /// Makes the metadata name the volume on `want`, trading extents with
    /// the twin. Does nothing when it already does; refuses, before
    /// writing, unless the twin is on the PV the volume is to be on.
    pub fn commit(&self, want: Side) -> Result<()> {
        let mv = self.mv;
        if self.side()? == want {
            return Ok(());
        }
        let twin = mv.twin();
        let twin_must_be = match want {
            Side::Destination => mv.dest_pv,
            Side::Source => mv.source_pv,
        };
        if placement(&twin, &self.locked_args())? != Some(twin_must_be) {
            return Err(Error::new(format!(
                "{} is not on {twin_must_be} in LVM's metadata: not trading extents with it",
                twin.full_name()
            )));
        }
        let dir = std::env::temp_dir();
        let base = format!(
            "iofollow-migrate-{}-{}-{}",
            mv.volume.vg,
            mv.volume.lv,
            std::process::id()
        );
        let backup = dir.join(format!("{base}.vg"));
        let edited = dir.join(format!("{base}.edited.vg"));
        let [nolock, devopt, devices] = self.locked_args();
        let vg = mv.volume.vg.as_str();
        let result = (|| {
            let b = backup.to_string_lossy();
            lvm(&["vgcfgbackup", "-q", nolock, devopt, devices, "-f", &b, vg])?;
            let text = fs::read_to_string(&backup)?;
            let new = lvm_text::swap_extents(&text, &mv.volume.lv, &twin.lv)
                .map_err(|e| Error::new(format!("cannot edit the metadata of {vg}: {e}")))?;
            fs::write(&edited, new)?;
            let e = edited.to_string_lossy();
            lvm(&[
                "vgcfgrestore",
                "-q",
                nolock,
                devopt,
                devices,
                "--yes",
                "-f",
                &e,
                vg,
            ])?;
            let seq_before = lvm_text::seqno(&text).map_err(Error::new)?;
            let now = lvm(&[
                "vgs",
                "--noheadings",
                nolock,
                devopt,
                devices,
                "-o",
                "vg_seqno",
                vg,
            ])?;
            if now.trim().parse::<u64>().ok() != seq_before.checked_add(1) {
                return Err(Error::new(format!(
                    "{vg}: metadata sequence number {} after the commit, not {}",
                    now.trim(),
                    seq_before.saturating_add(1)
                )));
            }
            if self.side()? != want {
                return Err(Error::new(format!(
                    "the metadata of {} did not change",
                    mv.volume.full_name()
                )));
            }
            Ok(())
        })();
        let _ = fs::remove_file(&backup);
        let _ = fs::remove_file(&edited);
        result.map_err(|e| {
            e.context(format!(
                "committing {} to LVM's metadata",
                mv.volume.full_name()
            ))
        })
    }
}

/// After a killed run: makes the metadata name `volume` on the physical
/// volume `truth` (the one that holds every acknowledged write: the source
/// while iofollow or the original table is live, the destination once the
/// switch-over table is). `Ok(None)`: there is no twin, nothing to settle.
pub fn name_on(volume: &Volume, truth: DiskId) -> Result<Option<Move>> {
    let twin = volume.twin();
    if !is_our_twin(&twin)? {
        return Ok(None);
    }
    let other = match (placement(volume, &[])?, placement(&twin, &[])?) {
        (Some(v), Some(t)) if v == truth => t,
        (Some(v), Some(t)) if t == truth => v,
        (v, t) => {
            return Err(Error::new(format!(
                "{} maps {truth}, but LVM has it on {v:?} and {} on {t:?}: not ours to settle",
                volume.full_name(),
                twin.full_name()
            )))
        }
    };
    let mv = Move {
        volume: volume.clone(),
        source_pv: truth,
        dest_pv: other,
        dest_path: other.to_string(),
    };
    mv.lock()?.commit(Side::Source)?;
    Ok(Some(mv))
}

/// The move that a run which has gone left copying `volume` into its twin
/// (for `resume`); `Ok(None)` when it has no twin of ours. The metadata
/// must still have the volume on `source` (the PV the helper maps, which
/// holds every acknowledged write): a run killed after its commit is
/// settled by `abort`, not continued.
pub fn resumed_move(volume: &Volume, source: DiskId) -> Result<Option<Move>> {
    let twin = volume.twin();
    if !is_our_twin(&twin)? {
        return Ok(None);
    }
    match (placement(volume, &[])?, placement_and_path(&twin, &[])?) {
        (Some(v), Some((dest_pv, dest_path))) if v == source => Ok(Some(Move {
            volume: volume.clone(),
            source_pv: source,
            dest_pv,
            dest_path,
        })),
        (v, t) => {
            let on = |d: Option<DiskId>| d.map_or("no PV".to_string(), |d| d.to_string());
            Err(Error::new(format!(
                "{} copies from {source}, but LVM has it on {} and {} on {}: run \
                 'iofollow-migrate abort {}' to settle it",
                volume.full_name(),
                on(v),
                twin.full_name(),
                on(t.map(|(dev, _)| dev)),
                volume.full_name()
            )))
        }
    }
}

/// [`name_on`], then the twin removed (nothing may use it any more).
pub fn settle(volume: &Volume, truth: DiskId) -> Result<bool> {
    match name_on(volume, truth)? {
        Some(mv) => mv.remove_twin().map(|()| true),
        None => Ok(false),
    }
}

impl crate::control::Metadata for Move {
    fn lock(&self) -> Result<Box<dyn crate::control::LockedMetadata + '_>> {
        Ok(Box::new(Move::lock(self)?))
    }
}

impl crate::control::LockedMetadata for LockedGroup<'_> {
    fn commit(&self, side: Side) -> Result<()> {
        LockedGroup::commit(self, side)
    }
    fn side(&self) -> Result<Side> {
        LockedGroup::side(self)
    }
}

/// LVM's own lock on a volume group (`<locking_dir>/V_<vg>`, flock, as
/// lvm2's lib/locking/file_locking.c takes it): every LVM command on this
/// host waits while it is held, so nothing changes the metadata between our
/// read and our write. The commands run under it take `--nolocking`.
struct VgLock {
    _lock: Flock<fs::File>,
}

impl VgLock {
    fn take(vg: &str) -> Result<Self> {
        let dir = lvm(&["lvmconfig", "--typeconfig", "full", "global/locking_dir"])
            .ok()
            .and_then(|s| Some(s.split_once('=')?.1.trim().trim_matches('"').to_string()))
            .unwrap_or_else(|| "/run/lock/lvm".to_string());
        fs::create_dir_all(&dir)?;
        let path = Path::new(&dir).join(format!("V_{vg}"));
        // LVM may unlink the file when it unlocks: lock until the path
        // names the file we hold, as LVM does.
        for _ in 0..100 {
            let file = fs::OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(&path)
                .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
            let held = Flock::lock(file, FlockArg::LockExclusive)
                .map_err(|(_, e)| Error::new(format!("cannot lock {}: {e}", path.display())))?;
            let same = match (fs::metadata(&path), held.metadata()) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if same {
                return Ok(Self { _lock: held });
            }
        }
        Err(Error::new(format!(
            "cannot lock {}: it keeps being replaced",
            path.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dm_names_split_as_lvm_builds_them() {
        let v = |vg: &str, lv: &str| {
            Some(Volume {
                vg: vg.into(),
                lv: lv.into(),
            })
        };
        assert_eq!(volume_of_dm_name("vg0-vm7"), v("vg0", "vm7"));
        assert_eq!(volume_of_dm_name("my--vg-vm--7"), v("my-vg", "vm-7"));
        assert_eq!(volume_of_dm_name("vg0-lv-real"), None);
        assert_eq!(volume_of_dm_name("vmdisk"), None);
        assert_eq!(volume_of_dm_name("vg0-"), None);
        assert_eq!(
            v("vg0", "vm7").unwrap().twin().full_name(),
            "vg0/vm7_iofollow"
        );
    }
}
