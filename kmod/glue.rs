// SPDX-License-Identifier: GPL-2.0
//! Declarations of the C glue (migr_glue.c, migr_nl_gen.c). Only `netlink.rs` calls these
//! directly; everything else goes through its safe wrappers.

use core::ffi::{c_int, c_void};
use kernel::bindings;

/// `struct genl_info`: opaque here, since bindgen does not reach net/genetlink.h in 6.12.
#[repr(C)]
pub(crate) struct GenlInfo {
    _opaque: [u8; 0],
}

extern "C" {
    pub(crate) fn migr_genl_register() -> c_int;
    pub(crate) fn migr_genl_unregister();
    pub(crate) fn migr_reply_new(info: *mut GenlInfo, hdr: *mut *mut c_void) -> *mut bindings::sk_buff;
    pub(crate) fn migr_reply_put_u32(skb: *mut bindings::sk_buff, ty: u16, value: u32) -> c_int;
    pub(crate) fn migr_reply_put_u64(
        skb: *mut bindings::sk_buff,
        ty: u16,
        value: u64,
        pad: u16,
    ) -> c_int;
    pub(crate) fn migr_reply_put_string(
        skb: *mut bindings::sk_buff,
        ty: u16,
        value: *const u8,
    ) -> c_int;
    pub(crate) fn migr_reply_send(
        skb: *mut bindings::sk_buff,
        hdr: *mut c_void,
        info: *mut GenlInfo,
    ) -> c_int;
    pub(crate) fn migr_reply_free(skb: *mut bindings::sk_buff);
}
