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

/// The LSM label of `pid` (/proc/PID/attr/current), None without an LSM that has one.
pub fn lsm_label(pid: &str) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/attr/current")).ok()?;
    let label = String::from_utf8_lossy(&raw).trim_end_matches(['\0', '\n']).to_string();
    (!label.is_empty()).then_some(label)
}

/// Why `pid`'s confinement by an LSM or a cgroup would not travel, if it would not. The
/// restored process gets what the target's daemon gives its children: the daemon's LSM label
/// (no policy transition on the stub) and the daemon's cgroup. So a label other than this
/// daemon's, or a cgroup with a limit (memory, pids, cpu, io) on the way from the root that
/// the daemon's cgroup does not share, is refused rather than dropped.
pub fn confinement_refusal(pid: u32) -> Option<String> {
    let (theirs, ours) = (lsm_label(&pid.to_string()), lsm_label("self"));
    if theirs != ours {
        return Some(format!(
            "its LSM label {} is not the one a restored process gets ({}): it would not travel",
            theirs.as_deref().unwrap_or("(none)"),
            ours.as_deref().unwrap_or("(none)")
        ));
    }
    let (theirs, ours) = (cgroup_of(&pid.to_string())?, cgroup_of("self")?);
    cgroup_limit(std::path::Path::new(CGROUP_ROOT), &theirs, &ours)
        .map(|limit| format!("its cgroup {theirs} is limited ({limit}): the limit would not travel"))
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The cgroup v2 path of `pid` ("0::/..." in /proc/PID/cgroup).
fn cgroup_of(pid: &str) -> Option<String> {
    let s = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    s.lines().find_map(|l| l.strip_prefix("0::")).map(str::to_string)
}

/// The first limit set on `path` or its ancestors (under `root`) that is not also on the way
/// to `ours`: "FILE = VALUE".
fn cgroup_limit(root: &std::path::Path, path: &str, ours: &str) -> Option<String> {
    const LIMITS: [&str; 5] = ["memory.max", "memory.high", "pids.max", "cpu.max", "io.max"];
    let mut at = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        at = format!("{at}/{part}");
        let shared = ours == at || ours.starts_with(&format!("{at}/"));
        if shared {
            continue;
        }
        for file in LIMITS {
            let value = fs::read_to_string(root.join(at.trim_start_matches('/')).join(file)).unwrap_or_default();
            let value = value.trim();
            let unlimited = value.is_empty() || value == "max" || value.starts_with("max ");
            if !unlimited {
                return Some(format!("{at}/{file} = {value}"));
            }
        }
    }
    None
}

#[cfg(test)]
mod confinement_tests {
    use super::*;

    #[test]
    fn a_limit_on_the_way_to_the_process_is_named_unless_the_daemon_shares_it() {
        let dir = crate::ScratchDir::new("cgroup");
        std::fs::create_dir_all(dir.0.join("user.slice/user-1000.slice/app")).unwrap();
        std::fs::write(dir.0.join("user.slice/memory.max"), "max\n").unwrap();
        std::fs::write(dir.0.join("user.slice/user-1000.slice/pids.max"), "max\n").unwrap();
        assert_eq!(cgroup_limit(&dir.0, "/user.slice/user-1000.slice/app", "/system.slice/migr.service"), None);
        std::fs::write(dir.0.join("user.slice/user-1000.slice/app/memory.max"), "1048576\n").unwrap();
        assert_eq!(
            cgroup_limit(&dir.0, "/user.slice/user-1000.slice/app", "/system.slice/migr.service").as_deref(),
            Some("/user.slice/user-1000.slice/app/memory.max = 1048576")
        );
        // The daemon under the same limit: the restored process is too.
        assert_eq!(cgroup_limit(&dir.0, "/user.slice/user-1000.slice/app", "/user.slice/user-1000.slice/app/d"), None);
        assert_eq!(cgroup_limit(&dir.0, "/", "/x"), None);
    }

    #[test]
    fn an_ordinary_process_is_confined_as_the_daemon_is() {
        // This test process and the "daemon" (itself) share label and cgroup.
        assert_eq!(confinement_refusal(std::process::id()), None);
    }
}

/// Who holds a pid on this node, for a refusal that names it ("pid 3137 is in use on this
/// node: by 'sleep' (state S, parent 201)"): a thread's id counts as well as a process's.
pub fn holder_of(pid: u32) -> String {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return String::new();
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let tgid = field("Tgid:");
    let thread = if tgid != pid.to_string() { format!(", a thread of {tgid}") } else { String::new() };
    format!(": by '{}' (state {}, parent {}{thread})", field("Name:"), field("State:"), field("PPid:"))
}
