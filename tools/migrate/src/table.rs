// SPDX-License-Identifier: GPL-2.0

//! Device-mapper tables as the tool handles them, and the three tables of a
//! migration: the original (linear on the source disk), the iofollow table
//! loaded under the live device, and the switch-over table (linear on the
//! destination).

use crate::error::{Error, Result};
use iofollow_policy::ratio::Ratio;
use iofollow_policy::select::PolicyKind;
use iofollow_policy::table::{format_table, DiskId, TableConfig};

/// One table line: `<start> <length> <target> <params>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// First sector.
    pub start: u64,
    /// Length in sectors.
    pub len: u64,
    /// Target type.
    pub target: String,
    /// Target parameters.
    pub params: String,
}

impl Segment {
    /// A segment from its parts.
    pub fn new(start: u64, len: u64, target: &str, params: impl Into<String>) -> Self {
        Self {
            start,
            len,
            target: target.to_string(),
            params: params.into(),
        }
    }

    /// A linear segment over the whole device: `0 <len> linear <dev> <offset>`.
    pub fn linear(len: u64, dev: DiskId, offset: u64) -> Self {
        Self::new(0, len, "linear", format!("{dev} {offset}"))
    }
}

/// A linear mapping onto `dev` from `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linear {
    /// The device below.
    pub dev: DiskId,
    /// First sector on it.
    pub offset: u64,
}

impl Linear {
    /// Parses linear parameters as the kernel prints them: `<major>:<minor> <offset>`.
    pub fn parse(params: &str) -> Option<Self> {
        let mut w = params.split_whitespace();
        let dev = DiskId::parse(w.next()?)?;
        let offset = w.next()?.parse().ok()?;
        w.next().is_none().then_some(Self { dev, offset })
    }
}

/// Whether `table` holds an iofollow segment: a migration is copying.
pub fn is_iofollow(table: &[Segment]) -> bool {
    table.iter().any(|s| s.target == "iofollow")
}

/// The device's table if it is one linear segment from sector 0, else why not.
pub fn single_linear(name: &str, table: &[Segment]) -> Result<(u64, Linear)> {
    match table {
        [] => Err(Error::new(format!("{name} has no table loaded"))),
        [seg] if seg.target == "iofollow" => Err(Error::new(format!(
            "{name} is already being migrated by iofollow: see 'iofollow-migrate status {name}', or 'iofollow-migrate abort {name}'"
        ))),
        [seg] if seg.target == "linear" && seg.start == 0 => Linear::parse(&seg.params)
            .map(|l| (seg.len, l))
            .ok_or_else(|| Error::new(format!("{name}: cannot read its linear table '{}'", seg.params))),
        [seg] => Err(Error::new(format!(
            "{name} is a '{}' device; only a linear device (an LVM volume of one segment) can be migrated",
            seg.target
        ))),
        segs => Err(Error::new(format!(
            "{name} has {} segments; volumes of more than one segment are not supported (the head model \
             needs one place on one disk): make it contiguous first (lvconvert/pvmove --alloc contiguous)",
            segs.len()
        ))),
    }
}

/// How the copy runs: the table's feature arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyOptions {
    /// Longest copy IO in sectors.
    pub chunk_sectors: u64,
    /// VM:copy ratio, when not the default.
    pub ratio: Option<Ratio>,
    /// Chunk selection, when not the default.
    pub policy: Option<PolicyKind>,
    /// Cache size in MiB, when not the default.
    pub cache_mib: Option<u32>,
    /// Finish the copy within this many seconds (`deadline`), if given.
    pub deadline_s: Option<u32>,
    /// Share the head model of the source's physical disk (`disk`,
    /// `source_offset`) with the disk's other iofollow devices.
    pub shared_head: bool,
}

/// Where the source sits on its physical disk, for the shared head model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskPlace {
    /// The whole disk.
    pub disk: DiskId,
    /// Sector of the source's first sector on it.
    pub offset: u64,
}

/// The iofollow parameters for a copy from `source` to `dest`; `place`
/// (where the source is on its disk) is written only with `shared_head`;
/// `metadata`, the metadata device, if the copy keeps a checkpoint.
pub fn iofollow_params(
    source: &str,
    dest: &str,
    opts: &CopyOptions,
    place: Option<DiskPlace>,
    metadata: Option<&str>,
) -> Result<String> {
    let mut cfg = TableConfig::new("", "", opts.chunk_sectors);
    cfg.metadata = metadata;
    if let Some(r) = opts.ratio {
        cfg.ratio = r;
    }
    if let Some(p) = opts.policy {
        cfg.policy = p;
    }
    if let Some(c) = opts.cache_mib {
        cfg.cache_mib = c;
    }
    if let Some(d) = opts.deadline_s {
        cfg.deadline_s = d;
    }
    if let Some(p) = place.filter(|_| opts.shared_head) {
        cfg.source_offset = Some(p.offset);
        cfg.disk = Some(p.disk);
    }
    let mut out = String::new();
    format_table(&cfg, source, dest, &mut out)
        .map_err(|_| Error::new("cannot format the iofollow table"))?;
    Ok(out)
}

/// The iofollow table's source device: its first word.
pub fn iofollow_source(params: &str) -> Option<DiskId> {
    DiskId::parse(params.split_whitespace().next()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(major: u32, minor: u32) -> DiskId {
        DiskId { major, minor }
    }

    #[test]
    fn linear_params() {
        assert_eq!(
            Linear::parse("7:0 2048"),
            Some(Linear {
                dev: d(7, 0),
                offset: 2048
            })
        );
        assert_eq!(Linear::parse("7:0"), None);
        assert_eq!(Linear::parse("7:0 1 2"), None);
        assert_eq!(Linear::parse("/dev/sda 1"), None);
    }

    #[test]
    fn only_one_linear_segment_is_migrated() {
        let lin = Segment::linear(100, d(7, 0), 8);
        assert_eq!(
            single_linear("lv", &[lin.clone()]).unwrap(),
            (
                100,
                Linear {
                    dev: d(7, 0),
                    offset: 8
                }
            )
        );
        let two = [lin.clone(), Segment::new(100, 50, "linear", "7:0 500")];
        assert!(single_linear("lv", &two)
            .unwrap_err()
            .to_string()
            .contains("2 segments"));
        let iof = Segment::new(0, 100, "iofollow", "253:1 8:16 2048");
        assert!(single_linear("lv", &[iof])
            .unwrap_err()
            .to_string()
            .contains("already being migrated"));
        let mirror = Segment::new(0, 100, "mirror", "core 1 1024 2 7:0 0 8:16 0");
        assert!(single_linear("lv", &[mirror])
            .unwrap_err()
            .to_string()
            .contains("'mirror' device"));
        assert!(single_linear("lv", &[])
            .unwrap_err()
            .to_string()
            .contains("no table"));
    }

    #[test]
    fn iofollow_table_reparses_in_the_policy_core() {
        let opts = CopyOptions {
            chunk_sectors: 2048,
            ratio: Ratio::new(4, 1),
            policy: Some(PolicyKind::Sequential),
            cache_mib: Some(0),
            deadline_s: Some(600),
            shared_head: true,
        };
        let p = iofollow_params(
            "253:5",
            "8:16",
            &opts,
            Some(DiskPlace {
                disk: d(7, 0),
                offset: 4096,
            }),
            Some("7:3"),
        )
        .unwrap();
        assert_eq!(
            p,
            "253:5 8:16 2048 14 ratio 4:1 policy sequential cache 0 source_offset 4096 disk 7:0 deadline 600 metadata 7:3"
        );
        let words: Vec<&str> = p.split_whitespace().collect();
        let cfg = iofollow_policy::table::parse_table(&words).unwrap();
        assert_eq!(cfg.disk, Some(d(7, 0)));
        assert_eq!(cfg.metadata, Some("7:3"));
        assert_eq!(iofollow_source(&p), Some(d(253, 5)));
        let plain = CopyOptions {
            chunk_sectors: 128,
            ratio: None,
            policy: None,
            cache_mib: None,
            deadline_s: None,
            shared_head: false,
        };
        assert_eq!(
            iofollow_params("1:2", "3:4", &plain, None, None).unwrap(),
            "1:2 3:4 128"
        );
        // A head model of its own by default: the place is not written.
        let place = DiskPlace {
            disk: d(7, 0),
            offset: 4096,
        };
        assert_eq!(
            iofollow_params("1:2", "3:4", &plain, Some(place), None).unwrap(),
            "1:2 3:4 128"
        );
    }
}
