// SPDX-License-Identifier: GPL-2.0

//! Device enumeration and queue limits: what dm asks of a target when it
//! stacks the mapped device's queue on the underlying ones.

use super::{ffi, DmDev, Target};
use kernel::ffi::c_void;

/// The `iterate_devices` callout: the target reports each device it uses.
pub(crate) struct DeviceVisitor<'a> {
    target: &'a Target,
    callout: ffi::IterateCallout,
    data: *mut c_void,
}

impl<'a> DeviceVisitor<'a> {
    pub(super) fn new(target: &'a Target, callout: ffi::IterateCallout, data: *mut c_void) -> Self {
        Self {
            target,
            callout,
            data,
        }
    }

    /// Reports `len` sectors of `dev` from `start`; a non-zero result stops the walk
    /// and must be returned from `iterate_devices`.
    pub(crate) fn visit(&mut self, dev: &DmDev, start: u64, len: u64) -> i32 {
        // SAFETY: `target` is live for the callback, `callout` and `data` are dm's own
        // arguments to iterate_devices, and `dev` is held by the table.
        unsafe {
            ffi::iof_target_iterate(
                self.target.as_ptr(),
                self.callout,
                dev.as_ptr(),
                start,
                len,
                self.data,
            )
        }
    }
}

/// The queue limits of the mapped device, offered to `io_hints`.
///
/// # Invariants
///
/// `ptr` is dm's `struct queue_limits`, exclusively ours during `io_hints`.
pub(crate) struct QueueLimits {
    ptr: *mut ffi::QueueLimitsRaw,
}

impl QueueLimits {
    /// # Safety
    ///
    /// `ptr` must be the limits dm passed to `io_hints`, for the duration of the call.
    pub(super) unsafe fn from_raw(ptr: *mut ffi::QueueLimitsRaw) -> Self {
        // INVARIANT: by the safety requirements of this function.
        Self { ptr }
    }

    /// Advertises the chunk as the optimal IO size and the largest discard.
    pub(crate) fn set_chunk(&mut self, chunk_sectors: u32) {
        // SAFETY: `ptr` is live and exclusively ours during io_hints (type invariant).
        unsafe { ffi::iof_limits_set_chunk(self.ptr, chunk_sectors) }
    }
}
