// SPDX-License-Identifier: GPL-2.0
//! Address spaces: an mm reference ([`MmRef`], mmput on drop), a walk of its mappings under
//! the mmap read lock, its fields and auxv, and mapping/unmapping in `current`'s own mm.

use kernel::ffi::c_char;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::{code, to_result};
use kernel::prelude::*;
use kernel::task::Task;

use super::ffi;
use super::file::FileRef;
use super::task::raw;

pub(crate) use ffi::{MmFields, VmaInfo};

/// Longest path of a mapped file (PATH_MAX).
const PATH_MAX: usize = bindings::PATH_MAX as usize;

/// vm_flags bits, from `kernel::bindings` (include/linux/mm.h), as u64.
pub(crate) mod vm {
    macro_rules! vm_flags {
        ($($name:ident = $c:ident),* $(,)?) => {
            $(pub(crate) const $name: u64 = kernel::bindings::$c as u64;)*
        };
    }
    vm_flags! {
        READ = VM_READ, WRITE = VM_WRITE, EXEC = VM_EXEC, SHARED = VM_SHARED,
        MAYSHARE = VM_MAYSHARE, GROWSDOWN = VM_GROWSDOWN, PFNMAP = VM_PFNMAP, IO = VM_IO,
        MIXEDMAP = VM_MIXEDMAP, NORESERVE = VM_NORESERVE, DONTCOPY = VM_DONTCOPY,
        DONTDUMP = VM_DONTDUMP, WIPEONFORK = VM_WIPEONFORK,
    }
}

/// A reference to an address space.
///
/// # Invariants
/// `0` is a `mm_struct` on which this value owns one mm_users reference (get_task_mm, mmget);
/// dropped with mmput.
pub(crate) struct MmRef(NonNull<bindings::mm_struct>);

impl MmRef {
    /// The address space of `t`; `None` for kernel threads or once it exited.
    pub(crate) fn of_task(t: &Task) -> Option<Self> {
        // SAFETY: `t` is a valid task (type invariant of `Task`); get_task_mm takes
        // task_lock and returns a counted mm or null.
        let mm = unsafe { bindings::get_task_mm(raw(t)) };
        // INVARIANT: the reference get_task_mm took is ours.
        NonNull::new(mm).map(MmRef)
    }

    /// # Safety
    /// The caller owns one mm_users reference on `mm` (mmget, mmget_not_zero), which the new
    /// value takes over.
    pub(super) unsafe fn from_counted(mm: NonNull<bindings::mm_struct>) -> Self {
        // INVARIANT: the caller's reference becomes ours.
        MmRef(mm)
    }

    pub(crate) fn of_current() -> Option<Self> {
        Self::of_task(kernel::current!())
    }

    /// The mm's address, to compare identities (see `file::ProcMemProof`).
    pub(crate) fn addr(&self) -> usize {
        self.raw() as usize
    }

    fn raw(&self) -> *mut bindings::mm_struct {
        self.0.as_ptr()
    }

    /// Its fields (code/data/brk/stack/args/env bounds, vdso address), under arg_lock.
    pub(crate) fn fields(&self) -> MmFields {
        let mut f = MmFields::default();
        // SAFETY: the mm is live (type invariant); `f` is writable.
        unsafe { ffi::migr_get_mm_fields(self.raw(), &mut f) };
        f
    }

    /// Write its fields (what prctl_set_mm_map writes; the glue takes mmap_read_lock and
    /// arg_lock as it does). The vdso field is not written. Process context.
    pub(crate) fn set_fields(&self, f: &MmFields) {
        // SAFETY: the mm is live (type invariant); `f` is readable.
        unsafe { ffi::migr_set_mm_fields(self.raw(), f) };
    }

    /// The first `buf.len()` words of saved_auxv; returns how many were copied.
    pub(crate) fn auxv(&self, buf: &mut [u64]) -> usize {
        let n = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        // SAFETY: the mm is live; `buf` has room for `n` entries (the glue clamps to
        // saved_auxv's size).
        let got = unsafe { ffi::migr_get_auxv(self.raw(), buf.as_mut_ptr(), n) };
        usize::try_from(got).unwrap_or(0)
    }

    /// Replace saved_auxv (the rest zeroed), under task_lock as prctl(PR_SET_MM_AUXV).
    pub(crate) fn set_auxv(&self, auxv: &[u64]) {
        let n = u32::try_from(auxv.len()).unwrap_or(u32::MAX);
        // SAFETY: the mm is live; `auxv` has `n` readable entries.
        unsafe { ffi::migr_set_auxv(self.raw(), auxv.as_ptr(), n) };
    }

    /// Call `f` with the mm's fields and then each mapping in address order (with the file's
    /// path, without NUL, if `with_paths`; `kind` left 0 for the caller to classify), all
    /// under mmap_read_lock: `f` must not sleep on this mm or take its mmap lock (it may
    /// allocate with GFP_KERNEL). Stops at the first error.
    pub(crate) fn for_each_vma(
        &self,
        with_paths: bool,
        mut f: impl FnMut(&MmFields, &VmaInfo, &[u8]) -> Result,
    ) -> Result {
        let mut path = KVec::from_elem(0u8, if with_paths { PATH_MAX } else { 0 }, GFP_KERNEL)?;
        let mut addr = 0u64;
        // SAFETY: the mm is live (type invariant); released below on every path.
        unsafe { ffi::migr_mmap_read_lock(self.raw()) };
        let fields = self.fields();
        let res = (|| loop {
            let mut v = VmaInfo::default();
            let (p, psize) = if with_paths {
                (path.as_mut_ptr().cast::<c_char>(), PATH_MAX as u32)
            } else {
                (core::ptr::null_mut(), 0)
            };
            // SAFETY: mmap_read_lock is held; `v` is writable; `p` is null or has `psize`
            // writable bytes.
            let found = unsafe { ffi::migr_vma_at(self.raw(), addr, &mut v, p, psize) };
            if found < 0 {
                return Err(Error::from_errno(found));
            }
            if found == 0 {
                return Ok(());
            }
            let plen = path.iter().position(|&c| c == 0).unwrap_or(0);
            f(&fields, &v, path.get(..plen).unwrap_or(&[]))?;
            addr = v.end;
        })();
        // SAFETY: taken above.
        unsafe { ffi::migr_mmap_read_unlock(self.raw()) };
        res
    }
}

impl Drop for MmRef {
    fn drop(&mut self) {
        // SAFETY: drops the reference this value owns (type invariant). mmput may sleep:
        // every `MmRef` lives in process context.
        unsafe { bindings::mmput(self.raw()) };
    }
}

// SAFETY: an mm reference may be dropped on any CPU/thread; the mm's fields are read under
// its own locks.
unsafe impl Send for MmRef {}

/// What backs a new mapping of `current`.
pub(crate) enum Backing<'a> {
    Anon,
    /// The file at this path (NUL-terminated), opened read-only, from this page offset.
    File(&'a CStr, u64),
}

/// Map `[start, end)` into `current` with MAP_PRIVATE|MAP_FIXED, protection from the
/// vm_flags' READ/WRITE/EXEC, MAP_GROWSDOWN/MAP_NORESERVE from theirs. vm_mmap takes the
/// mmap write lock: the caller must not hold it. EADDRNOTAVAIL if it landed elsewhere.
pub(crate) fn map_current(start: u64, end: u64, vm_flags: u64, backing: Backing<'_>) -> Result {
    // SAFETY: the glue defines these as constant u64s (never written).
    let (pr, pw, px, private, fixed, anon, growsdown, noreserve) = unsafe {
        (
            ffi::migr_prot_read,
            ffi::migr_prot_write,
            ffi::migr_prot_exec,
            ffi::migr_map_private,
            ffi::migr_map_fixed,
            ffi::migr_map_anonymous,
            ffi::migr_map_growsdown,
            ffi::migr_map_noreserve,
        )
    };
    let bit = |flag: u64, v: u64| if vm_flags & flag != 0 { v } else { 0 };
    let prot = bit(vm::READ, pr) | bit(vm::WRITE, pw) | bit(vm::EXEC, px);
    let mut flags = private | fixed;
    let len = end.checked_sub(start).ok_or(code::EINVAL)?;
    let got = match backing {
        Backing::Anon => {
            flags |= anon | bit(vm::GROWSDOWN, growsdown) | bit(vm::NORESERVE, noreserve);
            // SAFETY: a null file is an anonymous mapping; vm_mmap checks every argument.
            unsafe { bindings::vm_mmap(core::ptr::null_mut(), start as _, len as _, prot as _, flags as _, 0) }
        }
        Backing::File(path, pgoff) => {
            let f = FileRef::open_ro(path)?;
            let off = pgoff.checked_mul(kernel::page::PAGE_SIZE as u64).ok_or(code::EINVAL)?;
            // SAFETY: `f` is a live file (FileRef invariant); vm_mmap takes its own reference.
            unsafe { bindings::vm_mmap(f.raw(), start as _, len as _, prot as _, flags as _, off as _) }
        }
    };
    let got = got as i64;
    if (-4095..0).contains(&got) {
        return Err(Error::from_errno(got as i32));
    }
    if got as u64 != start {
        return Err(super::errno::eaddrnotavail());
    }
    Ok(())
}

/// Add madvise-only flags (DONTCOPY, DONTDUMP, WIPEONFORK: others are ignored) to the
/// mapping of `current` starting at `start` (takes the mmap write lock, killable).
pub(crate) fn add_madvise_flags(start: u64, flags: u64) -> Result {
    let flags = flags & (vm::DONTCOPY | vm::DONTDUMP | vm::WIPEONFORK);
    // SAFETY: acts on current's own mm; the glue takes and releases the lock.
    to_result(unsafe { ffi::migr_vma_add_flags(start, flags) })
}

/// Unmap `[start, end)` of `current` (vm_munmap takes the mmap write lock: the caller must
/// not hold it).
pub(crate) fn unmap_current(start: u64, end: u64) -> Result {
    let len = end.checked_sub(start).ok_or(code::EINVAL)?;
    // SAFETY: vm_munmap acts on current's own mm and checks its arguments.
    to_result(unsafe { bindings::vm_munmap(start as _, len as _) })
}
