//! Every way migctl can fail, each with one clear line and a distinct exit code, so that
//! scripts can tell "module not loaded" from "no permission" from "peer refused us".
//!
//! [`CtlError`] is the crate's error; it keeps its source (an errno, an I/O error, the
//! channel's error). Why a migration did not happen crosses the local socket from the daemon
//! to `migctl migrate` typed, as a [`Failure`]: a module refusal stays a [`Refusal`] from the
//! module's reply to the CLI's message and exit code.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use thiserror::Error;

use crate::peer::channel::ChannelError;
use crate::uapi::{Feature, Refusal};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Error)]
pub enum CtlError {
    #[error("migr module not loaded (the 'migr' generic netlink family does not exist; try: insmod migr.ko)")]
    ModuleNotLoaded,
    #[error("permission denied: driving migr needs CAP_SYS_ADMIN")]
    PermissionDenied,
    #[error("protocol mismatch: module speaks migr protocol {module}, migctl speaks {ours}")]
    ProtocolMismatch { module: u32, ours: u32 },
    #[error("module error: {0}")]
    Module(#[from] ModuleError),
    #[error("node key: {0}")]
    Key(#[from] KeyError),
    #[error("peer {peer} unreachable: {source}")]
    PeerUnreachable { peer: String, source: std::io::Error },
    #[error("peer {peer} refused authentication (is this node's public key in its peers file?)")]
    AuthFailed { peer: String },
    #[error("peer {peer}: {reason}")]
    Peer { peer: String, reason: PeerReason },
    #[error("migration refused: pid {pid}: {reason}")]
    Refused { pid: u32, reason: Refused },
    #[error("migration failed, the process carries on at home: pid {pid}: {reason}")]
    Failed { pid: u32, reason: String },
    #[error("no migr daemon on this node ({path}: {source}); start `migctl serve`")]
    NoDaemon { path: String, source: std::io::Error },
    #[error("local daemon: {0}")]
    LocalDaemon(#[source] std::io::Error),
    #[error("unexpected answer from the daemon")]
    UnexpectedAnswer,
    #[error("no migration {0} on this node")]
    NoSuchMigration(u64),
    #[error("no migrations on this node")]
    NoMigrations,
    #[error("{failed} of {total} guest process(es) could not leave this node")]
    Evacuate { failed: usize, total: usize },
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Random(#[from] getrandom::Error),
}

impl CtlError {
    /// Exit code for this error; 2 is kept for usage errors (clap's own).
    pub fn exit_code(&self) -> i32 {
        match self {
            CtlError::ModuleNotLoaded => 3,
            CtlError::PermissionDenied => 4,
            CtlError::ProtocolMismatch { .. } => 5,
            CtlError::Module(_) => 6,
            CtlError::Key(_) => 7,
            CtlError::PeerUnreachable { .. } => 8,
            CtlError::AuthFailed { .. } => 9,
            CtlError::Peer { .. } => 10,
            CtlError::Refused { .. } => 11,
            CtlError::Failed { .. } => 12,
            CtlError::Evacuate { .. } => 13,
            CtlError::NoDaemon { .. }
            | CtlError::LocalDaemon(_)
            | CtlError::UnexpectedAnswer
            | CtlError::NoSuchMigration(_)
            | CtlError::NoMigrations
            | CtlError::Listen { .. }
            | CtlError::Io { .. }
            | CtlError::Json(_)
            | CtlError::Random(_) => 1,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CtlError::Io { path: path.into(), source }
    }
}

pub type Result<T> = std::result::Result<T, CtlError>;

/// What went wrong talking to the module over generic netlink.
#[derive(Debug, Error)]
pub enum ModuleError {
    /// The module answered with this error number.
    #[error("{}", .0.desc())]
    Errno(nix::errno::Errno),
    #[error("cannot open a generic netlink socket: {0}")]
    Socket(#[source] BoxError),
    #[error("cannot resolve the migr family: {0}")]
    Resolve(#[source] BoxError),
    #[error("cannot build attribute {ty}: {source}")]
    Attribute { ty: u16, source: BoxError },
    #[error("cannot send to the module: {0}")]
    Send(#[source] BoxError),
    #[error("{0}")]
    Receive(#[source] BoxError),
    #[error("empty reply")]
    EmptyReply,
    #[error("no reply from the module")]
    NoReply,
    /// A reply without an attribute it must carry.
    #[error("{0}")]
    Missing(&'static str),
    #[error("attribute of {len} bytes where {want} were expected")]
    AttributeLength { len: usize, want: usize },
    #[error("image: bad or missing {0}")]
    BadImage(&'static str),
}

/// What is wrong with a node's key file or its peers file.
#[derive(Debug, Error)]
pub enum KeyError {
    #[error("{}: {source} (make one with: migctl keygen)", path.display())]
    Missing { path: PathBuf, source: std::io::Error },
    #[error("{} is readable by group or others; chmod 600 it", path.display())]
    Exposed { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: expected {} hex digits on one line", path.display(), crate::peer::key::KEY_LEN * 2)]
    BadFile { path: PathBuf },
    #[error("expected {} hex digits on one line", crate::peer::key::KEY_LEN * 2)]
    Format,
    #[error("no randomness: {0}")]
    Random(getrandom::Error),
    #[error("peers file {}: {source}", path.display())]
    PeersMissing { path: PathBuf, source: std::io::Error },
    #[error("peers file {} is writable by group or others, or owned by another user; chmod 644 it", path.display())]
    PeersExposed { path: PathBuf },
    #[error("peers file {} line {line}: expected a public key (64 hex digits) and an optional name", path.display())]
    PeersLine { path: PathBuf, line: usize },
}

/// Why a peer's answer is of no use.
#[derive(Debug, Error)]
pub enum PeerReason {
    #[error("{0}")]
    Channel(#[from] ChannelError),
    /// The peer answered with an error of its own.
    #[error("{0}")]
    Said(String),
    #[error("answered another nonce")]
    OtherNonce,
    #[error("unexpected answer {0}")]
    Unexpected(String),
}

/// Why a migration was refused: nothing was attempted, or the process was thawed before any
/// of its state left. Crosses the local socket typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Error)]
pub enum Refused {
    /// The module refused to freeze it (or the caller's side found the same reason first).
    #[error("{0}")]
    Module(Refusal),
    #[error("you may not ptrace it, so you may not migrate it")]
    NotPtraceable,
    /// The descriptor passed as proof is not the task's /proc/PID/mem.
    #[error("the caller may not ptrace it")]
    NoProof,
    /// A user's migrations in progress on this node are limited (root's are not).
    #[error("uid {uid} has {limit} migrations in progress here already")]
    TooManyInProgress { uid: u32, limit: usize },
    #[error("the migr module on {node} lacks the {feature} feature")]
    MissingFeature { node: String, feature: Feature },
    /// The target's daemon could not be reached (`migctl evacuate` then tries another node).
    #[error("target {target} unreachable: {why}")]
    TargetUnreachable { target: String, why: String },
    /// A reason only text can carry: a peer's answer, an I/O error.
    #[error("{0}")]
    Other(String),
}

/// Why a migration did not happen, from the daemon to `migctl migrate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Error)]
pub enum Failure {
    #[error("refused: {0}")]
    Refused(Refused),
    /// It failed after the process was frozen; the process was thawed at home.
    #[error("failed: {0}")]
    Failed(String),
}

impl Failure {
    pub fn refused(why: impl std::fmt::Display) -> Self {
        Failure::Refused(Refused::Other(why.to_string()))
    }

    pub fn failed(why: impl std::fmt::Display) -> Self {
        Failure::Failed(why.to_string())
    }

    pub fn is_refusal(&self) -> bool {
        matches!(self, Failure::Refused(_))
    }

    /// The CLI's error for this failure of the migration of `pid`.
    pub fn into_error(self, pid: u32) -> CtlError {
        match self {
            Failure::Refused(reason) => CtlError::Refused { pid, reason },
            Failure::Failed(reason) => CtlError::Failed { pid, reason },
        }
    }
}

/// The task's memory could not be read: the migration fails, the process is thawed.
impl From<crate::migrate::pages::PageError> for Failure {
    fn from(e: crate::migrate::pages::PageError) -> Self {
        Failure::failed(e)
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Refused(Refused::Module(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_and_not_usage() {
        let io = || std::io::Error::other("x");
        let all = [
            CtlError::ModuleNotLoaded,
            CtlError::PermissionDenied,
            CtlError::ProtocolMismatch { module: 1, ours: 2 },
            CtlError::Module(ModuleError::EmptyReply),
            CtlError::Key(KeyError::Format),
            CtlError::PeerUnreachable { peer: String::new(), source: io() },
            CtlError::AuthFailed { peer: String::new() },
            CtlError::Peer { peer: String::new(), reason: PeerReason::OtherNonce },
            CtlError::Refused { pid: 1, reason: Refused::NoProof },
            CtlError::Failed { pid: 1, reason: String::new() },
            CtlError::UnexpectedAnswer,
        ];
        let mut codes: Vec<i32> = all.iter().map(|e| e.exit_code()).collect();
        assert!(!codes.contains(&0) && !codes.contains(&2));
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn messages_are_one_line() {
        let e = CtlError::ProtocolMismatch { module: 3, ours: 1 };
        let s = e.to_string();
        assert!(!s.contains('\n'));
        assert!(s.contains("protocol 3") && s.contains("speaks 1"));
    }

    /// A module refusal, as the daemon sends it over the local socket, becomes the CLI's
    /// line and exit code 11.
    #[test]
    fn module_refusals_reach_the_cli_typed() {
        let cases = [
            (Refusal::NoSuchPid, "migration refused: pid 42: no such process"),
            (Refusal::MultiThreaded, "migration refused: pid 42: it is multi-threaded (threads are not supported yet)"),
            (Refusal::SharedMemory { addr: 0x7000 }, "migration refused: pid 42: it has shared memory (MAP_SHARED or SysV shm) at 0x7000"),
            (Refusal::FreezeTimeout, "migration refused: pid 42: it did not stop in time (stopped, or in uninterruptible sleep)"),
            (Refusal::Init, "migration refused: pid 42: it is pid 1 (init) of its namespace"),
        ];
        for (r, line) in cases {
            let wire = postcard::to_stdvec(&Failure::from(r)).unwrap();
            let back: Failure = postcard::from_bytes(&wire).unwrap();
            assert_eq!(back, Failure::from(r));
            let e = back.into_error(42);
            assert!(matches!(e, CtlError::Refused { reason: Refused::Module(got), .. } if got == r));
            assert_eq!(e.to_string(), line);
            assert_eq!(e.exit_code(), 11);
        }
    }

    #[test]
    fn failures_exit_12_and_say_the_process_carries_on() {
        let e = Failure::failed("link to node2 lost").into_error(7);
        assert_eq!(e.exit_code(), 12);
        assert_eq!(e.to_string(), "migration failed, the process carries on at home: pid 7: link to node2 lost");
        assert_eq!(Failure::failed("x").to_string(), "failed: x");
        assert_eq!(Failure::from(Refusal::Ptraced).to_string(), "refused: it is being traced (ptrace)");
    }

    #[test]
    fn a_missing_feature_is_a_refusal() {
        let e = Failure::Refused(Refused::MissingFeature { node: "node2".into(), feature: Feature::Lazy }).into_error(9);
        assert_eq!(e.exit_code(), 11);
        assert_eq!(e.to_string(), "migration refused: pid 9: the migr module on node2 lacks the lazy feature");
    }

    #[test]
    fn module_errnos_keep_their_number() {
        let e = CtlError::from(ModuleError::Errno(nix::errno::Errno::ESRCH));
        assert_eq!(e.to_string(), "module error: No such process");
        assert!(matches!(e, CtlError::Module(ModuleError::Errno(nix::errno::Errno::ESRCH))));
    }
}
