// SPDX-License-Identifier: GPL-2.0

//! The in-guest benchmark's building blocks: the emulated drive's
//! scheduling and storage (for `iofollow-hddemu`), and the request log and
//! latency statistics shared by the replayer and the report.

pub mod drive;
pub mod stats;
pub mod store;
