// SPDX-License-Identifier: GPL-2.0
//! `info-get`: module version, protocol version and feature bits, so that migctl can check
//! it speaks the same protocol before it asks for anything else.

use kernel::prelude::*;

use crate::bind::netlink::Request;
use crate::uapi_gen as uapi;

/// Features this build supports: every bit of the spec's `feature` flags.
const FEATURES: u64 = uapi::FEATURE_INFO | uapi::FEATURE_STOP_AND_COPY | uapi::FEATURE_LAZY | uapi::FEATURE_DEPUTY;

/// The `info-get` doit.
pub(crate) fn info_get(req: &Request<'_>) -> Result {
    let mut reply = req.reply(0)?;
    reply.put_cstr(uapi::A_INFO_MODULE_VERSION, crate::MODULE_VERSION)?;
    reply.put_u32(uapi::A_INFO_PROTOCOL_VERSION, uapi::PROTOCOL_VERSION)?;
    reply.put_u64(uapi::A_INFO_FEATURES, FEATURES, uapi::A_INFO_PAD)?;
    reply.send()
}
