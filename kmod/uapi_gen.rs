// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
// Do not edit: generated from uapi/migr.yaml by uapi/gen_rust.py (`make uapi`).
//! Constants of the `migr` generic netlink family (kernel side).

pub const FAMILY_NAME: &str = "migr";
pub const FAMILY_VERSION: u8 = 1;
pub const PROTOCOL_VERSION: u32 = 9;
pub const MAX_PAGE_RUN: u32 = 15;
pub const STAGING_LEN: u32 = 65536;
pub const MAX_VMAS: u32 = 1024;
pub const IOC_RESTORE: u32 = 19713;
pub const IOC_GO: u32 = 19714;
pub const IOC_STATUS: u32 = 19715;

/// restore-state
pub const RESTORE_STATE_PREPARED: u32 = 0;
pub const RESTORE_STATE_BUILDING: u32 = 1;
pub const RESTORE_STATE_LAYOUT_READY: u32 = 2;
pub const RESTORE_STATE_GO: u32 = 3;
pub const RESTORE_STATE_RUNNING: u32 = 4;

/// What this module can do; migctl checks a bit before using a command.
pub const FEATURE_INFO: u64 = 0x1;
pub const FEATURE_STOP_AND_COPY: u64 = 0x2;
pub const FEATURE_LAZY: u64 = 0x4;
pub const FEATURE_DEPUTY: u64 = 0x8;

/// Why freeze refused a task; the task is left exactly as it was.
pub const REFUSAL_NONE: u32 = 0;
pub const REFUSAL_NO_SUCH_PID: u32 = 1;
pub const REFUSAL_KERNEL_THREAD: u32 = 2;
pub const REFUSAL_INIT: u32 = 3;
pub const REFUSAL_MULTI_THREADED: u32 = 4;
pub const REFUSAL_PTRACED: u32 = 5;
pub const REFUSAL_EXITING: u32 = 6;
pub const REFUSAL_SHARED_MEMORY: u32 = 7;
pub const REFUSAL_DEVICE_MAPPING: u32 = 8;
pub const REFUSAL_TOO_MANY_VMAS: u32 = 9;
pub const REFUSAL_ALREADY_FROZEN: u32 = 10;
pub const REFUSAL_FREEZE_TIMEOUT: u32 = 11;
pub const REFUSAL_SELF: u32 = 12;
pub const REFUSAL_PROOF_MISMATCH: u32 = 13;
pub const REFUSAL_LAZY_PAGES_PENDING: u32 = 14;
pub const REFUSAL_SECCOMP: u32 = 15;
pub const REFUSAL_NO_NEW_PRIVS: u32 = 16;
pub const REFUSAL_NAMESPACED: u32 = 17;
pub const REFUSAL_CAPABILITIES: u32 = 18;

/// What a frozen task was doing in the kernel when it stopped.
pub const RESTART_NONE: u32 = 0;
pub const RESTART_NANOSLEEP: u32 = 1;

/// vma-kind
pub const VMA_KIND_ANON: u32 = 0;
pub const VMA_KIND_FILE: u32 = 1;
pub const VMA_KIND_HEAP: u32 = 2;
pub const VMA_KIND_STACK: u32 = 3;
pub const VMA_KIND_VDSO: u32 = 4;
pub const VMA_KIND_VVAR: u32 = 5;

/// mode
pub const MODE_EAGER: u32 = 0;
pub const MODE_LAZY: u32 = 1;

/// Why a page arrives (for the counters).
pub const PAGE_KIND_FAULT: u32 = 0;
pub const PAGE_KIND_PREFETCH: u32 = 1;
pub const PAGE_KIND_PUSH: u32 = 2;
pub const PAGE_KIND_EAGER: u32 = 3;

/// pager-end
pub const PAGER_END_COMPLETE: u32 = 0;
pub const PAGER_END_FAIL: u32 = 1;

/// restore-state (the `restore-state` enum as a type)
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum RestoreState {
    Prepared = 0,
    Building = 1,
    LayoutReady = 2,
    Go = 3,
    Running = 4,
}

impl RestoreState {
    /// The value with this number, if any.
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Prepared),
            1 => Some(Self::Building),
            2 => Some(Self::LayoutReady),
            3 => Some(Self::Go),
            4 => Some(Self::Running),
            _ => None,
        }
    }
}

/// Why freeze refused a task; the task is left exactly as it was. (the `refusal` enum as a type)
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum Refusal {
    None = 0,
    NoSuchPid = 1,
    KernelThread = 2,
    Init = 3,
    MultiThreaded = 4,
    Ptraced = 5,
    Exiting = 6,
    SharedMemory = 7,
    DeviceMapping = 8,
    TooManyVmas = 9,
    AlreadyFrozen = 10,
    FreezeTimeout = 11,
    Self_ = 12,
    ProofMismatch = 13,
    LazyPagesPending = 14,
    Seccomp = 15,
    NoNewPrivs = 16,
    Namespaced = 17,
    Capabilities = 18,
}

impl Refusal {
    /// The value with this number, if any.
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::None),
            1 => Some(Self::NoSuchPid),
            2 => Some(Self::KernelThread),
            3 => Some(Self::Init),
            4 => Some(Self::MultiThreaded),
            5 => Some(Self::Ptraced),
            6 => Some(Self::Exiting),
            7 => Some(Self::SharedMemory),
            8 => Some(Self::DeviceMapping),
            9 => Some(Self::TooManyVmas),
            10 => Some(Self::AlreadyFrozen),
            11 => Some(Self::FreezeTimeout),
            12 => Some(Self::Self_),
            13 => Some(Self::ProofMismatch),
            14 => Some(Self::LazyPagesPending),
            15 => Some(Self::Seccomp),
            16 => Some(Self::NoNewPrivs),
            17 => Some(Self::Namespaced),
            18 => Some(Self::Capabilities),
            _ => None,
        }
    }
}

/// What a frozen task was doing in the kernel when it stopped. (the `restart` enum as a type)
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum Restart {
    None = 0,
    Nanosleep = 1,
}

impl Restart {
    /// The value with this number, if any.
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::None),
            1 => Some(Self::Nanosleep),
            _ => None,
        }
    }
}

/// vma-kind (the `vma-kind` enum as a type)
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum VmaKind {
    Anon = 0,
    File = 1,
    Heap = 2,
    Stack = 3,
    Vdso = 4,
    Vvar = 5,
}

impl VmaKind {
    /// The value with this number, if any.
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Anon),
            1 => Some(Self::File),
            2 => Some(Self::Heap),
            3 => Some(Self::Stack),
            4 => Some(Self::Vdso),
            5 => Some(Self::Vvar),
            _ => None,
        }
    }
}

/// mode (the `mode` enum as a type)
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum Mode {
    Eager = 0,
    Lazy = 1,
}

impl Mode {
    /// The value with this number, if any.
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Eager),
            1 => Some(Self::Lazy),
            _ => None,
        }
    }
}

/// Why a page arrives (for the counters). (the `page-kind` enum as a type)
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum PageKind {
    Fault = 0,
    Prefetch = 1,
    Push = 2,
    Eager = 3,
}

impl PageKind {
    /// The value with this number, if any.
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Fault),
            1 => Some(Self::Prefetch),
            2 => Some(Self::Push),
            3 => Some(Self::Eager),
            _ => None,
        }
    }
}

/// pager-end (the `pager-end` enum as a type)
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum PagerEnd {
    Complete = 0,
    Fail = 1,
}

impl PagerEnd {
    /// The value with this number, if any.
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Complete),
            1 => Some(Self::Fail),
            _ => None,
        }
    }
}

/// Commands (genl cmd numbers).
pub const CMD_INFO_GET: u8 = 1;
pub const CMD_FREEZE: u8 = 2;
pub const CMD_THAW: u8 = 3;
pub const CMD_COMMIT: u8 = 4;
pub const CMD_HAND_OVER: u8 = 5;
pub const CMD_RESTORE: u8 = 6;
pub const CMD_PAGER_LISTEN: u8 = 7;
pub const CMD_PAGE_REQUEST: u8 = 8;
pub const CMD_PAGE_DATA: u8 = 9;
pub const CMD_PAGER_END: u8 = 10;
pub const CMD_DEPUTY_SIGNAL: u8 = 11;
pub const CMD_DEPUTY_END: u8 = 12;
pub const CMD_DEPUTY_STOP: u8 = 13;
pub const CMD_DEPUTY_BECOME: u8 = 14;

/// Attributes of the `info` set.
pub const A_INFO_MODULE_VERSION: u16 = 1;
pub const A_INFO_PROTOCOL_VERSION: u16 = 2;
pub const A_INFO_FEATURES: u16 = 3;
pub const A_INFO_PAD: u16 = 4;

/// Attributes of the `task` set.
pub const A_TASK_PID: u16 = 1;
pub const A_TASK_TIMEOUT_MS: u16 = 2;
pub const A_TASK_SESSION: u16 = 3;
pub const A_TASK_HOLD_TIMEOUT_MS: u16 = 4;
pub const A_TASK_REFUSAL: u16 = 5;
pub const A_TASK_REFUSAL_ADDR: u16 = 6;
pub const A_TASK_PAD: u16 = 7;
pub const A_TASK_COMM: u16 = 8;
pub const A_TASK_REGS: u16 = 9;
pub const A_TASK_XSTATE: u16 = 10;
pub const A_TASK_SIGMASK: u16 = 11;
pub const A_TASK_SIGACTIONS: u16 = 12;
pub const A_TASK_SAS_SP: u16 = 13;
pub const A_TASK_SAS_SIZE: u16 = 14;
pub const A_TASK_SAS_FLAGS: u16 = 15;
pub const A_TASK_CLEAR_CHILD_TID: u16 = 16;
pub const A_TASK_ROBUST_LIST: u16 = 17;
pub const A_TASK_ROBUST_LIST_LEN: u16 = 18;
pub const A_TASK_RSEQ: u16 = 19;
pub const A_TASK_RSEQ_LEN: u16 = 20;
pub const A_TASK_RSEQ_SIG: u16 = 21;
pub const A_TASK_RESTART: u16 = 22;
pub const A_TASK_RESTART_REMAINING_NS: u16 = 23;
pub const A_TASK_MM: u16 = 24;
pub const A_TASK_AUXV: u16 = 25;
pub const A_TASK_VMA: u16 = 26;
pub const A_TASK_FD: u16 = 27;
pub const A_TASK_STUB_FD: u16 = 28;
pub const A_TASK_MODE: u16 = 29;
pub const A_TASK_PROOF_FD: u16 = 30;
pub const A_TASK_PAGER_ID: u16 = 31;
pub const A_TASK_DEPUTY: u16 = 32;
pub const A_TASK_SIGNAL: u16 = 33;
pub const A_TASK_EXEC_ARGV: u16 = 34;
pub const A_TASK_EXEC_ENVP: u16 = 35;
pub const A_TASK_WAIT_STATUS: u16 = 36;
pub const A_TASK_SECCOMP_LISTENER_FD: u16 = 37;

/// Attributes of the `vma` set.
pub const A_VMA_START: u16 = 1;
pub const A_VMA_END: u16 = 2;
pub const A_VMA_FLAGS: u16 = 3;
pub const A_VMA_PGOFF: u16 = 4;
pub const A_VMA_PATH: u16 = 5;
pub const A_VMA_KIND: u16 = 6;
pub const A_VMA_PAD: u16 = 7;

/// Attributes of the `pager` set.
pub const A_PAGER_PID: u16 = 1;
pub const A_PAGER_ID: u16 = 2;
pub const A_PAGER_ADDR: u16 = 3;
pub const A_PAGER_DATA: u16 = 4;
pub const A_PAGER_KIND: u16 = 5;
pub const A_PAGER_END: u16 = 6;
pub const A_PAGER_FAULTS: u16 = 7;
pub const A_PAGER_PAD: u16 = 8;
pub const A_PAGER_STAGING: u16 = 9;
