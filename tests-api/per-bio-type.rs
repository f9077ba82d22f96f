// SPDX-License-Identifier: GPL-2.0

// Rule: per-bio data is the target's own PerBio type; map cannot store another.
// expect: expected `VmBio`, found `u64`
fn _store_raw_per_bio(bio: &crate::dm::MapBio<'_, routing::VmBio>) {
    bio.set_data(7u64);
}
