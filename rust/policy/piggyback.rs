// SPDX-License-Identifier: GPL-2.0

//! Piggybacking VM reads on migration (Algorithm 2, READBLOCK/WRITEBLOCK).
//!
//! A VM read that lands in a pending chunk can be served by reading the whole
//! chunk in one request: the VM's own positioning then does the migration's
//! work, the chunk is written to the destination and handed to the cache.
//! The price is the transfer of the rest of the chunk, which the VM request
//! (and every request queued behind it) waits for. [`PiggybackRule`] decides
//! when that pays: only when the extra transfer is bounded and the VM queue
//! is short enough that nobody else pays for it.
//!
//! The default bound on the extra transfer is 1024 sectors (512 KiB): about
//! one mean rotational latency of a 7200 rpm disk at its outer zone (4.2 ms),
//! i.e. the VM request pays at most the positioning the migration saves. The
//! simulator's ablation measured unconditional piggybacking of 1 MiB chunks:
//! it shortened the migration but cost VM latency (Documentation/policies.rst).

/// When to serve a VM read by reading its whole chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PiggybackRule {
    /// Master switch.
    pub enabled: bool,
    /// Largest extra transfer (chunk size minus request size) in sectors.
    pub max_extra_sectors: u64,
    /// Largest number of other VM requests waiting behind this one.
    pub max_vm_waiting: u32,
}

impl Default for PiggybackRule {
    fn default() -> Self {
        Self {
            enabled: true,
            max_extra_sectors: 1024,
            max_vm_waiting: 0,
        }
    }
}

impl PiggybackRule {
    /// A rule that never piggybacks.
    pub const fn disabled() -> Self {
        Self {
            enabled: false,
            max_extra_sectors: 0,
            max_vm_waiting: 0,
        }
    }

    /// Whether a VM read of `req_sectors` sectors, entirely inside one chunk
    /// of `chunk_sectors` sectors that is pending (`chunk_pending`: unmigrated
    /// or dirty and not in flight), should be served by a whole-chunk read,
    /// while `vm_waiting` other VM requests are queued.
    pub fn decide(
        &self,
        chunk_pending: bool,
        chunk_sectors: u64,
        req_sectors: u64,
        vm_waiting: u32,
    ) -> bool {
        if !self.enabled || !chunk_pending || req_sectors == 0 || req_sectors > chunk_sectors {
            return false;
        }
        let extra = chunk_sectors.saturating_sub(req_sectors);
        extra <= self.max_extra_sectors && vm_waiting <= self.max_vm_waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule() {
        let r = PiggybackRule::default();
        assert!(r.decide(true, 1024, 32, 0));
        assert!(!r.decide(true, 2048, 32, 0));
        assert!(r.decide(true, 2048, 1024, 0));
        assert!(!r.decide(true, 1024, 32, 1));
        assert!(!r.decide(false, 1024, 32, 0));
        assert!(!r.decide(true, 2048, 0, 0));
        assert!(!r.decide(true, 2048, 4096, 0));
        assert!(!PiggybackRule::disabled().decide(true, 2048, 2048, 0));
    }
}
