// SPDX-License-Identifier: GPL-2.0

//! Constructor table line of the `iofollow` target.
//!
//! ```text
//! <source dev> <destination dev> <chunk sectors> [<#feature args> <feature arg>*]
//! ```
//!
//! | feature | words | default | meaning |
//! |---|---|---|---|
//! | `ratio <V>:<M>` | 2 | `2:1` | serve V VM requests, then M migration requests, while VM IO waits; V, M in 1..=64 |
//! | `policy follow\|sequential` | 2 | `follow` | chunk selection policy |
//! | `cache <MiB>` | 2 | `64` | migration-aware cache size in MiB, 0 = off, at most 65536 |
//! | `cache_eviction liveness\|lru` | 2 | `liveness` | which cached block goes first (LRU for ablations; see `liveness.rs`) |
//! | `paused` | 1 | off | create the target with the migration paused |
//! | `no_anticipation` | 1 | off | the VM is idle as soon as none of its IO is in flight (see `anticipation.rs`) |
//! | `source_offset <sectors>` | 2 | none | start of the source on its physical disk, for the head model |
//! | `disk <major>:<minor>` | 2 | the source's whole disk | the physical disk whose head model to share (for a stacked source) |
//! | `block <sectors>` | 2 | 128, or the chunk if smaller | unit of migration state; a power of two from 8 to the chunk size (see `copyrun.rs`) |
//! | `no_read_at_head` | 1 | off | cut copy IOs at chunk boundaries instead of starting them at the head |
//! | `queue_aware` | 1 | off | piggyback VM reads while other VM IO is in flight, within a bound on the extra transfer all of it pays (see `piggyback.rs`) |
//! | `depth <n>` | 2 | 4 | background copies in flight at most (1..=8), each with a chunk buffer; 2 reads at most while the VM is idle |
//! | `reads source\|destination\|auto` | 2 | `auto` | which device serves VM reads of migrated blocks (see `readroute.rs`) |
//! | `deadline <seconds>` | 2 | none | finish the copy within this many seconds of the table load: raise the copy's share above the ratio as far as the remaining blocks need (see `deadline.rs`) |
//! | `metadata <dev>` | 2 | none | keep the migrated map on this device: a table resumes the copy from the last clean checkpoint (suspend, reload, remove) instead of from zero (see `superblock.rs`) |
//! | `flush_interval <ms>` | 2 | 1000 | flush the destination once a write to it has waited this long (0..=3600000; 0 = only when the copy is complete); bounds what an outage costs (see `unflushed.rs`) |
//!
//! `<#feature args>` counts words, as in dm-clone and dm-flakey: `2 ratio 3:1`.
//! Feature names and the policy name are ASCII case-insensitive.

use crate::policy::deadline::parse_deadline;
use crate::policy::liveness::Eviction;
use crate::policy::ratio::Ratio;
use crate::policy::readroute::ReadsMode;
use crate::policy::select::PolicyKind;
use crate::policy::unflushed::{FLUSH_INTERVAL_MS_DEFAULT, FLUSH_INTERVAL_MS_MAX};
use core::fmt;

/// Smallest chunk size in sectors (4 KiB).
pub const CHUNK_SECTORS_MIN: u64 = 8;
/// Largest chunk size in sectors (8 MiB): each of the kernel's copy slots
/// owns a buffer of one chunk. The one definition of the limit.
pub const CHUNK_SECTORS_MAX: u64 = 16384;
/// Default cache size in MiB.
pub const CACHE_MIB_DEFAULT: u32 = 64;
/// Largest cache size in MiB.
pub const CACHE_MIB_MAX: u32 = 65536;
/// Default number of background copy IOs in flight.
pub const DEPTH_DEFAULT: u32 = 4;
/// Largest `depth`.
pub const DEPTH_MAX: u32 = 8;
/// Default block size in sectors (64 KiB), or the chunk size if smaller.
pub const BLOCK_SECTORS_DEFAULT: u64 = 128;

/// A table line or message that could not be parsed. [`ParseError::message`]
/// is the short text the kernel puts in `ti->error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer than three constructor arguments, or words left over.
    ArgCount,
    /// Chunk size not a number or below `CHUNK_SECTORS_MIN`.
    ChunkSize,
    /// Chunk size above `CHUNK_SECTORS_MAX`.
    ChunkTooLarge,
    /// Chunk size not a power of two.
    ChunkNotPowerOfTwo,
    /// `<#feature args>` not a number or not the number of words that follow,
    /// or a feature without its value.
    FeatureCount,
    /// A feature name that is not known.
    UnknownFeature,
    /// The same feature given twice.
    DuplicateFeature,
    /// A ratio that is not `V:M` with V, M in 1..=64.
    Ratio,
    /// A policy name that is not known.
    Policy,
    /// A cache size that is not a number.
    CacheSize,
    /// A cache size with a minus sign.
    CacheNegative,
    /// A cache size above `CACHE_MIB_MAX`.
    CacheTooLarge,
    /// A cache eviction order that is not known.
    CacheEviction,
    /// A source offset that is not a number.
    SourceOffset,
    /// A disk that is not `<major>:<minor>` within the kernel's `dev_t`.
    Disk,
    /// A block size that is not a power of two from 8 to the chunk size.
    BlockSize,
    /// A depth that is not a number in `1..=DEPTH_MAX`.
    Depth,
    /// A flush interval that is not a number of ms up to `FLUSH_INTERVAL_MS_MAX`.
    FlushInterval,
    /// A reads mode that is not known.
    Reads,
    /// An idle run that is not a number of sectors up to `CHUNK_SECTORS_MAX`.
    IdleRun,
    /// An islands mode that is neither `avoid` nor `allow`.
    Islands,
    /// A deadline that is not a number of seconds up to a year.
    Deadline,
    /// A message verb that is not known.
    UnknownMessage,
    /// A message with the wrong number of words.
    MessageArgs,
    /// A switch that is neither `on` nor `off`.
    OnOff,
}

impl ParseError {
    /// Short, exact error text, NUL-terminated for the kernel's `ti->error`.
    pub const fn c_message(self) -> &'static core::ffi::CStr {
        match self {
            ParseError::ArgCount => c"Invalid number of arguments",
            ParseError::ChunkSize => c"Invalid chunk size",
            ParseError::ChunkTooLarge => c"Chunk size larger than 8 MiB",
            ParseError::ChunkNotPowerOfTwo => c"Chunk size is not a power of 2",
            ParseError::FeatureCount => c"Invalid number of feature arguments",
            ParseError::UnknownFeature => c"Unknown feature argument",
            ParseError::DuplicateFeature => c"Duplicate feature argument",
            ParseError::Ratio => c"Invalid ratio",
            ParseError::Policy => c"Unknown policy",
            ParseError::CacheSize => c"Invalid cache size",
            ParseError::CacheNegative => c"Cache size is negative",
            ParseError::CacheTooLarge => c"Cache size larger than 65536 MiB",
            ParseError::CacheEviction => c"Unknown cache eviction: liveness or lru",
            ParseError::SourceOffset => c"Invalid source offset",
            ParseError::Disk => c"Invalid disk: expected <major>:<minor>",
            ParseError::BlockSize => c"Invalid block size: a power of 2 from 8 to the chunk size",
            ParseError::Depth => c"Invalid depth: 1 to 8",
            ParseError::FlushInterval => c"Invalid flush interval: 0 to 3600000 ms",
            ParseError::Reads => c"Unknown reads mode: source, destination or auto",
            ParseError::IdleRun => c"Invalid idle run: 0 to 16384 sectors",
            ParseError::Islands => c"Unknown islands mode: avoid or allow",
            ParseError::Deadline => c"Invalid deadline: 0 to 31622400 seconds",
            ParseError::UnknownMessage => c"Unknown message",
            ParseError::OnOff => c"Expected on or off",
            ParseError::MessageArgs => c"Invalid number of message arguments",
        }
    }

    /// Short, exact error text.
    pub fn message(self) -> &'static str {
        // Every message is ASCII, so the conversion cannot fail.
        self.c_message().to_str().unwrap_or("Invalid argument")
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// Parse an unsigned decimal number: ASCII digits only, no sign, no spaces,
/// no overflow.
pub fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v = 0u64;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v
            .checked_mul(10)?
            .checked_add(u64::from(b.wrapping_sub(b'0')))?;
    }
    Some(v)
}

/// A parsed constructor table line; device names borrow from the arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableConfig<'a> {
    /// Source device path (first argument).
    pub source: &'a str,
    /// Destination device path (second argument).
    pub dest: &'a str,
    /// Chunk size in 512-byte sectors, a power of two.
    pub chunk_sectors: u64,
    /// VM:migration dispatch ratio.
    pub ratio: Ratio,
    /// Chunk selection policy.
    pub policy: PolicyKind,
    /// Migration-aware cache size in MiB (0 = off).
    pub cache_mib: u32,
    /// Which cached block goes first.
    pub cache_eviction: Eviction,
    /// Start with the migration paused.
    pub paused: bool,
    /// Anticipate a VM's next request between dependent requests.
    pub anticipation: bool,
    /// Start of the source on its physical disk, in sectors.
    pub source_offset: Option<u64>,
    /// The physical disk whose head model the source shares, when the
    /// source is stacked on it (an LVM volume).
    pub disk: Option<DiskId>,
    /// Unit of migration state in sectors, when not the default.
    pub block_sectors: Option<u64>,
    /// Start copy IOs at the head (else at chunk boundaries).
    pub read_at_head: bool,
    /// Background copy IOs in flight at most.
    pub depth: u32,
    /// Queue-aware piggybacking.
    pub queue_aware: bool,
    /// Flush the destination once a write has waited this long (ms; 0 = at the end only).
    pub flush_interval_ms: u32,
    /// Which device serves VM reads of migrated blocks.
    pub reads: ReadsMode,
    /// Longest copy IO while the VM is idle, in sectors (0: a whole chunk).
    pub idle_run_sectors: u32,
    /// Keep reads at the head and piggybacking from leaving islands.
    pub avoid_islands: bool,
    /// Finish the copy within this many seconds (0: no deadline).
    pub deadline_s: u32,
    /// The metadata device path, if the migration is to survive a reload or a reboot.
    pub metadata: Option<&'a str>,
}

impl<'a> TableConfig<'a> {
    /// A configuration with every feature at its default.
    pub fn new(source: &'a str, dest: &'a str, chunk_sectors: u64) -> Self {
        Self {
            source,
            dest,
            chunk_sectors,
            ratio: Ratio::default(),
            policy: PolicyKind::default(),
            cache_mib: CACHE_MIB_DEFAULT,
            cache_eviction: Eviction::Liveness,
            paused: false,
            anticipation: true,
            source_offset: None,
            disk: None,
            block_sectors: None,
            read_at_head: true,
            depth: DEPTH_DEFAULT,
            queue_aware: false,
            flush_interval_ms: FLUSH_INTERVAL_MS_DEFAULT,
            reads: ReadsMode::Auto,
            idle_run_sectors: IDLE_RUN_SECTORS_DEFAULT,
            avoid_islands: true,
            deadline_s: 0,
            metadata: None,
        }
    }

    /// The block size in force in sectors.
    pub fn block_sectors(&self) -> u64 {
        self.block_sectors
            .unwrap_or(BLOCK_SECTORS_DEFAULT.min(self.chunk_sectors))
    }

    /// log2 of the chunk size in sectors.
    pub const fn chunk_shift(&self) -> u32 {
        self.chunk_sectors.trailing_zeros()
    }

    /// Number of feature words [`format_table`] emits.
    pub fn nr_feature_words(&self) -> u32 {
        FEATURES
            .iter()
            .filter(|f| (f.is_set)(self))
            .map(|f| if f.takes_value { 2u32 } else { 1 })
            .fold(0u32, u32::saturating_add)
    }
}

/// One table feature: its name, whether a value follows it, and how it is
/// read into and written from a [`TableConfig`]. [`FEATURES`] drives the
/// parser, the duplicate check, the word count and the formatter, and the
/// documentation's table is checked against it.
pub struct Feature {
    /// The name, as in the table line (matched ASCII case-insensitively).
    pub name: &'static str,
    /// Whether one value word follows the name (else it is a flag).
    pub takes_value: bool,
    /// Sets the feature from its value (`""` for a flag).
    apply: for<'a> fn(&mut TableConfig<'a>, &'a str) -> Result<(), ParseError>,
    /// Whether the configuration differs from the default (it is printed).
    is_set: fn(&TableConfig<'_>) -> bool,
    /// Writes the value (nothing for a flag).
    write_value: fn(&TableConfig<'_>, &mut dyn fmt::Write) -> fmt::Result,
}

fn no_value(_: &TableConfig<'_>, _: &mut dyn fmt::Write) -> fmt::Result {
    Ok(())
}

/// Every table feature, in the order [`format_table`] prints them.
pub const FEATURES: [Feature; 18] = [
    Feature {
        name: "ratio",
        takes_value: true,
        apply: |c, v| {
            c.ratio = Ratio::parse(v).ok_or(ParseError::Ratio)?;
            Ok(())
        },
        is_set: |c| c.ratio != Ratio::default(),
        write_value: |c, out| write!(out, "{}", c.ratio),
    },
    Feature {
        name: "policy",
        takes_value: true,
        apply: |c, v| {
            c.policy = PolicyKind::from_name(v).ok_or(ParseError::Policy)?;
            Ok(())
        },
        is_set: |c| c.policy != PolicyKind::default(),
        write_value: |c, out| write!(out, "{}", c.policy),
    },
    Feature {
        name: "cache",
        takes_value: true,
        apply: |c, v| {
            c.cache_mib = parse_cache_mib(v)?;
            Ok(())
        },
        is_set: |c| c.cache_mib != CACHE_MIB_DEFAULT,
        write_value: |c, out| write!(out, "{}", c.cache_mib),
    },
    Feature {
        name: "cache_eviction",
        takes_value: true,
        apply: |c, v| {
            c.cache_eviction = Eviction::from_name(v).ok_or(ParseError::CacheEviction)?;
            Ok(())
        },
        is_set: |c| c.cache_eviction != Eviction::Liveness,
        write_value: |c, out| out.write_str(c.cache_eviction.name()),
    },
    Feature {
        name: "paused",
        takes_value: false,
        apply: |c, _| {
            c.paused = true;
            Ok(())
        },
        is_set: |c| c.paused,
        write_value: no_value,
    },
    Feature {
        name: "no_anticipation",
        takes_value: false,
        apply: |c, _| {
            c.anticipation = false;
            Ok(())
        },
        is_set: |c| !c.anticipation,
        write_value: no_value,
    },
    Feature {
        name: "source_offset",
        takes_value: true,
        apply: |c, v| {
            c.source_offset = Some(parse_u64(v).ok_or(ParseError::SourceOffset)?);
            Ok(())
        },
        is_set: |c| c.source_offset.is_some(),
        write_value: |c, out| write!(out, "{}", c.source_offset.unwrap_or(0)),
    },
    Feature {
        name: "disk",
        takes_value: true,
        apply: |c, v| {
            c.disk = Some(DiskId::parse(v).ok_or(ParseError::Disk)?);
            Ok(())
        },
        is_set: |c| c.disk.is_some(),
        write_value: |c, out| match c.disk {
            Some(d) => write!(out, "{d}"),
            None => Ok(()),
        },
    },
    Feature {
        name: "block",
        takes_value: true,
        apply: |c, v| {
            let chunk = c.chunk_sectors;
            let sectors = parse_u64(v)
                .filter(|&b| b.is_power_of_two() && b >= CHUNK_SECTORS_MIN && b <= chunk)
                .ok_or(ParseError::BlockSize)?;
            c.block_sectors = Some(sectors);
            Ok(())
        },
        is_set: |c| c.block_sectors.is_some(),
        write_value: |c, out| write!(out, "{}", c.block_sectors.unwrap_or(0)),
    },
    Feature {
        name: "no_read_at_head",
        takes_value: false,
        apply: |c, _| {
            c.read_at_head = false;
            Ok(())
        },
        is_set: |c| !c.read_at_head,
        write_value: no_value,
    },
    Feature {
        name: "depth",
        takes_value: true,
        apply: |c, v| {
            c.depth = parse_depth(v).ok_or(ParseError::Depth)?;
            Ok(())
        },
        is_set: |c| c.depth != DEPTH_DEFAULT,
        write_value: |c, out| write!(out, "{}", c.depth),
    },
    Feature {
        name: "queue_aware",
        takes_value: false,
        apply: |c, _| {
            c.queue_aware = true;
            Ok(())
        },
        is_set: |c| c.queue_aware,
        write_value: no_value,
    },
    Feature {
        name: "flush_interval",
        takes_value: true,
        apply: |c, v| {
            c.flush_interval_ms = parse_flush_interval(v).ok_or(ParseError::FlushInterval)?;
            Ok(())
        },
        is_set: |c| c.flush_interval_ms != FLUSH_INTERVAL_MS_DEFAULT,
        write_value: |c, out| write!(out, "{}", c.flush_interval_ms),
    },
    Feature {
        name: "reads",
        takes_value: true,
        apply: |c, v| {
            c.reads = ReadsMode::from_name(v).ok_or(ParseError::Reads)?;
            Ok(())
        },
        is_set: |c| c.reads != ReadsMode::Auto,
        write_value: |c, out| out.write_str(c.reads.name()),
    },
    Feature {
        name: "idle_run",
        takes_value: true,
        apply: |c, v| {
            c.idle_run_sectors = parse_idle_run(v).ok_or(ParseError::IdleRun)?;
            Ok(())
        },
        is_set: |c| c.idle_run_sectors != IDLE_RUN_SECTORS_DEFAULT,
        write_value: |c, out| write!(out, "{}", c.idle_run_sectors),
    },
    Feature {
        name: "islands",
        takes_value: true,
        apply: |c, v| {
            c.avoid_islands = parse_islands(v).ok_or(ParseError::Islands)?;
            Ok(())
        },
        is_set: |c| !c.avoid_islands,
        write_value: |c, out| out.write_str(islands_name(c.avoid_islands)),
    },
    Feature {
        name: "deadline",
        takes_value: true,
        apply: |c, v| {
            c.deadline_s = parse_deadline(v).ok_or(ParseError::Deadline)?;
            Ok(())
        },
        is_set: |c| c.deadline_s != 0,
        write_value: |c, out| write!(out, "{}", c.deadline_s),
    },
    Feature {
        name: "metadata",
        takes_value: true,
        apply: |c, v| {
            c.metadata = Some(v);
            Ok(())
        },
        is_set: |c| c.metadata.is_some(),
        write_value: |c, out| out.write_str(c.metadata.unwrap_or("")),
    },
];

const _: () = assert!(FEATURES.len() <= u32::BITS as usize);

/// The feature called `name` (ASCII case-insensitive) and its index.
fn feature(name: &str) -> Option<(usize, &'static Feature)> {
    FEATURES
        .iter()
        .enumerate()
        .find(|(_, f)| f.name.eq_ignore_ascii_case(name))
}

/// Parse the full constructor argument list:
/// `<source> <dest> <chunk sectors> [<#feature args> <feature arg>*]`.
pub fn parse_table<'a>(args: &[&'a str]) -> Result<TableConfig<'a>, ParseError> {
    let (&source, &dest, &chunk) = match args {
        [s, d, c, ..] => (s, d, c),
        _ => return Err(ParseError::ArgCount),
    };
    let chunk_sectors = parse_u64(chunk).ok_or(ParseError::ChunkSize)?;
    if chunk_sectors < CHUNK_SECTORS_MIN {
        return Err(ParseError::ChunkSize);
    }
    if chunk_sectors > CHUNK_SECTORS_MAX {
        return Err(ParseError::ChunkTooLarge);
    }
    if !chunk_sectors.is_power_of_two() {
        return Err(ParseError::ChunkNotPowerOfTwo);
    }
    let mut cfg = TableConfig::new(source, dest, chunk_sectors);
    let rest = args.get(3..).unwrap_or(&[]);
    let Some((&count, features)) = rest.split_first() else {
        return Ok(cfg);
    };
    let count = parse_u64(count).ok_or(ParseError::FeatureCount)?;
    if u64::try_from(features.len()).ok() != Some(count) {
        return Err(ParseError::FeatureCount);
    }
    // One bit a feature: each may be given once.
    let mut seen = 0u32;
    let mut it = features.iter();
    while let Some(&name) = it.next() {
        let (i, f) = feature(name).ok_or(ParseError::UnknownFeature)?;
        let bit = 1u32
            .checked_shl(u32::try_from(i).unwrap_or(u32::MAX))
            .unwrap_or(0);
        if seen & bit != 0 {
            return Err(ParseError::DuplicateFeature);
        }
        seen |= bit;
        let value = if f.takes_value {
            *it.next().ok_or(ParseError::FeatureCount)?
        } else {
            ""
        };
        (f.apply)(&mut cfg, value)?;
    }
    Ok(cfg)
}

/// A block device number, `<major>:<minor>`, as the kernel's `dev_t`
/// encodes it (12-bit major, 20-bit minor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskId {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl DiskId {
    /// Parses `<major>:<minor>`; `None` outside the kernel's `dev_t`.
    pub fn parse(s: &str) -> Option<Self> {
        let (major, minor) = s.split_once(':')?;
        let major = u32::try_from(parse_u64(major)?)
            .ok()
            .filter(|&m| m < 1 << 12)?;
        let minor = u32::try_from(parse_u64(minor)?)
            .ok()
            .filter(|&m| m < 1 << 20)?;
        Some(Self { major, minor })
    }

    /// The kernel's `dev_t` (`MKDEV`).
    pub const fn dev_t(self) -> u32 {
        (self.major << 20) | self.minor
    }
}

impl fmt::Display for DiskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// A cache size in MiB, `0..=CACHE_MIB_MAX`; each way of being wrong has its
/// own error.
pub fn parse_cache_mib(s: &str) -> Result<u32, ParseError> {
    if let Some(digits) = s.strip_prefix('-') {
        return Err(if parse_u64(digits).is_some() {
            ParseError::CacheNegative
        } else {
            ParseError::CacheSize
        });
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) || s.is_empty() {
        return Err(ParseError::CacheSize);
    }
    // All digits: anything that does not fit is too large.
    parse_u64(s)
        .and_then(|v| u32::try_from(v).ok())
        .filter(|&v| v <= CACHE_MIB_MAX)
        .ok_or(ParseError::CacheTooLarge)
}

/// A copy depth in `1..=DEPTH_MAX`.
pub fn parse_depth(s: &str) -> Option<u32> {
    parse_u64(s)
        .and_then(|d| u32::try_from(d).ok())
        .filter(|d| (1..=DEPTH_MAX).contains(d))
}

/// An idle run in sectors, `0..=CHUNK_SECTORS_MAX`.
pub fn parse_idle_run(s: &str) -> Option<u32> {
    parse_u64(s)
        .filter(|&d| d <= CHUNK_SECTORS_MAX)
        .and_then(|d| u32::try_from(d).ok())
}

/// Default [`TableConfig::idle_run_sectors`]: off. 256 KiB was chosen from
/// the simulator first; measured in the guest it made the copy 2.9 times
/// longer for a VM latency while copying 0.6-0.8 times as high, and over
/// the whole trace 0.89 (FIFO) and 1.64 (NCQ) times (results.rst,
/// 2026-12-02).
pub const IDLE_RUN_SECTORS_DEFAULT: u32 = 0;

/// `avoid` (true) or `allow` (false), ASCII case-insensitive.
pub fn parse_islands(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("avoid") {
        Some(true)
    } else if s.eq_ignore_ascii_case("allow") {
        Some(false)
    } else {
        None
    }
}

/// The word for an islands mode.
pub const fn islands_name(avoid: bool) -> &'static str {
    if avoid {
        "avoid"
    } else {
        "allow"
    }
}

/// A flush interval in ms, `0..=FLUSH_INTERVAL_MS_MAX`.
pub fn parse_flush_interval(s: &str) -> Option<u32> {
    parse_u64(s)
        .and_then(|d| u32::try_from(d).ok())
        .filter(|&d| d <= FLUSH_INTERVAL_MS_MAX)
}

/// Write the feature group (`<#feature args> <feature arg>*`, nothing when
/// every feature is at its default) of `cfg`, with a leading space.
pub fn format_features<W: fmt::Write>(cfg: &TableConfig<'_>, out: &mut W) -> fmt::Result {
    let n = cfg.nr_feature_words();
    if n == 0 {
        return Ok(());
    }
    write!(out, " {n}")?;
    for f in FEATURES.iter().filter(|f| (f.is_set)(cfg)) {
        write!(out, " {}", f.name)?;
        if f.takes_value {
            out.write_char(' ')?;
            (f.write_value)(cfg, out)?;
        }
    }
    Ok(())
}

/// Write the table line of `cfg` with the device names `source` and `dest`
/// supplied by the caller (the kernel prints `major:minor`). Parsing the
/// output with [`parse_table`] gives `cfg` back, with those names.
pub fn format_table<W: fmt::Write>(
    cfg: &TableConfig<'_>,
    source: &str,
    dest: &str,
    out: &mut W,
) -> fmt::Result {
    write!(out, "{source} {dest} {}", cfg.chunk_sectors)?;
    format_features(cfg, out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    fn p(line: &str) -> Result<TableConfig<'_>, ParseError> {
        let v: Vec<&str> = line.split_whitespace().collect();
        parse_table(&v)
    }

    #[test]
    fn defaults() {
        let c = p("/dev/a /dev/b 2048").unwrap();
        assert_eq!(c, TableConfig::new("/dev/a", "/dev/b", 2048));
        assert_eq!(c.chunk_shift(), 11);
        assert_eq!(c.ratio, Ratio::new(2, 1).unwrap());
        assert_eq!(c.cache_mib, 64);
    }

    #[test]
    fn features() {
        let c = p("a b 256 10 ratio 3:1 POLICY Sequential cache 0 paused no_anticipation source_offset 77").unwrap();
        assert_eq!(c.ratio, Ratio::new(3, 1).unwrap());
        assert_eq!(c.policy, PolicyKind::Sequential);
        assert_eq!(c.cache_mib, 0);
        assert!(c.paused);
        assert!(!c.anticipation);
        assert_eq!(c.source_offset, Some(77));
        let mut s = String::new();
        format_table(&c, "8:16", "8:32", &mut s).unwrap();
        assert_eq!(
            s,
            "8:16 8:32 256 10 ratio 3:1 policy sequential cache 0 paused no_anticipation source_offset 77"
        );
        assert_eq!(p("a b 8 0").unwrap(), TableConfig::new("a", "b", 8));
        assert_eq!(p("a b 8 0").unwrap().block_sectors(), 8);
        assert_eq!(p("a b 2048").unwrap().block_sectors(), 128);
        let c = p("a b 2048 3 block 2048 no_read_at_head").unwrap();
        assert_eq!(c.block_sectors(), 2048);
        assert!(!c.read_at_head);
        let mut s = String::new();
        format_table(&c, "1:2", "3:4", &mut s).unwrap();
        assert_eq!(s, "1:2 3:4 2048 3 block 2048 no_read_at_head");
        let c = p("a b 2048 2 depth 8").unwrap();
        assert_eq!(c.depth, 8);
        let mut s = String::new();
        format_table(&c, "1:2", "3:4", &mut s).unwrap();
        assert_eq!(s, "1:2 3:4 2048 2 depth 8");
        let c = p("a b 2048 1 QUEUE_AWARE").unwrap();
        assert!(c.queue_aware);
        let mut s = String::new();
        format_table(&c, "1:2", "3:4", &mut s).unwrap();
        assert_eq!(s, "1:2 3:4 2048 1 queue_aware");
        let c = p("a b 2048 4 source_offset 2048 disk 253:7").unwrap();
        assert_eq!(
            c.disk,
            Some(DiskId {
                major: 253,
                minor: 7
            })
        );
        assert_eq!(c.disk.map(DiskId::dev_t), Some(253 << 20 | 7));
        let mut s = String::new();
        format_table(&c, "1:2", "3:4", &mut s).unwrap();
        assert_eq!(s, "1:2 3:4 2048 4 source_offset 2048 disk 253:7");
        assert_eq!(
            p("a b 8 2 disk 4095:1048575")
                .unwrap()
                .disk
                .map(DiskId::dev_t),
            Some(u32::MAX)
        );
    }

    #[test]
    fn deadline_round_trips() {
        let c = p("a b 2048 2 deadline 3600").unwrap();
        assert_eq!(c.deadline_s, 3600);
        let mut s = String::new();
        format_table(&c, "1:2", "3:4", &mut s).unwrap();
        assert_eq!(s, "1:2 3:4 2048 2 deadline 3600");
        // 0 is no deadline: the default, not printed.
        assert_eq!(
            p("a b 2048 2 deadline 0").unwrap(),
            TableConfig::new("a", "b", 2048)
        );
    }

    #[test]
    fn metadata_round_trips() {
        let c = p("a b 2048 2 metadata /dev/vg/meta").unwrap();
        assert_eq!(c.metadata, Some("/dev/vg/meta"));
        let mut s = String::new();
        format_table(&c, "1:2", "3:4", &mut s).unwrap();
        assert_eq!(s, "1:2 3:4 2048 2 metadata /dev/vg/meta");
        assert_eq!(p("a b 2048").unwrap().metadata, None);
        assert_eq!(
            p("a b 2048 1 metadata").unwrap_err(),
            ParseError::FeatureCount
        );
        assert_eq!(
            p("a b 2048 4 metadata m metadata n").unwrap_err(),
            ParseError::DuplicateFeature
        );
    }

    #[test]
    fn errors() {
        let cases = [
            ("", ParseError::ArgCount),
            ("a b", ParseError::ArgCount),
            ("a b x", ParseError::ChunkSize),
            ("a b 4", ParseError::ChunkSize),
            ("a b 4194304", ParseError::ChunkTooLarge),
            ("a b 2048 2 block 4096", ParseError::BlockSize),
            ("a b 2048 2 block 96", ParseError::BlockSize),
            ("a b 2048 2 block 4", ParseError::BlockSize),
            ("a b 2048 2 block x", ParseError::BlockSize),
            ("a b 2048 4 block 8 block 8", ParseError::DuplicateFeature),
            (
                "a b 2048 2 no_read_at_head no_read_at_head",
                ParseError::DuplicateFeature,
            ),
            ("a b 2048 2 depth 0", ParseError::Depth),
            ("a b 2048 2 depth 9", ParseError::Depth),
            ("a b 2048 2 depth x", ParseError::Depth),
            ("a b 32768", ParseError::ChunkTooLarge),
            ("a b 24", ParseError::ChunkNotPowerOfTwo),
            ("a b 8 1", ParseError::FeatureCount),
            ("a b 8 x paused", ParseError::FeatureCount),
            ("a b 8 2 paused", ParseError::FeatureCount),
            ("a b 8 1 ratio", ParseError::FeatureCount),
            ("a b 8 1 frob", ParseError::UnknownFeature),
            ("a b 8 2 paused PAUSED", ParseError::DuplicateFeature),
            ("a b 8 2 ratio 0:1", ParseError::Ratio),
            ("a b 8 2 policy lru", ParseError::Policy),
            ("a b 8 2 cache 65537", ParseError::CacheTooLarge),
            ("a b 8 2 cache 999999999", ParseError::CacheTooLarge),
            (
                "a b 8 2 cache 99999999999999999999999",
                ParseError::CacheTooLarge,
            ),
            ("a b 8 2 cache -1", ParseError::CacheNegative),
            ("a b 8 2 cache x", ParseError::CacheSize),
            ("a b 8 2 cache -x", ParseError::CacheSize),
            ("a b 8 2 cache_eviction fifo", ParseError::CacheEviction),
            (
                "a b 8 4 cache_eviction lru cache_eviction lru",
                ParseError::DuplicateFeature,
            ),
            ("a b 8 2 source_offset x", ParseError::SourceOffset),
            ("a b 8 2 disk 8", ParseError::Disk),
            ("a b 8 2 disk 8:", ParseError::Disk),
            ("a b 8 2 disk 4096:0", ParseError::Disk),
            ("a b 8 2 disk 8:1048576", ParseError::Disk),
            ("a b 8 2 disk -8:0", ParseError::Disk),
            ("a b 8 4 disk 8:0 DISK 8:0", ParseError::DuplicateFeature),
            ("a b 8 2 deadline -1", ParseError::Deadline),
            ("a b 8 2 deadline 31622401", ParseError::Deadline),
            ("a b 8 2 deadline 1h", ParseError::Deadline),
        ];
        for (line, want) in cases {
            assert_eq!(p(line), Err(want), "{line}");
        }
        assert_eq!(
            ParseError::ChunkNotPowerOfTwo.message(),
            "Chunk size is not a power of 2"
        );
    }
}
