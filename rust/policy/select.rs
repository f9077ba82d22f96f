// SPDX-License-Identifier: GPL-2.0

//! Chunk selection policies.
//!
//! Like dm-cache's policy modules, every policy answers one question behind
//! one trait: which pending chunk should the next migration IO copy? The
//! caller marks the returned chunk in flight ([`BlockMap::mark_in_flight`])
//! when it issues the copy. Re-dirtied chunks are pending again and are
//! selected again by both policies.
//!
//! * [`Sequential`] is the paper's "standard migration": start to end, then
//!   wrap around for chunks that became dirty behind the cursor.
//! * [`Follow`] is Algorithm 1 of the paper (the pending chunk nearest to the
//!   disk head) with a bias for the forward direction, so that once the
//!   migration reads a chunk it keeps streaming forward instead of
//!   fragmenting the image, and pure forward streaming while the disk is idle.

use crate::policy::map::BlockMap;
use core::fmt;
use core::ops::Deref;

/// A chunk selection policy.
pub trait Selector {
    /// Next chunk to copy, or `None` when no chunk is pending.
    ///
    /// `head_chunk` is the chunk of this source nearest to the shared disk
    /// head (see [`crate::policy::head::block_of_head`]); `idle` is true when
    /// no VM IO is waiting, so the migration has the disk to itself.
    fn next<S: Deref<Target = [u64]>>(
        &mut self,
        map: &BlockMap<S>,
        head_chunk: u64,
        idle: bool,
    ) -> Option<u64>;
}

/// Names of the policies (the `policy` table feature and message argument).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PolicyKind {
    /// IO following ([`Follow`]), the default.
    #[default]
    Follow,
    /// Start-to-end copy ([`Sequential`]).
    Sequential,
}

impl PolicyKind {
    /// Every policy, in the order the documentation lists them.
    pub const ALL: [PolicyKind; 2] = [PolicyKind::Follow, PolicyKind::Sequential];

    /// The policy's name as used in tables and messages.
    pub const fn name(self) -> &'static str {
        match self {
            PolicyKind::Follow => "follow",
            PolicyKind::Sequential => "sequential",
        }
    }

    /// Parse a policy name (ASCII case-insensitive).
    pub fn from_name(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("follow") {
            Some(PolicyKind::Follow)
        } else if s.eq_ignore_ascii_case("sequential") {
            Some(PolicyKind::Sequential)
        } else {
            None
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Standard migration: copy chunks in ascending order, then wrap around.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sequential {
    cursor: u64,
}

impl Sequential {
    /// A policy starting at chunk 0.
    pub const fn new() -> Self {
        Self { cursor: 0 }
    }
}

impl Selector for Sequential {
    fn next<S: Deref<Target = [u64]>>(
        &mut self,
        map: &BlockMap<S>,
        _head_chunk: u64,
        _idle: bool,
    ) -> Option<u64> {
        let c = map
            .next_pending(self.cursor)
            .or_else(|| map.next_pending(0))?;
        self.cursor = c.saturating_add(1);
        Some(c)
    }
}

/// Tunables of [`Follow`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowParams {
    /// The forward candidate wins while its distance is at most
    /// `forward_bias` times the distance of the backward candidate.
    /// 1 is the paper's plain "nearest chunk" (ties go forward).
    pub forward_bias: u32,
    /// When the disk is idle, stream forward from the head (wrapping around)
    /// instead of picking the nearest chunk in either direction.
    pub idle_forward: bool,
}

impl Default for FollowParams {
    fn default() -> Self {
        Self {
            forward_bias: 4,
            idle_forward: true,
        }
    }
}

impl FollowParams {
    /// The paper's Algorithm 1 literally: nearest pending chunk, nothing else.
    pub const fn nearest() -> Self {
        Self {
            forward_bias: 1,
            idle_forward: false,
        }
    }
}

/// IO following: migrate the pending chunk nearest to the disk head, with a
/// forward bias.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Follow {
    params: FollowParams,
}

impl Follow {
    /// A follow policy with `params` (a `forward_bias` of 0 is taken as 1).
    pub fn new(params: FollowParams) -> Self {
        let mut params = params;
        params.forward_bias = params.forward_bias.max(1);
        Self { params }
    }

    /// The tunables in force.
    pub const fn params(&self) -> FollowParams {
        self.params
    }
}

impl Selector for Follow {
    fn next<S: Deref<Target = [u64]>>(
        &mut self,
        map: &BlockMap<S>,
        head_chunk: u64,
        idle: bool,
    ) -> Option<u64> {
        let last = map.nr_blocks().checked_sub(1)?;
        let h = head_chunk.min(last);
        let fwd = map.next_pending(h);
        if idle && self.params.idle_forward {
            return fwd.or_else(|| map.next_pending(0));
        }
        let back = match h.checked_sub(1) {
            Some(c) => map.prev_pending(c),
            None => None,
        };
        match (fwd, back) {
            (Some(f), Some(b)) => {
                let df = f.saturating_sub(h);
                let db = h.saturating_sub(b);
                if df <= db.saturating_mul(u64::from(self.params.forward_bias)) {
                    Some(f)
                } else {
                    Some(b)
                }
            }
            (f, b) => f.or(b),
        }
    }
}

/// Either policy, chosen at run time (the kernel switches policies with the
/// `policy` message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnySelector {
    /// [`Follow`].
    Follow(Follow),
    /// [`Sequential`].
    Sequential(Sequential),
}

impl AnySelector {
    /// The policy of `kind` with default tunables.
    pub fn new(kind: PolicyKind) -> Self {
        match kind {
            PolicyKind::Follow => AnySelector::Follow(Follow::default()),
            PolicyKind::Sequential => AnySelector::Sequential(Sequential::new()),
        }
    }

    /// Which policy this is.
    pub const fn kind(&self) -> PolicyKind {
        match self {
            AnySelector::Follow(_) => PolicyKind::Follow,
            AnySelector::Sequential(_) => PolicyKind::Sequential,
        }
    }
}

impl Selector for AnySelector {
    fn next<S: Deref<Target = [u64]>>(
        &mut self,
        map: &BlockMap<S>,
        head_chunk: u64,
        idle: bool,
    ) -> Option<u64> {
        match self {
            AnySelector::Follow(p) => p.next(map, head_chunk, idle),
            AnySelector::Sequential(p) => p.next(map, head_chunk, idle),
        }
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn map(n: u64) -> BlockMap<Vec<u64>> {
        let w = BlockMap::<Vec<u64>>::words_needed(n).unwrap();
        BlockMap::new(vec![0; w], n).unwrap()
    }

    fn migrate(m: &mut BlockMap<Vec<u64>>, c: u64) {
        m.mark_in_flight(c).unwrap();
        m.complete(c, true).unwrap();
    }

    #[test]
    fn sequential_order_and_wrap() {
        let mut m = map(8);
        let mut p = Sequential::new();
        for want in 0..5 {
            let c = p.next(&m, 7, false).unwrap();
            assert_eq!(c, want);
            migrate(&mut m, c);
        }
        m.mark_dirty(1).unwrap();
        for want in [5, 6, 7, 1] {
            let c = p.next(&m, 0, false).unwrap();
            assert_eq!(c, want);
            migrate(&mut m, c);
        }
        assert_eq!(p.next(&m, 0, false), None);
    }

    #[test]
    fn follow_prefers_forward() {
        let mut m = map(100);
        for c in 0..100 {
            if c != 40 && c != 58 {
                migrate(&mut m, c);
            }
        }
        let mut nearest = Follow::new(FollowParams::nearest());
        let mut biased = Follow::new(FollowParams {
            forward_bias: 4,
            idle_forward: false,
        });
        // head at 50: backward 10, forward 8
        assert_eq!(nearest.next(&m, 50, false), Some(58));
        // head at 46: backward 6, forward 12
        assert_eq!(nearest.next(&m, 46, false), Some(40));
        assert_eq!(biased.next(&m, 46, false), Some(58));
        // head at 43: forward 15 > 4 * backward 3
        assert_eq!(biased.next(&m, 43, false), Some(40));
        // idle: stream forward, wrap
        let mut f = Follow::default();
        assert_eq!(f.next(&m, 59, true), Some(40));
        assert_eq!(f.next(&m, 41, true), Some(58));
        assert_eq!(f.next(&m, 1000, false), Some(58));
    }

    #[test]
    fn any_selector_dispatches() {
        let m = map(4);
        let mut s = AnySelector::new(PolicyKind::Sequential);
        assert_eq!(s.kind(), PolicyKind::Sequential);
        assert_eq!(s.next(&m, 3, false), Some(0));
        let mut f = AnySelector::new(PolicyKind::Follow);
        assert_eq!(f.next(&m, 3, false), Some(3));
        assert_eq!(PolicyKind::from_name("FOLLOW"), Some(PolicyKind::Follow));
        assert_eq!(PolicyKind::from_name("x"), None);
    }
}
