// SPDX-License-Identifier: GPL-2.0
//! The address space: which mappings a task has (dump) and of what kind, whether they can
//! travel (checks), and rebuilding them in the restore stub (restore). Page contents are
//! not here: the daemons move them through /proc/PID/mem while the source is parked and
//! the stub waits (or the pager serves them, lazy mode).

use kernel::error::code;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::str::CStr;

use crate::bind::mm::{self as bmm, vm, Backing};
use crate::fault::{self, FaultPoint};
use crate::uapi_gen::{self as uapi, Refusal, VmaKind};

pub(crate) use crate::bind::mm::{MmFields, MmRef, VmaInfo};

/// Flags only madvise sets; restored after mapping.
const MADVISE_FLAGS: u64 = vm::DONTCOPY | vm::DONTDUMP | vm::WIPEONFORK;
/// Entries of mm->saved_auxv copied (AT_VECTOR_SIZE, 50 on x86-64, with room to spare).
pub(crate) const AUXV_MAX: usize = 64;
/// End of the user address space with 4-level paging.
pub(crate) const USER_END: u64 = 1 << 47;

/// What a mapping is, from its flags and the mm's fields (the vdso address, heap and stack
/// bounds), as the source and the restore both see it.
fn classify(mm: &MmFields, v: &VmaInfo) -> VmaKind {
    if v.has_file != 0 {
        VmaKind::File
    } else if v.start == mm.vdso {
        VmaKind::Vdso
    } else if v.end == mm.vdso && v.flags & (vm::PFNMAP | vm::MIXEDMAP | vm::IO) != 0 {
        VmaKind::Vvar
    } else if v.start <= mm.brk && v.end >= mm.start_brk {
        VmaKind::Heap
    } else if v.start <= mm.start_stack && v.end >= mm.start_stack {
        VmaKind::Stack
    } else {
        VmaKind::Anon
    }
}

/// Each mapping of `mm` with its kind (paths only if `with_paths`), under the mmap lock.
fn for_each_vma(mm: &MmRef, with_paths: bool, mut f: impl FnMut(VmaKind, &VmaInfo, &[u8]) -> Result) -> Result {
    mm.for_each_vma(with_paths, |fields, v, path| f(classify(fields, v), v, path))
}

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

/// Why this address space cannot travel, if it cannot: (refusal, address).
pub(crate) fn refusal(mm: &MmRef) -> Result<Option<(Refusal, u64)>> {
    let mut found = None;
    let mut count = 0u32;
    for_each_vma(mm, false, |kind, v, _| {
        count += 1;
        if found.is_some() {
            return Ok(());
        }
        if v.flags & (vm::SHARED | vm::MAYSHARE) != 0 {
            found = Some((Refusal::SharedMemory, v.start));
        } else if v.flags & (vm::IO | vm::PFNMAP | vm::MIXEDMAP) != 0 && kind != VmaKind::Vvar {
            found = Some((Refusal::DeviceMapping, v.start));
        }
        Ok(())
    })?;
    if found.is_none() && count > uapi::MAX_VMAS {
        found = Some((Refusal::TooManyVmas, 0));
    }
    Ok(found)
}

impl Vma {
    fn kind(&self) -> Option<VmaKind> {
        VmaKind::from_u32(self.info.kind)
    }

    /// Is this mapping served by the pager in lazy mode? Heap and anonymous memory are; the
    /// stack is not (it travels before the task runs: the task needs it at once). The source uses the same rule to
    /// choose which pages to send before the task runs (uapi/migr.yaml, `mode`).
    pub(crate) fn is_lazy(&self) -> bool {
        matches!(self.kind(), Some(VmaKind::Anon | VmaKind::Heap)) && self.info.flags & vm::GROWSDOWN == 0
    }
}

/// Map one mapping of the image into current, with its madvise-only flags. Lazy mappings
/// are anonymous memory like the others (the pager registers them afterwards).
fn map_one(v: &Vma) -> Result {
    let i = &v.info;
    let r = match v.kind() {
        Some(VmaKind::Vdso | VmaKind::Vvar) => return Ok(()),
        Some(VmaKind::File) => {
            let mut cpath = KVec::with_capacity(v.path.len() + 1, GFP_KERNEL)?;
            cpath.extend_from_slice(&v.path, GFP_KERNEL)?;
            cpath.push(0, GFP_KERNEL)?;
            let path = CStr::from_bytes_with_nul(&cpath).map_err(|_| code::EINVAL)?;
            bmm::map_current(i.start, i.end, i.flags, Backing::File(path, i.pgoff))
        }
        _ => bmm::map_current(i.start, i.end, i.flags, Backing::Anon),
    };
    if let Err(e) = r {
        pr_warn!("restore: mapping {:#x}-{:#x} failed: {:?}\n", i.start, i.end, e);
        return Err(e);
    }
    if i.flags & MADVISE_FLAGS != 0 {
        bmm::add_madvise_flags(i.start, i.flags)?;
    }
    Ok(())
}

impl MmImage {
    /// The ranges the pager serves in lazy mode.
    pub(crate) fn lazy_ranges(&self) -> Result<KVec<(u64, u64)>> {
        let mut r = KVec::new();
        for v in self.vmas.iter().filter(|v| v.is_lazy()) {
            r.push((v.info.start, v.info.end), GFP_KERNEL)?;
        }
        Ok(r)
    }

    pub(crate) fn capture(mm: &MmRef) -> Result<Self> {
        let mut img = MmImage { fields: mm.fields(), auxv: KVec::new(), vmas: KVec::new() };
        let mut auxv = [0u64; AUXV_MAX];
        let n = mm.auxv(&mut auxv);
        // Keep pairs up to and including AT_NULL.
        let end = (0..n)
            .step_by(2)
            .find(|&i| auxv.get(i) == Some(&0))
            .map_or(n, |i| (i + 2).min(n));
        img.auxv.extend_from_slice(auxv.get(..end).unwrap_or(&[]), GFP_KERNEL)?;
        let vmas = &mut img.vmas;
        for_each_vma(mm, true, |kind, v, path| {
            let mut p = KVec::new();
            p.extend_from_slice(path, GFP_KERNEL)?;
            vmas.push(Vma { info: VmaInfo { kind: kind as u32, ..*v }, path: p }, GFP_KERNEL)?;
            Ok(())
        })?;
        Ok(img)
    }

    /// Check what a restore request says before anything is torn down: page-aligned,
    /// ordered, non-overlapping user ranges, known kinds, files named by absolute paths, and
    /// the mm's fields as prctl(PR_SET_MM_MAP) checks them (validate_prctl_map_addr: user
    /// addresses, ordered pairs; the lower bound is a page, since mmap_min_addr is not
    /// exported to modules, and the mappings themselves go through vm_mmap, which enforces it).
    pub(crate) fn validate(&self) -> Result {
        let page = PAGE_SIZE as u64;
        let f = &self.fields;
        let addrs = [
            f.start_code, f.end_code, f.start_data, f.end_data, f.start_brk, f.brk, f.start_stack,
            f.arg_start, f.arg_end, f.env_start, f.env_end,
        ];
        if addrs.iter().any(|&a| !(page..USER_END).contains(&a))
            || f.start_code >= f.end_code
            || f.start_data > f.end_data
            || f.start_brk > f.brk
            || f.arg_start > f.arg_end
            || f.env_start > f.env_end
        {
            pr_warn!("restore: image refused: bad mm fields\n");
            return Err(code::EINVAL);
        }
        let mut prev_end = 0u64;
        for v in self.vmas.iter() {
            let i = &v.info;
            if i.start % page != 0 || i.end % page != 0 || i.start >= i.end || i.start < prev_end
                || i.end > USER_END || v.kind().is_none()
            {
                pr_warn!("restore: bad mapping {:#x}-{:#x}\n", i.start, i.end);
                return Err(code::EINVAL);
            }
            if v.kind() == Some(VmaKind::File) && v.path.first() != Some(&b'/') {
                return Err(code::EINVAL);
            }
            prev_end = i.end;
        }
        Ok(())
    }

    /// Replace the address space of `current` (the restore stub) with this image's layout.
    /// The stub's vdso/vvar must already sit where the image has them. Once this starts
    /// unmapping, the stub can no longer return to its own code: on error the caller kills it.
    pub(crate) fn rebuild(&self, pid: u32) -> Result {
        let mm = MmRef::of_current().ok_or(code::EINVAL)?;
        let here = mm.fields();
        if here.vdso != self.fields.vdso {
            pr_warn!("restore: vdso at {:#x}, image needs {:#x}\n", here.vdso, self.fields.vdso);
            return Err(code::EBUSY);
        }
        // Everything of the stub except vdso and vvar goes.
        let mut old = KVec::new();
        for_each_vma(&mm, false, |kind, v, _| {
            if kind != VmaKind::Vdso && kind != VmaKind::Vvar {
                old.push((v.start, v.end), GFP_KERNEL)?;
            }
            Ok(())
        })?;
        for &(start, end) in old.iter() {
            bmm::unmap_current(start, end)?;
        }
        if fault::armed(FaultPoint::RestoreAfterUnmap) {
            pr_warn!("fault point restore-after-unmap: restore of pid {} fails\n", pid);
            return Err(code::EIO);
        }
        // Mappings with madvise-only flags go first, flags set at once, so that a neighbour
        // mapped later cannot merge with them before their flags differ.
        for pass_special in [true, false] {
            for v in self.vmas.iter() {
                if (v.info.flags & MADVISE_FLAGS != 0) == pass_special {
                    map_one(v)?;
                }
            }
        }
        mm.set_fields(&self.fields);
        mm.set_auxv(&self.auxv);
        Ok(())
    }
}
