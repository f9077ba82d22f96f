// SPDX-License-Identifier: GPL-2.0

// Rule: a completion must not sleep. Raising a dm event takes a mutex, so it
// exists only on a process-context Ctx; end_io, map and io_done get Atomic.
// expect: no method named `raise_event` found for reference `&Ctx<'_, Atomic, IssuedIo>`
fn _raise_event_in_end_io(ctx: &AtomicCtx<'_>) {
    ctx.raise_event();
}
