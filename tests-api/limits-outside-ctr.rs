// SPDX-License-Identifier: GPL-2.0

// Rule: how dm hands bios to a target is set in ctr only.
// expect: no method named `set_limits` found for reference `&Target`
fn _set_limits_in_map(target: &crate::dm::Target) {
    let _ = target.set_limits(crate::dm::TargetLimits::default());
}
