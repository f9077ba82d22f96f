// SPDX-License-Identifier: GPL-2.0

//! `dmsetup status` and `dmsetup table` text.

use super::IoFollow;
use crate::dm::StatusWriter;
use crate::policy::select::PolicyKind;
use crate::policy::table::{format_table, TableConfig};
use core::fmt::{self, Write};

/// `<state> <migrated blocks>/<total blocks> <dirty blocks> <head sector> <vm ios> <migration ios>
/// <cache hits> <cache misses> <cache bytes>/<cache capacity bytes> <policy> <V>:<M>`
///
/// Cache hits and misses count VM reads while the cache is on; the bytes are
/// those cached now, out of the capacity in force.
pub(super) fn info(t: &IoFollow, out: &mut StatusWriter<'_>) -> fmt::Result {
    let st = t.state.lock();
    let ratio = st.ratio.ratio();
    let policy: PolicyKind = st.selector.kind();
    write!(
        out,
        "{} {}/{} {} {} {} {} {} {} {}/{} {} {}:{}",
        st.state_word(),
        st.ordering.map().nr_migrated(),
        st.ordering.map().nr_chunks(),
        st.ordering.map().nr_dirty(),
        t.head.get(),
        st.vm_ios,
        st.migration_ios,
        st.cache.hits,
        st.cache.misses,
        st.cache.bytes(),
        st.cache.capacity_bytes(),
        policy.name(),
        ratio.vm(),
        ratio.mig()
    )
}

/// The table line that recreates the target (devices as `major:minor`), with
/// the ratio, policy and pause state in force now.
pub(super) fn table(t: &IoFollow, out: &mut StatusWriter<'_>) -> fmt::Result {
    let mut cfg = TableConfig::new("", "", t.geometry.chunk_sectors);
    {
        let st = t.state.lock();
        cfg.ratio = st.ratio.ratio();
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
    }
    if t.geometry.block_sectors != cfg.block_sectors() {
        cfg.block_sectors = Some(t.geometry.block_sectors);
    }
    cfg.source_offset = t.settings.source_offset;
    cfg.disk = t.settings.disk;
    format_table(&cfg, t.source.name(), t.dest.name(), out)
}
