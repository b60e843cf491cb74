// SPDX-License-Identifier: GPL-2.0
//! A kernel wait queue on which a task sleeps killably until a condition holds or a timeout
//! passes (6.12's `CondVar` has no killable wait with a timeout and an arbitrary condition).
//! Frozen tasks, restore stubs, faults and doits all wait this way: a SIGKILL always ends
//! the wait, so no task is ever stuck unkillable.

use kernel::ffi::{c_ulong, c_void};
use kernel::bindings;
use kernel::error::code;
use kernel::prelude::*;
use kernel::types::Opaque;

use super::ffi;

/// # Invariants
/// The head was initialised by `new` at its final address (pinned) before any use.
#[pin_data]
pub(crate) struct WaitQueue {
    #[pin]
    head: Opaque<bindings::wait_queue_head>,
}

impl WaitQueue {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(WaitQueue {
            // INVARIANT: initialised in place, at the address it keeps (pinned).
            // SAFETY: `slot` is the pinned, uninitialised head.
            head <- Opaque::ffi_init(|slot| unsafe { ffi::migr_waitqueue_init(slot) }),
        })
    }

    /// The head, for poll_wait in the glue.
    pub(super) fn raw(&self) -> *mut bindings::wait_queue_head {
        self.head.get()
    }

    /// Wake every waiter. Any context.
    pub(crate) fn wake_all(&self) {
        // SAFETY: initialised (type invariant); wake_up_all takes the queue's spinlock.
        unsafe { ffi::migr_wake_all(self.head.get()) };
    }

    /// Sleep until `cond()` or `ms` milliseconds: Ok(true) if the condition holds, Ok(false)
    /// on timeout, Err(EINTR) on a fatal signal. Process context, no spinlock held. `cond`
    /// runs in the waiter's context, after each wake-up, with the task state already set:
    /// it must not sleep.
    pub(crate) fn wait_killable(&self, cond: &dyn Fn() -> bool, ms: u32) -> Result<bool> {
        self.wait(cond, ms as c_ulong)
    }

    /// Sleep until `cond()`, with no time limit: Ok(()) once it holds, Err(EINTR) on a
    /// fatal signal. Same context rules as `wait_killable`.
    pub(crate) fn wait_killable_unbounded(&self, cond: &dyn Fn() -> bool) -> Result {
        self.wait(cond, c_ulong::MAX).map(|_| ())
    }

    /// `ms`: the limit in milliseconds, c_ulong::MAX for none (the glue's convention).
    fn wait(&self, cond: &dyn Fn() -> bool, ms: c_ulong) -> Result<bool> {
        // SAFETY: initialised (type invariant); `call` only uses `cond`, which outlives the
        // call since the glue returns only after its last evaluation.
        let r = unsafe {
            ffi::migr_wait_killable(
                self.head.get(),
                call,
                (&cond as *const &dyn Fn() -> bool).cast(),
                ms,
            )
        };
        if r < 0 {
            return Err(code::EINTR);
        }
        Ok(r > 0 || cond())
    }
}

/// The glue's condition callback: calls the `&dyn Fn() -> bool` that `arg` points at.
///
/// # Safety
/// `arg` must point at a live `&dyn Fn() -> bool`.
pub(super) unsafe extern "C" fn call(arg: *const c_void) -> bool {
    // SAFETY: the caller's contract: `arg` points at a live `&dyn Fn`, kept alive by the
    // waiter for the whole wait.
    let f = unsafe { &*arg.cast::<&dyn Fn() -> bool>() };
    f()
}

// SAFETY: the wait queue has its own spinlock; every operation on it is thread-safe.
unsafe impl Send for WaitQueue {}
// SAFETY: as for `Send`.
unsafe impl Sync for WaitQueue {}
