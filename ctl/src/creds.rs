//! Acting for a user: the daemon runs as root, but what a migrated process will hold must be
//! opened as that process would open it. Linux keeps credentials per thread, so a short-lived
//! thread takes the user's filesystem identity (supplementary groups, fsgid, fsuid: raw
//! syscalls, which change only the calling thread; glibc's setgroups would change every
//! thread of the daemon) and does the work there. Once fsuid is not 0 the kernel drops the
//! filesystem capabilities (CAP_DAC_OVERRIDE, CAP_FOWNER...) from that thread's effective
//! set, so every permission check, symlink protection and file creation is the user's.

use crate::peer::proto::Identity;

#[derive(Debug, thiserror::Error)]
pub enum CredsError {
    #[error("cannot take the credentials of uid {uid} gid {gid}: {source}")]
    Switch { uid: u32, gid: u32, source: std::io::Error },
    #[error("the thread acting for uid {0} panicked")]
    Panicked(u32),
}

/// Run `f` in a thread with the filesystem credentials `who` acts with (effective uid and
/// gid, supplementary groups); its result, or why the thread could not take them.
pub fn as_user<T: Send>(who: &Identity, f: impl FnOnce() -> T + Send) -> Result<T, CredsError> {
    let (uid, gid) = (who.uid[1], who.gid[1]);
    std::thread::scope(|s| {
        s.spawn(|| {
            switch(uid, gid, &who.groups).map_err(|source| CredsError::Switch { uid, gid, source })?;
            Ok(f())
        })
        .join()
        .map_err(|_| CredsError::Panicked(uid))?
    })
}

/// This thread only: groups, then fsgid, then fsuid (while still privileged to set them).
fn switch(uid: u32, gid: u32, groups: &[u32]) -> std::io::Result<()> {
    let groups: Vec<libc::gid_t> = groups.iter().map(|&g| g as libc::gid_t).collect();
    // SAFETY: the raw setgroups syscall reads `groups.len()` ids from the vector.
    if unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // setfsuid/setfsgid return the previous value and never fail visibly: ask again (-1 is
    // never valid, so it only reads) to see the change took.
    // SAFETY: plain syscalls on this thread's credentials.
    unsafe {
        libc::setfsgid(gid);
        libc::setfsuid(uid);
        if libc::setfsgid(u32::MAX) as u32 != gid || libc::setfsuid(u32::MAX) as u32 != uid {
            return Err(std::io::Error::from_raw_os_error(libc::EPERM));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nobody() -> Identity {
        Identity { uid: [65534; 3], gid: [65534; 3], groups: vec![], cwd: "/".into(), rlimits: vec![] }
    }

    #[test]
    fn a_user_cannot_open_what_only_root_reads() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return; // needs root to switch
        }
        let dir = crate::ScratchDir::new("creds");
        let secret = dir.file("secret", b"x");
        std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        assert!(std::fs::File::open(&secret).is_ok(), "root reads it");
        let r = as_user(&nobody(), || std::fs::File::open(&secret).map(|_| ())).unwrap();
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::PermissionDenied);
        // The daemon's other threads keep root's credentials.
        assert!(std::fs::File::open(&secret).is_ok());
    }
}
