// SPDX-License-Identifier: GPL-2.0

//! `dmsetup message <dev> 0 <verb> [<arg>]`: the verbs of
//! [`crate::policy::message`].

use super::cache::{MigrationCache, Retired};
use super::{IoFollow, ProcessCtx};
use crate::dm::{Reply, StatusWriter};
use crate::policy::liveness::Eviction;
use crate::policy::{
    message::{parse_message, Message},
    select::AnySelector,
    unflushed::FlushPacer,
};
use core::fmt::Write;
use kernel::prelude::*;

pub(super) fn handle(
    t: &IoFollow,
    ctx: &ProcessCtx<'_>,
    args: &[&str],
    reply: &mut StatusWriter<'_>,
) -> Result<Reply> {
    let msg = parse_message(args).map_err(|e| {
        pr_err!(
            "{}: message '{}': {}\n",
            t.name(),
            args.first().copied().unwrap_or(""),
            e.message()
        );
        EINVAL
    })?;
    if let Message::Cache(mib) = msg {
        return resize_cache(t, ctx, mib).map(|()| Reply::Silent);
    }
    {
        let mut st = t.state.lock();
        match msg {
            // Handled above: it allocates.
            Message::Cache(_) => {}
            Message::CacheEviction(eviction) => st.cache.set_eviction(eviction),
            Message::Pause => st.paused = true,
            Message::Resume => {
                // Also the way out of the error state: failed chunks are pending
                // again and are retried.
                st.paused = false;
                st.clear_error();
            }
            Message::FlushInterval(ms) => st.flush_pacer = FlushPacer::new(ms),
            Message::Stats => {
                let o = st.ordering.stats;
                let fault = st.ordering.fault().map_or("none", |f| f.name());
                let unflushed = st.ordering.unflushed_blocks();
                let flush_interval = st.flush_pacer.interval_ms();
                let (vm_ios, migration_ios) = (st.vm_ios, st.migration_ios);
                let (background, piggybacked) = (st.background_copies, st.piggybacked_copies);
                let think_us = st.anticipation.think_ns() / 1000;
                let depth = st.depth();
                let cached_blocks = st.cache.len();
                drop(st);
                // A reply cut short by a small buffer is still a valid prefix.
                let _ = write!(
                    reply,
                    "mirrored_writes {} source_only_writes {} invalidated_copies {} deferred_copies {} \
                     dest_flushes {} dest_losses {} vm_ios {} migration_ios {} \
                     background_copies {} piggybacked_copies {} think_us {} depth {} \
                     cached_blocks {} cache_buffers_in_module {} lost_blocks {} \
                     source_faults {} unflushed_blocks {} flush_interval {} fault {}",
                    o.mirrored_writes,
                    o.source_only_writes,
                    o.invalidated_copies,
                    o.deferred_copies,
                    o.dest_flushes,
                    o.dest_losses,
                    vm_ios,
                    migration_ios,
                    background,
                    piggybacked,
                    think_us,
                    depth,
                    cached_blocks,
                    crate::dm::cache_bufs_in_use(),
                    o.lost_blocks,
                    o.source_faults,
                    unflushed,
                    flush_interval,
                    fault
                );
                return Ok(Reply::Text);
            }
            Message::Ratio(ratio) => st.ratio.set_ratio(ratio),
            Message::Policy(kind) => {
                if st.selector.kind() != kind {
                    st.selector = AnySelector::new(kind);
                }
            }
            Message::Anticipation(on) => st.set_anticipation(on),
            Message::ReadAtHead(on) => st.read_at_head = on,
            Message::QueueAware(on) => st.set_queue_aware(on),
            Message::Depth(depth) => {
                let table_depth = st.table_depth();
                if st.set_depth(depth).is_err() {
                    drop(st);
                    pr_err!(
                        "{}: message 'depth {}': above the table's depth {} (its copy buffers)\n",
                        t.name(),
                        depth,
                        table_depth
                    );
                    return Err(EINVAL);
                }
            }
        }
    }
    ctx.kick();
    Ok(Reply::Silent)
}

/// `cache <MiB>`: a new, empty cache of that size (0 turns it off). Its index
/// is allocated here, outside the engine lock; the old cache's memory is
/// freed after the swap, outside it too.
fn resize_cache(t: &IoFollow, ctx: &ProcessCtx<'_>, mib: u32) -> Result {
    let block_bytes = t.geometry.block_sectors.saturating_mul(512);
    // The order in force is carried over under the lock (take_counters).
    let mut cache =
        MigrationCache::new(mib, block_bytes, Eviction::Liveness).inspect_err(|_| {
            pr_err!(
                "{}: message 'cache {}': cannot allocate the cache index\n",
                t.name(),
                mib
            );
        })?;
    let mut st = t.state.lock();
    cache.take_counters(&st.cache);
    let mut old = core::mem::replace(&mut st.cache, cache);
    drop(st);
    // Freed in batches: a large cache is many buffers.
    loop {
        let mut retired = Retired::new();
        old.drain(u64::MAX, &mut retired);
        if retired.len() == 0 {
            return Ok(());
        }
        drop(retired);
        ctx.cond_resched();
    }
}
