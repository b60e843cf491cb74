// SPDX-License-Identifier: GPL-2.0
//! Freeze a task at a clean user-mode boundary, dump it, and keep it parked until the
//! controller says thaw (the migration failed) or commit (it runs elsewhere now).
//!
//! How a task parks itself (no exported kernel function can stop another task for us):
//! 1. `freeze` queues `park` with TWA_SIGNAL: it wakes an interruptible sleeper (its syscall
//!    returns -ERESTART*) and runs from get_signal() on the way back to user mode.
//! 2. `park` runs as the task: it dumps itself (applying the syscall-restart fix-up the
//!    kernel would apply next, see thread.rs), then sleeps (killable) until thaw, commit,
//!    SIGKILL or the timeout. Thaw and timeout just return: the task carries on unchanged,
//!    its interrupted syscall restarted by the kernel as after any signal without handler.
//!
//! (A two-stage scheme, a first work queueing a TWA_RESUME second one to run after the
//! fix-up, does not work: task_work_run() keeps running works queued while it runs.)
//!
//! Lifetime: each queued work owns one `Arc` reference and one module reference
//! (task_work_cancel is not exported, so the module must stay until the work has run).

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use kernel::bindings;
use kernel::error::code;
use kernel::prelude::*;
use kernel::sync::Arc;

use kernel::types::Opaque;

use crate::glue::{self, TaskFacts, Work};
use crate::image::Image;
use crate::mm::{MmImage, MmRef};
use crate::netlink::{doit_result, require_sys_admin, Reply, Request};
use crate::thread::ThreadImage;
use crate::uapi_gen as uapi;
use crate::registry::Registry;
use crate::waitq::WaitQueue;

const DEFAULT_TIMEOUT_MS: u32 = 30_000;
const DEFAULT_HOLD_MS: u32 = 600_000;
const MAX_TIMEOUT_MS: u32 = 3_600_000;

// Session states. QUEUED -> PARKED -> THAW|COMMIT -> DONE; QUEUED -> CANCELLED|FAILED;
// PARKED -> HANDED -> COMMIT (lazy mode).
const QUEUED: u32 = 0;
const PARKED: u32 = 1;
const THAW: u32 = 2;
const COMMIT: u32 = 3;
const DONE: u32 = 4;
const CANCELLED: u32 = 5;
const FAILED: u32 = 6;
/// Lazy mode: runs elsewhere, parked as the page server; never thawed again.
const HANDED: u32 = 7;

pub(crate) struct FreezeSession {
    id: u32,
    pid: i32,
    /// How long the task may stay parked without a decision.
    hold_ms: u32,
    state: AtomicU32,
    /// Written by `park` before it sets PARKED (release); taken by the freeze doit after it
    /// sees PARKED (acquire). Nobody else touches it, so no lock is needed.
    image: UnsafeCell<Option<KBox<Image>>>,
    wq: WaitQueue,
    work: Opaque<Work>,
}

// SAFETY: the state is atomic, `image` follows the handoff protocol documented on the
// field, and the wait queue and works are kernel objects with their own locking.
unsafe impl Send for FreezeSession {}
// SAFETY: see `Send`.
unsafe impl Sync for FreezeSession {}

impl FreezeSession {
    fn wake(&self) {
        self.wq.wake_all();
    }

    /// Sleep (killable) until the state leaves `from`, at most `ms`. Returns the state then,
    /// or Err(EINTR) on a fatal signal.
    fn wait_while(&self, from: u32, ms: u32) -> Result<u32> {
        self.wq.wait_killable(&|| self.state.load(Ordering::Acquire) != from, ms)?;
        Ok(self.state.load(Ordering::Acquire))
    }

    fn new(id: u32, pid: i32, hold_ms: u32) -> Result<Arc<Self>> {
        let s = Arc::new(
            FreezeSession {
                id,
                pid,
                hold_ms,
                state: AtomicU32::new(QUEUED),
                image: UnsafeCell::new(None),
                wq: WaitQueue::uninit(),
                work: Opaque::uninit(),
            },
            GFP_KERNEL,
        )?;
        // SAFETY: the Arc's contents never move; nobody else has the session yet.
        unsafe { s.wq.init() };
        Ok(s)
    }
}

/// Frozen sessions. `REGISTRY` points at the module's table from init on; it is never
/// cleared, because nothing can use it after exit: the family is unregistered first (no doit
/// runs) and pending works pin the module.
pub(crate) type Sessions = Registry<FreezeSession>;

static REGISTRY: AtomicPtr<Sessions> = AtomicPtr::new(core::ptr::null_mut());
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

pub(crate) fn new_registry() -> Result<Pin<KBox<Sessions>>> {
    let r = KBox::pin_init(Sessions::new(), GFP_KERNEL)?;
    REGISTRY.store((&*r as *const Sessions).cast_mut(), Ordering::Release);
    Ok(r)
}

fn sessions() -> &'static Sessions {
    // SAFETY: non-null between module init and exit, and only doits and parked works (both
    // impossible outside that window, see `REGISTRY`) call this.
    unsafe { &*REGISTRY.load(Ordering::Acquire) }
}

/// A task reference, dropped with put_task_struct.
struct TaskRef(*mut glue::Task);

impl TaskRef {
    fn find(pid: i32) -> Option<Self> {
        // SAFETY: looks the pid up in the caller's pid namespace and takes a reference.
        let t = unsafe { glue::migr_get_task(pid) };
        (!t.is_null()).then(|| TaskRef(t))
    }

    fn facts(&self) -> TaskFacts {
        let mut f = TaskFacts::default();
        // SAFETY: we hold a reference on the task.
        unsafe { glue::migr_task_facts(self.0, &mut f) };
        f
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: the reference was taken in `find`.
        unsafe { glue::migr_put_task(self.0) };
    }
}

/// Why `t` cannot be frozen, if it cannot.
fn refusal(t: &TaskRef) -> Result<Option<(u32, u64)>> {
    let f = t.facts();
    let mut me = TaskFacts::default();
    // SAFETY: current is always valid.
    unsafe { glue::migr_task_facts(glue::migr_current(), &mut me) };
    let simple = if f.kernel_thread != 0 {
        Some(uapi::REFUSAL_KERNEL_THREAD)
    } else if f.init != 0 {
        Some(uapi::REFUSAL_INIT)
    } else if f.pid == me.pid {
        Some(uapi::REFUSAL_SELF)
    } else if f.exiting != 0 {
        Some(uapi::REFUSAL_EXITING)
    } else if f.threads > 1 {
        Some(uapi::REFUSAL_MULTI_THREADED)
    } else if f.ptraced != 0 {
        Some(uapi::REFUSAL_PTRACED)
    } else {
        None
    };
    if let Some(r) = simple {
        return Ok(Some((r, 0)));
    }
    let Some(mm) = MmRef::of_task(t.0) else {
        return Ok(Some((uapi::REFUSAL_KERNEL_THREAD, 0)));
    };
    mm.refusal()
}

fn reply_refusal(info: *mut glue::GenlInfo, why: u32, addr: u64) -> Result {
    // SAFETY: `info` is the running doit's; the reply is sent before it returns.
    let mut r = unsafe { Reply::new(info)? };
    r.put_u32(uapi::A_TASK_REFUSAL, why)?;
    r.put_u64(uapi::A_TASK_REFUSAL_ADDR, addr, uapi::A_TASK_PAD)?;
    r.send()
}

fn freeze(info: *mut glue::GenlInfo) -> Result {
    require_sys_admin()?;
    // SAFETY: `info` belongs to the running doit.
    let req = unsafe { Request::new(info) };
    let pid = req.u32(uapi::A_TASK_PID).ok_or(code::EINVAL)?;
    let pid = i32::try_from(pid).map_err(|_| code::EINVAL)?;
    let timeout_ms = req.u32(uapi::A_TASK_TIMEOUT_MS).unwrap_or(DEFAULT_TIMEOUT_MS).clamp(100, MAX_TIMEOUT_MS);
    let hold_ms = req.u32(uapi::A_TASK_HOLD_TIMEOUT_MS).unwrap_or(DEFAULT_HOLD_MS).clamp(100, MAX_TIMEOUT_MS);

    let Some(task) = TaskRef::find(pid) else {
        return reply_refusal(info, uapi::REFUSAL_NO_SUCH_PID, 0);
    };
    if let Some((why, addr)) = refusal(&task)? {
        return reply_refusal(info, why, addr);
    }
    let reg = sessions();
    let session = FreezeSession::new(NEXT_ID.fetch_add(1, Ordering::Relaxed), pid, hold_ms)?;
    match reg.insert(session.clone(), |s| s.pid == pid) {
        Ok(()) => {}
        Err(e) if e == code::EEXIST => return reply_refusal(info, uapi::REFUSAL_ALREADY_FROZEN, 0),
        Err(e) => return Err(e),
    }

    // SAFETY: plain module refcount; paired with the put at the end of the work chain.
    if !unsafe { glue::migr_try_module_get() } {
        reg.remove(|s| s.id == session.id);
        return Err(code::ENODEV);
    }
    let raw = Arc::into_raw(session.clone());
    // SAFETY: `first` lives as long as the reference `raw` that the work now owns; the task
    // is held by `task`.
    let r = unsafe { glue::migr_task_work_add(task.0, (*raw).work.get(), park, true) };
    if r < 0 {
        // SAFETY: the work was not queued, so the reference is still ours.
        drop(unsafe { Arc::from_raw(raw) });
        // SAFETY: paired with the get above.
        unsafe { glue::migr_module_put() };
        reg.remove(|s| s.id == session.id);
        return reply_refusal(info, uapi::REFUSAL_EXITING, 0);
    }
    drop(task);

    let state = match session.wait_while(QUEUED, timeout_ms) {
        Ok(s) => s,
        Err(e) => {
            cancel(&session);
            return Err(e);
        }
    };
    if state == QUEUED {
        if cancel(&session) {
            pr_info!("pid {}: did not reach a user-mode boundary in {} ms\n", pid, timeout_ms);
            return reply_refusal(info, uapi::REFUSAL_FREEZE_TIMEOUT, 0);
        }
    }
    match session.state.load(Ordering::Acquire) {
        PARKED => {}
        FAILED => {
            reg.remove(|s| s.id == session.id);
            return Err(code::EIO);
        }
        _ => return reply_refusal(info, uapi::REFUSAL_EXITING, 0),
    }
    // SAFETY: PARKED was observed with acquire ordering, so `park` has finished writing the
    // image and never touches it again; only this doit takes it.
    let image = unsafe { (*session.image.get()).take() }.ok_or(code::EIO)?;
    let sent = (|| {
        // SAFETY: `info` belongs to the running doit.
        let mut r = unsafe { Reply::with_size(info, image.reply_size())? };
        r.put_u32(uapi::A_TASK_SESSION, session.id)?;
        r.put_u32(uapi::A_TASK_FD, install_hold(&session)?)?;
        image.put(&mut r)?;
        r.send()
    })();
    if let Err(e) = sent {
        pr_warn!("pid {}: image reply failed ({:?}); thawing\n", pid, e);
        decide(&session, THAW);
        return Err(e);
    }
    pr_info!("pid {} frozen (session {}, {} mappings)\n", pid, session.id, image.mm.vmas.len());
    Ok(())
}

/// Give up a freeze that has not parked yet. False if the task parked meanwhile.
fn cancel(s: &FreezeSession) -> bool {
    if s.state.compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        sessions().remove(|x| x.id == s.id);
        return true;
    }
    if s.state.load(Ordering::Acquire) == PARKED {
        decide(s, THAW);
    }
    false
}

/// Move a parked session to THAW or COMMIT and wake the task. False if it was not parked.
fn decide(s: &FreezeSession, to: u32) -> bool {
    let ok = s.state.compare_exchange(PARKED, to, Ordering::AcqRel, Ordering::Acquire).is_ok();
    s.wake();
    ok
}

/// End of a work chain: drop the session reference and the module reference.
fn chain_end(s: Arc<FreezeSession>) {
    drop(s);
    // SAFETY: paired with the get in `freeze`. The few instructions left after this put
    // run while the module is about to be removed only if rmmod races with the very end
    // of a work, which needs a module refcount of zero *and* rmmod's synchronize_rcu.
    unsafe { glue::migr_module_put() };
}

/// Recover the session of a work from the pointer to its `work` field.
///
/// # Safety
/// `work` must be the `work` field of a session whose reference was handed to this work by
/// `Arc::into_raw`.
unsafe fn session_of(work: *mut Work) -> Arc<FreezeSession> {
    let off = core::mem::offset_of!(FreezeSession, work);
    // SAFETY: per the contract, subtracting the field offset yields the pointer that
    // `Arc::into_raw` returned.
    unsafe { Arc::from_raw(work.cast::<u8>().sub(off).cast::<FreezeSession>()) }
}

unsafe extern "C" fn park(work: *mut Work) {
    // SAFETY: queued by `freeze` with `work` and a reference from `Arc::into_raw`.
    let s = unsafe { session_of(work) };
    // SAFETY: no preconditions.
    if s.state.load(Ordering::Acquire) != QUEUED || unsafe { glue::migr_current_exiting() } {
        return chain_end(s);
    }
    let image = (|| -> Result<KBox<Image>> {
        let thread = ThreadImage::capture()?;
        let mm = MmRef::of_current().ok_or(code::EINVAL)?;
        let mm = MmImage::capture(&mm)?;
        Ok(KBox::new(Image { pid: s.pid as u32, thread, mm }, GFP_KERNEL)?)
    })();
    let image = match image {
        Ok(i) => i,
        Err(e) => {
            pr_warn!("pid {}: dump failed ({:?}); carrying on\n", s.pid, e);
            if s.state.compare_exchange(QUEUED, FAILED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                s.wake();
            }
            return chain_end(s);
        }
    };
    // SAFETY: state is still QUEUED, so the doit does not read the image yet (it reads only
    // after PARKED is published below).
    unsafe { *s.image.get() = Some(image) };
    if s.state.compare_exchange(QUEUED, PARKED, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return chain_end(s); // cancelled meanwhile
    }
    s.wake();

    // Parked: sleep killable (a frozen task must stay killable) until a decision.
    let mut outcome = s.wait_while(PARKED, s.hold_ms);
    if outcome == Ok(HANDED) {
        // Serving pages for its copy elsewhere: wait for commit; never come back.
        outcome = s.wait_while(HANDED, s.hold_ms);
        if outcome == Ok(HANDED) {
            pr_warn!("pid {}: handed over, no commit within {} ms; ending the original\n", s.pid, s.hold_ms);
            let _ = s.state.compare_exchange(HANDED, COMMIT, Ordering::AcqRel, Ordering::Acquire);
            outcome = Ok(COMMIT);
        }
    }
    let state = match outcome {
        Ok(PARKED) => {
            if decide(&s, THAW) || s.state.load(Ordering::Acquire) == THAW {
                pr_warn!("pid {}: no thaw or commit within {} ms; resuming\n", s.pid, s.hold_ms);
            }
            s.state.load(Ordering::Acquire)
        }
        Ok(st) => st,
        Err(_) => {
            // SIGKILL while parked: it dies on its way out, as it would have anyway.
            let _ = s.state.compare_exchange(PARKED, THAW, Ordering::AcqRel, Ordering::Acquire);
            THAW
        }
    };
    if state == COMMIT {
        // It runs on another node now; end the original here.
        // SAFETY: signals current; no preconditions.
        unsafe { glue::migr_kill_current() };
    }
    s.state.store(DONE, Ordering::Release);
    s.wake();
    sessions().remove(|x| x.id == s.id);
    chain_end(s);
}

/// Give the caller a descriptor whose last close thaws the task if it is still parked: a
/// controller that dies or forgets never leaves a task frozen until the timeout.
fn install_hold(s: &Arc<FreezeSession>) -> Result<u32> {
    let raw = Arc::into_raw(s.clone());
    // SAFETY: the file takes over the reference `raw`; `migr_freeze_release` gives it back.
    let fd = unsafe { glue::migr_freeze_fd_install(raw.cast()) };
    if fd < 0 {
        // SAFETY: no file was created; the reference is still ours.
        drop(unsafe { Arc::from_raw(raw) });
        return Err(Error::from_errno(fd));
    }
    Ok(fd as u32)
}

#[no_mangle]
pub(crate) unsafe extern "C" fn migr_freeze_release(session: *mut c_void) {
    // SAFETY: the last close of the hold file gives back the reference of `install_hold`.
    let s = unsafe { Arc::from_raw(session.cast::<FreezeSession>().cast_const()) };
    if decide(&s, THAW) {
        pr_warn!("pid {}: controller let go without commit; thawed\n", s.pid);
    } else if s.state.compare_exchange(HANDED, COMMIT, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        s.wake();
        pr_warn!("pid {}: controller gone after hand-over; the original ends\n", s.pid);
    }
}

fn thaw_or_commit(info: *mut glue::GenlInfo, to: u32) -> Result {
    require_sys_admin()?;
    // SAFETY: `info` belongs to the running doit.
    let req = unsafe { Request::new(info) };
    let id = req.u32(uapi::A_TASK_SESSION).ok_or(code::EINVAL)?;
    let s = sessions().find(|s| s.id == id).ok_or(code::ENOENT)?;
    let from = if to == HANDED { PARKED } else { s.state.load(Ordering::Acquire) };
    let ok = (from == PARKED || (from == HANDED && to == COMMIT))
        && s.state.compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire).is_ok();
    s.wake();
    if !ok {
        return Err(code::EINVAL); // not parked (already decided or timed out)
    }
    if to == HANDED {
        pr_info!("pid {} handed over: parked as the page server\n", s.pid);
        return Ok(());
    }
    // Wait (briefly) until the task has acted, so that "committed" means the original is
    // gone and "thawed" means it runs again.
    let _ = s.wait_while(to, 5_000);
    pr_info!("pid {} {}\n", s.pid, if to == COMMIT { "committed: original ends" } else { "thawed" });
    Ok(())
}

#[no_mangle]
pub(crate) extern "C" fn migr_nl_freeze_doit(_skb: *mut bindings::sk_buff, info: *mut glue::GenlInfo) -> c_int {
    doit_result(freeze(info))
}

#[no_mangle]
pub(crate) extern "C" fn migr_nl_thaw_doit(_skb: *mut bindings::sk_buff, info: *mut glue::GenlInfo) -> c_int {
    doit_result(thaw_or_commit(info, THAW))
}

#[no_mangle]
pub(crate) extern "C" fn migr_nl_hand_over_doit(_skb: *mut bindings::sk_buff, info: *mut glue::GenlInfo) -> c_int {
    doit_result(thaw_or_commit(info, HANDED))
}

#[no_mangle]
pub(crate) extern "C" fn migr_nl_commit_doit(_skb: *mut bindings::sk_buff, info: *mut glue::GenlInfo) -> c_int {
    doit_result(thaw_or_commit(info, COMMIT))
}
