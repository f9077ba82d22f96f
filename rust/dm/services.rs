// SPDX-License-Identifier: GPL-2.0

//! Per-target services: a worker, asynchronous dm-io on preallocated
//! buffers, and the count of IOs in flight that suspend and `dtr` wait for.
//!
//! C counterpart: the `iof_services` functions of `glue.c`, built on
//! `alloc_workqueue(WQ_MEM_RECLAIM)`, `dm_io()` and a mempool of requests,
//! so nothing in the IO path allocates except from reserves (GFP_NOIO).

use super::{ffi, DmDev, IoBuffer, OwnedBio, Target};
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::{error::from_err_ptr, ffi::c_void, prelude::*};

/// The services of one target instance.
///
/// # Invariants
///
/// `raw` came from `iof_services_create` and is destroyed once, on drop,
/// after [`Services::shutdown`] (the dm layer's `dtr` guarantees the order).
pub(crate) struct Services {
    raw: NonNull<ffi::ServicesRaw>,
}

// SAFETY: the C services object is made to be used from any context: kicks
// and IO submission are serialised internally.
unsafe impl Send for Services {}
// SAFETY: as above.
unsafe impl Sync for Services {}

impl Services {
    pub(super) fn new(
        target: &Target,
        nr_bufs: u32,
        buf_bytes: usize,
        work_fn: ffi::WorkFn,
        io_fn: ffi::IoFn,
    ) -> Result<Self> {
        // SAFETY: `target` is live during ctr; the callbacks are valid for the module's life.
        let raw = from_err_ptr(unsafe {
            ffi::iof_services_create(target.as_ptr(), nr_bufs, buf_bytes, work_fn, io_fn)
        })?;
        let raw = NonNull::new(raw).ok_or(ENOMEM)?;
        // INVARIANT: created above, destroyed in Drop.
        Ok(Self { raw })
    }

    pub(super) fn as_ptr(&self) -> *mut ffi::ServicesRaw {
        self.raw.as_ptr()
    }

    /// Sets the pointer handed to the work and IO callbacks.
    ///
    /// # Safety
    ///
    /// `owner` must stay valid until [`Services::shutdown`] and
    /// [`Services::wait_idle`] have returned.
    pub(super) unsafe fn bind(&self, owner: *const c_void) {
        // SAFETY: live services (type invariant); the owner's lifetime is the caller's duty.
        unsafe { ffi::iof_services_bind(self.as_ptr(), owner.cast_mut()) }
    }

    /// Registers a shrinker that calls `count_fn` and `scan_fn` with the
    /// bound owner until [`Services::shutdown`].
    ///
    /// # Safety
    ///
    /// [`Services::bind`] must have been called, and the callbacks must
    /// accept that owner.
    pub(super) unsafe fn add_shrinker(
        &self,
        target: &Target,
        count_fn: ffi::CountFn,
        scan_fn: ffi::ScanFn,
    ) -> Result {
        // SAFETY: live services and target; the owner is bound (caller), and shutdown
        // frees the shrinker, waiting for a running scan, before the owner goes.
        kernel::error::to_result(unsafe {
            ffi::iof_services_add_shrinker(self.as_ptr(), target.as_ptr(), count_fn, scan_fn)
        })
    }

    /// Stops the worker and the shrinker for good: waits for a running work
    /// item or scan, queues no more.
    pub(super) fn shutdown(&self) {
        // SAFETY: live services (type invariant).
        unsafe { ffi::iof_services_shutdown(self.as_ptr()) }
    }

    /// Sleeps until no IO is in flight.
    pub(super) fn wait_idle(&self) {
        // SAFETY: live services (type invariant); called from process context.
        unsafe { ffi::iof_io_wait_idle(self.as_ptr()) }
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed once; the dm layer shut the worker down and
        // waited for IO before dropping.
        unsafe { ffi::iof_services_destroy(self.as_ptr()) }
    }
}

/// Calling context of a [`Ctx`]: a callback that may sleep.
pub(crate) struct Process;
/// Calling context of a [`Ctx`]: a callback that must not sleep (`map`,
/// `end_io`, IO completions; possibly in interrupt context).
pub(crate) struct Atomic;

/// What a target may do besides routing bios: kick its worker, issue IO
/// and raise dm events. Handed to every callback of [`super::TargetOps`].
///
/// `C` is the calling context, [`Process`] or [`Atomic`]: whatever may
/// sleep (issuing IO takes mempool reserves, raising an event takes a mutex)
/// exists only on `Ctx<'_, Process, _>`, so safe code cannot call it from a
/// completion. The marker costs nothing at run time.
///
/// `G` is the target's IO tag type ([`super::TargetOps::Tag`]): what it
/// attaches to an IO and gets back, decoded, in its completion.
pub(crate) struct Ctx<'a, C, G> {
    pub(super) target: &'a Target,
    pub(super) services: &'a Services,
    pub(super) _context: PhantomData<fn() -> (C, G)>,
}

/// What a target attaches to an IO it issues through [`Ctx`] and gets back in
/// [`IoCompletion::tag`]. It crosses C as a `u64`; `from_raw` must invert
/// `into_raw`.
pub(crate) trait IoTag: Copy + Send + 'static {
    /// The tag as the glue carries it.
    fn into_raw(self) -> u64;
    /// The tag back from the glue; `None` for a value `into_raw` never makes.
    fn from_raw(raw: u64) -> Option<Self>;
}

/// A reserved slot of in-flight IO, taken under the target's own lock so
/// that a suspend, which sets its flag under the same lock and then waits for
/// in-flight IO to drain, cannot miss an IO that is about to be issued.
#[must_use]
pub(crate) struct IoTicket<'a> {
    services: &'a Services,
}

impl IoTicket<'_> {
    /// Hands the in-flight reference to an IO, which drops it on completion.
    fn into_io(self) {
        core::mem::forget(self);
    }
}

impl Drop for IoTicket<'_> {
    fn drop(&mut self) {
        // SAFETY: the ticket holds one in-flight reference, released once here.
        unsafe { ffi::iof_io_put(self.services.as_ptr()) }
    }
}

/// The completion of an IO issued through [`Ctx`]; `P` is the target's
/// per-bio data type.
pub(crate) struct IoCompletion<G, P = ()> {
    /// The tag given when issuing it (`None` only if the target's
    /// `IoTag::from_raw` does not invert its `into_raw`).
    pub(crate) tag: Option<G>,
    /// The VM bio given to [`Ctx::write_bio`] or [`Ctx::read_bio`], back to be ended.
    pub(crate) bio: Option<OwnedBio>,
    /// That bio's per-bio data, as `map` left it before taking the bio
    /// ([`super::MapBio::set_data`], then [`super::MapBio::take`]).
    pub(crate) bio_data: Option<P>,
    /// The buffer given to [`Ctx::read_into_buffer`] or
    /// [`Ctx::write_from_buffer`], back to its owner.
    pub(crate) buffer: Option<IoBuffer>,
    /// Bit `i` is set when region `i` (0: first device, 1: second) failed;
    /// every bit is set when the IO could not be started at all.
    pub(crate) error_bits: u64,
}

impl<'a, C, G> Ctx<'a, C, G> {
    /// The target.
    pub(crate) fn target(&self) -> &'a Target {
        self.target
    }

    /// Queues the worker (a no-op once the target is being destroyed). Any context.
    pub(crate) fn kick(&self) {
        // SAFETY: live services (Services invariant); safe from any context.
        unsafe { ffi::iof_services_kick(self.services.as_ptr()) }
    }

    /// Queues the worker in about `ns` nanoseconds (jiffy granularity, at
    /// least one jiffy); an earlier pending one is not pushed back. Any context.
    pub(crate) fn kick_after(&self, ns: u64) {
        // SAFETY: live services (Services invariant); safe from any context.
        unsafe { ffi::iof_services_kick_after(self.services.as_ptr(), ns) }
    }
}

impl<'a, G: IoTag> Ctx<'a, Process, G> {
    /// Reserves one in-flight IO; see [`IoTicket`].
    pub(crate) fn io_ticket(&self) -> IoTicket<'a> {
        // SAFETY: live services; the reference is released by the ticket or its IO.
        unsafe { ffi::iof_io_get(self.services.as_ptr()) };
        IoTicket {
            services: self.services,
        }
    }

    /// Reads `sectors` at `sector` of `dev` into buffer `buf`, which the IO
    /// owns until it completes through `TargetOps::io_done` with `tag`
    /// (also when it cannot start: then with every error bit set), and
    /// hands it back there. The dm layer refuses an IO larger than the buffer.
    pub(crate) fn read_into_buffer(
        &self,
        ticket: IoTicket<'_>,
        dev: &DmDev,
        sector: u64,
        sectors: u64,
        buf: IoBuffer,
        tag: G,
    ) {
        self.buffer_io(ticket, false, dev, sector, sectors, buf, tag);
    }

    /// Writes buffer `buf` to `sectors` at `sector` of `dev`; as
    /// [`Ctx::read_into_buffer`] otherwise.
    pub(crate) fn write_from_buffer(
        &self,
        ticket: IoTicket<'_>,
        dev: &DmDev,
        sector: u64,
        sectors: u64,
        buf: IoBuffer,
        tag: G,
    ) {
        self.buffer_io(ticket, true, dev, sector, sectors, buf, tag);
    }

    #[allow(clippy::too_many_arguments)] // private: the two wrappers above name the direction
    fn buffer_io(
        &self,
        ticket: IoTicket<'_>,
        write: bool,
        dev: &DmDev,
        sector: u64,
        sectors: u64,
        buf: IoBuffer,
        tag: G,
    ) {
        ticket.into_io();
        // SAFETY: live services and device; the in-flight reference and the buffer moved
        // to the IO, which hands the buffer back to io_done; the glue checks `sectors`
        // against the buffer's size.
        unsafe {
            ffi::iof_io_buf(
                self.services.as_ptr(),
                write,
                dev.as_ptr(),
                sector,
                sectors,
                buf.into_io(),
                tag.into_raw(),
            )
        }
    }

    /// Writes the data of `bio` at `sector` of `first` and, if given, `second`
    /// (FUA passes through); the bio comes back in `TargetOps::io_done`.
    pub(crate) fn write_bio(
        &self,
        ticket: IoTicket<'_>,
        bio: OwnedBio,
        first: &DmDev,
        second: Option<&DmDev>,
        sector: u64,
        tag: G,
    ) {
        ticket.into_io();
        let second = second.map_or(core::ptr::null_mut(), |d| d.as_ptr());
        // SAFETY: live services and devices; the bio is owned and moves to the IO, which
        // hands it back to io_done exactly once.
        unsafe {
            ffi::iof_io_bio(
                self.services.as_ptr(),
                bio.into_raw(),
                true,
                first.as_ptr(),
                second,
                sector,
                tag.into_raw(),
            )
        }
    }

    /// Reads `dev` at `sector` into the pages of `bio`; the bio comes back in
    /// `TargetOps::io_done`.
    pub(crate) fn read_bio(
        &self,
        ticket: IoTicket<'_>,
        bio: OwnedBio,
        dev: &DmDev,
        sector: u64,
        tag: G,
    ) {
        ticket.into_io();
        // SAFETY: as in `write_bio`.
        unsafe {
            ffi::iof_io_bio(
                self.services.as_ptr(),
                bio.into_raw(),
                false,
                dev.as_ptr(),
                core::ptr::null_mut(),
                sector,
                tag.into_raw(),
            )
        }
    }

    /// Flushes the volatile write cache of `dev` (an empty `REQ_PREFLUSH`);
    /// completes through `TargetOps::io_done` with `tag`.
    pub(crate) fn flush(&self, ticket: IoTicket<'_>, dev: &DmDev, tag: G) {
        ticket.into_io();
        // SAFETY: live services and device; the in-flight reference moved to the IO.
        unsafe { ffi::iof_io_flush(self.services.as_ptr(), dev.as_ptr(), tag.into_raw()) }
    }

    /// Fills the data pages of a read `bio` from buffer `buf`, starting at
    /// byte `offset`; fails if that reaches past the buffer. Holding `buf`
    /// means no IO into it is in flight.
    pub(crate) fn fill_from_buffer(&self, bio: &OwnedBio, buf: &IoBuffer, offset: usize) -> Result {
        // SAFETY: live services; the bio is owned (its pages are ours to fill); no IO
        // owns `buf` while we borrow it; the glue checks the range against its size.
        kernel::error::to_result(unsafe {
            ffi::iof_bio_fill_from_buf(self.services.as_ptr(), bio.as_ptr(), buf.index(), offset)
        })
    }

    /// Yields the CPU if a reschedule is due (between batches of long work).
    pub(crate) fn cond_resched(&self) {
        // SAFETY: process context (the `Process` marker).
        unsafe { ffi::iof_cond_resched() }
    }

    /// Sleeps until no IO issued through this context is in flight.
    pub(crate) fn wait_idle(&self) {
        self.services.wait_idle();
    }

    /// Raises a dm event (`dmsetup wait` returns).
    pub(crate) fn raise_event(&self) {
        self.target.raise_event();
    }
}
