// SPDX-License-Identifier: GPL-2.0

//! Page-backed buffers of the migration-aware cache.
//!
//! C counterpart: `cachebuf.c`. A [`CacheBuf`] holds the bytes of one cached
//! block: a header from the `iofollow_cache_entry` slab cache and order-0
//! pages. It is filled once, from a copy slot's buffer, when it is made
//! ([`Ctx::copy_to_cache`]), never changes afterwards, and is reference
//! counted, so a VM read being filled from it keeps it alive even if the
//! cache drops it meanwhile. Making one never sleeps and fails (`None`)
//! instead of dipping into reserves; dropping one is allowed in any context.

use super::{ffi, Ctx, IoBuffer, OwnedBio, Process};
use core::ptr::NonNull;
use kernel::prelude::*;

/// The bytes of one cached block.
///
/// # Invariants
///
/// `raw` is a live buffer from `iof_cache_buf_copy`, filled, on which this
/// value owns one reference.
pub(crate) struct CacheBuf {
    raw: NonNull<ffi::CacheBufRaw>,
}

// SAFETY: the buffer is immutable once made and its reference count is atomic.
unsafe impl Send for CacheBuf {}
// SAFETY: as above.
unsafe impl Sync for CacheBuf {}

impl CacheBuf {
    /// Its size in bytes.
    pub(crate) fn bytes(&self) -> u32 {
        // SAFETY: live buffer (type invariant).
        unsafe { ffi::iof_cache_buf_bytes(self.raw.as_ptr()) }
    }
}

impl Clone for CacheBuf {
    fn clone(&self) -> Self {
        // SAFETY: live buffer (type invariant); the new value owns the new reference.
        unsafe { ffi::iof_cache_buf_get(self.raw.as_ptr()) };
        // INVARIANT: one more reference, owned by the clone.
        Self { raw: self.raw }
    }
}

impl Drop for CacheBuf {
    fn drop(&mut self) {
        // SAFETY: this value's reference, put once; freeing does not sleep.
        unsafe { ffi::iof_cache_buf_put(self.raw.as_ptr()) }
    }
}

/// Cache buffers alive in the module, over all targets (cached, being
/// inserted, or filling a VM read).
pub(crate) fn cache_bufs_in_use() -> u64 {
    // SAFETY: reads an atomic counter; callable from any context.
    u64::try_from(unsafe { ffi::iof_cache_bufs_in_use() }).unwrap_or(0)
}

/// Most buffers one VM read can be served from ([`CachedRead`]).
pub(crate) const CACHED_READ_MAX: usize = 8;

/// Up to `N` cache buffers held together: the blocks a VM read is filled
/// from, or buffers taken out under a lock to be freed after it.
pub(crate) struct CacheBufs<const N: usize> {
    bufs: [Option<CacheBuf>; N],
    len: usize,
}

/// The consecutive cached blocks a VM read covers, in order.
pub(crate) type CachedRead = CacheBufs<CACHED_READ_MAX>;

impl<const N: usize> CacheBufs<N> {
    /// No buffer yet.
    pub(crate) const fn new() -> Self {
        Self {
            bufs: [const { None }; N],
            len: 0,
        }
    }

    /// Appends `buf`; when full, hands it back.
    pub(crate) fn push(&mut self, buf: CacheBuf) -> Result<(), CacheBuf> {
        match self.bufs.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(buf);
                self.len += 1;
                Ok(())
            }
            None => Err(buf),
        }
    }

    /// How many it holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds `N`.
    pub(crate) fn is_full(&self) -> bool {
        self.len >= N
    }
}

impl CachedRead {
    /// Fills the data pages of read `bio` from the buffers, starting at byte
    /// `offset` of the first; fails, copying nothing, if the bio reaches past
    /// the last.
    pub(crate) fn fill(&self, bio: &OwnedBio, offset: usize) -> Result {
        let mut raw = [core::ptr::null_mut::<ffi::CacheBufRaw>(); CACHED_READ_MAX];
        for (r, b) in raw.iter_mut().zip(self.bufs.iter().take(self.len)) {
            *r = b.as_ref().ok_or(EINVAL)?.raw.as_ptr();
        }
        let n = u32::try_from(self.len).map_err(|_| EINVAL)?;
        // SAFETY: the bio is owned (its pages are ours to fill); the first `n` pointers
        // are live buffers kept alive by `self` for the call; the glue checks the range.
        kernel::error::to_result(unsafe {
            ffi::iof_bio_fill_from_cache(bio.as_ptr(), raw.as_ptr(), n, offset)
        })
    }
}

impl<G> Ctx<'_, Process, G> {
    /// A cache buffer holding `bytes` bytes of IO buffer `buf` from byte
    /// `offset`; `None` without memory (never sleeps) or for a range outside
    /// the buffer. Holding `buf` means no IO into it is in flight.
    pub(crate) fn copy_to_cache(
        &self,
        buf: &IoBuffer,
        offset: usize,
        bytes: u32,
    ) -> Option<CacheBuf> {
        // SAFETY: live services (Services invariant); the glue checks the range
        // against the buffer's real size; no IO owns `buf` while we borrow it.
        let raw =
            unsafe { ffi::iof_cache_buf_copy(self.services.as_ptr(), buf.index(), offset, bytes) };
        // INVARIANT: a fresh, filled buffer with one reference, now ours.
        NonNull::new(raw).map(|raw| CacheBuf { raw })
    }
}
