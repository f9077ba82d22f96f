// SPDX-License-Identifier: GPL-2.0

//! What suspending the device does: presuspend stops new copies; postsuspend
//! waits for every IO of the target and makes what reached the destination
//! durable, so that a suspended device that says `synced` has a complete and
//! durable destination, then empties the cache (a reload may follow).

use super::IoFollow;
use super::ProcessCtx;
use crate::policy::iotag::IssuedIo;

impl IoFollow {
    /// Makes what the copy and the mirrored writes wrote durable before the
    /// device is suspended (dm-clone flushes before it commits): after this,
    /// `synced` in the status of a suspended device means the destination is
    /// complete and durable. The dm layer waits for the flush after this
    /// returns.
    pub(super) fn flush_before_suspend(&self, ctx: &ProcessCtx<'_>) {
        // Copies, mirrored writes and a background flush in flight first: a
        // flush issued before the last of them completed does not cover it.
        ctx.wait_idle();
        let mut st = self.state.lock();
        if st.ordering.dest_failed() || st.ordering.dest_durable() {
            return;
        }
        st.ordering.dest_flush_issued(true);
        st.flush_pacer.flushed();
        let ticket = ctx.io_ticket();
        drop(st);
        ctx.flush(ticket, &self.dest, IssuedIo::DestFlush);
    }

    /// Presuspend: no new copies; the dm layer waits for the ones in flight
    /// in postsuspend.
    pub(super) fn stop_copying(&self) {
        self.state.lock().suspended = true;
    }

    /// Postsuspend: the destination durable, the cache's memory given back.
    pub(super) fn quiesce(&self, ctx: &ProcessCtx<'_>) {
        self.flush_before_suspend(ctx);
        // A reload may bring another table, and nothing reads the cache
        // until resume: give the memory back.
        self.empty_cache(ctx);
    }

    /// Resume (or a suspend undone): copying may go on.
    pub(super) fn restart_copying(&self, ctx: &ProcessCtx<'_>) {
        self.state.lock().suspended = false;
        ctx.kick();
    }
}
