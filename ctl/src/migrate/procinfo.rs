//! What the daemon reads about a task from /proc (identity, working directory, limits, open
//! descriptors) and how the target recreates it. The module covers what only the kernel
//! knows (registers, signals, memory layout); this is the part userspace can do.

use std::fs;
use std::os::unix::fs::OpenOptionsExt;

use crate::peer::proto::{FdSpec, Identity};

fn status_field(status: &str, name: &str) -> Option<Vec<u32>> {
    status
        .lines()
        .find(|l| l.starts_with(name))
        .map(|l| l[name.len()..].split_whitespace().filter_map(|x| x.parse().ok()).collect())
}

pub fn identity(pid: u32) -> Result<Identity, String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("reading status: {e}"))?;
    let ids = |name| {
        status_field(&status, name)
            .filter(|v| v.len() >= 3)
            .map(|v| [v[0], v[1], v[2]])
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))
    };
    let cwd = fs::read_link(format!("/proc/{pid}/cwd"))
        .map_err(|e| format!("reading cwd: {e}"))?
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

/// Every open descriptor of `pid` and how it travels; Err names the first that cannot.
pub fn fds(pid: u32) -> Result<Vec<FdSpec>, String> {
    let mut out = Vec::new();
    let dir = fs::read_dir(format!("/proc/{pid}/fd")).map_err(|e| format!("reading fds: {e}"))?;
    let mut nums: Vec<i32> = dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    nums.sort();
    for fd in nums {
        let target = fs::read_link(format!("/proc/{pid}/fd/{fd}")).map_err(|e| format!("fd {fd}: {e}"))?;
        let target = target.to_string_lossy().into_owned();
        let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
        let field = |name: &str| {
            info.lines().find(|l| l.starts_with(name)).map(|l| l[name.len()..].trim().to_string())
        };
        let pos = field("pos:").and_then(|v| v.parse().ok()).unwrap_or(0);
        let flags = field("flags:").and_then(|v| i32::from_str_radix(&v, 8).ok()).unwrap_or(0);
        let regular = target.starts_with('/')
            && !target.ends_with(" (deleted)")
            && fs::metadata(&target).map(|m| m.is_file()).unwrap_or(false);
        if regular {
            out.push(FdSpec::File { fd, path: target, flags, pos });
        } else if fd <= 2 {
            out.push(FdSpec::Detached { fd, what: target });
        } else {
            return Err(format!("open descriptor {fd} ({target}) cannot travel yet"));
        }
    }
    Ok(out)
}

/// Open what `spec` describes on this node: the file for the stub's descriptor.
pub fn reopen(spec: &FdSpec, pid: u32) -> Result<(i32, fs::File), String> {
    match spec {
        FdSpec::File { fd, path, flags, pos } => {
            let acc = flags & libc::O_ACCMODE;
            let mut o = fs::OpenOptions::new();
            o.read(acc != libc::O_WRONLY).write(acc != libc::O_RDONLY);
            // A writer on the home node may have created the file: create it here too. Keep
            // append mode, and the other status flags except creation ones.
            if acc != libc::O_RDONLY {
                o.create(true);
            }
            o.custom_flags(flags & (libc::O_APPEND | libc::O_NONBLOCK | libc::O_SYNC | libc::O_DSYNC));
            let f = o.open(path).map_err(|e| format!("cannot open {path} for descriptor {fd}: {e}"))?;
            if flags & libc::O_APPEND == 0 {
                use std::io::Seek;
                let mut f2 = &f;
                f2.seek(std::io::SeekFrom::Start(*pos)).map_err(|e| format!("{path}: seek: {e}"))?;
            }
            Ok((*fd, f))
        }
        FdSpec::Detached { fd, .. } => {
            if *fd == 0 {
                let f = fs::File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
                return Ok((*fd, f));
            }
            fs::create_dir_all("/var/log/migr").map_err(|e| format!("/var/log/migr: {e}"))?;
            let path = format!("/var/log/migr/{pid}.out");
            let f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("{path}: {e}"))?;
            Ok((*fd, f))
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

    #[test]
    fn a_regular_file_reopens_at_its_position() {
        let dir = std::env::temp_dir().join(format!("migr-fd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        let spec = FdSpec::File { fd: 5, path: p.to_string_lossy().into(), flags: libc::O_RDONLY, pos: 4 };
        let (fd, f) = reopen(&spec, 1).unwrap();
        assert_eq!(fd, 5);
        let mut s = String::new();
        use std::io::Read;
        (&f).read_to_string(&mut s).unwrap();
        assert_eq!(s, "456789");
        let missing = FdSpec::File { fd: 6, path: "/nonexistent/x".into(), flags: libc::O_RDONLY, pos: 0 };
        assert!(reopen(&missing, 1).unwrap_err().contains("/nonexistent/x"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
