// SPDX-License-Identifier: GPL-2.0

//! [`MetaIo`]: synchronous IO of a small metadata device, in whole 4 KiB
//! blocks, from a buffer the layer owns.
//!
//! C counterpart: `metaio.c`, a dm-io client of its own and a vmalloc'd
//! buffer. Every call sleeps until its IO completes, so each takes a
//! [`MaySleep`] proof: a constructor's [`CtrTarget`] or a
//! `Ctx<'_, Process, _>`. The buffer is never on a kernel stack.

use super::{ffi, CtrTarget, Ctx, DmDev, Process};
use core::ptr::NonNull;
use kernel::{error::from_err_ptr, error::to_result, prelude::*};

/// Bytes of a metadata block, the unit of [`MetaIo`].
pub(crate) const META_BLOCK_BYTES: usize = 4096;
const META_BLOCK_SECTORS: u64 = 8;

mod sealed {
    pub(crate) trait Sealed {}
}

/// A calling context that may sleep (implemented by the layer's types only).
pub(crate) trait MaySleep: sealed::Sealed {}
impl sealed::Sealed for CtrTarget<'_> {}
impl MaySleep for CtrTarget<'_> {}
impl<G> sealed::Sealed for Ctx<'_, Process, G> {}
impl<G> MaySleep for Ctx<'_, Process, G> {}

/// Synchronous metadata IO with a buffer of `blocks` 4 KiB blocks.
///
/// # Invariants
///
/// `raw` came from `iof_meta_io_create(blocks)` and is destroyed once, on
/// drop. Its buffer holds `blocks * META_BLOCK_BYTES` bytes for as long as
/// `raw` lives, and is written by IO only inside [`MetaIo::read`], which
/// takes `&mut self`: no reference into it handed out by `block` or
/// `block_mut` can be alive then.
pub(crate) struct MetaIo {
    raw: NonNull<ffi::MetaIoRaw>,
    blocks: usize,
}

// SAFETY: the C object is owned by this value alone and used from one thread at a time
// (`&mut self` for IO); nothing in it is tied to the creating thread.
unsafe impl Send for MetaIo {}
// SAFETY: `&self` only reads the buffer; every change takes `&mut self`.
unsafe impl Sync for MetaIo {}

impl MetaIo {
    /// A client and a zeroed buffer of `blocks` metadata blocks (at least one).
    pub(crate) fn new(_ctx: &impl MaySleep, blocks: u32) -> Result<Self> {
        if blocks == 0 {
            return Err(EINVAL);
        }
        // SAFETY: plain allocation; may sleep (the caller's context allows it).
        let raw = from_err_ptr(unsafe { ffi::iof_meta_io_create(blocks) })?;
        let raw = NonNull::new(raw).ok_or(ENOMEM)?;
        // INVARIANT: created above with `blocks` blocks, destroyed in Drop.
        Ok(Self {
            raw,
            blocks: usize::try_from(blocks).map_err(|_| EINVAL)?,
        })
    }

    /// Blocks the buffer holds.
    pub(crate) fn blocks(&self) -> usize {
        self.blocks
    }

    fn block_ptr(&self, i: usize) -> Option<*mut [u8; META_BLOCK_BYTES]> {
        if i >= self.blocks {
            return None;
        }
        // SAFETY: live object (type invariant).
        let base = unsafe { ffi::iof_meta_io_buf(self.raw.as_ptr()) }.cast::<u8>();
        // SAFETY: `i < blocks`: the offset stays inside the buffer of `blocks` blocks.
        Some(unsafe { base.add(i * META_BLOCK_BYTES) }.cast())
    }

    /// Block `i` of the buffer.
    pub(crate) fn block(&self, i: usize) -> Option<&[u8; META_BLOCK_BYTES]> {
        // SAFETY: in bounds (block_ptr), valid for the borrow of `self`, and no IO writes
        // the buffer while `self` is borrowed (type invariant).
        self.block_ptr(i).map(|p| unsafe { &*p })
    }

    /// Block `i` of the buffer, to fill before a write.
    pub(crate) fn block_mut(&mut self, i: usize) -> Option<&mut [u8; META_BLOCK_BYTES]> {
        // SAFETY: as in `block`, and `&mut self` makes the borrow exclusive.
        self.block_ptr(i).map(|p| unsafe { &mut *p })
    }

    fn rw(&mut self, dev: &DmDev, write: bool, fua: bool, mblock: u64, blocks: usize) -> Result {
        if blocks > self.blocks {
            return Err(EINVAL);
        }
        let sector = mblock.checked_mul(META_BLOCK_SECTORS).ok_or(EINVAL)?;
        let n = u32::try_from(blocks).map_err(|_| EINVAL)?;
        // SAFETY: live object and device; the C side bounds the IO by its buffer, and the
        // IO is complete when the call returns (no notify function: dm-io waits).
        to_result(unsafe {
            ffi::iof_meta_io_rw(self.raw.as_ptr(), dev.as_ptr(), write, fua, sector, n)
        })
    }

    /// Reads `blocks` metadata blocks of `dev` from metadata block `mblock`
    /// into the start of the buffer.
    pub(crate) fn read(
        &mut self,
        _ctx: &impl MaySleep,
        dev: &DmDev,
        mblock: u64,
        blocks: usize,
    ) -> Result {
        if blocks == 0 {
            return Err(EINVAL);
        }
        self.rw(dev, false, false, mblock, blocks)
    }

    /// Writes the first `blocks` blocks of the buffer to `dev` from metadata
    /// block `mblock`; with `fua`, durable when it returns `Ok`.
    pub(crate) fn write(
        &mut self,
        _ctx: &impl MaySleep,
        dev: &DmDev,
        mblock: u64,
        blocks: usize,
        fua: bool,
    ) -> Result {
        if blocks == 0 {
            return Err(EINVAL);
        }
        self.rw(dev, true, fua, mblock, blocks)
    }

    /// Flushes `dev`'s volatile write cache: every write completed before is durable.
    pub(crate) fn flush(&mut self, _ctx: &impl MaySleep, dev: &DmDev) -> Result {
        self.rw(dev, true, true, 0, 0)
    }
}

impl Drop for MetaIo {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed once; no IO is in flight (IO is synchronous).
        unsafe { ffi::iof_meta_io_destroy(self.raw.as_ptr()) }
    }
}
