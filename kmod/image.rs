// SPDX-License-Identifier: GPL-2.0
//! The image of a frozen task as it travels in netlink attributes (uapi/migr.yaml, set
//! `task`): written by freeze's reply, read back by restore's request.

use core::mem::size_of;
use kernel::error::code;
use kernel::prelude::*;

use crate::bind::bytes::{as_bytes, copy_from_bytes};
use crate::bind::cpu::{self, Sigaction, ThreadState, NREGS, NSIG};
use crate::bind::netlink::{Message, Request};
use crate::mm::{MmFields, MmImage, Vma, VmaInfo, AUXV_MAX};
use crate::thread::ThreadImage;
use crate::uapi_gen as uapi;

pub(crate) struct Image {
    pub(crate) pid: u32,
    pub(crate) thread: ThreadImage,
    pub(crate) mm: MmImage,
}

impl Image {
    /// Bytes a reply needs for this image (attribute headers included, generously).
    pub(crate) fn reply_size(&self) -> usize {
        let vmas: usize = self.mm.vmas.iter().map(|v| 96 + v.path.len()).sum();
        4096 + self.thread.xstate.len() + NSIG * size_of::<Sigaction>() + vmas
    }

    pub(crate) fn put(&self, r: &mut Message<'_>) -> Result {
        let t = &self.thread;
        let pad = uapi::A_TASK_PAD;
        r.put_u32(uapi::A_TASK_PID, self.pid)?;
        let clen = t.comm.iter().position(|&c| c == 0).unwrap_or(t.comm.len());
        let mut comm = [0u8; 17];
        comm.iter_mut().zip(t.comm.iter().take(clen)).for_each(|(d, s)| *d = *s);
        r.put_bytes(uapi::A_TASK_COMM, comm.get(..=clen).unwrap_or(&comm))?;
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
            r.nest(uapi::A_TASK_VMA, |r| {
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
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Read an image from a restore request. Missing mandatory parts are EINVAL, named in
    /// the extack; the xstate must have this CPU's size (the same CPU model on both nodes).
    pub(crate) fn parse(req: &Request<'_>) -> Result<Self> {
        let mut regs = [0u64; NREGS];
        copy_from_bytes(&mut regs, req.require(uapi::A_TASK_REGS)?.bytes())?;
        let xs_attr = req.require(uapi::A_TASK_XSTATE)?;
        let xs = xs_attr.bytes();
        let here = cpu::xstate_size()?;
        if here != xs.len() {
            pr_warn!("restore: xstate of {} bytes, this CPU uses {}\n", xs.len(), here);
            req.bad(xs_attr);
            return Err(code::ENOTSUPP);
        }
        let mut xstate = KVec::new();
        xstate.extend_from_slice(xs, GFP_KERNEL)?;
        let mut sigactions = [Sigaction::default(); NSIG];
        copy_from_bytes(&mut sigactions, req.require(uapi::A_TASK_SIGACTIONS)?.bytes())?;
        let mut comm = [0u8; 16];
        if let Some(c) = req.get(uapi::A_TASK_COMM) {
            comm.iter_mut().take(15).zip(c.string().iter()).for_each(|(d, s)| *d = *s);
        }
        let u64_or0 = |ty| req.u64(ty).unwrap_or(0);
        let u32_or0 = |ty| req.u32(ty).unwrap_or(0);
        let state = ThreadState {
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
        copy_from_bytes(&mut fields, req.require(uapi::A_TASK_MM)?.bytes())?;
        let mut auxv = KVec::new();
        if let Some(a) = req.get(uapi::A_TASK_AUXV) {
            let b = a.bytes();
            if b.len() % 8 != 0 || b.len() > AUXV_MAX * 8 {
                return Err(req.bad(a));
            }
            let mut tmp = [0u64; AUXV_MAX];
            let words = tmp.get_mut(..b.len() / 8).ok_or(code::EINVAL)?;
            copy_from_bytes(words, b)?;
            auxv.extend_from_slice(words, GFP_KERNEL)?;
        }
        let mut vmas = KVec::new();
        for nest in req.all(uapi::A_TASK_VMA) {
            let m = req.parse_vma(nest)?;
            let info = VmaInfo {
                start: m.require(uapi::A_VMA_START)?.u64(),
                end: m.require(uapi::A_VMA_END)?.u64(),
                flags: m.require(uapi::A_VMA_FLAGS)?.u64(),
                pgoff: m.get(uapi::A_VMA_PGOFF).map_or(0, |a| a.u64()),
                kind: m.require(uapi::A_VMA_KIND)?.u32(),
                has_file: 0,
            };
            let mut path = KVec::new();
            if let Some(p) = m.get(uapi::A_VMA_PATH) {
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
        img.thread.validate()?;
        Ok(img)
    }
}
