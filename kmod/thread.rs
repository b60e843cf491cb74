// SPDX-License-Identifier: GPL-2.0
//! Thread state: registers, FPU/vector state, signal dispositions and mask, sigaltstack,
//! tid address, robust list, rseq. Dump and restore side by side; both run as the task
//! itself (`current`), so nothing here races with the task running.

use core::ffi::c_void;
use kernel::error::{code, to_result};
use kernel::prelude::*;

use crate::glue::{self, Sigaction, ThreadState};
use crate::uapi_gen as uapi;

/// Number of u64 in x86-64 `struct user_regs_struct`.
pub(crate) const NREGS: usize = 27;
/// Indexes into `struct user_regs_struct`.
pub(crate) const REG_AX: usize = 10;
pub(crate) const REG_ORIG_AX: usize = 15;
pub(crate) const REG_IP: usize = 16;
/// `__NR_restart_syscall` on x86-64.
const NR_RESTART_SYSCALL: u64 = 219;
/// Length of the `syscall` instruction.
const SYSCALL_INSN_LEN: u64 = 2;
pub(crate) const NSIG: usize = 64;

// Syscall-restart codes (include/linux/errno.h): never seen by user mode.
const ERESTARTSYS: i64 = -512;
const ERESTARTNOINTR: i64 = -513;
const ERESTARTNOHAND: i64 = -514;
const ERESTART_RESTARTBLOCK: i64 = -516;

/// The registers user mode would see after the freeze, as if the task had stopped: the
/// freeze work runs inside get_signal(), before arch_do_signal_or_restart() applies its
/// no-handler fix-up, so that fix-up is applied here to the copy (the live registers are
/// left alone: if the task thaws, the kernel applies it itself).
///
/// A syscall that restart_syscall would finish (futex, poll) cannot be resumed that way on
/// another node, because its restart block holds kernel state; it is reissued with its
/// original arguments instead, as for -ERESTARTNOINTR. nanosleep is special-cased
/// (`restart` = NANOSLEEP, see `finish_restart`) so that it sleeps only what is left.
fn user_visible_regs(mut regs: [u64; NREGS], restart: u32) -> [u64; NREGS] {
    let in_syscall = (regs[REG_ORIG_AX] as i64) >= 0;
    match regs[REG_AX] as i64 {
        ERESTARTSYS | ERESTARTNOINTR | ERESTARTNOHAND if in_syscall => {
            regs[REG_AX] = regs[REG_ORIG_AX];
            regs[REG_IP] = regs[REG_IP].wrapping_sub(SYSCALL_INSN_LEN);
        }
        ERESTART_RESTARTBLOCK if in_syscall => {
            regs[REG_AX] = NR_RESTART_SYSCALL;
            regs[REG_IP] = regs[REG_IP].wrapping_sub(SYSCALL_INSN_LEN);
        }
        _ => {}
    }
    if restart == uapi::RESTART_NONE && regs[REG_AX] == NR_RESTART_SYSCALL && in_syscall {
        regs[REG_AX] = regs[REG_ORIG_AX];
    }
    regs
}

pub(crate) struct ThreadImage {
    pub(crate) comm: [u8; 16],
    pub(crate) regs: [u64; NREGS],
    pub(crate) xstate: KVec<u8>,
    pub(crate) state: ThreadState,
    pub(crate) sigactions: [Sigaction; NSIG],
}

impl ThreadImage {
    /// Capture the state of `current`, parked at its return to user mode.
    pub(crate) fn capture() -> Result<Self> {
        let mut img = ThreadImage {
            comm: [0; 16],
            regs: [0; NREGS],
            xstate: KVec::new(),
            state: ThreadState::default(),
            sigactions: [Sigaction::default(); NSIG],
        };
        // SAFETY: the buffers are writable for the sizes given; the glue reads only current.
        unsafe {
            glue::migr_get_comm(img.comm.as_mut_ptr().cast(), img.comm.len() as u32);
            let got = glue::migr_get_regs(img.regs.as_mut_ptr().cast(), (NREGS * 8) as u32);
            if got < 0 {
                return Err(Error::from_errno(got));
            }
        }
        // SAFETY: no preconditions.
        let size = unsafe { glue::migr_xstate_size() };
        let size = usize::try_from(size).map_err(|_| code::ENODEV)?;
        img.xstate = KVec::from_elem(0u8, size, GFP_KERNEL)?;
        // SAFETY: `xstate` has exactly `size` writable bytes.
        let got = unsafe { glue::migr_get_xstate(img.xstate.as_mut_ptr().cast(), size as u32) };
        if got < 0 {
            return Err(Error::from_errno(got));
        }
        // SAFETY: `state` and the 64-entry `sigactions` array are what the glue fills.
        unsafe { glue::migr_get_thread_state(&mut img.state, img.sigactions.as_mut_ptr()) };

        img.regs = user_visible_regs(img.regs, img.state.restart);
        Ok(img)
    }

    /// Set what the restore stub may hold wrong: dispositions, sigaltstack, tid address,
    /// robust list and rseq. Runs in the stub's ioctl, before the address space is final is
    /// fine: these are only addresses, not accesses.
    pub(crate) fn restore_signals_and_ids(&self) {
        // SAFETY: pointers to our own fields, 64 sigactions as the glue expects.
        unsafe { glue::migr_set_thread_state(&self.state, self.sigactions.as_ptr()) };
    }

    /// Finish a nanosleep that the freeze interrupted: sleep what is left (less the time
    /// already spent restoring), then let the task return from the syscall with 0, as if it
    /// had never stopped. A signal during that sleep is delivered afterwards (the task's
    /// signals are still blocked here), a documented difference from a local sleep.
    pub(crate) fn finish_restart(regs: &mut [u64; NREGS], remaining_ns: u64) -> Result {
        // SAFETY: plain killable sleep of current.
        let r = unsafe { glue::migr_sleep_killable_ns(remaining_ns) };
        if r < 0 {
            return Err(code::EINTR);
        }
        regs[REG_AX] = 0;
        regs[REG_IP] = regs[REG_IP].wrapping_add(SYSCALL_INSN_LEN);
        Ok(())
    }

    /// Load registers, FPU state and the signal mask into `current`. Must run from a
    /// TWA_RESUME task_work (see migr_set_regs), the last step before user mode.
    pub(crate) fn restore_cpu(regs: &[u64; NREGS], xstate: &[u8], sigmask: u64) -> Result {
        // SAFETY: the buffers are readable for the sizes given; current is the restored
        // task on its way back to user mode.
        unsafe {
            to_result(glue::migr_set_xstate(xstate.as_ptr().cast::<c_void>(), xstate.len() as u32))?;
            to_result(glue::migr_set_regs(regs.as_ptr().cast(), (NREGS * 8) as u32))?;
            to_result(glue::migr_set_sigmask(sigmask))
        }
    }
}
