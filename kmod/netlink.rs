// SPDX-License-Identifier: GPL-2.0
//! The `migr` generic netlink family: registration and safe reply building.
//!
//! The family table (ops, policies, GENL_ADMIN_PERM on every command) is generated into
//! migr_nl_gen.c from uapi/migr.yaml. GENL_ADMIN_PERM
//! means CAP_NET_ADMIN in the caller's netns user namespace, so every handler here also
//! requires CAP_SYS_ADMIN (see `require_sys_admin`).

use core::ffi::{c_int, c_void};
use core::ptr;
use kernel::bindings;
use kernel::error::{code, to_result};
use kernel::prelude::*;

use crate::glue::{self, GenlInfo};

/// Registration of the family; unregistered on drop (module unload).
pub(crate) struct Family;

impl Family {
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: called once from module init; the family struct is static in migr_nl_gen.c.
        to_result(unsafe { glue::migr_genl_register() })?;
        Ok(Family)
    }
}

impl Drop for Family {
    fn drop(&mut self) {
        // SAFETY: the family was registered by `register`, the only way to build a `Family`.
        // genl_unregister_family waits for running handlers, so no doit outlives the module.
        unsafe { glue::migr_genl_unregister() };
    }
}

/// Refuse callers without CAP_SYS_ADMIN in the initial user namespace. GENL_ADMIN_PERM (set on
/// every op by the spec) already demands CAP_NET_ADMIN; migrating processes is more than
/// network administration, so the stricter capability is checked too.
pub(crate) fn require_sys_admin() -> Result {
    // SAFETY: `capable` only reads the current task's credentials.
    if unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as c_int) } {
        Ok(())
    } else {
        Err(code::EPERM)
    }
}

/// A reply message under construction. Freed on drop unless sent.
pub(crate) struct Reply {
    skb: *mut bindings::sk_buff,
    hdr: *mut c_void,
    info: *mut GenlInfo,
}

impl Reply {
    /// Start a reply to the request described by `info`.
    ///
    /// # Safety
    /// `info` must be the `genl_info` of a doit that is running, and the `Reply` must not
    /// outlive that doit.
    pub(crate) unsafe fn new(info: *mut GenlInfo) -> Result<Self> {
        let mut hdr = ptr::null_mut();
        // SAFETY: `info` is valid per this function's contract; `hdr` is a valid out pointer.
        let skb = unsafe { glue::migr_reply_new(info, &mut hdr) };
        if skb.is_null() {
            return Err(code::ENOMEM);
        }
        Ok(Reply { skb, hdr, info })
    }

    /// Like `new`, for a reply of about `size` bytes (an image with many mappings).
    ///
    /// # Safety
    /// As for `new`.
    pub(crate) unsafe fn with_size(info: *mut GenlInfo, size: usize) -> Result<Self> {
        let mut hdr = ptr::null_mut();
        // SAFETY: `info` is valid per this function's contract; `hdr` is a valid out pointer.
        let skb = unsafe { glue::migr_reply_new_size(info, &mut hdr, size) };
        if skb.is_null() {
            return Err(code::ENOMEM);
        }
        Ok(Reply { skb, hdr, info })
    }

    pub(crate) fn put_bytes(&mut self, ty: u16, data: &[u8]) -> Result {
        let len = c_int::try_from(data.len()).map_err(|_| code::E2BIG)?;
        // SAFETY: `self.skb` is a live message owned by this `Reply`; `data` is readable for
        // `len` bytes.
        to_result(unsafe { glue::migr_reply_put(self.skb, ty, data.as_ptr().cast(), len) })
    }

    /// Open a nested attribute; close it with `nest_end`.
    pub(crate) fn nest_start(&mut self, ty: u16) -> Result<Nest> {
        // SAFETY: `self.skb` is a live message owned by this `Reply`.
        let nest = unsafe { glue::migr_reply_nest_start(self.skb, ty) };
        if nest.is_null() {
            return Err(code::E2BIG);
        }
        Ok(Nest(nest))
    }

    pub(crate) fn nest_end(&mut self, nest: Nest) {
        // SAFETY: `nest` was opened on this message by `nest_start`.
        unsafe { glue::migr_reply_nest_end(self.skb, nest.0) };
    }

    pub(crate) fn put_u32(&mut self, ty: u16, value: u32) -> Result {
        // SAFETY: `self.skb` is a live message owned by this `Reply`.
        to_result(unsafe { glue::migr_reply_put_u32(self.skb, ty, value) })
    }

    pub(crate) fn put_u64(&mut self, ty: u16, value: u64, pad: u16) -> Result {
        // SAFETY: as in `put_u32`.
        to_result(unsafe { glue::migr_reply_put_u64(self.skb, ty, value, pad) })
    }

    pub(crate) fn put_str(&mut self, ty: u16, value: &CStr) -> Result {
        // SAFETY: as in `put_u32`; `value` is NUL-terminated by construction of `CStr`.
        to_result(unsafe { glue::migr_reply_put_string(self.skb, ty, value.as_char_ptr()) })
    }

    /// Send the reply to the requester.
    pub(crate) fn send(self) -> Result {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: skb/hdr/info are valid (see `new`); migr_reply_send consumes skb on every
        // path, and `ManuallyDrop` keeps `drop` from freeing it a second time.
        to_result(unsafe { glue::migr_reply_send(this.skb, this.hdr, this.info) })
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        // SAFETY: the message was never sent (`send` bypasses drop), so it is still ours.
        unsafe { glue::migr_reply_free(self.skb) };
    }
}

/// An open nested attribute of a `Reply`.
pub(crate) struct Nest(*mut c_void);

/// The attributes of a request, valid while its doit runs. The policy generated from the
/// spec has already checked types and lengths.
#[derive(Clone, Copy)]
pub(crate) struct Request {
    info: *mut GenlInfo,
}

/// One attribute of a request (or of a nest in it).
#[derive(Clone, Copy)]
pub(crate) struct Attr(*const glue::NlAttr);

impl Attr {
    pub(crate) fn u32(self) -> u32 {
        // SAFETY: `Attr` only wraps attributes of a request whose doit is running, and the
        // policy checked the type before the doit was called.
        unsafe { glue::migr_attr_u32(self.0) }
    }

    pub(crate) fn u64(self) -> u64 {
        // SAFETY: as in `u32`.
        unsafe { glue::migr_attr_u64(self.0) }
    }

    pub(crate) fn bytes<'a>(self) -> &'a [u8] {
        let mut len: c_int = 0;
        // SAFETY: as in `u32`; the payload stays valid while the doit runs, which bounds
        // every use of the returned slice (callers copy what they keep).
        unsafe {
            let data = glue::migr_attr_data(self.0, &mut len);
            core::slice::from_raw_parts(data.cast::<u8>(), usize::try_from(len).unwrap_or(0))
        }
    }

    /// A NUL-terminated string attribute, without its NUL.
    pub(crate) fn string<'a>(self) -> &'a [u8] {
        let b = self.bytes();
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        &b[..end]
    }
}

impl Request {
    /// # Safety
    /// `info` must be the `genl_info` of the running doit, and the `Request` must not be used
    /// after the doit returns.
    pub(crate) unsafe fn new(info: *mut GenlInfo) -> Self {
        Request { info }
    }

    pub(crate) fn get(&self, ty: u16) -> Option<Attr> {
        // SAFETY: `info` is valid (see `new`) and `ty` is at most the op's maxattr, since
        // every caller passes an attribute of the op's own set.
        let a = unsafe { glue::migr_attr(self.info, c_int::from(ty)) };
        (!a.is_null()).then(|| Attr(a))
    }

    pub(crate) fn u32(&self, ty: u16) -> Option<u32> {
        self.get(ty).map(Attr::u32)
    }

    pub(crate) fn u64(&self, ty: u16) -> Option<u64> {
        self.get(ty).map(Attr::u64)
    }

    /// Every top-level attribute of type `ty`, in message order (for multi-attr nests).
    pub(crate) fn all(&self, ty: u16) -> AttrIter {
        AttrIter { req: *self, ty, prev: ptr::null(), done: false }
    }

    /// Parse a nested `vma` attribute into its members (indexed by attribute type).
    pub(crate) fn parse_vma(nest: Attr, tb: &mut [*const glue::NlAttr]) -> Result {
        let max = c_int::try_from(tb.len()).map_err(|_| code::EINVAL)? - 1;
        // SAFETY: `nest` is an attribute of the running request, `tb` has room for `max + 1`
        // entries, and the nested policy is the generated one for this attribute set.
        to_result(unsafe { glue::migr_attr_parse_vma(nest.0, tb.as_mut_ptr(), max) })
    }

    pub(crate) fn member(tb: &[*const glue::NlAttr], ty: u16) -> Option<Attr> {
        tb.get(usize::from(ty)).filter(|a| !a.is_null()).map(|a| Attr(*a))
    }
}

pub(crate) struct AttrIter {
    req: Request,
    ty: u16,
    prev: *const glue::NlAttr,
    done: bool,
}

impl Iterator for AttrIter {
    type Item = Attr;

    fn next(&mut self) -> Option<Attr> {
        if self.done {
            return None;
        }
        // SAFETY: `info` is valid while the doit runs (see `Request::new`); `prev` is null or
        // an attribute returned by the previous call on the same message.
        let a = unsafe { glue::migr_attr_next(self.req.info, self.prev, c_int::from(self.ty)) };
        if a.is_null() {
            self.done = true;
            return None;
        }
        self.prev = a;
        Some(Attr(a))
    }
}

/// Turn a handler's `Result` into the value a doit returns.
pub(crate) fn doit_result(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
