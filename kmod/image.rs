// SPDX-License-Identifier: GPL-2.0
//! The image of a frozen task as it travels in netlink attributes (uapi/migr.yaml, set
//! `task`): written by freeze's reply, read back by restore's request.

use core::mem::size_of;
use kernel::error::code;
use kernel::prelude::*;

use crate::glue::{self, MmFields, Sigaction, VmaInfo};
use crate::mm::{MmImage, Vma, AUXV_MAX};
use crate::netlink::{Reply, Request};
use crate::thread::{ThreadImage, NREGS, NSIG};
use crate::uapi_gen as uapi;

pub(crate) struct Image {
    pub(crate) pid: u32,
    pub(crate) thread: ThreadImage,
    pub(crate) mm: MmImage,
}

/// View a slice of plain-old-data values as bytes.
fn as_bytes<T: Copy>(v: &[T]) -> &[u8] {
    // SAFETY: T is a repr(C) integer aggregate without padding (u64 arrays, Sigaction,
    // MmFields), so every byte is initialised; the length covers exactly the slice.
    unsafe { core::slice::from_raw_parts(v.as_ptr().cast::<u8>(), core::mem::size_of_val(v)) }
}

/// Fill `out` from bytes of exactly its size.
fn from_bytes<T: Copy>(out: &mut [T], b: &[u8]) -> Result {
    if b.len() != core::mem::size_of_val(out) {
        return Err(code::EINVAL);
    }
    // SAFETY: lengths match (checked above) and any bit pattern is valid for these
    // integer-only types.
    unsafe { core::ptr::copy_nonoverlapping(b.as_ptr(), out.as_mut_ptr().cast::<u8>(), b.len()) };
    Ok(())
}

impl Image {
    /// Bytes a reply needs for this image (attribute headers included, generously).
    pub(crate) fn reply_size(&self) -> usize {
        let vmas: usize = self.mm.vmas.iter().map(|v| 96 + v.path.len()).sum();
        4096 + self.thread.xstate.len() + NSIG * size_of::<Sigaction>() + vmas
    }

    pub(crate) fn put(&self, r: &mut Reply) -> Result {
        let t = &self.thread;
        let pad = uapi::A_TASK_PAD;
        r.put_u32(uapi::A_TASK_PID, self.pid)?;
        let clen = t.comm.iter().position(|&c| c == 0).unwrap_or(t.comm.len());
        let mut comm = [0u8; 17];
        comm[..clen].copy_from_slice(&t.comm[..clen]);
        r.put_bytes(uapi::A_TASK_COMM, &comm[..=clen])?;
        r.put_bytes(uapi::A_TASK_REGS, as_bytes(&t.regs))?;
        r.put_bytes(uapi::A_TASK_XSTATE, &t.xstate)?;
        r.put_u64(uapi::A_TASK_SIGMASK, t.state.sigmask, pad)?;
        r.put_bytes(uapi::A_TASK_SIGACTIONS, as_bytes(&t.sigactions))?;
        r.put_u64(uapi::A_TASK_SAS_SP, t.state.sas_sp, pad)?;
        r.put_u64(uapi::A_TASK_SAS_SIZE, t.state.sas_size, pad)?;
        r.put_u32(uapi::A_TASK_SAS_FLAGS, t.state.sas_flags)?;
        r.put_u64(uapi::A_TASK_CLEAR_CHILD_TID, t.state.clear_child_tid, pad)?;
        r.put_u64(uapi::A_TASK_ROBUST_LIST, t.state.robust_list, pad)?;
        r.put_u64(uapi::A_TASK_ROBUST_LIST_LEN, t.state.robust_list_len, pad)?;
        r.put_u64(uapi::A_TASK_RSEQ, t.state.rseq, pad)?;
        r.put_u32(uapi::A_TASK_RSEQ_LEN, t.state.rseq_len)?;
        r.put_u32(uapi::A_TASK_RSEQ_SIG, t.state.rseq_sig)?;
        r.put_u32(uapi::A_TASK_RESTART, t.state.restart)?;
        r.put_u64(uapi::A_TASK_RESTART_REMAINING_NS, t.state.restart_remaining_ns, pad)?;
        r.put_bytes(uapi::A_TASK_MM, as_bytes(core::slice::from_ref(&self.mm.fields)))?;
        r.put_bytes(uapi::A_TASK_AUXV, as_bytes(&self.mm.auxv))?;
        for v in self.mm.vmas.iter() {
            let nest = r.nest_start(uapi::A_TASK_VMA)?;
            r.put_u64(uapi::A_VMA_START, v.info.start, uapi::A_VMA_PAD)?;
            r.put_u64(uapi::A_VMA_END, v.info.end, uapi::A_VMA_PAD)?;
            r.put_u64(uapi::A_VMA_FLAGS, v.info.flags, uapi::A_VMA_PAD)?;
            r.put_u64(uapi::A_VMA_PGOFF, v.info.pgoff, uapi::A_VMA_PAD)?;
            r.put_u32(uapi::A_VMA_KIND, v.info.kind)?;
            if !v.path.is_empty() {
                let mut p = KVec::with_capacity(v.path.len() + 1, GFP_KERNEL)?;
                p.extend_from_slice(&v.path, GFP_KERNEL)?;
                p.push(0, GFP_KERNEL)?;
                r.put_bytes(uapi::A_VMA_PATH, &p)?;
            }
            r.nest_end(nest);
        }
        Ok(())
    }

    /// Read an image from a restore request. Missing mandatory parts are EINVAL; the
    /// xstate must have this CPU's size (the same CPU model on both nodes).
    pub(crate) fn parse(req: &Request) -> Result<Self> {
        let need = |ty| req.get(ty).ok_or(code::EINVAL);
        let mut regs = [0u64; NREGS];
        from_bytes(&mut regs, need(uapi::A_TASK_REGS)?.bytes())?;
        let xs = need(uapi::A_TASK_XSTATE)?.bytes();
        // SAFETY: no preconditions.
        let here = unsafe { glue::migr_xstate_size() };
        if usize::try_from(here).ok() != Some(xs.len()) {
            pr_warn!("restore: xstate of {} bytes, this CPU uses {}\n", xs.len(), here);
            return Err(code::ENOTSUPP);
        }
        let mut xstate = KVec::new();
        xstate.extend_from_slice(xs, GFP_KERNEL)?;
        let mut sigactions = [Sigaction::default(); NSIG];
        from_bytes(&mut sigactions, need(uapi::A_TASK_SIGACTIONS)?.bytes())?;
        let mut comm = [0u8; 16];
        if let Some(c) = req.get(uapi::A_TASK_COMM) {
            let s = c.string();
            let n = s.len().min(15);
            comm[..n].copy_from_slice(&s[..n]);
        }
        let u64_or0 = |ty| req.u64(ty).unwrap_or(0);
        let u32_or0 = |ty| req.u32(ty).unwrap_or(0);
        let state = glue::ThreadState {
            sigmask: u64_or0(uapi::A_TASK_SIGMASK),
            sas_sp: u64_or0(uapi::A_TASK_SAS_SP),
            sas_size: u64_or0(uapi::A_TASK_SAS_SIZE),
            sas_flags: u32_or0(uapi::A_TASK_SAS_FLAGS),
            restart: u32_or0(uapi::A_TASK_RESTART),
            restart_remaining_ns: u64_or0(uapi::A_TASK_RESTART_REMAINING_NS),
            clear_child_tid: u64_or0(uapi::A_TASK_CLEAR_CHILD_TID),
            robust_list: u64_or0(uapi::A_TASK_ROBUST_LIST),
            robust_list_len: u64_or0(uapi::A_TASK_ROBUST_LIST_LEN),
            rseq: u64_or0(uapi::A_TASK_RSEQ),
            rseq_len: u32_or0(uapi::A_TASK_RSEQ_LEN),
            rseq_sig: u32_or0(uapi::A_TASK_RSEQ_SIG),
        };
        let mut fields = [MmFields::default()];
        from_bytes(&mut fields, need(uapi::A_TASK_MM)?.bytes())?;
        let mut auxv = KVec::new();
        if let Some(a) = req.get(uapi::A_TASK_AUXV) {
            let b = a.bytes();
            if b.len() % 8 != 0 || b.len() > AUXV_MAX * 8 {
                return Err(code::EINVAL);
            }
            let mut tmp = [0u64; AUXV_MAX];
            from_bytes(&mut tmp[..b.len() / 8], b)?;
            auxv.extend_from_slice(&tmp[..b.len() / 8], GFP_KERNEL)?;
        }
        let mut vmas = KVec::new();
        for nest in req.all(uapi::A_TASK_VMA) {
            let mut tb = [core::ptr::null(); (uapi::A_VMA_PAD + 1) as usize];
            Request::parse_vma(nest, &mut tb)?;
            let m = |ty| Request::member(&tb, ty).ok_or(code::EINVAL);
            let info = VmaInfo {
                start: m(uapi::A_VMA_START)?.u64(),
                end: m(uapi::A_VMA_END)?.u64(),
                flags: m(uapi::A_VMA_FLAGS)?.u64(),
                pgoff: m(uapi::A_VMA_PGOFF).map(|a| a.u64()).unwrap_or(0),
                kind: m(uapi::A_VMA_KIND)?.u32(),
                has_file: 0,
            };
            let mut path = KVec::new();
            if let Ok(p) = m(uapi::A_VMA_PATH) {
                path.extend_from_slice(p.string(), GFP_KERNEL)?;
            }
            if vmas.len() >= uapi::MAX_VMAS as usize {
                return Err(code::E2BIG);
            }
            vmas.push(Vma { info, path }, GFP_KERNEL)?;
        }
        let img = Image {
            pid: req.u32(uapi::A_TASK_PID).unwrap_or(0),
            thread: ThreadImage { comm, regs, xstate, state, sigactions },
            mm: MmImage { fields: fields[0], auxv, vmas },
        };
        img.mm.validate()?;
        Ok(img)
    }
}
