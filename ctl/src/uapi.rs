//! Typed views of the constants generated from uapi/migr.yaml (`uapi_gen.rs`, which is not
//! edited by hand): the feature bits of `info-get` and the refusals of `freeze`.

use serde::{Deserialize, Serialize};

use crate::uapi_gen as g;

/// A feature bit of the module's `info-get` reply (spec: `feature`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Feature {
    Info,
    StopAndCopy,
    /// Lazy restore with the kernel-side pager.
    Lazy,
    /// Commit keeping the original as the deputy of its copy.
    Deputy,
}

impl Feature {
    pub const ALL: [Feature; 4] = [Feature::Info, Feature::StopAndCopy, Feature::Lazy, Feature::Deputy];

    pub fn bit(self) -> u64 {
        match self {
            Feature::Info => g::FEATURE_INFO,
            Feature::StopAndCopy => g::FEATURE_STOP_AND_COPY,
            Feature::Lazy => g::FEATURE_LAZY,
            Feature::Deputy => g::FEATURE_DEPUTY,
        }
    }

    /// The spec's name.
    pub fn name(self) -> &'static str {
        match self {
            Feature::Info => "info",
            Feature::StopAndCopy => "stop-and-copy",
            Feature::Lazy => "lazy",
            Feature::Deputy => "deputy",
        }
    }
}

impl std::fmt::Display for Feature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the module refused to freeze a task (spec: `refusal`); the task is left as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    #[error("no such process")]
    NoSuchPid,
    #[error("it is a kernel thread")]
    KernelThread,
    #[error("it is pid 1 (init) of its namespace")]
    Init,
    #[error("it is multi-threaded (threads are not supported yet)")]
    MultiThreaded,
    #[error("it is being traced (ptrace)")]
    Ptraced,
    #[error("it is exiting")]
    Exiting,
    #[error("it has shared memory (MAP_SHARED or SysV shm) at {addr:#x}")]
    SharedMemory { addr: u64 },
    #[error("it has a device mapping at {addr:#x}")]
    DeviceMapping { addr: u64 },
    #[error("it has more than {} mappings", g::MAX_VMAS)]
    TooManyVmas,
    #[error("it is already being migrated")]
    AlreadyFrozen,
    #[error("it did not stop in time (stopped, or in uninterruptible sleep)")]
    FreezeTimeout,
    #[error("a process cannot migrate its own controller")]
    OwnController,
    /// The caller's /proc/PID/mem is not this task's memory (a procfs of another pid
    /// namespace, another process, or it exec'd since): the module checks the file itself.
    #[error("the caller's /proc/PID/mem is not this process's memory (the caller may not ptrace it)")]
    ProofMismatch,
    /// It came here lazily and not every page has arrived yet: the missing ones could not
    /// travel on (they are in neither its page tables nor /proc/PID/mem).
    #[error("its memory is still arriving from the node it came from (lazy migration); it can move once every page is here")]
    LazyPagesPending,
    /// Confined by a seccomp filter (mode 2) or strict mode (1): the copy would run free.
    #[error("it is confined by seccomp (mode {mode}), which does not travel")]
    Seccomp { mode: u64 },
    #[error("it has no_new_privs set, which does not travel")]
    NoNewPrivs,
    /// Namespaces other than the initial ones (the bits of `refusal-addr`, named).
    #[error("it runs in namespaces of its own ({}), which do not travel", namespace_names(*mask))]
    Namespaced { mask: u64 },
    /// Capability sets or securebits other than what the restore gives its user ids (a
    /// root process that dropped capabilities, a program with file capabilities).
    #[error("its capabilities differ from what its user ids get where it lands, so they would not travel")]
    Capabilities,
    /// A refusal this migctl does not know (a newer module).
    #[error("refusal {0}")]
    Unknown(u32),
}

impl Refusal {
    /// The refusal in a freeze reply (`refusal`, `refusal-addr`); None for `none`.
    pub fn from_raw(code: u32, addr: u64) -> Option<Self> {
        Some(match code {
            g::REFUSAL_NONE => return None,
            g::REFUSAL_NO_SUCH_PID => Refusal::NoSuchPid,
            g::REFUSAL_KERNEL_THREAD => Refusal::KernelThread,
            g::REFUSAL_INIT => Refusal::Init,
            g::REFUSAL_MULTI_THREADED => Refusal::MultiThreaded,
            g::REFUSAL_PTRACED => Refusal::Ptraced,
            g::REFUSAL_EXITING => Refusal::Exiting,
            g::REFUSAL_SHARED_MEMORY => Refusal::SharedMemory { addr },
            g::REFUSAL_DEVICE_MAPPING => Refusal::DeviceMapping { addr },
            g::REFUSAL_TOO_MANY_VMAS => Refusal::TooManyVmas,
            g::REFUSAL_ALREADY_FROZEN => Refusal::AlreadyFrozen,
            g::REFUSAL_FREEZE_TIMEOUT => Refusal::FreezeTimeout,
            g::REFUSAL_SELF => Refusal::OwnController,
            g::REFUSAL_PROOF_MISMATCH => Refusal::ProofMismatch,
            g::REFUSAL_LAZY_PAGES_PENDING => Refusal::LazyPagesPending,
            g::REFUSAL_SECCOMP => Refusal::Seccomp { mode: addr },
            g::REFUSAL_NO_NEW_PRIVS => Refusal::NoNewPrivs,
            g::REFUSAL_NAMESPACED => Refusal::Namespaced { mask: addr },
            g::REFUSAL_CAPABILITIES => Refusal::Capabilities,
            other => Refusal::Unknown(other),
        })
    }
}

/// The namespaces named by the bits of a `namespaced` refusal (spec: `refusal`).
fn namespace_names(mask: u64) -> String {
    const NAMES: [&str; 8] = ["uts", "ipc", "mnt", "pid", "net", "cgroup", "time", "user"];
    let names: Vec<&str> = NAMES.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, n)| *n).collect();
    if names.is_empty() {
        format!("{mask:#x}")
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_refusal_is_typed_and_named() {
        for code in g::REFUSAL_NO_SUCH_PID..=g::REFUSAL_CAPABILITIES {
            let r = Refusal::from_raw(code, 0x7000).unwrap();
            assert!(!matches!(r, Refusal::Unknown(_)), "refusal {code} untyped");
            assert!(!r.to_string().is_empty() && !r.to_string().contains('\n'));
        }
        assert_eq!(Refusal::from_raw(g::REFUSAL_NONE, 0), None);
        assert_eq!(Refusal::from_raw(99, 0), Some(Refusal::Unknown(99)));
        assert!(Refusal::from_raw(g::REFUSAL_SHARED_MEMORY, 0x7000).unwrap().to_string().ends_with("at 0x7000"));
        assert_eq!(Refusal::TooManyVmas.to_string(), format!("it has more than {} mappings", g::MAX_VMAS));
        assert!(Refusal::from_raw(g::REFUSAL_NAMESPACED, 0x11).unwrap().to_string().contains("(uts, net)"));
    }

    #[test]
    fn feature_bits_are_the_spec_bits() {
        let all = Feature::ALL.iter().fold(0, |a, f| a | f.bit());
        assert_eq!(all, g::FEATURE_INFO | g::FEATURE_STOP_AND_COPY | g::FEATURE_LAZY | g::FEATURE_DEPUTY);
        assert_eq!(Feature::StopAndCopy.to_string(), "stop-and-copy");
    }
}
