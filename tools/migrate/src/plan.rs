// SPDX-License-Identifier: GPL-2.0

//! What a migration will do, worked out and checked before anything changes.
//!
//! The live device keeps its name and number throughout, so the VM never
//! notices. Its linear table moves to a helper device (`iofollow-src-<live>`,
//! the original mapping of the source), and the live device gets an iofollow
//! table from the helper to the destination. The switch-over gives it a
//! linear table on the destination; an abort gives it its original table.

use crate::blockdev::Blocks;
use crate::dm::{DevInfo, Dm};
use crate::error::{Error, Result};
use crate::table::{
    iofollow_params, iofollow_source, single_linear, CopyOptions, DiskPlace, Linear, Segment,
};
use iofollow_policy::table::{
    parse_table, DiskId, TableConfig, CHUNK_SECTORS_MAX, CHUNK_SECTORS_MIN,
};

/// Prefix of the helper device's name and uuid.
const HELPER_PREFIX: &str = "iofollow-src-";

/// How deep a stack of dm devices is followed down to the physical disk.
const MAX_STACK: usize = 16;

/// The helper device of live device `live`.
pub fn helper_name(live: &str) -> String {
    format!("{HELPER_PREFIX}{live}")
}

/// A checked migration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The live device's dm name.
    pub live: String,
    /// Its length in sectors.
    pub len: u64,
    /// Its table now: one linear segment.
    pub original: Segment,
    /// The helper device that takes over the original mapping.
    pub helper: String,
    /// The destination.
    pub dest: DiskId,
    /// The destination as the operator named it.
    pub dest_path: String,
    /// Where the source is on its physical disk (shares the disk's head model).
    pub place: DiskPlace,
    /// Copy settings.
    pub copy: CopyOptions,
    /// The live device is an LVM volume moved to a raw destination: LVM's
    /// metadata will still name its old physical volume.
    pub lvm_raw: bool,
    /// The table after the switch-over: linear on the destination, or on
    /// what the destination (an LVM volume's twin) maps.
    pub switch: Segment,
    /// The target's metadata device (crate::record), if the copy keeps a
    /// checkpoint.
    pub metadata: Option<DiskId>,
}

impl Plan {
    /// The helper's uuid.
    pub fn helper_uuid(&self) -> String {
        format!("IOFOLLOW-SRC-{}", self.live)
    }

    /// The table loaded under the live device, copying from the helper.
    /// `helper` names it: `major:minor`, or a path for `--dry-run`.
    pub fn iofollow_table(&self, helper: &str) -> Result<Segment> {
        let metadata = self.metadata.map(|m| m.to_string());
        let params = iofollow_params(
            helper,
            &self.dest.to_string(),
            &self.copy,
            Some(self.place),
            metadata.as_deref(),
        )?;
        Ok(Segment::new(0, self.len, "iofollow", params))
    }

    /// The table after the switch-over.
    pub fn switch_table(&self) -> Segment {
        self.switch.clone()
    }

    /// Bytes per migration block (the status line counts blocks), as the
    /// table this plan loads sets it.
    pub fn block_bytes(&self) -> u64 {
        TableConfig::new("", "", self.copy.chunk_sectors)
            .block_sectors()
            .saturating_mul(512)
    }
}

/// Follows `lin` down through linear dm devices and partitions to the
/// physical disk. A dm device of another type (crypt, raid) counts as the
/// disk: its own head model.
pub fn place_on_disk(
    dm: &impl Dm,
    blocks: &impl Blocks,
    lin: Linear,
    len: u64,
) -> Result<DiskPlace> {
    let (mut dev, mut offset) = (lin.dev, lin.offset);
    for _ in 0..MAX_STACK {
        if let Some(name) = dm.name_of(dev)? {
            let table = dm.table(&name)?;
            let end = offset.saturating_add(len);
            let below = table
                .iter()
                .find(|s| {
                    s.start <= offset
                        && end <= s.start.saturating_add(s.len)
                        && s.target == "linear"
                })
                .and_then(|s| Some((s.start, Linear::parse(&s.params)?)));
            match below {
                Some((start, l)) => {
                    offset = l.offset.saturating_add(offset - start);
                    dev = l.dev;
                    continue;
                }
                None => return Ok(DiskPlace { disk: dev, offset }),
            }
        }
        return Ok(match blocks.partition(dev)? {
            Some((disk, start)) => DiskPlace {
                disk,
                offset: offset.saturating_add(start),
            },
            None => DiskPlace { disk: dev, offset },
        });
    }
    Err(Error::new(format!(
        "{dev}: device stack deeper than {MAX_STACK}"
    )))
}

/// What the operator allowed beyond the safe default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Allow {
    /// Move an LVM volume to a device LVM knows nothing of (`--raw-destination`).
    pub raw_destination: bool,
    /// The destination is the twin the tool allocated for an LVM volume on
    /// a physical volume of its group: LVM's metadata follows at the
    /// switch-over, which maps what the twin maps.
    pub lvm_twin: bool,
}

/// Why an LVM volume is not moved to a raw destination by default.
pub const LVM_RAW_WARNING: &str = "LVM's metadata will still name its old physical volume: \
anything that activates it from the metadata (a reboot, 'vgchange -ay', 'lvchange --refresh') \
maps the old disk again, and every write since the switch-over is lost there";

/// The live device, refused when it does not exist, is suspended (`why`
/// says what that means here) or has an inactive table.
fn live_info(dm: &impl Dm, live: &str, why: &str) -> Result<DevInfo> {
    let info = dm.info(live)?.ok_or_else(|| {
        Error::new(format!(
            "no device-mapper device named '{live}' (see 'dmsetup ls')"
        ))
    })?;
    if info.suspended {
        return Err(Error::new(format!("{live} is suspended: {why}")));
    }
    if info.inactive_table {
        return Err(Error::new(format!(
            "{live} has an inactive table loaded (another tool is changing it); clear it with 'dmsetup clear {live}' if it is stale"
        )));
    }
    Ok(info)
}

/// Everything checked before the first change.
pub fn plan(
    dm: &impl Dm,
    blocks: &impl Blocks,
    live: &str,
    dest: DiskId,
    dest_path: &str,
    copy: CopyOptions,
    allow: Allow,
) -> Result<Plan> {
    let info = live_info(
        dm,
        live,
        "another tool is changing it; try again when it is resumed",
    )?;
    if info.lvm && !allow.raw_destination && !allow.lvm_twin {
        return Err(Error::new(format!(
            "{live} is an LVM logical volume, and {dest_path} is not a physical volume LVM \
             would allocate it on: after the switch-over {LVM_RAW_WARNING}. Use pvmove, or pass \
             --raw-destination to move it anyway and update the metadata yourself"
        )));
    }
    let table = dm.table(live)?;
    let (len, lin) = single_linear(live, &table)?;
    let helper = helper_name(live);
    if dm.info(&helper)?.is_some() {
        return Err(Error::new(format!(
            "{helper} exists: an earlier migration of {live} did not finish; run 'iofollow-migrate abort {live}'"
        )));
    }
    if !dm.target_types()?.iter().any(|t| t == "iofollow") {
        return Err(Error::new("the iofollow target is not loaded: load the module (modprobe dm-iofollow, or insmod dm-iofollow.ko)"));
    }
    let place = place_on_disk(dm, blocks, lin, len)?;

    if dest == info.dev {
        return Err(Error::new(format!(
            "the destination {dest_path} is {live} itself"
        )));
    }
    let dest_len = blocks.sectors(dest)?;
    if dest_len < len {
        return Err(Error::new(format!(
            "the destination {dest_path} is too small: {dest_len} sectors, {live} has {len}"
        )));
    }
    let dest_place = place_on_disk(
        dm,
        blocks,
        Linear {
            dev: dest,
            offset: 0,
        },
        dest_len,
    )?;
    let overlaps = dest_place.disk == place.disk
        && dest_place.offset < place.offset.saturating_add(len)
        && place.offset < dest_place.offset.saturating_add(dest_len);
    if overlaps {
        return Err(Error::new(format!(
            "the destination {dest_path} holds the source: both are on {} around sector {}",
            place.disk, place.offset
        )));
    }
    let chunk = copy.chunk_sectors;
    if !(CHUNK_SECTORS_MIN..=CHUNK_SECTORS_MAX).contains(&chunk) || !chunk.is_power_of_two() {
        return Err(Error::usage(format!(
            "--chunk: the chunk size must be a power of 2 from {} to {} KiB",
            CHUNK_SECTORS_MIN / 2,
            CHUNK_SECTORS_MAX / 2
        )));
    }
    let switch = switch_table(dm, dest, len, allow.lvm_twin)?;
    Ok(Plan {
        live: live.to_string(),
        len,
        original: Segment::linear(len, lin.dev, lin.offset),
        helper,
        dest,
        dest_path: dest_path.to_string(),
        place,
        copy,
        lvm_raw: info.lvm && !allow.lvm_twin,
        switch,
        metadata: None,
    })
}

/// The table after the switch-over: linear on `dest`, or on what it maps
/// when it is the twin of an LVM volume (linear: the switch-over maps its
/// extents directly, so that the twin can go).
fn switch_table(dm: &impl Dm, dest: DiskId, len: u64, lvm_twin: bool) -> Result<Segment> {
    Ok(match (lvm_twin, dm.name_of(dest)?) {
        (true, Some(twin)) => {
            let (_, lin) = single_linear(&twin, &dm.table(&twin)?)?;
            Segment::linear(len, lin.dev, lin.offset)
        }
        _ => Segment::linear(len, dest, 0),
    })
}

/// The plan of a migration that a run which has gone (killed, or its
/// terminal closed without a signal) left copying: read back from the live
/// iofollow table and the helper's original mapping. `lvm_twin`: the
/// destination is the twin the tool allocated for an LVM volume.
pub fn resumed(dm: &impl Dm, blocks: &impl Blocks, live: &str, lvm_twin: bool) -> Result<Plan> {
    // Resuming a suspended device could swap in a table loaded by a run
    // killed in its switch-over, or by another tool: `abort` settles what a
    // run left.
    let info = live_info(
        dm,
        live,
        &format!(
            "a run was killed in its switch-over, or another tool is changing it; \
             'iofollow-migrate abort {live}' settles what a run left"
        ),
    )?;
    let helper = helper_name(live);
    let table = dm.table(live)?;
    let t = match (table.as_slice(), dm.info(&helper)?) {
        ([t], Some(h)) if t.target == "iofollow" => {
            if iofollow_source(&t.params) != Some(h.dev) {
                return Err(Error::new(format!(
                    "{live} copies from {}, not from {helper}: not a migration of iofollow-migrate",
                    t.params
                )));
            }
            t
        }
        ([t], None) if t.target == "iofollow" => {
            return Err(Error::new(format!(
                "{live} has an iofollow table that iofollow-migrate did not set up (no {helper}): \
                 switch it over with dmsetup"
            )))
        }
        ([t], Some(_)) => {
            return Err(Error::new(format!(
                "{live} is not being copied (its table is '{}'): a run stopped before the iofollow \
                 table took over or after the switch-over; 'iofollow-migrate abort {live}' removes \
                 what it left",
                t.target
            )))
        }
        _ => {
            return Err(Error::new(format!(
                "{live} is not being migrated: nothing to resume (a reboot or a removed table ends \
                 a migration: start it again with 'iofollow-migrate migrate', after \
                 'iofollow-migrate abort {live}' if an LVM twin is left)"
            )))
        }
    };
    let words: Vec<&str> = t.params.split_whitespace().collect();
    let cfg = parse_table(&words)
        .map_err(|e| Error::new(format!("{live}: cannot read its iofollow table: {e}")))?;
    let dest = DiskId::parse(cfg.dest).ok_or_else(|| {
        Error::new(format!(
            "{live}: cannot read its destination '{}'",
            cfg.dest
        ))
    })?;
    let (len, lin) = single_linear(&helper, &dm.table(&helper)?)?;
    if len != t.len {
        return Err(Error::new(format!(
            "{helper} has {len} sectors and {live} {}: not a migration of iofollow-migrate",
            t.len
        )));
    }
    let place = place_on_disk(dm, blocks, lin, len)?;
    let copy = CopyOptions {
        chunk_sectors: cfg.chunk_sectors,
        ratio: Some(cfg.ratio),
        policy: Some(cfg.policy),
        cache_mib: Some(cfg.cache_mib),
        deadline_s: None,
        shared_head: cfg.disk.is_some(),
    };
    Ok(Plan {
        live: live.to_string(),
        len,
        original: Segment::linear(len, lin.dev, lin.offset),
        helper,
        dest,
        dest_path: match dm.name_of(dest)? {
            Some(name) => format!("/dev/mapper/{name}"),
            None => blocks.node(dest)?,
        },
        place,
        copy,
        lvm_raw: info.lvm && !lvm_twin,
        switch: switch_table(dm, dest, len, lvm_twin)?,
        metadata: cfg.metadata.and_then(DiskId::parse),
    })
}
