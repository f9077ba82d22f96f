// SPDX-License-Identifier: GPL-2.0

// Rule: an IO carries the target's own tag type, which comes back decoded in
// io_done; a raw number cannot stand in for it.
// expect: expected `IssuedIo`, found `u64`
fn _raw_tag(t: &IoFollow, ctx: &ProcessCtx<'_>) {
    let ticket = ctx.io_ticket();
    ctx.flush(ticket, &t.dest, 5u64);
}
