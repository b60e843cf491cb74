// SPDX-License-Identifier: GPL-2.0
//! The thread state of `current`: registers, FPU/vector state (XSAVE), signal mask and
//! dispositions, sigaltstack, tid address, robust list, rseq, and the nanosleep restart
//! block. Everything here acts on `current` only, so nothing races with the task running.

use core::ffi::c_void;
use kernel::bindings;
use kernel::error::{code, to_result};
use kernel::prelude::*;

use super::ffi;

pub(crate) use ffi::{Nanosleep, Sigaction, ThreadState};

/// Number of u64 in x86-64 `struct user_regs_struct` (asserted in kmod/glue/task.c).
pub(crate) const NREGS: usize = 27;
/// Indexes into `struct user_regs_struct` (offsets asserted in kmod/glue/task.c).
pub(crate) const REG_AX: usize = 10;
pub(crate) const REG_ORIG_AX: usize = 15;
pub(crate) const REG_IP: usize = 16;
/// Signals (the glue asserts _NSIG == 64, the size of the `sigactions` attribute).
pub(crate) const NSIG: usize = bindings::_NSIG as usize;

/// The sigaction flags user mode may set (UAPI_SA_FLAGS, include/linux/signal_types.h, with
/// x86's SA_RESTORER); do_sigaction clears any other.
pub(crate) const UAPI_SA_FLAGS: u64 = (bindings::SA_NOCLDSTOP
    | bindings::SA_NOCLDWAIT
    | bindings::SA_SIGINFO
    | bindings::SA_ONSTACK
    | bindings::SA_RESTART
    | bindings::SA_NODEFER
    | bindings::SA_RESETHAND
    | bindings::SA_EXPOSE_TAGBITS
    | bindings::SA_RESTORER) as u64;
/// sigaltstack modes and flag (uapi/linux/signal.h).
pub(crate) const SS_ONSTACK: u32 = bindings::SS_ONSTACK;
pub(crate) const SS_DISABLE: u32 = bindings::SS_DISABLE;
pub(crate) const SS_AUTODISARM: u32 = bindings::SS_AUTODISARM;
/// The first ABI's `struct rseq` size and its alignment (ORIG_RSEQ_SIZE and
/// __alignof__(struct rseq), kernel/rseq.c; a #define bindgen does not carry).
pub(crate) const ORIG_RSEQ_SIZE: u32 = 32;
/// `struct robust_list_head` on x86-64 (three pointers).
pub(crate) const ROBUST_LIST_HEAD_SIZE: u64 = 24;

/// Syscall numbers involved in restarts (x86-64, from bindgen's asm/unistd_64.h).
pub(crate) const NR_RESTART_SYSCALL: u64 = bindings::__NR_restart_syscall as u64;
pub(crate) const NR_NANOSLEEP: u64 = bindings::__NR_nanosleep as u64;
pub(crate) const NR_CLOCK_NANOSLEEP: u64 = bindings::__NR_clock_nanosleep as u64;

/// The registers of `current` as the NT_PRSTATUS regset has them.
pub(crate) fn regs() -> Result<[u64; NREGS]> {
    let mut regs = [0u64; NREGS];
    // SAFETY: `regs` has NREGS * 8 writable bytes; the glue reads only current.
    to_result(unsafe { ffi::migr_get_regs(regs.as_mut_ptr().cast(), (NREGS * 8) as u32) })?;
    Ok(regs)
}

/// Size of this CPU's XSAVE regset.
pub(crate) fn xstate_size() -> Result<usize> {
    // SAFETY: no preconditions.
    let size = unsafe { ffi::migr_xstate_size() };
    usize::try_from(size).map_err(|_| code::ENODEV)
}

/// The XSAVE state of `current` (synced from the registers first by the regset).
pub(crate) fn xstate() -> Result<KVec<u8>> {
    let size = xstate_size()?;
    let mut buf = KVec::from_elem(0u8, size, GFP_KERNEL)?;
    let len = u32::try_from(size).map_err(|_| code::EINVAL)?;
    // SAFETY: `buf` has exactly `size` writable bytes.
    to_result(unsafe { ffi::migr_get_xstate(buf.as_mut_ptr().cast(), len) })?;
    Ok(buf)
}

/// The thread fields and signal dispositions of `current` (`restart` fields left 0; takes
/// siglock).
pub(crate) fn thread_state() -> (ThreadState, [Sigaction; NSIG]) {
    let mut st = ThreadState::default();
    let mut acts = [Sigaction::default(); NSIG];
    // SAFETY: `st` and the NSIG entries of `acts` are writable, as the glue expects.
    unsafe { ffi::migr_get_thread_state(&mut st, acts.as_mut_ptr()) };
    (st, acts)
}

/// `current->restart_block.nanosleep` as is (meaningful only after a nanosleep restart).
pub(crate) fn nanosleep_block() -> Nanosleep {
    let mut ns = Nanosleep::default();
    // SAFETY: `ns` is writable.
    unsafe { ffi::migr_get_nanosleep(&mut ns) };
    ns
}

/// Set dispositions (not SIGKILL/SIGSTOP), sigaltstack, tid address, robust list and rseq
/// of `current` (takes siglock).
pub(crate) fn set_thread_state(st: &ThreadState, acts: &[Sigaction; NSIG]) {
    // SAFETY: both are readable; NSIG entries as the glue expects.
    unsafe { ffi::migr_set_thread_state(st, acts.as_ptr()) };
}

/// Load XSAVE state into `current` (size must be this CPU's).
pub(crate) fn set_xstate(xstate: &[u8]) -> Result {
    let len = u32::try_from(xstate.len()).map_err(|_| code::EINVAL)?;
    // SAFETY: `xstate` has `len` readable bytes; the regset validates the contents.
    to_result(unsafe { ffi::migr_set_xstate(xstate.as_ptr().cast::<c_void>(), len) })
}

/// Load the registers (and FS base) into `current`'s user frame. Must run from a TWA_RESUME
/// task work, the last step before user mode (see migr_set_regs).
pub(crate) fn set_regs(regs: &[u64; NREGS]) -> Result {
    // SAFETY: `regs` has NREGS * 8 readable bytes; the glue validates the user values.
    to_result(unsafe { ffi::migr_set_regs(regs.as_ptr().cast(), (NREGS * 8) as u32) })
}

/// sigprocmask(SIG_SETMASK) for `current` (SIGKILL/SIGSTOP never blocked).
pub(crate) fn set_sigmask(mask: u64) -> Result {
    // SAFETY: no pointers; acts on current.
    to_result(unsafe { ffi::migr_set_sigmask(mask) })
}
