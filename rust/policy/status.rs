// SPDX-License-Identifier: GPL-2.0

//! The status line of `dmsetup status` (INFO): one definition, written by
//! the kernel and read by `iofollow-migrate`, the tests and the benchmark.
//!
//! ```text
//! <state> <migrated>/<total> <dirty> <head sector> <vm ios> <migration ios>
//! <cache hits> <cache misses> <cache bytes>/<cache capacity> <policy> <V>:<M> <fault>
//! <source reads>/<destination reads>
//! ```
//!
//! [`FIELDS`] names every field in line order (the names of the tool's
//! `status --json` and of the tests' `status_field`).

use crate::policy::ordering::Fault;
use crate::policy::ratio::Ratio;
use crate::policy::select::PolicyKind;
use crate::policy::table::parse_u64;
use core::fmt;

/// The state word of the status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateWord {
    /// Blocks are being copied.
    Copying,
    /// The migration is paused (`pause` message or `paused` feature).
    Paused,
    /// Every block is migrated and flushed; writes are mirrored.
    Synced,
    /// A device failed (see [`StatusLine::fault`]); the source serves the VM.
    Error,
}

impl StateWord {
    /// Every state word.
    pub const ALL: [StateWord; 4] = [
        StateWord::Copying,
        StateWord::Paused,
        StateWord::Synced,
        StateWord::Error,
    ];

    /// The state called `word`, as printed.
    pub fn from_name(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// The word as printed.
    pub const fn as_str(self) -> &'static str {
        match self {
            StateWord::Copying => "copying",
            StateWord::Paused => "paused",
            StateWord::Synced => "synced",
            StateWord::Error => "error",
        }
    }
}

impl fmt::Display for StateWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusLine {
    /// `copying`, `paused`, `synced` or `error`.
    pub state: StateWord,
    /// Blocks whose destination copy is current.
    pub migrated_blocks: u64,
    /// All blocks.
    pub total_blocks: u64,
    /// Blocks copied before and pending again.
    pub dirty_blocks: u64,
    /// Head position on the source's physical disk.
    pub head_sector: u64,
    /// VM bios mapped.
    pub vm_ios: u64,
    /// Copy reads and writes issued.
    pub migration_ios: u64,
    /// VM reads served from the cache.
    pub cache_hits: u64,
    /// VM reads that went to a disk while the cache was on.
    pub cache_misses: u64,
    /// Bytes cached now.
    pub cache_bytes: u64,
    /// The cache's capacity in force, in bytes.
    pub cache_capacity_bytes: u64,
    /// Selection policy in force.
    pub policy: PolicyKind,
    /// Ratio in force.
    pub ratio: Ratio,
    /// In the `error` state, which device failed (`-` otherwise).
    pub fault: Option<Fault>,
    /// VM reads the source served (those the routing chose it for).
    pub source_reads: u64,
    /// VM reads the destination served.
    pub dest_reads: u64,
}

/// The fields' names, in line order.
pub const FIELDS: [&str; 16] = [
    "state",
    "migrated_blocks",
    "total_blocks",
    "dirty_blocks",
    "head_sector",
    "vm_ios",
    "migration_ios",
    "cache_hits",
    "cache_misses",
    "cache_bytes",
    "cache_capacity_bytes",
    "policy",
    "ratio",
    "fault",
    "source_reads",
    "dest_reads",
];

/// One field's value, for a caller that reads fields by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValue {
    /// A counter or position.
    Number(u64),
    /// A word (state, policy, ratio, fault).
    Word(WordValue),
}

/// A word-valued field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordValue {
    /// The state word.
    State(StateWord),
    /// The policy.
    Policy(PolicyKind),
    /// The ratio.
    Ratio(Ratio),
    /// The fault, `-` for none.
    Fault(Option<Fault>),
}

impl fmt::Display for WordValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WordValue::State(s) => write!(f, "{s}"),
            WordValue::Policy(p) => write!(f, "{p}"),
            WordValue::Ratio(r) => write!(f, "{r}"),
            WordValue::Fault(None) => f.write_str("-"),
            WordValue::Fault(Some(x)) => f.write_str(x.name()),
        }
    }
}

/// A status line that could not be read: the first field that is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusParseError {
    /// The field's name (one of [`FIELDS`]), or `end` for words left over.
    pub field: &'static str,
}

impl fmt::Display for StatusParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected iofollow status line: bad {}", self.field)
    }
}

impl StatusLine {
    /// The value of the field called `name`, if there is one.
    pub fn field(&self, name: &str) -> Option<FieldValue> {
        use FieldValue::{Number as N, Word as W};
        Some(match name {
            "state" => W(WordValue::State(self.state)),
            "migrated_blocks" => N(self.migrated_blocks),
            "total_blocks" => N(self.total_blocks),
            "dirty_blocks" => N(self.dirty_blocks),
            "head_sector" => N(self.head_sector),
            "vm_ios" => N(self.vm_ios),
            "migration_ios" => N(self.migration_ios),
            "cache_hits" => N(self.cache_hits),
            "cache_misses" => N(self.cache_misses),
            "cache_bytes" => N(self.cache_bytes),
            "cache_capacity_bytes" => N(self.cache_capacity_bytes),
            "policy" => W(WordValue::Policy(self.policy)),
            "ratio" => W(WordValue::Ratio(self.ratio)),
            "fault" => W(WordValue::Fault(self.fault)),
            "source_reads" => N(self.source_reads),
            "dest_reads" => N(self.dest_reads),
            _ => return None,
        })
    }

    /// Reads a status line as [`fmt::Display`] writes it. Words may be
    /// separated by any ASCII whitespace.
    pub fn parse(line: &str) -> Result<Self, StatusParseError> {
        let mut words = line.split_ascii_whitespace();
        let mut next = |field: &'static str| words.next().ok_or(StatusParseError { field });
        let bad = |field| StatusParseError { field };
        let num = |field, w: &str| parse_u64(w).ok_or(bad(field));
        let pair = |a, b, w: &str| -> Result<(u64, u64), StatusParseError> {
            let (x, y) = w.split_once('/').ok_or(bad(a))?;
            Ok((num(a, x)?, num(b, y)?))
        };
        let state = StateWord::from_name(next("state")?).ok_or(bad("state"))?;
        let (migrated_blocks, total_blocks) =
            pair("migrated_blocks", "total_blocks", next("migrated_blocks")?)?;
        let dirty_blocks = num("dirty_blocks", next("dirty_blocks")?)?;
        let head_sector = num("head_sector", next("head_sector")?)?;
        let vm_ios = num("vm_ios", next("vm_ios")?)?;
        let migration_ios = num("migration_ios", next("migration_ios")?)?;
        let cache_hits = num("cache_hits", next("cache_hits")?)?;
        let cache_misses = num("cache_misses", next("cache_misses")?)?;
        let (cache_bytes, cache_capacity_bytes) =
            pair("cache_bytes", "cache_capacity_bytes", next("cache_bytes")?)?;
        let policy = PolicyKind::from_name(next("policy")?).ok_or(bad("policy"))?;
        let ratio = Ratio::parse(next("ratio")?).ok_or(bad("ratio"))?;
        let fault = match next("fault")? {
            "-" => None,
            "source" => Some(Fault::Source),
            "destination" => Some(Fault::Destination),
            _ => return Err(bad("fault")),
        };
        let (source_reads, dest_reads) = pair("source_reads", "dest_reads", next("source_reads")?)?;
        if next("end").is_ok() || migrated_blocks > total_blocks {
            return Err(bad(if migrated_blocks > total_blocks {
                "migrated_blocks"
            } else {
                "end"
            }));
        }
        Ok(Self {
            state,
            migrated_blocks,
            total_blocks,
            dirty_blocks,
            head_sector,
            vm_ios,
            migration_ios,
            cache_hits,
            cache_misses,
            cache_bytes,
            cache_capacity_bytes,
            policy,
            ratio,
            fault,
            source_reads,
            dest_reads,
        })
    }
}

impl fmt::Display for StatusLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{} {} {} {} {} {} {} {}/{} {} {} {} {}/{}",
            self.state,
            self.migrated_blocks,
            self.total_blocks,
            self.dirty_blocks,
            self.head_sector,
            self.vm_ios,
            self.migration_ios,
            self.cache_hits,
            self.cache_misses,
            self.cache_bytes,
            self.cache_capacity_bytes,
            self.policy,
            self.ratio,
            WordValue::Fault(self.fault),
            self.source_reads,
            self.dest_reads
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn sample() -> StatusLine {
        StatusLine {
            state: StateWord::Copying,
            migrated_blocks: 12,
            total_blocks: 1024,
            dirty_blocks: 1,
            head_sector: 98816,
            vm_ios: 40,
            migration_ios: 30,
            cache_hits: 2,
            cache_misses: 3,
            cache_bytes: 65536,
            cache_capacity_bytes: 67108864,
            policy: PolicyKind::Follow,
            ratio: Ratio::default(),
            fault: None,
            source_reads: 17,
            dest_reads: 5,
        }
    }

    #[test]
    fn the_line_as_the_kernel_prints_it() {
        let s = sample();
        let text = s.to_string();
        assert_eq!(
            text,
            "copying 12/1024 1 98816 40 30 2 3 65536/67108864 follow 2:1 - 17/5"
        );
        assert_eq!(StatusLine::parse(&text), Ok(s));
        let err = StatusLine {
            state: StateWord::Error,
            fault: Some(Fault::Destination),
            ..s
        };
        assert_eq!(StatusLine::parse(&err.to_string()), Ok(err));
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            ("", "state"),
            ("hydrating 1/2 0 0 0 0 0 0 0/0 follow 2:1 - 0/0", "state"),
            (
                "copying 3/2 0 0 0 0 0 0 0/0 follow 2:1 - 0/0",
                "migrated_blocks",
            ),
            (
                "copying 1 0 0 0 0 0 0 0/0 follow 2:1 - 0/0",
                "migrated_blocks",
            ),
            (
                "copying 1/x 0 0 0 0 0 0 0/0 follow 2:1 - 0/0",
                "total_blocks",
            ),
            ("copying 1/2 0 0 0 0 0 0 0/0 lru 2:1 - 0/0", "policy"),
            ("copying 1/2 0 0 0 0 0 0 0/0 follow 0:1 - 0/0", "ratio"),
            ("copying 1/2 0 0 0 0 0 0 0/0 follow 2:1", "fault"),
            ("copying 1/2 0 0 0 0 0 0 0/0 follow 2:1 -", "source_reads"),
            ("copying 1/2 0 0 0 0 0 0 0/0 follow 2:1 - 1/x", "dest_reads"),
            ("copying 1/2 0 0 0 0 0 0 0/0 follow 2:1 - 0/0 extra", "end"),
        ];
        for (line, field) in cases {
            assert_eq!(
                StatusLine::parse(line),
                Err(StatusParseError { field }),
                "{line}"
            );
        }
    }

    #[test]
    fn state_words() {
        for s in StateWord::ALL {
            assert_eq!(StateWord::from_name(s.as_str()), Some(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(StateWord::from_name("Synced"), None);
    }

    #[test]
    fn every_field_has_its_name() {
        let s = sample();
        for name in FIELDS {
            assert!(s.field(name).is_some(), "{name}");
        }
        assert_eq!(s.field("head_sector"), Some(FieldValue::Number(98816)));
        assert_eq!(s.field("nosuch"), None);
    }
}
