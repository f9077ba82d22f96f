// SPDX-License-Identifier: GPL-2.0

// Rule: devices are opened by the table in ctr (dm_get_device may sleep).
// expect: expected `&CtrTarget<'_>`, found `&Target`
fn _open_device_in_map(target: &crate::dm::Target) {
    let _ = crate::dm::DmDev::open(target, "/dev/null");
}
