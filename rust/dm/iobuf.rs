// SPDX-License-Identifier: GPL-2.0

//! [`IoBuffer`]: the right to use one of a target's preallocated IO buffers.
//!
//! A target asks for its buffers once, in `ctr`
//! ([`super::CtrTarget::io_buffers`]), and gets one handle per buffer. A
//! handle is moved into the IO that reads into or writes from its buffer
//! ([`super::Ctx::read_into_buffer`]) and comes back with that IO's
//! completion ([`super::IoCompletion::buffer`]); filling a VM read or a cache
//! buffer from it borrows it. So "no IO is in flight into a buffer whose
//! bytes are read" is a rule of the types, not of the target's bookkeeping.

use super::ffi;
use kernel::ffi::c_uint;

/// One of the target's IO buffers, and the right to use it.
///
/// # Invariants
///
/// `index` is below the number of buffers the target's services hold, and
/// no other `IoBuffer` with the same `index` exists for the target: the
/// layer makes one per buffer in `ctr`, and one when an IO that had been
/// given this one completes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct IoBuffer {
    index: c_uint,
}

impl IoBuffer {
    /// The buffer's number, for the C side.
    pub(super) fn index(&self) -> c_uint {
        self.index
    }

    /// Lends the buffer to an IO; its completion gives it back.
    pub(super) fn into_io(self) -> c_uint {
        self.index
    }

    /// The buffer an IO was lent, back at its completion.
    ///
    /// # Safety
    ///
    /// `index` must be what [`IoBuffer::into_io`] gave the completing IO (or
    /// [`ffi::IOF_NO_BUF`]), and the IO must not report it twice.
    pub(super) unsafe fn from_io(index: c_uint) -> Option<Self> {
        // INVARIANT: the handle went into this IO and is returned once (caller).
        (index != ffi::IOF_NO_BUF).then_some(Self { index })
    }
}

/// The handles of a target's buffers, made by [`super::CtrTarget::io_buffers`].
pub(crate) struct IoBuffers {
    next: c_uint,
    end: c_uint,
}

impl IoBuffers {
    /// Handles `0..n`, once per target (the ctr layer checks that).
    pub(super) fn new(n: c_uint) -> Self {
        Self { next: 0, end: n }
    }
}

impl Iterator for IoBuffers {
    type Item = IoBuffer;

    fn next(&mut self) -> Option<IoBuffer> {
        if self.next >= self.end {
            return None;
        }
        let index = self.next;
        self.next = self.next.saturating_add(1);
        // INVARIANT: each index below `end` (the services' buffer count) once.
        Some(IoBuffer { index })
    }
}
