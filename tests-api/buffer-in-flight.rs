// SPDX-License-Identifier: GPL-2.0

// Rule: an IO owns the buffer it reads into until its completion hands it
// back; nothing may read the buffer meanwhile.
// expect: borrow of moved value: `buf`
fn _fill_from_buffer_under_io(
    t: &IoFollow,
    ctx: &ProcessCtx<'_>,
    bio: &crate::dm::OwnedBio,
    buf: crate::dm::IoBuffer,
) {
    let ticket = ctx.io_ticket();
    ctx.read_into_buffer(ticket, &t.source, 0, 8, buf, IssuedIo::CopyRead(0));
    let _ = ctx.fill_from_buffer(bio, &buf, 0);
}
