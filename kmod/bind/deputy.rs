// SPDX-License-Identifier: GPL-2.0
//! What a deputy does to itself (glue/deputy.c). A deputy is the original task of a
//! migration kept on its node after its copy runs elsewhere (kmod/deputy.rs): it keeps its
//! pid, parent, session and process group, holds no user memory, takes every signal it is
//! sent off its own queue to hand it on, and ends as its copy ended.

use core::marker::PhantomData;
use kernel::ffi::{c_ulong, c_void};
use kernel::error::to_result;
use kernel::prelude::*;

use super::ffi;
use super::waitq::{call, WaitQueue};

/// Proof that `current` is a deputy (it entered with [`AsDeputy::enter`]).
///
/// # Invariants
/// Created only by `enter`, in the task's own context, and never leaves it (not `Send`):
/// every method acts on the task that entered.
pub(crate) struct AsDeputy {
    _in_its_own_context: PhantomData<*mut ()>,
}

/// Why a deputy's wait ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Woken {
    /// The condition holds.
    Cond,
    /// A signal is pending (possibly SIGKILL).
    Signal,
    Timeout,
}

impl AsDeputy {
    /// Make `current` a deputy: drop its user memory and keep every signal but SIGKILL
    /// queued for [`AsDeputy::take_signal`]. Process context, as the task itself (its task
    /// work), no lock held; the task must never run user code again other than the end
    /// chosen by `end_by_exit`/`end_by_signal`. The result says whether the memory went (a
    /// sealed mapping stays; it only costs memory).
    pub(crate) fn enter() -> (Self, Result) {
        // SAFETY: acts on current only; the caller is the task in its own task work (see
        // above), so dropping its mappings cannot pull memory from under running user code.
        let r = to_result(unsafe { ffi::migr_deputy_enter() });
        // INVARIANT: created in the task's own context, as it entered.
        (AsDeputy { _in_its_own_context: PhantomData }, r)
    }

    /// Sleep interruptibly until `cond()`, any signal, or `ms` milliseconds. `cond` runs
    /// with the task state set: it must not sleep.
    pub(crate) fn wait(&self, wq: &WaitQueue, cond: &dyn Fn() -> bool, ms: u32) -> Woken {
        // SAFETY: the head is initialised (WaitQueue's invariant); `call` only uses `cond`,
        // which outlives the call (the glue returns after its last evaluation).
        let r = unsafe {
            ffi::migr_deputy_wait(wq.raw(), call, (&cond as *const &dyn Fn() -> bool).cast::<c_void>(), ms as c_ulong)
        };
        match r {
            1.. => Woken::Cond,
            0 => Woken::Timeout,
            _ => Woken::Signal,
        }
    }

    /// The next signal queued for the deputy (never SIGKILL), taken off its queue.
    pub(crate) fn take_signal(&self) -> Option<u32> {
        // SAFETY: dequeues from current's own queue under its siglock (taken in the glue).
        let sig = unsafe { ffi::migr_deputy_take_signal() };
        (sig > 0).then_some(sig as u32)
    }

    /// Stop by `sig` (a stop signal, checked by the caller), as a group stop: the parent
    /// sees it stopped; until SIGCONT (left queued for `take_signal`) or SIGKILL. Err(EINTR)
    /// if SIGKILL ended it or came first.
    pub(crate) fn stop(&self, sig: u32) -> Result {
        // SAFETY: current's own signal state under its siglock (taken in the glue); sleeps
        // in TASK_STOPPED, process context, no lock held.
        to_result(unsafe { ffi::migr_deputy_stop(sig as i32) })
    }

    /// Become another program on the way back to user mode: execve of `strings` (`argc`
    /// NUL-terminated arguments, the first being the path, then `envc` NUL-terminated
    /// entries; nothing after). Err (only a mapping added) if it cannot be arranged.
    pub(crate) fn exec(self, strings: &[u8], argc: usize, envc: usize) -> core::result::Result<(), (Self, Error)> {
        let count = strings.iter().filter(|&&b| b == 0).count();
        if argc == 0 || count != argc + envc || strings.last() != Some(&0) || strings.len() > 16 * 4096 {
            return Err((self, kernel::error::code::EINVAL));
        }
        // SAFETY: `strings` holds exactly argc + envc NUL-terminated strings (checked above);
        // the glue maps a page of current's own address space and sets current's registers.
        let r = unsafe { ffi::migr_deputy_exec(strings.as_ptr().cast(), strings.len(), argc as i32, envc as i32) };
        to_result(r).map_err(|e| (self, e))
    }

    /// A signal other than SIGKILL is queued for the deputy.
    pub(crate) fn signal_queued(&self) -> bool {
        // SAFETY: reads current's own queues under its siglock (taken in the glue).
        unsafe { ffi::migr_deputy_signal_queued() }
    }

    /// SIGKILL is pending: the deputy ends on its way back.
    pub(crate) fn killed(&self) -> bool {
        // SAFETY: reads current's own flags.
        unsafe { ffi::migr_deputy_killed() }
    }

    /// End by signal `sig` (1..=64) on the way back to user mode, with the signal's default
    /// action whatever the handler; a core dump only if `core`.
    pub(crate) fn end_by_signal(self, sig: u32, core: bool) {
        // SAFETY: current's own handler, limits and queue; `sig` is a valid signal number
        // (checked by the caller against 1..=64).
        unsafe { ffi::migr_deputy_end_by_signal(sig as i32, core) };
    }

    /// End by exit_group(`code`) on the way back to user mode; Err (nothing changed but
    /// a page mapped) if that cannot be arranged.
    pub(crate) fn end_by_exit(self, code: u8) -> Result {
        // SAFETY: maps and writes one page of current's own (empty) address space and sets
        // current's own user registers; the task returns to user mode right after.
        to_result(unsafe { ffi::migr_deputy_end_by_exit(code as i32) })
    }
}
