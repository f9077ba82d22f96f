// SPDX-License-Identifier: GPL-2.0

//! What an IO the worker issued was, as one `u64` that travels with it
//! through dm-io and comes back with its completion (the engine's
//! `TargetOps::Tag`).
//!
//! The top 8 bits name the kind; the payload below is a copy slot, or a
//! mirrored write's blocks: the first block in 44 bits (so a map has at most
//! [`MAX_BLOCKS`] blocks) and the number of blocks above it (a bio lies in
//! one chunk: at most 2048 blocks, 12 bits).

use crate::policy::copyrun::CopyRun;

/// What an IO issued by the worker was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssuedIo {
    /// A copy slot's read of its run from the source.
    CopyRead(usize),
    /// A copy slot's write of its buffer to the destination.
    CopyWrite(usize),
    /// A VM write to these migrated blocks: to the source and, unless the
    /// destination had failed when it was issued, to the destination.
    Mirror {
        /// The blocks it covers.
        blocks: CopyRun,
        /// Whether it went to the destination too.
        to_dest: bool,
    },
    /// A VM read re-issued on its own after its piggybacked read failed.
    Reread,
    /// The background flush of the destination.
    DestFlush,
    /// A VM read of migrated blocks, routed to the destination.
    DestRead,
}

const TAG_SHIFT: u32 = 56;
const TAG_PAYLOAD: u64 = (1 << TAG_SHIFT) - 1;
const TAG_FIRST_BITS: u32 = 44;
const TAG_FIRST: u64 = (1 << TAG_FIRST_BITS) - 1;
const KIND_COPY_READ: u64 = 1;
const KIND_COPY_WRITE: u64 = 2;
const KIND_MIRROR_BOTH: u64 = 3;
const KIND_REREAD: u64 = 4;
const KIND_DEST_FLUSH: u64 = 5;
const KIND_MIRROR_SOURCE: u64 = 6;
const KIND_DEST_READ: u64 = 7;

/// Most blocks a map may have: a mirrored write's first block fits in its
/// tag's 44 bits (64 PiB of 4 KiB blocks).
pub const MAX_BLOCKS: u64 = 1 << TAG_FIRST_BITS;

/// Most blocks a mirrored write may cover in its tag.
pub const MAX_MIRROR_BLOCKS: u32 = (1 << (TAG_SHIFT - TAG_FIRST_BITS)) - 1;

impl IssuedIo {
    /// The tag as dm-io carries it. A mirrored write's first block must be
    /// below [`MAX_BLOCKS`] and its length at most [`MAX_MIRROR_BLOCKS`]
    /// (the constructor and the chunk limit make sure).
    pub fn into_raw(self) -> u64 {
        let (kind, payload) = match self {
            IssuedIo::CopyRead(slot) => (KIND_COPY_READ, slot as u64),
            IssuedIo::CopyWrite(slot) => (KIND_COPY_WRITE, slot as u64),
            IssuedIo::Mirror { blocks, to_dest } => (
                if to_dest {
                    KIND_MIRROR_BOTH
                } else {
                    KIND_MIRROR_SOURCE
                },
                (u64::from(blocks.blocks) << TAG_FIRST_BITS) | (blocks.first & TAG_FIRST),
            ),
            IssuedIo::Reread => (KIND_REREAD, 0),
            IssuedIo::DestFlush => (KIND_DEST_FLUSH, 0),
            IssuedIo::DestRead => (KIND_DEST_READ, 0),
        };
        (kind << TAG_SHIFT) | (payload & TAG_PAYLOAD)
    }

    /// The tag back; `None` for a value [`IssuedIo::into_raw`] never makes.
    pub fn from_raw(raw: u64) -> Option<Self> {
        let payload = raw & TAG_PAYLOAD;
        let slot = usize::try_from(payload).ok();
        let kind = raw >> TAG_SHIFT;
        Some(match kind {
            KIND_COPY_READ => IssuedIo::CopyRead(slot?),
            KIND_COPY_WRITE => IssuedIo::CopyWrite(slot?),
            KIND_MIRROR_BOTH | KIND_MIRROR_SOURCE => IssuedIo::Mirror {
                blocks: CopyRun {
                    first: payload & TAG_FIRST,
                    blocks: u32::try_from(payload >> TAG_FIRST_BITS).ok()?,
                },
                to_dest: kind == KIND_MIRROR_BOTH,
            },
            KIND_REREAD => IssuedIo::Reread,
            KIND_DEST_FLUSH => IssuedIo::DestFlush,
            KIND_DEST_READ => IssuedIo::DestRead,
            _ => return None,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let tags = [
            IssuedIo::CopyRead(0),
            IssuedIo::CopyRead(8),
            IssuedIo::CopyWrite(3),
            IssuedIo::Reread,
            IssuedIo::DestFlush,
            IssuedIo::DestRead,
            IssuedIo::Mirror {
                blocks: CopyRun {
                    first: MAX_BLOCKS - 1,
                    blocks: MAX_MIRROR_BLOCKS,
                },
                to_dest: true,
            },
            IssuedIo::Mirror {
                blocks: CopyRun {
                    first: 0,
                    blocks: 1,
                },
                to_dest: false,
            },
        ];
        for t in tags {
            assert_eq!(IssuedIo::from_raw(t.into_raw()), Some(t), "{t:?}");
        }
        assert_eq!(IssuedIo::from_raw(0), None);
        assert_eq!(IssuedIo::from_raw(8 << TAG_SHIFT), None);
        // A bio of a chunk of 8 MiB in 4 KiB blocks fits.
        assert!(MAX_MIRROR_BLOCKS >= 2048);
    }
}
