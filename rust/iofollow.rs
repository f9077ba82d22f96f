// SPDX-License-Identifier: GPL-2.0

//! dm-iofollow: live migration of a VM disk that follows the disk head.
//!
//! A device-mapper target that sits between a VM's disk and the hard disk
//! holding it, and copies the disk to a destination device while the VM keeps
//! running (IOFollow, Mao et al., FGCS 2018). See
//! `Documentation/iofollow.rst` for the table line, status and messages.
//!
//! Layout: [`policy`] is the pure decision logic (shared with the userspace
//! tests and simulator), `dm` is the only place with `unsafe` code (safe
//! device-mapper abstractions over a small C glue file), and `migration` is
//! the target itself, in safe Rust.

use kernel::prelude::*;

#[macro_use]
mod dm;
mod migration;
pub mod policy;

module! {
    type: IoFollowModule,
    name: "dm_iofollow",
    author: "The iofollow developers",
    description: "device-mapper target for live VM disk migration that follows the disk head",
    license: "GPL",
    alias: ["dm-iofollow"],
}

struct IoFollowModule {
    _registration: dm::Registration<migration::IoFollow>,
}

impl kernel::Module for IoFollowModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let registration = dm::Registration::new(migration::NAME, migration::VERSION)?;
        pr_info!(
            "target {} {}.{}.{} registered\n",
            "iofollow",
            migration::VERSION[0],
            migration::VERSION[1],
            migration::VERSION[2]
        );
        Ok(Self {
            _registration: registration,
        })
    }
}
