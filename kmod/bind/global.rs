// SPDX-License-Identifier: GPL-2.0
//! Module-wide objects reachable from C callbacks: created at module init, published in a
//! `static` [`Global`], freed at module exit.

use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::error::code;
use kernel::prelude::*;

/// A pointer to a module-wide `T`, set between module init and exit.
///
/// # Invariants
/// Non-null only while the `GlobalOwner` that set it lives; it owns the pointee.
pub(crate) struct Global<T: Send + Sync + 'static> {
    p: AtomicPtr<T>,
}

impl<T: Send + Sync + 'static> Global<T> {
    pub(crate) const fn new() -> Self {
        Global { p: AtomicPtr::new(core::ptr::null_mut()) }
    }

    /// Publish `obj` until the returned owner drops (module exit).
    pub(crate) fn set(&'static self, obj: Pin<KBox<T>>) -> GlobalOwner<T> {
        // INVARIANT: the owner keeps the box alive until it clears the pointer.
        self.p.store((&*obj as *const T).cast_mut(), Ordering::Release);
        GlobalOwner { global: self, _obj: obj }
    }

    /// The object; ENODEV outside module init..exit.
    ///
    /// Callers are doits, file and vm callbacks, notifiers and task works of this module.
    /// None of them runs once the owner drops: the module's `Drop` unregisters the family
    /// and notifier (which wait for running callbacks) first, and files and queued works
    /// hold module references, so exit cannot start while they exist.
    pub(crate) fn get(&self) -> Result<&T> {
        let p = self.p.load(Ordering::Acquire);
        if p.is_null() {
            return Err(code::ENODEV);
        }
        // SAFETY: non-null means the owner lives (type invariant), and per the above no
        // caller still runs when it drops.
        Ok(unsafe { &*p })
    }
}

/// Owner of a published module-wide object; unpublishes it, then frees it.
pub(crate) struct GlobalOwner<T: Send + Sync + 'static> {
    global: &'static Global<T>,
    _obj: Pin<KBox<T>>,
}

impl<T: Send + Sync + 'static> Drop for GlobalOwner<T> {
    fn drop(&mut self) {
        self.global.p.store(core::ptr::null_mut(), Ordering::Release);
    }
}
