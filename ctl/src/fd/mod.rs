//! Open descriptors, one module per kind, dump and restore side by side behind [`FdKind`]
//! (as CRIU's `file_desc_ops`): a regular file (`regular`), standard input/output that is not
//! a file and stays home (`stdio`). Pipes, terminals and sockets are meant to come as further
//! kinds. The source asks each kind in turn to describe a descriptor (the first that knows
//! it wins); the target gives a [`FdSpec`] to the kind that owns it.

pub mod home_file;
pub mod regular;
pub mod relay;
pub mod stdio;

use std::fs;

use crate::peer::proto::{FdSpec, Identity};

/// An open descriptor of a task as /proc shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenFd {
    /// The process it belongs to.
    pub pid: u32,
    pub fd: i32,
    /// The /proc/PID/fd link: a path, or `pipe:[..]`, `socket:[..]`, `/dev/pts/0`...
    pub target: String,
    /// Status flags and position, from /proc/PID/fdinfo.
    pub flags: i32,
    pub pos: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum FdError {
    #[error("reading fds: {0}")]
    List(#[source] std::io::Error),
    #[error("fd {fd}: {source}")]
    Link { fd: i32, source: std::io::Error },
    #[error("open descriptor {} ({}) cannot travel yet", .0.fd, .0.target)]
    CannotTravel(OpenFd),
    #[error("cannot open {path} for descriptor {fd}: {source}")]
    Open { fd: i32, path: String, source: std::io::Error },
    #[error("{path}: seek: {source}")]
    Seek { path: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("descriptor {fd}: {source}")]
    Creds { fd: i32, source: crate::creds::CredsError },
}

/// One kind of open descriptor: how the source describes it and how the target reopens it.
pub trait FdKind: Sync {
    /// For the logs and tests.
    fn name(&self) -> &'static str;
    /// Source: the spec of `d` if it is of this kind; None leaves it to the next kind.
    fn dump(&self, d: &OpenFd) -> Option<FdSpec>;
    /// Target: is `spec` of this kind?
    fn owns(&self, spec: &FdSpec) -> bool;
    /// Target: open on this node what `spec` describes, for the task that will be `pid` and
    /// act as `who`. Whatever the path names is opened with `who`'s credentials (see
    /// `crate::creds`), never as root on the user's behalf.
    fn restore(&self, spec: &FdSpec, pid: u32, who: &Identity) -> Result<fs::File, FdError>;
}

/// Every kind, in the order the source asks them.
pub static KINDS: &[&dyn FdKind] = &[&home_file::HomeServed, &regular::Regular, &stdio::DetachedStdio];

impl FdSpec {
    /// The descriptor number in the task.
    pub fn fd(&self) -> i32 {
        match self {
            FdSpec::File { fd, .. } | FdSpec::Detached { fd, .. } | FdSpec::Home { fd, .. } => *fd,
        }
    }
}

/// The kind that describes `d`, and its spec.
pub fn dump_one(d: &OpenFd) -> Result<FdSpec, FdError> {
    KINDS.iter().find_map(|k| k.dump(d)).ok_or_else(|| FdError::CannotTravel(d.clone()))
}

/// The kind that restores `spec`.
pub fn kind_of(spec: &FdSpec) -> &'static dyn FdKind {
    // Every spec variant has its kind (checked by a test).
    KINDS.iter().copied().find(|k| k.owns(spec)).unwrap_or(&stdio::DetachedStdio)
}

/// Every open descriptor of `pid`, described; Err names the first that cannot travel.
pub fn dump(pid: u32) -> Result<Vec<FdSpec>, FdError> {
    let dir = fs::read_dir(format!("/proc/{pid}/fd")).map_err(FdError::List)?;
    let mut nums: Vec<i32> = dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    nums.sort();
    nums.into_iter().map(|fd| dump_one(&open_fd(pid, fd)?)).collect()
}

/// What /proc says about descriptor `fd` of `pid`.
fn open_fd(pid: u32, fd: i32) -> Result<OpenFd, FdError> {
    let target = fs::read_link(format!("/proc/{pid}/fd/{fd}")).map_err(|source| FdError::Link { fd, source })?;
    let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
    let field = |name: &str| info.lines().find(|l| l.starts_with(name)).map(|l| l[name.len()..].trim().to_string());
    Ok(OpenFd {
        pid,
        fd,
        target: target.to_string_lossy().into_owned(),
        flags: field("flags:").and_then(|v| i32::from_str_radix(&v, 8).ok()).unwrap_or(0),
        pos: field("pos:").and_then(|v| v.parse().ok()).unwrap_or(0),
    })
}

/// Target: open what `spec` describes; (descriptor number, file for the stub).
pub fn restore(spec: &FdSpec, pid: u32, who: &Identity) -> Result<(i32, fs::File), FdError> {
    Ok((spec.fd(), kind_of(spec).restore(spec, pid, who)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(fd: i32, target: &str) -> OpenFd {
        OpenFd { pid: 1, fd, target: target.into(), flags: libc::O_RDONLY, pos: 0 }
    }

    #[test]
    fn each_descriptor_goes_to_its_kind() {
        let p = std::env::temp_dir().join(format!("migr-kind-{}", std::process::id()));
        std::fs::write(&p, b"x").unwrap();
        let file = dump_one(&open(5, p.to_str().unwrap())).unwrap();
        std::fs::remove_file(&p).unwrap();
        assert!(matches!(file, FdSpec::File { fd: 5, .. }));
        assert_eq!(kind_of(&file).name(), "regular file");
        let tty = dump_one(&open(1, "/dev/pts/0")).unwrap();
        assert!(matches!(tty, FdSpec::Detached { fd: 1, .. }));
        assert_eq!(kind_of(&tty).name(), "detached stdio");
        let pipe = dump_one(&open(0, "pipe:[1234]")).unwrap();
        assert_eq!(kind_of(&pipe).name(), "detached stdio");
    }

    #[test]
    fn a_descriptor_no_kind_knows_is_refused_by_name() {
        let e = dump_one(&open(4, "socket:[99]")).unwrap_err();
        assert_eq!(e.to_string(), "open descriptor 4 (socket:[99]) cannot travel yet");
        let deleted = dump_one(&open(3, "/tmp/x (deleted)")).unwrap_err();
        assert!(matches!(deleted, FdError::CannotTravel(OpenFd { fd: 3, .. })));
    }

    #[test]
    fn every_spec_has_exactly_one_kind() {
        let specs = [
            FdSpec::File { fd: 3, path: "/x".into(), flags: 0, pos: 0 },
            FdSpec::Detached { fd: 1, what: "pipe:[1]".into(), tty: None },
            FdSpec::Home { fd: 4, path: "/db".into(), flags: libc::O_RDWR },
        ];
        for s in &specs {
            assert_eq!(KINDS.iter().filter(|k| k.owns(s)).count(), 1, "{s:?}");
        }
    }

    #[test]
    fn own_descriptors_dump() {
        let f = std::fs::File::open("/proc/self/status").unwrap();
        use std::os::fd::AsRawFd;
        let d = open_fd(std::process::id(), f.as_raw_fd()).unwrap();
        assert_eq!(d.target, format!("/proc/{}/status", std::process::id()));
    }
}
