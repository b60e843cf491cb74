// SPDX-License-Identifier: GPL-2.0
//! task_work: a callback that a task runs itself, on its way back to user mode. The
//! container-of step is written once here, like `HasWork` in rust/kernel/workqueue.rs: a
//! type embeds a [`TaskWork`] field, declares it with [`impl_has_task_work!`], and
//! [`queue`] hands an `Arc` of it to the task; [`HasTaskWork::run`] gets that `Arc` back.
//!
//! Each queued work owns one `Arc` reference and one module reference (task_work_cancel is
//! not exported, so the module must stay until the work has run; the work also runs from
//! do_exit if the task dies first, so it always runs exactly once).

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::bindings;
use kernel::error::code;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::task::Task;
use kernel::types::Opaque;

use super::ffi;
use super::task::{raw, ModuleRef};

/// A `struct callback_head` inside an object, queued at most once in its life.
///
/// # Invariants
/// `head` is handed to task_work_add at most once (`queued` goes false -> true once and
/// never back), so a queued head is never reinitialised or queued twice.
#[repr(C)]
pub(crate) struct TaskWork {
    head: Opaque<bindings::callback_head>,
    queued: AtomicBool,
}

impl TaskWork {
    pub(crate) const fn new() -> Self {
        TaskWork { head: Opaque::uninit(), queued: AtomicBool::new(false) }
    }
}

/// How the task is told about the work.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notify {
    /// TWA_SIGNAL: wakes an interruptible sleep (its syscall returns -ERESTART*); the work
    /// runs from get_signal(), before the restart fix-up.
    Signal,
    /// TWA_RESUME: runs on the next return to user mode, after everything else.
    Resume,
}

/// A type with a [`TaskWork`] field.
///
/// # Safety
/// `OFFSET` must be the offset in `Self` of the `TaskWork` that `task_work` returns. Use
/// [`impl_has_task_work!`], which derives both from one field name.
pub(crate) unsafe trait HasTaskWork: Sized + Send + Sync + 'static {
    const OFFSET: usize;

    fn task_work(&self) -> &TaskWork;
}

/// Declare the `TaskWork` field of a type: `impl_has_task_work!(Type, field);`, then say what
/// the work does in an `impl TaskWorkRun for Type`.
macro_rules! impl_has_task_work {
    ($t:ty, $field:ident) => {
        // SAFETY: `OFFSET` and `task_work` name the same field, whose type is checked to be
        // `TaskWork` by the return type of `task_work`.
        unsafe impl $crate::bind::task_work::HasTaskWork for $t {
            const OFFSET: usize = ::core::mem::offset_of!($t, $field);

            fn task_work(&self) -> &$crate::bind::task_work::TaskWork {
                &self.$field
            }
        }
    };
}
pub(crate) use impl_has_task_work;

/// What a task work does.
pub(crate) trait TaskWorkRun: Sized {
    /// Runs as the task the work was queued on (`current`), in process context, with the
    /// reference `queue` handed over. May sleep. Also runs from do_exit (check
    /// `task::current_exiting`).
    fn run(this: Arc<Self>);
}

/// The callback task_work_add gets for a `T`.
///
/// # Safety
/// `head` must be the head of a `TaskWork` queued by `queue::<T>`, run once.
unsafe extern "C" fn run<T: HasTaskWork + TaskWorkRun>(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the `head` of the `TaskWork` (first field of a repr(C) struct, so
    // the same address) at `T::OFFSET` in a `T` whose `Arc::into_raw` pointer `queue` gave
    // away; subtracting the offset gives that pointer back, and the reference is ours now.
    let this = unsafe { Arc::from_raw(head.cast::<u8>().sub(T::OFFSET).cast::<T>()) };
    // SAFETY: `queue` gave up exactly one module count for this run.
    let _module = unsafe { ModuleRef::from_raw() };
    T::run(this);
}

/// Queue `this`'s work on `task`. On error nothing is queued and `this` is dropped:
/// EBUSY if this object's work was queued before, ENODEV if the module is going,
/// ESRCH if the task is exiting (task_work_add refuses once exit_task_work ran).
pub(crate) fn queue<T: HasTaskWork + TaskWorkRun>(task: &Task, this: Arc<T>, notify: Notify) -> Result {
    if this.task_work().queued.swap(true, Ordering::AcqRel) {
        return Err(code::EBUSY);
    }
    let module = ModuleRef::get()?;
    let head = this.task_work().head.get();
    let ptr = Arc::into_raw(this);
    // SAFETY: `task` is valid (type invariant of `Task`); `head` is inside the object that
    // `ptr` keeps alive until `run` takes the reference back; it was never queued before
    // (checked above, type invariant of `TaskWork`); `run::<T>` matches `T`.
    let r = unsafe { ffi::migr_task_work_add(raw(task), head, run::<T>, notify == Notify::Signal) };
    if r < 0 {
        // SAFETY: not queued, so the reference from `into_raw` is still ours.
        drop(unsafe { Arc::from_raw(ptr) });
        return Err(code::ESRCH);
    }
    module.into_raw();
    Ok(())
}

// SAFETY: the head is written only by `queue` (once, before task_work_add publishes it) and
// then belongs to the task_work machinery, which serialises its own accesses.
unsafe impl Send for TaskWork {}
// SAFETY: as for `Send`; `&TaskWork` gives no access to the head outside this module.
unsafe impl Sync for TaskWork {}
