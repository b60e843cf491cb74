// SPDX-License-Identifier: GPL-2.0
//! Every function the C side calls in Rust: genl doits (named by the generated ops table,
//! kmod/migr_nl_gen.c), file callbacks (kmod/glue/file.c), the pager's drain work
//! (kmod/glue/uffd.c), the netlink
//! release notifier (glue/netlink.c) and the module parameter (glue/task.c). Each turns its
//! raw pointers into the safe types of this layer and calls the feature code.

use kernel::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};
use kernel::bindings;
use kernel::str::CStr;

use super::ffi::GenlInfo;
use super::file::{borrow, take_back};
use super::netlink::run_doit;
use crate::freeze::FreezeSession;
use crate::restore::RestoreSession;
use crate::{deputy, fault, freeze, info, pager, restore};

/// A doit of the `migr` family calling `handler` (see `run_doit`).
macro_rules! doits {
    ($($name:ident => $handler:path;)*) => {$(
        #[no_mangle]
        extern "C" fn $name(_skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
            run_doit(info, $handler)
        }
    )*};
}

doits! {
    migr_nl_info_get_doit => info::info_get;
    migr_nl_freeze_doit => freeze::freeze;
    migr_nl_thaw_doit => freeze::thaw;
    migr_nl_commit_doit => freeze::commit;
    migr_nl_hand_over_doit => freeze::hand_over;
    migr_nl_restore_doit => restore::restore;
    migr_nl_pager_listen_doit => pager::listen;
    migr_nl_page_data_doit => pager::page_data;
    migr_nl_pager_end_doit => pager::end;
    migr_nl_deputy_end_doit => deputy::deputy_end;
    migr_nl_deputy_stop_doit => deputy::deputy_stop;
    migr_nl_deputy_become_doit => deputy::deputy_become;
}

// ---- restore session files (glue/file.c) ----

/// # Safety
/// `session` must be the private data of a live restore file (glue/file.c passes
/// `file->private_data` from its fops).
#[no_mangle]
unsafe extern "C" fn migr_restore_ioctl(session: *mut c_void, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: the private data of a live restore file (created by `install_restore_fd`
    // with a `RestoreSession`); the VFS releases it only after this returns.
    let s = unsafe { borrow::<RestoreSession>(session) };
    match restore::ioctl(s, cmd, arg as u64) {
        Ok(v) => v as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

/// # Safety
/// As for `migr_restore_ioctl`.
#[no_mangle]
unsafe extern "C" fn migr_restore_poll(session: *mut c_void) -> c_uint {
    // SAFETY: as in `migr_restore_ioctl`.
    let s = unsafe { borrow::<RestoreSession>(session) };
    restore::poll(&s)
}

/// # Safety
/// As for `migr_restore_ioctl`.
#[no_mangle]
unsafe extern "C" fn migr_restore_waitqueue(session: *mut c_void) -> *mut bindings::wait_queue_head {
    // SAFETY: as in `migr_restore_ioctl`. The queue lives as long as the session, which
    // the file keeps alive until its release, after poll's last use of the queue
    // (poll_wait entries are removed before release).
    let s = unsafe { borrow::<RestoreSession>(session) };
    s.wait_queue().raw()
}

/// # Safety
/// `session` must be the private data of a restore file, in its release (called once).
#[no_mangle]
unsafe extern "C" fn migr_restore_release(session: *mut c_void, control: bool) {
    // SAFETY: the release of a restore file: its reference comes back, once.
    let s = unsafe { take_back::<RestoreSession>(session) };
    restore::release(s, control);
}

/// # Safety
/// `session` must be the private data of a frozen task's hold file, in its release.
#[no_mangle]
unsafe extern "C" fn migr_freeze_release(session: *mut c_void) {
    // SAFETY: the release of a frozen task's hold file (`install_frozen_fd`), once.
    let s = unsafe { take_back::<FreezeSession>(session) };
    freeze::release(s);
}

// ---- the pager's drain work (glue/uffd.c); a kworker ----

#[no_mangle]
extern "C" fn migr_pagers_drain() {
    pager::drain_all();
}

// ---- netlink socket release (glue/netlink.c); atomic context ----

#[no_mangle]
extern "C" fn migr_nl_released(portid: u32) {
    pager::port_released(portid);
}

// ---- the `fault` module parameter (glue/task.c); may run before module init ----

/// # Safety
/// `val` must be null or a NUL-terminated string alive during the call.
#[no_mangle]
unsafe extern "C" fn migr_fault_param_set(val: *const c_char) -> c_int {
    if val.is_null() {
        return kernel::error::code::EINVAL.to_errno();
    }
    // SAFETY: the parameter code passes a NUL-terminated string, alive during the call.
    let val = unsafe { CStr::from_char_ptr(val) };
    match fault::set(val.as_bytes()) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
/// `buf` must be null or have `size` writable bytes.
#[no_mangle]
unsafe extern "C" fn migr_fault_param_get(buf: *mut c_char, size: c_uint) -> c_int {
    let name = fault::chosen_name().as_bytes();
    let n = name.len().min((size as usize).saturating_sub(2));
    if buf.is_null() || size < 2 {
        return 0;
    }
    // SAFETY: the parameter code gives a buffer of `size` (PAGE_SIZE) writable bytes;
    // `n + 2 <= size`.
    let out = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), n + 2) };
    for (d, c) in out.iter_mut().zip(name.iter().take(n).chain(b"\n\0".iter())) {
        *d = *c;
    }
    (n + 1) as c_int
}
