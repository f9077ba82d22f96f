// SPDX-License-Identifier: GPL-2.0

//! The clean-checkpoint protocol of the metadata device (`metadata <dev>`,
//! format [`crate::policy::superblock`]): what a table writes, and in which
//! order, so that a bitmap is trusted only when every bit in it stands for a
//! block equal and durable on the source and the destination.
//!
//! - [`restores`]: a table's first resume trusts the bitmap of a clean
//!   superblock, or of one whose bitmap commits keep
//!   ([`crate::policy::commit`]).
//! - [`opening`]: before a table maps its first bio, superblocks without the
//!   clean flag go to both slots with FUA, `committed` only if the bitmap on
//!   the device holds nothing but bits the table's commits keep true (the
//!   bitmap it restored). Else a crash finds nothing to trust until the
//!   table's first commit has rewritten every page. One slot would do on a
//!   device that keeps what it acknowledged; the second keeps a slot
//!   damaged later from bringing an old checkpoint back.
//! - [`closing`]: at suspend, once nothing of the target is in flight and
//!   the destination holds every copy and mirrored write: flush the source
//!   and the destination (a copy may have read what the source held only in
//!   its cache), write the bitmap, flush the metadata device (the pages
//!   durable before the superblock that makes them count), then the clean
//!   superblock of the next sequence number with FUA.
//! - [`reset`]: the `reset` message, live or suspended, withdraws the
//!   checkpoint as `opening` does, before it replies.
//!
//! `tests/checkpoint_model.rs` crashes every interleaving of it every way a
//! crash can, and finds the misuses it exists to prevent.

use crate::policy::superblock::{Found, Geometry, Superblock};

/// One step of the protocol, in the order given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// Flush the volatile write caches of the source and the destination.
    FlushData,
    /// Write every page of the bitmap: the blocks migrated now set.
    WriteBitmap,
    /// Flush the metadata device's volatile write cache.
    FlushMetadata,
    /// Write this superblock to its slot (`seq % 2`) with FUA.
    WriteSuperblock(Superblock),
}

/// The newest commit's sequence number, 0 on a fresh device.
pub const fn last_seq(found: &Found) -> u64 {
    match found {
        Found::Fresh => 0,
        Found::Superblock(sb) => sb.seq,
    }
}

/// Whether a table's first resume marks the bitmap's blocks migrated.
pub const fn restores(found: &Found) -> bool {
    matches!(found, Found::Superblock(sb) if sb.trusted())
}

/// Before a table maps a bio: the steps after the device showed `found`;
/// `migrated` blocks count as migrated now (informational); `committed`:
/// every bit on the device is one the table's commits keep true.
pub fn opening(found: &Found, geometry: Geometry, migrated: u64, committed: bool) -> [Step; 2] {
    let seq = last_seq(found);
    let unclean = |step: u64| {
        Step::WriteSuperblock(Superblock {
            seq: seq.saturating_add(step),
            clean: false,
            committed,
            geometry,
            migrated_blocks: migrated,
        })
    };
    [unclean(1), unclean(2)]
}

/// `reset`, live or suspended, after the map in memory has started over:
/// the checkpoint withdrawn (both slots unclean, with FUA), so that no
/// table trusts the bitmap of before. Until it is done the operator may not
/// write the source outside the target; a suspended table writes no new
/// checkpoint, so without it a `dmsetup remove` would leave the old one.
pub fn reset(found: &Found, geometry: Geometry) -> [Step; 2] {
    opening(found, geometry, 0, false)
}

/// At suspend, with nothing in flight and the destination durable: the
/// steps after the device showed `found`, for `migrated` blocks migrated.
/// The bitmap it writes is the map's; `committed`: the table's commits keep
/// it from then on (not after a metadata failure stopped them).
pub fn closing(found: &Found, geometry: Geometry, migrated: u64, committed: bool) -> [Step; 4] {
    [
        Step::FlushData,
        Step::WriteBitmap,
        Step::FlushMetadata,
        Step::WriteSuperblock(Superblock {
            seq: last_seq(found).saturating_add(1),
            clean: true,
            committed,
            geometry,
            migrated_blocks: migrated,
        }),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn sb(seq: u64, clean: bool) -> Found {
        Found::Superblock(Superblock {
            seq,
            clean,
            ..Superblock::default()
        })
    }

    #[test]
    fn only_a_clean_or_committed_bitmap_is_restored() {
        assert!(!restores(&Found::Fresh));
        assert!(!restores(&sb(4, false)));
        assert!(restores(&sb(4, true)));
        let committed = Found::Superblock(Superblock {
            seq: 4,
            committed: true,
            ..Superblock::default()
        });
        assert!(restores(&committed));
    }

    #[test]
    fn opening_fills_both_slots_unclean_after_the_newest() {
        for committed in [false, true] {
            let steps = opening(&sb(7, true), Geometry::default(), 3, committed);
            let slots: [(u64, u64, bool, bool); 2] = steps.map(|s| match s {
                Step::WriteSuperblock(sb) => (sb.slot(), sb.seq, sb.clean, sb.committed),
                other => panic!("{other:?}"),
            });
            assert_eq!(slots, [(0, 8, false, committed), (1, 9, false, committed)]);
        }
        let fresh = opening(&Found::Fresh, Geometry::default(), 0, false);
        assert!(matches!(fresh[0], Step::WriteSuperblock(s) if s.seq == 1));
        assert!(reset(&sb(7, true), Geometry::default())
            .iter()
            .all(|s| matches!(s, Step::WriteSuperblock(s) if !s.clean && !s.committed)));
    }

    #[test]
    fn closing_flushes_before_the_clean_superblock() {
        let steps = closing(&sb(9, false), Geometry::default(), 5, true);
        assert_eq!(
            steps[..3],
            [Step::FlushData, Step::WriteBitmap, Step::FlushMetadata]
        );
        assert!(matches!(
            steps[3],
            Step::WriteSuperblock(s) if s.seq == 10 && s.clean && s.committed && s.migrated_blocks == 5
        ));
    }
}
