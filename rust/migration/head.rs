// SPDX-License-Identifier: GPL-2.0

//! The head position of each physical disk, shared by every iofollow device
//! whose source lives on it (the paper's multi-VM case).
//!
//! A fixed table of slots, claimed lock-free in `ctr` and released on drop:
//! `map` only does one relaxed store per bio.

use core::sync::atomic::{AtomicU64, Ordering};

const SLOTS: usize = 64;

/// Slot key word: `dev_t << 32 | users`; 0 = free.
static KEYS: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
/// Head position in the disk's sector space.
static POSITIONS: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

const USERS: u64 = 0xffff_ffff;

/// A reference to the head model of one physical disk.
pub(super) struct DiskHead {
    slot: usize,
}

impl DiskHead {
    /// Joins the head model of disk `dev` (a whole-disk `dev_t`), creating it
    /// at `start` if no device on that disk has one. `None` when every slot is taken.
    pub(super) fn join(dev: u32, start: u64) -> Option<Self> {
        loop {
            if let Some(slot) = Self::lowest_slot_of(dev) {
                if Self::try_add_user(slot, dev) {
                    return Some(Self { slot });
                }
                continue; // it was released meanwhile
            }
            let slot = Self::claim_free(dev)?;
            POSITIONS.get(slot)?.store(start, Ordering::Relaxed);
            // Two racing joins may claim two slots for one disk: the owner of the
            // higher slot moves to the lower one, so both end up sharing it.
            match Self::lowest_slot_of(dev) {
                Some(lower) if lower < slot => Self::release(slot),
                _ => return Some(Self { slot }),
            }
        }
    }

    fn lowest_slot_of(dev: u32) -> Option<usize> {
        KEYS.iter().position(|k| {
            let w = k.load(Ordering::Acquire);
            w >> 32 == u64::from(dev) && w & USERS != 0
        })
    }

    fn try_add_user(slot: usize, dev: u32) -> bool {
        let Some(key) = KEYS.get(slot) else {
            return false;
        };
        key.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
            (w >> 32 == u64::from(dev) && w & USERS != 0 && w & USERS != USERS).then(|| w + 1)
        })
        .is_ok()
    }

    fn claim_free(dev: u32) -> Option<usize> {
        KEYS.iter().position(|k| {
            k.compare_exchange(
                0,
                (u64::from(dev) << 32) | 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        })
    }

    fn release(slot: usize) {
        if let Some(key) = KEYS.get(slot) {
            // The closure always returns Some, so the update cannot fail.
            let _ = key.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                Some(if w & USERS <= 1 { 0 } else { w - 1 })
            });
        }
    }

    fn position(&self) -> &'static AtomicU64 {
        // `slot` came from `position()` over the same-sized table.
        &POSITIONS[self.slot % SLOTS]
    }

    /// The disk head: end sector of the last request sent to the disk.
    pub(super) fn get(&self) -> u64 {
        self.position().load(Ordering::Relaxed)
    }

    /// Records a request that ends at disk sector `end`.
    pub(super) fn set(&self, end: u64) {
        self.position().store(end, Ordering::Relaxed);
    }
}

impl Drop for DiskHead {
    fn drop(&mut self) {
        Self::release(self.slot);
    }
}
