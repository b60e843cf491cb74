// SPDX-License-Identifier: GPL-2.0
//! The remote pager of a task restored in lazy mode, built on the kernel's own userfaultfd
//! (docs/design/lazy-userfaultfd.md).
//!
//! Its lazy ranges (heap and anonymous memory; the stack travels eagerly) are ordinary
//! private anonymous mappings, registered for missing pages on a userfaultfd context the
//! restore creates in the task itself ([`Pager::attach`]). So they are anonymous memory in
//! everything the kernel does (fork, copy-on-write, MADV_DONTNEED/FREE, WIPEONFORK, mprotect,
//! mremap, reclaim, memory cgroup charge): the pager only decides what a *missing* page is.
//! Per address space it keeps [`Segments`]: where missing pages are still the source's. A
//! fault on such a page sends a `page-request` event to the listening daemon; the page comes
//! back with `page-data` and is placed with UFFDIO_COPY into every address space missing it
//! (the task and the children it forked since), which wakes the faulting threads. A fault
//! anywhere else gets the zero page (UFFDIO_ZEROPAGE), as anonymous memory does. The
//! context's events edit the segments: REMOVE and UNMAP cut, REMAP moves, FORK gives the
//! child a context of its own with a copy (minus its WIPEONFORK mappings).
//!
//! `pager-end complete` (the source sent every page) releases the contexts: the ranges are
//! plain anonymous memory from then on. `pager-end fail` (the source is gone) poisons every
//! page still missing at the source (a touch is a SIGBUS) first. An address space that
//! exits is forgotten; the pager ends when none is left. No time limit while a daemon
//! listens; with no listener for NO_LISTENER_MS while faults wait, the pager fails.
//!
//! Context and locking: every message of a context is read and acted on under `inner`
//! (a mutex; sleeps), and `page-data` places pages under it too: an event read and its edit
//! of the segments are atomic with respect to a delivery, so a page cannot land in a range
//! whose DONTNEED was read but not yet applied. The ioctls need user memory of `current`
//! ([`Staging`]): a doit (the daemon's thread) has its own; the drain work (a kworker)
//! borrows the mm of the daemon that last talked to this pager ([`HelperMm`], lock order:
//! `helper` before `inner`). Faults that need an ioctl while no daemon mm is available wait
//! for the next drain.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::error::code;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

use crate::bind::atomic::{state_enum, AtomicEnum};
use crate::bind::global::{Global, GlobalOwner};
use crate::bind::mm::{vm, MmRef};
use crate::bind::netlink::{Message, Request};
use crate::bind::task::{clock, sleep_killable_ns, ModuleRef};
use crate::bind::uffd::{self, HelperMm, Staging, Uffd, UffdDev, UffdEvent, STAGING_PAGES};
use crate::fault::{self, FaultPoint};
use crate::fault_wait::FaultWaits;
use crate::registry::Registry;
use crate::segments::Segments;
use crate::uapi_gen::{self as uapi, PageKind, PagerEnd};

// A `page-data` request's run fits one staging area (placed with one UFFDIO_COPY).
const _: () = assert!(STAGING_PAGES == uapi::MAX_PAGE_RUN as usize);

/// A request not answered in this long is sent again (events can be dropped).
const RESEND_MS: u64 = 1_000;
/// Faults waiting this long with no daemon listening end the pager (absent pages SIGBUS).
const NO_LISTENER_MS: u64 = 30_000;
/// A fault waiting this long is logged (once): a page that does not come is worth a line.
const SLOW_FAULT_MS: u64 = 10_000;
/// How long a delivery retries while the task's mappings change (EAGAIN) before failing.
const CHANGING_RETRY_MS: u64 = 2_000;
/// Kinds of delivered pages counted (uapi `page-kind`).
const KINDS: usize = 4;

state_enum! {
    /// Active -> Complete | Failed.
    pub(crate) enum PagerState {
        /// Missing pages of the source are requested from the daemon.
        Active = 0,
        /// The source sent everything: missing pages are zero.
        Complete = 1,
        /// The source is gone: its missing pages SIGBUS.
        Failed = 2,
    }
}

/// A fault read from a context and not answered yet.
struct Waiting {
    addr: u64,
    /// The source's page, if it was the source's when read (None: it needs the zero page).
    src: Option<u64>,
    first_ms: u64,
    /// When it was read, in ns (its wait is counted in `waits` when answered).
    read_ns: u64,
    sent_ms: u64,
    /// Logged as slow (once).
    slow: bool,
}

/// One address space: the restored task's, or one a fork made from it.
struct Space {
    uffd: Uffd,
    segments: Segments,
    waiting: KVec<Waiting>,
    dead: bool,
}

#[derive(Default)]
struct Inner {
    /// The /dev/userfaultfd file the restore opened, until `attach` used it.
    dev: Option<UffdDev>,
    spaces: KVec<Space>,
    attached: bool,
}

#[pin_data]
pub(crate) struct Pager {
    pid: u32,
    /// Unique for the module's lifetime (pids repeat): requests name the pager by both.
    id: u32,
    #[pin]
    helper: Mutex<Option<HelperMm>>,
    #[pin]
    inner: Mutex<Inner>,
    state: AtomicEnum<PagerState>,
    faults: AtomicU32,
    remote_faults: AtomicU32,
    zero_fills: AtomicU32,
    delivered: [AtomicU64; KINDS],
    /// How long answered faults waited: over 100 ms, over 1 s, the longest (ms).
    waited_100ms: AtomicU32,
    waited_1s: AtomicU32,
    waited_longest: AtomicU64,
    /// How long each remote fault waited, in us.
    waits: FaultWaits,
    /// Set by the first `finish`.
    finished: AtomicBool,
    /// A pager keeps the module loaded: its contexts' wait entries call into it.
    _module: ModuleRef,
}

/// Pagers, from module init to exit.
pub(crate) type Pagers = Registry<Pager>;
static PAGERS: Global<Pagers> = Global::new();
/// The id of the next pager.
static NEXT_ID: AtomicU32 = AtomicU32::new(1);
/// Netlink port of the daemon that gets page-request events (0: none).
static LISTENER: AtomicU32 = AtomicU32::new(0);

/// The netlink port of the daemon that listens for module events (page requests, deputy
/// signals), if one does.
pub(crate) fn listener_port() -> Option<u32> {
    Some(LISTENER.load(Ordering::Acquire)).filter(|&p| p != 0)
}

pub(crate) fn init_registry() -> Result<GlobalOwner<Pagers>> {
    Ok(PAGERS.set(KBox::pin_init(Pagers::new(), GFP_KERNEL)?))
}

/// Dropped at module exit after the registry: no drain work runs after that.
pub(crate) struct DrainGuard;

impl Drop for DrainGuard {
    fn drop(&mut self) {
        uffd::drain_stop();
    }
}

impl Pager {
    /// A pager for `pid`, registered. In the restore doit (the daemon's context: it opens
    /// /dev/userfaultfd with the daemon's rights and lends its mm to the drain work).
    pub(crate) fn new(pid: u32) -> Result<Arc<Pager>> {
        let module = ModuleRef::get()?;
        let dev = UffdDev::open().inspect_err(|e| pr_warn!("pid {}: cannot open /dev/userfaultfd ({:?})\n", pid, e))?;
        let p = Arc::pin_init(
            pin_init!(Pager {
                pid,
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                helper <- kernel::new_mutex!(HelperMm::of_current()),
                inner <- kernel::new_mutex!(Inner { dev: Some(dev), ..Inner::default() }),
                state: AtomicEnum::new(PagerState::Active),
                faults: AtomicU32::new(0),
                remote_faults: AtomicU32::new(0),
                zero_fills: AtomicU32::new(0),
                delivered: [const { AtomicU64::new(0) }; KINDS],
                waited_100ms: AtomicU32::new(0),
                waited_1s: AtomicU32::new(0),
                waited_longest: AtomicU64::new(0),
                waits: FaultWaits::new(),
                finished: AtomicBool::new(false),
                _module: module,
            }),
            GFP_KERNEL,
        )?;
        PAGERS.get()?.insert(p.clone(), |q| q.pid == pid)?;
        Ok(p)
    }

    /// In the restored task (its restore ioctl, after the layout is built): a userfaultfd
    /// context for its mm with `ranges` registered, their pages the source's.
    pub(crate) fn attach(&self, ranges: &[(u64, u64)]) -> Result {
        if fault::armed(FaultPoint::PagerAttach) {
            pr_warn!("fault point pager-attach: the pager of pid {} cannot attach\n", self.pid);
            return Err(code::ENOMEM);
        }
        let mut g = self.inner.lock();
        let dev = g.dev.take().ok_or(code::EBUSY)?;
        let uffd = Uffd::create(&dev, ranges)?;
        let segments = Segments::identity(ranges)?;
        g.spaces.push(Space { uffd, segments, waiting: KVec::new(), dead: false }, GFP_KERNEL)?;
        g.attached = true;
        Ok(())
    }

    /// Its id, for the restore reply.
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// The restore did not get to run the task: forget the pager.
    pub(crate) fn abandon(&self) {
        self.finish(PagerState::Failed, "abandoned: the restore did not complete");
    }

    fn request(&self, src: u64) {
        let port = LISTENER.load(Ordering::Acquire);
        let sent = if port == 0 {
            Err(crate::bind::errno::enotconn())
        } else {
            Message::event(uapi::CMD_PAGE_REQUEST, 0).and_then(|mut m| {
                m.put_u32(uapi::A_PAGER_PID, self.pid)?;
                m.put_u32(uapi::A_PAGER_ID, self.id)?;
                m.put_u64(uapi::A_PAGER_ADDR, src, uapi::A_PAGER_PAD)?;
                m.put_u32(uapi::A_PAGER_FAULTS, self.faults.load(Ordering::Relaxed))?;
                m.send_to(port)
            })
        };
        if let Err(e) = sent {
            ratelimited(|| pr_warn!("pid {}: cannot send a page request to the daemon ({:?})\n", self.pid, e));
        }
    }

    fn summary(&self, what: &str) {
        let mut d = [0u64; KINDS];
        d.iter_mut().zip(self.delivered.iter()).for_each(|(d, c)| *d = c.load(Ordering::Relaxed));
        pr_info!(
            "pid {}: pager {}: {} faults ({} remote, {} zero; {} waited over 100 ms, {} over 1 s, longest {} ms; remote waits {}), pages by fault {}, prefetch {}, push {}, eager {}\n",
            self.pid,
            what,
            self.faults.load(Ordering::Relaxed),
            self.remote_faults.load(Ordering::Relaxed),
            self.zero_fills.load(Ordering::Relaxed),
            self.waited_100ms.load(Ordering::Relaxed),
            self.waited_1s.load(Ordering::Relaxed),
            self.waited_longest.load(Ordering::Relaxed),
            self.waits,
            d[PageKind::Fault as usize],
            d[PageKind::Prefetch as usize],
            d[PageKind::Push as usize],
            d[PageKind::Eager as usize]
        );
    }

    /// A waiting fault was answered: count how long it waited.
    fn answered(&self, w: &Waiting) {
        if w.src.is_some() {
            self.waits.record(clock::monotonic_ns().saturating_sub(w.read_ns) / 1000);
        }
        let ms = clock::monotonic_ms().saturating_sub(w.first_ms);
        if ms >= 100 {
            self.waited_100ms.fetch_add(1, Ordering::Relaxed);
        }
        if ms >= 1000 {
            self.waited_1s.fetch_add(1, Ordering::Relaxed);
        }
        self.waited_longest.fetch_max(ms, Ordering::Relaxed);
    }

    /// Make every live context's mappings plain anonymous memory before the contexts close
    /// (see Uffd::unregister_all: closing a registered context can livelock a fault). Lock
    /// order: the pager's mutex, then the task's mmap lock (as every ioctl here); a faulting
    /// task holds the mmap lock only, never this mutex.
    fn unregister_spaces(&self, g: &Inner, st: &Staging) {
        for space in g.spaces.iter().filter(|s| !s.dead) {
            match space.uffd.unregister_all(st) {
                Ok(()) => {}
                // The address space has gone: nothing can fault in it any more.
                Err(e) if e == code::ESRCH => {}
                Err(e) => pr_info!("pid {}: unregistering lazy ranges: {:?}; closing the context\n", self.pid, e),
            }
        }
    }

    /// End in `state` (once): drop every context (their ranges become plain anonymous
    /// memory; pages poisoned before stay poisoned) and leave the registry.
    fn finish(&self, state: PagerState, what: &str) {
        let _ = self.state.transition(PagerState::Active, state);
        let first = !self.finished.swap(true, Ordering::AcqRel);
        let spaces = core::mem::take(&mut self.inner.lock().spaces);
        drop(spaces);
        if let Ok(reg) = PAGERS.get() {
            reg.remove(|q| core::ptr::eq(q, self));
        }
        if first {
            self.summary(what);
        }
    }

    /// Read and act on every message of every context, then answer what waits. `st`: user
    /// memory for the ioctls, if this context has some.
    fn drain_locked(&self, g: &mut Inner, st: Option<&Staging>) {
        let mut born = KVec::new();
        for space in g.spaces.iter_mut().filter(|s| !s.dead) {
            loop {
                match space.uffd.read() {
                    Ok(None) => break,
                    Ok(Some(ev)) => {
                        if let Err(e) = self.on_event(space, ev, &mut born) {
                            pr_warn!("pid {}: pager event {:?}: {:?}\n", self.pid, ev, e);
                        }
                    }
                    Err(e) => {
                        pr_warn!("pid {}: reading the userfaultfd failed ({:?})\n", self.pid, e);
                        break;
                    }
                }
            }
        }
        for s in born {
            if g.spaces.push(s, GFP_KERNEL).is_err() {
                pr_warn!("pid {}: no memory for a forked address space's pager\n", self.pid);
            }
        }
        let now = clock::monotonic_ms();
        let state = self.state.load();
        for space in g.spaces.iter_mut().filter(|s| !s.dead) {
            self.answer_waiting(space, st, state, now);
        }
    }

    fn on_event(&self, space: &mut Space, ev: UffdEvent, born: &mut KVec<Space>) -> Result {
        match ev {
            UffdEvent::Fault(addr) => {
                self.faults.fetch_add(1, Ordering::Relaxed);
                if space.waiting.iter().any(|w| w.addr == addr) {
                    return Ok(());
                }
                let src = space.segments.src_of(addr);
                if src.is_some() {
                    self.remote_faults.fetch_add(1, Ordering::Relaxed);
                }
                let read_ns = clock::monotonic_ns();
                space.waiting.push(Waiting { addr, src, first_ms: read_ns / 1_000_000, read_ns, sent_ms: 0, slow: false }, GFP_KERNEL)?;
            }
            UffdEvent::Fork(fd) => {
                let uffd = Uffd::from_fork(fd)?;
                let mut segments = space.segments.try_clone()?;
                // dup_userfaultfd runs before fork wipes WIPEONFORK mappings: the child's
                // are registered but empty, so their missing pages are zero, not the source's.
                if let Some(mm) = uffd.mm() {
                    let mut wiped = KVec::new();
                    mm.for_each_vma(false, |_, v, _| {
                        if v.flags & vm::WIPEONFORK != 0 {
                            wiped.push((v.start, v.end), GFP_KERNEL)?;
                        }
                        Ok(())
                    })?;
                    for (a, b) in wiped {
                        segments.take(a, b)?;
                    }
                }
                pr_info!("pid {}: forked; the child's address space has its own pager context\n", self.pid);
                born.push(Space { uffd, segments, waiting: KVec::new(), dead: false }, GFP_KERNEL)?;
                // The read that gave us the child's context let the fork finish: the child may
                // have faulted before its context had our wait entry (added just now), and
                // that wake-up went to nobody. Drain again at once rather than at the tick.
                uffd::drain_now();
            }
            UffdEvent::Remap { from, to, len } => space.segments.remap(from, to, len)?,
            UffdEvent::Remove { start, end } | UffdEvent::Unmap { start, end } => {
                space.segments.take(start, end)?;
            }
        }
        // A fault read before an edit may now be answered differently: its `src` is
        // looked up again when it is answered (see answer_waiting).
        Ok(())
    }

    /// Answer what waits in `space`: the zero page where the page is not (or no longer) the
    /// source's, a poisoned page if the source is gone, a request (again after RESEND_MS)
    /// otherwise.
    fn answer_waiting(&self, space: &mut Space, st: Option<&Staging>, state: PagerState, now: u64) {
        let mut keep = KVec::new();
        let waiting = core::mem::take(&mut space.waiting);
        for mut w in waiting {
            w.src = space.segments.src_of(w.addr);
            if !w.slow && now.saturating_sub(w.first_ms) >= SLOW_FAULT_MS {
                w.slow = true;
                pr_warn!(
                    "pid {}: a fault at {:#x} waits since {} ms (source page {:?}, pager {:?}, listener {})\n",
                    self.pid,
                    w.addr,
                    now.saturating_sub(w.first_ms),
                    w.src,
                    state,
                    LISTENER.load(Ordering::Relaxed)
                );
            }
            let done = match (w.src, state) {
                (Some(src), PagerState::Active) => {
                    if now.saturating_sub(w.sent_ms) >= RESEND_MS {
                        self.request(src);
                        w.sent_ms = now;
                    }
                    if LISTENER.load(Ordering::Acquire) == 0 && now.saturating_sub(w.first_ms) >= NO_LISTENER_MS {
                        pr_warn!("pid {}: no daemon listens for page requests since {} ms: the source is given up\n", self.pid, NO_LISTENER_MS);
                        // finish() needs `inner`, held here: the drain after this one ends it.
                        let _ = self.state.transition(PagerState::Active, PagerState::Failed);
                        uffd::drain_now();
                    }
                    false
                }
                (Some(_), PagerState::Failed) => st.is_some_and(|st| self.settle(space, st, w.addr, true)),
                _ => st.is_some_and(|st| self.settle(space, st, w.addr, false)),
            };
            if done {
                self.answered(&w);
            } else if keep.push(w, GFP_KERNEL).is_err() {
                pr_warn!("pid {}: no memory to remember a fault; it waits for a wake\n", self.pid);
            }
        }
        space.waiting = keep;
    }

    /// The zero page (or poison) for a waiting fault at `addr`. True once it is answered.
    fn settle(&self, space: &mut Space, st: &Staging, addr: u64, poison: bool) -> bool {
        let r = if poison { space.uffd.poison(st, addr) } else { space.uffd.zeropage(st, addr) };
        match r {
            Ok(()) => {
                if !poison {
                    self.zero_fills.fetch_add(1, Ordering::Relaxed);
                }
                true
            }
            Err(e) if e == code::EAGAIN => false, // an event first; the next drain retries
            Err(e) if e == code::ESRCH => {
                space.dead = true;
                true
            }
            Err(_) => {
                // EEXIST (a page is there now) or ENOENT (no mapping any more): let the
                // thread fault again.
                let _ = space.uffd.wake(st, addr, PAGE_SIZE as u64);
                true
            }
        }
    }

    /// Place a run of the source's pages (at most `STAGING_PAGES`) in every address space
    /// that misses them: one UFFDIO_COPY per stretch that is contiguous in a space, which
    /// places a pushed run with one call instead of one per page. A page where a copy stopped
    /// (already there, mappings changing, a mapping's end) goes through `deliver`, page by
    /// page in every space, whose answers to those cases are the same as ever (a space that
    /// already got it by the run says EEXIST: answered). Returns how many pages were placed
    /// somewhere. Called with the pager's mutex held (`g`); sleeps (the ioctls take the
    /// task's mmap lock).
    fn deliver_run(&self, g: &mut Inner, st: &Staging, src: u64, data: &[u8]) -> Result<usize> {
        let n = data.len() / PAGE_SIZE;
        if n == 0 || n > STAGING_PAGES || data.len() % PAGE_SIZE != 0 {
            return Err(code::EINVAL);
        }
        let mut placed = [false; STAGING_PAGES];
        let mut by_page = [false; STAGING_PAGES];
        for space in g.spaces.iter_mut().filter(|s| !s.dead) {
            let mut k = 0;
            while k < n {
                let Some(start) = space.segments.addr_of(src + (k * PAGE_SIZE) as u64) else {
                    k += 1;
                    continue;
                };
                let mut end = k + 1;
                while end < n && space.segments.addr_of(src + (end * PAGE_SIZE) as u64) == Some(start + ((end - k) * PAGE_SIZE) as u64) {
                    end += 1;
                }
                let done = match space.uffd.copy_run(st, start, &data[k * PAGE_SIZE..end * PAGE_SIZE]) {
                    Ok(bytes) => bytes / PAGE_SIZE,
                    Err(e) if e == code::ESRCH => {
                        space.dead = true;
                        break;
                    }
                    Err(e) => return Err(e),
                };
                placed[k..k + done].iter_mut().for_each(|p| *p = true);
                let placed_end = start + (done * PAGE_SIZE) as u64;
                if space.waiting.iter().any(|w| w.addr >= start && w.addr < placed_end) {
                    let mut keep = KVec::new();
                    for w in core::mem::take(&mut space.waiting) {
                        if w.addr >= start && w.addr < placed_end {
                            self.answered(&w);
                        } else {
                            keep.push(w, GFP_KERNEL)?;
                        }
                    }
                    space.waiting = keep;
                }
                if k + done < end {
                    by_page[k + done] = true;
                    k += done + 1;
                } else {
                    k = end;
                }
            }
        }
        for m in (0..n).filter(|&m| by_page[m]) {
            if self.deliver(g, st, src + (m * PAGE_SIZE) as u64, &data[m * PAGE_SIZE..(m + 1) * PAGE_SIZE])? {
                placed[m] = true;
            }
        }
        Ok(placed[..n].iter().filter(|&&p| p).count())
    }

    /// Place the source's page `src` in every address space where it is missing.
    fn deliver(&self, g: &mut Inner, st: &Staging, src: u64, data: &[u8]) -> Result<bool> {
        let mut placed = false;
        let deadline = clock::monotonic_ms() + CHANGING_RETRY_MS;
        let mut i = 0;
        while i < g.spaces.len() {
            let space = match g.spaces.get_mut(i) {
                Some(s) if !s.dead => s,
                _ => {
                    i += 1;
                    continue;
                }
            };
            let Some(addr) = space.segments.addr_of(src) else {
                i += 1;
                continue;
            };
            let answered = match space.uffd.copy(st, addr, data) {
                Ok(()) => {
                    placed = true;
                    true // UFFDIO_COPY woke the faults on it
                }
                Err(e) if e == code::EAGAIN => {
                    // The task's mappings are changing: read the event, then look again.
                    if clock::monotonic_ms() > deadline {
                        pr_warn!("pid {}: page {:#x} could not be placed for {} ms\n", self.pid, src, CHANGING_RETRY_MS);
                        return Err(code::EAGAIN);
                    }
                    self.drain_locked(g, Some(st));
                    let _ = sleep_killable_ns(1_000_000);
                    continue;
                }
                Err(e) if e == code::ESRCH => {
                    space.dead = true;
                    false
                }
                Err(e) if e == code::EEXIST || e == code::ENOENT => {
                    // A page is there already, or no mapping any more: a thread waiting on
                    // it faults again.
                    if space.waiting.iter().any(|w| w.addr == addr) {
                        let _ = space.uffd.wake(st, addr, PAGE_SIZE as u64);
                    }
                    true
                }
                Err(e) => return Err(e),
            };
            if answered {
                let mut keep = KVec::new();
                for w in core::mem::take(&mut space.waiting) {
                    if w.addr != addr {
                        keep.push(w, GFP_KERNEL)?;
                    } else {
                        self.answered(&w);
                    }
                }
                space.waiting = keep;
            }
            i += 1;
        }
        Ok(placed)
    }

    /// Forget address spaces that exited; end the pager when none is left.
    fn reap(&self, g: &mut Inner) -> bool {
        for s in g.spaces.iter_mut() {
            if !s.dead && s.uffd.mm().is_none() {
                s.dead = true;
            }
        }
        let mut alive = KVec::new();
        for s in core::mem::take(&mut g.spaces) {
            if !s.dead {
                let _ = alive.push(s, GFP_KERNEL);
            }
        }
        g.spaces = alive;
        g.attached && g.spaces.is_empty()
    }

    /// Does a fault that waits need an ioctl to be answered (the zero page, poison, a wake)
    /// rather than a page from the source? Called with the pager's mutex held (`g`).
    fn needs_ioctl(&self, g: &Inner) -> bool {
        let active = self.state.load() == PagerState::Active;
        g.spaces
            .iter()
            .filter(|s| !s.dead)
            .any(|s| s.waiting.iter().any(|w| !active || s.segments.src_of(w.addr).is_none()))
    }

    /// The drain work's part for this pager (kworker). Most drains only read faults on the
    /// source's pages and send their requests: no ioctl, so no user memory. Borrowing the
    /// daemon's mm and mapping a staging area in it (kthread_use_mm, vm_mmap, vm_munmap,
    /// each contending with the daemon's own mmap lock) cost about 0.1 ms of every remote
    /// fault's latency in the lab; it is taken only when a waiting fault needs an ioctl. Lock order as everywhere: `helper`, then `inner`.
    fn drain(&self) {
        let helper = self.helper.lock();
        let mut g = self.inner.lock();
        self.drain_locked(&mut g, None);
        if self.needs_ioctl(&g) {
            if let Some(h) = helper.as_ref() {
                // ESRCH: the daemon's address space is gone; what needs an ioctl waits for
                // the next drain with a daemon mm (see the module comment).
                let _ = h.with_staging(|st| {
                    self.drain_locked(&mut g, Some(st));
                    Ok(())
                });
            }
        }
        let gone = self.reap(&mut g);
        drop(g);
        drop(helper);
        if gone {
            self.finish(PagerState::Complete, "done: its address spaces are gone");
        } else if self.state.load() == PagerState::Failed {
            self.fail_now(false);
        }
    }

    /// The source is gone: poison its pages still missing anywhere, wake what waits, end.
    /// `in_doit`: called in a doit (user memory of its own) rather than the drain work.
    fn fail_now(&self, in_doit: bool) {
        let poison = |g: &mut Inner, st: &Staging| {
            for space in g.spaces.iter_mut().filter(|s| !s.dead) {
                let Ok(segs) = space.segments.try_clone() else { continue };
                for seg in segs.iter() {
                    let mut a = seg.start;
                    while a < seg.end {
                        let _ = space.uffd.poison(st, a); // EEXIST: the page is here
                        a += PAGE_SIZE as u64;
                    }
                }
                for w in space.waiting.iter() {
                    let _ = space.uffd.wake(st, w.addr, PAGE_SIZE as u64);
                }
            }
            self.unregister_spaces(g, st);
            Ok(())
        };
        let r = if in_doit {
            Staging::with(|st| poison(&mut self.inner.lock(), st))
        } else {
            let helper = self.helper.lock();
            match helper.as_ref() {
                Some(h) => h.with_staging(|st| poison(&mut self.inner.lock(), st)),
                None => Err(code::ESRCH),
            }
        };
        if r.is_err() {
            pr_warn!("pid {}: cannot poison the missing pages (no daemon mm); they read as zero\n", self.pid);
        }
        self.finish(PagerState::Failed, "failed, absent pages now SIGBUS");
    }
}

/// Run `f` (a log line) at most once a second, module-wide.
fn ratelimited(f: impl FnOnce()) {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = clock::monotonic_ms();
    if now.saturating_sub(LAST.swap(now, Ordering::Relaxed)) > 1000 {
        f();
    }
}

/// The drain work (kworker): every pager's contexts; again in RESEND_MS while any pager is
/// left (requests are re-sent, exited address spaces noticed).
pub(crate) fn drain_all() {
    let Ok(reg) = PAGERS.get() else { return };
    let all = match reg.all() {
        Ok(a) => a,
        Err(_) => {
            uffd::drain_later(RESEND_MS as u32);
            return;
        }
    };
    for p in all.iter() {
        p.drain();
    }
    if !all.is_empty() {
        uffd::drain_later(RESEND_MS as u32);
    }
}

/// Is `mm` an address space some pager still serves (its missing pages are the source's)?
pub(crate) fn serves(mm: &MmRef) -> bool {
    let Ok(all) = PAGERS.get().and_then(|r| r.all()) else { return false };
    all.iter().any(|p| p.inner.lock().spaces.iter().any(|s| !s.dead && s.uffd.serves(mm)))
}

/// A netlink socket of the initial netns closed: if it was the listener, forget it.
/// Atomic context (netlink notifier chain).
pub(crate) fn port_released(portid: u32) {
    if portid != 0 && LISTENER.compare_exchange(portid, 0, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        pr_info!("pager listener (netlink port {}) closed\n", portid);
    }
}

/// The pager a request names (pid and id): ESRCH if it has ended (or never was).
fn find(req: &Request<'_>) -> Result<Arc<Pager>> {
    let pid = req.need_u32(uapi::A_PAGER_PID)?;
    let id = req.need_u32(uapi::A_PAGER_ID)?;
    PAGERS.get()?.find(|p| p.pid == pid && p.id == id).ok_or(code::ESRCH)
}

/// The `page-data` doit: pages of the source, placed where they are missing.
pub(crate) fn page_data(req: &Request<'_>) -> Result {
    let p = find(req)?;
    let addr_attr = req.require(uapi::A_PAGER_ADDR)?;
    let data_attr = req.require(uapi::A_PAGER_DATA)?;
    let addr = addr_attr.u64();
    let data = data_attr.bytes();
    let kind = req.u32(uapi::A_PAGER_KIND).and_then(PageKind::from_u32).unwrap_or(PageKind::Push) as usize;
    if addr % PAGE_SIZE as u64 != 0 {
        return Err(req.bad(addr_attr));
    }
    if data.len() % PAGE_SIZE != 0 {
        return Err(req.bad(data_attr));
    }
    let counter = p.delivered.get(kind).ok_or(code::EINVAL)?;
    if data.is_empty() {
        return Ok(()); // a probe: the pager is there
    }
    // The drain work borrows the mm of the daemon that talks to this pager now.
    if let Some(h) = HelperMm::of_current() {
        *p.helper.lock() = Some(h);
    }
    let given = req.u64(uapi::A_PAGER_STAGING);
    Staging::with_given(given, |st| {
        let mut g = p.inner.lock();
        for (i, run) in data.chunks(STAGING_PAGES * PAGE_SIZE).enumerate() {
            let src = addr + (i * STAGING_PAGES * PAGE_SIZE) as u64;
            let placed = p.deliver_run(&mut g, st, src, run)?;
            counter.fetch_add(placed as u64, Ordering::Relaxed);
        }
        Ok(())
    })
}

/// The `pager-end` doit.
pub(crate) fn end(req: &Request<'_>) -> Result {
    let p = find(req)?;
    match PagerEnd::from_u32(req.need_u32(uapi::A_PAGER_END)?) {
        Some(PagerEnd::Complete) => {
            // Faults still waiting are for pages the source never had: zero. Read what is
            // pending first, in this doit (it has user memory for the ioctls).
            Staging::with(|st| {
                let mut g = p.inner.lock();
                let _ = p.state.transition(PagerState::Active, PagerState::Complete);
                p.drain_locked(&mut g, Some(st));
                p.unregister_spaces(&g, st);
                Ok(())
            })?;
            p.finish(PagerState::Complete, "complete");
        }
        _ => {
            let _ = p.state.transition(PagerState::Active, PagerState::Failed);
            p.fail_now(true);
        }
    }
    Ok(())
}

/// The `pager-listen` doit: page requests go to the sender's port until it closes. One
/// listener at a time: a second daemon does not take the requests of the first one's tasks
/// (they would wait for pages nobody sends): EBUSY until the first one's socket closes.
pub(crate) fn listen(req: &Request<'_>) -> Result {
    let port = req.portid();
    match LISTENER.compare_exchange(0, port, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => pr_info!("pager requests go to netlink port {}\n", port),
        Err(held) if held == port => {}
        Err(held) => {
            pr_info!("pager listener: port {} refused, port {} listens\n", port, held);
            return Err(code::EBUSY);
        }
    }
    // Requests that waited for a listener go out now.
    uffd::drain_now();
    Ok(())
}
