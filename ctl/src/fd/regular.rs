//! A regular file: reopened by path on the target, with its access mode and status flags, at
//! its offset (or in append mode). A writer's file is created if the target lacks it. The
//! path is resolved and opened with the credentials of the migrated process's user (a
//! symlink in that user's directory to a file only root may write is refused, as the user's
//! own open would be), and a file created is that user's.

use std::fs;
use std::os::unix::fs::OpenOptionsExt;

use super::{FdError, FdKind, OpenFd};
use crate::peer::proto::{FdSpec, Identity};

pub struct Regular;

impl FdKind for Regular {
    fn name(&self) -> &'static str {
        "regular file"
    }

    fn dump(&self, d: &OpenFd) -> Option<FdSpec> {
        // migr's own output file of a detached stdout stays a detached output (stdio.rs).
        let regular = d.target.starts_with('/')
            && !d.target.starts_with(super::stdio::LOG_DIR)
            && !d.target.ends_with(" (deleted)")
            && fs::metadata(&d.target).map(|m| m.is_file()).unwrap_or(false);
        regular.then(|| FdSpec::File { fd: d.fd, path: d.target.clone(), flags: d.flags, pos: d.pos })
    }

    fn owns(&self, spec: &FdSpec) -> bool {
        matches!(spec, FdSpec::File { .. })
    }

    fn restore(&self, spec: &FdSpec, _pid: u32, who: &Identity) -> Result<fs::File, FdError> {
        let FdSpec::File { fd, path, flags, pos } = spec else {
            unreachable!("dispatched by owns()")
        };
        let acc = flags & libc::O_ACCMODE;
        let mut o = fs::OpenOptions::new();
        o.read(acc != libc::O_WRONLY).write(acc != libc::O_RDONLY);
        // A writer on the home node may have created the file: create it here too. Keep
        // append mode, and the other status flags except creation ones.
        if acc != libc::O_RDONLY {
            o.create(true);
        }
        o.custom_flags(flags & (libc::O_APPEND | libc::O_NONBLOCK | libc::O_SYNC | libc::O_DSYNC));
        let f = crate::creds::as_user(who, || o.open(path))
            .map_err(|source| FdError::Creds { fd: *fd, source })?
            .map_err(|source| FdError::Open { fd: *fd, path: path.clone(), source })?;
        if flags & libc::O_APPEND == 0 {
            use std::io::Seek;
            let mut f2 = &f;
            f2.seek(std::io::SeekFrom::Start(*pos)).map_err(|source| FdError::Seek { path: path.clone(), source })?;
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test process's own identity.
    fn me() -> Identity {
        crate::migrate::procinfo::identity(std::process::id()).unwrap()
    }

    #[test]
    fn a_regular_file_reopens_at_its_position() {
        let dir = crate::ScratchDir::new("fd");
        let p = dir.file("f", b"0123456789");
        let spec = FdSpec::File { fd: 5, path: p.to_string_lossy().into(), flags: libc::O_RDONLY, pos: 4 };
        let (fd, f) = super::super::restore(&spec, 1, &me()).unwrap();
        assert_eq!(fd, 5);
        let mut s = String::new();
        use std::io::Read;
        (&f).read_to_string(&mut s).unwrap();
        assert_eq!(s, "456789");
        let missing = FdSpec::File { fd: 6, path: "/nonexistent/x".into(), flags: libc::O_RDONLY, pos: 0 };
        let e = Regular.restore(&missing, 1, &me()).unwrap_err();
        assert!(matches!(&e, FdError::Open { fd: 6, path, .. } if path == "/nonexistent/x"));
    }
}
