//! [`IrqSpinLock`]: a spinlock that may be taken in bio completion context.
//!
//! The kernel crate's `SpinLock` (6.12) uses plain `spin_lock`; state that a
//! bio's completion (hard or soft interrupt) shares with `map` and the worker
//! needs `spin_lock_irqsave`, or lockdep rightly reports an inversion.

use super::ffi;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use kernel::{bindings, ffi::c_ulong, prelude::*, types::Opaque};

/// Data of type `T` behind an interrupt-safe spinlock.
///
/// # Invariants
///
/// `raw` is an initialised `spinlock_t`; `data` is only reached through an
/// [`IrqGuard`], which holds the lock with interrupts disabled.
#[pin_data]
pub(crate) struct IrqSpinLock<T> {
    #[pin]
    raw: Opaque<bindings::spinlock_t>,
    data: UnsafeCell<T>,
}

// SAFETY: the lock serialises every access to `data`, so it may be shared and
// sent between threads as long as `T` may be sent.
unsafe impl<T: Send> Send for IrqSpinLock<T> {}
// SAFETY: as above; `&IrqSpinLock` only hands out `&mut T` under the lock.
unsafe impl<T: Send> Sync for IrqSpinLock<T> {}

impl<T> IrqSpinLock<T> {
    /// A lock protecting `data`.
    pub(crate) fn new(data: T) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid, pinned memory for a spinlock_t.
            raw <- Opaque::ffi_init(|slot| unsafe { ffi::iof_lock_init(slot) }),
            data: UnsafeCell::new(data),
        })
    }

    /// Takes the lock, disabling local interrupts until the guard drops.
    pub(crate) fn lock(&self) -> IrqGuard<'_, T> {
        // SAFETY: `raw` is initialised (type invariant).
        let flags = unsafe { ffi::iof_lock_irqsave(self.raw.get()) };
        IrqGuard {
            lock: self,
            flags,
            _not_send: PhantomData,
        }
    }
}

/// Proof that an [`IrqSpinLock`] is held; the lock is released on drop.
#[must_use = "the lock unlocks immediately when the guard is unused"]
pub(crate) struct IrqGuard<'a, T> {
    lock: &'a IrqSpinLock<T>,
    flags: c_ulong,
    /// Interrupts are off on this CPU: the guard must not move to another thread.
    _not_send: PhantomData<*mut ()>,
}

impl<T> Deref for IrqGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no one else accesses `data`.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for IrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, so no one else accesses `data`.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for IrqGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard took the lock with these flags and releases it once.
        unsafe { ffi::iof_lock_irqrestore(self.lock.raw.get(), self.flags) }
    }
}
