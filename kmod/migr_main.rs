// SPDX-License-Identifier: GPL-2.0
//! migr.ko: live process migration between Linux nodes.
//!
//! This crate root only wires the parts together; each concept lives in its own file:
//! - `uapi_gen`: constants of the `migr` generic netlink family (generated from uapi/migr.yaml);
//! - `glue`: the `extern "C"` declarations of migr_glue.c, with safe wrappers;
//! - `netlink`: the family's registration and reply building;
//! - `info`: the `info-get` command;
//! - `freeze`: park a task, hand out its image, thaw or end it (source side);
//! - `image`: the image of a frozen task in netlink attributes;
//! - `thread`, `mm`: dump and restore of thread state and of the address space;
//! - `restore`: rebuild an image in a stub process (target side);
//! - `pager`: the remote pager of a task restored in lazy mode (faults, page delivery);
//! - `waitq`, `registry`: killable waits with a timeout, and small tables of shared objects.

use kernel::prelude::*;

mod freeze;
mod glue;
mod image;
mod info;
mod mm;
mod netlink;
mod pager;
mod registry;
mod restore;
mod thread;
mod waitq;
#[allow(dead_code, unreachable_pub)]
mod uapi_gen;

/// Version of this module; reported by `info-get` and shown by `migctl info`.
pub(crate) const MODULE_VERSION: &CStr = kernel::c_str!("0.1.0");

module! {
    type: Migr,
    name: "migr",
    author: "migr developers",
    description: "Live process migration between nodes",
    license: "GPL",
}

struct Migr {
    // Field order is drop order: the family goes first so that no doit runs when the
    // registry goes.
    _family: netlink::Family,
    _sessions: Pin<KBox<freeze::Sessions>>,
    _pagers: Pin<KBox<pager::Pagers>>,
}

impl kernel::Module for Migr {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let sessions = freeze::new_registry()?;
        let pagers = pager::new_registry()?;
        let family = netlink::Family::register()?;
        pr_info!(
            "migr {} loaded (protocol {})\n",
            MODULE_VERSION,
            uapi_gen::PROTOCOL_VERSION
        );
        Ok(Migr { _family: family, _sessions: sessions, _pagers: pagers })
    }
}

impl Drop for Migr {
    fn drop(&mut self) {
        pr_info!("migr unloading\n");
    }
}
