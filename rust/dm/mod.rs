// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions for writing a device-mapper target in Rust.
//!
//! C header: [`include/linux/device-mapper.h`](srctree/include/linux/device-mapper.h)
//!
//! This directory is the only part of the module that contains `unsafe`
//! code or raw pointers (the way `rust/kernel/block/mq` wraps blk-mq for
//! `rnull`). A target implements [`TargetOps`] in safe Rust; [`Registration`]
//! registers it with dm through the small C file `glue.c`, which owns the
//! `struct target_type` and wraps what Rust cannot call (static inlines,
//! struct fields, workqueue and dm-io plumbing).
//!
//! Lifetime rules the layer enforces for a target instance:
//! - `ctr` returns an initialiser; the layer pins the state next to the
//!   target's [`Services`] and keeps both in `ti->private`.
//! - Every callback gets `&self` and a [`Ctx`]; `map`, `end_io` and
//!   `io_done` may run concurrently, in atomic context, and must not sleep:
//!   they get a `Ctx<'_, Atomic, _>`, on which nothing that sleeps exists.
//! - IO tags are the target's [`TargetOps::Tag`] type in both directions.
//! - The per-bio data is the target's [`TargetOps::PerBio`] type; the layer
//!   sizes dm's per-bio area for it in `ctr`, before the target runs.
//! - IO buffers are asked for in `ctr` ([`CtrTarget::io_buffers`]); each
//!   is an [`IoBuffer`] handle that an IO owns while it runs.
//! - `dtr` stops the worker, waits for every IO issued through [`Ctx`], and
//!   only then drops the state, so no callback can outlive it.
//! - The `ctr` and `dtr` of every target of the type run one at a time: a
//!   target may share state with the others of its type (under a mutex of
//!   the glue) without a lock of its own there.

/// `pr_err!` under one module-wide rate limit (as `DMERR_LIMIT`): for
/// errors on IO paths, which can repeat once per bio.
macro_rules! pr_err_ratelimited {
    ($($arg:tt)*) => {
        if $crate::dm::log_allowed() {
            kernel::pr_err!($($arg)*);
        }
    };
}

#[macro_use]
mod lock;
mod args;
mod bio;
mod cachebuf;
mod dev;
mod ffi;
mod iobuf;
mod limits;
mod services;
mod status;
mod target;

pub(crate) use bio::{Bio, BioList, BioOp, BlkStatus, MapBio, OwnedBio, PerBio, Routed};
pub(crate) use cachebuf::{cache_bufs_in_use, CacheBuf, CacheBufs, CachedRead, CACHED_READ_MAX};
pub(crate) use dev::DmDev;
pub(crate) use iobuf::{IoBuffer, IoBuffers};
pub(crate) use limits::{DeviceVisitor, QueueLimits};
pub(crate) use lock::{IrqSpinLock, IrqSpinLockBackend};
pub(crate) use services::{Atomic, Ctx, IoCompletion, IoTag, Process};
pub(crate) use status::{StatusType, StatusWriter};
pub(crate) use target::{CtrTarget, Target, TargetLimits};

use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::{
    error::to_result,
    ffi::{c_char, c_int, c_uint, c_ulong, c_void},
    prelude::*,
    str::CStr,
    types::ForeignOwnable,
};
use services::Services;

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

/// Whether a rate-limited log line may be printed now.
pub(crate) fn log_allowed() -> bool {
    // SAFETY: __ratelimit on the glue's static state; callable from any context.
    unsafe { ffi::iof_log_allowed() }
}

/// Why a constructor failed: the errno returned to dm and the text dm logs
/// (`ti->error`).
pub(crate) struct CtrError {
    errno: Error,
    msg: &'static core::ffi::CStr,
}

impl CtrError {
    /// An error `errno` with the log message `msg`.
    pub(crate) fn new(errno: Error, msg: &'static core::ffi::CStr) -> Self {
        Self { errno, msg }
    }
}

/// What a `message` callback answers besides success.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Reply {
    /// Nothing to print.
    Silent,
    /// The text written to the reply buffer is printed by `dmsetup message`.
    Text,
}

/// The operations of a device-mapper target type. Optional callbacks a
/// target does not implement leave their `target_type` slot NULL, so dm
/// skips them (`#[vtable]` gives each a `HAS_*` constant).
#[vtable]
pub(crate) trait TargetOps: Sized + Send + Sync + 'static {
    /// What `map` records in each bio for `end_io` (dm's per-bio data).
    type PerBio: PerBio;

    /// What the target attaches to the IO it issues, back in `io_done`.
    type Tag: IoTag;

    /// Builds a target instance from its table arguments: the initialiser of
    /// its state. Runs under the type's ctr/dtr mutex.
    fn ctr(target: &CtrTarget<'_>, args: &[&str]) -> Result<impl PinInit<Self, Error>, CtrError>;

    /// Routes one bio. Runs concurrently and must not sleep.
    fn map(&self, ctx: &Ctx<'_, Atomic, Self::Tag>, bio: MapBio<'_, Self::PerBio>) -> Routed;

    /// A bio `map` remapped has completed with `status`; `data` is what `map`
    /// recorded. Returns the status dm reports for it (a target may absorb an
    /// error it handles). Atomic context.
    fn end_io(
        &self,
        _ctx: &Ctx<'_, Atomic, Self::Tag>,
        _bio: &Bio,
        _data: Self::PerBio,
        status: BlkStatus,
    ) -> BlkStatus {
        status
    }

    /// The worker runs (process context; queued by [`Ctx::kick`]).
    fn work(&self, _ctx: &Ctx<'_, Process, Self::Tag>) {}

    /// An IO issued through [`Ctx`] has completed. Atomic context.
    fn io_done(&self, _ctx: &Ctx<'_, Atomic, Self::Tag>, _done: IoCompletion<Self::Tag>) {}

    /// Writes `dmsetup status` (`Info`) or `dmsetup table` (`Table`) text.
    fn status(&self, kind: StatusType, out: &mut StatusWriter<'_>);

    /// Handles `dmsetup message`; text written to `reply` is printed when
    /// the answer is [`Reply::Text`].
    fn message(
        &self,
        ctx: &Ctx<'_, Process, Self::Tag>,
        args: &[&str],
        reply: &mut StatusWriter<'_>,
    ) -> Result<Reply>;

    /// Reports every underlying device.
    fn iterate_devices(&self, visitor: &mut DeviceVisitor<'_>) -> i32;

    /// Adjusts the mapped device's queue limits.
    fn io_hints(&self, _limits: &mut QueueLimits) {}

    /// The device is about to be suspended.
    fn presuspend(&self, _ctx: &Ctx<'_, Process, Self::Tag>) {}

    /// A suspend announced by `presuspend` was cancelled.
    fn presuspend_undo(&self, _ctx: &Ctx<'_, Process, Self::Tag>) {}

    /// The device is suspended: no bio reaches `map` until `resume`.
    fn postsuspend(&self, _ctx: &Ctx<'_, Process, Self::Tag>) {}

    /// The device was resumed.
    fn resume(&self, _ctx: &Ctx<'_, Process, Self::Tag>) {}

    /// How many objects the target could free for memory reclaim (its
    /// shrinker's count). Called from reclaim: must not sleep or allocate.
    fn reclaimable(&self) -> u64 {
        0
    }

    /// Frees about `nr` objects for memory reclaim; returns how many it
    /// freed. Implementing it registers a shrinker for each instance.
    fn reclaim(&self, _nr: u64) -> u64 {
        0
    }
}

/// A target instance as kept in `ti->private`.
///
/// Fields drop in declaration order, after `PinnedDrop`: the state (and
/// any bio it still holds) before the services its callbacks use.
#[pin_data(PinnedDrop)]
struct Instance<T> {
    #[pin]
    state: T,
    services: Services,
    ti: NonNull<ffi::DmTargetRaw>,
}

// SAFETY: `ti` is only used to build a `&Target` for callbacks, which dm allows from
// any thread while the target exists; everything else is Send/Sync on its own.
unsafe impl<T: Send> Send for Instance<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Instance<T> {}

#[pinned_drop]
impl<T> PinnedDrop for Instance<T> {
    fn drop(self: Pin<&mut Self>) {
        // No work item runs after this, and no IO completion; only then may the
        // state (and the devices inside it) go.
        self.services.shutdown();
        self.services.wait_idle();
    }
}

impl<T: TargetOps> Instance<T> {
    /// The context of a callback; the caller picks `C` by the callback's
    /// calling context (see [`Process`] and [`Atomic`]).
    fn ctx<C>(&self) -> Ctx<'_, C, T::Tag> {
        Ctx {
            // SAFETY: `ti` is live until dtr, which drops this instance.
            target: unsafe { Target::from_raw(self.ti.as_ptr()) },
            services: &self.services,
            _context: PhantomData,
        }
    }
}

/// A registered target type; unregistered on drop.
pub(crate) struct Registration<T: TargetOps> {
    _ops: PhantomData<fn() -> T>,
}

impl<T: TargetOps> Registration<T> {
    /// Registers target type `name` with version `version` (major, minor, patch).
    pub(crate) fn new(name: &'static CStr, version: [u32; 3]) -> Result<Self> {
        let ops = ffi::IofOps {
            ctr: Some(ctr_callback::<T>),
            dtr: Some(dtr_callback::<T>),
            map: Some(map_callback::<T>),
            end_io: if T::HAS_END_IO {
                Some(end_io_callback::<T>)
            } else {
                None
            },
            status: Some(status_callback::<T>),
            message: Some(message_callback::<T>),
            presuspend: if T::HAS_PRESUSPEND {
                Some(presuspend_callback::<T>)
            } else {
                None
            },
            presuspend_undo: if T::HAS_PRESUSPEND_UNDO {
                Some(presuspend_undo_callback::<T>)
            } else {
                None
            },
            // Always: the layer waits for the target's IO here, whatever the target does.
            postsuspend: Some(postsuspend_callback::<T>),
            resume: if T::HAS_RESUME {
                Some(resume_callback::<T>)
            } else {
                None
            },
            iterate_devices: Some(iterate_devices_callback::<T>),
            io_hints: if T::HAS_IO_HINTS {
                Some(io_hints_callback::<T>)
            } else {
                None
            },
        };
        // SAFETY: `name` is static; `ops` holds valid callbacks and is copied by the glue
        // before the call returns.
        to_result(unsafe {
            ffi::iof_register(name.as_char_ptr(), version[0], version[1], version[2], &ops)
        })?;
        Ok(Self { _ops: PhantomData })
    }
}

impl<T: TargetOps> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `new`; dm refuses module unload while targets of this
        // type exist, so none are left.
        unsafe { ffi::iof_unregister() }
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
unsafe extern "C" fn ctr_callback<T: TargetOps>(
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
unsafe extern "C" fn dtr_callback<T: TargetOps>(ti: *mut ffi::DmTargetRaw) {
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
unsafe extern "C" fn map_callback<T: TargetOps>(
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
unsafe extern "C" fn end_io_callback<T: TargetOps>(
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
unsafe extern "C" fn work_callback<T: TargetOps>(owner: *mut c_void) {
    // SAFETY: `owner` is the pinned instance, alive until its PinnedDrop has shut the
    // worker down (which waits for this call to return).
    let instance = unsafe { &*owner.cast::<Instance<T>>() };
    instance.state.work(&instance.ctx::<Process>());
}

/// # Safety
///
/// Called by the glue's shrinker with the owner bound in `construct`.
unsafe extern "C" fn count_callback<T: TargetOps>(owner: *mut c_void) -> c_ulong {
    // SAFETY: `owner` is the pinned instance; its PinnedDrop frees the shrinker, which
    // waits for this call, before the instance goes.
    let instance = unsafe { &*owner.cast::<Instance<T>>() };
    c_ulong::try_from(instance.state.reclaimable()).unwrap_or(c_ulong::MAX)
}

/// # Safety
///
/// As [`count_callback`].
unsafe extern "C" fn scan_callback<T: TargetOps>(owner: *mut c_void, nr: c_ulong) -> c_ulong {
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
unsafe extern "C" fn io_callback<T: TargetOps>(
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
    let done = IoCompletion {
        tag: <T::Tag as IoTag>::from_raw(tag),
        bio,
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
unsafe extern "C" fn status_callback<T: TargetOps>(
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
unsafe extern "C" fn message_callback<T: TargetOps>(
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
unsafe extern "C" fn presuspend_callback<T: TargetOps>(ti: *mut ffi::DmTargetRaw) {
    // SAFETY: between ctr and dtr.
    let instance = unsafe { instance::<T>(ti) };
    instance.state.presuspend(&instance.ctx::<Process>());
}

/// # Safety
///
/// Called by dm as `target_type::presuspend_undo` on a constructed, live target.
unsafe extern "C" fn presuspend_undo_callback<T: TargetOps>(ti: *mut ffi::DmTargetRaw) {
    // SAFETY: between ctr and dtr.
    let instance = unsafe { instance::<T>(ti) };
    instance.state.presuspend_undo(&instance.ctx::<Process>());
}

/// # Safety
///
/// Called by dm as `target_type::postsuspend` on a constructed, live target.
unsafe extern "C" fn postsuspend_callback<T: TargetOps>(ti: *mut ffi::DmTargetRaw) {
    // SAFETY: between ctr and dtr.
    let instance = unsafe { instance::<T>(ti) };
    instance.state.postsuspend(&instance.ctx::<Process>());
    // Suspended means quiet: nothing of ours in flight until resume.
    instance.services.wait_idle();
}

/// # Safety
///
/// Called by dm as `target_type::resume` on a constructed, live target.
unsafe extern "C" fn resume_callback<T: TargetOps>(ti: *mut ffi::DmTargetRaw) {
    // SAFETY: between ctr and dtr.
    let instance = unsafe { instance::<T>(ti) };
    instance.state.resume(&instance.ctx::<Process>());
}

/// # Safety
///
/// Called by dm as `target_type::iterate_devices` with its own callout and data.
unsafe extern "C" fn iterate_devices_callback<T: TargetOps>(
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
unsafe extern "C" fn io_hints_callback<T: TargetOps>(
    ti: *mut ffi::DmTargetRaw,
    limits: *mut ffi::QueueLimitsRaw,
) {
    // SAFETY: dm passes its limits, ours for the duration of io_hints.
    let mut limits = unsafe { QueueLimits::from_raw(limits) };
    // SAFETY: between ctr and dtr.
    unsafe { instance::<T>(ti) }.state.io_hints(&mut limits);
}
