//! The local control socket between `migctl migrate|ps` and this node's daemon.
//!
//! Who may migrate what: the caller proves it could ptrace the task by opening
//! /proc/PID/mem itself (the kernel applies the ptrace access check, Yama included, at
//! open) and passing the descriptor with SCM_RIGHTS. The daemon checks that the descriptor
//! really is that file and reads the task's memory through it.

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use crate::migrate::table::Record;

pub const SOCKET_PATH: &str = "/run/migr/migctl.sock";

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum LocalRequest {
    Migrate { pid: u32, to: String, timeout_ms: u32, mode: crate::peer::proto::Mode, deputy: Option<bool> },
    Ps,
    /// Drop the records of migrations that have ended (root only), then list the rest.
    Forget,
    Stats { id: Option<u64> },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    pub pid: u32,
    pub node: String,
    pub remote_pid: u32,
    pub bytes: u64,
    pub total_ms: u64,
    pub frozen_ms: u64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum LocalEvent {
    Progress { sent: u64, total: u64 },
    Done(Outcome),
    /// Lazy mode, after Done: the background push so far (bytes of the pages left at Done).
    Pushed { sent: u64, total: u64 },
    /// Lazy mode: every page is on the target; the source let the original go.
    Released { after_ms: u64 },
    /// Refused: nothing was attempted (the process was never frozen, or was thawed before
    /// any state left); failed: the migration failed and the process was thawed.
    Failed(crate::error::Failure),
    Table(Vec<Record>),
}

pub fn send<T: Serialize>(s: &mut UnixStream, msg: &T) -> std::io::Result<()> {
    let b = postcard::to_stdvec(msg).map_err(std::io::Error::other)?;
    s.write_all(&(b.len() as u32).to_be_bytes())?;
    s.write_all(&b)
}

/// The largest answer the daemon sends (a `ps` table).
pub const MAX_ANSWER: usize = 64 << 20;
/// The largest request the daemon reads from a local caller (they are a few bytes).
pub const MAX_REQUEST: usize = 64 << 10;

/// One message of at most `max` bytes.
pub fn recv<T: DeserializeOwned>(s: &mut UnixStream, max: usize) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(std::io::Error::other(format!("local message of {len} bytes (at most {max})")));
    }
    let mut b = vec![0u8; len];
    s.read_exact(&mut b)?;
    postcard::from_bytes(&b).map_err(std::io::Error::other)
}

/// Send one byte carrying `fd` (SCM_RIGHTS).
pub fn send_fd(s: &UnixStream, fd: RawFd) -> std::io::Result<()> {
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(s.as_raw_fd(), &[IoSlice::new(b"F")], &cmsg, MsgFlags::empty(), None)?;
    Ok(())
}

/// Receive the byte sent by `send_fd` and its descriptor, if any.
pub fn recv_fd(s: &UnixStream) -> std::io::Result<Option<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(s.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            let mut it = fds.into_iter();
            // SAFETY: the kernel just installed these descriptors in this process for us.
            let first = it.next().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
            for extra in it {
                // SAFETY: as above; extra descriptors are closed, not leaked.
                drop(unsafe { OwnedFd::from_raw_fd(extra) });
            }
            return Ok(first);
        }
    }
    Ok(None)
}

/// Is `fd` the /proc/PID/mem of `pid` (and not some other file named alike)?
pub fn is_proc_mem_of(fd: &OwnedFd, pid: u32) -> bool {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    let on_proc = nix::sys::statfs::fstatfs(fd)
        .map(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
        .unwrap_or(false);
    on_proc && link.map(|l| l == std::path::Path::new(&format!("/proc/{pid}/mem"))).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_proof_is_checked() {
        let me = std::process::id();
        let mem: OwnedFd = std::fs::File::open(format!("/proc/{me}/mem")).unwrap().into();
        assert!(is_proc_mem_of(&mem, me));
        assert!(!is_proc_mem_of(&mem, me + 1));
        let other: OwnedFd = std::fs::File::open("/proc/self/status").unwrap().into();
        assert!(!is_proc_mem_of(&other, me));
    }

    #[test]
    fn a_descriptor_crosses_the_socket() {
        let (a, b) = UnixStream::pair().unwrap();
        let f = std::fs::File::open("/proc/self/status").unwrap();
        send_fd(&a, f.as_raw_fd()).unwrap();
        assert!(recv_fd(&b).unwrap().is_some());
    }
}
