// SPDX-License-Identifier: GPL-2.0

//! Bios as a target sees them: [`Bio`] (borrowed), [`MapBio`] (the bio in
//! `map`, which must be routed exactly once), [`OwnedBio`] (a bio the target
//! took over and must end) and [`BioList`] (a queue of owned bios).

use super::{ffi, DmDev};
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::{self, NonNull};
use kernel::{prelude::*, types::Opaque};

/// What a bio asks the device to do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum BioOp {
    /// Read data.
    Read,
    /// Write data.
    Write,
    /// An empty flush (`REQ_PREFLUSH` without data: how dm hands a flush to
    /// a bio-based target, see `__send_empty_flush`). It has no sector.
    Flush,
    /// Discard a range.
    Discard,
    /// Write zeroes to a range without data pages.
    WriteZeroes,
    /// Anything else (zone management, ...).
    Other,
}

/// A `blk_status_t`: how a bio completed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct BlkStatus(ffi::BlkStatus);

impl BlkStatus {
    /// Success.
    pub(crate) const OK: Self = Self(0);

    /// The status for a kernel error code.
    pub(crate) fn from_error(err: Error) -> Self {
        // SAFETY: errno_to_blk_status is a pure table lookup.
        Self(unsafe { ffi::iof_errno_to_blk_status(err.to_errno()) })
    }

    /// Whether the bio succeeded.
    pub(crate) fn is_ok(self) -> bool {
        self.0 == 0
    }

    pub(super) fn from_raw(raw: ffi::BlkStatus) -> Self {
        Self(raw)
    }

    pub(super) fn into_raw(self) -> ffi::BlkStatus {
        self.0
    }
}

/// A bio the target may look at.
///
/// # Invariants
///
/// `self.0` is a live `struct bio` that dm handed to this target, for the
/// duration of the borrow.
#[repr(transparent)]
pub(crate) struct Bio(Opaque<ffi::BioRaw>);

impl Bio {
    /// # Safety
    ///
    /// `ptr` must be a live bio of this target for the lifetime `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut ffi::BioRaw) -> &'a Self {
        // SAFETY: transparent wrapper of the opaque C type; lifetime guaranteed by the caller.
        // INVARIANT: by the safety requirements of this function.
        unsafe { &*ptr.cast::<Self>() }
    }

    pub(super) fn as_ptr(&self) -> *mut ffi::BioRaw {
        self.0.get()
    }

    fn kind(&self) -> u32 {
        // SAFETY: live bio by the type invariant.
        unsafe { ffi::iof_bio_kind(self.as_ptr()) }
    }

    /// The operation.
    pub(crate) fn op(&self) -> BioOp {
        let kind = self.kind();
        // dm sends flushes as empty REQ_OP_WRITE | REQ_PREFLUSH bios: decide on the
        // flag before anything looks at the (meaningless) sector.
        if kind & ffi::IOF_FLAG_PREFLUSH != 0 && self.sectors() == 0 {
            return BioOp::Flush;
        }
        match kind & ffi::IOF_OP_MASK {
            ffi::IOF_OP_READ => BioOp::Read,
            ffi::IOF_OP_WRITE => BioOp::Write,
            ffi::IOF_OP_FLUSH => BioOp::Flush,
            ffi::IOF_OP_DISCARD => BioOp::Discard,
            ffi::IOF_OP_WRITE_ZEROES => BioOp::WriteZeroes,
            _ => BioOp::Other,
        }
    }

    /// First sector, in the sector space of whoever holds the bio now.
    pub(crate) fn sector(&self) -> u64 {
        // SAFETY: live bio by the type invariant.
        unsafe { ffi::iof_bio_sector(self.as_ptr()) }
    }

    /// Size in sectors; 0 for an empty flush.
    pub(crate) fn sectors(&self) -> u32 {
        // SAFETY: live bio by the type invariant.
        unsafe { ffi::iof_bio_sectors(self.as_ptr()) }
    }

    /// Which clone of a flush/discard/write-zeroes bio this is (see `Target::setup`).
    pub(crate) fn target_bio_nr(&self) -> u32 {
        // SAFETY: live bio by the type invariant.
        unsafe { ffi::iof_bio_target_nr(self.as_ptr()) }
    }

    /// Reads the per-bio data.
    ///
    /// # Safety
    ///
    /// The bio must belong to a target whose `per_io_data_size` is
    /// `size_of::<P>()` and whose per-bio data was written as a `P`.
    pub(super) unsafe fn per_bio<P: PerBio>(&self) -> P {
        // SAFETY: dm reserves per_io_data_size bytes before every bio it hands to the
        // target, 8-aligned when the size is a multiple of 8 (`PerBio` layout rule, checked
        // at compile time in `super::check_per_bio`); written as a `P` (caller).
        unsafe {
            ffi::iof_bio_data(self.as_ptr(), const { size_of_per_bio::<P>() })
                .cast::<P>()
                .read()
        }
    }

    /// # Safety
    ///
    /// As [`Bio::per_bio`], and the caller holds the bio exclusively (in `map`).
    unsafe fn set_per_bio<P: PerBio>(&self, value: P) {
        // SAFETY: as in `per_bio`; exclusive in map (caller).
        unsafe {
            ffi::iof_bio_data(self.as_ptr(), const { size_of_per_bio::<P>() })
                .cast::<P>()
                .write(value)
        }
    }
}

/// Per-bio data of a target: what `map` records for `end_io`. A plain value
/// whose size is a multiple of 8 bytes and whose alignment is at most 8, so
/// that dm's per-bio area (sized by the dm layer, never by the target) holds it.
pub(crate) trait PerBio: Copy + Default + Send + 'static {}

impl<T: Copy + Default + Send + 'static> PerBio for T {}

/// `size_of::<P>()` as dm's `per_io_data_size`.
pub(super) const fn size_of_per_bio<P>() -> u32 {
    let size = core::mem::size_of::<P>();
    assert!(size % 8 == 0 && core::mem::align_of::<P>() <= 8 && size <= 256);
    size as u32
}

/// The bio in `map`: it must be remapped, killed or taken over, exactly once.
/// `P` is the target's per-bio data type, reset to its default on entry.
pub(crate) struct MapBio<'a, P: PerBio> {
    bio: &'a Bio,
    _data: PhantomData<P>,
}

/// Proof that `map` routed its bio; only [`MapBio`]'s methods make one.
pub(crate) struct Routed(pub(super) ffi::MapStatus);

impl<'a, P: PerBio> MapBio<'a, P> {
    /// # Safety
    ///
    /// `bio` is in `map` of a target whose per-bio data is a `P`.
    pub(super) unsafe fn new(bio: &'a Bio) -> Self {
        // SAFETY: the caller's guarantee; the bio is exclusively ours in map.
        unsafe { bio.set_per_bio(P::default()) };
        Self {
            bio,
            _data: PhantomData,
        }
    }

    /// Stores the per-bio data `end_io` gets back.
    pub(crate) fn set_data(&self, value: P) {
        // SAFETY: the per-bio data of this bio is a `P` (`new`); exclusive in map.
        unsafe { self.bio.set_per_bio(value) };
    }

    /// Sends the bio to `dev` at `sector`; dm submits it.
    pub(crate) fn remap(self, dev: &DmDev, sector: u64) -> Routed {
        // SAFETY: the bio is ours in map (Bio invariant); `dev` is held by the table.
        unsafe { ffi::iof_bio_remap(self.bio.as_ptr(), dev.as_ptr(), sector) };
        Routed(ffi::DM_MAPIO_REMAPPED)
    }

    /// Sends an empty flush to `dev`. It has no sector to remap.
    pub(crate) fn remap_flush(self, dev: &DmDev) -> Routed {
        // SAFETY: the bio is ours in map (Bio invariant); `dev` is held by the table.
        unsafe { ffi::iof_bio_remap_dev(self.bio.as_ptr(), dev.as_ptr()) };
        Routed(ffi::DM_MAPIO_REMAPPED)
    }

    /// Fails the bio with an IO error.
    pub(crate) fn kill(self) -> Routed {
        Routed(ffi::DM_MAPIO_KILL)
    }

    /// Takes the bio over: the target must end it later (see [`OwnedBio`]).
    pub(crate) fn take(self) -> (OwnedBio, Routed) {
        let ptr = NonNull::from(self.bio).cast::<ffi::BioRaw>();
        // INVARIANT: map returns DM_MAPIO_SUBMITTED, so the bio is the target's to end.
        (OwnedBio { ptr }, Routed(ffi::DM_MAPIO_SUBMITTED))
    }
}

impl<P: PerBio> Deref for MapBio<'_, P> {
    type Target = Bio;

    fn deref(&self) -> &Bio {
        self.bio
    }
}

/// A bio the target took over in `map`; ending it is the target's job.
///
/// # Invariants
///
/// `ptr` is a live bio that nobody else will end. Dropping an `OwnedBio`
/// without [`OwnedBio::end`] fails it with an IO error, so no bio is ever
/// left hanging.
pub(crate) struct OwnedBio {
    ptr: NonNull<ffi::BioRaw>,
}

// SAFETY: a bio may be ended from any thread or interrupt context.
unsafe impl Send for OwnedBio {}

impl OwnedBio {
    /// # Safety
    ///
    /// `ptr` must be a bio that was taken with [`MapBio::take`] and handed to C,
    /// coming back exactly once.
    pub(super) unsafe fn from_raw(ptr: NonNull<ffi::BioRaw>) -> Self {
        // INVARIANT: by the safety requirements of this function.
        Self { ptr }
    }

    /// Gives up ownership to C code that ends the bio or returns it.
    pub(super) fn into_raw(self) -> *mut ffi::BioRaw {
        let ptr = self.ptr.as_ptr();
        core::mem::forget(self);
        ptr
    }

    /// Sends the bio on to `dev` at `sector`, as if `map` had remapped it
    /// there (dm-delay issues the bios it held so): the block layer ends it,
    /// and its completion reaches `TargetOps::end_io` with its per-bio data.
    pub(crate) fn submit_remapped(self, dev: &DmDev, sector: u64) {
        let ptr = self.into_raw();
        // SAFETY: the bio is live and ours (type invariant): a dm clone taken in map, so
        // dm_submit_bio_remap may account and submit it; `dev` is held by the table. The
        // block layer now owns the bio and ends it once.
        unsafe { ffi::iof_bio_submit_remapped(ptr, dev.as_ptr(), sector) }
    }

    /// Completes the bio with `status`.
    pub(crate) fn end(self, status: BlkStatus) {
        let ptr = self.into_raw();
        // SAFETY: the bio is live and ours to end (type invariant); ended once.
        unsafe { ffi::iof_bio_endio(ptr, status.0) }
    }
}

impl Deref for OwnedBio {
    type Target = Bio;

    fn deref(&self) -> &Bio {
        // SAFETY: the bio is live while owned (type invariant).
        unsafe { Bio::from_raw(self.ptr.as_ptr()) }
    }
}

impl Drop for OwnedBio {
    fn drop(&mut self) {
        pr_err!("bio dropped without completion; failing it\n");
        // SAFETY: the bio is live and ours to end (type invariant); ended once.
        unsafe { ffi::iof_bio_endio(self.ptr.as_ptr(), BlkStatus::from_error(EIO).0) }
    }
}

/// A FIFO of owned bios, linked through the bios themselves (no allocation).
pub(crate) struct BioList {
    raw: ffi::BioListRaw,
}

// SAFETY: the list only holds owned bios, which are Send.
unsafe impl Send for BioList {}

impl BioList {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        Self {
            raw: ffi::BioListRaw {
                head: ptr::null_mut(),
                tail: ptr::null_mut(),
            },
        }
    }

    /// Appends `bio`.
    pub(crate) fn push(&mut self, bio: OwnedBio) {
        // SAFETY: `raw` is a valid bio_list; the list now owns the bio.
        unsafe { ffi::iof_bio_list_add(&mut self.raw, bio.into_raw()) }
    }

    /// Whether the list holds no bio.
    pub(crate) fn is_empty(&self) -> bool {
        self.raw.head.is_null()
    }

    /// Removes the first bio.
    pub(crate) fn pop(&mut self) -> Option<OwnedBio> {
        // SAFETY: `raw` is a valid bio_list of owned bios.
        let ptr = NonNull::new(unsafe { ffi::iof_bio_list_pop(&mut self.raw) })?;
        // SAFETY: every bio in the list was pushed as an OwnedBio.
        Some(unsafe { OwnedBio::from_raw(ptr) })
    }
}

impl Drop for BioList {
    fn drop(&mut self) {
        // Ending them (with an error) beats leaving them hanging.
        while self.pop().is_some() {}
    }
}
