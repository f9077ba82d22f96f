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
//!
//! The files: the dm layer proper (`target`, `callbacks`, `bio`, `dev`,
//! `limits`, `status`, `args`, `lock`, `services`, `iobuf`, `glue.c`,
//! `services.c`) covers what any bio-based target needs (`tests-api/
//! linear-target.rs` is dm-linear on it); `cachebuf` (and `cachebuf.c`) is
//! a service of iofollow's own, the page-backed block buffers of its
//! migration-aware cache and their slab cache `iofollow_cache_entry`;
//! `metaio` (and `metaio.c`) is the synchronous IO of a metadata device.

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
mod callbacks;
mod dev;
mod ffi;
mod iobuf;
mod limits;
mod metaio;
mod services;
mod status;
mod target;

pub(crate) use bio::{Bio, BioList, BioOp, BlkStatus, MapBio, OwnedBio, PerBio, Routed};
pub(crate) use cachebuf::{cache_bufs_in_use, CacheBuf, CacheBufs, CachedRead, CACHED_READ_MAX};
pub(crate) use dev::{DmDev, DEV_IDENTITY_MAX};
pub(crate) use iobuf::{IoBuffer, IoBuffers};
pub(crate) use limits::{DeviceVisitor, QueueLimits};
pub(crate) use lock::{IrqSpinLock, IrqSpinLockBackend};
pub(crate) use metaio::{MaySleep, MetaIo, META_BLOCK_BYTES};
pub(crate) use services::{Atomic, Ctx, IoCompletion, IoTag, Process};
pub(crate) use status::{StatusType, StatusWriter};
pub(crate) use target::{CtrTarget, DeviceLabel, Target, TargetLimits};

use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::{error::to_result, prelude::*, str::CStr};
use services::Services;

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
    fn io_done(
        &self,
        _ctx: &Ctx<'_, Atomic, Self::Tag>,
        _done: IoCompletion<Self::Tag, Self::PerBio>,
    ) {
    }

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

    /// The device is about to be resumed (its first time too): an error
    /// fails the resume, and no bio reaches `map`.
    fn preresume(&self, _ctx: &Ctx<'_, Process, Self::Tag>) -> Result {
        Ok(())
    }

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
            ctr: Some(callbacks::ctr_callback::<T>),
            dtr: Some(callbacks::dtr_callback::<T>),
            map: Some(callbacks::map_callback::<T>),
            end_io: if T::HAS_END_IO {
                Some(callbacks::end_io_callback::<T>)
            } else {
                None
            },
            status: Some(callbacks::status_callback::<T>),
            message: Some(callbacks::message_callback::<T>),
            presuspend: if T::HAS_PRESUSPEND {
                Some(callbacks::presuspend_callback::<T>)
            } else {
                None
            },
            presuspend_undo: if T::HAS_PRESUSPEND_UNDO {
                Some(callbacks::presuspend_undo_callback::<T>)
            } else {
                None
            },
            // Always: the layer waits for the target's IO here, whatever the target does.
            postsuspend: Some(callbacks::postsuspend_callback::<T>),
            preresume: if T::HAS_PRERESUME {
                Some(callbacks::preresume_callback::<T>)
            } else {
                None
            },
            resume: if T::HAS_RESUME {
                Some(callbacks::resume_callback::<T>)
            } else {
                None
            },
            iterate_devices: Some(callbacks::iterate_devices_callback::<T>),
            io_hints: if T::HAS_IO_HINTS {
                Some(callbacks::io_hints_callback::<T>)
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
