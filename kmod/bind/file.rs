// SPDX-License-Identifier: GPL-2.0
//! Files: a counted file reference ([`FileRef`], fput on drop; 6.12 has no
//! `kernel::fs::File`), and the module's anon-inode files whose private data is an `Arc`.
//!
//! The Arc-into-private-data dance is written once here with `ForeignOwnable`: [`install_fd`]
//! hands an `Arc<T>` to a new file (`into_foreign`); the file's callbacks borrow it
//! ([`borrow`]) and its release takes it back ([`take_back`]). The file_operations tables are
//! in kmod/glue/file.c; their callbacks land in kmod/bind/entry.rs.

use kernel::ffi::c_void;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::code;
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};
use kernel::types::ForeignOwnable;

use super::ffi;
use crate::freeze::FreezeSession;
use crate::restore::RestoreSession;

/// Which file_operations a module file gets (`enum migr_file_kind`, glue.h).
#[derive(Clone, Copy)]
#[repr(u32)]
pub(crate) enum FileKind {
    /// The daemon's restore session file: ioctl, poll; its last close aborts the restore.
    RestoreControl = ffi::FILE_RESTORE_CONTROL,
    /// The stub's restore session file: ioctl.
    RestoreStub = ffi::FILE_RESTORE_STUB,
    /// A frozen task's hold file: its last close thaws the task.
    Frozen = ffi::FILE_FROZEN,
}

/// A counted reference to a `struct file`.
///
/// # Invariants
/// `0` is a file on which this value owns one reference; dropped with fput.
pub(crate) struct FileRef(NonNull<bindings::file>);

impl FileRef {
    /// Open `path` read-only (filp_open: may sleep).
    pub(crate) fn open_ro(path: &CStr) -> Result<Self> {
        // SAFETY: `path` is NUL-terminated (CStr).
        let f = unsafe { ffi::migr_filp_open_ro(path.as_char_ptr()) };
        // SAFETY: filp_open returns a new file reference or an ERR_PTR.
        unsafe { Self::from_result(f) }
    }

    /// # Safety
    /// `f` must be an ERR_PTR or a file whose reference the caller gives to the result.
    pub(super) unsafe fn from_result(f: *mut bindings::file) -> Result<Self> {
        // SAFETY: IS_ERR/PTR_ERR only look at the pointer value.
        if unsafe { bindings::IS_ERR(f.cast()) } {
            // SAFETY: as above.
            return Err(Error::from_errno(unsafe { bindings::PTR_ERR(f.cast()) } as i32));
        }
        // INVARIANT: per the contract the reference is ours.
        NonNull::new(f).map(FileRef).ok_or(code::EINVAL)
    }

    pub(super) fn raw(&self) -> *mut bindings::file {
        self.0.as_ptr()
    }

    /// Install the file as a new descriptor of `current`, inherited across exec; the
    /// reference goes to the descriptor table. Process context.
    pub(crate) fn install_in_current(self) -> Result<u32> {
        let f = self.raw();
        core::mem::forget(self);
        // SAFETY: `f` is a file whose reference we own (type invariant); the glue gives it
        // to the table, or drops it on failure.
        let fd = unsafe { ffi::migr_install_file(f) };
        if fd < 0 {
            return Err(Error::from_errno(fd));
        }
        Ok(fd as u32)
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: drops the reference this value owns (type invariant). fput defers the
        // final release to task work or a workqueue, so any process context is fine.
        unsafe { bindings::fput(self.raw()) };
    }
}

// SAFETY: file references may be dropped from any thread.
unsafe impl Send for FileRef {}
// SAFETY: a shared `FileRef` only gives out the pointer for calls that are thread-safe.
unsafe impl Sync for FileRef {}

impl FileRef {
    /// The file behind descriptor `fd` of `current` (fget; EBADF if there is none).
    pub(crate) fn of_fd(fd: u32) -> Result<Self> {
        // SAFETY: fget looks `fd` up in current's table under RCU and returns a new reference
        // or null; it may be called from any process context.
        let f = unsafe { bindings::fget(fd) };
        // INVARIANT: the reference fget took is ours.
        NonNull::new(f).map(FileRef).ok_or(code::EBADF)
    }

    /// Whether both files have the same file_operations (the same kind of file).
    fn same_ops(&self, other: &FileRef) -> bool {
        // SAFETY: both are valid files we hold a reference on (type invariant); f_op is set
        // at open and never changes after.
        unsafe { (*self.raw()).f_op == (*other.raw()).f_op }
    }

    /// The file's private data, as an address to compare (never dereferenced).
    fn private_addr(&self) -> usize {
        // SAFETY: as in `same_ops`; a /proc/PID/mem file sets private_data at open only.
        unsafe { (*self.raw()).private_data as usize }
    }
}

/// A /proc/PID/mem file handed in as the proof that the user who opened it may ptrace that
/// task. Opening it ran the kernel's own check with the opener's credentials
/// (proc_mem_open: mm_access, PTRACE_MODE_ATTACH_FSCREDS, the LSM and Yama included), and the
/// file keeps the mm it was opened for (mmgrab) as its private data for as long as it is
/// open, so that mm's address cannot be reused meanwhile: comparing it with a task's mm binds
/// the proof to that task whatever procfs, pid namespace or pid number it was opened by.
///
/// # Invariants
/// `file` has the file_operations of /proc/PID/mem.
pub(crate) struct ProcMemProof {
    file: FileRef,
}

impl ProcMemProof {
    /// The proof at descriptor `fd` of `current`: EBADF if there is none, EINVAL if it is not
    /// a /proc/PID/mem file (recognized by the operations of /proc/self/mem, which is opened
    /// for the comparison: proc_mem_operations is not exported). Process context, may sleep.
    pub(crate) fn of_fd(fd: u32) -> Result<Self> {
        let file = FileRef::of_fd(fd)?;
        let reference = FileRef::open_ro(kernel::c_str!("/proc/self/mem"))?;
        if !file.same_ops(&reference) {
            return Err(code::EINVAL);
        }
        // INVARIANT: checked just above.
        Ok(ProcMemProof { file })
    }

    /// Whether this is the memory of `mm`.
    pub(crate) fn is_of(&self, mm: &super::mm::MmRef) -> bool {
        self.file.private_addr() != 0 && self.file.private_addr() == mm.addr()
    }
}

/// The user-notification listener of a seccomp filter, handed in by the daemon that
/// installed that filter in a restore stub (kmod/confinement.rs accepts a task whose newest
/// filter is this one). The listener file holds a reference on its filter (seccomp's
/// init_listener) and keeps it as its private data, so while this value lives that filter's
/// address names it alone.
///
/// # Invariants
/// `file` is an anon-inode file named "seccomp notify" (what seccomp's listeners are called;
/// their file_operations are not exported).
pub(crate) struct SeccompListener {
    file: FileRef,
}

impl SeccompListener {
    /// The listener at descriptor `fd` of `current`: EBADF if there is none, EINVAL if it is
    /// not a seccomp listener. Process context.
    pub(crate) fn of_fd(fd: u32) -> Result<Self> {
        let file = FileRef::of_fd(fd)?;
        // SAFETY: `file` is a valid file we hold a reference on; its path's dentry lives as
        // long as the file, and a pseudo file's dentry is never renamed, so its name is a
        // stable NUL-terminated string.
        let name = unsafe { kernel::str::CStr::from_char_ptr((*(*file.raw()).f_path.dentry).d_name.name.cast()) };
        if name.as_bytes() != b"seccomp notify" {
            return Err(code::EINVAL);
        }
        // INVARIANT: checked just above.
        Ok(SeccompListener { file })
    }

    /// The address of its filter, to compare with a task's (never dereferenced).
    pub(crate) fn filter_addr(&self) -> u64 {
        self.file.private_addr() as u64
    }
}

/// Install a new restore session file as a descriptor of `current` (the daemon's control
/// file if `control`, else the stub's). Its callbacks get the session back (entry.rs).
pub(crate) fn install_restore_fd(s: Arc<RestoreSession>, control: bool) -> Result<u32> {
    install_fd(if control { FileKind::RestoreControl } else { FileKind::RestoreStub }, s)
}

/// Install a new hold file of a frozen task as a descriptor of `current`.
pub(crate) fn install_frozen_fd(s: Arc<FreezeSession>) -> Result<u32> {
    install_fd(FileKind::Frozen, s)
}

/// Give `data` to a new anon-inode file of `kind` and install it as a new O_CLOEXEC
/// descriptor of `current`; returns the descriptor. On error `data` is dropped. Each kind's
/// callbacks (entry.rs) borrow one type: the typed wrappers above keep them matched.
fn install_fd<T: Send + Sync + 'static>(kind: FileKind, data: Arc<T>) -> Result<u32> {
    let p = data.into_foreign();
    // SAFETY: the new file owns `p`, which its release gives back through `take_back`.
    let fd = unsafe { ffi::migr_anon_fd(kind as u32, p) };
    if fd < 0 {
        // SAFETY: no file was created, so `p` is still ours and was never borrowed.
        drop(unsafe { Arc::<T>::from_foreign(p) });
        return Err(Error::from_errno(fd));
    }
    Ok(fd as u32)
}

/// Borrow the `Arc<T>` a module file owns.
///
/// # Safety
/// `p` must be the private data of a live module file created with `T` (so the file's
/// release, which takes it back, has not run), and the borrow must end before that release.
pub(super) unsafe fn borrow<'a, T: Send + Sync + 'static>(p: *mut c_void) -> ArcBorrow<'a, T> {
    // SAFETY: per the contract, `p` came from `into_foreign` and `from_foreign` has not run.
    unsafe { <Arc<T> as ForeignOwnable>::borrow(p) }
}

/// Take back the `Arc<T>` of a module file, in its release.
///
/// # Safety
/// `p` must be the private data of a module file created with `T`, in its release (the VFS
/// calls it once, after every other callback returned).
pub(super) unsafe fn take_back<T: Send + Sync + 'static>(p: *mut c_void) -> Arc<T> {
    // SAFETY: per the contract, `p` came from `into_foreign`, no borrow is alive, and this
    // runs once.
    unsafe { <Arc<T> as ForeignOwnable>::from_foreign(p) }
}

/// The poll bits a session file reports (POLLIN, POLLERR; uapi/asm-generic/poll.h is not
/// reached by bindgen, so the glue exports them).
pub(crate) fn poll_bits(readable: bool, error: bool) -> u32 {
    // SAFETY: constants defined in the glue, never written.
    let (pin, perr) = unsafe { (ffi::migr_pollin, ffi::migr_pollerr) };
    (if readable { pin } else { 0 }) | (if error { perr } else { 0 })
}
