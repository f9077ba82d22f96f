// SPDX-License-Identifier: GPL-2.0

//! [`DmDev`]: an underlying block device opened through the table.

use super::{ffi, CtrTarget};
use core::ptr::NonNull;
use kernel::{error::to_result, prelude::*, str::CStr};

/// Room for [`DmDev::identity`]: dm's `DM_UUID_LEN` (129) and more.
pub(crate) const DEV_IDENTITY_MAX: usize = 130;

/// A block device the table opened for a target with `dm_get_device`.
///
/// # Invariants
///
/// `dev` was returned by `dm_get_device` for the target `ti`, and is put
/// exactly once, on drop. A `DmDev` lives inside its target's private state,
/// which the dm layer drops in `dtr`, so `ti` outlives it.
pub(crate) struct DmDev {
    ti: NonNull<ffi::DmTargetRaw>,
    dev: NonNull<ffi::DmDevRaw>,
}

// SAFETY: a dm_dev may be used and put from any thread; it is only read through `&self`.
unsafe impl Send for DmDev {}
// SAFETY: all `&self` methods only read immutable properties of the open device.
unsafe impl Sync for DmDev {}

impl DmDev {
    /// Opens `path` (a device path or `major:minor`) in the table's mode
    /// (constructor only: `dm_get_device` may sleep and belongs to the table).
    pub(crate) fn open(target: &CtrTarget<'_>, path: &str) -> Result<Self> {
        let mut cpath = KVec::with_capacity(path.len() + 1, GFP_KERNEL)?;
        cpath.extend_from_slice(path.as_bytes(), GFP_KERNEL)?;
        cpath.push(0, GFP_KERNEL)?;
        let mut dev = core::ptr::null_mut();
        // SAFETY: `target` is live; `cpath` is NUL-terminated and outlives the call;
        // `dev` is a valid out pointer.
        to_result(unsafe { ffi::iof_get_device(target.as_ptr(), cpath.as_ptr(), &mut dev) })?;
        let dev = NonNull::new(dev).ok_or(ENODEV)?;
        let ti = NonNull::new(target.as_ptr()).ok_or(EINVAL)?;
        // INVARIANT: `dev` was just returned by dm_get_device for `ti`.
        Ok(Self { ti, dev })
    }

    pub(super) fn as_ptr(&self) -> *mut ffi::DmDevRaw {
        self.dev.as_ptr()
    }

    /// The device as `major:minor`, the form status tables print.
    pub(crate) fn name(&self) -> &str {
        // SAFETY: the dm_dev is live (type invariant) and its name is a NUL-terminated
        // array inside it, unchanged while it is held.
        let name = unsafe { CStr::from_char_ptr(ffi::iof_dev_name(self.as_ptr())) };
        name.to_str().unwrap_or("?")
    }

    /// Capacity in 512-byte sectors.
    pub(crate) fn nr_sectors(&self) -> u64 {
        // SAFETY: the dm_dev is live (type invariant).
        unsafe { ffi::iof_dev_nr_sectors(self.as_ptr()) }
    }

    /// Logical block size in bytes.
    pub(crate) fn logical_block_size(&self) -> u32 {
        // SAFETY: the dm_dev is live (type invariant).
        unsafe { ffi::iof_dev_logical_block_size(self.as_ptr()) }
    }

    /// Where the device starts on its whole disk (non-zero for a partition).
    pub(crate) fn start_on_disk(&self) -> u64 {
        // SAFETY: the dm_dev is live (type invariant).
        unsafe { ffi::iof_dev_start_sect(self.as_ptr()) }
    }

    /// A stable identifier of the device, written into `buf`: a dm device's
    /// UUID (an LVM volume's), a partition's UUID, or empty. Sleeps (a mutex).
    pub(crate) fn identity<'b>(&self, buf: &'b mut [u8; DEV_IDENTITY_MAX]) -> &'b [u8] {
        buf[0] = 0;
        // SAFETY: the dm_dev is live (type invariant); `buf` is DEV_IDENTITY_MAX writable
        // bytes, at least the glue's DM_UUID_LEN, and the glue NUL-terminates within them.
        unsafe { ffi::iof_dev_identity(self.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        buf.get(..end).unwrap_or(&[])
    }

    /// The `dev_t` of the whole disk the device is part of.
    pub(crate) fn whole_disk(&self) -> u32 {
        // SAFETY: the dm_dev is live (type invariant).
        unsafe { ffi::iof_dev_whole_disk(self.as_ptr()) }
    }
}

impl Drop for DmDev {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `dev` is held for `ti`, which is still live, and this
        // is the only put.
        unsafe { ffi::iof_put_device(self.ti.as_ptr(), self.dev.as_ptr()) }
    }
}
