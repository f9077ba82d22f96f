// SPDX-License-Identifier: GPL-2.0

//! The iofollow status line (Documentation/iofollow.rst, "Status"):
//!
//! ```text
//! <state> <migrated>/<total> <dirty> <head sector> <vm ios> <migration ios>
//! <cache hits> <cache misses> <cache bytes>/<cache capacity> <policy> <V>:<M>
//! ```

use crate::error::{Error, Result};
use std::fmt::Write as _;

/// One parsed status line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// `copying`, `paused`, `synced` or `error`.
    pub state: State,
    /// Blocks whose destination copy is current.
    pub migrated: u64,
    /// All blocks.
    pub total: u64,
    /// Blocks copied before and pending again.
    pub dirty: u64,
    /// Head position on the source's physical disk.
    pub head: u64,
    /// VM bios mapped.
    pub vm_ios: u64,
    /// Copy reads and writes issued.
    pub migration_ios: u64,
    /// Selection policy in force.
    pub policy: String,
    /// Ratio in force, `V:M`.
    pub ratio: String,
}

/// The state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Copying.
    Copying,
    /// Paused by message or table.
    Paused,
    /// Every block migrated and flushed; writes are mirrored.
    Synced,
    /// A copy or mirrored write failed; the source serves the VM.
    Error,
}

impl State {
    /// The word as the kernel prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Copying => "copying",
            State::Paused => "paused",
            State::Synced => "synced",
            State::Error => "error",
        }
    }
}

fn number(word: Option<&str>, what: &str, line: &str) -> Result<u64> {
    word.and_then(|w| w.parse().ok())
        .ok_or_else(|| Error::new(format!("unexpected iofollow status (no {what}): '{line}'")))
}

impl Status {
    /// Parses the target's status line.
    pub fn parse(line: &str) -> Result<Self> {
        let mut w = line.split_whitespace();
        let state = match w.next() {
            Some("copying") => State::Copying,
            Some("paused") => State::Paused,
            Some("synced") => State::Synced,
            Some("error") => State::Error,
            _ => return Err(Error::new(format!("unexpected iofollow status: '{line}'"))),
        };
        let (migrated, total) = w.next().and_then(|p| p.split_once('/')).ok_or_else(|| {
            Error::new(format!(
                "unexpected iofollow status (no migrated/total): '{line}'"
            ))
        })?;
        let migrated = number(Some(migrated), "migrated blocks", line)?;
        let total = number(Some(total), "total blocks", line)?;
        let dirty = number(w.next(), "dirty blocks", line)?;
        let head = number(w.next(), "head sector", line)?;
        let vm_ios = number(w.next(), "vm ios", line)?;
        let migration_ios = number(w.next(), "migration ios", line)?;
        // Cache hits, misses and bytes: not needed here.
        let mut w = w.skip(3);
        let policy = w.next().unwrap_or_default().to_string();
        let ratio = w.next().unwrap_or_default().to_string();
        if migrated > total || policy.is_empty() || ratio.is_empty() {
            return Err(Error::new(format!("unexpected iofollow status: '{line}'")));
        }
        Ok(Self {
            state,
            migrated,
            total,
            dirty,
            head,
            vm_ios,
            migration_ios,
            policy,
            ratio,
        })
    }
}

/// A progress sample for scripts: one JSON object per line.
pub fn json_line(device: &str, status: &Status, block_bytes: u64, rate: Option<u64>) -> String {
    let mut s = String::new();
    let migrated = status.migrated.saturating_mul(block_bytes);
    let total = status.total.saturating_mul(block_bytes);
    let _ = write!(
        s,
        "{{\"device\":\"{}\",\"state\":\"{}\",\"migrated_bytes\":{migrated},\"total_bytes\":{total},\
         \"dirty_blocks\":{},\"head_sector\":{},\"vm_ios\":{},\"migration_ios\":{}",
        json_escape(device),
        status.state.as_str(),
        status.dirty,
        status.head,
        status.vm_ios,
        status.migration_ios,
    );
    match rate {
        Some(r) if r > 0 => {
            let eta = total.saturating_sub(migrated) / r;
            let _ = write!(s, ",\"bytes_per_second\":{r},\"eta_seconds\":{eta}}}");
        }
        _ => s.push_str(",\"bytes_per_second\":null,\"eta_seconds\":null}"),
    }
    s
}

/// A JSON event line: `{"event":"<name>","device":"<dev>"[,"detail":"..."]}`.
pub fn json_event(device: &str, event: &str, detail: Option<&str>) -> String {
    let mut s = format!(
        "{{\"event\":\"{}\",\"device\":\"{}\"",
        json_escape(event),
        json_escape(device)
    );
    if let Some(d) = detail {
        let _ = write!(s, ",\"detail\":\"{}\"", json_escape(d));
    }
    s.push('}');
    s
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_live_line() {
        let s =
            Status::parse("copying 12/512 3 204800 77 40 5 6 1048576/67108864 follow 2:1").unwrap();
        assert_eq!(s.state, State::Copying);
        assert_eq!((s.migrated, s.total, s.dirty, s.head), (12, 512, 3, 204800));
        assert_eq!((s.vm_ios, s.migration_ios), (77, 40));
        assert_eq!((s.policy.as_str(), s.ratio.as_str()), ("follow", "2:1"));
        let s = Status::parse("synced 512/512 0 9 0 0 0 0 0/0 sequential 4:1").unwrap();
        assert_eq!(s.state, State::Synced);
    }

    #[test]
    fn refuses_what_is_not_iofollow() {
        for line in [
            "",
            "0 2048 linear",
            "copying 12 3",
            "copying 13/12 0 0 0 0 0 0 0/0 follow 2:1",
            "copying x/12 0 0 0 0 0 0 0/0 follow 2:1",
            "copying 1/12 0 0 0 0 0 0 0/0",
            "resyncing 1/12 0 0 0 0 0 0 0/0 follow 2:1",
        ] {
            assert!(Status::parse(line).is_err(), "{line}");
        }
    }

    #[test]
    fn json() {
        let s = Status::parse("copying 1/4 0 8 2 3 0 0 0/0 follow 2:1").unwrap();
        assert_eq!(
            json_line("vg-\"lv\"", &s, 65536, Some(65536)),
            "{\"device\":\"vg-\\\"lv\\\"\",\"state\":\"copying\",\"migrated_bytes\":65536,\
             \"total_bytes\":262144,\"dirty_blocks\":0,\"head_sector\":8,\"vm_ios\":2,\
             \"migration_ios\":3,\"bytes_per_second\":65536,\"eta_seconds\":3}"
        );
        assert!(json_line("d", &s, 512, None)
            .ends_with("\"bytes_per_second\":null,\"eta_seconds\":null}"));
        assert_eq!(
            json_event("d", "switched", Some("a\nb")),
            "{\"event\":\"switched\",\"device\":\"d\",\"detail\":\"a\\u000ab\"}"
        );
    }
}
