// SPDX-License-Identifier: GPL-2.0

//! [`StatusWriter`]: the `result`/`maxlen` buffer of the `status` callback.

use core::fmt;

/// Which status dm asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum StatusType {
    /// `STATUSTYPE_INFO`: `dmsetup status`, the target's state and counters.
    Info,
    /// `STATUSTYPE_TABLE`: `dmsetup table`, arguments that recreate the target.
    Table,
}

/// Formats status text into dm's buffer, `DMEMIT`-style: output that does not
/// fit is cut, and the buffer always stays NUL-terminated.
pub(crate) struct StatusWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> StatusWriter<'a> {
    /// Wraps `buf` and makes it an empty string.
    pub(super) fn new(buf: &'a mut [u8]) -> Self {
        if let Some(first) = buf.first_mut() {
            *first = 0;
        }
        Self { buf, len: 0 }
    }
}

impl fmt::Write for StatusWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Keep one byte for the terminating NUL.
        let room = self.buf.len().saturating_sub(self.len + 1);
        let n = s.len().min(room);
        if let Some(dst) = self.buf.get_mut(self.len..self.len + n) {
            dst.copy_from_slice(&s.as_bytes()[..n]);
            self.len += n;
        }
        if let Some(end) = self.buf.get_mut(self.len) {
            *end = 0;
        }
        Ok(())
    }
}
