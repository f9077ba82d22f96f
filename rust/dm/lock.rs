// SPDX-License-Identifier: GPL-2.0

//! [`IrqSpinLock`]: a spinlock that may be taken in bio completion context.
//!
//! The kernel crate's `SpinLock` (6.12) uses plain `spin_lock`; state that a
//! bio's completion (hard or soft interrupt) shares with `map` and the worker
//! needs `spin_lock_irqsave`, or lockdep rightly reports an inversion. This
//! is a backend for the kernel's own `Lock`, so the guard, pinning and
//! lockdep classes are the kernel crate's: [`new_irq_spinlock!`] gives each
//! call site its own class, as `new_spinlock!` does.

use super::ffi;
use kernel::{bindings, ffi::c_ulong, sync::lock::Backend};

/// Data of type `T` behind an interrupt-safe spinlock.
pub(crate) type IrqSpinLock<T> = kernel::sync::lock::Lock<T, IrqSpinLockBackend>;

/// A `spin_lock_irqsave` backend for [`kernel::sync::lock::Lock`].
pub(crate) struct IrqSpinLockBackend;

// SAFETY: `lock` takes the spinlock with local interrupts disabled and `unlock`
// releases it with the flags `lock` saved, so only one owner holds it at a time;
// `init` initialises it with the caller's lockdep class.
unsafe impl Backend for IrqSpinLockBackend {
    type State = bindings::spinlock_t;
    type GuardState = c_ulong;

    unsafe fn init(
        ptr: *mut Self::State,
        name: *const kernel::ffi::c_char,
        key: *mut bindings::lock_class_key,
    ) {
        // SAFETY: `ptr` is valid for writes, `name` and `key` live forever (caller).
        unsafe { bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: `ptr` was initialised by `init` (caller).
        unsafe { ffi::iof_lock_irqsave(ptr) }
    }

    unsafe fn unlock(ptr: *mut Self::State, flags: &Self::GuardState) {
        // SAFETY: the caller owns the lock, taken by `lock` with these flags.
        unsafe { ffi::iof_lock_irqrestore(ptr, *flags) }
    }
}

/// An [`IrqSpinLock`] initialiser with a lockdep class of its own call site.
macro_rules! new_irq_spinlock {
    ($inner:expr, $name:literal $(,)?) => {
        kernel::sync::lock::Lock::<_, $crate::dm::IrqSpinLockBackend>::new(
            $inner,
            kernel::c_str!($name),
            kernel::static_lock_class!(),
        )
    };
}
