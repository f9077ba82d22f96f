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
//! | `flush_interval <ms>` | flush the destination once a write has waited this long (0 = at the end only) |
//!
//! Verbs and policy names are ASCII case-insensitive.

use crate::policy::liveness::Eviction;
use crate::policy::ratio::Ratio;
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
}

/// Parse the words of a message.
pub fn parse_message(args: &[&str]) -> Result<Message, ParseError> {
    let Some((&verb, rest)) = args.split_first() else {
        return Err(ParseError::MessageArgs);
    };
    let want_args = if verb.eq_ignore_ascii_case("pause")
        || verb.eq_ignore_ascii_case("resume")
        || verb.eq_ignore_ascii_case("stats")
    {
        0
    } else if verb.eq_ignore_ascii_case("ratio")
        || verb.eq_ignore_ascii_case("policy")
        || verb.eq_ignore_ascii_case("anticipation")
        || verb.eq_ignore_ascii_case("read_at_head")
        || verb.eq_ignore_ascii_case("depth")
        || verb.eq_ignore_ascii_case("queue_aware")
        || verb.eq_ignore_ascii_case("cache")
        || verb.eq_ignore_ascii_case("cache_eviction")
        || verb.eq_ignore_ascii_case("flush_interval")
    {
        1
    } else {
        return Err(ParseError::UnknownMessage);
    };
    if rest.len() != want_args {
        return Err(ParseError::MessageArgs);
    }
    if verb.eq_ignore_ascii_case("pause") {
        Ok(Message::Pause)
    } else if verb.eq_ignore_ascii_case("resume") {
        Ok(Message::Resume)
    } else if verb.eq_ignore_ascii_case("stats") {
        Ok(Message::Stats)
    } else {
        let &value = rest.first().ok_or(ParseError::MessageArgs)?;
        if verb.eq_ignore_ascii_case("ratio") {
            Ratio::parse(value)
                .map(Message::Ratio)
                .ok_or(ParseError::Ratio)
        } else if verb.eq_ignore_ascii_case("anticipation") {
            parse_on_off(value).map(Message::Anticipation)
        } else if verb.eq_ignore_ascii_case("read_at_head") {
            parse_on_off(value).map(Message::ReadAtHead)
        } else if verb.eq_ignore_ascii_case("queue_aware") {
            parse_on_off(value).map(Message::QueueAware)
        } else if verb.eq_ignore_ascii_case("cache") {
            crate::policy::table::parse_cache_mib(value).map(Message::Cache)
        } else if verb.eq_ignore_ascii_case("cache_eviction") {
            Eviction::from_name(value)
                .map(Message::CacheEviction)
                .ok_or(ParseError::CacheEviction)
        } else if verb.eq_ignore_ascii_case("flush_interval") {
            crate::policy::table::parse_flush_interval(value)
                .map(Message::FlushInterval)
                .ok_or(ParseError::FlushInterval)
        } else if verb.eq_ignore_ascii_case("depth") {
            crate::policy::table::parse_depth(value)
                .map(Message::Depth)
                .ok_or(ParseError::Depth)
        } else {
            PolicyKind::from_name(value)
                .map(Message::Policy)
                .ok_or(ParseError::Policy)
        }
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
