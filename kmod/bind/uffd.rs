// SPDX-License-Identifier: GPL-2.0
//! The kernel's userfaultfd, driven by the module through the context's file (glue in
//! kmod/glue/uffd.c; the why is in docs/design/lazy-userfaultfd.md): [`UffdDev`] (the
//! /dev/userfaultfd file a context is created from), [`Uffd`] (one context: its file and the
//! wait entry that schedules the module's drain work), [`Staging`] (user memory of `current`
//! for the ioctls' arguments), [`HelperMm`] (a daemon's mm a kworker borrows to have such
//! memory), [`KernelCreds`] (the init task's credentials for a scope).
//!
//! Every ioctl reads its argument from user memory of `current`, never from a kernel buffer
//! (6.12 has no such path): feature code calls them inside [`Staging::with`] (a doit, whose
//! `current` is a daemon thread) or [`HelperMm::with_staging`] (a kworker).

use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::code;
use kernel::ffi::c_void;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

use super::ffi::{self, UffdMsg, UffdioApi, UffdioCopy, UffdioRange, UffdioRegister, UffdioZeropage};
use super::file::FileRef;
use super::mm::MmRef;

/// The /dev/userfaultfd misc device, opened with the caller's credentials.
pub(crate) struct UffdDev(FileRef);

impl UffdDev {
    /// Open it (process context; a daemon doit, as root).
    pub(crate) fn open() -> Result<Self> {
        // SAFETY: filp_open with a constant path; returns a file reference or an ERR_PTR.
        let f = unsafe { ffi::migr_uffd_dev_open() };
        // SAFETY: as just said.
        Ok(UffdDev(unsafe { FileRef::from_result(f) }?))
    }
}

/// What a context reports (struct uffd_msg).
#[derive(Clone, Copy, Debug)]
pub(crate) enum UffdEvent {
    /// A thread waits for the page at this address (page-aligned here).
    Fault(u64),
    /// The mm forked; the child's context was installed as this descriptor of `current`.
    Fork(u32),
    /// mremap moved `[from, from + len)` to `to`.
    Remap { from: u64, to: u64, len: u64 },
    /// MADV_DONTNEED/FREE/REMOVE on `[start, end)` (sent before the zap).
    Remove { start: u64, end: u64 },
    /// munmap (or a mapping over) `[start, end)`.
    Unmap { start: u64, end: u64 },
}

/// A userfaultfd context and the wait entry that schedules the module's drain work when it
/// has something to read.
///
/// # Invariants
/// `watch` is a `struct migr_uffd_watch` on the queue of the context of `file`; removed on
/// drop before `file`'s reference goes.
pub(crate) struct Uffd {
    watch: NonNull<c_void>,
    file: FileRef,
}

// SAFETY: the file and the wait entry may be used and released from any thread.
unsafe impl Send for Uffd {}
// SAFETY: every method either reads (kernel_read has its own locking) or issues ioctls,
// which the userfaultfd code serializes itself.
unsafe impl Sync for Uffd {}

impl Drop for Uffd {
    fn drop(&mut self) {
        // SAFETY: the entry is on the context's queue (type invariant); the file (dropped
        // after this) keeps the context, and so the queue head, alive until then.
        unsafe { ffi::migr_uffd_unwatch(self.watch.as_ptr()) };
    }
}

fn watched(file: FileRef) -> Result<Uffd> {
    // SAFETY: `file` is a userfaultfd file (the callers' contract), so its private data is a
    // userfaultfd_ctx, alive while the reference is.
    let w = unsafe { ffi::migr_uffd_watch(file.raw()) };
    // INVARIANT: a non-null entry is on the queue of `file`'s context.
    Ok(Uffd { watch: NonNull::new(w).ok_or(code::ENOMEM)?, file })
}

fn ioctl<T>(file: &FileRef, st: &Staging, cmd: u32, arg: &mut T) -> Result<i64> {
    let size = u32::try_from(core::mem::size_of::<T>()).map_err(|_| code::EINVAL)?;
    // SAFETY: the file is live (FileRef invariant); `arg` is `size` readable and writable
    // bytes; `st.args()` is user memory of current with room for any uffdio struct.
    let r = unsafe { ffi::migr_uffd_ioctl(file.raw(), cmd, st.args(), (arg as *mut T).cast(), size) };
    if r < 0 {
        Err(Error::from_errno(r as i32))
    } else {
        Ok(r as i64)
    }
}

impl Uffd {
    /// A context for `current`'s mm (the restored task, in its own ioctl), with the fork,
    /// remap, remove and unmap events, and `ranges` registered for missing pages. Uses a
    /// staging area in `current`'s mm, unmapped before returning. Process context.
    pub(crate) fn create(dev: &UffdDev, ranges: &[(u64, u64)]) -> Result<Self> {
        // SAFETY: `dev` is a live /dev/userfaultfd file; the glue returns a new file
        // reference or an ERR_PTR.
        let f = unsafe { ffi::migr_uffd_new(dev.0.raw()) };
        // SAFETY: as just said.
        let file = unsafe { FileRef::from_result(f) }?;
        Staging::with(|st| {
            // SAFETY: constants of the glue, never written.
            let (api, features, missing) =
                unsafe { (ffi::migr_uffd_api, ffi::migr_uffd_features, ffi::migr_uffd_register_mode_missing) };
            let mut a = UffdioApi { api, features, ioctls: 0 };
            {
                // EVENT_FORK needs CAP_SYS_PTRACE in the caller: the module's, not the user's.
                let _creds = KernelCreds::begin()?;
                // SAFETY: a constant of the glue.
                ioctl(&file, st, unsafe { ffi::migr_uffdio_api }, &mut a)?;
            }
            for &(start, end) in ranges {
                let mut r = UffdioRegister { range: UffdioRange { start, len: end - start }, mode: missing, ioctls: 0 };
                // SAFETY: a constant of the glue.
                ioctl(&file, st, unsafe { ffi::migr_uffdio_register }, &mut r)?;
            }
            Ok(())
        })?;
        watched(file)
    }

    /// The child's context of a fork event, taken out of `current`'s descriptor table.
    pub(crate) fn from_fork(fd: u32) -> Result<Self> {
        // SAFETY: file_close_fd on current's table; a file reference or null.
        let f = unsafe { ffi::migr_take_fd(fd) };
        // SAFETY: file_close_fd hands over the table's reference (or returns null, which
        // gives EINVAL). The descriptor of a fork event is a userfaultfd file: the only
        // descriptors callers pass are `UffdEvent::Fork`'s, read in this same task.
        let file = unsafe { FileRef::from_result(f) }.map_err(|_| code::EBADF)?;
        watched(file)
    }

    /// The next message, None if none is pending. Does not sleep on the context.
    pub(crate) fn read(&self) -> Result<Option<UffdEvent>> {
        let mut m = UffdMsg::default();
        // SAFETY: the file is live; `m` is a writable struct uffd_msg (layout asserted).
        let r = unsafe { ffi::migr_uffd_read(self.file.raw(), &mut m) };
        if r == -(bindings::EAGAIN as kernel::ffi::c_long) {
            return Ok(None);
        }
        if r < 0 {
            return Err(Error::from_errno(r as i32));
        }
        if r as usize != core::mem::size_of::<UffdMsg>() {
            return Err(code::EIO);
        }
        // SAFETY: constants of the glue.
        let ev = unsafe {
            [
                ffi::migr_uffd_event_pagefault,
                ffi::migr_uffd_event_fork,
                ffi::migr_uffd_event_remap,
                ffi::migr_uffd_event_remove,
                ffi::migr_uffd_event_unmap,
            ]
        };
        let [a0, a1, a2] = m.arg;
        let page = !(PAGE_SIZE as u64 - 1);
        Ok(Some(match m.event {
            e if e == ev[0] => UffdEvent::Fault(a1 & page),
            e if e == ev[1] => UffdEvent::Fork(a0 as u32),
            e if e == ev[2] => UffdEvent::Remap { from: a0, to: a1, len: a2 },
            e if e == ev[3] => UffdEvent::Remove { start: a0, end: a1 },
            e if e == ev[4] => UffdEvent::Unmap { start: a0, end: a1 },
            _ => return Err(code::EIO),
        }))
    }

    /// Does this context serve `mm`?
    pub(crate) fn serves(&self, mm: &MmRef) -> bool {
        // SAFETY: the file is a live userfaultfd file; only the pointer is compared.
        unsafe { ffi::migr_uffd_mm(self.file.raw()) as usize == mm.addr() }
    }

    /// The served address space, if it still has users.
    pub(crate) fn mm(&self) -> Option<MmRef> {
        // SAFETY: the file is a live userfaultfd file (type invariant), whose context keeps
        // an mmgrab on its mm, so the pointer is valid for mmget_not_zero.
        let mm = unsafe { ffi::migr_uffd_mm(self.file.raw()) };
        // SAFETY: as above.
        if unsafe { ffi::migr_mmget_not_zero(mm) } {
            // SAFETY: we own the mm_users reference just taken.
            NonNull::new(mm).map(|m| unsafe { MmRef::from_counted(m) })
        } else {
            None
        }
    }

    /// Place one page of `data` at `dst` (UFFDIO_COPY; wakes the faults waiting on it).
    /// EEXIST: a page is there; EAGAIN: an event must be read first; ESRCH: the mm is gone;
    /// ENOENT: no registered mapping there.
    pub(crate) fn copy(&self, st: &Staging, dst: u64, data: &[u8]) -> Result {
        if data.len() != PAGE_SIZE {
            return Err(code::EINVAL);
        }
        st.write_data(data)?;
        let mut c = UffdioCopy { dst, src: st.data(), len: PAGE_SIZE as u64, mode: 0, copy: 0 };
        // SAFETY: a constant of the glue.
        ioctl(&self.file, st, unsafe { ffi::migr_uffdio_copy }, &mut c).map(|_| ())
    }

    /// Place a run of whole pages (at most [`STAGING_PAGES`]) at `dst` with one UFFDIO_COPY
    /// (waking the faults on them): how many bytes from the start were placed, all of them
    /// or fewer where the copy stopped (a page already there, the run leaving its mapping,
    /// the mappings changing: the kernel places pages in order and stops at the first it
    /// cannot). The caller places the page it stopped at with [`Uffd::copy`], which tells
    /// those cases apart. Errors: ESRCH, the mm is gone; EFAULT/EINVAL from the staging.
    pub(crate) fn copy_run(&self, st: &Staging, dst: u64, data: &[u8]) -> Result<usize> {
        if data.is_empty() || data.len() % PAGE_SIZE != 0 {
            return Err(code::EINVAL);
        }
        st.write_data(data)?;
        let mut c = UffdioCopy { dst, src: st.data(), len: data.len() as u64, mode: 0, copy: 0 };
        // SAFETY: a constant of the glue.
        match ioctl(&self.file, st, unsafe { ffi::migr_uffdio_copy }, &mut c) {
            Ok(_) => Ok(data.len()),
            Err(e) if e == code::ESRCH => Err(e),
            // `copy` holds the bytes placed (partial: EAGAIN) or the error of the first page.
            Err(_) => Ok(usize::try_from(c.copy).unwrap_or(0).min(data.len()) / PAGE_SIZE * PAGE_SIZE),
        }
    }

    /// Map the zero page at `dst` (UFFDIO_ZEROPAGE; errors as for `copy`).
    pub(crate) fn zeropage(&self, st: &Staging, dst: u64) -> Result {
        let mut z = UffdioZeropage { range: UffdioRange { start: dst, len: PAGE_SIZE as u64 }, mode: 0, zeropage: 0 };
        // SAFETY: a constant of the glue.
        ioctl(&self.file, st, unsafe { ffi::migr_uffdio_zeropage }, &mut z).map(|_| ())
    }

    /// Make one missing page at `dst` SIGBUS when touched (UFFDIO_POISON; errors as for
    /// `copy`).
    pub(crate) fn poison(&self, st: &Staging, dst: u64) -> Result {
        let mut p = UffdioZeropage { range: UffdioRange { start: dst, len: PAGE_SIZE as u64 }, mode: 0, zeropage: 0 };
        // SAFETY: a constant of the glue; uffdio_poison has uffdio_zeropage's layout
        // (range, mode, s64 result: both asserted 32 bytes in the glue).
        ioctl(&self.file, st, unsafe { ffi::migr_uffdio_poison }, &mut p).map(|_| ())
    }

    /// Unregister every mapping registered on this context (UFFDIO_UNREGISTER, adjacent ones
    /// in one call): they become plain anonymous memory while the context still lives, and
    /// the faults waiting in them are woken to fault again. Closing a context that still has
    /// registered mappings leaves a window (`released` set, mappings not yet cleared, the
    /// mmap lock wanted for writing) in which a fault returns VM_FAULT_NOPAGE and is retried
    /// at once: a fault taken in kernel mode (a read() into the range) then retries without
    /// a scheduling point, and on one CPU without preemption it starves the closer forever
    /// (seen: an RCU stall, the task spinning in the fault path). Unregistering first has no
    /// such window: a fault on a still-registered mapping waits for its message instead.
    /// Process context, with `st` in current's mm.
    pub(crate) fn unregister_all(&self, st: &Staging) -> Result {
        let mut pairs = KVec::from_elem(0u64, 2 * MAX_REGISTERED, GFP_KERNEL)?;
        // SAFETY: the file is a live userfaultfd file (type invariant); `pairs` has room for
        // MAX_REGISTERED pairs.
        let n = unsafe { ffi::migr_uffd_registered(self.file.raw(), pairs.as_mut_ptr(), MAX_REGISTERED as u32) };
        if n < 0 {
            return Err(Error::from_errno(n as i32));
        }
        let ranges = pairs.chunks_exact(2).take(n as usize).filter_map(|p| match p {
            [s, e] => Some((*s, *e)),
            _ => None,
        });
        let mut ranges = ranges.peekable();
        while let Some((start, mut end)) = ranges.next() {
            while let Some(&(s, e)) = ranges.peek() {
                if s != end {
                    break;
                }
                end = e;
                ranges.next();
            }
            let mut r = UffdioRange { start, len: end.saturating_sub(start) };
            // SAFETY: a constant of the glue.
            ioctl(&self.file, st, unsafe { ffi::migr_uffdio_unregister }, &mut r)?;
        }
        Ok(())
    }

    /// Wake the faults waiting in `[start, start + len)` (they fault again).
    pub(crate) fn wake(&self, st: &Staging, start: u64, len: u64) -> Result {
        let mut r = UffdioRange { start, len };
        // SAFETY: a constant of the glue.
        ioctl(&self.file, st, unsafe { ffi::migr_uffdio_wake }, &mut r).map(|_| ())
    }
}

/// User memory in `current`'s mm: room for [`STAGING_PAGES`] pages of data (a netlink
/// `page-data` request's run) and one page for an ioctl's argument; anonymous memory mapped
/// for the call ([`Staging::with`]) or the sender's own ([`Staging::with_given`]). Only exists inside [`Staging::with`], in the mm it was mapped in.
pub(crate) struct Staging {
    addr: u64,
}

/// Pages of data a staging area holds: a `page-data` request's largest run (uapi
/// MAX_PAGE_RUN), placed with one UFFDIO_COPY.
pub(crate) const STAGING_PAGES: usize = 15;
const STAGING_LEN: u64 = (STAGING_PAGES as u64 + 1) * PAGE_SIZE as u64;
// The area a sender may give instead (uapi `staging`) has the size the uapi promises.
const _: () = assert!(STAGING_LEN == crate::uapi_gen::STAGING_LEN as u64);
/// Registered mappings `unregister_all` handles in one context (a lazy image has at most
/// uapi MAX_VMAS mappings; forks and mremap split a few more).
const MAX_REGISTERED: usize = 2048;

impl Staging {
    /// Run `f` with a staging area mapped in `current`'s mm (process context, with an mm:
    /// a doit, the restored task, or a kworker inside `HelperMm::with_staging`).
    pub(crate) fn with<R>(f: impl FnOnce(&Staging) -> Result<R>) -> Result<R> {
        // SAFETY: constants of the glue (kmod/glue/mm.c), never written.
        let (rw, flags) = unsafe {
            ((ffi::migr_prot_read | ffi::migr_prot_write) as _, (ffi::migr_map_private | ffi::migr_map_anonymous) as _)
        };
        // SAFETY: a new anonymous mapping wherever the kernel puts it; vm_mmap checks the
        // arguments and takes the mmap lock (not held here).
        let a = unsafe { bindings::vm_mmap(core::ptr::null_mut(), 0, STAGING_LEN as _, rw, flags, 0) } as i64;
        if (-4095..0).contains(&a) {
            return Err(Error::from_errno(a as i32));
        }
        let st = Staging { addr: a as u64 };
        let r = f(&st);
        // SAFETY: unmaps exactly what was mapped above, in the same mm (the closure cannot
        // switch mm: `HelperMm::with_staging` maps inside its own borrow).
        unsafe { bindings::vm_munmap(st.addr as _, STAGING_LEN as _) };
        r
    }

    /// Run `f` with the staging area the sender of a doit gave (uapi `staging`: STAGING_LEN
    /// bytes of its own memory, page-aligned), or, without one, with one mapped for the call
    /// (`with`). A given area costs no mapping and no page faults per request. It is only
    /// ever reached through copy_to_user and the ioctls' own user accesses, which check it:
    /// a bad address (not user memory, not mapped, not writable) ends in EFAULT, never in a
    /// write anywhere else; the sender's own memory is all it can name.
    pub(crate) fn with_given<R>(given: Option<u64>, f: impl FnOnce(&Staging) -> Result<R>) -> Result<R> {
        match given {
            None => Self::with(f),
            Some(addr) if addr % PAGE_SIZE as u64 != 0 || addr.checked_add(STAGING_LEN).is_none() => Err(code::EINVAL),
            Some(addr) => f(&Staging { addr }),
        }
    }

    fn data(&self) -> u64 {
        self.addr
    }

    fn args(&self) -> u64 {
        self.addr + (STAGING_PAGES * PAGE_SIZE) as u64
    }

    fn write_data(&self, data: &[u8]) -> Result {
        let len = u32::try_from(data.len()).map_err(|_| code::EINVAL)?;
        if len as usize > STAGING_PAGES * PAGE_SIZE {
            return Err(code::EINVAL);
        }
        // SAFETY: `data` is readable; the destination is this staging area's data pages.
        kernel::error::to_result(unsafe { ffi::migr_copy_to_user(self.data(), data.as_ptr().cast(), len) })
    }
}

/// A daemon's mm (mmgrab: its memory may go, the struct stays), which a kworker borrows for
/// a staging area.
///
/// # Invariants
/// `0` is an mm on which this value owns one mm_count reference (mmgrab).
pub(crate) struct HelperMm(NonNull<bindings::mm_struct>);

// SAFETY: an mm_count reference may be dropped from any thread.
unsafe impl Send for HelperMm {}
// SAFETY: no method changes the value.
unsafe impl Sync for HelperMm {}

impl HelperMm {
    /// `current`'s mm (a doit's daemon thread); None for a kernel thread.
    pub(crate) fn of_current() -> Option<Self> {
        // SAFETY: reads current->mm and mmgrabs it.
        let mm = unsafe { ffi::migr_mmgrab_current() };
        // INVARIANT: the reference just taken is ours.
        NonNull::new(mm).map(HelperMm)
    }

    /// Run `f` with a staging area in this mm, borrowed by the calling kworker
    /// (kthread_use_mm). ESRCH if the daemon's address space is gone. Kworker context only.
    pub(crate) fn with_staging<R>(&self, f: impl FnOnce(&Staging) -> Result<R>) -> Result<R> {
        // SAFETY: the mm struct is alive (type invariant); the glue takes mm_users only if
        // the address space still has users, and the caller is a kworker (no mm of its own).
        if !unsafe { ffi::migr_use_mm(self.0.as_ptr()) } {
            return Err(code::ESRCH);
        }
        let r = Staging::with(f);
        // SAFETY: borrowed above, in this same thread.
        unsafe { ffi::migr_unuse_mm(self.0.as_ptr()) };
        r
    }
}

impl Drop for HelperMm {
    fn drop(&mut self) {
        // SAFETY: the reference this value owns (type invariant).
        unsafe { ffi::migr_mmdrop(self.0.as_ptr()) };
    }
}

/// The init task's credentials for `current` until dropped.
pub(crate) struct KernelCreds(*const bindings::cred);

impl KernelCreds {
    pub(crate) fn begin() -> Result<Self> {
        // SAFETY: overrides current's subjective credentials; reverted on drop.
        let old = unsafe { ffi::migr_creds_kernel_begin() };
        if old.is_null() {
            Err(code::ENOMEM)
        } else {
            Ok(KernelCreds(old))
        }
    }
}

impl Drop for KernelCreds {
    fn drop(&mut self) {
        // SAFETY: the credentials override_creds returned, in the same task (the value is
        // neither Send nor moved across a sleep that could change tasks).
        unsafe { ffi::migr_creds_end(self.0) };
    }
}

/// Schedule the module's drain work now (any context).
pub(crate) fn drain_now() {
    // SAFETY: mod_delayed_work on the module's own work item.
    unsafe { ffi::migr_drain_now() };
}

/// Schedule it in `ms` unless it is already pending.
pub(crate) fn drain_later(ms: u32) {
    // SAFETY: queue_delayed_work on the module's own work item.
    unsafe { ffi::migr_drain_later(ms) };
}

/// Module exit, after every context is gone: waits for a drain in progress.
pub(crate) fn drain_stop() {
    // SAFETY: cancel_delayed_work_sync on the module's own work item; process context.
    unsafe { ffi::migr_drain_stop() };
}
