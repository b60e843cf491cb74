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

/// Turn a handler's `Result` into the value a doit returns.
pub(crate) fn doit_result(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
