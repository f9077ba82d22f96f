// SPDX-License-Identifier: GPL-2.0

//! Conversion of dm's `argc`/`argv` into string slices.

use super::CtrError;
use kernel::{
    ffi::{c_char, c_uint},
    prelude::*,
    str::CStr,
};

/// Collects `argv` as `&str`s.
///
/// # Safety
///
/// `argv` must hold `argc` valid NUL-terminated strings that live and stay
/// unchanged for `'a`.
pub(super) unsafe fn collect<'a>(
    argc: c_uint,
    argv: *mut *mut c_char,
) -> Result<KVec<&'a str>, CtrError> {
    let argc = argc as usize;
    let mut args = KVec::with_capacity(argc, GFP_KERNEL)
        .map_err(|_| CtrError::new(ENOMEM, c"Cannot allocate argument list"))?;
    for i in 0..argc {
        // SAFETY: `i < argc`, so `argv.add(i)` is inside the array the caller vouches for.
        let arg = unsafe { *argv.add(i) };
        if arg.is_null() {
            return Err(CtrError::new(EINVAL, c"Missing argument"));
        }
        // SAFETY: each argument is a NUL-terminated string living for `'a`.
        let arg = unsafe { CStr::from_char_ptr(arg) };
        let arg = arg
            .to_str()
            .map_err(|_| CtrError::new(EINVAL, c"Argument is not valid UTF-8"))?;
        args.push(arg, GFP_KERNEL)
            .map_err(|_| CtrError::new(ENOMEM, c"Cannot allocate argument list"))?;
    }
    Ok(args)
}
