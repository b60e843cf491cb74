// SPDX-License-Identifier: GPL-2.0
//! Declarations of the C glue (migr_glue.c, migr_nl_gen.c): only what Rust cannot reach in
//! Linux 6.12 (static inlines, macros, config-dependent fields, file and genl tables). The
//! structs mirror migr_glue.h field for field.

use core::ffi::{c_char, c_int, c_long, c_void};
use kernel::bindings;

/// `struct genl_info`: opaque here, since bindgen does not reach net/genetlink.h in 6.12.
#[repr(C)]
pub(crate) struct GenlInfo {
    _opaque: [u8; 0],
}

/// `struct nlattr`, opaque: read through the accessors below.
#[repr(C)]
pub(crate) struct NlAttr {
    _opaque: [u8; 0],
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct TaskFacts {
    pub(crate) pid: i32,
    pub(crate) kernel_thread: u32,
    pub(crate) init: u32,
    pub(crate) threads: u32,
    pub(crate) ptraced: u32,
    pub(crate) exiting: u32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct Sigaction {
    pub(crate) handler: u64,
    pub(crate) flags: u64,
    pub(crate) restorer: u64,
    pub(crate) mask: u64,
}

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

/// `struct task_struct`, opaque: only the glue looks inside.
#[repr(C)]
pub(crate) struct Task {
    _opaque: [u8; 0],
}

/// `struct mm_struct`, opaque: only the glue looks inside.
#[repr(C)]
pub(crate) struct Mm {
    _opaque: [u8; 0],
}

/// `struct page`, opaque.
#[repr(C)]
pub(crate) struct Page {
    _opaque: [u8; 0],
}

/// `struct file`, opaque.
#[repr(C)]
pub(crate) struct File {
    _opaque: [u8; 0],
}

pub(crate) type WaitQueueHead = bindings::wait_queue_head;
pub(crate) type Work = bindings::callback_head;

extern "C" {
    pub(crate) fn migr_genl_register() -> c_int;
    pub(crate) fn migr_genl_unregister();
    pub(crate) fn migr_reply_new(info: *mut GenlInfo, hdr: *mut *mut c_void) -> *mut bindings::sk_buff;
    pub(crate) fn migr_reply_new_size(
        info: *mut GenlInfo,
        hdr: *mut *mut c_void,
        size: usize,
    ) -> *mut bindings::sk_buff;
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
    pub(crate) fn migr_reply_put(
        skb: *mut bindings::sk_buff,
        ty: u16,
        data: *const c_void,
        len: c_int,
    ) -> c_int;
    pub(crate) fn migr_reply_nest_start(skb: *mut bindings::sk_buff, ty: u16) -> *mut c_void;
    pub(crate) fn migr_reply_nest_end(skb: *mut bindings::sk_buff, nest: *mut c_void);
    pub(crate) fn migr_reply_send(
        skb: *mut bindings::sk_buff,
        hdr: *mut c_void,
        info: *mut GenlInfo,
    ) -> c_int;
    pub(crate) fn migr_reply_free(skb: *mut bindings::sk_buff);

    pub(crate) fn migr_attr(info: *mut GenlInfo, ty: c_int) -> *const NlAttr;
    pub(crate) fn migr_attr_u32(a: *const NlAttr) -> u32;
    pub(crate) fn migr_attr_u64(a: *const NlAttr) -> u64;
    pub(crate) fn migr_attr_data(a: *const NlAttr, len: *mut c_int) -> *const c_void;
    pub(crate) fn migr_attr_next(info: *mut GenlInfo, prev: *const NlAttr, ty: c_int) -> *const NlAttr;
    pub(crate) fn migr_attr_parse_vma(nest: *const NlAttr, tb: *mut *const NlAttr, maxtype: c_int) -> c_int;

    pub(crate) fn migr_get_task(pid: i32) -> *mut Task;
    pub(crate) fn migr_put_task(t: *mut Task);
    pub(crate) fn migr_current() -> *mut Task;
    pub(crate) fn migr_task_facts(t: *mut Task, f: *mut TaskFacts);
    pub(crate) fn migr_task_work_add(
        t: *mut Task,
        work: *mut Work,
        func: unsafe extern "C" fn(*mut Work),
        notify_signal: bool,
    ) -> c_int;
    pub(crate) fn migr_current_exiting() -> bool;
    pub(crate) fn migr_kill_current();
    pub(crate) fn migr_try_module_get() -> bool;
    pub(crate) fn migr_module_put();
    pub(crate) fn migr_waitqueue_init(wq: *mut WaitQueueHead);
    pub(crate) fn migr_wake_all(wq: *mut WaitQueueHead);
    pub(crate) fn migr_wait_killable(
        wq: *mut WaitQueueHead,
        cond: unsafe extern "C" fn(*const c_void) -> bool,
        arg: *const c_void,
        timeout_ms: u64,
    ) -> c_long;

    pub(crate) fn migr_get_regs(buf: *mut c_void, size: u32) -> c_int;
    pub(crate) fn migr_xstate_size() -> c_int;
    pub(crate) fn migr_get_xstate(buf: *mut c_void, size: u32) -> c_int;
    pub(crate) fn migr_get_thread_state(st: *mut ThreadState, acts: *mut Sigaction);
    pub(crate) fn migr_set_thread_state(st: *const ThreadState, acts: *const Sigaction);
    pub(crate) fn migr_set_regs(buf: *const c_void, size: u32) -> c_int;
    pub(crate) fn migr_set_xstate(buf: *const c_void, size: u32) -> c_int;
    pub(crate) fn migr_set_sigmask(mask: u64) -> c_int;
    pub(crate) fn migr_get_comm(buf: *mut c_char, size: u32);

    pub(crate) fn migr_task_mm(t: *mut Task) -> *mut Mm;
    pub(crate) fn migr_mmput(mm: *mut Mm);
    pub(crate) fn migr_mmap_read_lock(mm: *mut Mm);
    pub(crate) fn migr_mmap_read_unlock(mm: *mut Mm);
    pub(crate) fn migr_vma_at(
        mm: *mut Mm,
        addr: u64,
        v: *mut VmaInfo,
        path: *mut c_char,
        path_size: u32,
    ) -> c_int;
    pub(crate) fn migr_get_mm_fields(mm: *mut Mm, f: *mut MmFields);
    pub(crate) fn migr_set_mm_fields(mm: *mut Mm, f: *const MmFields);
    pub(crate) fn migr_get_auxv(mm: *mut Mm, buf: *mut u64, n: u32) -> c_int;
    pub(crate) fn migr_set_auxv(mm: *mut Mm, buf: *const u64, n: u32);
    pub(crate) fn migr_map_anon(start: u64, len: u64, vm_flags: u64) -> c_long;
    pub(crate) fn migr_map_file(path: *const c_char, start: u64, len: u64, vm_flags: u64, pgoff: u64) -> c_long;
    pub(crate) fn migr_vma_add_flags(start: u64, flags: u64) -> c_int;
    pub(crate) fn migr_unmap(start: u64, len: u64) -> c_int;

    pub(crate) fn migr_xa_init(xa: *mut bindings::xarray);
    pub(crate) fn migr_xa_destroy_pages(xa: *mut bindings::xarray);
    pub(crate) fn migr_xa_take(xa: *mut bindings::xarray, pgoff: core::ffi::c_ulong, page: *mut *mut Page, keep: bool) -> c_int;
    pub(crate) fn migr_xa_present(xa: *mut bindings::xarray, pgoff: core::ffi::c_ulong) -> bool;
    pub(crate) fn migr_xa_fill(xa: *mut bindings::xarray, pgoff: core::ffi::c_ulong, data: *const c_void) -> c_int;
    pub(crate) fn migr_zero_page() -> *mut Page;
    pub(crate) fn migr_pager_file(pager: *mut c_void) -> *mut File;
    pub(crate) fn migr_fput(file: *mut File);
    pub(crate) fn migr_map_pager(file: *mut File, start: u64, len: u64, vm_flags: u64) -> c_long;
    pub(crate) fn migr_touch_write(addr: u64) -> c_int;
    pub(crate) fn migr_pager_notify(portid: u32, pid: u32, addr: u64, faults: u32) -> c_int;
    pub(crate) fn migr_info_portid(info: *mut GenlInfo) -> u32;
    pub(crate) fn migr_pager_watch(pager: *mut c_void) -> *mut c_void;
    pub(crate) fn migr_pager_unwatch(watch: *mut c_void, unused: *mut Mm);
    pub(crate) fn migr_xa_discard(xa: *mut bindings::xarray, pgoff: core::ffi::c_ulong, count: core::ffi::c_ulong);

    pub(crate) fn migr_restore_fd_install(session: *const c_void, control: bool) -> c_int;
    pub(crate) fn migr_freeze_fd_install(session: *const c_void) -> c_int;
    pub(crate) fn migr_close_fd(fd: u32) -> c_int;
    pub(crate) fn migr_sleep_killable_ns(ns: u64) -> c_long;
}
