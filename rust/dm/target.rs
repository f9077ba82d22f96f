// SPDX-License-Identifier: GPL-2.0

//! [`Target`]: one `struct dm_target`, the slice of a mapped device a target instance serves.

use super::{ffi, IoBuffers};
use core::cell::Cell;
use core::ops::Deref;
use kernel::{ffi::c_void, prelude::*, types::Opaque};

/// How dm hands bios to a target: set once from `ctr` with [`CtrTarget::set_limits`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TargetLimits {
    /// Clones of every empty flush sent to `map`, told apart by
    /// [`super::Bio::target_bio_nr`]: one per device the flush must reach.
    pub(crate) flush_clones: u32,
    /// Clones of every discard (0: discards are not supported).
    pub(crate) discard_clones: u32,
    /// Clones of every write-zeroes bio (0: not supported).
    pub(crate) write_zeroes_clones: u32,
    /// Largest bio in sectors; bios never cross a multiple of it (0: no limit).
    pub(crate) max_io_sectors: u64,
}

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

    pub(super) fn set_per_bio_size(&self, bytes: u32) {
        // SAFETY: live dm_target by the type invariant; only ctr sets it, before any bio.
        unsafe { ffi::iof_target_set_per_bio_size(self.as_ptr(), bytes) }
    }

    /// Raises a dm event on the table (`dmsetup wait` returns). Reached
    /// through `Ctx<'_, Process>::raise_event` only: it takes a mutex.
    pub(super) fn raise_event(&self) {
        // SAFETY: live dm_target by the type invariant; dm_table_event takes a mutex,
        // and the only caller is a process-context `Ctx`.
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

/// The target while its `ctr` runs: what only a constructor may do (open
/// devices, tell dm how to hand it bios, get IO buffers). Other callbacks
/// get a plain [`Target`], so safe code cannot call these from `map` or a
/// completion.
pub(crate) struct CtrTarget<'a> {
    target: &'a Target,
    /// Number and size of the IO buffers asked for, once.
    buffers: Cell<Option<(u32, usize)>>,
}

impl<'a> CtrTarget<'a> {
    /// Only the dm layer's ctr callback makes one.
    pub(super) fn new(target: &'a Target) -> Self {
        Self {
            target,
            buffers: Cell::new(None),
        }
    }

    /// `nr` IO buffers of `bytes` each for this target, allocated by the
    /// layer when `ctr` returns: their handles. Once per target.
    pub(crate) fn io_buffers(&self, nr: u32, bytes: usize) -> Result<IoBuffers> {
        if self.buffers.get().is_some() {
            return Err(EINVAL);
        }
        self.buffers.set(Some((nr, bytes)));
        Ok(IoBuffers::new(nr))
    }

    /// How log lines name the mapped device: `<dm name> (<major>:<minor>)`.
    pub(crate) fn label(&self) -> DeviceLabel {
        let mut label = DeviceLabel {
            buf: [0; DEVICE_LABEL_MAX],
        };
        // SAFETY: live dm_target during ctr (process context, as the mutex it takes
        // needs); the glue writes at most `len` bytes, NUL included.
        unsafe {
            ffi::iof_target_label(
                self.target.as_ptr(),
                label.buf.as_mut_ptr(),
                DEVICE_LABEL_MAX,
            )
        };
        label
    }

    /// What [`CtrTarget::io_buffers`] asked for (none: no buffers).
    pub(super) fn buffers(&self) -> (u32, usize) {
        self.buffers.get().unwrap_or((0, 0))
    }

    /// Tells dm how to hand bios to this target.
    pub(crate) fn set_limits(&self, limits: TargetLimits) -> Result {
        // SAFETY: live dm_target by the type invariant; these fields are only set from ctr,
        // which is the only place a `CtrTarget` exists.
        kernel::error::to_result(unsafe {
            ffi::iof_target_setup(
                self.target.as_ptr(),
                limits.flush_clones,
                limits.discard_clones,
                limits.write_zeroes_clones,
                limits.max_io_sectors,
            )
        })
    }
}

/// Room for a dm name (`DM_NAME_LEN`, 128) and ` (<major>:<minor>)`.
const DEVICE_LABEL_MAX: usize = 160;

/// The mapped device's name and number as log lines print them, fixed at
/// `ctr` (after a `dmsetup rename` the name is the old one until the next
/// table load; the number does not change).
pub(crate) struct DeviceLabel {
    /// NUL-terminated.
    buf: [u8; DEVICE_LABEL_MAX],
}

impl DeviceLabel {
    /// The label (empty if the glue wrote no valid UTF-8, never seen).
    pub(crate) fn as_str(&self) -> &str {
        let len = self
            .buf
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.buf.len());
        core::str::from_utf8(self.buf.get(..len).unwrap_or(&[])).unwrap_or("")
    }
}

impl Deref for CtrTarget<'_> {
    type Target = Target;

    fn deref(&self) -> &Target {
        self.target
    }
}
