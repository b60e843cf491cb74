// SPDX-License-Identifier: GPL-2.0
//! The binding layer of migr.ko: the only place with `unsafe` and with calls into C (the
//! glue in kmod/glue/*.c, declared in [`ffi`], and `kernel::bindings`), the way
//! rust/kernel/ is for drivers. Feature code (freeze, restore, thread, mm, pager, image,
//! info, registry) uses the safe types here and contains no `unsafe`.
//!
//! - [`task`]: `ARef<kernel::task::Task>` lookup, task facts, acting on `current`, module
//!   references, clocks;
//! - [`task_work`]: callbacks a task runs itself (`TaskWork`, `HasTaskWork`, `queue`);
//! - [`waitq`]: killable waits with a timeout;
//! - [`deputy`]: a task kept as the deputy of its copy acting on itself;
//! - [`mm`]: `MmRef` (mmput on drop), walking mappings, mapping into `current`;
//! - [`cpu`]: registers, XSAVE state and thread fields of `current`;
//! - [`file`]: `FileRef`, anon-inode files owning an `Arc` (ForeignOwnable);
//! - [`uffd`]: the kernel's userfaultfd driven through its file, user staging memory;
//! - [`netlink`]: family, requests and attributes (with extack), messages;
//! - [`atomic`]: enums in atomics; [`global`]: module-wide objects; [`bytes`]: POD bytes;
//! - [`entry`]: every function C calls into Rust (doits, file/vm callbacks, notifier,
//!   module parameter), each a few lines that turn raw pointers into the types above.
//!
//! Every `unsafe` block carries a `// SAFETY:` comment, every unsafe function a `# Safety`
//! section, every type with a raw pointer its `# Invariants`.
#![deny(unsafe_op_in_unsafe_fn)]

pub(crate) mod atomic;
pub(crate) mod bytes;
pub(crate) mod cpu;
pub(crate) mod deputy;
mod entry;
mod ffi;
pub(crate) mod file;
pub(crate) mod global;
pub(crate) mod mm;
pub(crate) mod netlink;
pub(crate) mod task;
pub(crate) mod task_work;
pub(crate) mod uffd;
pub(crate) mod waitq;

/// Error codes that `kernel::error::code` does not define in 6.12, from bindgen's values.
pub(crate) mod errno {
    use kernel::bindings;
    use kernel::error::Error;

    fn errno(e: u32) -> Error {
        Error::from_errno(-(e as i32))
    }

    pub(crate) fn eaddrnotavail() -> Error {
        errno(bindings::EADDRNOTAVAIL)
    }

    pub(crate) fn ecanceled() -> Error {
        errno(bindings::ECANCELED)
    }

    pub(crate) fn emsgsize() -> Error {
        errno(bindings::EMSGSIZE)
    }

    pub(crate) fn enotconn() -> Error {
        errno(bindings::ENOTCONN)
    }
}
