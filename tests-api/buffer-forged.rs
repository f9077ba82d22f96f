// SPDX-License-Identifier: GPL-2.0

// Rule: only the dm layer makes buffer handles (one per buffer, in ctr):
// a target cannot make a second handle to a buffer it already holds.
// expect: field `index` of struct `IoBuffer` is private
fn _forged_buffer() -> crate::dm::IoBuffer {
    crate::dm::IoBuffer { index: 0 }
}
