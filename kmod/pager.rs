// SPDX-License-Identifier: GPL-2.0
//! The remote pager of a task restored in lazy mode.
//!
//! Its anonymous memory (heap and anonymous mappings; the stack travels eagerly) is mapped
//! MAP_PRIVATE from a per-task file whose `.fault` (kmod/glue/pager.c) asks this pager for
//! a page: pages arrive from the daemon with `page-data` (answers to faults, prefetch,
//! background push) into a page array keyed by the source page number (the mapping's pgoff
//! is the source address, so this survives mremap). A page handed to a fault is marked
//! SERVED and dropped here: from then on the process owns it (a write copies it into
//! anonymous memory); a later fault on a served page gets zeros, as anonymous memory does
//! after MADV_DONTNEED (an MMU notifier marks DONTNEED'd ranges served, pages there or not).
//! Once the task forks, pages are lent instead (the child faults on the same pager). A
//! fault on an absent page sends a `page-request` event to the listening daemon and waits
//! (killable, re-sent every second, given up after FAULT_TIMEOUT_MS: then this and every
//! later fault on an absent page ends in SIGBUS). After `pager-end complete` absent pages
//! are zero (the source had nothing there); after `pager-end fail` they SIGBUS. The
//! listening daemon is forgotten when its netlink socket closes (requests then wait for a
//! new listener, or time out).
//!
//! Context: `lookup` and `wait` run in the faulting task (process context; `wait` without
//! the mmap lock when the fault allows it); `discard` in an MMU notifier (no sleeping);
//! `port_released` in the netlink release notifier (atomic); the rest in doits.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::error::code;
use kernel::page::{PAGE_SHIFT, PAGE_SIZE};
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

use crate::bind::atomic::{state_enum, AtomicEnum};
use crate::bind::file::{AnonFile, MmWatch};
use crate::bind::global::{Global, GlobalOwner};
use crate::bind::netlink::{Message, Request};
use crate::bind::task::clock;
use crate::bind::waitq::WaitQueue;
use crate::bind::xarray::{PageArray, PageRef, Slot};
use crate::fault::{self, FaultPoint};
use crate::registry::Registry;
use crate::uapi_gen::{self as uapi, PageKind, PagerEnd};

/// A fault waits this long for its page before the pager gives the source up.
const FAULT_TIMEOUT_MS: u64 = 30_000;
/// A request not answered in this long is sent again (events can be dropped).
const RESEND_MS: u32 = 1_000;
/// Kinds of delivered pages counted (uapi `page-kind`).
const KINDS: usize = 4;

state_enum! {
    /// Active -> Complete | Failed.
    pub(crate) enum PagerState {
        /// Absent pages are requested from the daemon.
        Active = 0,
        /// The source sent everything: absent pages are zero.
        Complete = 1,
        /// The source is gone: absent pages SIGBUS.
        Failed = 2,
    }
}

#[pin_data(PinnedDrop)]
pub(crate) struct Pager {
    /// The MMU notifier on the task's mm (see `watch`). First field: unregistered before
    /// the page array goes.
    #[pin]
    watch: Mutex<Option<MmWatch>>,
    pid: u32,
    /// pgoff -> page (owned reference) or SERVED.
    #[pin]
    pages: PageArray,
    #[pin]
    wq: WaitQueue,
    state: AtomicEnum<PagerState>,
    faults: AtomicU32,
    remote_faults: AtomicU32,
    zero_fills: AtomicU32,
    delivered: [AtomicU64; KINDS],
    /// Set once the task forked: parent and child fault on the same pager, each must get
    /// every page, so pages stay here instead of being handed over.
    shared: AtomicBool,
}

/// Pagers, from module init to exit.
pub(crate) type Pagers = Registry<Pager>;
static PAGERS: Global<Pagers> = Global::new();
/// Netlink port of the daemon that gets page-request events (0: none).
static LISTENER: AtomicU32 = AtomicU32::new(0);

pub(crate) fn init_registry() -> Result<GlobalOwner<Pagers>> {
    Ok(PAGERS.set(KBox::pin_init(Pagers::new(), GFP_KERNEL)?))
}

/// What a fault gets.
pub(crate) enum Lookup {
    /// This page (its reference goes to the fault).
    Page(PageRef),
    /// Requested from the daemon: wait, then retry.
    Remote,
}

impl Pager {
    /// A pager for `pid`, registered, with its file (which holds one reference).
    pub(crate) fn new(pid: u32) -> Result<(Arc<Pager>, AnonFile)> {
        let p = Arc::pin_init(
            pin_init!(Pager {
                watch <- kernel::new_mutex!(None),
                pid,
                pages <- PageArray::new(),
                wq <- WaitQueue::new(),
                state: AtomicEnum::new(PagerState::Active),
                faults: AtomicU32::new(0),
                remote_faults: AtomicU32::new(0),
                zero_fills: AtomicU32::new(0),
                delivered: [const { AtomicU64::new(0) }; KINDS],
                shared: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )?;
        let reg = PAGERS.get()?;
        reg.insert(p.clone(), |q| q.pid == pid)?;
        match AnonFile::pager(p.clone()) {
            Ok(file) => Ok((p, file)),
            Err(e) => {
                reg.remove(|q| q.pid == pid);
                Err(e)
            }
        }
    }

    /// Watch current's address space (the restored task's) for MADV_DONTNEED on lazy
    /// ranges. Without CONFIG_MMU_NOTIFIER (or if registration fails), pages dropped that
    /// way that had not arrived yet would read back their old contents: logged.
    pub(crate) fn watch(&self, file: &AnonFile) {
        let w = MmWatch::pager(file);
        if w.is_none() {
            pr_warn!("pid {}: no MMU notifier; MADV_DONTNEED on pages not yet here is not seen\n", self.pid);
        }
        *self.watch.lock() = w;
    }

    fn request(&self, pgoff: u64) {
        let port = LISTENER.load(Ordering::Acquire);
        let sent = if port == 0 {
            Err(crate::bind::errno::enotconn())
        } else {
            Message::event(uapi::CMD_PAGE_REQUEST, 0).and_then(|mut m| {
                m.put_u32(uapi::A_PAGER_PID, self.pid)?;
                m.put_u64(uapi::A_PAGER_ADDR, pgoff << PAGE_SHIFT, uapi::A_PAGER_PAD)?;
                m.put_u32(uapi::A_PAGER_FAULTS, self.faults.load(Ordering::Relaxed))?;
                m.send_to(port)
            })
        };
        if let Err(e) = sent {
            ratelimited(|| pr_warn!("pid {}: cannot send a page request to the daemon ({:?})\n", self.pid, e));
        }
    }

    fn end(&self, state: PagerState) {
        if self.state.transition(PagerState::Active, state).is_ok() {
            self.summary(if state == PagerState::Complete { "complete" } else { "failed, absent pages now SIGBUS" });
        }
        self.wq.wake_all();
    }

    fn summary(&self, what: &str) {
        let mut d = [0u64; KINDS];
        d.iter_mut().zip(self.delivered.iter()).for_each(|(d, c)| *d = c.load(Ordering::Relaxed));
        pr_info!(
            "pid {}: pager {}: {} faults ({} remote, {} zero), pages by fault {}, prefetch {}, push {}, eager {}\n",
            self.pid,
            what,
            self.faults.load(Ordering::Relaxed),
            self.remote_faults.load(Ordering::Relaxed),
            self.zero_fills.load(Ordering::Relaxed),
            d[PageKind::Fault as usize],
            d[PageKind::Prefetch as usize],
            d[PageKind::Push as usize],
            d[PageKind::Eager as usize]
        );
    }

    /// A new page for the pager, unless the `pager-alloc` fault point is armed.
    fn alloc(&self, data: Option<&[u8]>) -> Result<PageRef> {
        if fault::armed(FaultPoint::PagerAlloc) {
            ratelimited(|| pr_warn!("fault point pager-alloc: page allocation fails (pid {})\n", self.pid));
            return Err(code::ENOMEM);
        }
        match data {
            Some(d) => PageRef::with_contents(d),
            None => PageRef::alloc(true),
        }
    }

    fn zero_fill(&self) -> Result<Lookup> {
        // An injected failure is a SIGBUS (EFAULT), not an OOM the fault would retry.
        let z = self.alloc(None).map_err(|e| if fault::armed(FaultPoint::PagerAlloc) { code::EFAULT } else { e })?;
        self.zero_fills.fetch_add(1, Ordering::Relaxed);
        Ok(Lookup::Page(z))
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

#[pinned_drop]
impl PinnedDrop for Pager {
    fn drop(self: Pin<&mut Self>) {
        // The last reference: no fault, doit or delivery uses the pager any more. The watch
        // and the page array go with the fields (unwatching may sleep: every place that can
        // drop the last reference is process context, see restore.rs and the file release).
        if self.state.load() == PagerState::Active {
            self.summary("gone with its task");
        }
    }
}

/// MMU notifier: the task dropped `count` pages from `pgoff` on. Does not sleep.
pub(crate) fn discard(p: &Pager, pgoff: u64, count: u64) {
    p.pages.discard(pgoff, count);
}

/// Fault step 1: the page, or Remote if it must come from the network (requested), or an
/// error (ENOMEM: OOM; others: SIGBUS). Process context, mmap or VMA lock held.
pub(crate) fn lookup(p: &Pager, pgoff: u64) -> Result<Lookup> {
    p.faults.fetch_add(1, Ordering::Relaxed);
    match p.pages.take(pgoff, p.shared.load(Ordering::Acquire)) {
        Slot::Page(page) => return Ok(Lookup::Page(page)),
        Slot::Served => return p.zero_fill(),
        Slot::Absent => {}
    }
    match p.state.load() {
        PagerState::Complete => p.zero_fill(),
        PagerState::Failed => Err(code::EFAULT),
        PagerState::Active => {
            p.remote_faults.fetch_add(1, Ordering::Relaxed);
            p.request(pgoff);
            Ok(Lookup::Remote)
        }
    }
}

/// Fault step 2: wait (killable, without the mmap lock when the fault allows it) until the
/// page is here or the pager ended. Never returns later than FAULT_TIMEOUT_MS.
pub(crate) fn wait(p: &Pager, pgoff: u64) {
    let deadline = clock::monotonic_ms() + FAULT_TIMEOUT_MS;
    loop {
        let ready = || p.pages.present(pgoff) || p.state.load() != PagerState::Active;
        match p.wq.wait_killable(&ready, RESEND_MS) {
            Ok(true) | Err(_) => return,
            Ok(false) if clock::monotonic_ms() >= deadline => {
                pr_warn!(
                    "pid {}: no answer for page {:#x} in {} ms: the source is gone\n",
                    p.pid,
                    pgoff << PAGE_SHIFT,
                    FAULT_TIMEOUT_MS
                );
                p.end(PagerState::Failed);
                return;
            }
            Ok(false) => p.request(pgoff),
        }
    }
}

/// vm_ops.open (split, mremap, fork). A new VMA in another address space than the
/// caller's is a fork (dup_mmap runs in the parent): from now on pages are lent, not handed
/// over.
pub(crate) fn vma_opened(p: &Pager, other_mm: bool) {
    if other_mm && !p.shared.swap(true, Ordering::AcqRel) {
        pr_info!("pid {}: forked; its pager now lends pages to both\n", p.pid);
    }
}

/// The last close of the pager's file (no mapping uses it any more).
pub(crate) fn file_released(p: Arc<Pager>) {
    if let Ok(reg) = PAGERS.get() {
        reg.remove(|q| q.pid == p.pid);
    }
}

/// A netlink socket of the initial netns closed: if it was the listener, forget it.
/// Atomic context (netlink notifier chain).
pub(crate) fn port_released(portid: u32) {
    if portid != 0 && LISTENER.compare_exchange(portid, 0, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        pr_info!("pager listener (netlink port {}) closed\n", portid);
    }
}

fn find(req: &Request<'_>) -> Result<Arc<Pager>> {
    let pid = req.need_u32(uapi::A_PAGER_PID)?;
    PAGERS.get()?.find(|p| p.pid == pid).ok_or(code::ESRCH)
}

/// The `page-data` doit.
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
    for (i, page) in data.chunks_exact(PAGE_SIZE).enumerate() {
        let pgoff = (addr >> PAGE_SHIFT) + i as u64;
        if p.pages.present(pgoff) {
            continue;
        }
        if p.pages.store_new(pgoff, p.alloc(Some(page))?)? {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
    p.wq.wake_all();
    Ok(())
}

/// The `pager-end` doit.
pub(crate) fn end(req: &Request<'_>) -> Result {
    let p = find(req)?;
    match PagerEnd::from_u32(req.need_u32(uapi::A_PAGER_END)?) {
        Some(PagerEnd::Complete) => p.end(PagerState::Complete),
        _ => p.end(PagerState::Failed),
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
    Ok(())
}
