// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
// Do not edit: generated from uapi/migr.yaml by uapi/gen_rust.py (`make uapi`).
//! Constants of the `migr` generic netlink family (kernel side).

pub const FAMILY_NAME: &str = "migr";
pub const FAMILY_VERSION: u8 = 1;
pub const PROTOCOL_VERSION: u32 = 1;

/// What this module can do; migctl checks a bit before using a command.
pub const FEATURE_INFO: u64 = 0x1;

/// Commands (genl cmd numbers).
pub const CMD_INFO_GET: u8 = 1;

/// Attributes of the `info` set.
pub const A_INFO_MODULE_VERSION: u16 = 1;
pub const A_INFO_PROTOCOL_VERSION: u16 = 2;
pub const A_INFO_FEATURES: u16 = 3;
pub const A_INFO_PAD: u16 = 4;
