// SPDX-License-Identifier: GPL-2.0
//! The deputy: what the original of a migration becomes when the controller commits with
//! `deputy` (the home node keeps its process). Like Sprite's home-node process and
//! openMosix's deputy, it stays where the process started and holds what belongs there:
//! its pid, its parent (who will wait for it), its session and process group.
//!
//! In its own task work (kmod/freeze.rs `park`), after the commit:
//! 1. it drops its user memory (the copy has it) and keeps every signal but SIGKILL queued
//!    for itself (bind/deputy.rs);
//! 2. it hands each signal it is sent, in order, to the daemon listening for module events
//!    (`deputy-signal`), which forwards it to the copy; a signal that cannot be sent yet
//!    (no listener) is kept and sent again every second. SIGKILL ends the deputy at once,
//!    after one last `deputy-signal` for it (the copy is killed too);
//! 3. `deputy-end` (the daemon, told how the copy ended) makes it end the same way: exit
//!    code, or signal with or without a core dump, so its parent's wait() sees what it would
//!    have seen had the process never moved;
//! 4. `deputy-stop` (its copy stopped: ^Z on its terminal) makes it stop the same way, so
//!    that the home shell sees the job stopped; the SIGCONT of the shell's `fg` wakes it and
//!    goes on to the copy like any other signal;
//! 5. `deputy-become` (its process comes home): it takes the restore stub's file as a
//!    descriptor of its own and execs the stub, which becomes the process as any stub does:
//!    the process is back in its own task, with its pid, parent, session, process group and
//!    original descriptors.
//!
//! Sleeping rules: everything here runs as the deputy, in process context, no lock held;
//! the deputy-end doit only stores the status and wakes it.

use kernel::error::code;
use kernel::prelude::*;

use crate::bind::deputy::{AsDeputy, Woken};
use crate::bind::file::FileRef;
use crate::bind::netlink::{Message, Request};
use crate::freeze::{FreezeSession, FreezeState};
use crate::uapi_gen as uapi;

/// How long a deputy with signals it could not send yet waits before it tries again.
const RESEND_MS: u32 = 1_000;
/// How long it sleeps with nothing to do (it wakes for signals and deputy-end anyway).
const IDLE_MS: u32 = 60_000;
/// Most signals kept while no daemon listens (the rest are dropped and logged).
const MAX_PENDING: usize = 64;

/// What a deputy becomes when its process comes home: the restore stub's file (the
/// session's stub descriptor in the daemon), and the stub's exec strings (see uapi
/// `exec-argv`: "@FD@" is the descriptor the file gets here).
pub(crate) struct Homecoming {
    file: FileRef,
    argv: KVec<u8>,
    envp: KVec<u8>,
}

/// Serve as the deputy of session `s` (its state is `Deputy`), until deputy-end, SIGKILL or
/// deputy-become. Returns once the end is arranged: the task ends (or execs the restore stub
/// of its process come home) on its way back to user mode.
pub(crate) fn serve(s: &FreezeSession) {
    let pid = s.pid();
    let (mut me, dropped) = AsDeputy::enter();
    if let Err(e) = dropped {
        pr_warn!("pid {}: deputy keeps its memory ({:?})\n", pid, e);
    }
    if s.state().transition(FreezeState::Deputy, FreezeState::Deputed).is_err() {
        // Nothing else moves a session out of Deputy.
        pr_warn!("pid {}: deputy in an unexpected state; it ends\n", pid);
        crate::bind::task::kill_current();
        return;
    }
    s.wake();
    pr_info!("pid {}: deputy of its copy\n", pid);

    // Signals taken but not handed on yet, oldest first (a small array: the deputy's stack).
    let mut pending = [0u32; MAX_PENDING];
    let mut n = 0;
    loop {
        if me.killed() {
            let _ = send(pid, kernel::bindings::SIGKILL);
            pr_info!("pid {}: deputy killed (SIGKILL handed on)\n", pid);
            return;
        }
        while let Some(sig) = me.take_signal() {
            if n < MAX_PENDING {
                pending[n] = sig;
                n += 1;
            } else {
                pr_warn!("pid {}: deputy drops signal {} (no daemon takes them)\n", pid, sig);
            }
        }
        let sent = pending[..n].iter().take_while(|&&sig| send(pid, sig).is_ok()).count();
        pending.copy_within(sent..n, 0);
        n -= sent;
        match s.state().load() {
            FreezeState::DeputyEnd => break,
            FreezeState::Deputed => {}
            FreezeState::DeputyBecome => match become_stub(me, s) {
                Ok(()) => return,
                Err((back, e)) => {
                    pr_warn!("pid {}: deputy cannot become its process come home ({:?}); stays a deputy\n", pid, e);
                    me = back;
                    s.become_error().store(e.to_errno().unsigned_abs(), core::sync::atomic::Ordering::Release);
                    let _ = s.state().transition(FreezeState::DeputyBecome, FreezeState::Deputed);
                    s.wake();
                    continue;
                }
            },
            _ => break, // not expected: only deputy-end and deputy-become move a Deputed session
        }
        // Its copy stopped (^Z there): stop here too, so that the shell sees it stopped. A
        // SIGCONT (the shell's fg) wakes it and is handed on in the next round.
        let stop = s.take_stop_signal();
        if stop != 0 {
            pr_info!("pid {}: deputy stops (signal {}) as its copy did\n", pid, stop);
            let _ = me.stop(stop);
            continue;
        }
        let ms = if n == 0 { IDLE_MS } else { RESEND_MS };
        let woken = || s.state().load() != FreezeState::Deputed || s.stop_requested();
        match me.wait(s.wait_queue(), &woken, ms) {
            // A pending-signal state with no signal to take (a cgroup freeze, say) must not
            // make the deputy spin: it waits a little, killable.
            Woken::Signal if !me.killed() && !me.signal_queued() => {
                let _ = crate::bind::task::sleep_killable_ns(100_000_000);
            }
            _ => {}
        }
    }
    if n > 0 {
        pr_warn!("pid {}: deputy ends with {} signals not handed on\n", pid, n);
    }
    end(me, pid, s.wait_status());
}

/// Become the restore stub of the process come home: take the stub's file as a descriptor
/// of its own (keeping every other descriptor: the originals, which the process holds
/// again), and exec the stub with that descriptor's number in its arguments.
fn become_stub(me: AsDeputy, s: &FreezeSession) -> core::result::Result<(), (AsDeputy, Error)> {
    let Some(h) = s.homecoming().lock().take() else {
        return Err((me, code::EINVAL));
    };
    let fd = match h.file.install_in_current() {
        Ok(fd) => fd,
        Err(e) => return Err((me, e)),
    };
    let mut strings = KVec::new();
    let mut argc = 0;
    let put = |part: &[u8], strings: &mut KVec<u8>| strings.extend_from_slice(part, GFP_KERNEL);
    for arg in h.argv.split(|&b| b == 0).filter(|a| !a.is_empty()) {
        let r = if arg == b"@FD@" {
            let mut num = [0u8; 10];
            let digits = decimal(fd, &mut num);
            put(digits, &mut strings)
        } else {
            put(arg, &mut strings)
        };
        if r.and_then(|()| put(b"\0", &mut strings)).is_err() {
            let _ = crate::bind::task::close_fd(fd);
            return Err((me, code::ENOMEM));
        }
        argc += 1;
    }
    if strings.extend_from_slice(&h.envp, GFP_KERNEL).is_err() {
        let _ = crate::bind::task::close_fd(fd);
        return Err((me, code::ENOMEM));
    }
    let envc = h.envp.iter().filter(|&&b| b == 0).count();
    pr_info!("pid {}: deputy becomes its process come home (stub fd {})\n", s.pid(), fd);
    me.exec(&strings, argc, envc).map_err(|(me, e)| {
        let _ = crate::bind::task::close_fd(fd);
        (me, e)
    })
}

/// `n` in decimal, in `buf`.
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// End as `status` (wait() encoding, checked by `deputy_end`) says the copy ended.
fn end(me: AsDeputy, pid: i32, status: u32) {
    let sig = status & 0x7f;
    if sig == 0 {
        let code = ((status >> 8) & 0xff) as u8;
        pr_info!("pid {}: deputy ends: exit {}\n", pid, code);
        if let Err(e) = me.end_by_exit(code) {
            pr_warn!("pid {}: deputy cannot exit {} ({:?}); killed instead\n", pid, code, e);
            crate::bind::task::kill_current();
        }
    } else {
        let core = status & 0x80 != 0;
        pr_info!("pid {}: deputy ends: signal {}{}\n", pid, sig, if core { " (core)" } else { "" });
        me.end_by_signal(sig, core);
    }
}

/// One `deputy-signal` event to the daemon that listens for module events.
fn send(pid: i32, sig: u32) -> Result {
    let port = crate::pager::listener_port().ok_or_else(crate::bind::errno::enotconn)?;
    let mut m = Message::event(uapi::CMD_DEPUTY_SIGNAL, 0)?;
    m.put_u32(uapi::A_TASK_PID, pid as u32)?;
    m.put_u32(uapi::A_TASK_SIGNAL, sig)?;
    m.send_to(port)
}

/// The `deputy-stop` doit: the copy of the deputy of `pid` stopped by `signal`.
pub(crate) fn deputy_stop(req: &Request<'_>) -> Result {
    let pid = req.need_u32(uapi::A_TASK_PID)?;
    let sig = req.need_u32(uapi::A_TASK_SIGNAL)?;
    let stops = [kernel::bindings::SIGSTOP, kernel::bindings::SIGTSTP, kernel::bindings::SIGTTIN, kernel::bindings::SIGTTOU];
    if !stops.contains(&sig) {
        return Err(code::EINVAL);
    }
    let s = crate::freeze::deputy_of(pid).ok_or(code::ESRCH)?;
    s.request_stop(sig);
    s.wake();
    Ok(())
}

/// The `deputy-become` doit (see the spec): hand the deputy of `pid` what it becomes and
/// wait (briefly) until it did, or said why not.
pub(crate) fn deputy_become(req: &Request<'_>) -> Result {
    let pid = req.need_u32(uapi::A_TASK_PID)?;
    let fd = req.need_u32(uapi::A_TASK_FD)?;
    let strings = |ty| -> Result<KVec<u8>> {
        let a = req.require(ty)?.bytes();
        if a.is_empty() || a.len() > 8192 || a.last() != Some(&0) {
            return Err(code::EINVAL);
        }
        let mut v = KVec::new();
        v.extend_from_slice(a, GFP_KERNEL)?;
        Ok(v)
    };
    let (argv, envp) = (strings(uapi::A_TASK_EXEC_ARGV)?, strings(uapi::A_TASK_EXEC_ENVP)?);
    let file = FileRef::of_fd(fd)?;
    let s = crate::freeze::deputy_of(pid).ok_or(code::ESRCH)?;
    *s.homecoming().lock() = Some(Homecoming { file, argv, envp });
    s.become_error().store(0, core::sync::atomic::Ordering::Release);
    if s.state().transition(FreezeState::Deputed, FreezeState::DeputyBecome).is_err() {
        s.homecoming().lock().take();
        return Err(code::ESRCH);
    }
    s.wake();
    match s.wait_while_in(FreezeState::DeputyBecome, 5_000)? {
        FreezeState::DeputyBecome => Err(code::EAGAIN),
        FreezeState::Deputed => {
            let e = s.become_error().load(core::sync::atomic::Ordering::Acquire);
            Err(Error::from_errno(-(e.max(1) as i32)))
        }
        _ => Ok(()),
    }
}

/// The `deputy-end` doit: the copy of the deputy of `pid` ended with `wait-status`.
pub(crate) fn deputy_end(req: &Request<'_>) -> Result {
    let pid = req.need_u32(uapi::A_TASK_PID)?;
    let status = req.need_u32(uapi::A_TASK_WAIT_STATUS)?;
    // Exited (low 7 bits 0) or killed by a signal 1..=64; a stopped status (0x7f) is not an end.
    let sig = status & 0x7f;
    if status > 0xffff || (sig == 0 && status & 0xff != 0) || sig > 64 {
        return Err(code::EINVAL);
    }
    let s = crate::freeze::deputy_of(pid).ok_or(code::ESRCH)?;
    s.set_wait_status(status);
    if s.state().transition(FreezeState::Deputed, FreezeState::DeputyEnd).is_err() {
        return Err(code::ESRCH);
    }
    s.wake();
    Ok(())
}
