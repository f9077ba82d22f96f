// SPDX-License-Identifier: GPL-2.0

// Rule: issuing IO takes mempool reserves (may sleep): not from a completion.
// expect: no method named `io_ticket` found for reference `&Ctx<'_, Atomic, IssuedIo>`
fn _issue_io_in_end_io(ctx: &AtomicCtx<'_>) {
    let _ticket = ctx.io_ticket();
}
