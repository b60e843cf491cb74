// SPDX-License-Identifier: GPL-2.0
//! What confines a process and would not travel (issue 12): the restore gives the task its
//! user and group ids and nothing else of its credentials, in its daemon's namespaces (the
//! initial ones). A seccomp filter, `no_new_privs`, namespaces of its own, or capability sets
//! other than those the restore produces would be silently lost (a sandbox escaped by
//! migrating, a root process that dropped capabilities getting them back): such a task is
//! refused, before the freeze and again as it parks (it may have confined itself since).
//!
//! The capability sets the restore produces: the stub starts as a root daemon (every
//! capability permitted and effective, none inheritable or ambient, the full bounding set, no
//! securebits) and calls setresuid() with the task's ids, which (commoncap's
//! cap_emulate_setxuid) clears the permitted and effective sets when no id stays 0, and the
//! effective set alone when the effective id is not 0.

use kernel::task::Task;

use crate::bind::file::SeccompListener;
use crate::bind::task::{self, Confinement};
use crate::uapi_gen::Refusal;

/// The one seccomp filter that travels: migr's own, which a restore stub gets from its daemon
/// when the process's home keeps its deputy (ctl/src/migrate/home_calls.rs), and which the
/// next target installs afresh. Shown to a freeze by its listener (seccomp-listener-fd).
const SECCOMP_MODE_FILTER: u32 = 2;

/// Why `t` cannot travel as it is confined, if so: (refusal, refusal-addr). `migr_filter`:
/// the listener of migr's own filter, if the requester showed one.
pub(crate) fn refusal(t: &Task, migr_filter: Option<&SeccompListener>) -> Option<(Refusal, u64)> {
    match task::confinement(t) {
        Some(c) => judge(&c, task::cap_valid_mask(), migr_filter.map_or(0, |l| l.filter_addr())),
        None => Some((Refusal::Exiting, 0)),
    }
}

/// `migr_filter`: the address of migr's own filter (0: none shown). A task whose newest
/// filter is that one confined itself no further since its restore (a filter is only ever
/// stacked on top of the newest); anything under it came from the daemon that started the
/// stub, not from the process, and the next target's daemon gives it its own.
fn judge(c: &Confinement, all_caps: u64, migr_filter: u64) -> Option<(Refusal, u64)> {
    let only_migrs = c.seccomp_mode == SECCOMP_MODE_FILTER && migr_filter != 0 && c.seccomp_filter == migr_filter;
    if c.seccomp_mode != 0 && !only_migrs {
        return Some((Refusal::Seccomp, u64::from(c.seccomp_mode)));
    }
    if c.no_new_privs != 0 {
        return Some((Refusal::NoNewPrivs, 0));
    }
    if c.foreign_ns != 0 {
        return Some((Refusal::Namespaced, u64::from(c.foreign_ns)));
    }
    let (permitted, effective) = if c.uid != 0 && c.euid != 0 && c.suid != 0 {
        (0, 0)
    } else if c.euid != 0 {
        (all_caps, 0)
    } else {
        (all_caps, all_caps)
    };
    let restored = c.securebits == 0
        && c.cap_inheritable == 0
        && c.cap_ambient == 0
        && c.cap_bset == all_caps
        && c.cap_permitted == permitted
        && c.cap_effective == effective;
    if !restored {
        return Some((Refusal::Capabilities, 0));
    }
    None
}
