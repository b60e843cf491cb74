// SPDX-License-Identifier: GPL-2.0
//! Thread state: registers, FPU/vector state, signal dispositions and mask, sigaltstack,
//! tid address, robust list, rseq. Dump and restore side by side; both run as the task
//! itself (`current`), so nothing here races with the task running.

use kernel::error::code;
use kernel::prelude::*;

use crate::bind::cpu::{self, Sigaction, ThreadState, NREGS, NSIG, REG_AX, REG_IP, REG_ORIG_AX};
use crate::bind::task::{self, clock};
use crate::mm::USER_END;
use crate::uapi_gen::Restart;

/// Length of the `syscall` instruction.
const SYSCALL_INSN_LEN: u64 = 2;

/// Syscall-restart codes (include/linux/errno.h): never seen by user mode.
fn restart_code(ax: u64) -> Option<kernel::error::Error> {
    use kernel::error::code::{ERESTARTNOHAND, ERESTARTNOINTR, ERESTARTSYS, ERESTART_RESTARTBLOCK};
    let ax = ax as i64;
    [ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK]
        .into_iter()
        .find(|e| i64::from(e.to_errno()) == ax)
}

/// What an interrupted syscall needs redone, from the registers at the freeze (before the
/// restart fix-up) and the restart block: a relative nanosleep interrupted by the freeze
/// (ERESTART_RESTARTBLOCK, or already restart_syscall) gets `Nanosleep` and the time left.
fn restart_of(regs: &[u64; NREGS]) -> (Restart, u64) {
    let ax = regs[REG_AX];
    let nr = regs[REG_ORIG_AX];
    let blocked = restart_code(ax) == Some(code::ERESTART_RESTARTBLOCK) || ax == cpu::NR_RESTART_SYSCALL;
    if blocked && (nr == cpu::NR_NANOSLEEP || nr == cpu::NR_CLOCK_NANOSLEEP) {
        let block = cpu::nanosleep_block();
        let now = clock::now_ns(block.clockid);
        return (Restart::Nanosleep, block.expires.saturating_sub(now));
    }
    (Restart::None, 0)
}

/// The registers user mode would see after the freeze, as if the task had stopped: the
/// freeze work runs inside get_signal(), before arch_do_signal_or_restart() applies its
/// no-handler fix-up, so that fix-up is applied here to the copy (the live registers are
/// left alone: if the task thaws, the kernel applies it itself).
///
/// A syscall that restart_syscall would finish (futex, poll) cannot be resumed that way on
/// another node, because its restart block holds kernel state; it is reissued with its
/// original arguments instead, as for -ERESTARTNOINTR. nanosleep is special-cased
/// (`restart` = Nanosleep, see `complete_syscall`) so that it sleeps only what is left.
fn user_visible_regs(mut regs: [u64; NREGS], restart: Restart) -> [u64; NREGS] {
    let in_syscall = (regs[REG_ORIG_AX] as i64) >= 0;
    match restart_code(regs[REG_AX]) {
        Some(e) if in_syscall && e == code::ERESTART_RESTARTBLOCK => {
            regs[REG_AX] = cpu::NR_RESTART_SYSCALL;
            regs[REG_IP] = regs[REG_IP].wrapping_sub(SYSCALL_INSN_LEN);
        }
        Some(_) if in_syscall => {
            regs[REG_AX] = regs[REG_ORIG_AX];
            regs[REG_IP] = regs[REG_IP].wrapping_sub(SYSCALL_INSN_LEN);
        }
        _ => {}
    }
    if restart == Restart::None && regs[REG_AX] == cpu::NR_RESTART_SYSCALL && in_syscall {
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
        let regs = cpu::regs()?;
        let xstate = cpu::xstate()?;
        let (mut state, sigactions) = cpu::thread_state();
        let (restart, remaining) = restart_of(&regs);
        state.restart = restart as u32;
        state.restart_remaining_ns = remaining;
        Ok(ThreadImage {
            comm: task::current_comm(),
            regs: user_visible_regs(regs, restart),
            xstate,
            state,
            sigactions,
        })
    }

    /// Check what a peer sent as the syscalls that set these fields would (sigaction,
    /// sigaltstack, set_robust_list, set_tid_address, rseq), before anything is applied: a
    /// forged image gets no state a task could not have given itself. Registers and the FPU
    /// state are checked where they are loaded (user selectors and flags; the XSTATE regset's
    /// own checks).
    pub(crate) fn validate(&self) -> Result {
        let s = &self.state;
        let user = |addr: u64, len: u64| addr.checked_add(len).is_some_and(|end| end <= USER_END);
        let problem = if !matches!(s.sas_flags & !cpu::SS_AUTODISARM, 0 | cpu::SS_ONSTACK | cpu::SS_DISABLE)
            || !user(s.sas_sp, s.sas_size)
        {
            Some("sigaltstack")
        } else if (s.robust_list != 0 && (s.robust_list_len != cpu::ROBUST_LIST_HEAD_SIZE || !user(s.robust_list, s.robust_list_len)))
            || !user(s.clear_child_tid, 4)
        {
            Some("robust list or tid address")
        } else if (s.rseq == 0 && s.rseq_len != 0)
            || (s.rseq != 0
                && (s.rseq_len < cpu::ORIG_RSEQ_SIZE
                    || s.rseq % u64::from(cpu::ORIG_RSEQ_SIZE) != 0
                    || !user(s.rseq, u64::from(s.rseq_len))))
        {
            Some("rseq area")
        } else if self.sigactions.iter().any(|a| a.flags & !cpu::UAPI_SA_FLAGS != 0) {
            Some("signal disposition flags")
        } else {
            None
        };
        match problem {
            Some(what) => {
                pr_warn!("restore: image refused: bad {}\n", what);
                Err(code::EINVAL)
            }
            None => Ok(()),
        }
    }

    /// Set what the restore stub may hold wrong: dispositions, sigaltstack, tid address,
    /// robust list and rseq. Runs in the stub's ioctl; these are only addresses, not
    /// accesses, so the address space need not be final yet.
    pub(crate) fn restore_signals_and_ids(&self) {
        cpu::set_thread_state(&self.state, &self.sigactions);
    }

    /// Finish a nanosleep that the freeze interrupted: the task returns from the syscall
    /// with 0, as if it had never stopped, once `sleep_rest` slept what is left (less the
    /// time already spent restoring). A non-fatal signal during that rest is delivered
    /// afterwards (the sleep is killable, not interruptible), a documented difference from a
    /// local sleep.
    pub(crate) fn complete_syscall(regs: &mut [u64; NREGS]) {
        regs[REG_AX] = 0;
        regs[REG_IP] = regs[REG_IP].wrapping_add(SYSCALL_INSN_LEN);
    }

    /// Sleep the rest of the interrupted nanosleep (killable: a fatal signal ends it).
    pub(crate) fn sleep_rest(remaining_ns: u64) -> Result {
        task::sleep_killable_ns(remaining_ns)
    }

    /// Load registers, FPU state and the signal mask into `current`. Must run from a
    /// TWA_RESUME task work, the last step before user mode (see cpu::set_regs).
    pub(crate) fn restore_cpu(regs: &[u64; NREGS], xstate: &[u8], sigmask: u64) -> Result {
        cpu::set_xstate(xstate)?;
        cpu::set_regs(regs)?;
        cpu::set_sigmask(sigmask)
    }
}
