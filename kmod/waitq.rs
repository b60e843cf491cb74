// SPDX-License-Identifier: GPL-2.0
//! A kernel wait queue on which a task sleeps killably until a condition holds or a timeout
//! passes (6.12's `CondVar` has no killable wait). Frozen tasks, restore stubs and doits all
//! wait this way: a SIGKILL always ends the wait, so no task is ever stuck unkillable.

use core::ffi::c_void;
use kernel::error::code;
use kernel::prelude::*;
use kernel::types::Opaque;

use crate::glue::{self, WaitQueueHead};

/// Invariant: `init` has run (the owner calls it once the queue has its final address, right
/// after allocation, before sharing it).
pub(crate) struct WaitQueue(Opaque<WaitQueueHead>);

impl WaitQueue {
    pub(crate) const fn uninit() -> Self {
        WaitQueue(Opaque::uninit())
    }

    /// # Safety
    /// Call once, when `self` will not move again (inside an `Arc`), before any other use.
    pub(crate) unsafe fn init(&self) {
        // SAFETY: per the contract the head is at its final address and not yet in use.
        unsafe { glue::migr_waitqueue_init(self.0.get()) };
    }

    pub(crate) fn raw(&self) -> *mut WaitQueueHead {
        self.0.get()
    }

    pub(crate) fn wake_all(&self) {
        // SAFETY: initialised (type invariant).
        unsafe { glue::migr_wake_all(self.0.get()) };
    }

    /// Sleep until `cond()` or `ms` milliseconds: Ok(true) if the condition holds, Ok(false)
    /// on timeout, Err(EINTR) on a fatal signal. `cond` runs in the waiter's context, after
    /// each wake-up, and must not sleep.
    pub(crate) fn wait_killable(&self, cond: &dyn Fn() -> bool, ms: u32) -> Result<bool> {
        unsafe extern "C" fn call(arg: *const c_void) -> bool {
            // SAFETY: `arg` points at the `&dyn Fn` below, alive for the whole wait.
            let f = unsafe { &*arg.cast::<&dyn Fn() -> bool>() };
            f()
        }
        // SAFETY: initialised (type invariant); `call` only uses `cond`, which outlives the
        // call since the glue returns only after its last evaluation.
        let r = unsafe {
            glue::migr_wait_killable(self.0.get(), call, (&cond as *const &dyn Fn() -> bool).cast(), u64::from(ms))
        };
        if r < 0 {
            return Err(code::EINTR);
        }
        Ok(r > 0 || cond())
    }
}
