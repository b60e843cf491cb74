// SPDX-License-Identifier: GPL-2.0
//! Tasks: lookup by pid as `ARef<Task>` (6.12's `kernel::task::Task`, refcounted with
//! get/put_task_struct), the facts freeze checks, and what a task may do to itself
//! (`current`): exit check, SIGKILL, comm, killable sleep, closing a descriptor. Also the
//! module reference that outlives a queued callback, and the clocks.

use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::code;
use kernel::prelude::*;
use kernel::task::Task;
use kernel::types::ARef;

use super::ffi;
pub(crate) use super::ffi::Confinement;

/// The raw pointer of a task (sound: `Task` is `repr(transparent)` over
/// `Opaque<task_struct>`).
pub(super) fn raw(t: &Task) -> *mut bindings::task_struct {
    (t as *const Task).cast::<bindings::task_struct>().cast_mut()
}

/// The task with this pid in the caller's pid namespace, with a reference; `None` if there
/// is none. The `Option<ARef<Task>>` makes a put on a null task impossible.
pub(crate) fn find_task(pid: i32) -> Option<ARef<Task>> {
    // SAFETY: find_get_pid looks up in the caller's pid namespace (RCU inside) and returns
    // a counted `struct pid` or null.
    let p = unsafe { bindings::find_get_pid(pid) };
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` is a counted pid (non-null); get_pid_task returns a task with its own
    // reference, or null.
    let t = unsafe { bindings::get_pid_task(p, bindings::pid_type_PIDTYPE_PID) };
    // SAFETY: drops the reference find_get_pid took.
    unsafe { bindings::put_pid(p) };
    let t = NonNull::new(t.cast::<Task>())?;
    // SAFETY: get_pid_task took a reference, which the `ARef` now owns (put on drop).
    Some(unsafe { ARef::from_raw(t) })
}

/// What freeze looks at on a task (a snapshot: it may change right after).
#[derive(Clone, Copy)]
pub(crate) struct TaskFacts {
    /// Pid in the caller's namespace, 0 if none.
    pub(crate) pid: i32,
    /// A kernel thread or a user worker (io_uring, vhost): no user state of its own.
    pub(crate) kernel_thread: bool,
    /// The global init.
    pub(crate) global_init: bool,
    pub(crate) threads: u32,
    pub(crate) ptraced: bool,
    pub(crate) exiting: bool,
}

/// The facts of `t`.
pub(crate) fn facts(t: &Task) -> TaskFacts {
    let mut f = ffi::TaskFacts::default();
    // SAFETY: `t` is a valid task (type invariant of `Task`) for the duration of the call;
    // `f` is writable.
    unsafe { ffi::migr_task_facts(raw(t), &mut f) };
    TaskFacts {
        pid: f.pid,
        kernel_thread: f.flags & (bindings::PF_KTHREAD | bindings::PF_USER_WORKER) != 0,
        global_init: f.global_init != 0,
        threads: f.threads,
        ptraced: f.ptraced != 0,
        exiting: f.flags & bindings::PF_EXITING != 0,
    }
}

/// What confines `t` (credentials, seccomp, no_new_privs, namespaces): a snapshot, or None
/// if it has no namespaces any more (exiting).
pub(crate) fn confinement(t: &Task) -> Option<Confinement> {
    let mut c = Confinement::default();
    // SAFETY: `t` is a valid task for the duration of the call (type invariant of `Task`);
    // the glue takes RCU and task_lock itself; `c` is writable.
    unsafe { ffi::migr_task_confinement(raw(t), &mut c) }.then_some(c)
}

/// Every capability this kernel knows (CAP_VALID_MASK).
pub(crate) fn cap_valid_mask() -> u64 {
    // SAFETY: a constant of the glue, never written.
    unsafe { ffi::migr_cap_valid_mask }
}

/// Is `current` exiting (task works also run from do_exit)?
pub(crate) fn current_exiting() -> bool {
    // SAFETY: reads current->flags; no preconditions.
    unsafe { ffi::migr_current_exiting() }
}

/// Send SIGKILL to `current`: it dies on its way back to user mode.
pub(crate) fn kill_current() {
    let me = kernel::current!();
    // SAFETY: `me` is the running task (valid while we run); send_sig takes the locks it needs.
    unsafe { bindings::send_sig(bindings::SIGKILL as i32, raw(&me), 1) };
}

/// The comm of `current`, NUL-padded.
pub(crate) fn current_comm() -> [u8; 16] {
    let mut comm = [0u8; 16];
    // SAFETY: `comm` has 16 writable bytes; strscpy in the glue NUL-terminates within them.
    unsafe { ffi::migr_get_comm(comm.as_mut_ptr().cast(), comm.len() as u32) };
    comm
}

/// Sleep `ns` nanoseconds, killable: Err(EINTR) on a fatal signal. Process context only.
pub(crate) fn sleep_killable_ns(ns: u64) -> Result {
    // SAFETY: plain killable sleep of current; no preconditions besides process context,
    // which every caller (a task work of the task itself) has.
    if unsafe { ffi::migr_sleep_killable_ns(ns) } < 0 {
        return Err(code::EINTR);
    }
    Ok(())
}

/// Close descriptor `fd` of `current` (the caller keeps its own file reference if it has one).
pub(crate) fn close_fd(fd: u32) -> Result {
    // SAFETY: close_fd only touches current's descriptor table.
    kernel::error::to_result(unsafe { ffi::migr_close_fd(fd) })
}

/// Does the caller have CAP_SYS_ADMIN in the initial user namespace?
pub(crate) fn capable_sys_admin() -> bool {
    // SAFETY: `capable` only reads the current task's credentials.
    unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) }
}

/// A reference on this module: while one exists, the module cannot be unloaded. Taken by
/// whatever leaves a callback into the module queued where it cannot be cancelled
/// (task_work_cancel is not exported).
///
/// # Invariants
/// Each `ModuleRef` owns one count taken by `try_module_get`.
pub(crate) struct ModuleRef(());

impl ModuleRef {
    /// Err(ENODEV) if the module is going away.
    pub(crate) fn get() -> Result<Self> {
        // SAFETY: try_module_get(THIS_MODULE) has no preconditions.
        if unsafe { ffi::migr_try_module_get() } {
            // INVARIANT: the count was just taken.
            Ok(ModuleRef(()))
        } else {
            Err(code::ENODEV)
        }
    }
}

impl ModuleRef {
    /// Give up the count without dropping it (a queued callback owns it now).
    pub(super) fn into_raw(self) {
        core::mem::forget(self);
    }

    /// Take back a count given up by `into_raw`.
    ///
    /// # Safety
    /// Must be paired with exactly one earlier `into_raw` whose count nobody else took back.
    pub(super) unsafe fn from_raw() -> Self {
        // INVARIANT: per the contract, the count of an earlier `get` is ours again.
        ModuleRef(())
    }
}

impl Drop for ModuleRef {
    fn drop(&mut self) {
        // SAFETY: gives back the count this value owns (type invariant). The few
        // instructions left after the last put run while the module may be going only if
        // rmmod races the very end of a callback, which also needs rmmod's synchronize_rcu.
        unsafe { ffi::migr_module_put() };
    }
}

/// Clocks: CLOCK_MONOTONIC, and the clock a nanosleep restart block names.
pub(crate) mod clock {
    use kernel::bindings;

    /// CLOCK_MONOTONIC in ns.
    pub(crate) fn monotonic_ns() -> u64 {
        // SAFETY: ktime_get has no preconditions.
        unsafe { bindings::ktime_get() as u64 }
    }

    /// CLOCK_MONOTONIC in ms.
    pub(crate) fn monotonic_ms() -> u64 {
        monotonic_ns() / 1_000_000
    }

    /// The current time of clock `id` in ns (the clocks a nanosleep can sleep on; others
    /// read as CLOCK_MONOTONIC, as hrtimer bases do).
    pub(crate) fn now_ns(id: i32) -> u64 {
        let offs = match u32::try_from(id) {
            Ok(bindings::CLOCK_REALTIME) => bindings::tk_offsets_TK_OFFS_REAL,
            Ok(bindings::CLOCK_BOOTTIME) => bindings::tk_offsets_TK_OFFS_BOOT,
            Ok(bindings::CLOCK_TAI) => bindings::tk_offsets_TK_OFFS_TAI,
            _ => return monotonic_ns(),
        };
        // SAFETY: ktime_get_with_offset is exported and takes any valid tk_offsets value.
        unsafe { bindings::ktime_get_with_offset(offs) as u64 }
    }
}
