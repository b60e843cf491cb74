// SPDX-License-Identifier: GPL-2.0
//! Restore on the target node. The daemon hands the image over with the `restore` command
//! and gets a session fd back; then:
//! 1. the daemon starts the stub (a child with the right pid) with that fd; the stub moves
//!    its vdso to the image's address and calls MIGR_IOC_RESTORE;
//! 2. in that ioctl the stub's address space is replaced by the image's layout; the state
//!    becomes LayoutReady (poll says readable) and the stub waits;
//! 3. the daemon writes page contents through /proc/STUB/mem, then calls MIGR_IOC_GO;
//! 4. the stub sets its thread state, queues its resume work and returns; the work loads
//!    registers, FPU state and signal mask on the way to user mode: the image runs.
//! Any failure is `Failed(errno)`; a stub that has lost its own memory is killed.

use kernel::error::code;
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};

use crate::bind::atomic::{AtomicEnum, AtomicRepr};
use crate::bind::file::{install_restore_fd, poll_bits};
use crate::bind::netlink::Request;
use crate::bind::task::{self, clock};
use crate::bind::task_work::{self, impl_has_task_work, Notify, TaskWork, TaskWorkRun};
use crate::bind::waitq::WaitQueue;
use crate::image::Image;
use crate::pager::Pager;
use crate::thread::ThreadImage;
use crate::uapi_gen::{self as uapi, Mode, Restart, RestoreState as Spec};

/// How long the stub waits for the pages (the daemon streams them from the source).
const LAYOUT_WAIT_MS: u32 = 600_000;
/// How long MIGR_IOC_GO waits for the stub to reach user mode.
const GO_WAIT_MS: u32 = 30_000;

/// The state of a restore session: a spec state (uapi `restore-state`, what
/// MIGR_IOC_STATUS returns) or a failure with its errno (returned negated).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RestoreState {
    At(Spec),
    Failed(Error),
}

use RestoreState::{At, Failed};

impl AtomicRepr for RestoreState {
    fn into_raw(self) -> u32 {
        match self {
            At(s) => s as u32,
            Failed(e) => e.to_errno() as u32,
        }
    }

    fn from_raw(raw: u32) -> Self {
        match Spec::from_u32(raw) {
            Some(s) => At(s),
            None => Failed(Error::from_errno(raw as i32)),
        }
    }
}

impl RestoreState {
    /// What MIGR_IOC_STATUS returns.
    fn status(self) -> i64 {
        match self {
            At(s) => i64::from(s as u32),
            Failed(e) => i64::from(e.to_errno()),
        }
    }
}

#[pin_data]
pub(crate) struct RestoreSession {
    image: Image,
    /// Lazy mode: the pager (registered; attached to the task's mm in MIGR_IOC_RESTORE).
    pager: Option<Arc<Pager>>,
    state: AtomicEnum<RestoreState>,
    /// ktime (ns) when the image arrived; an interrupted nanosleep is shortened by the time
    /// since then.
    arrived_ns: u64,
    #[pin]
    wq: WaitQueue,
    resume: TaskWork,
}

impl_has_task_work!(RestoreSession, resume);

impl RestoreSession {
    fn set(&self, state: RestoreState) {
        self.state.store(state);
        self.wq.wake_all();
    }

    fn fail(&self, e: Error) -> Error {
        self.set(Failed(e));
        e
    }

    /// Sleep (killable) while the state is `from`, at most `ms`. Returns the state after.
    fn wait_while(&self, from: RestoreState, ms: u32) -> Result<RestoreState> {
        self.wq.wait_killable(&|| self.state.load() != from, ms)?;
        Ok(self.state.load())
    }

    /// The queue poll waits on.
    pub(crate) fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }
}

/// The `restore` doit.
pub(crate) fn restore(req: &Request<'_>) -> Result {
    let image = Image::parse(req)?;
    let pid = image.pid;
    let pager = match req.u32(uapi::A_TASK_MODE).and_then(Mode::from_u32) {
        Some(Mode::Lazy) => Some(Pager::new(pid)?),
        _ => None,
    };
    let abandon = pager.clone();
    let r = (|| {
        let s = Arc::pin_init(
            pin_init!(RestoreSession {
                image,
                pager,
                state: AtomicEnum::new(At(Spec::Prepared)),
                arrived_ns: clock::monotonic_ns(),
                wq <- WaitQueue::new(),
                resume: TaskWork::new(),
            }),
            GFP_KERNEL,
        )?;
        // If the reply fails after this, the descriptors stay with the caller, which closes
        // them when it exits: the files go and the session with them.
        let pager_id = s.pager.as_ref().map(|p| p.id());
        let fd = install_restore_fd(s.clone(), true)?;
        let stub_fd = install_restore_fd(s, false)?;
        let mut r = req.reply(0)?;
        r.put_u32(uapi::A_TASK_FD, fd)?;
        r.put_u32(uapi::A_TASK_STUB_FD, stub_fd)?;
        if let Some(id) = pager_id {
            r.put_u32(uapi::A_TASK_PAGER_ID, id)?;
        }
        pr_info!("restore session for pid {} prepared (fd {})\n", pid, fd);
        r.send()
    })();
    if let (Err(_), Some(p)) = (&r, abandon) {
        p.abandon();
    }
    r
}

/// Kill the stub (it may have lost its own memory) and record the failure.
fn stub_fails(s: &RestoreSession, e: Error) -> Error {
    task::kill_current();
    s.fail(e)
}

/// MIGR_IOC_RESTORE, in the stub.
fn become_image(s: ArcBorrow<'_, RestoreSession>, own_fd: u32) -> Result {
    if s.state.transition(At(Spec::Prepared), At(Spec::Building)).is_err() {
        return Err(code::EBUSY);
    }
    if let Err(e) = s.image.mm.rebuild(s.image.pid) {
        // The stub's own memory may be gone already: it must not return to it.
        return Err(stub_fails(&s, e));
    }
    if let Some(p) = s.pager.as_ref() {
        if let Err(e) = s.image.mm.lazy_ranges().and_then(|r| p.attach(&r)) {
            pr_warn!("restore of pid {}: cannot attach the pager ({:?})\n", s.image.pid, e);
            return Err(stub_fails(&s, e));
        }
    }
    s.set(At(Spec::LayoutReady));
    match s.wait_while(At(Spec::LayoutReady), LAYOUT_WAIT_MS) {
        Ok(At(Spec::Go)) => {}
        Ok(At(Spec::LayoutReady)) => {
            pr_warn!("restore of pid {}: no pages within {} ms; giving up\n", s.image.pid, LAYOUT_WAIT_MS);
            return Err(stub_fails(&s, code::EAGAIN));
        }
        Ok(st) => {
            // Aborted (controller gone).
            let e = if let Failed(e) = st { e } else { code::EINTR };
            return Err(stub_fails(&s, e));
        }
        Err(e) => return Err(stub_fails(&s, e)), // killed
    }
    s.image.thread.restore_signals_and_ids();
    let me = kernel::current!();
    if let Err(e) = task_work::queue(&me, Arc::<RestoreSession>::from(s), Notify::Resume) {
        return Err(stub_fails(&s, e));
    }
    // The image must not inherit the session fd (the ioctl holds its own file reference).
    if task::close_fd(own_fd).is_err() {
        pr_warn!("restore of pid {}: cannot close the stub's fd {}\n", s.image.pid, own_fd);
    }
    Ok(())
}

impl TaskWorkRun for RestoreSession {
    /// Last step on the way to user mode: registers, FPU, signal mask.
    fn run(s: Arc<Self>) {
        let t = &s.image.thread;
        let mut regs = t.regs;
        // A stub killed on its way out runs this from do_exit: nothing to load then.
        let res = if task::current_exiting() { Err(code::EINTR) } else { Ok(()) };
        let sleeping = t.state.restart == Restart::Nanosleep as u32;
        if sleeping {
            ThreadImage::complete_syscall(&mut regs);
        }
        match res.and_then(|_| ThreadImage::restore_cpu(&regs, &t.xstate, t.state.sigmask)) {
            Ok(()) => {
                pr_info!("pid {} restored and running\n", s.image.pid);
                s.set(At(Spec::Running));
            }
            Err(e) => {
                pr_warn!("restore of pid {}: loading registers failed ({:?})\n", s.image.pid, e);
                stub_fails(&s, e);
                return;
            }
        }
        // The rest of an interrupted nanosleep, slept here after GO has its answer, however
        // long it is (the registers are in place: they wait in pt_regs and fpstate, which a
        // sleep does not touch). Killable only: see README, "What differs".
        if sleeping {
            let spent = clock::monotonic_ns().saturating_sub(s.arrived_ns);
            let _ = ThreadImage::sleep_rest(t.state.restart_remaining_ns.saturating_sub(spent));
        }
    }
}

/// MIGR_IOC_GO, by the daemon once every page is written.
fn go(s: &RestoreSession) -> Result {
    if let Err(st) = s.state.transition(At(Spec::LayoutReady), At(Spec::Go)) {
        return Err(if let Failed(e) = st { e } else { code::EINVAL });
    }
    s.set(At(Spec::Go));
    match s.wait_while(At(Spec::Go), GO_WAIT_MS)? {
        At(Spec::Running) => Ok(()),
        Failed(e) => Err(e),
        _ => Err(code::EAGAIN),
    }
}

/// ioctl on a session file (glue/file.c through bind/entry.rs).
pub(crate) fn ioctl(s: ArcBorrow<'_, RestoreSession>, cmd: u32, arg: u64) -> Result<i64> {
    match cmd {
        uapi::IOC_RESTORE => {
            let fd = u32::try_from(arg).map_err(|_| code::EBADF)?;
            become_image(s, fd).map(|()| 0)
        }
        uapi::IOC_GO => go(&s).map(|()| 0),
        uapi::IOC_STATUS => Ok(s.state.load().status()),
        _ => Err(code::ENOTTY),
    }
}

/// poll on the daemon's session file: readable once the layout is ready, error once failed.
pub(crate) fn poll(s: &RestoreSession) -> u32 {
    match s.state.load() {
        Failed(_) => poll_bits(true, true),
        At(st) => poll_bits(st as u32 >= Spec::LayoutReady as u32, false),
    }
}

/// The last close of a session file.
pub(crate) fn release(s: Arc<RestoreSession>, control: bool) {
    if control {
        // The daemon is gone (or gave up): a stub still waiting must not wait for pages
        // that will never come.
        if let At(Spec::Prepared | Spec::Building | Spec::LayoutReady) = s.state.load() {
            pr_warn!("restore of pid {}: controller went away; aborting\n", s.image.pid);
            s.set(Failed(crate::bind::errno::ecanceled()));
        }
        // A pager whose task never ran has nothing to serve.
        if let (Failed(_), Some(p)) = (s.state.load(), s.pager.as_ref()) {
            p.abandon();
        }
    }
}
