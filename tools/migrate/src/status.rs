// SPDX-License-Identifier: GPL-2.0

//! The iofollow status line as the tool reads it: the policy core's
//! [`StatusLine`] (one definition with the kernel's writer), and its JSON.

use crate::error::{Error, Result};
use iofollow_policy::status::{FieldValue, FIELDS};
pub use iofollow_policy::status::{StateWord as State, StatusLine as Status};
use std::fmt::Write as _;

/// Parses the target's status line, with the line in the error.
pub fn parse(line: &str) -> Result<Status> {
    Status::parse(line).map_err(|e| Error::new(format!("{e}: '{line}'")))
}

/// Every field of `status` by its name (`"head_sector":98816`, ...), with a
/// leading comma.
fn fields_json(s: &mut String, status: &Status) {
    for name in FIELDS {
        match status.field(name) {
            Some(FieldValue::Number(n)) => {
                let _ = write!(s, ",\"{name}\":{n}");
            }
            Some(FieldValue::Word(w)) => {
                let _ = write!(s, ",\"{name}\":\"{w}\"");
            }
            None => {}
        }
    }
}

/// A progress sample for scripts: one JSON object per line, every status
/// field by its name, the bytes they stand for, and the rate once measured.
pub fn json_line(device: &str, status: &Status, block_bytes: u64, rate: Option<u64>) -> String {
    let mut s = format!("{{\"device\":\"{}\"", json_escape(device));
    fields_json(&mut s, status);
    let migrated = status.migrated_blocks.saturating_mul(block_bytes);
    let total = status.total_blocks.saturating_mul(block_bytes);
    let _ = write!(
        s,
        ",\"block_bytes\":{block_bytes},\"migrated_bytes\":{migrated},\"total_bytes\":{total}"
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

/// A change of the target's state: `{"event":"state","device":"<dev>",
/// "state":"<new>","previous":"<old>"|null,"fault":"source"|"destination"|"-"}`.
pub fn json_state_event(device: &str, st: &Status, previous: Option<State>) -> String {
    let previous = previous.map_or("null".to_string(), |p| format!("\"{p}\""));
    format!(
        "{{\"event\":\"state\",\"device\":\"{}\",\"state\":\"{}\",\"previous\":{previous},\"fault\":\"{}\"}}",
        json_escape(device),
        st.state,
        st.fault.map_or("-", |f| f.name())
    )
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
            parse("copying 12/512 3 204800 77 40 5 6 1048576/67108864 follow 2:1 - 0/0").unwrap();
        assert_eq!(s.state, State::Copying);
        assert_eq!(
            (
                s.migrated_blocks,
                s.total_blocks,
                s.dirty_blocks,
                s.head_sector
            ),
            (12, 512, 3, 204800)
        );
        assert_eq!((s.vm_ios, s.migration_ios), (77, 40));
        assert_eq!(
            (s.policy.name(), s.ratio.to_string()),
            ("follow", "2:1".into())
        );
        let s = parse("synced 512/512 0 9 0 0 0 0 0/0 sequential 4:1 - 0/0").unwrap();
        assert_eq!(s.state, State::Synced);
        assert_eq!(
            json_state_event("vg0-vm7", &s, Some(State::Copying)),
            "{\"event\":\"state\",\"device\":\"vg0-vm7\",\"state\":\"synced\",\"previous\":\"copying\",\"fault\":\"-\"}"
        );
        assert!(json_state_event("a", &s, None).contains("\"previous\":null"));
    }

    #[test]
    fn refuses_what_is_not_iofollow() {
        for line in [
            "",
            "0 2048 linear",
            "copying 12 3",
            "copying 13/12 0 0 0 0 0 0 0/0 follow 2:1 - 0/0",
            "copying x/12 0 0 0 0 0 0 0/0 follow 2:1 -",
            "copying 1/12 0 0 0 0 0 0 0/0",
            "resyncing 1/12 0 0 0 0 0 0 0/0 follow 2:1 - 0/0",
        ] {
            assert!(parse(line).is_err(), "{line}");
        }
    }

    #[test]
    fn json() {
        let s = parse("copying 1/4 0 8 2 3 0 0 0/0 follow 2:1 - 0/0").unwrap();
        assert_eq!(
            json_line("vg-\"lv\"", &s, 65536, Some(65536)),
            "{\"device\":\"vg-\\\"lv\\\"\",\"state\":\"copying\",\"migrated_blocks\":1,\
             \"total_blocks\":4,\"dirty_blocks\":0,\"head_sector\":8,\"vm_ios\":2,\
             \"migration_ios\":3,\"cache_hits\":0,\"cache_misses\":0,\"cache_bytes\":0,\
             \"cache_capacity_bytes\":0,\"policy\":\"follow\",\"ratio\":\"2:1\",\"fault\":\"-\",\
             \"source_reads\":0,\"dest_reads\":0,\
             \"block_bytes\":65536,\"migrated_bytes\":65536,\"total_bytes\":262144,\
             \"bytes_per_second\":65536,\"eta_seconds\":3}"
        );
        assert!(json_line("d", &s, 512, None)
            .ends_with("\"bytes_per_second\":null,\"eta_seconds\":null}"));
        assert_eq!(
            json_event("d", "switched", Some("a\nb")),
            "{\"event\":\"switched\",\"device\":\"d\",\"detail\":\"a\\u000ab\"}"
        );
    }
}
