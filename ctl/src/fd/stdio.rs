//! Standard input/output that is not a regular file (a terminal, a pipe, a socket): it stays
//! on the home node. With a deputy there, it is served through the deputy (`relay`);
//! without, on the target stdin reads /dev/null and stdout/stderr go to
//! /var/log/migr/PID.out. Only descriptors 0-2 are taken this way.
//! That file is made afresh for each arrival (`new_arrival`: an earlier process with the same
//! pid left its own), by root in root's directory, readable and writable by the process's
//! user only.

use std::fs;

use super::{FdError, FdKind, OpenFd};
use crate::peer::proto::{FdSpec, Identity};

pub struct DetachedStdio;

/// Where the output of a restored task goes.
pub const LOG_DIR: &str = "/var/log/migr";

impl FdKind for DetachedStdio {
    fn name(&self) -> &'static str {
        "detached stdio"
    }

    fn dump(&self, d: &OpenFd) -> Option<FdSpec> {
        // A terminal's modes and size go along: a deputy's relay gives the process a
        // terminal like it (fd::relay).
        let tty = if d.target.starts_with("/dev/") { super::relay::tty_state(d.pid, d.fd) } else { None };
        (d.fd <= 2).then(|| FdSpec::Detached { fd: d.fd, what: d.target.clone(), tty })
    }

    fn owns(&self, spec: &FdSpec) -> bool {
        matches!(spec, FdSpec::Detached { .. })
    }

    fn restore(&self, spec: &FdSpec, pid: u32, who: &Identity) -> Result<fs::File, FdError> {
        fn io(path: &str) -> impl FnOnce(std::io::Error) -> FdError + '_ {
            move |source| FdError::Io { path: path.to_string(), source }
        }
        if spec.fd() == 0 {
            return fs::File::open("/dev/null").map_err(io("/dev/null"));
        }
        fs::create_dir_all(LOG_DIR).map_err(io(LOG_DIR))?;
        let path = format!("{LOG_DIR}/{pid}.out");
        // stdout and stderr of one arrival share the file: the first makes it. Root's
        // directory: no one else can have put a link there.
        let open = || {
            use std::os::unix::fs::OpenOptionsExt;
            let f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)?;
            std::os::unix::fs::fchown(&f, Some(who.uid[1]), Some(who.gid[1]))?;
            Ok(f)
        };
        open().map_err(io(&path))
    }
}

/// Before the descriptors of an arriving `pid` are made: what an earlier process with that
/// pid left in its output file is not this one's.
pub fn new_arrival(pid: u32) -> Result<(), FdError> {
    let path = format!("{LOG_DIR}/{pid}.out");
    match fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(FdError::Io { path, source: e }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_reads_nothing() {
        let who = crate::migrate::procinfo::identity(std::process::id()).unwrap();
        let f = DetachedStdio.restore(&FdSpec::Detached { fd: 0, what: "/dev/pts/0".into(), tty: None }, 1, &who).unwrap();
        let mut s = String::new();
        use std::io::Read;
        (&f).read_to_string(&mut s).unwrap();
        assert!(s.is_empty());
    }
}
