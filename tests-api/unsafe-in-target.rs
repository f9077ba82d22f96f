// SPDX-License-Identifier: GPL-2.0

// Rule: unsafe code lives in rust/dm only.
// expect: usage of an `unsafe` block
fn _unsafe_in_target() -> u8 {
    let x = 1u8;
    unsafe { core::ptr::read(&x) }
}
