//! [`Target`]: one `struct dm_target`, the slice of a mapped device a target instance serves.

use super::ffi;
use kernel::{ffi::c_void, prelude::*, types::Opaque};

/// A device-mapper target instance, as dm hands it to every callback.
///
/// # Invariants
///
/// `self.0` is a live `struct dm_target` for as long as the reference is
/// held: dm hands the pointer to a callback and keeps the target alive until
/// its `dtr` returns.
#[repr(transparent)]
pub(crate) struct Target(Opaque<ffi::DmTargetRaw>);

impl Target {
    /// Borrows the target behind a pointer dm passed to a callback.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live `struct dm_target` for the whole lifetime `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut ffi::DmTargetRaw) -> &'a Self {
        // SAFETY: `Target` is a transparent wrapper of the opaque C type, and the caller
        // guarantees the pointee lives for `'a`.
        // INVARIANT: by the safety requirements of this function.
        unsafe { &*ptr.cast::<Self>() }
    }

    pub(super) fn as_ptr(&self) -> *mut ffi::DmTargetRaw {
        self.0.get()
    }

    /// First sector of this target in the mapped device.
    pub(crate) fn begin(&self) -> u64 {
        // SAFETY: `self.as_ptr()` is a live dm_target by the type invariant.
        unsafe { ffi::iof_target_begin(self.as_ptr()) }
    }

    /// Length of this target in sectors.
    pub(crate) fn len(&self) -> u64 {
        // SAFETY: `self.as_ptr()` is a live dm_target by the type invariant.
        unsafe { ffi::iof_target_len(self.as_ptr()) }
    }

    /// Tells dm how to hand bios to this target: how many clones of each
    /// flush, discard and write-zeroes bio to send to `map` (one per device
    /// they must reach; see [`super::Bio::target_bio_nr`]), and the largest
    /// bio in sectors (so no bio crosses a chunk; 0 = no limit).
    pub(crate) fn setup(&self, flush: u32, discard: u32, write_zeroes: u32, max_io: u64) -> Result {
        // SAFETY: live dm_target by the type invariant; these fields are only set from ctr.
        kernel::error::to_result(unsafe {
            ffi::iof_target_setup(self.as_ptr(), flush, discard, write_zeroes, max_io)
        })
    }

    /// Raises a dm event on the table (`dmsetup wait` returns).
    pub(crate) fn raise_event(&self) {
        // SAFETY: live dm_target by the type invariant; dm_table_event may be called from
        // any context that may take a mutex, which the callers of this method are.
        unsafe { ffi::iof_target_event(self.as_ptr()) }
    }

    pub(super) fn set_error(&self, msg: &'static core::ffi::CStr) {
        // SAFETY: live dm_target; `msg` is static so dm may print it after ctr returns.
        unsafe { ffi::iof_target_set_error(self.as_ptr(), msg.as_ptr().cast()) }
    }

    pub(super) fn private(&self) -> *mut c_void {
        // SAFETY: live dm_target by the type invariant.
        unsafe { ffi::iof_target_private(self.as_ptr()) }
    }

    pub(super) fn set_private(&self, private: *mut c_void) {
        // SAFETY: live dm_target by the type invariant; only ctr sets it.
        unsafe { ffi::iof_target_set_private(self.as_ptr(), private) }
    }
}
