// SPDX-License-Identifier: GPL-2.0
//! The address space: which mappings a task has (dump), whether they can travel (checks),
//! and rebuilding them in the restore stub (restore). Page contents are not here: the
//! daemons move them through /proc/PID/mem while the source is parked and the stub waits.

use core::ffi::c_char;
use kernel::error::code;
use kernel::prelude::*;

use crate::glue::{self, Mm, MmFields, VmaInfo};
use crate::uapi_gen as uapi;

// vm_flags bits (include/linux/mm.h); stable across 6.x for these.
const VM_SHARED: u64 = 0x0000_0008;
const VM_MAYSHARE: u64 = 0x0000_0080;
const VM_PFNMAP: u64 = 0x0000_0400;
const VM_IO: u64 = 0x0000_4000;
const VM_MIXEDMAP: u64 = 0x1000_0000;
const VM_DONTCOPY: u64 = 0x0002_0000;
const VM_DONTDUMP: u64 = 0x0400_0000;
const VM_WIPEONFORK: u64 = 0x0200_0000;
/// Flags only madvise sets; restored after mapping.
const MADVISE_FLAGS: u64 = VM_DONTCOPY | VM_DONTDUMP | VM_WIPEONFORK;

const PATH_MAX: usize = 4096;
const PAGE_SIZE: u64 = 4096;
/// Entries of mm->saved_auxv copied (AT_VECTOR_SIZE on x86-64 is 2 * (2 + 20 + 3) = 50... with
/// room to spare); the glue clamps to the real size.
pub(crate) const AUXV_MAX: usize = 64;

pub(crate) struct Vma {
    pub(crate) info: VmaInfo,
    /// Path of the mapped file without NUL; empty for anonymous memory.
    pub(crate) path: KVec<u8>,
}

pub(crate) struct MmImage {
    pub(crate) fields: MmFields,
    pub(crate) auxv: KVec<u64>,
    pub(crate) vmas: KVec<Vma>,
}

/// A reference to an mm, dropped with mmput.
pub(crate) struct MmRef(*mut Mm);

impl MmRef {
    pub(crate) fn of_task(t: *mut glue::Task) -> Option<Self> {
        // SAFETY: callers pass a task they hold a reference on.
        let mm = unsafe { glue::migr_task_mm(t) };
        (!mm.is_null()).then(|| MmRef(mm))
    }

    pub(crate) fn of_current() -> Option<Self> {
        // SAFETY: current is always valid.
        Self::of_task(unsafe { glue::migr_current() })
    }

    /// Call `f` for each VMA in address order, under mmap_read_lock. `f` must not sleep on
    /// the mm (it may allocate). Stops at the first error.
    fn for_each_vma(&self, mut f: impl FnMut(&VmaInfo, &[u8]) -> Result, with_paths: bool) -> Result {
        let mut path = KVec::from_elem(0u8, if with_paths { PATH_MAX } else { 0 }, GFP_KERNEL)?;
        let mut addr = 0u64;
        // SAFETY: `self.0` is a live mm (we hold a reference); the lock is released below on
        // every path.
        unsafe { glue::migr_mmap_read_lock(self.0) };
        let res = (|| loop {
            let mut v = VmaInfo::default();
            let (p, psize) = if with_paths {
                (path.as_mut_ptr().cast::<c_char>(), PATH_MAX as u32)
            } else {
                (core::ptr::null_mut(), 0)
            };
            // SAFETY: mmap_read_lock is held; `v` and `path` are writable as described.
            let found = unsafe { glue::migr_vma_at(self.0, addr, &mut v, p, psize) };
            if found < 0 {
                return Err(Error::from_errno(found));
            }
            if found == 0 {
                return Ok(());
            }
            let plen = path.iter().position(|&c| c == 0).unwrap_or(0);
            f(&v, if with_paths { &path[..plen] } else { &[] })?;
            addr = v.end;
        })();
        // SAFETY: taken above.
        unsafe { glue::migr_mmap_read_unlock(self.0) };
        res
    }

    /// Why this address space cannot travel, if it cannot: (refusal, address).
    pub(crate) fn refusal(&self) -> Result<Option<(u32, u64)>> {
        let mut found = None;
        let mut count = 0u32;
        self.for_each_vma(
            |v, _| {
                count += 1;
                if found.is_some() {
                    return Ok(());
                }
                if v.flags & (VM_SHARED | VM_MAYSHARE) != 0 {
                    found = Some((uapi::REFUSAL_SHARED_MEMORY, v.start));
                } else if v.flags & (VM_IO | VM_PFNMAP | VM_MIXEDMAP) != 0
                    && v.kind != uapi::VMA_KIND_VVAR
                {
                    found = Some((uapi::REFUSAL_DEVICE_MAPPING, v.start));
                }
                Ok(())
            },
            false,
        )?;
        if found.is_none() && count > uapi::MAX_VMAS {
            found = Some((uapi::REFUSAL_TOO_MANY_VMAS, 0));
        }
        Ok(found)
    }
}

impl Drop for MmRef {
    fn drop(&mut self) {
        // SAFETY: the reference was taken by `of_task`.
        unsafe { glue::migr_mmput(self.0) };
    }
}

const VM_GROWSDOWN: u64 = 0x0000_0100;
const VM_WRITE: u64 = 0x0000_0002;

impl Vma {
    /// Is this mapping served by the pager in lazy mode? Heap and anonymous memory are; the
    /// stack is not (a file mapping cannot grow down). The source uses the same rule to
    /// choose which pages to send before the task runs (uapi/migr.yaml, `mode`).
    pub(crate) fn is_lazy(&self) -> bool {
        (self.info.kind == uapi::VMA_KIND_ANON || self.info.kind == uapi::VMA_KIND_HEAP)
            && self.info.flags & VM_GROWSDOWN == 0
    }
}

/// Map one mapping of the image into current, with its madvise-only flags. With a pager
/// file, lazy mappings are private mappings of it.
fn map_one(v: &Vma, pager: Option<*mut glue::File>) -> Result {
    let i = &v.info;
    let len = i.end - i.start;
    let r = match i.kind {
        k if k == uapi::VMA_KIND_VDSO || k == uapi::VMA_KIND_VVAR => return Ok(()),
        // SAFETY: `f` is a live pager file (the caller holds it); vm_mmap takes its own
        // reference and the mmap lock.
        _ if pager.is_some() && v.is_lazy() => unsafe {
            glue::migr_map_pager(pager.unwrap_or(core::ptr::null_mut()), i.start, len, i.flags)
        },
        k if k == uapi::VMA_KIND_FILE => {
            let mut cpath = KVec::new();
            cpath.extend_from_slice(&v.path, GFP_KERNEL)?;
            cpath.push(0, GFP_KERNEL)?;
            // SAFETY: `cpath` is NUL-terminated; mapping into current's mm with vm_mmap,
            // which takes the mmap lock itself.
            unsafe { glue::migr_map_file(cpath.as_ptr().cast(), i.start, len, i.flags, i.pgoff) }
        }
        // SAFETY: as above, anonymous memory.
        _ => unsafe { glue::migr_map_anon(i.start, len, i.flags) },
    };
    if r < 0 {
        pr_warn!("restore: mapping {:#x}-{:#x} failed: {}\n", i.start, i.end, r);
        return Err(Error::from_errno(r as i32));
    }
    if i.flags & MADVISE_FLAGS != 0 {
        // SAFETY: sets flags on current's own mapping just made; the glue takes the lock.
        let r = unsafe { glue::migr_vma_add_flags(i.start, i.flags) };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
    }
    Ok(())
}

impl MmImage {
    /// Give each writable lazy mapping its anon_vma by a copy-on-write of its first byte (the
    /// daemon delivered those pages before go), so that a fork copies page table entries
    /// instead of refaulting pages the pager has already handed out.
    pub(crate) fn touch_lazy(&self) {
        for v in self.vmas.iter().filter(|v| v.is_lazy() && v.info.flags & VM_WRITE != 0) {
            // SAFETY: one byte of current's own writable mapping, read and written back.
            if unsafe { glue::migr_touch_write(v.info.start) } < 0 {
                pr_warn!("restore: cannot touch {:#x}\n", v.info.start);
            }
        }
    }

    pub(crate) fn capture(mm: &MmRef) -> Result<Self> {
        let mut img = MmImage { fields: MmFields::default(), auxv: KVec::new(), vmas: KVec::new() };
        // SAFETY: `mm.0` is live; `fields` is writable.
        unsafe { glue::migr_get_mm_fields(mm.0, &mut img.fields) };
        let mut auxv = [0u64; AUXV_MAX];
        // SAFETY: `auxv` has room for AUXV_MAX entries.
        let n = unsafe { glue::migr_get_auxv(mm.0, auxv.as_mut_ptr(), AUXV_MAX as u32) };
        // Keep pairs up to and including AT_NULL.
        let n = usize::try_from(n).unwrap_or(0);
        let mut end = n;
        for i in (0..n).step_by(2) {
            if auxv[i] == 0 {
                end = (i + 2).min(n);
                break;
            }
        }
        img.auxv.extend_from_slice(&auxv[..end], GFP_KERNEL)?;
        let vmas = &mut img.vmas;
        mm.for_each_vma(
            |v, path| {
                let mut p = KVec::new();
                p.extend_from_slice(path, GFP_KERNEL)?;
                vmas.push(Vma { info: *v, path: p }, GFP_KERNEL)?;
                Ok(())
            },
            true,
        )?;
        Ok(img)
    }

    /// Check what a restore request says before anything is torn down: page-aligned,
    /// ordered, non-overlapping user ranges, files named by absolute paths.
    pub(crate) fn validate(&self) -> Result {
        let mut prev_end = 0u64;
        for v in self.vmas.iter() {
            let i = &v.info;
            if i.start % PAGE_SIZE != 0 || i.end % PAGE_SIZE != 0 || i.start >= i.end
                || i.start < prev_end || i.end > (1u64 << 47)
            {
                pr_warn!("restore: bad mapping {:#x}-{:#x}\n", i.start, i.end);
                return Err(code::EINVAL);
            }
            if i.kind == uapi::VMA_KIND_FILE && v.path.first() != Some(&b'/') {
                return Err(code::EINVAL);
            }
            prev_end = i.end;
        }
        Ok(())
    }

    /// Replace the address space of `current` (the restore stub) with this image's layout.
    /// The stub's vdso/vvar must already sit where the image has them. Once this starts
    /// unmapping, the stub can no longer return to its own code: on error the caller kills it.
    pub(crate) fn rebuild(&self, pager: Option<*mut glue::File>) -> Result {
        let mm = MmRef::of_current().ok_or(code::EINVAL)?;
        let mut here = MmFields::default();
        // SAFETY: `mm.0` is live; `here` is writable.
        unsafe { glue::migr_get_mm_fields(mm.0, &mut here) };
        if here.vdso != self.fields.vdso {
            pr_warn!(
                "restore: vdso at {:#x}, image needs {:#x}\n",
                here.vdso,
                self.fields.vdso
            );
            return Err(code::EBUSY);
        }
        // Everything of the stub except vdso and vvar goes.
        let mut old = KVec::new();
        mm.for_each_vma(
            |v, _| {
                if v.kind != uapi::VMA_KIND_VDSO && v.kind != uapi::VMA_KIND_VVAR {
                    old.push((v.start, v.end), GFP_KERNEL)?;
                }
                Ok(())
            },
            false,
        )?;
        for &(start, end) in old.iter() {
            // SAFETY: unmapping part of current's own address space; vm_munmap takes the
            // mmap write lock itself (we hold no mm lock here).
            let r = unsafe { glue::migr_unmap(start, end - start) };
            if r < 0 {
                return Err(Error::from_errno(r));
            }
        }
        // Mappings with madvise-only flags go first, flags set at once, so that a neighbour
        // mapped later cannot merge with them before their flags differ.
        for pass_special in [true, false] {
            for v in self.vmas.iter() {
                if (v.info.flags & MADVISE_FLAGS != 0) == pass_special {
                    map_one(v, pager)?;
                }
            }
        }
        // SAFETY: `mm.0` is current's live mm; the glue takes the locks prctl_set_mm_map takes.
        unsafe {
            glue::migr_set_mm_fields(mm.0, &self.fields);
            glue::migr_set_auxv(mm.0, self.auxv.as_ptr(), self.auxv.len() as u32);
        }
        Ok(())
    }
}
