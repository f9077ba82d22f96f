// SPDX-License-Identifier: GPL-2.0

//! `dmsetup message <dev> 0 <verb> [<arg>]`: the verbs of
//! [`crate::policy::message`].

use super::cache::{MigrationCache, Retired};
use super::{IoFollow, ProcessCtx};
use crate::dm::{Reply, StatusWriter};
use crate::policy::commit::Health;
use crate::policy::liveness::Eviction;
use crate::policy::{
    message::{parse_message, Message},
    readroute::Leg,
    select::AnySelector,
    stats::{EngineCounters, StatsReply},
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
    match msg {
        Message::Cache(mib) => return resize_cache(t, ctx, mib).map(|()| Reply::Silent),
        Message::Reset => return t.reset(ctx).map(|()| Reply::Silent),
        _ => {}
    }
    {
        let mut st = t.state.lock();
        match msg {
            // Handled above: they allocate or sleep.
            Message::Cache(_) | Message::Reset => {}
            Message::CacheEviction(eviction) => st.cache.set_eviction(eviction),
            Message::Pause => st.paused = true,
            Message::Resume => {
                // Also the way out of the error state: failed chunks are pending
                // again and are retried.
                st.paused = false;
                st.clear_error();
            }
            Message::FlushInterval(ms) => st.flush_pacer = FlushPacer::new(ms),
            Message::Reads(mode) => st.router.set_mode(mode),
            Message::Stats => {
                let stats = StatsReply {
                    ordering: st.ordering.stats,
                    // Passed-through reads are VM IO the engine did not see.
                    engine: EngineCounters {
                        vm_ios: st.counters.vm_ios.saturating_add(t.passthrough.reads()),
                        ..st.counters
                    },
                    think_us: st.anticipation.think_ns() / 1000,
                    depth: st.depth(),
                    cached_blocks: st.cache.len(),
                    cache_buffers_in_module: 0,
                    unflushed_blocks: st.ordering.unflushed_blocks(),
                    flush_interval_ms: st.flush_pacer.interval_ms(),
                    fault: st.ordering.fault(),
                    source_read_us: st.router.latency_ns(Leg::Source) / 1000,
                    dest_read_us: st.router.latency_ns(Leg::Destination) / 1000,
                    deadline_s_left: st.pacer.seconds_left(super::now_ns()).unwrap_or(0),
                    deadline_steps: st.pacer.steps(),
                    passthrough_reads: t.passthrough.reads(),
                    metadata_commits: st.commits.as_ref().map_or(0, |c| c.counts().1),
                    recorded_blocks: st.commits.as_ref().map_or(0, |c| c.counts().0),
                    held_writes: st.commits.as_ref().map_or(0, |c| c.held_writes),
                    metadata: st.commits.as_ref().map_or(Health::None, |c| c.health()),
                };
                drop(st);
                let stats = StatsReply {
                    cache_buffers_in_module: crate::dm::cache_bufs_in_use(),
                    ..stats
                };
                // A reply cut short by a small buffer is still a valid prefix.
                let _ = write!(reply, "{stats}");
                return Ok(Reply::Text);
            }
            Message::Ratio(ratio) => st.set_ratio(ratio),
            Message::Deadline(seconds) => st.set_deadline(super::now_ns(), seconds),
            Message::Policy(kind) => {
                if st.selector.kind() != kind {
                    st.selector = AnySelector::new(kind);
                }
            }
            Message::Anticipation(on) => st.set_anticipation(on),
            Message::ReadAtHead(on) => st.read_at_head = on,
            Message::QueueAware(on) => st.set_queue_aware(on),
            Message::IdleRun(sectors) => st.idle_run_sectors = sectors,
            Message::Islands(avoid) => st.set_avoid_islands(avoid),
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
        // A new read mode or the end of an error is in force for the next read.
        t.refresh_passthrough(&st);
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
    let mut cache = MigrationCache::new(
        mib,
        block_bytes,
        Eviction::Liveness,
        t.passthrough.cached.clone(),
    )
    .inspect_err(|_| {
        pr_err!(
            "{}: message 'cache {}': cannot allocate the cache index\n",
            t.name(),
            mib
        );
    })?;
    let mut st = t.state.lock();
    cache.take_counters(&st.cache);
    let mut old = core::mem::replace(&mut st.cache, cache);
    old.detach();
    drop(st);
    t.passthrough.cached.clear_all();
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
