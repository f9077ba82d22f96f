// SPDX-License-Identifier: GPL-2.0

//! Target messages (`dmsetup message <dev> 0 <verb> [<arg>]`).
//!
//! | message | effect |
//! |---|---|
//! | `pause` | stop issuing migration IO (in-flight copies finish) |
//! | `resume` | issue migration IO again |
//! | `ratio <V>:<M>` | change the VM:migration dispatch ratio |
//! | `policy follow\|sequential` | switch the chunk selection policy |
//! | `stats` | print the ordering protocol's counters |
//! | `anticipation on\|off` | anticipate a dependent VM's next request |
//! | `read_at_head on\|off` | start copy IOs at the head, or at chunk boundaries |
//! | `queue_aware on\|off` | piggyback VM reads while other VM IO is in flight |
//! | `depth <n>` | background copy IOs in flight at most (up to the table's depth) |
//! | `cache <MiB>` | resize the migration-aware cache (0 = off; empties it) |
//! | `cache_eviction liveness\|lru` | which cached block goes first |
//! | `reads source\|destination\|auto` | which device serves VM reads of migrated blocks |
//! | `flush_interval <ms>` | flush the destination once a write has waited this long (0 = at the end only) |
//! | `deadline <seconds>` | finish the copy within this many seconds from now (0 = no deadline) |
//! | `reset` | start the copy over: every block is copied again |
//!
//! Verbs and policy names are ASCII case-insensitive.

use crate::policy::liveness::Eviction;
use crate::policy::ratio::Ratio;
use crate::policy::readroute::ReadsMode;
use crate::policy::select::PolicyKind;
pub use crate::policy::table::ParseError;
use core::fmt;

/// A parsed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// Stop issuing migration IO.
    Pause,
    /// Issue migration IO again.
    Resume,
    /// New dispatch ratio.
    Ratio(Ratio),
    /// New selection policy.
    Policy(PolicyKind),
    /// Print the ordering counters.
    Stats,
    /// Anticipate the VM's next request (`on`) or not (`off`).
    Anticipation(bool),
    /// Start copy IOs at the head (`on`) or at chunk boundaries (`off`).
    ReadAtHead(bool),
    /// Background copy IOs in flight at most.
    Depth(u32),
    /// Queue-aware piggybacking on or off.
    QueueAware(bool),
    /// New cache size in MiB.
    Cache(u32),
    /// New cache eviction order.
    CacheEviction(Eviction),
    /// New destination flush interval in ms.
    FlushInterval(u32),
    /// New reads mode.
    Reads(ReadsMode),
    /// New idle-time run cap in sectors (0: whole chunks).
    IdleRun(u32),
    /// Avoid islands (`avoid`) or not (`allow`).
    Islands(bool),
    /// Finish the copy within this many seconds from now (0: no deadline).
    Deadline(u32),
    /// Start the copy over.
    Reset,
}

/// One message verb: its name, whether a value follows it, and how the
/// message is read from that value. [`MESSAGES`] drives the parser, and the
/// documentation's table is checked against it.
pub struct Verb {
    /// The verb (matched ASCII case-insensitively).
    pub name: &'static str,
    /// Whether one value word follows it.
    pub takes_value: bool,
    parse: fn(&str) -> Result<Message, ParseError>,
}

/// Every message, in the order the documentation lists them.
pub const MESSAGES: [Verb; 17] = [
    Verb {
        name: "pause",
        takes_value: false,
        parse: |_| Ok(Message::Pause),
    },
    Verb {
        name: "resume",
        takes_value: false,
        parse: |_| Ok(Message::Resume),
    },
    Verb {
        name: "ratio",
        takes_value: true,
        parse: |v| Ratio::parse(v).map(Message::Ratio).ok_or(ParseError::Ratio),
    },
    Verb {
        name: "policy",
        takes_value: true,
        parse: |v| {
            PolicyKind::from_name(v)
                .map(Message::Policy)
                .ok_or(ParseError::Policy)
        },
    },
    Verb {
        name: "stats",
        takes_value: false,
        parse: |_| Ok(Message::Stats),
    },
    Verb {
        name: "anticipation",
        takes_value: true,
        parse: |v| parse_on_off(v).map(Message::Anticipation),
    },
    Verb {
        name: "read_at_head",
        takes_value: true,
        parse: |v| parse_on_off(v).map(Message::ReadAtHead),
    },
    Verb {
        name: "queue_aware",
        takes_value: true,
        parse: |v| parse_on_off(v).map(Message::QueueAware),
    },
    Verb {
        name: "depth",
        takes_value: true,
        parse: |v| {
            crate::policy::table::parse_depth(v)
                .map(Message::Depth)
                .ok_or(ParseError::Depth)
        },
    },
    Verb {
        name: "cache",
        takes_value: true,
        parse: |v| crate::policy::table::parse_cache_mib(v).map(Message::Cache),
    },
    Verb {
        name: "cache_eviction",
        takes_value: true,
        parse: |v| {
            Eviction::from_name(v)
                .map(Message::CacheEviction)
                .ok_or(ParseError::CacheEviction)
        },
    },
    Verb {
        name: "reads",
        takes_value: true,
        parse: |v| {
            ReadsMode::from_name(v)
                .map(Message::Reads)
                .ok_or(ParseError::Reads)
        },
    },
    Verb {
        name: "flush_interval",
        takes_value: true,
        parse: |v| {
            crate::policy::table::parse_flush_interval(v)
                .map(Message::FlushInterval)
                .ok_or(ParseError::FlushInterval)
        },
    },
    Verb {
        name: "idle_run",
        takes_value: true,
        parse: |v| {
            crate::policy::table::parse_idle_run(v)
                .map(Message::IdleRun)
                .ok_or(ParseError::IdleRun)
        },
    },
    Verb {
        name: "islands",
        takes_value: true,
        parse: |v| {
            crate::policy::table::parse_islands(v)
                .map(Message::Islands)
                .ok_or(ParseError::Islands)
        },
    },
    Verb {
        name: "deadline",
        takes_value: true,
        parse: |v| {
            crate::policy::deadline::parse_deadline(v)
                .map(Message::Deadline)
                .ok_or(ParseError::Deadline)
        },
    },
    Verb {
        name: "reset",
        takes_value: false,
        parse: |_| Ok(Message::Reset),
    },
];

/// Parse the words of a message.
pub fn parse_message(args: &[&str]) -> Result<Message, ParseError> {
    let Some((&verb, rest)) = args.split_first() else {
        return Err(ParseError::MessageArgs);
    };
    let v = MESSAGES
        .iter()
        .find(|v| v.name.eq_ignore_ascii_case(verb))
        .ok_or(ParseError::UnknownMessage)?;
    match (v.takes_value, rest) {
        (false, []) => (v.parse)(""),
        (true, [value]) => (v.parse)(value),
        _ => Err(ParseError::MessageArgs),
    }
}

/// `on` or `off`, ASCII case-insensitive.
fn parse_on_off(value: &str) -> Result<bool, ParseError> {
    if value.eq_ignore_ascii_case("on") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("off") {
        Ok(false)
    } else {
        Err(ParseError::OnOff)
    }
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

impl fmt::Display for Message {
    /// The message in the form [`parse_message`] accepts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Pause => f.write_str("pause"),
            Message::Resume => f.write_str("resume"),
            Message::Ratio(r) => write!(f, "ratio {r}"),
            Message::Policy(p) => write!(f, "policy {p}"),
            Message::Stats => f.write_str("stats"),
            Message::Anticipation(on) => write!(f, "anticipation {}", on_off(*on)),
            Message::ReadAtHead(on) => write!(f, "read_at_head {}", on_off(*on)),
            Message::Depth(d) => write!(f, "depth {d}"),
            Message::QueueAware(on) => write!(f, "queue_aware {}", on_off(*on)),
            Message::Cache(mib) => write!(f, "cache {mib}"),
            Message::CacheEviction(e) => write!(f, "cache_eviction {}", e.name()),
            Message::FlushInterval(ms) => write!(f, "flush_interval {ms}"),
            Message::Reads(m) => write!(f, "reads {}", m.name()),
            Message::IdleRun(s) => write!(f, "idle_run {s}"),
            Message::Islands(a) => write!(f, "islands {}", crate::policy::table::islands_name(*a)),
            Message::Deadline(s) => write!(f, "deadline {s}"),
            Message::Reset => f.write_str("reset"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(parse_message(&["PAUSE"]), Ok(Message::Pause));
        assert_eq!(parse_message(&["resume"]), Ok(Message::Resume));
        assert_eq!(
            parse_message(&["ratio", "4:1"]),
            Ok(Message::Ratio(Ratio::new(4, 1).unwrap()))
        );
        assert_eq!(
            parse_message(&["Policy", "SEQUENTIAL"]),
            Ok(Message::Policy(PolicyKind::Sequential))
        );
        assert_eq!(parse_message(&[]), Err(ParseError::MessageArgs));
        assert_eq!(parse_message(&["pause", "x"]), Err(ParseError::MessageArgs));
        assert_eq!(parse_message(&["ratio"]), Err(ParseError::MessageArgs));
        assert_eq!(parse_message(&["ratio", "1"]), Err(ParseError::Ratio));
        assert_eq!(parse_message(&["policy", "smq"]), Err(ParseError::Policy));
        assert_eq!(parse_message(&["hydrate"]), Err(ParseError::UnknownMessage));
        assert_eq!(parse_message(&["Stats"]), Ok(Message::Stats));
        assert_eq!(parse_message(&["RESET"]), Ok(Message::Reset));
        assert_eq!(
            parse_message(&["reset", "all"]),
            Err(ParseError::MessageArgs)
        );
        assert_eq!(std::format!("{}", Message::Reset), "reset");
        assert_eq!(parse_message(&["stats", "x"]), Err(ParseError::MessageArgs));
        assert_eq!(
            parse_message(&["anticipation", "OFF"]),
            Ok(Message::Anticipation(false))
        );
        assert_eq!(
            parse_message(&["Anticipation", "on"]),
            Ok(Message::Anticipation(true))
        );
        assert_eq!(
            parse_message(&["anticipation", "maybe"]),
            Err(ParseError::OnOff)
        );
        assert_eq!(
            parse_message(&["anticipation"]),
            Err(ParseError::MessageArgs)
        );
        assert_eq!(
            parse_message(&["READ_AT_HEAD", "off"]),
            Ok(Message::ReadAtHead(false))
        );
        assert_eq!(
            parse_message(&["read_at_head", "1"]),
            Err(ParseError::OnOff)
        );
        assert_eq!(parse_message(&["depth", "4"]), Ok(Message::Depth(4)));
        assert_eq!(
            parse_message(&["DEADLINE", "600"]),
            Ok(Message::Deadline(600))
        );
        assert_eq!(parse_message(&["deadline", "0"]), Ok(Message::Deadline(0)));
        assert_eq!(
            parse_message(&["deadline", "10m"]),
            Err(ParseError::Deadline)
        );
        assert_eq!(std::format!("{}", Message::Deadline(60)), "deadline 60");
        assert_eq!(parse_message(&["depth", "0"]), Err(ParseError::Depth));
        assert_eq!(std::format!("{}", Message::Depth(3)), "depth 3");
        assert_eq!(
            parse_message(&["queue_aware", "off"]),
            Ok(Message::QueueAware(false))
        );
        assert_eq!(
            std::format!("{}", Message::QueueAware(true)),
            "queue_aware on"
        );
        assert_eq!(parse_message(&["CACHE", "0"]), Ok(Message::Cache(0)));
        assert_eq!(parse_message(&["cache", "x"]), Err(ParseError::CacheSize));
        assert_eq!(
            parse_message(&["cache", "-1"]),
            Err(ParseError::CacheNegative)
        );
        assert_eq!(
            parse_message(&["cache", "999999999"]),
            Err(ParseError::CacheTooLarge)
        );
        assert_eq!(parse_message(&["cache"]), Err(ParseError::MessageArgs));
        assert_eq!(
            parse_message(&["cache_eviction", "LRU"]),
            Ok(Message::CacheEviction(Eviction::Lru))
        );
        assert_eq!(
            parse_message(&["cache_eviction", "arc"]),
            Err(ParseError::CacheEviction)
        );
        assert_eq!(std::format!("{}", Message::Cache(16)), "cache 16");
        assert_eq!(
            std::format!("{}", Message::CacheEviction(Eviction::Liveness)),
            "cache_eviction liveness"
        );
        assert_eq!(
            std::format!("{}", Message::ReadAtHead(true)),
            "read_at_head on"
        );
        assert_eq!(
            std::format!("{}", Message::Anticipation(false)),
            "anticipation off"
        );
        assert_eq!(
            std::format!("{}", Message::Ratio(Ratio::default())),
            "ratio 2:1"
        );
        assert_eq!(
            parse_message(&["flush_interval", "0"]),
            Ok(Message::FlushInterval(0))
        );
        assert_eq!(
            parse_message(&["flush_interval", "3600001"]),
            Err(ParseError::FlushInterval)
        );
        assert_eq!(
            std::format!("{}", Message::FlushInterval(250)),
            "flush_interval 250"
        );
    }
}
