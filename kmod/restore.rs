// SPDX-License-Identifier: GPL-2.0
//! Restore on the target node. The daemon hands the image over with the `restore` command
//! and gets a session fd back; then:
//! 1. the daemon starts the stub (a child with the right pid) with that fd; the stub moves
//!    its vdso to the image's address and calls MIGR_IOC_RESTORE;
//! 2. in that ioctl the stub's address space is replaced by the image's layout; the state
//!    becomes LAYOUT_READY (poll says readable) and the stub waits;
//! 3. the daemon writes page contents through /proc/STUB/mem, then calls MIGR_IOC_GO;
//! 4. the stub sets its thread state, queues `resume_work` and returns; the work loads
//!    registers, FPU state and signal mask on the way to user mode: the image runs.
//! Any failure is a negative errno in `state`; a stub that has lost its own memory is killed.

use core::ffi::{c_long, c_uint, c_ulong, c_void};
use core::sync::atomic::{AtomicI32, Ordering};
use kernel::bindings;
use kernel::error::code;
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};
use kernel::types::Opaque;

use crate::glue::{self, WaitQueueHead, Work};
use crate::image::Image;
use crate::netlink::{doit_result, require_sys_admin, Reply, Request};
use crate::pager::{Pager, PagerFile};
use crate::thread::ThreadImage;
use crate::uapi_gen as uapi;
use crate::waitq::WaitQueue;

/// How long the stub waits for the pages (the daemon streams them from the source).
const LAYOUT_WAIT_MS: u32 = 600_000;
/// How long MIGR_IOC_GO waits for the stub to reach user mode.
const GO_WAIT_MS: u32 = 30_000;

const PREPARED: i32 = uapi::RESTORE_STATE_PREPARED as i32;
const BUILDING: i32 = uapi::RESTORE_STATE_BUILDING as i32;
const LAYOUT_READY: i32 = uapi::RESTORE_STATE_LAYOUT_READY as i32;
const GO: i32 = uapi::RESTORE_STATE_GO as i32;
const RUNNING: i32 = uapi::RESTORE_STATE_RUNNING as i32;

const POLLIN: u32 = 0x1;
const POLLERR: u32 = 0x8;

struct RestoreSession {
    image: Image,
    /// Lazy mode: the pager and its file (dropped once the mappings hold the file).
    pager: Option<(Arc<Pager>, PagerFile)>,
    /// A `RESTORE_STATE_*` value, or a negative errno once it failed.
    state: AtomicI32,
    /// ktime (ns) when the image arrived; an interrupted nanosleep is shortened by the time
    /// since then.
    arrived_ns: u64,
    wq: WaitQueue,
    resume: Opaque<Work>,
}

// SAFETY: `image` is immutable after creation, `state` is atomic, the wait queue and work
// are kernel objects with their own locking.
unsafe impl Send for RestoreSession {}
// SAFETY: see `Send`.
unsafe impl Sync for RestoreSession {}

impl RestoreSession {
    fn set(&self, state: i32) {
        self.state.store(state, Ordering::Release);
        self.wq.wake_all();
    }

    fn fail(&self, e: Error) -> Error {
        self.set(e.to_errno());
        e
    }

    /// Sleep (killable) while the state is `from`, at most `ms`. Returns the state after.
    fn wait_while(&self, from: i32, ms: u32) -> Result<i32> {
        self.wq.wait_killable(&|| self.state.load(Ordering::Acquire) != from, ms)?;
        Ok(self.state.load(Ordering::Acquire))
    }
}

fn ktime_ns() -> u64 {
    // SAFETY: no preconditions.
    unsafe { bindings::ktime_get() as u64 }
}

fn restore(info: *mut glue::GenlInfo) -> Result {
    require_sys_admin()?;
    // SAFETY: `info` belongs to the running doit.
    let req = unsafe { Request::new(info) };
    let image = Image::parse(&req)?;
    let pid = image.pid;
    let pager = match req.u32(uapi::A_TASK_MODE).unwrap_or(uapi::MODE_EAGER) {
        uapi::MODE_LAZY => Some(Pager::new(pid)?),
        _ => None,
    };
    let s = Arc::new(
        RestoreSession {
            image,
            pager,
            state: AtomicI32::new(PREPARED),
            arrived_ns: ktime_ns(),
            wq: WaitQueue::uninit(),
            resume: Opaque::uninit(),
        },
        GFP_KERNEL,
    )?;
    // SAFETY: the Arc's contents never move; nobody else has the session yet.
    unsafe { s.wq.init() };
    let install = |control: bool| -> Result<u32> {
        let raw = Arc::into_raw(s.clone());
        // SAFETY: the file takes over the reference `raw`; it is given back in `release`.
        let fd = unsafe { glue::migr_restore_fd_install(raw.cast(), control) };
        if fd < 0 {
            // SAFETY: no file was created, the reference is still ours.
            drop(unsafe { Arc::from_raw(raw) });
            return Err(Error::from_errno(fd));
        }
        Ok(fd as u32)
    };
    // If the reply fails after this, the descriptors stay with the caller, which closes
    // them when it exits: the files go and the session with them.
    let fd = install(true)?;
    let stub_fd = install(false)?;
    // SAFETY: `info` belongs to the running doit.
    let mut r = unsafe { Reply::new(info)? };
    r.put_u32(uapi::A_TASK_FD, fd)?;
    r.put_u32(uapi::A_TASK_STUB_FD, stub_fd)?;
    pr_info!("restore session for pid {} prepared (fd {})\n", pid, fd);
    r.send()
}

#[no_mangle]
pub(crate) extern "C" fn migr_nl_restore_doit(_skb: *mut bindings::sk_buff, info: *mut glue::GenlInfo) -> core::ffi::c_int {
    doit_result(restore(info))
}

/// MIGR_IOC_RESTORE, in the stub.
fn become_image(s: ArcBorrow<'_, RestoreSession>, own_fd: u32) -> Result {
    if s.state.compare_exchange(PREPARED, BUILDING, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return Err(code::EBUSY);
    }
    if let Err(e) = s.image.mm.rebuild(s.pager.as_ref().map(|(_, f)| f.0)) {
        // The stub's own memory may be gone already: it must not return to it.
        // SAFETY: signals current; no preconditions.
        unsafe { glue::migr_kill_current() };
        return Err(s.fail(e));
    }
    if let Some((p, _)) = s.pager.as_ref() {
        p.watch();
    }
    s.set(LAYOUT_READY);
    match s.wait_while(LAYOUT_READY, LAYOUT_WAIT_MS) {
        Ok(GO) => {}
        Ok(LAYOUT_READY) => {
            pr_warn!("restore of pid {}: no pages within {} ms; giving up\n", s.image.pid, LAYOUT_WAIT_MS);
            // SAFETY: as above.
            unsafe { glue::migr_kill_current() };
            return Err(s.fail(code::EAGAIN));
        }
        Ok(_) | Err(_) => {
            // Aborted (controller gone) or killed.
            // SAFETY: as above.
            unsafe { glue::migr_kill_current() };
            let st = s.state.load(Ordering::Acquire);
            return Err(s.fail(if st < 0 { Error::from_errno(st) } else { code::EINTR }));
        }
    }
    if s.pager.is_some() {
        s.image.mm.touch_lazy();
    }
    s.image.thread.restore_signals_and_ids();
    // SAFETY: no preconditions.
    if !unsafe { glue::migr_try_module_get() } {
        // SAFETY: as above.
        unsafe { glue::migr_kill_current() };
        return Err(s.fail(code::ENODEV));
    }
    let raw = Arc::into_raw(Arc::<RestoreSession>::from(s));
    // SAFETY: `resume` lives as long as the reference the work now owns.
    let r = unsafe { glue::migr_task_work_add(glue::migr_current(), (*raw).resume.get(), resume_work, false) };
    if r < 0 {
        // SAFETY: not queued: the reference and module count are still ours.
        unsafe {
            drop(Arc::from_raw(raw));
            glue::migr_module_put();
            glue::migr_kill_current();
        }
        return Err(s.fail(Error::from_errno(r)));
    }
    // The image must not inherit the session fd.
    // SAFETY: closing a descriptor of current; the ioctl holds its own file reference.
    unsafe { glue::migr_close_fd(own_fd) };
    Ok(())
}

/// Last step on the way to user mode: registers, FPU, signal mask.
unsafe extern "C" fn resume_work(work: *mut Work) {
    let off = core::mem::offset_of!(RestoreSession, resume);
    // SAFETY: queued by `become_image` with a reference from `Arc::into_raw`; subtracting the
    // field offset gives that pointer back.
    let s = unsafe { Arc::from_raw(work.cast::<u8>().sub(off).cast::<RestoreSession>()) };
    let t = &s.image.thread;
    let mut regs = t.regs;
    // A stub killed on its way out runs this from do_exit: nothing to load then.
    // SAFETY: no preconditions.
    let mut res = if unsafe { glue::migr_current_exiting() } { Err(code::EINTR) } else { Ok(()) };
    if res.is_ok() && t.state.restart == uapi::RESTART_NANOSLEEP {
        let spent = ktime_ns().saturating_sub(s.arrived_ns);
        res = ThreadImage::finish_restart(&mut regs, t.state.restart_remaining_ns.saturating_sub(spent));
    }
    let res = res.and_then(|_| ThreadImage::restore_cpu(&regs, &t.xstate, t.state.sigmask));
    match res {
        Ok(()) => {
            pr_info!("pid {} restored and running\n", s.image.pid);
            s.set(RUNNING);
        }
        Err(e) => {
            pr_warn!("restore of pid {}: loading registers failed ({:?})\n", s.image.pid, e);
            // SAFETY: signals current; no preconditions.
            unsafe { glue::migr_kill_current() };
            s.set(e.to_errno());
        }
    }
    drop(s);
    // SAFETY: paired with the get in `become_image`.
    unsafe { glue::migr_module_put() };
}

/// MIGR_IOC_GO, by the daemon once every page is written.
fn go(s: &RestoreSession) -> Result {
    if s.state.compare_exchange(LAYOUT_READY, GO, Ordering::AcqRel, Ordering::Acquire).is_err() {
        let st = s.state.load(Ordering::Acquire);
        return Err(if st < 0 { Error::from_errno(st) } else { code::EINVAL });
    }
    s.set(GO);
    match s.wait_while(GO, GO_WAIT_MS)? {
        RUNNING => Ok(()),
        st if st < 0 => Err(Error::from_errno(st)),
        _ => Err(code::EAGAIN),
    }
}

/// # Safety
/// `session` must be the private data of a restore file (a reference from `restore`).
unsafe fn borrow<'a>(session: *mut c_void) -> ArcBorrow<'a, RestoreSession> {
    // SAFETY: per the contract the pointer came from `Arc::into_raw` and stays valid until
    // `migr_restore_release`, which the VFS calls only after every ioctl/poll returned.
    unsafe { ArcBorrow::from_raw(session.cast::<RestoreSession>().cast_const()) }
}

#[no_mangle]
pub(crate) unsafe extern "C" fn migr_restore_ioctl(session: *mut c_void, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: called by the glue with the file's private data.
    let s = unsafe { borrow(session) };
    let r = match cmd {
        uapi::IOC_RESTORE => u32::try_from(arg).map_err(|_| code::EBADF).and_then(|fd| become_image(s, fd)),
        uapi::IOC_GO => go(&s),
        uapi::IOC_STATUS => return c_long::from(s.state.load(Ordering::Acquire)),
        _ => Err(code::ENOTTY),
    };
    match r {
        Ok(()) => 0,
        Err(e) => c_long::from(e.to_errno()),
    }
}

#[no_mangle]
pub(crate) unsafe extern "C" fn migr_restore_poll(session: *mut c_void) -> c_uint {
    // SAFETY: called by the glue with the file's private data.
    let s = unsafe { borrow(session) };
    match s.state.load(Ordering::Acquire) {
        st if st < 0 => POLLERR | POLLIN,
        st if st >= LAYOUT_READY => POLLIN,
        _ => 0,
    }
}

#[no_mangle]
pub(crate) unsafe extern "C" fn migr_restore_waitqueue(session: *mut c_void) -> *mut WaitQueueHead {
    // SAFETY: called by the glue with the file's private data.
    unsafe { borrow(session) }.wq.raw()
}

#[no_mangle]
pub(crate) unsafe extern "C" fn migr_restore_release(session: *mut c_void, control: bool) {
    // SAFETY: the last close of a file gives back the reference taken in `restore`.
    let s = unsafe { Arc::from_raw(session.cast::<RestoreSession>().cast_const()) };
    if control {
        // The daemon is gone (or gave up): a stub still waiting must not wait for pages
        // that will never come.
        let st = s.state.load(Ordering::Acquire);
        if (PREPARED..RUNNING).contains(&st) && st != GO {
            pr_warn!("restore of pid {}: controller went away; aborting\n", s.image.pid);
            s.set(-(bindings::ECANCELED as i32));
        }
    }
}
