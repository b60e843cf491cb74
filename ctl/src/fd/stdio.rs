//! Standard input/output that is not a regular file (a terminal, a pipe, a socket): it stays
//! on the home node. Until home-node forwarding exists, on the target stdin reads /dev/null
//! and stdout/stderr go to /var/log/migr/PID.out. Only descriptors 0-2 are taken this way.

use std::fs;

use super::{FdError, FdKind, OpenFd};
use crate::peer::proto::FdSpec;

pub struct DetachedStdio;

/// Where the output of a restored task goes.
pub const LOG_DIR: &str = "/var/log/migr";

impl FdKind for DetachedStdio {
    fn name(&self) -> &'static str {
        "detached stdio"
    }

    fn dump(&self, d: &OpenFd) -> Option<FdSpec> {
        (d.fd <= 2).then(|| FdSpec::Detached { fd: d.fd, what: d.target.clone() })
    }

    fn owns(&self, spec: &FdSpec) -> bool {
        matches!(spec, FdSpec::Detached { .. })
    }

    fn restore(&self, spec: &FdSpec, pid: u32) -> Result<fs::File, FdError> {
        fn io(path: &str) -> impl FnOnce(std::io::Error) -> FdError + '_ {
            move |source| FdError::Io { path: path.to_string(), source }
        }
        if spec.fd() == 0 {
            return fs::File::open("/dev/null").map_err(io("/dev/null"));
        }
        fs::create_dir_all(LOG_DIR).map_err(io(LOG_DIR))?;
        let path = format!("{LOG_DIR}/{pid}.out");
        fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_reads_nothing() {
        let f = DetachedStdio.restore(&FdSpec::Detached { fd: 0, what: "/dev/pts/0".into() }, 1).unwrap();
        let mut s = String::new();
        use std::io::Read;
        (&f).read_to_string(&mut s).unwrap();
        assert!(s.is_empty());
    }
}
