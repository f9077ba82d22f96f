// SPDX-License-Identifier: GPL-2.0

//! The reply of `dmsetup message <dev> 0 stats`: one line of name/value
//! pairs, in the order of [`StatsReply::pairs`] (callers read values by
//! name, so new counters go at the end).

use crate::policy::commit::Health;
use crate::policy::ordering::{Fault, OrderingStats};
use core::fmt;

/// How many times each part of the engine ran, since the table was loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// VM bios mapped.
    pub vm_ios: u64,
    /// Copy reads and writes issued.
    pub migration_ios: u64,
    /// Copy reads the copier chose (by the policy and the ratio).
    pub background_copies: u64,
    /// Copy reads that served a VM read (piggybacking).
    pub piggybacked_copies: u64,
}

/// Everything the `stats` message reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsReply {
    /// The ordering protocol's counters.
    pub ordering: OrderingStats,
    /// The engine's counters.
    pub engine: EngineCounters,
    /// The VM's learned think time, in µs.
    pub think_us: u64,
    /// The copy depth in force.
    pub depth: u32,
    /// Blocks in the cache.
    pub cached_blocks: u32,
    /// Cache buffers alive in the module (all targets).
    pub cache_buffers_in_module: u64,
    /// Blocks written to the destination and not covered by a flush.
    pub unflushed_blocks: u64,
    /// The destination flush interval in force, in ms.
    pub flush_interval_ms: u32,
    /// The fault in force.
    pub fault: Option<Fault>,
    /// The read routing's latency estimate of the source, in µs.
    pub source_read_us: u64,
    /// The read routing's latency estimate of the destination, in µs.
    pub dest_read_us: u64,
    /// Seconds to the deadline (0: none; 1 once it has passed).
    pub deadline_s_left: u32,
    /// Steps the deadline raised the ratio by (0: the configured one).
    pub deadline_steps: u32,
    /// Reads sent to the source without the engine lock once `synced`
    /// (counted in `vm_ios` too).
    pub passthrough_reads: u64,
    /// Metadata commits completed (0 without a metadata device).
    pub metadata_commits: u64,
    /// Blocks recorded migrated on the metadata device (or being written).
    pub recorded_blocks: u64,
    /// VM writes that waited for a commit to clear their blocks' bits.
    pub held_writes: u64,
    /// The metadata device's state (a word, before the fault).
    pub metadata: Health,
}

impl StatsReply {
    /// The numeric pairs, in reply order (the metadata's state and the
    /// fault come last, as words).
    pub fn pairs(&self) -> [(&'static str, u64); 26] {
        let o = &self.ordering;
        let e = &self.engine;
        [
            ("mirrored_writes", o.mirrored_writes),
            ("source_only_writes", o.source_only_writes),
            ("invalidated_copies", o.invalidated_copies),
            ("deferred_copies", o.deferred_copies),
            ("dest_flushes", o.dest_flushes),
            ("dest_losses", o.dest_losses),
            ("vm_ios", e.vm_ios),
            ("migration_ios", e.migration_ios),
            ("background_copies", e.background_copies),
            ("piggybacked_copies", e.piggybacked_copies),
            ("think_us", self.think_us),
            ("depth", u64::from(self.depth)),
            ("cached_blocks", u64::from(self.cached_blocks)),
            ("cache_buffers_in_module", self.cache_buffers_in_module),
            ("lost_blocks", o.lost_blocks),
            ("source_faults", o.source_faults),
            ("unflushed_blocks", self.unflushed_blocks),
            ("flush_interval", u64::from(self.flush_interval_ms)),
            ("source_read_us", self.source_read_us),
            ("dest_read_us", self.dest_read_us),
            ("deadline_s_left", u64::from(self.deadline_s_left)),
            ("deadline_steps", u64::from(self.deadline_steps)),
            ("passthrough_reads", self.passthrough_reads),
            ("metadata_commits", self.metadata_commits),
            ("recorded_blocks", self.recorded_blocks),
            ("held_writes", self.held_writes),
        ]
    }
}

impl fmt::Display for StatsReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in self.pairs() {
            write!(f, "{name} {value} ")?;
        }
        write!(
            f,
            "metadata {} fault {}",
            self.metadata.as_str(),
            self.fault.map_or("none", Fault::name)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn reply_is_name_value_pairs() {
        let r = StatsReply {
            depth: 4,
            flush_interval_ms: 1000,
            fault: Some(Fault::Source),
            ..StatsReply::default()
        };
        let text = r.to_string();
        assert!(
            text.starts_with("mirrored_writes 0 source_only_writes 0 "),
            "{text}"
        );
        assert!(
            text.contains(" depth 4 ") && text.contains(" flush_interval 1000 "),
            "{text}"
        );
        assert!(text.ends_with(" metadata none fault source"), "{text}");
        let words: std::vec::Vec<&str> = text.split(' ').collect();
        assert_eq!(words.len(), 2 * (r.pairs().len() + 2));
    }
}
