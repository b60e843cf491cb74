// SPDX-License-Identifier: GPL-2.0
//! `info-get`: module version, protocol version and feature bits, so that migctl can check
//! it speaks the same protocol before it asks for anything else.

use core::ffi::c_int;
use kernel::bindings;
use kernel::prelude::*;

use crate::glue::GenlInfo;
use crate::netlink::{doit_result, require_sys_admin, Reply};
use crate::uapi_gen as uapi;

/// Features this build supports.
const FEATURES: u64 = uapi::FEATURE_INFO | uapi::FEATURE_STOP_AND_COPY;

fn info_get(info: *mut GenlInfo) -> Result {
    require_sys_admin()?;
    // SAFETY: `info` comes from the running doit below and the reply is sent before it returns.
    let mut reply = unsafe { Reply::new(info)? };
    reply.put_str(uapi::A_INFO_MODULE_VERSION, crate::MODULE_VERSION)?;
    reply.put_u32(uapi::A_INFO_PROTOCOL_VERSION, uapi::PROTOCOL_VERSION)?;
    reply.put_u64(uapi::A_INFO_FEATURES, FEATURES, uapi::A_INFO_PAD)?;
    reply.send()
}

/// Doit of MIGR_CMD_INFO_GET, named by the generated ops table (migr_nl_gen.c).
#[no_mangle]
pub(crate) extern "C" fn migr_nl_info_get_doit(_skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
    doit_result(info_get(info))
}
