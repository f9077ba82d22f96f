// SPDX-License-Identifier: GPL-2.0

//! The `extern "C"` callbacks the glue's `target_type` calls, one per
//! operation: each turns dm's raw pointers into the layer's safe types and
//! calls the target's [`TargetOps`] method (as `block/mq/operations.rs` does
//! for blk-mq). Every pointer dm passes is valid for the call by dm's own
//! contract, stated at each function.

use super::services::Services;
use super::{
    args, bio, ffi, Bio, BlkStatus, CtrError, CtrTarget, DeviceVisitor, Instance, IoBuffer,
    IoCompletion, IoTag, MapBio, OwnedBio, QueueLimits, Reply, StatusType, StatusWriter, Target,
    TargetOps,
};
use super::{Atomic, Process};
use core::ptr::NonNull;
use kernel::{
    ffi::{c_char, c_int, c_uint, c_ulong, c_void},
    prelude::*,
    types::ForeignOwnable,
};

/// Holds the mutex that serialises every `ctr` and `dtr` of the type.
struct CtrDtrLock;

impl CtrDtrLock {
    /// Only ctr and dtr callbacks (process context) take it.
    fn take() -> Self {
        // SAFETY: a static mutex of the glue; ctr and dtr run in process context and
        // never take it twice (they do not nest).
        unsafe { ffi::iof_ctr_dtr_lock() };
        Self
    }
}

impl Drop for CtrDtrLock {
    fn drop(&mut self) {
        // SAFETY: taken in `take` by this value.
        unsafe { ffi::iof_ctr_dtr_unlock() }
    }
}

/// Borrows the instance `ctr` stored in `ti->private`.
///
/// # Safety
///
/// `ti` must be a live target whose `ctr` succeeded and whose `dtr` has not run.
unsafe fn instance<'a, T: TargetOps>(ti: *mut ffi::DmTargetRaw) -> Pin<&'a Instance<T>> {
    // SAFETY: live target (caller); ctr stored a `Pin<KBox<Instance<T>>>` via `into_foreign`,
    // reclaimed only by dtr, which the caller guarantees has not run.
    unsafe { <Pin<KBox<Instance<T>>> as ForeignOwnable>::borrow(Target::from_raw(ti).private()) }
}

fn construct<T: TargetOps>(
    target: &Target,
    args: &[&str],
) -> Result<Pin<KBox<Instance<T>>>, CtrError> {
    let ctr_target = CtrTarget::new(target);
    let init = T::ctr(&ctr_target, args)?;
    let (nr_buffers, buffer_bytes) = ctr_target.buffers();
    let services = Services::new(
        target,
        nr_buffers,
        buffer_bytes,
        work_callback::<T>,
        io_callback::<T>,
    )
    .map_err(|e| CtrError::new(e, c"Cannot allocate worker and IO buffers"))?;
    let ti = NonNull::new(target.as_ptr()).ok_or(CtrError::new(EINVAL, c"No target"))?;
    let instance = KBox::pin_init(
        try_pin_init!(Instance {
            services,
            ti,
            state <- init,
        }),
        GFP_KERNEL,
    )
    .map_err(|e| CtrError::new(e, c"Cannot allocate target context"))?;
    let owner: *const Instance<T> = &*instance;
    // SAFETY: the instance is pinned in its box until dtr drops it, and its PinnedDrop
    // shuts the worker down and waits for IO before anything is freed.
    unsafe { instance.services.bind(owner.cast()) };
    if T::HAS_RECLAIM {
        // SAFETY: bound above, to the instance the callbacks take it for.
        unsafe {
            instance
                .services
                .add_shrinker(target, count_callback::<T>, scan_callback::<T>)
        }
        .map_err(|e| CtrError::new(e, c"Cannot register shrinker"))?;
    }
    Ok(instance)
}

/// # Safety
///
/// Called by dm as `target_type::ctr` with a live `ti` and `argc` valid `argv` strings.
pub(super) unsafe extern "C" fn ctr_callback<T: TargetOps>(
    ti: *mut ffi::DmTargetRaw,
    argc: c_uint,
    argv: *mut *mut c_char,
) -> c_int {
    // SAFETY: dm passes a live target for the duration of ctr.
    let target = unsafe { Target::from_raw(ti) };
    // dm sizes each bio's per-bio area from this; it must be set before the first
    // bio reaches map, whatever the target's own ctr does.
    target.set_per_bio_size(const { bio::size_of_per_bio::<T::PerBio>() });
    let _serial = CtrDtrLock::take();
    // SAFETY: dm passes `argc` NUL-terminated strings that live until ctr returns.
    let built = unsafe { args::collect(argc, argv) }.and_then(|args| construct::<T>(target, &args));
    match built {
        Ok(instance) => {
            target.set_private(instance.into_foreign().cast_mut());
            0
        }
        Err(e) => {
            target.set_error(e.msg);
            e.errno.to_errno()
        }
    }
}

/// # Safety
///
/// Called by dm as `target_type::dtr`, once, after a successful ctr and after
/// every other dm callback of the target has returned.
pub(super) unsafe extern "C" fn dtr_callback<T: TargetOps>(ti: *mut ffi::DmTargetRaw) {
    // SAFETY: dm passes a live target.
    let target = unsafe { Target::from_raw(ti) };
    let _serial = CtrDtrLock::take();
    // SAFETY: ctr stored a `Pin<KBox<Instance<T>>>`; dtr runs once. Its PinnedDrop stops
    // the worker and waits for IO, so no work or IO callback can borrow it afterwards.
    drop(unsafe { <Pin<KBox<Instance<T>>> as ForeignOwnable>::from_foreign(target.private()) });
}

/// # Safety
///
/// Called by dm as `target_type::map` with a live target and a bio it hands over.
pub(super) unsafe extern "C" fn map_callback<T: TargetOps>(
    ti: *mut ffi::DmTargetRaw,
    bio: *mut ffi::BioRaw,
) -> c_int {
    // SAFETY: map only runs between ctr and dtr.
    let instance = unsafe { instance::<T>(ti) };
    // SAFETY: dm hands the bio to map; we own it until we return.
    let bio = unsafe { Bio::from_raw(bio) };
    // SAFETY: ctr sized this target's per-bio data for `T::PerBio`.
    let bio = unsafe { MapBio::<T::PerBio>::new(bio) };
    instance.state.map(&instance.ctx::<Atomic>(), bio).0
}

/// # Safety
///
/// Called by dm as `target_type::end_io` for a bio `map` remapped.
pub(super) unsafe extern "C" fn end_io_callback<T: TargetOps>(
    ti: *mut ffi::DmTargetRaw,
    bio: *mut ffi::BioRaw,
    error: *mut ffi::BlkStatus,
) -> c_int {
    // SAFETY: end_io only runs between ctr and dtr.
    let instance = unsafe { instance::<T>(ti) };
    // SAFETY: the completing bio belongs to the target until end_io returns.
    let bio = unsafe { Bio::from_raw(bio) };
    // SAFETY: dm passes a valid pointer to the completion status.
    let status = BlkStatus::from_raw(unsafe { *error });
    // SAFETY: map wrote this bio's per-bio data as a `T::PerBio` (MapBio::new).
    let data = unsafe { bio.per_bio::<T::PerBio>() };
    let status = instance
        .state
        .end_io(&instance.ctx::<Atomic>(), bio, data, status);
    // SAFETY: as above; dm reads it back after end_io returns.
    unsafe { *error = status.into_raw() };
    ffi::DM_ENDIO_DONE
}

/// # Safety
///
/// Called by the glue's work function with the owner bound in `construct`.
pub(super) unsafe extern "C" fn work_callback<T: TargetOps>(owner: *mut c_void) {
    // SAFETY: `owner` is the pinned instance, alive until its PinnedDrop has shut the
    // worker down (which waits for this call to return).
    let instance = unsafe { &*owner.cast::<Instance<T>>() };
    instance.state.work(&instance.ctx::<Process>());
}

/// # Safety
///
/// Called by the glue's shrinker with the owner bound in `construct`.
pub(super) unsafe extern "C" fn count_callback<T: TargetOps>(owner: *mut c_void) -> c_ulong {
    // SAFETY: `owner` is the pinned instance; its PinnedDrop frees the shrinker, which
    // waits for this call, before the instance goes.
    let instance = unsafe { &*owner.cast::<Instance<T>>() };
    c_ulong::try_from(instance.state.reclaimable()).unwrap_or(c_ulong::MAX)
}

/// # Safety
///
/// As [`count_callback`].
pub(super) unsafe extern "C" fn scan_callback<T: TargetOps>(
    owner: *mut c_void,
    nr: c_ulong,
) -> c_ulong {
    // SAFETY: as in `count_callback`.
    let instance = unsafe { &*owner.cast::<Instance<T>>() };
    c_ulong::try_from(
        instance
            .state
            .reclaim(u64::try_from(nr).unwrap_or(u64::MAX)),
    )
    .unwrap_or(c_ulong::MAX)
}

/// # Safety
///
/// Called by the glue when an IO issued through `Ctx` completes, with the owner
/// bound in `construct` and the bio given to `Ctx::write_bio`, if any.
pub(super) unsafe extern "C" fn io_callback<T: TargetOps>(
    owner: *mut c_void,
    tag: u64,
    bio: *mut ffi::BioRaw,
    buf: c_uint,
    error_bits: c_ulong,
) {
    // SAFETY: `owner` is the pinned instance; its PinnedDrop waits for all IO before
    // freeing it, and the glue drops this IO's reference only after we return.
    let instance = unsafe { &*owner.cast::<Instance<T>>() };
    // SAFETY: a non-null `bio` is the owned bio `Ctx::write_bio` handed to the IO.
    let bio = NonNull::new(bio).map(|p| unsafe { OwnedBio::from_raw(p) });
    // SAFETY: an owned bio came from `MapBio::take` of this target, whose `MapBio::new`
    // wrote its per-bio data as a `T::PerBio` (and `set_data` only writes that type);
    // dm keeps the area with the bio until it ends.
    let bio_data = bio.as_ref().map(|b| unsafe { b.per_bio::<T::PerBio>() });
    let done = IoCompletion {
        tag: <T::Tag as IoTag>::from_raw(tag),
        bio,
        bio_data,
        // SAFETY: the glue passes back the buffer this IO was lent, once.
        buffer: unsafe { IoBuffer::from_io(buf) },
        error_bits: error_bits as u64,
    };
    instance.state.io_done(&instance.ctx::<Atomic>(), done);
}

/// # Safety
///
/// Called by dm as `target_type::status` with a live target and a `result`
/// buffer of `maxlen` bytes.
pub(super) unsafe extern "C" fn status_callback<T: TargetOps>(
    ti: *mut ffi::DmTargetRaw,
    kind: c_uint,
    _status_flags: c_uint,
    result: *mut c_char,
    maxlen: c_uint,
) {
    if result.is_null() || maxlen == 0 {
        return;
    }
    // SAFETY: dm's result buffer is `maxlen` writable bytes, exclusively ours for the call.
    let buf = unsafe { core::slice::from_raw_parts_mut(result, maxlen as usize) };
    let mut out = StatusWriter::new(buf);
    let kind = match kind {
        ffi::STATUSTYPE_INFO => StatusType::Info,
        ffi::STATUSTYPE_TABLE => StatusType::Table,
        // STATUSTYPE_IMA: nothing to measure, leave the string empty.
        _ => return,
    };
    // SAFETY: status only runs between ctr and dtr.
    unsafe { instance::<T>(ti) }.state.status(kind, &mut out);
}

/// # Safety
///
/// Called by dm as `target_type::message` with a live target and `argc` valid `argv` strings.
pub(super) unsafe extern "C" fn message_callback<T: TargetOps>(
    ti: *mut ffi::DmTargetRaw,
    argc: c_uint,
    argv: *mut *mut c_char,
    result: *mut c_char,
    maxlen: c_uint,
) -> c_int {
    // SAFETY: dm passes `argc` NUL-terminated strings that live until we return.
    let args = match unsafe { args::collect(argc, argv) } {
        Ok(args) => args,
        Err(e) => return e.errno.to_errno(),
    };
    if result.is_null() || maxlen == 0 {
        return EINVAL.to_errno();
    }
    // SAFETY: dm's result buffer is `maxlen` writable bytes, exclusively ours for the call.
    let buf = unsafe { core::slice::from_raw_parts_mut(result, maxlen as usize) };
    let mut reply = StatusWriter::new(buf);
    // SAFETY: message only runs between ctr and dtr.
    let instance = unsafe { instance::<T>(ti) };
    match instance
        .state
        .message(&instance.ctx::<Process>(), &args, &mut reply)
    {
        Ok(Reply::Silent) => 0,
        // dm-ioctl hands the reply text to userspace when message returns 1.
        Ok(Reply::Text) => 1,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by dm as `target_type::presuspend` on a constructed, live target.
pub(super) unsafe extern "C" fn presuspend_callback<T: TargetOps>(ti: *mut ffi::DmTargetRaw) {
    // SAFETY: between ctr and dtr.
    let instance = unsafe { instance::<T>(ti) };
    instance.state.presuspend(&instance.ctx::<Process>());
}

/// # Safety
///
/// Called by dm as `target_type::presuspend_undo` on a constructed, live target.
pub(super) unsafe extern "C" fn presuspend_undo_callback<T: TargetOps>(ti: *mut ffi::DmTargetRaw) {
    // SAFETY: between ctr and dtr.
    let instance = unsafe { instance::<T>(ti) };
    instance.state.presuspend_undo(&instance.ctx::<Process>());
}

/// # Safety
///
/// Called by dm as `target_type::postsuspend` on a constructed, live target.
pub(super) unsafe extern "C" fn postsuspend_callback<T: TargetOps>(ti: *mut ffi::DmTargetRaw) {
    // SAFETY: between ctr and dtr.
    let instance = unsafe { instance::<T>(ti) };
    instance.state.postsuspend(&instance.ctx::<Process>());
    // Suspended means quiet: nothing of ours in flight until resume.
    instance.services.wait_idle();
}

/// # Safety
///
/// Called by dm as `target_type::preresume` on a constructed, live target.
pub(super) unsafe extern "C" fn preresume_callback<T: TargetOps>(
    ti: *mut ffi::DmTargetRaw,
) -> c_int {
    // SAFETY: between ctr and dtr.
    let instance = unsafe { instance::<T>(ti) };
    match instance.state.preresume(&instance.ctx::<Process>()) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by dm as `target_type::resume` on a constructed, live target.
pub(super) unsafe extern "C" fn resume_callback<T: TargetOps>(ti: *mut ffi::DmTargetRaw) {
    // SAFETY: between ctr and dtr.
    let instance = unsafe { instance::<T>(ti) };
    instance.state.resume(&instance.ctx::<Process>());
}

/// # Safety
///
/// Called by dm as `target_type::iterate_devices` with its own callout and data.
pub(super) unsafe extern "C" fn iterate_devices_callback<T: TargetOps>(
    ti: *mut ffi::DmTargetRaw,
    callout: ffi::IterateCallout,
    data: *mut c_void,
) -> c_int {
    // SAFETY: dm passes a constructed, live target.
    let target = unsafe { Target::from_raw(ti) };
    let mut visitor = DeviceVisitor::new(target, callout, data);
    // SAFETY: between ctr and dtr.
    unsafe { instance::<T>(ti) }
        .state
        .iterate_devices(&mut visitor)
}

/// # Safety
///
/// Called by dm as `target_type::io_hints` with the mapped device's limits.
pub(super) unsafe extern "C" fn io_hints_callback<T: TargetOps>(
    ti: *mut ffi::DmTargetRaw,
    limits: *mut ffi::QueueLimitsRaw,
) {
    // SAFETY: dm passes its limits, ours for the duration of io_hints.
    let mut limits = unsafe { QueueLimits::from_raw(limits) };
    // SAFETY: between ctr and dtr.
    unsafe { instance::<T>(ti) }.state.io_hints(&mut limits);
}
