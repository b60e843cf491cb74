// SPDX-License-Identifier: GPL-2.0
//! Freeze a task at a clean user-mode boundary, dump it, and keep it parked until the
//! controller says thaw (the migration failed) or commit (it runs elsewhere now).
//!
//! How a task parks itself (no exported kernel function can stop another task for us):
//! 1. `freeze` queues the session's task work with TWA_SIGNAL: it wakes an interruptible
//!    sleeper (its syscall returns -ERESTART*) and runs from get_signal() on the way back
//!    to user mode.
//! 2. `park` runs as the task: it dumps itself (applying the syscall-restart fix-up the
//!    kernel would apply next, see thread.rs), then sleeps (killable) until thaw, commit,
//!    SIGKILL or the timeout. Thaw and timeout just return: the task carries on unchanged,
//!    its interrupted syscall restarted by the kernel as after any signal without handler.
//!
//! (A two-stage scheme, a first work queueing a TWA_RESUME second one to run after the
//! fix-up, does not work: task_work_run() keeps running works queued while it runs.)
//!
//! Lifetime: the queued work owns one `Arc` reference and one module reference
//! (bind::task_work); the hold file one `Arc` reference (bind::file).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kernel::error::code;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

use crate::bind::atomic::{state_enum, AtomicEnum};
use crate::bind::file::{install_frozen_fd, ProcMemProof, SeccompListener};
use crate::bind::global::{Global, GlobalOwner};
use crate::bind::netlink::Request;
use crate::bind::task::{self, find_task};
use crate::bind::task_work::{self, impl_has_task_work, Notify, TaskWork, TaskWorkRun};
use crate::bind::waitq::WaitQueue;
use crate::image::Image;
use crate::mm::{MmImage, MmRef};
use crate::registry::Registry;
use crate::thread::ThreadImage;
use crate::uapi_gen::{self as uapi, Refusal};

const DEFAULT_TIMEOUT_MS: u32 = 30_000;
const DEFAULT_HOLD_MS: u32 = 600_000;
const MAX_TIMEOUT_MS: u32 = 3_600_000;

state_enum! {
    /// Queued -> Parked -> Thaw|Commit -> Done; Queued -> Cancelled|Failed|ProofStale|Confined;
    /// Parked -> Handed -> Commit (lazy mode); Parked|Handed -> Deputy -> Deputed ->
    /// DeputyEnd -> Done (commit with deputy, kmod/deputy.rs).
    pub(crate) enum FreezeState {
        /// The work is queued; the task has not reached it yet.
        Queued = 0,
        /// Dumped and sleeping; the image is ready for the doit.
        Parked = 1,
        Thaw = 2,
        Commit = 3,
        /// The task acted on the decision.
        Done = 4,
        /// The freeze gave up before the task parked.
        Cancelled = 5,
        /// The dump failed; the task carried on.
        Failed = 6,
        /// Lazy mode: runs elsewhere, parked as the page server; never thawed again.
        Handed = 7,
        /// The task's mm was no longer the proof's when it came to park (it exec'd): it
        /// carried on untouched.
        ProofStale = 8,
        /// The task had confined itself (kmod/confinement.rs) by the time it came to park:
        /// it carried on untouched; `late_refusal` says why.
        Confined = 9,
        /// Committed with deputy: the task has not become the deputy yet.
        Deputy = 10,
        /// The task is the deputy of its copy (kmod/deputy.rs).
        Deputed = 11,
        /// deputy-end: the deputy ends as `wait_status` says.
        DeputyEnd = 12,
        /// deputy-become: the deputy is to become the restore stub of its process coming
        /// home (`homecoming`); back to Deputed if it cannot.
        DeputyBecome = 13,
    }
}

#[pin_data]
pub(crate) struct FreezeSession {
    id: u32,
    pid: i32,
    /// How long the task may stay parked without a decision (not bounded once handed over).
    hold_ms: u32,
    /// The requester's /proc/PID/mem, checked again when the task parks (None: the caller,
    /// with CAP_SYS_ADMIN, gave no proof and answers for the task itself).
    proof: Option<ProcMemProof>,
    /// The listener of migr's own seccomp filter, if the requester showed one: checked again
    /// when the task parks (kmod/confinement.rs).
    migr_filter: Option<SeccompListener>,
    state: AtomicEnum<FreezeState>,
    /// With Confined: the refusal (high 32 bits) and its refusal-addr (low 32 bits), stored
    /// by `park` before it sets the state.
    late_refusal: AtomicU64,
    /// With DeputyEnd: how the copy ended (wait() encoding), stored before the state.
    wait_status: AtomicU32,
    /// With Deputed: a stop the deputy is to make (its signal), 0 if none.
    stop_signal: AtomicU32,
    /// With DeputyBecome: what the deputy is to become (set by the doit before the state).
    #[pin]
    homecoming: Mutex<Option<crate::deputy::Homecoming>>,
    /// Why the last deputy-become failed (an errno), 0 if it did not.
    become_error: AtomicU32,
    /// Written by `park` before it sets Parked; taken by the freeze doit after it sees
    /// Parked. The mutex only makes the handoff safe; it is never contended.
    #[pin]
    image: Mutex<Option<KBox<Image>>>,
    #[pin]
    wq: WaitQueue,
    work: TaskWork,
}

impl_has_task_work!(FreezeSession, work);

impl FreezeSession {
    fn new(
        id: u32,
        pid: i32,
        hold_ms: u32,
        proof: Option<ProcMemProof>,
        migr_filter: Option<SeccompListener>,
    ) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(FreezeSession {
                id,
                pid,
                hold_ms,
                proof,
                migr_filter,
                state: AtomicEnum::new(FreezeState::Queued),
                late_refusal: AtomicU64::new(0),
                wait_status: AtomicU32::new(0),
                stop_signal: AtomicU32::new(0),
                homecoming <- kernel::new_mutex!(None),
                become_error: AtomicU32::new(0),
                image <- kernel::new_mutex!(None),
                wq <- WaitQueue::new(),
                work: TaskWork::new(),
            }),
            GFP_KERNEL,
        )
    }

    pub(crate) fn wake(&self) {
        self.wq.wake_all();
    }

    /// The task's pid, as the freeze's caller named it (the initial pid namespace).
    pub(crate) fn pid(&self) -> i32 {
        self.pid
    }

    pub(crate) fn state(&self) -> &AtomicEnum<FreezeState> {
        &self.state
    }

    pub(crate) fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }

    pub(crate) fn wait_status(&self) -> u32 {
        self.wait_status.load(Ordering::Acquire)
    }

    pub(crate) fn set_wait_status(&self, status: u32) {
        self.wait_status.store(status, Ordering::Release);
    }

    pub(crate) fn request_stop(&self, sig: u32) {
        self.stop_signal.store(sig, Ordering::Release);
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.stop_signal.load(Ordering::Acquire) != 0
    }

    pub(crate) fn homecoming(&self) -> &Mutex<Option<crate::deputy::Homecoming>> {
        &self.homecoming
    }

    pub(crate) fn become_error(&self) -> &AtomicU32 {
        &self.become_error
    }

    /// Sleep (killable) while the state is `from`, at most `ms`: the state then.
    pub(crate) fn wait_while_in(&self, from: FreezeState, ms: u32) -> Result<FreezeState> {
        self.wait_while(from, ms)
    }

    /// The stop requested, if any (0 if none), taken.
    pub(crate) fn take_stop_signal(&self) -> u32 {
        self.stop_signal.swap(0, Ordering::AcqRel)
    }

    fn set(&self, to: FreezeState) {
        self.state.store(to);
        self.wake();
    }

    /// Sleep (killable) until the state leaves `from`, at most `ms`. Returns the state then,
    /// or Err(EINTR) on a fatal signal.
    fn wait_while(&self, from: FreezeState, ms: u32) -> Result<FreezeState> {
        self.wq.wait_killable(&|| self.state.load() != from, ms)?;
        Ok(self.state.load())
    }

    /// Move a parked session to `to` and wake the task. False if it was not parked.
    fn decide(&self, to: FreezeState) -> bool {
        let ok = self.state.transition(FreezeState::Parked, to).is_ok();
        self.wake();
        ok
    }
}

/// Frozen sessions, from module init to exit.
pub(crate) type Sessions = Registry<FreezeSession>;
static SESSIONS: Global<Sessions> = Global::new();
static NEXT_ID: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(1);

pub(crate) fn init_registry() -> Result<GlobalOwner<Sessions>> {
    Ok(SESSIONS.set(KBox::pin_init(Sessions::new(), GFP_KERNEL)?))
}

/// The session of the deputy of `pid` (state Deputed), if there is one.
pub(crate) fn deputy_of(pid: u32) -> Option<Arc<FreezeSession>> {
    SESSIONS.get().ok()?.find(|s| s.pid as u32 == pid && s.state.load() == FreezeState::Deputed)
}

fn forget(id: u32) {
    if let Ok(reg) = SESSIONS.get() {
        reg.remove(|s| s.id == id);
    }
}

/// Why `t` cannot be frozen, if it cannot: (refusal, address).
fn refusal(t: &kernel::task::Task, migr_filter: Option<&SeccompListener>) -> Result<Option<(Refusal, u64)>> {
    let f = task::facts(t);
    let me = task::facts(kernel::current!());
    let simple = if f.kernel_thread {
        Some(Refusal::KernelThread)
    } else if f.pid == 1 || f.global_init {
        Some(Refusal::Init)
    } else if f.pid == me.pid {
        Some(Refusal::Self_)
    } else if f.exiting {
        Some(Refusal::Exiting)
    } else if f.threads > 1 {
        Some(Refusal::MultiThreaded)
    } else if f.ptraced {
        Some(Refusal::Ptraced)
    } else {
        None
    };
    if let Some(r) = simple {
        return Ok(Some((r, 0)));
    }
    if let Some(r) = crate::confinement::refusal(t, migr_filter) {
        return Ok(Some(r));
    }
    let Some(mm) = MmRef::of_task(t) else {
        return Ok(Some((Refusal::KernelThread, 0)));
    };
    if crate::pager::serves(&mm) {
        return Ok(Some((Refusal::LazyPagesPending, 0)));
    }
    crate::mm::refusal(&mm)
}

fn reply_refusal(req: &Request<'_>, why: Refusal, addr: u64) -> Result {
    let mut r = req.reply(0)?;
    r.put_u32(uapi::A_TASK_REFUSAL, why as u32)?;
    r.put_u64(uapi::A_TASK_REFUSAL_ADDR, addr, uapi::A_TASK_PAD)?;
    r.send()
}

/// The `freeze` doit.
pub(crate) fn freeze(req: &Request<'_>) -> Result {
    let pid_attr = req.require(uapi::A_TASK_PID)?;
    let pid = i32::try_from(pid_attr.u32()).map_err(|_| req.bad(pid_attr))?;
    let timeout_ms = req.u32(uapi::A_TASK_TIMEOUT_MS).unwrap_or(DEFAULT_TIMEOUT_MS).clamp(100, MAX_TIMEOUT_MS);
    let hold_ms = req.u32(uapi::A_TASK_HOLD_TIMEOUT_MS).unwrap_or(DEFAULT_HOLD_MS).clamp(100, MAX_TIMEOUT_MS);

    // The requester's proof that it may ptrace the task, bound to the task's memory itself
    // (a pid number or a path names different tasks in different pid namespaces).
    let proof = match req.get(uapi::A_TASK_PROOF_FD) {
        None => None,
        Some(a) => match ProcMemProof::of_fd(a.u32()) {
            Ok(p) => Some(p),
            Err(e) if e == code::EINVAL => return reply_refusal(req, Refusal::ProofMismatch, 0),
            Err(_) => return Err(req.bad(a)),
        },
    };

    // migr's own seccomp filter, shown by its listener (see kmod/confinement.rs).
    let migr_filter = match req.get(uapi::A_TASK_SECCOMP_LISTENER_FD) {
        None => None,
        Some(a) => Some(SeccompListener::of_fd(a.u32()).map_err(|_| req.bad(a))?),
    };

    let Some(task) = find_task(pid) else {
        return reply_refusal(req, Refusal::NoSuchPid, 0);
    };
    // Checked first: a requester who may not ptrace the task learns nothing more about it.
    if let Some(p) = &proof {
        if !MmRef::of_task(&task).is_some_and(|mm| p.is_of(&mm)) {
            pr_info!("pid {}: the requester's /proc/PID/mem is not its memory; refused\n", pid);
            return reply_refusal(req, Refusal::ProofMismatch, 0);
        }
    }
    if let Some((why, addr)) = refusal(&task, migr_filter.as_ref())? {
        return reply_refusal(req, why, addr);
    }
    let reg = SESSIONS.get()?;
    let id = NEXT_ID.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let session = FreezeSession::new(id, pid, hold_ms, proof, migr_filter)?;
    match reg.insert(session.clone(), |s| s.pid == pid) {
        Ok(()) => {}
        Err(e) if e == code::EEXIST => return reply_refusal(req, Refusal::AlreadyFrozen, 0),
        Err(e) => return Err(e),
    }
    match task_work::queue(&task, session.clone(), Notify::Signal) {
        Ok(()) => {}
        Err(e) if e == code::ESRCH => {
            reg.remove(|s| s.id == session.id);
            return reply_refusal(req, Refusal::Exiting, 0);
        }
        Err(e) => {
            reg.remove(|s| s.id == session.id);
            return Err(e);
        }
    }
    drop(task);

    let state = match session.wait_while(FreezeState::Queued, timeout_ms) {
        Ok(s) => s,
        Err(e) => {
            cancel(&session);
            return Err(e);
        }
    };
    if state == FreezeState::Queued && cancel(&session) {
        pr_info!("pid {}: did not reach a user-mode boundary in {} ms\n", pid, timeout_ms);
        return reply_refusal(req, Refusal::FreezeTimeout, 0);
    }
    match session.state.load() {
        FreezeState::Parked => {}
        FreezeState::Failed => {
            reg.remove(|s| s.id == session.id);
            return Err(code::EIO);
        }
        FreezeState::ProofStale => {
            reg.remove(|s| s.id == session.id);
            return reply_refusal(req, Refusal::ProofMismatch, 0);
        }
        FreezeState::Confined => {
            reg.remove(|s| s.id == session.id);
            let late = session.late_refusal.load(Ordering::Acquire);
            let why = Refusal::from_u32((late >> 32) as u32).unwrap_or(Refusal::Capabilities);
            return reply_refusal(req, why, late & 0xffff_ffff);
        }
        _ => return reply_refusal(req, Refusal::Exiting, 0),
    }
    // Parked was observed (acquire), so `park` has stored the image and never touches it
    // again; only this doit takes it.
    let image = session.image.lock().take().ok_or(code::EIO)?;
    let sent = (|| {
        let mut r = req.reply(image.reply_size())?;
        r.put_u32(uapi::A_TASK_SESSION, session.id)?;
        r.put_u32(uapi::A_TASK_FD, install_frozen_fd(session.clone())?)?;
        image.put(&mut r)?;
        r.send()
    })();
    if let Err(e) = sent {
        pr_warn!("pid {}: image reply failed ({:?}); thawing\n", pid, e);
        session.decide(FreezeState::Thaw);
        return Err(e);
    }
    pr_info!("pid {} frozen (session {}, {} mappings)\n", pid, session.id, image.mm.vmas.len());
    Ok(())
}

/// Give up a freeze that has not parked yet. False if the task parked meanwhile (it is
/// thawed then).
fn cancel(s: &FreezeSession) -> bool {
    if s.state.transition(FreezeState::Queued, FreezeState::Cancelled).is_ok() {
        forget(s.id);
        return true;
    }
    if s.state.load() == FreezeState::Parked {
        s.decide(FreezeState::Thaw);
    }
    false
}

impl TaskWorkRun for FreezeSession {
    fn run(this: Arc<Self>) {
        park(this);
    }
}

/// The task work: runs as the task, from get_signal(). Sleeps while parked.
fn park(s: Arc<FreezeSession>) {
    if s.state.load() != FreezeState::Queued || task::current_exiting() {
        return;
    }
    // The proof was checked against the task's mm when the freeze was asked; an exec since
    // (a set-uid program, say) replaced that mm, and the requester may not ptrace this one.
    if let Some(p) = &s.proof {
        if !MmRef::of_current().is_some_and(|mm| p.is_of(&mm)) {
            pr_info!("pid {}: exec'd since the requester's proof; not frozen\n", s.pid);
            if s.state.transition(FreezeState::Queued, FreezeState::ProofStale).is_ok() {
                s.wake();
            }
            return;
        }
    }
    // Checked when the freeze was asked; the task may have confined itself since.
    if let Some((why, addr)) = crate::confinement::refusal(kernel::current!(), s.migr_filter.as_ref()) {
        pr_info!("pid {}: confined since the freeze was asked ({:?}); not frozen\n", s.pid, why);
        s.late_refusal.store(((why as u64) << 32) | (addr & 0xffff_ffff), Ordering::Release);
        if s.state.transition(FreezeState::Queued, FreezeState::Confined).is_ok() {
            s.wake();
        }
        return;
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
            if s.state.transition(FreezeState::Queued, FreezeState::Failed).is_ok() {
                s.wake();
            }
            return;
        }
    };
    *s.image.lock() = Some(image);
    if s.state.transition(FreezeState::Queued, FreezeState::Parked).is_err() {
        return; // cancelled meanwhile
    }
    s.wake();

    // Parked: sleep killable (a frozen task must stay killable) until a decision.
    let mut outcome = s.wait_while(FreezeState::Parked, s.hold_ms);
    if outcome == Ok(FreezeState::Handed) {
        // Serving pages for its copy elsewhere, for as long as that copy may fault: no time
        // limit (a copy that sleeps for a day still needs its pages). Commit ends it, and so
        // does the last close of the hold file (`release`: the controller is gone).
        outcome = s
            .wq
            .wait_killable_unbounded(&|| s.state.load() != FreezeState::Handed)
            .map(|()| s.state.load());
    }
    let state = match outcome {
        Ok(FreezeState::Parked) => {
            if s.decide(FreezeState::Thaw) || s.state.load() == FreezeState::Thaw {
                pr_warn!("pid {}: no thaw or commit within {} ms; resuming\n", s.pid, s.hold_ms);
            }
            s.state.load()
        }
        Ok(st) => st,
        Err(_) => {
            // SIGKILL while parked: it dies on its way out, as it would have anyway.
            let _ = s.state.transition(FreezeState::Parked, FreezeState::Thaw);
            FreezeState::Thaw
        }
    };
    if state == FreezeState::Commit {
        // It runs on another node now; end the original here.
        task::kill_current();
    } else if state == FreezeState::Deputy {
        // It runs on another node now; the original stays as its deputy until it ends.
        crate::deputy::serve(&s);
    }
    s.set(FreezeState::Done);
    forget(s.id);
}

/// The last close of the hold file: a controller that dies or forgets never leaves a task
/// frozen until the timeout.
pub(crate) fn release(s: Arc<FreezeSession>) {
    if s.decide(FreezeState::Thaw) {
        pr_warn!("pid {}: controller let go without commit; thawed\n", s.pid);
    } else if s.state.transition(FreezeState::Handed, FreezeState::Commit).is_ok() {
        s.wake();
        pr_warn!("pid {}: controller gone after hand-over; the original ends\n", s.pid);
    }
}

fn decide_doit(req: &Request<'_>, to: FreezeState) -> Result {
    let id = req.need_u32(uapi::A_TASK_SESSION)?;
    let s = SESSIONS.get()?.find(|s| s.id == id).ok_or(code::ENOENT)?;
    let to = if to == FreezeState::Commit && req.get(uapi::A_TASK_DEPUTY).is_some() { FreezeState::Deputy } else { to };
    let from = if to == FreezeState::Handed { FreezeState::Parked } else { s.state.load() };
    let ends_original = matches!(to, FreezeState::Commit | FreezeState::Deputy);
    let ok = (from == FreezeState::Parked || (from == FreezeState::Handed && ends_original))
        && s.state.transition(from, to).is_ok();
    s.wake();
    if !ok {
        return Err(code::EINVAL); // not parked (already decided or timed out)
    }
    if to == FreezeState::Handed {
        pr_info!("pid {} handed over: parked as the page server\n", s.pid);
        return Ok(());
    }
    // Wait (briefly) until the task has acted, so that "committed" means the original is
    // gone and "thawed" means it runs again.
    let _ = s.wait_while(to, 5_000);
    let what = match to {
        FreezeState::Commit => "committed: original ends",
        FreezeState::Deputy => "committed: original stays as its deputy",
        _ => "thawed",
    };
    pr_info!("pid {} {}\n", s.pid, what);
    Ok(())
}

/// The `thaw` doit.
pub(crate) fn thaw(req: &Request<'_>) -> Result {
    decide_doit(req, FreezeState::Thaw)
}

/// The `commit` doit.
pub(crate) fn commit(req: &Request<'_>) -> Result {
    decide_doit(req, FreezeState::Commit)
}

/// The `hand-over` doit.
pub(crate) fn hand_over(req: &Request<'_>) -> Result {
    decide_doit(req, FreezeState::Handed)
}
