// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C glue in `glue.c`; the Rust mirror of `glue.h`.
//!
//! Every C type is opaque here: Rust never reads a kernel structure's fields
//! directly, so the module does not depend on their layout.

use core::marker::{PhantomData, PhantomPinned};
use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_uint, c_ulong, c_void};

macro_rules! opaque_c_type {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[repr(C)]
        pub(crate) struct $name {
            _data: [u8; 0],
            _marker: PhantomData<(*mut u8, PhantomPinned)>,
        }
    )*};
}

opaque_c_type! {
    /// `struct dm_target`.
    DmTargetRaw;
    /// `struct dm_dev`.
    DmDevRaw;
    /// `struct bio`.
    BioRaw;
    /// `struct queue_limits`.
    QueueLimitsRaw;
    /// `struct iof_services` (services.c).
    ServicesRaw;
    /// `struct iof_cache_buf` (cachebuf.c).
    CacheBufRaw;
    /// `struct iof_meta_io` (metaio.c).
    MetaIoRaw;
}

/// `struct bio_list`.
#[repr(C)]
pub(crate) struct BioListRaw {
    pub(crate) head: *mut BioRaw,
    pub(crate) tail: *mut BioRaw,
}

/// `iof_work_fn`.
pub(crate) type WorkFn = unsafe extern "C" fn(owner: *mut c_void);
/// `iof_io_fn`.
pub(crate) type IoFn = unsafe extern "C" fn(
    owner: *mut c_void,
    tag: u64,
    bio: *mut BioRaw,
    buf: c_uint,
    error_bits: c_ulong,
);
/// `IOF_NO_BUF`: an IO that was lent no buffer.
pub(crate) const IOF_NO_BUF: c_uint = c_uint::MAX;
/// `iof_count_fn`.
pub(crate) type CountFn = unsafe extern "C" fn(owner: *mut c_void) -> c_ulong;
/// `iof_scan_fn`.
pub(crate) type ScanFn = unsafe extern "C" fn(owner: *mut c_void, nr: c_ulong) -> c_ulong;
/// The `DM_MAPIO_*` values `map` returns.
pub(crate) type MapStatus = c_int;

/// `sector_t`.
pub(crate) type Sector = u64;
/// `blk_status_t`.
pub(crate) type BlkStatus = u8;
/// `dev_t`.
pub(crate) type DevT = u32;

/// `iterate_devices_callout_fn`.
pub(crate) type IterateCallout = Option<
    unsafe extern "C" fn(*mut DmTargetRaw, *mut DmDevRaw, Sector, Sector, *mut c_void) -> c_int,
>;

/// `struct iof_ops`: the target callbacks, all implemented in Rust.
#[repr(C)]
pub(crate) struct IofOps {
    pub(crate) ctr:
        Option<unsafe extern "C" fn(*mut DmTargetRaw, c_uint, *mut *mut c_char) -> c_int>,
    pub(crate) dtr: Option<unsafe extern "C" fn(*mut DmTargetRaw)>,
    pub(crate) map: Option<unsafe extern "C" fn(*mut DmTargetRaw, *mut BioRaw) -> c_int>,
    pub(crate) end_io:
        Option<unsafe extern "C" fn(*mut DmTargetRaw, *mut BioRaw, *mut BlkStatus) -> c_int>,
    pub(crate) status:
        Option<unsafe extern "C" fn(*mut DmTargetRaw, c_uint, c_uint, *mut c_char, c_uint)>,
    pub(crate) message: Option<
        unsafe extern "C" fn(
            *mut DmTargetRaw,
            c_uint,
            *mut *mut c_char,
            *mut c_char,
            c_uint,
        ) -> c_int,
    >,
    pub(crate) presuspend: Option<unsafe extern "C" fn(*mut DmTargetRaw)>,
    pub(crate) presuspend_undo: Option<unsafe extern "C" fn(*mut DmTargetRaw)>,
    pub(crate) postsuspend: Option<unsafe extern "C" fn(*mut DmTargetRaw)>,
    pub(crate) preresume: Option<unsafe extern "C" fn(*mut DmTargetRaw) -> c_int>,
    pub(crate) resume: Option<unsafe extern "C" fn(*mut DmTargetRaw)>,
    pub(crate) iterate_devices:
        Option<unsafe extern "C" fn(*mut DmTargetRaw, IterateCallout, *mut c_void) -> c_int>,
    pub(crate) io_hints: Option<unsafe extern "C" fn(*mut DmTargetRaw, *mut QueueLimitsRaw)>,
}

pub(crate) const IOF_OP_READ: c_uint = 0;
pub(crate) const IOF_OP_WRITE: c_uint = 1;
pub(crate) const IOF_OP_FLUSH: c_uint = 2;
pub(crate) const IOF_OP_DISCARD: c_uint = 3;
pub(crate) const IOF_OP_WRITE_ZEROES: c_uint = 4;
pub(crate) const IOF_OP_MASK: c_uint = 0xff;
pub(crate) const IOF_FLAG_PREFLUSH: c_uint = 0x100;

/// `DM_MAPIO_SUBMITTED`.
pub(crate) const DM_MAPIO_SUBMITTED: MapStatus = 0;
/// `DM_MAPIO_REMAPPED`.
pub(crate) const DM_MAPIO_REMAPPED: MapStatus = 1;
/// `DM_MAPIO_KILL`.
pub(crate) const DM_MAPIO_KILL: MapStatus = 4;
/// `DM_ENDIO_DONE`.
pub(crate) const DM_ENDIO_DONE: c_int = 0;

/// `STATUSTYPE_INFO`.
pub(crate) const STATUSTYPE_INFO: c_uint = 0;
/// `STATUSTYPE_TABLE`.
pub(crate) const STATUSTYPE_TABLE: c_uint = 1;

extern "C" {
    pub(crate) fn iof_register(
        name: *const c_char,
        major: c_uint,
        minor: c_uint,
        patch: c_uint,
        ops: *const IofOps,
    ) -> c_int;
    pub(crate) fn iof_unregister();
    pub(crate) fn iof_log_allowed() -> bool;

    pub(crate) fn iof_target_begin(ti: *mut DmTargetRaw) -> Sector;
    pub(crate) fn iof_target_len(ti: *mut DmTargetRaw) -> Sector;
    pub(crate) fn iof_target_private(ti: *mut DmTargetRaw) -> *mut c_void;
    pub(crate) fn iof_target_set_private(ti: *mut DmTargetRaw, private: *mut c_void);
    pub(crate) fn iof_target_set_error(ti: *mut DmTargetRaw, msg: *const c_char);
    pub(crate) fn iof_target_setup(
        ti: *mut DmTargetRaw,
        flush_bios: c_uint,
        discard_bios: c_uint,
        write_zeroes_bios: c_uint,
        max_io_len: Sector,
    ) -> c_int;
    pub(crate) fn iof_target_set_per_bio_size(ti: *mut DmTargetRaw, bytes: c_uint);
    pub(crate) fn iof_target_event(ti: *mut DmTargetRaw);
    pub(crate) fn iof_target_iterate(
        ti: *mut DmTargetRaw,
        callout: IterateCallout,
        dev: *mut DmDevRaw,
        start: Sector,
        len: Sector,
        data: *mut c_void,
    ) -> c_int;

    pub(crate) fn iof_get_device(
        ti: *mut DmTargetRaw,
        path: *const c_char,
        result: *mut *mut DmDevRaw,
    ) -> c_int;
    pub(crate) fn iof_put_device(ti: *mut DmTargetRaw, dev: *mut DmDevRaw);
    pub(crate) fn iof_dev_name(dev: *mut DmDevRaw) -> *const c_char;
    pub(crate) fn iof_dev_nr_sectors(dev: *mut DmDevRaw) -> Sector;
    pub(crate) fn iof_dev_logical_block_size(dev: *mut DmDevRaw) -> c_uint;
    pub(crate) fn iof_dev_start_sect(dev: *mut DmDevRaw) -> Sector;
    pub(crate) fn iof_dev_whole_disk(dev: *mut DmDevRaw) -> DevT;
    pub(crate) fn iof_dev_identity(dev: *mut DmDevRaw, buf: *mut c_char, len: usize);

    pub(crate) fn iof_bio_kind(bio: *mut BioRaw) -> c_uint;
    pub(crate) fn iof_bio_sector(bio: *mut BioRaw) -> Sector;
    pub(crate) fn iof_bio_sectors(bio: *mut BioRaw) -> c_uint;
    pub(crate) fn iof_bio_target_nr(bio: *mut BioRaw) -> c_uint;
    pub(crate) fn iof_bio_remap(bio: *mut BioRaw, dev: *mut DmDevRaw, sector: Sector);
    pub(crate) fn iof_bio_remap_dev(bio: *mut BioRaw, dev: *mut DmDevRaw);
    pub(crate) fn iof_bio_submit_remapped(bio: *mut BioRaw, dev: *mut DmDevRaw, sector: Sector);

    pub(crate) fn iof_bio_data(bio: *mut BioRaw, bytes: c_uint) -> *mut c_void;
    pub(crate) fn iof_bio_endio(bio: *mut BioRaw, status: BlkStatus);
    pub(crate) fn iof_errno_to_blk_status(errno: c_int) -> BlkStatus;
    pub(crate) fn iof_target_label(ti: *mut DmTargetRaw, buf: *mut c_char, len: usize);
    pub(crate) fn iof_ctr_dtr_lock();
    pub(crate) fn iof_ctr_dtr_unlock();
    pub(crate) fn iof_bio_list_pop(list: *mut BioListRaw) -> *mut BioRaw;
    pub(crate) fn iof_bio_list_add(list: *mut BioListRaw, bio: *mut BioRaw);

    pub(crate) fn iof_limits_set_chunk(limits: *mut QueueLimitsRaw, chunk_sectors: c_uint);

    pub(crate) fn iof_lock_irqsave(lock: *mut bindings::spinlock_t) -> c_ulong;
    pub(crate) fn iof_lock_irqrestore(lock: *mut bindings::spinlock_t, flags: c_ulong);

    pub(crate) fn iof_services_create(
        ti: *mut DmTargetRaw,
        nr_bufs: c_uint,
        buf_bytes: usize,
        work_fn: WorkFn,
        io_fn: IoFn,
    ) -> *mut ServicesRaw;
    pub(crate) fn iof_services_bind(s: *mut ServicesRaw, owner: *mut c_void);
    pub(crate) fn iof_services_kick(s: *mut ServicesRaw);
    pub(crate) fn iof_services_kick_after(s: *mut ServicesRaw, ns: u64);
    pub(crate) fn iof_services_shutdown(s: *mut ServicesRaw);
    pub(crate) fn iof_services_destroy(s: *mut ServicesRaw);
    pub(crate) fn iof_io_get(s: *mut ServicesRaw);
    pub(crate) fn iof_io_put(s: *mut ServicesRaw);
    pub(crate) fn iof_io_wait_idle(s: *mut ServicesRaw);
    pub(crate) fn iof_io_buf(
        s: *mut ServicesRaw,
        write: bool,
        dev: *mut DmDevRaw,
        sector: Sector,
        count: Sector,
        buf: c_uint,
        tag: u64,
    );
    pub(crate) fn iof_bio_fill_from_buf(
        s: *mut ServicesRaw,
        bio: *mut BioRaw,
        buf: c_uint,
        offset: usize,
    ) -> c_int;
    pub(crate) fn iof_io_bio(
        s: *mut ServicesRaw,
        bio: *mut BioRaw,
        write: bool,
        dev0: *mut DmDevRaw,
        dev1: *mut DmDevRaw,
        sector: Sector,
        tag: u64,
    );
    pub(crate) fn iof_io_flush(s: *mut ServicesRaw, dev: *mut DmDevRaw, tag: u64);
    pub(crate) fn iof_services_add_shrinker(
        s: *mut ServicesRaw,
        ti: *mut DmTargetRaw,
        count_fn: CountFn,
        scan_fn: ScanFn,
    ) -> c_int;

    pub(crate) fn iof_cache_buf_copy(
        s: *mut ServicesRaw,
        buf: c_uint,
        offset: usize,
        bytes: c_uint,
    ) -> *mut CacheBufRaw;
    pub(crate) fn iof_cache_bufs_in_use() -> core::ffi::c_long;
    pub(crate) fn iof_meta_io_create(blocks: c_uint) -> *mut MetaIoRaw;
    pub(crate) fn iof_meta_io_destroy(m: *mut MetaIoRaw);
    pub(crate) fn iof_meta_io_buf(m: *mut MetaIoRaw) -> *mut c_void;
    pub(crate) fn iof_meta_io_rw(
        m: *mut MetaIoRaw,
        dev: *mut DmDevRaw,
        write: bool,
        fua: bool,
        sector: Sector,
        blocks: c_uint,
    ) -> c_int;
    pub(crate) fn iof_cond_resched();
    pub(crate) fn iof_cache_buf_get(b: *mut CacheBufRaw);
    pub(crate) fn iof_cache_buf_put(b: *mut CacheBufRaw);
    pub(crate) fn iof_cache_buf_bytes(b: *mut CacheBufRaw) -> c_uint;
    pub(crate) fn iof_bio_fill_from_cache(
        bio: *mut BioRaw,
        bufs: *const *mut CacheBufRaw,
        n: c_uint,
        offset: usize,
    ) -> c_int;
}
