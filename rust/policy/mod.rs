// SPDX-License-Identifier: GPL-2.0

//! IOFollow policy core.
//!
//! Pure decision logic of the IOFollow live storage migration target
//! (Mao et al., "IOFollow: Improving the performance of VM live storage
//! migration with IO following in the cloud", FGCS 2018): where the disk head
//! is, which chunk to migrate next, when migration IO may be issued, which
//! cached chunk is least alive, and the parsing of the target's table line and
//! messages.
//!
//! The same files are compiled as `crate::policy` inside the `dm-iofollow`
//! kernel module and as the `iofollow-policy` cargo crate (see `lib.rs`). They
//! therefore use `core` only: no allocation (callers hand in storage), no
//! floating point, no `unsafe`, and no panics on any input (checked or
//! saturating arithmetic, `get()` instead of indexing).
#![forbid(unsafe_code)]

pub mod announce;
pub mod anticipation;
pub mod bitmap_page;
pub mod cache;
pub mod checkpoint;
pub mod cleaning;
pub mod commit;
pub mod copyrun;
pub mod crc32c;
pub mod deadline;
pub mod head;
pub mod iotag;
pub mod liveness;
pub mod map;
pub mod mblock;
pub mod message;
pub mod ordering;
pub mod piggyback;
pub mod ratio;
pub mod readroute;
pub mod select;
pub mod stats;
pub mod status;
pub mod superblock;
pub mod table;
pub mod unflushed;
pub mod worker;
