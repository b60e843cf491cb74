// SPDX-License-Identifier: GPL-2.0
//! Fault points for tests, chosen by the `fault` module parameter
//! (`insmod migr.ko fault=NAME`, or `echo NAME > /sys/module/migr/parameters/fault` at any
//! time; `none` turns it off). A point fires every time its code path runs while chosen,
//! and logs one line when it does:
//!
//! - `restore-after-unmap`: a restore fails right after the stub's own mappings are
//!   unmapped, as if mapping the image had failed there (EIO). The stub is killed, the
//!   session fails with EIO (MIGR_IOC_GO and the daemon see it), the source is thawed by
//!   its daemon. Log: `migr: fault point restore-after-unmap: restore of pid N fails`.
//! - `pager-attach`: a lazy restore cannot attach its pager to the task's address space (as
//!   if creating the userfaultfd context failed: ENOMEM). The stub is killed, the session
//!   fails, the source is thawed by its daemon. Log:
//!   `migr: fault point pager-attach: the pager of pid N cannot attach`.

use core::sync::atomic::{AtomicU32, Ordering};
use kernel::error::code;
use kernel::prelude::*;

use crate::bind::atomic::{state_enum, AtomicRepr};

state_enum! {
    /// A place in migr.ko where a test can inject a failure.
    pub(crate) enum FaultPoint {
        None = 0,
        RestoreAfterUnmap = 1,
        PagerAttach = 2,
    }
}

const NAMES: [(FaultPoint, &str); 3] = [
    (FaultPoint::None, "none"),
    (FaultPoint::RestoreAfterUnmap, "restore-after-unmap"),
    (FaultPoint::PagerAttach, "pager-attach"),
];

/// The chosen point (a `FaultPoint` value; a plain atomic so that it can be a `static`).
static CHOSEN: AtomicU32 = AtomicU32::new(0);

/// Is `p` the chosen fault point? (For the call sites.)
pub(crate) fn armed(p: FaultPoint) -> bool {
    FaultPoint::from_raw(CHOSEN.load(Ordering::Relaxed)) == p
}

/// The module parameter's `set`: a name from `NAMES` (empty means none); EINVAL otherwise.
pub(crate) fn set(val: &[u8]) -> Result {
    let val = val.strip_suffix(b"\n").unwrap_or(val);
    let p = if val.is_empty() {
        FaultPoint::None
    } else {
        NAMES.iter().find(|(_, n)| n.as_bytes() == val).map(|(p, _)| *p).ok_or(code::EINVAL)?
    };
    CHOSEN.store(p.into_raw(), Ordering::Relaxed);
    if p != FaultPoint::None {
        pr_warn!("fault point {} armed\n", name(p));
    }
    Ok(())
}

/// The module parameter's `get`: the chosen point's name.
pub(crate) fn chosen_name() -> &'static str {
    name(FaultPoint::from_raw(CHOSEN.load(Ordering::Relaxed)))
}

fn name(p: FaultPoint) -> &'static str {
    NAMES.iter().find(|(q, _)| *q == p).map(|(_, n)| *n).unwrap_or("none")
}
