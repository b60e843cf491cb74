// SPDX-License-Identifier: GPL-2.0
//! Declarations of the C glue (kmod/glue/*.c, kmod/migr_nl_gen.c): only what Rust cannot
//! reach through `kernel::bindings` in Linux 6.12 (static inlines, macros, config-dependent
//! fields, ops tables). Private to the binding layer: feature code uses the safe types of
//! the sibling modules.
//!
//! The `#[repr(C)]` structs mirror kmod/glue/glue.h field for field. Both sides assert the
//! same sizes and offsets at build time (`MIGR_LAYOUT`/`MIGR_OFFSET` in the C files, `layout!`
//! here), so a change on one side only fails the build.

use kernel::ffi::{c_char, c_int, c_long, c_ulong, c_void};
use core::mem::{offset_of, size_of};
use kernel::bindings;

/// `struct genl_info`: opaque, bindgen does not reach net/genetlink.h in 6.12.
#[repr(C)]
pub(crate) struct GenlInfo {
    _opaque: [u8; 0],
}

/// `struct nlattr`, opaque: read through the accessors below.
#[repr(C)]
pub(crate) struct NlAttr {
    _opaque: [u8; 0],
}

/// `struct migr_task_facts`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct TaskFacts {
    pub(crate) pid: i32,
    pub(crate) flags: u32,
    pub(crate) global_init: u32,
    pub(crate) threads: u32,
    pub(crate) ptraced: u32,
}

/// `struct migr_confinement`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct Confinement {
    pub(crate) cap_inheritable: u64,
    pub(crate) cap_permitted: u64,
    pub(crate) cap_effective: u64,
    pub(crate) cap_bset: u64,
    pub(crate) cap_ambient: u64,
    pub(crate) uid: u32,
    pub(crate) euid: u32,
    pub(crate) suid: u32,
    pub(crate) securebits: u32,
    pub(crate) seccomp_mode: u32,
    pub(crate) no_new_privs: u32,
    pub(crate) foreign_ns: u32,
    pub(crate) pad: u32,
    pub(crate) seccomp_filter: u64,
}

/// `struct migr_sigaction`: one signal disposition, as it travels in the image.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct Sigaction {
    pub(crate) handler: u64,
    pub(crate) flags: u64,
    pub(crate) restorer: u64,
    pub(crate) mask: u64,
}

/// `struct migr_thread_state`: per-thread fields of the image besides registers.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct ThreadState {
    pub(crate) sigmask: u64,
    pub(crate) sas_sp: u64,
    pub(crate) sas_size: u64,
    pub(crate) sas_flags: u32,
    pub(crate) restart: u32,
    pub(crate) restart_remaining_ns: u64,
    pub(crate) clear_child_tid: u64,
    pub(crate) robust_list: u64,
    pub(crate) robust_list_len: u64,
    pub(crate) rseq: u64,
    pub(crate) rseq_len: u32,
    pub(crate) rseq_sig: u32,
}

/// `struct migr_nanosleep`: `current->restart_block.nanosleep`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct Nanosleep {
    pub(crate) clockid: i32,
    pub(crate) pad: u32,
    pub(crate) expires: u64,
}

/// `struct migr_mm_fields`: travels as is in the `mm` attribute (96 bytes in the spec).
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct MmFields {
    pub(crate) start_code: u64,
    pub(crate) end_code: u64,
    pub(crate) start_data: u64,
    pub(crate) end_data: u64,
    pub(crate) start_brk: u64,
    pub(crate) brk: u64,
    pub(crate) start_stack: u64,
    pub(crate) arg_start: u64,
    pub(crate) arg_end: u64,
    pub(crate) env_start: u64,
    pub(crate) env_end: u64,
    pub(crate) vdso: u64,
}

/// `struct migr_vma_info`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct VmaInfo {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) flags: u64,
    pub(crate) pgoff: u64,
    pub(crate) kind: u32,
    pub(crate) has_file: u32,
}

/// `struct uffd_msg` (uapi/linux/userfaultfd.h, packed): the event and its three words.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct UffdMsg {
    pub(crate) event: u8,
    pub(crate) reserved1: u8,
    pub(crate) reserved2: u16,
    pub(crate) reserved3: u32,
    pub(crate) arg: [u64; 3],
}

/// `struct uffdio_api`.
#[repr(C)]
pub(crate) struct UffdioApi {
    pub(crate) api: u64,
    pub(crate) features: u64,
    pub(crate) ioctls: u64,
}

/// `struct uffdio_range`.
#[repr(C)]
pub(crate) struct UffdioRange {
    pub(crate) start: u64,
    pub(crate) len: u64,
}

/// `struct uffdio_register`.
#[repr(C)]
pub(crate) struct UffdioRegister {
    pub(crate) range: UffdioRange,
    pub(crate) mode: u64,
    pub(crate) ioctls: u64,
}

/// `struct uffdio_copy`.
#[repr(C)]
pub(crate) struct UffdioCopy {
    pub(crate) dst: u64,
    pub(crate) src: u64,
    pub(crate) len: u64,
    pub(crate) mode: u64,
    pub(crate) copy: i64,
}

/// `struct uffdio_zeropage` (and `struct uffdio_poison`, the same layout).
#[repr(C)]
pub(crate) struct UffdioZeropage {
    pub(crate) range: UffdioRange,
    pub(crate) mode: u64,
    pub(crate) zeropage: i64,
}

/// Build-time layout check of a struct shared with C: size, then `field => offset` pairs.
/// The numbers are the ones of the matching `MIGR_LAYOUT`/`MIGR_OFFSET` in kmod/glue/*.c.
macro_rules! layout {
    ($t:ty, $size:expr $(, $field:ident => $off:expr)*) => {
        const _: () = assert!(size_of::<$t>() == $size $(&& offset_of!($t, $field) == $off)*);
    };
}
layout!(TaskFacts, 20, ptraced => 16);
layout!(Confinement, 5 * 8 + 8 * 4 + 8, foreign_ns => 5 * 8 + 6 * 4, seccomp_filter => 5 * 8 + 8 * 4);
layout!(Sigaction, 32);
layout!(ThreadState, 80, restart => 28, rseq_sig => 76);
layout!(Nanosleep, 16, expires => 8);
layout!(MmFields, 96, vdso => 88);
layout!(VmaInfo, 40, kind => 32, has_file => 36);
layout!(UffdMsg, 32, arg => 8);
layout!(UffdioApi, 24);
layout!(UffdioRange, 16);
layout!(UffdioRegister, 32);
layout!(UffdioCopy, 40);
layout!(UffdioZeropage, 32);

/// `enum migr_file_kind` (glue.h): which file_operations a new anon-inode file gets.
pub(crate) const FILE_RESTORE_CONTROL: u32 = 0;
pub(crate) const FILE_RESTORE_STUB: u32 = 1;
pub(crate) const FILE_FROZEN: u32 = 2;

// bindgen's kernel structs (task_struct, mm_struct, file, page...) contain zero-sized
// members that the lint flags; they only cross as pointers, as in `kernel::bindings` itself
// (which allows the same lint).
#[allow(improper_ctypes)]
extern "C" {
    // kmod/glue/task.c
    pub(crate) fn migr_task_facts(t: *mut bindings::task_struct, f: *mut TaskFacts);
    pub(crate) fn migr_task_confinement(t: *mut bindings::task_struct, c: *mut Confinement) -> bool;
    pub(crate) static migr_cap_valid_mask: u64;
    pub(crate) fn migr_task_work_add(
        t: *mut bindings::task_struct,
        work: *mut bindings::callback_head,
        func: unsafe extern "C" fn(*mut bindings::callback_head),
        notify_signal: bool,
    ) -> c_int;
    pub(crate) fn migr_current_exiting() -> bool;
    pub(crate) fn migr_try_module_get() -> bool;
    pub(crate) fn migr_module_put();
    pub(crate) fn migr_waitqueue_init(wq: *mut bindings::wait_queue_head);
    pub(crate) fn migr_wake_all(wq: *mut bindings::wait_queue_head);
    pub(crate) fn migr_wait_killable(
        wq: *mut bindings::wait_queue_head,
        cond: unsafe extern "C" fn(*const c_void) -> bool,
        arg: *const c_void,
        timeout_ms: c_ulong,
    ) -> c_long;
    pub(crate) fn migr_sleep_killable_ns(ns: u64) -> c_long;
    pub(crate) fn migr_deputy_enter() -> c_int;
    pub(crate) fn migr_deputy_wait(
        wq: *mut bindings::wait_queue_head,
        cond: unsafe extern "C" fn(*const c_void) -> bool,
        arg: *const c_void,
        timeout_ms: c_ulong,
    ) -> c_long;
    pub(crate) fn migr_deputy_take_signal() -> c_int;
    pub(crate) fn migr_deputy_killed() -> bool;
    pub(crate) fn migr_deputy_signal_queued() -> bool;
    pub(crate) fn migr_deputy_stop(sig: c_int) -> c_int;
    pub(crate) fn migr_install_file(f: *mut bindings::file) -> c_int;
    pub(crate) fn migr_deputy_exec(strings: *const c_char, len: usize, argc: c_int, envc: c_int) -> c_int;
    pub(crate) fn migr_deputy_end_by_signal(sig: c_int, core: bool);
    pub(crate) fn migr_deputy_end_by_exit(code: c_int) -> c_int;
    pub(crate) fn migr_close_fd(fd: u32) -> c_int;
    pub(crate) fn migr_get_regs(buf: *mut c_void, size: u32) -> c_int;
    pub(crate) fn migr_xstate_size() -> c_int;
    pub(crate) fn migr_get_xstate(buf: *mut c_void, size: u32) -> c_int;
    pub(crate) fn migr_get_thread_state(st: *mut ThreadState, acts: *mut Sigaction);
    pub(crate) fn migr_get_nanosleep(ns: *mut Nanosleep);
    pub(crate) fn migr_set_thread_state(st: *const ThreadState, acts: *const Sigaction);
    pub(crate) fn migr_set_regs(buf: *const c_void, size: u32) -> c_int;
    pub(crate) fn migr_set_xstate(buf: *const c_void, size: u32) -> c_int;
    pub(crate) fn migr_set_sigmask(mask: u64) -> c_int;
    pub(crate) fn migr_get_comm(buf: *mut c_char, size: u32);

    // kmod/glue/mm.c
    pub(crate) fn migr_mmap_read_lock(mm: *mut bindings::mm_struct);
    pub(crate) fn migr_mmap_read_unlock(mm: *mut bindings::mm_struct);
    pub(crate) fn migr_vma_at(
        mm: *mut bindings::mm_struct,
        addr: u64,
        v: *mut VmaInfo,
        path: *mut c_char,
        path_size: u32,
    ) -> c_int;
    pub(crate) fn migr_get_mm_fields(mm: *mut bindings::mm_struct, f: *mut MmFields);
    pub(crate) fn migr_set_mm_fields(mm: *mut bindings::mm_struct, f: *const MmFields);
    pub(crate) fn migr_get_auxv(mm: *mut bindings::mm_struct, buf: *mut u64, n: u32) -> c_int;
    pub(crate) fn migr_set_auxv(mm: *mut bindings::mm_struct, buf: *const u64, n: u32);
    pub(crate) fn migr_filp_open_ro(path: *const c_char) -> *mut bindings::file;
    pub(crate) fn migr_vma_add_flags(start: u64, flags: u64) -> c_int;
    pub(crate) static migr_prot_read: u64;
    pub(crate) static migr_prot_write: u64;
    pub(crate) static migr_prot_exec: u64;
    pub(crate) static migr_map_private: u64;
    pub(crate) static migr_map_fixed: u64;
    pub(crate) static migr_map_anonymous: u64;
    pub(crate) static migr_map_growsdown: u64;
    pub(crate) static migr_map_noreserve: u64;

    // kmod/glue/file.c
    pub(crate) fn migr_anon_fd(kind: u32, private: *const c_void) -> c_int;
        pub(crate) static migr_pollin: u32;
    pub(crate) static migr_pollerr: u32;

    // kmod/glue/uffd.c
    pub(crate) fn migr_uffd_dev_open() -> *mut bindings::file;
    pub(crate) fn migr_uffd_new(dev: *mut bindings::file) -> *mut bindings::file;
    pub(crate) fn migr_uffd_ioctl(uffd: *mut bindings::file, cmd: u32, ubuf: u64, arg: *mut c_void, size: u32) -> c_long;
    pub(crate) fn migr_copy_to_user(dst: u64, src: *const c_void, len: u32) -> c_int;
    pub(crate) fn migr_uffd_read(uffd: *mut bindings::file, msg: *mut UffdMsg) -> c_long;
    pub(crate) fn migr_take_fd(fd: u32) -> *mut bindings::file;
    pub(crate) fn migr_uffd_mm(uffd: *mut bindings::file) -> *mut bindings::mm_struct;
    pub(crate) fn migr_uffd_registered(uffd: *mut bindings::file, pairs: *mut u64, max: u32) -> c_long;
    pub(crate) fn migr_mmget_not_zero(mm: *mut bindings::mm_struct) -> bool;
    pub(crate) fn migr_mmgrab_current() -> *mut bindings::mm_struct;
    pub(crate) fn migr_mmdrop(mm: *mut bindings::mm_struct);
    pub(crate) fn migr_use_mm(mm: *mut bindings::mm_struct) -> bool;
    pub(crate) fn migr_unuse_mm(mm: *mut bindings::mm_struct);
    pub(crate) fn migr_creds_kernel_begin() -> *const bindings::cred;
    pub(crate) fn migr_creds_end(old: *const bindings::cred);
    pub(crate) fn migr_drain_now();
    pub(crate) fn migr_drain_later(ms: u32);
    pub(crate) fn migr_drain_stop();
    pub(crate) fn migr_uffd_watch(uffd: *mut bindings::file) -> *mut c_void;
    pub(crate) fn migr_uffd_unwatch(watch: *mut c_void);
    pub(crate) static migr_uffdio_api: u32;
    pub(crate) static migr_uffdio_register: u32;
    pub(crate) static migr_uffdio_copy: u32;
    pub(crate) static migr_uffdio_zeropage: u32;
    pub(crate) static migr_uffdio_poison: u32;
    pub(crate) static migr_uffdio_wake: u32;
    pub(crate) static migr_uffdio_unregister: u32;
    pub(crate) static migr_uffd_api: u64;
    pub(crate) static migr_uffd_register_mode_missing: u64;
    pub(crate) static migr_uffd_features: u64;
    pub(crate) static migr_uffd_event_pagefault: u8;
    pub(crate) static migr_uffd_event_fork: u8;
    pub(crate) static migr_uffd_event_remap: u8;
    pub(crate) static migr_uffd_event_remove: u8;
    pub(crate) static migr_uffd_event_unmap: u8;

    // kmod/glue/netlink.c
    pub(crate) fn migr_genl_register() -> c_int;
    pub(crate) fn migr_genl_unregister();
    pub(crate) fn migr_nl_notifier_register() -> c_int;
    pub(crate) fn migr_nl_notifier_unregister();
    pub(crate) fn migr_msg_reply(info: *mut GenlInfo, hdr: *mut *mut c_void, size: usize) -> *mut bindings::sk_buff;
    pub(crate) fn migr_msg_event(cmd: u8, hdr: *mut *mut c_void, size: usize) -> *mut bindings::sk_buff;
    pub(crate) fn migr_msg_put_u32(skb: *mut bindings::sk_buff, ty: u16, value: u32) -> c_int;
    pub(crate) fn migr_msg_put_u64(skb: *mut bindings::sk_buff, ty: u16, value: u64, pad: u16) -> c_int;
    pub(crate) fn migr_msg_put(skb: *mut bindings::sk_buff, ty: u16, data: *const c_void, len: c_int) -> c_int;
    pub(crate) fn migr_msg_nest_start(skb: *mut bindings::sk_buff, ty: u16) -> *mut c_void;
    pub(crate) fn migr_msg_nest_end(skb: *mut bindings::sk_buff, nest: *mut c_void);
    pub(crate) fn migr_msg_reply_send(skb: *mut bindings::sk_buff, hdr: *mut c_void, info: *mut GenlInfo) -> c_int;
    pub(crate) fn migr_msg_unicast(skb: *mut bindings::sk_buff, hdr: *mut c_void, portid: u32) -> c_int;
    pub(crate) fn migr_msg_free(skb: *mut bindings::sk_buff);
    pub(crate) fn migr_attr(info: *mut GenlInfo, ty: c_int) -> *const NlAttr;
    pub(crate) fn migr_attr_require(info: *mut GenlInfo, ty: c_int) -> *const NlAttr;
    pub(crate) fn migr_attr_missing_in(info: *mut GenlInfo, nest: *const NlAttr, ty: c_int);
    pub(crate) fn migr_attr_bad(info: *mut GenlInfo, attr: *const NlAttr);
    pub(crate) fn migr_attr_u32(a: *const NlAttr) -> u32;
    pub(crate) fn migr_attr_u64(a: *const NlAttr) -> u64;
    pub(crate) fn migr_attr_data(a: *const NlAttr, len: *mut c_int) -> *const c_void;
    pub(crate) fn migr_attr_next(info: *mut GenlInfo, prev: *const NlAttr, ty: c_int) -> *const NlAttr;
    pub(crate) fn migr_attr_parse_vma(
        info: *mut GenlInfo,
        nest: *const NlAttr,
        tb: *mut *const NlAttr,
        maxtype: c_int,
    ) -> c_int;
    pub(crate) fn migr_info_portid(info: *mut GenlInfo) -> u32;
}

// SAFETY: `Sigaction` and `MmFields` are repr(C) structs of u64 only (layout asserted above):
// no padding, every bit pattern valid.
unsafe impl kernel::types::AsBytes for Sigaction {}
// SAFETY: as above.
unsafe impl kernel::types::FromBytes for Sigaction {}
// SAFETY: as above.
unsafe impl kernel::types::AsBytes for MmFields {}
// SAFETY: as above.
unsafe impl kernel::types::FromBytes for MmFields {}
