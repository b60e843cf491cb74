// SPDX-License-Identifier: GPL-2.0
//! migr.ko: live process migration between Linux nodes.
//!
//! This crate root only wires the parts together; each concept lives in its own file:
//! - `bind/`: the binding layer, the only code outside safe Rust, and the only caller of C (the glue in
//!   `glue/*.c` and `kernel::bindings`): tasks, task_work, wait queues, mm, files, page
//!   array, netlink, typed atomics (see bind/mod.rs);
//! - `uapi_gen`: constants and enums of the `migr` generic netlink family (generated from
//!   uapi/migr.yaml);
//! - `info`: the `info-get` command;
//! - `freeze`: park a task, hand out its image, thaw or end it (source side);
//! - `image`: the image of a frozen task in netlink attributes;
//! - `thread`, `mm`: dump and restore of thread state and of the address space;
//! - `restore`: rebuild an image in a stub process (target side);
//! - `pager`, `segments`: the remote pager of a task restored in lazy mode (on the kernel's
//!   userfaultfd: faults, events, page delivery);
//! - `registry`: small tables of shared objects; `fault`: fault points for tests.

// The pager's pin_init! (kernel macro) nests one level per field.
#![recursion_limit = "256"]

use kernel::prelude::*;

mod bind;
mod confinement;
mod deputy;
mod fault;
mod fault_wait;
mod freeze;
mod image;
mod info;
mod mm;
mod pager;
mod registry;
mod restore;
mod segments;
mod thread;
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
    // Field order is drop order: the family (and its notifier) goes first so that no doit
    // or notifier runs when the registries go.
    _family: bind::netlink::Family,
    _sessions: bind::global::GlobalOwner<freeze::Sessions>,
    _pagers: bind::global::GlobalOwner<pager::Pagers>,
    _drain: pager::DrainGuard,
}

impl kernel::Module for Migr {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let sessions = freeze::init_registry()?;
        let pagers = pager::init_registry()?;
        let family = bind::netlink::Family::register()?;
        pr_info!("migr {} loaded (protocol {})\n", MODULE_VERSION, uapi_gen::PROTOCOL_VERSION);
        Ok(Migr { _family: family, _sessions: sessions, _pagers: pagers, _drain: pager::DrainGuard })
    }
}

impl Drop for Migr {
    fn drop(&mut self) {
        pr_info!("migr unloading\n");
    }
}
