// SPDX-License-Identifier: GPL-2.0

//! `dmsetup status` and `dmsetup table` text.

use super::IoFollow;
use crate::dm::StatusWriter;
use crate::policy::status::StatusLine;
use crate::policy::table::{format_table, TableConfig};
use core::fmt::{self, Write};

/// The status line ([`StatusLine`], one definition with the tool's parser).
pub(super) fn info(t: &IoFollow, out: &mut StatusWriter<'_>) -> fmt::Result {
    let st = t.state.lock();
    let map = st.ordering.map();
    // Reads that passed through went to the source, unseen by the engine.
    let passed = t.passthrough.reads();
    let line = StatusLine {
        state: st.state_word(),
        migrated_blocks: map.nr_migrated(),
        total_blocks: map.nr_blocks(),
        dirty_blocks: map.nr_dirty(),
        head_sector: t.head.get(),
        vm_ios: st.counters.vm_ios.saturating_add(passed),
        migration_ios: st.counters.migration_ios,
        cache_hits: st.cache.hits,
        cache_misses: st.cache.misses,
        cache_bytes: st.cache.bytes(),
        cache_capacity_bytes: st.cache.capacity_bytes(),
        policy: st.selector.kind(),
        ratio: st.ratio.ratio(),
        fault: st.ordering.fault(),
        source_reads: st.router.served().0.saturating_add(passed),
        dest_reads: st.router.served().1,
    };
    drop(st);
    write!(out, "{line}")
}

/// The table line that recreates the target (devices as `major:minor`), with
/// the ratio, policy and pause state in force now.
pub(super) fn table(t: &IoFollow, out: &mut StatusWriter<'_>) -> fmt::Result {
    let mut cfg = TableConfig::new("", "", t.geometry.chunk_sectors);
    {
        let st = t.state.lock();
        // The configured ratio; the one in force shows in the status line.
        cfg.ratio = st.pacer.base();
        // The seconds left: a reload from this line keeps the deadline.
        cfg.deadline_s = st.pacer.seconds_left(super::now_ns()).unwrap_or(0);
        cfg.policy = st.selector.kind();
        cfg.paused = st.paused;
        cfg.anticipation = st.anticipation.params().enabled;
        cfg.read_at_head = st.read_at_head;
        // The table's depth sized the copy buffers: a reload from this line
        // keeps them. A lower depth set by message shows in `stats`.
        cfg.depth = st.table_depth();
        cfg.queue_aware = st.queue_aware();
        cfg.cache_mib = st.cache.mib();
        cfg.cache_eviction = st.cache.eviction();
        cfg.flush_interval_ms = st.flush_pacer.interval_ms();
        cfg.reads = st.router.mode();
        cfg.idle_run_sectors = st.idle_run_sectors;
        cfg.avoid_islands = st.avoid_islands();
    }
    if t.geometry.block_sectors != cfg.block_sectors() {
        cfg.block_sectors = Some(t.geometry.block_sectors);
    }
    cfg.source_offset = t.settings.source_offset;
    cfg.disk = t.settings.disk;
    cfg.metadata = t.metadata.as_ref().map(|m| m.name());
    format_table(&cfg, t.source.name(), t.dest.name(), out)
}
