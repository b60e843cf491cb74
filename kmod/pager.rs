// SPDX-License-Identifier: GPL-2.0
//! The remote pager of a task restored in lazy mode.
//!
//! Its anonymous memory (heap and anonymous mappings; the stack travels eagerly) is mapped
//! MAP_PRIVATE from a per-task file whose `.fault` (migr_glue.c) asks this pager for a
//! page: pages arrive from the daemon with `page-data` (answers to faults, prefetch,
//! background push) into an xarray keyed by the source page number (the mapping's pgoff is
//! the source address, so this survives mremap). A page handed to a fault is marked SERVED
//! and dropped here: from then on the process owns it (a write copies it into anonymous
//! memory); a later fault on a served page gets zeros, as anonymous memory does after
//! MADV_DONTNEED (an MMU notifier marks DONTNEED'd ranges served, pages there or not).
//! Once the task forks, pages are lent instead (the child faults on the same pager). A fault on an absent page sends a `page-request` event to the listening
//! daemon and waits (killable, re-sent every second, given up after FAULT_TIMEOUT_MS: then
//! this and every later fault on an absent page ends in SIGBUS). After `pager-end complete`
//! absent pages are zero (the source had nothing there); after `pager-end fail` they SIGBUS.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use kernel::bindings;
use kernel::error::code;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

use crate::glue::{self, GenlInfo};
use crate::netlink::{doit_result, require_sys_admin, Request};
use crate::registry::Registry;
use crate::uapi_gen as uapi;
use crate::waitq::WaitQueue;

const PAGE_SHIFT: u32 = 12;
const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// A fault waits this long for its page before the pager gives the source up.
const FAULT_TIMEOUT_MS: u64 = 30_000;
/// A request not answered in this long is sent again (events can be dropped).
const RESEND_MS: u32 = 1_000;

const ACTIVE: u32 = 0;
const COMPLETE: u32 = 1;
const FAILED: u32 = 2;

pub(crate) struct Pager {
    pid: u32,
    /// pgoff -> page (owned reference) or the SERVED value entry.
    pages: Opaque<bindings::xarray>,
    wq: WaitQueue,
    state: AtomicU32,
    faults: AtomicU32,
    remote_faults: AtomicU32,
    zero_fills: AtomicU32,
    delivered: [AtomicU64; 4],
    /// The MMU notifier on the task's mm (see `watch`), or null.
    watch: AtomicPtr<c_void>,
    /// Set once the task forked: parent and child fault on the same pager, each must get
    /// every page, so pages stay here instead of being handed over.
    shared: AtomicBool,
}

// SAFETY: the xarray has its own lock; counters and state are atomic; the wait queue is a
// kernel object with its own locking.
unsafe impl Send for Pager {}
// SAFETY: see `Send`.
unsafe impl Sync for Pager {}

pub(crate) type Pagers = Registry<Pager>;
static PAGERS: AtomicPtr<Pagers> = AtomicPtr::new(core::ptr::null_mut());
/// Netlink port of the daemon that gets page-request events (0: none yet).
static LISTENER: AtomicU32 = AtomicU32::new(0);

pub(crate) fn new_registry() -> Result<Pin<KBox<Pagers>>> {
    let r = KBox::pin_init(Pagers::new(), GFP_KERNEL)?;
    PAGERS.store((&*r as *const Pagers).cast_mut(), Ordering::Release);
    Ok(r)
}

fn pagers() -> &'static Pagers {
    // SAFETY: set at module init, before the family exists; used only by doits and by
    // files whose fops pin the module (see freeze.rs `REGISTRY` for the same argument).
    unsafe { &*PAGERS.load(Ordering::Acquire) }
}

fn ktime_ms() -> u64 {
    // SAFETY: no preconditions.
    (unsafe { bindings::ktime_get() } as u64) / 1_000_000
}

/// The pager's file: one reference, dropped with fput.
pub(crate) struct PagerFile(pub(crate) *mut glue::File);

impl Drop for PagerFile {
    fn drop(&mut self) {
        // SAFETY: the reference was created by `Pager::new`.
        unsafe { glue::migr_fput(self.0) };
    }
}

impl Pager {
    /// A pager for `pid`, registered, with its file (which holds one reference).
    pub(crate) fn new(pid: u32) -> Result<(Arc<Pager>, PagerFile)> {
        let p = Arc::new(
            Pager {
                pid,
                pages: Opaque::uninit(),
                wq: WaitQueue::uninit(),
                state: AtomicU32::new(ACTIVE),
                faults: AtomicU32::new(0),
                remote_faults: AtomicU32::new(0),
                zero_fills: AtomicU32::new(0),
                delivered: [const { AtomicU64::new(0) }; 4],
                watch: AtomicPtr::new(core::ptr::null_mut()),
                shared: AtomicBool::new(false),
            },
            GFP_KERNEL,
        )?;
        // SAFETY: the Arc's contents never move; nobody else has the pager yet.
        unsafe {
            glue::migr_xa_init(p.pages.get());
            p.wq.init();
        }
        pagers().insert(p.clone(), |q| q.pid == pid)?;
        let raw = Arc::into_raw(p.clone());
        // SAFETY: the file takes over the reference `raw` (given back in its release).
        let file = unsafe { glue::migr_pager_file(raw.cast_mut().cast()) };
        // SAFETY: `file` is a pointer or an ERR_PTR.
        if unsafe { bindings::IS_ERR(file.cast()) } {
            // SAFETY: no file took the reference.
            drop(unsafe { Arc::from_raw(raw) });
            pagers().remove(|q| q.pid == pid);
            // SAFETY: an ERR_PTR.
            return Err(Error::from_errno(unsafe { bindings::PTR_ERR(file.cast()) } as i32));
        }
        Ok((p, PagerFile(file)))
    }

    /// Watch current's address space (the restored task's) for MADV_DONTNEED on lazy
    /// ranges. Without CONFIG_MMU_NOTIFIER (or if registration fails), pages dropped that
    /// way that had not arrived yet would read back their old contents: logged.
    pub(crate) fn watch(&self) {
        // SAFETY: registers a notifier on current's mm; the pointer it keeps to `self` stays
        // valid because `Drop` unregisters first.
        let w = unsafe { glue::migr_pager_watch((self as *const Pager).cast_mut().cast()) };
        if w.is_null() {
            pr_warn!("pid {}: no MMU notifier; MADV_DONTNEED on pages not yet here is not seen\n", self.pid);
        }
        self.watch.store(w, Ordering::Release);
    }

    fn present(&self, pgoff: u64) -> bool {
        // SAFETY: initialised in `new`.
        unsafe { glue::migr_xa_present(self.pages.get(), pgoff as _) }
    }

    fn request(&self, pgoff: u64) {
        let port = LISTENER.load(Ordering::Acquire);
        let r = if port == 0 {
            -(bindings::ENOTCONN as i32)
        } else {
            // SAFETY: builds and sends a message; no pointers are kept.
            unsafe {
                glue::migr_pager_notify(port, self.pid, pgoff << PAGE_SHIFT, self.faults.load(Ordering::Relaxed))
            }
        };
        if r < 0 {
            pr_warn_ratelimited(self.pid, r);
        }
    }

    fn end(&self, state: u32) {
        if self.state.compare_exchange(ACTIVE, state, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.summary(if state == COMPLETE { "complete" } else { "failed, absent pages now SIGBUS" });
        }
        self.wq.wake_all();
    }

    fn summary(&self, what: &str) {
        let d: [u64; 4] = core::array::from_fn(|i| self.delivered[i].load(Ordering::Relaxed));
        pr_info!(
            "pid {}: pager {}: {} faults ({} remote, {} zero), pages by fault {}, prefetch {}, push {}, eager {}\n",
            self.pid,
            what,
            self.faults.load(Ordering::Relaxed),
            self.remote_faults.load(Ordering::Relaxed),
            self.zero_fills.load(Ordering::Relaxed),
            d[0], d[1], d[2], d[3]
        );
    }
}

fn pr_warn_ratelimited(pid: u32, err: i32) {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = ktime_ms();
    if now.saturating_sub(LAST.swap(now, Ordering::Relaxed)) > 1000 {
        pr_warn!("pid {}: cannot send a page request to the daemon ({})\n", pid, err);
    }
}

impl Drop for Pager {
    fn drop(&mut self) {
        if self.state.load(Ordering::Acquire) == ACTIVE {
            self.summary("gone with its task");
        }
        // SAFETY: the last reference: no fault, doit or delivery uses the pager any more;
        // unwatching waits for notifier callbacks in flight (it may sleep: every place that
        // can drop the last reference is process context, see restore.rs and the file).
        unsafe {
            glue::migr_pager_unwatch(self.watch.load(Ordering::Acquire), core::ptr::null_mut());
            glue::migr_xa_destroy_pages(self.pages.get());
        }
    }
}

/// MMU notifier callback (migr_glue.c): the task dropped `count` pages from `pgoff` on.
#[no_mangle]
pub(crate) unsafe extern "C" fn migr_pager_discard(pager: *mut c_void, pgoff: u64, count: u64) {
    // SAFETY: the notifier is unregistered before the pager goes (see `Drop`).
    let p = unsafe { &*pager.cast::<Pager>() };
    // SAFETY: initialised array; does not sleep.
    unsafe { glue::migr_xa_discard(p.pages.get(), pgoff as _, count as _) };
}

/// # Safety
/// `pager` must be the private data of a pager file (a reference from `Pager::new`), used
/// while that file is alive (the fault path pins it).
unsafe fn borrow<'a>(pager: *mut c_void) -> &'a Pager {
    // SAFETY: per the contract.
    unsafe { &*pager.cast::<Pager>() }
}

/// Fault step 1 (migr_glue.c `migr_pager_fault`): 0 with `*page` set, 1 if the page must
/// come from the network (requested), a negative errno for SIGBUS/OOM.
#[no_mangle]
pub(crate) unsafe extern "C" fn migr_pager_lookup(pager: *mut c_void, pgoff: u64, page: *mut *mut glue::Page) -> c_int {
    // SAFETY: called by the fault handler with the file's private data.
    let p = unsafe { borrow(pager) };
    p.faults.fetch_add(1, Ordering::Relaxed);
    // SAFETY: initialised array; `page` is the fault's out pointer.
    let keep = p.shared.load(Ordering::Acquire);
    match unsafe { glue::migr_xa_take(p.pages.get(), pgoff as _, page, keep) } {
        0 => return 0,
        1 => return zero_fill(p, page),
        _ => {}
    }
    match p.state.load(Ordering::Acquire) {
        COMPLETE => zero_fill(p, page),
        FAILED => -(bindings::EFAULT as c_int),
        _ => {
            p.remote_faults.fetch_add(1, Ordering::Relaxed);
            p.request(pgoff);
            1
        }
    }
}

fn zero_fill(p: &Pager, page: *mut *mut glue::Page) -> c_int {
    // SAFETY: allocation only.
    let z = unsafe { glue::migr_zero_page() };
    if z.is_null() {
        return -(bindings::ENOMEM as c_int);
    }
    p.zero_fills.fetch_add(1, Ordering::Relaxed);
    // SAFETY: `page` is the fault's out pointer; the new page's reference goes to the core.
    unsafe { *page = z };
    0
}

/// Fault step 2: wait (killable, without the mmap lock when the fault allows it) until the
/// page is here or the pager ended. Never returns later than FAULT_TIMEOUT_MS.
#[no_mangle]
pub(crate) unsafe extern "C" fn migr_pager_wait(pager: *mut c_void, pgoff: u64) {
    // SAFETY: called by the fault handler with the file's private data, file pinned.
    let p = unsafe { borrow(pager) };
    let deadline = ktime_ms() + FAULT_TIMEOUT_MS;
    loop {
        let ready = || p.present(pgoff) || p.state.load(Ordering::Acquire) != ACTIVE;
        match p.wq.wait_killable(&ready, RESEND_MS) {
            Ok(true) | Err(_) => return,
            Ok(false) if ktime_ms() >= deadline => {
                pr_warn!(
                    "pid {}: no answer for page {:#x} in {} ms: the source is gone\n",
                    p.pid,
                    pgoff << PAGE_SHIFT,
                    FAULT_TIMEOUT_MS
                );
                p.end(FAILED);
                return;
            }
            Ok(false) => p.request(pgoff),
        }
    }
}

/// vm_ops.open on fork (migr_glue.c): from now on pages are lent, not handed over.
#[no_mangle]
pub(crate) unsafe extern "C" fn migr_pager_forked(pager: *mut c_void) {
    // SAFETY: called with the private data of a live pager file (the VMA holds it).
    let p = unsafe { borrow(pager) };
    if !p.shared.swap(true, Ordering::AcqRel) {
        pr_info!("pid {}: forked; its pager now lends pages to both\n", p.pid);
    }
}

#[no_mangle]
pub(crate) unsafe extern "C" fn migr_pager_file_release(pager: *mut c_void) {
    // SAFETY: the last close of the pager file gives back the reference of `Pager::new`.
    let p = unsafe { Arc::from_raw(pager.cast::<Pager>().cast_const()) };
    pagers().remove(|q| q.pid == p.pid);
}

fn find(req: &Request) -> Result<Arc<Pager>> {
    let pid = req.u32(uapi::A_PAGER_PID).ok_or(code::EINVAL)?;
    pagers().find(|p| p.pid == pid).ok_or(code::ESRCH)
}

fn page_data(info: *mut GenlInfo) -> Result {
    require_sys_admin()?;
    // SAFETY: `info` belongs to the running doit.
    let req = unsafe { Request::new(info) };
    let p = find(&req)?;
    let addr = req.u64(uapi::A_PAGER_ADDR).ok_or(code::EINVAL)?;
    let data = req.get(uapi::A_PAGER_DATA).ok_or(code::EINVAL)?.bytes();
    let kind = req.u32(uapi::A_PAGER_KIND).unwrap_or(uapi::PAGE_KIND_PUSH) as usize;
    if addr % PAGE_SIZE as u64 != 0 || data.len() % PAGE_SIZE != 0 || kind >= p.delivered.len() {
        return Err(code::EINVAL);
    }
    for (i, page) in data.chunks_exact(PAGE_SIZE).enumerate() {
        let pgoff = (addr >> PAGE_SHIFT) + i as u64;
        // SAFETY: initialised array; `page` is PAGE_SIZE readable bytes.
        let r = unsafe { glue::migr_xa_fill(p.pages.get(), pgoff as _, page.as_ptr().cast()) };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        p.delivered[kind].fetch_add(r as u64, Ordering::Relaxed);
    }
    p.wq.wake_all();
    Ok(())
}

fn pager_end(info: *mut GenlInfo) -> Result {
    require_sys_admin()?;
    // SAFETY: `info` belongs to the running doit.
    let req = unsafe { Request::new(info) };
    let p = find(&req)?;
    match req.u32(uapi::A_PAGER_END).ok_or(code::EINVAL)? {
        uapi::PAGER_END_COMPLETE => p.end(COMPLETE),
        _ => p.end(FAILED),
    }
    Ok(())
}

fn pager_listen(info: *mut GenlInfo) -> Result {
    require_sys_admin()?;
    // SAFETY: `info` belongs to the running doit.
    let port = unsafe { glue::migr_info_portid(info) };
    LISTENER.store(port, Ordering::Release);
    pr_info!("pager requests go to netlink port {}\n", port);
    Ok(())
}

#[no_mangle]
pub(crate) extern "C" fn migr_nl_page_data_doit(_skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
    doit_result(page_data(info))
}

#[no_mangle]
pub(crate) extern "C" fn migr_nl_pager_end_doit(_skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
    doit_result(pager_end(info))
}

#[no_mangle]
pub(crate) extern "C" fn migr_nl_pager_listen_doit(_skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
    doit_result(pager_listen(info))
}
