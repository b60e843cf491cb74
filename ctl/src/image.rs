//! The image of a frozen task as migctl sees it: the module's attributes (forwarded to the
//! target's module untouched, except where noted) plus the parts the daemons need decoded.

use serde::{Deserialize, Serialize};

use crate::error::{ModuleError, Result};
use crate::genl::{read_u32, read_u64};
use crate::uapi::Refusal;
use crate::uapi_gen as uapi;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub flags: u64,
    pub pgoff: u64,
    pub kind: u32,
    pub path: Option<String>,
}

impl Vma {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Served by the target's pager in lazy mode (the module applies the same rule,
    /// kmod/mm.rs `is_lazy`): heap and anonymous memory, not the stack.
    pub fn is_lazy(&self) -> bool {
        const VM_GROWSDOWN: u64 = 0x100;
        (self.kind == uapi::VMA_KIND_ANON || self.kind == uapi::VMA_KIND_HEAP) && self.flags & VM_GROWSDOWN == 0
    }

    pub fn contains(&self, addr: u64) -> bool {
        (self.start..self.end).contains(&addr)
    }

    /// vdso and vvar are the kernel's; they are not copied.
    pub fn is_special(&self) -> bool {
        self.kind == uapi::VMA_KIND_VDSO || self.kind == uapi::VMA_KIND_VVAR
    }
}

/// The image attributes, raw, as the module gave them (type, payload).
pub type Attrs = Vec<(u16, Vec<u8>)>;

#[derive(Debug, Clone)]
pub struct Image {
    pub attrs: Attrs,
    pub pid: u32,
    pub comm: String,
    pub regs: Vec<u64>,
    pub vmas: Vec<Vma>,
    /// mm fields (start_code .. env_end, vdso), see uapi/migr.yaml `mm`.
    pub mm: Vec<u64>,
}

/// Index of fs_base and gs_base in `struct user_regs_struct`.
pub const REG_GS_BASE: usize = 22;
/// Index of `vdso` in the `mm` attribute.
pub const MM_VDSO: usize = 11;

fn bad(what: &'static str) -> crate::error::CtlError {
    ModuleError::BadImage(what).into()
}

/// Walk netlink attributes in `b` (a nest's payload): (type without flags, payload).
pub fn parse_nested(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((ty, &b[4..len]));
        let adv = (len + 3) & !3;
        b = if adv >= b.len() { &[] } else { &b[adv..] };
    }
    out
}

fn words(b: &[u8]) -> Vec<u64> {
    b.chunks_exact(8).map(|c| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]))).collect()
}

fn string(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_end_matches('\0').to_string()
}

impl Image {
    /// Decode the image attributes (from a freeze reply, or received from a peer).
    pub fn from_attrs(attrs: Attrs) -> Result<Self> {
        let mut img = Image { attrs: Vec::new(), pid: 0, comm: String::new(), regs: Vec::new(), vmas: Vec::new(), mm: Vec::new() };
        for (ty, p) in &attrs {
            match *ty {
                uapi::A_TASK_PID => img.pid = read_u32(p)?,
                uapi::A_TASK_COMM => img.comm = string(p),
                uapi::A_TASK_REGS => img.regs = words(p),
                uapi::A_TASK_MM => img.mm = words(p),
                uapi::A_TASK_VMA => {
                    let mut v = Vma { start: 0, end: 0, flags: 0, pgoff: 0, kind: 0, path: None };
                    for (t, q) in parse_nested(p) {
                        match t {
                            uapi::A_VMA_START => v.start = read_u64(q)?,
                            uapi::A_VMA_END => v.end = read_u64(q)?,
                            uapi::A_VMA_FLAGS => v.flags = read_u64(q)?,
                            uapi::A_VMA_PGOFF => v.pgoff = read_u64(q)?,
                            uapi::A_VMA_KIND => v.kind = read_u32(q)?,
                            uapi::A_VMA_PATH => v.path = Some(string(q)),
                            _ => {}
                        }
                    }
                    if v.end <= v.start {
                        return Err(bad("mapping"));
                    }
                    img.vmas.push(v);
                }
                _ => {}
            }
        }
        if img.regs.len() != 27 {
            return Err(bad("registers"));
        }
        if img.mm.len() != 12 {
            return Err(bad("mm fields"));
        }
        // Only the attributes that make up the image travel (not session, fd, refusal).
        img.attrs = attrs
            .into_iter()
            .filter(|(t, _)| !matches!(*t, uapi::A_TASK_SESSION | uapi::A_TASK_FD | uapi::A_TASK_REFUSAL | uapi::A_TASK_REFUSAL_ADDR))
            .collect();
        Ok(img)
    }

    pub fn attr_u64(&self, ty: u16) -> Option<u64> {
        self.attrs.iter().find(|(t, _)| *t == ty).and_then(|(_, p)| read_u64(p).ok())
    }

    pub fn set_attr_u64(&mut self, ty: u16, v: u64) {
        for (t, p) in self.attrs.iter_mut() {
            if *t == ty {
                *p = v.to_ne_bytes().to_vec();
            }
        }
    }

    pub fn vvar(&self) -> Option<&Vma> {
        self.vmas.iter().find(|v| v.kind == uapi::VMA_KIND_VVAR)
    }

    pub fn vdso(&self) -> u64 {
        self.mm[MM_VDSO]
    }

    pub fn gs_base(&self) -> u64 {
        self.regs[REG_GS_BASE]
    }

    /// Distinct files mapped by the image.
    pub fn files(&self) -> Vec<String> {
        let mut f: Vec<String> = self.vmas.iter().filter_map(|v| v.path.clone()).collect();
        f.sort();
        f.dedup();
        f
    }
}

/// What a freeze reply says: a refusal, or a session with its image.
pub enum Frozen {
    Refused(Refusal),
    Session { session: u32, hold_fd: i32, image: Image },
}

impl Frozen {
    pub fn from_reply(attrs: Attrs) -> Result<Self> {
        let get = |ty| attrs.iter().find(|(t, _)| *t == ty).map(|(_, p)| p.clone());
        if let Some(r) = get(uapi::A_TASK_REFUSAL) {
            let addr = get(uapi::A_TASK_REFUSAL_ADDR).and_then(|p| read_u64(&p).ok()).unwrap_or(0);
            if let Some(refusal) = Refusal::from_raw(read_u32(&r)?, addr) {
                return Ok(Frozen::Refused(refusal));
            }
        }
        let session = read_u32(&get(uapi::A_TASK_SESSION).ok_or_else(|| bad("session"))?)?;
        let hold_fd = read_u32(&get(uapi::A_TASK_FD).ok_or_else(|| bad("hold descriptor"))?)? as i32;
        Ok(Frozen::Session { session, hold_fd, image: Image::from_attrs(attrs)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(ty: u16, p: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + p.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(p);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn nested_attributes_parse_and_stop_at_garbage() {
        let mut b = attr(uapi::A_VMA_START, &0x1000u64.to_ne_bytes());
        b.extend(attr(uapi::A_VMA_PATH, b"/bin/x\0"));
        b.extend([9, 0]); // truncated trailer
        let got = parse_nested(&b);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1, b"/bin/x\0");
    }

    #[test]
    fn refusals_come_out_of_the_reply_typed() {
        let r = Frozen::from_reply(vec![(uapi::A_TASK_REFUSAL, uapi::REFUSAL_PTRACED.to_ne_bytes().to_vec())]);
        assert!(matches!(r, Ok(Frozen::Refused(Refusal::Ptraced))));
        let r = Frozen::from_reply(vec![
            (uapi::A_TASK_REFUSAL, uapi::REFUSAL_SHARED_MEMORY.to_ne_bytes().to_vec()),
            (uapi::A_TASK_REFUSAL_ADDR, 0x7000u64.to_ne_bytes().to_vec()),
        ]);
        assert!(matches!(r, Ok(Frozen::Refused(Refusal::SharedMemory { addr: 0x7000 }))));
    }
}
