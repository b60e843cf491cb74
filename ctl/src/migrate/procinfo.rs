//! What the daemon reads about a task from /proc (identity, working directory, limits) and
//! how the target recreates it (open descriptors: see `crate::fd`). The module covers what only the kernel
//! knows (registers, signals, memory layout); this is the part userspace can do.

use std::fs;

use crate::peer::proto::Identity;

fn status_field(status: &str, name: &str) -> Option<Vec<u32>> {
    status
        .lines()
        .find(|l| l.starts_with(name))
        .map(|l| l[name.len()..].split_whitespace().filter_map(|x| x.parse().ok()).collect())
}

/// What /proc does not tell about a task.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("reading status: {0}")]
    Status(#[source] std::io::Error),
    #[error("no {field} in /proc/{pid}/status")]
    Field { field: &'static str, pid: u32 },
    #[error("reading cwd: {0}")]
    Cwd(#[source] std::io::Error),
}

pub fn identity(pid: u32) -> Result<Identity, IdentityError> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).map_err(IdentityError::Status)?;
    let ids = |field| {
        status_field(&status, field)
            .filter(|v| v.len() >= 3)
            .map(|v| [v[0], v[1], v[2]])
            .ok_or(IdentityError::Field { field, pid })
    };
    let cwd = fs::read_link(format!("/proc/{pid}/cwd"))
        .map_err(IdentityError::Cwd)?
        .to_string_lossy()
        .into_owned();
    let mut rlimits = Vec::new();
    for res in 0..16u32 {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: prlimit only reads (new_limit is NULL) and writes `lim`.
        let r = unsafe { libc::prlimit(pid as i32, res as _, std::ptr::null(), &mut lim) };
        if r == 0 {
            rlimits.push((res, lim.rlim_cur, lim.rlim_max));
        }
    }
    Ok(Identity {
        uid: ids("Uid:")?,
        gid: ids("Gid:")?,
        groups: status_field(&status, "Groups:").unwrap_or_default(),
        cwd,
        rlimits,
    })
}

/// Apply the original's limits to the stub (before it becomes the image).
pub fn apply_rlimits(pid: u32, rlimits: &[(u32, u64, u64)]) {
    for &(res, cur, max) in rlimits {
        let lim = libc::rlimit { rlim_cur: cur, rlim_max: max };
        // SAFETY: prlimit reads `lim` and writes nothing (old_limit is NULL).
        let r = unsafe { libc::prlimit(pid as i32, res as _, &lim, std::ptr::null_mut()) };
        if r != 0 {
            log::warn!("pid {pid}: cannot set limit {res} to {cur}/{max}: {}", std::io::Error::last_os_error());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_identity_and_fds_are_readable() {
        let me = std::process::id();
        let id = identity(me).unwrap();
        assert_eq!(id.uid[0], nix::unistd::getuid().as_raw());
        assert!(!id.rlimits.is_empty());
        assert!(id.cwd.starts_with('/'));
    }
}
