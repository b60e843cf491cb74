//! A regular file of the home served through the deputy, at any offset (issue 14): a file
//! the process reads or writes at an offset and that the target does not have as it is
//! (written at an offset; read-only but not the same by size and SHA-256) is not reopened
//! there. Both sides are here, as CRIU keeps dump and restore of one kind side by side.
//!
//! - Target: the process's descriptor is a stand-in, an `O_PATH` descriptor of an empty
//!   memfd named after the file (so that whatever is not taken off it fails, EBADF, instead
//!   of acting on something else), and the process's home-call filter (`migrate::home_calls`)
//!   takes every call that names that descriptor number. The supervisor checks that the
//!   number still names the stand-in (kcmp: the process may have closed it and opened
//!   another file there, which then runs as it is) and makes the call on the home with the
//!   deputy's own descriptor of the file (`Request::HomeFile`): read, write, pread, pwrite,
//!   readv, writev, lseek, fstat (and fstatat/statx of the descriptor itself), fsync,
//!   fdatasync, ftruncate, fcntl's status flags and record locks, flock. The deputy's
//!   descriptor is the process's own open file (pidfd_getfd), so the offset, the status flags
//!   and flock locks are those the process would have at home. Record locks (F_SETLK...) are
//!   taken as open-file-description locks (F_OFD_*: the home daemon is not the process, so
//!   process-owned locks would be the daemon's); a blocking one is tried until granted. Anything else on such a descriptor (mmap,
//!   dup, sendfile, ioctl, ...) fails with ENOSYS (mmap: ENODEV) and is logged, never done on
//!   the stand-in.
//! - Home: `answer` does the operation on the deputy's descriptor, for the node that holds
//!   the copy only.
//! - Moving on: the descriptor travels as `FdSpec::Home` (the home still has the file), and
//!   coming home the process takes its deputy's descriptor back at the offset it is at.

use std::fs;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use log::{info, warn};

use super::{FdError, FdKind, OpenFd};
use crate::node::Node;
use crate::peer::proto::{FdSpec, FileOp, Identity, Response};

/// Most bytes one request carries.
pub const CHUNK: usize = 1 << 20;

/// A descriptor of the process served through its home, on the target.
pub struct HomeFd {
    pub fd: i32,
    pub path: String,
    pub flags: i32,
    /// The daemon's own reference to the stand-in (the same open file as the process's).
    pub ours: OwnedFd,
}

/// Target: a stand-in for `path`: (the process's descriptor, the daemon's).
pub fn stand_in(path: &str) -> std::io::Result<(OwnedFd, OwnedFd)> {
    let name: String = format!("migr-home:{path}").chars().take(200).collect();
    let name = std::ffi::CString::new(name.replace('\0', "?")).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: memfd_create with a NUL-terminated name; the result is a new descriptor.
    let m = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if m < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: just created.
    let m = unsafe { OwnedFd::from_raw_fd(m) };
    let proc_path = std::ffi::CString::new(format!("/proc/self/fd/{}", m.as_raw_fd())).unwrap_or_default();
    // SAFETY: open with a NUL-terminated path.
    let p = unsafe { libc::open(proc_path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if p < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: just created.
    let p = unsafe { OwnedFd::from_raw_fd(p) };
    let ours = p.try_clone()?;
    Ok((p, ours))
}

/// What the supervisor answers for one call on a home descriptor.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Value(i64),
    Errno(i32),
}

/// Which arguments of system call `nr` are descriptors the filter checks (`home_calls`).
pub fn fd_args(nr: i64) -> &'static [usize] {
    match nr {
        libc::SYS_mmap => &[4],
        libc::SYS_sendfile | libc::SYS_tee => &[0, 1],
        libc::SYS_splice | libc::SYS_copy_file_range => &[0, 2],
        _ => &[0],
    }
}

/// The calls taking a descriptor as their first argument that the filter looks at for home
/// descriptors (the rest of the list in `fd_args`).
pub const FD_CALLS: [libc::c_long; 41] = [
    libc::SYS_close,
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_preadv,
    libc::SYS_pwritev,
    libc::SYS_preadv2,
    libc::SYS_pwritev2,
    libc::SYS_lseek,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_ftruncate,
    libc::SYS_fcntl,
    libc::SYS_flock,
    libc::SYS_dup,
    libc::SYS_dup2,
    libc::SYS_dup3,
    libc::SYS_fallocate,
    libc::SYS_fadvise64,
    libc::SYS_readahead,
    libc::SYS_sync_file_range,
    libc::SYS_fchmod,
    libc::SYS_fchown,
    libc::SYS_fstatfs,
    libc::SYS_getdents64,
    libc::SYS_ioctl,
    libc::SYS_fgetxattr,
    libc::SYS_fsetxattr,
    libc::SYS_flistxattr,
    libc::SYS_fremovexattr,
    libc::SYS_sendfile,
    libc::SYS_splice,
    libc::SYS_copy_file_range,
    libc::SYS_tee,
    libc::SYS_syncfs,
];

/// Whether descriptor `fd` of task `tid` is still the stand-in `ours` is a reference to.
fn is_stand_in(tid: u32, fd: i32, ours: &OwnedFd) -> bool {
    const KCMP_FILE: libc::c_int = 0;
    // SAFETY: kcmp with plain integers.
    unsafe { libc::syscall(libc::SYS_kcmp, std::process::id() as libc::c_int, tid as libc::c_int, KCMP_FILE, ours.as_raw_fd(), fd) == 0 }
}

/// The task's memory, read and written as the kernel would for the call.
pub struct TaskMem {
    pub tid: u32,
}

impl TaskMem {
    /// The NUL-terminated string at `addr` (at most `max` bytes; EFAULT, ENAMETOOLONG).
    pub fn string(&self, addr: u64, max: usize) -> Result<Vec<u8>, i32> {
        let mut out = Vec::new();
        let mut at = addr;
        while out.len() < max {
            // Up to the end of the page: the next one may not be mapped.
            let len = (4096 - (at % 4096) as usize).min(max - out.len());
            let chunk = self.read(at, len)?;
            if let Some(end) = chunk.iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..end]);
                return Ok(out);
            }
            out.extend_from_slice(&chunk);
            at += len as u64;
        }
        Err(libc::ENAMETOOLONG)
    }

    pub fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, i32> {
        use nix::sys::uio::{process_vm_readv, RemoteIoVec};
        let mut buf = vec![0u8; len];
        if len == 0 {
            return Ok(buf);
        }
        let n = process_vm_readv(
            nix::unistd::Pid::from_raw(self.tid as i32),
            &mut [std::io::IoSliceMut::new(&mut buf)],
            &[RemoteIoVec { base: addr as usize, len }],
        )
        .map_err(|_| libc::EFAULT)?;
        if n != len {
            return Err(libc::EFAULT);
        }
        Ok(buf)
    }

    fn write(&self, addr: u64, data: &[u8]) -> Result<(), i32> {
        use nix::sys::uio::{process_vm_writev, RemoteIoVec};
        if data.is_empty() {
            return Ok(());
        }
        let n = process_vm_writev(
            nix::unistd::Pid::from_raw(self.tid as i32),
            &[std::io::IoSlice::new(data)],
            &[RemoteIoVec { base: addr as usize, len: data.len() }],
        )
        .map_err(|_| libc::EFAULT)?;
        if n != data.len() {
            return Err(libc::EFAULT);
        }
        Ok(())
    }

    /// The iovec array at `addr` (`count` entries).
    fn iovecs(&self, addr: u64, count: u64) -> Result<Vec<(u64, u64)>, i32> {
        if count > 1024 {
            return Err(libc::EINVAL);
        }
        let raw = self.read(addr, count as usize * 16)?;
        Ok(raw
            .chunks(16)
            .map(|c| (u64::from_ne_bytes(c[..8].try_into().unwrap_or_default()), u64::from_ne_bytes(c[8..].try_into().unwrap_or_default())))
            .collect())
    }
}

/// One operation on the home, through the supervisor's connection: (result, bytes).
pub type Ask<'a> = &'a mut dyn FnMut(i32, FileOp) -> Result<(i64, Vec<u8>), i32>;

/// Target: the call `nr(args)` of task `tid`, if it names one of `homes` that is still its
/// stand-in: what it returns, made on the home. None: it names none (it runs as it is).
pub fn serve(copy: u32, tid: u32, nr: i64, args: &[u64; 6], homes: &[HomeFd], ask: Ask<'_>) -> Option<Outcome> {
    // The descriptor's own flag (close-on-exec) is the stand-in's, here.
    if nr == libc::SYS_fcntl && matches!(args[1] as i32, libc::F_GETFD | libc::F_SETFD) {
        return None;
    }
    let h = fd_args(nr).iter().find_map(|&i| {
        let fd = args[i] as i32;
        homes.iter().find(|h| h.fd == fd && is_stand_in(tid, fd, &h.ours))
    })?;
    let mem = TaskMem { tid };
    let fd = h.fd;
    if nr == libc::SYS_close {
        // Closing its last descriptor releases the locks of an open file description; the
        // deputy's stays open at home, so its locks are released now. Then the stand-in
        // closes as it is.
        if let Err(e) = ask(fd, FileOp::Unlock) {
            warn!("pid {copy}: releasing the locks of descriptor {fd} ({}) at home: errno {e}", h.path);
        }
        return None;
    }
    let r = match nr {
        libc::SYS_read => read(&mem, args[1], args[2], None, fd, ask),
        libc::SYS_pread64 => read(&mem, args[1], args[2], Some(args[3] as i64), fd, ask),
        libc::SYS_write => write(&mem, args[1], args[2], None, fd, ask),
        libc::SYS_pwrite64 => write(&mem, args[1], args[2], Some(args[3] as i64), fd, ask),
        libc::SYS_readv | libc::SYS_writev => vectored(&mem, nr == libc::SYS_readv, args[1], args[2], fd, ask),
        libc::SYS_lseek => ask(fd, FileOp::Lseek { off: args[1] as i64, whence: args[2] as i32 }).map(|r| r.0),
        libc::SYS_fstat => stat(&mem, args[1], fd, FileOp::Fstat, ask),
        libc::SYS_newfstatat | libc::SYS_statx => {
            let flags = if nr == libc::SYS_statx { args[2] } else { args[3] } as i32;
            // Only the descriptor itself (AT_EMPTY_PATH, ""): a path relative to it fails as
            // it would at home (a regular file is not a directory: ENOTDIR).
            let empty = mem.read(args[1], 1).is_ok_and(|b| b[0] == 0);
            if flags & libc::AT_EMPTY_PATH == 0 || !empty {
                return Some(Outcome::Errno(libc::ENOTDIR));
            }
            if nr == libc::SYS_statx {
                stat(&mem, args[4], fd, FileOp::Statx { flags, mask: args[3] as u32 }, ask)
            } else {
                stat(&mem, args[2], fd, FileOp::Fstat, ask)
            }
        }
        libc::SYS_fsync => ask(fd, FileOp::Fsync).map(|r| r.0),
        libc::SYS_fdatasync => ask(fd, FileOp::Fdatasync).map(|r| r.0),
        libc::SYS_ftruncate => ask(fd, FileOp::Ftruncate { len: args[1] as i64 }).map(|r| r.0),
        libc::SYS_flock => {
            let op = args[1] as i32;
            if op & libc::LOCK_NB != 0 || op & libc::LOCK_UN != 0 {
                ask(fd, FileOp::Flock { op }).map(|r| r.0)
            } else {
                until_granted(tid, || ask(fd, FileOp::Flock { op: op | libc::LOCK_NB }).map(|r| r.0), libc::EWOULDBLOCK)
            }
        }
        libc::SYS_fcntl => fcntl(&mem, args[1] as i32, args[2], fd, ask),
        libc::SYS_mmap => {
            warn!("pid {copy}: mmap of descriptor {fd} ({}), a file of its home: refused (ENODEV)", h.path);
            Err(libc::ENODEV)
        }
        _ => {
            warn!("pid {copy}: system call {nr} on descriptor {fd} ({}), a file of its home: not served, ENOSYS", h.path);
            Err(libc::ENOSYS)
        }
    };
    Some(match r {
        Ok(v) => Outcome::Value(v),
        Err(e) => Outcome::Errno(e),
    })
}

fn read(mem: &TaskMem, buf: u64, count: u64, off: Option<i64>, fd: i32, ask: Ask<'_>) -> Result<i64, i32> {
    let mut done = 0u64;
    while done < count {
        let len = (count - done).min(CHUNK as u64) as u32;
        let op = match off {
            Some(o) => FileOp::Pread { len, off: o + done as i64 },
            None => FileOp::Read { len },
        };
        let data = match ask(fd, op) {
            Ok((_, d)) => d,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        mem.write(buf + done, &data)?;
        done += data.len() as u64;
        if data.len() < len as usize {
            break;
        }
    }
    Ok(done as i64)
}

fn write(mem: &TaskMem, buf: u64, count: u64, off: Option<i64>, fd: i32, ask: Ask<'_>) -> Result<i64, i32> {
    let mut done = 0u64;
    while done < count {
        let len = (count - done).min(CHUNK as u64) as usize;
        let data = serde_bytes::ByteBuf::from(mem.read(buf + done, len)?);
        let op = match off {
            Some(o) => FileOp::Pwrite { data, off: o + done as i64 },
            None => FileOp::Write { data },
        };
        let n = match ask(fd, op) {
            Ok((n, _)) => n as u64,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += n;
        if n < len as u64 {
            break;
        }
    }
    Ok(done as i64)
}

fn vectored(mem: &TaskMem, reading: bool, iov: u64, count: u64, fd: i32, ask: Ask<'_>) -> Result<i64, i32> {
    let mut total = 0i64;
    for (base, len) in mem.iovecs(iov, count)? {
        let r = if reading { read(mem, base, len, None, fd, ask) } else { write(mem, base, len, None, fd, ask) };
        match r {
            Ok(n) => {
                total += n;
                if (n as u64) < len {
                    break;
                }
            }
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(total)
}

/// A blocking lock: tried without blocking until it is granted (`busy`: the errno that says
/// another holds it), as long as the task waits, so that neither the home's thread nor the
/// connection is held by a wait of unbounded length.
fn until_granted(tid: u32, mut try_once: impl FnMut() -> Result<i64, i32>, busy: i32) -> Result<i64, i32> {
    loop {
        match try_once() {
            Err(e) if e == busy || e == libc::EACCES => {
                if !std::path::Path::new(&format!("/proc/{tid}")).exists() {
                    return Err(libc::EINTR);
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            r => return r,
        }
    }
}

fn stat(mem: &TaskMem, buf: u64, fd: i32, op: FileOp, ask: Ask<'_>) -> Result<i64, i32> {
    let (r, data) = ask(fd, op)?;
    mem.write(buf, &data)?;
    Ok(r)
}

fn fcntl(mem: &TaskMem, cmd: i32, arg: u64, fd: i32, ask: Ask<'_>) -> Result<i64, i32> {
    const FLOCK: usize = std::mem::size_of::<libc::flock>();
    match cmd {
        libc::F_GETFL => ask(fd, FileOp::GetFlags).map(|r| r.0),
        libc::F_SETFL => ask(fd, FileOp::SetFlags { flags: arg as i32 }).map(|r| r.0),
        libc::F_GETLK | libc::F_SETLK | libc::F_SETLKW | libc::F_OFD_GETLK | libc::F_OFD_SETLK | libc::F_OFD_SETLKW => {
            let mut flock = mem.read(arg, FLOCK)?;
            let ofd = match cmd {
                libc::F_GETLK | libc::F_OFD_GETLK => libc::F_OFD_GETLK,
                libc::F_SETLK | libc::F_OFD_SETLK => libc::F_OFD_SETLK,
                _ => libc::F_OFD_SETLKW,
            };
            // An open file description's lock names no process (l_pid 0).
            let pid_at = std::mem::offset_of!(libc::flock, l_pid);
            flock[pid_at..pid_at + 4].copy_from_slice(&0i32.to_ne_bytes());
            if ofd == libc::F_OFD_SETLKW {
                let tid = mem.tid;
                return until_granted(tid, || ask(fd, FileOp::Lock { cmd: libc::F_OFD_SETLK, flock: flock.clone() }).map(|r| r.0), libc::EAGAIN);
            }
            let (r, back) = ask(fd, FileOp::Lock { cmd: ofd, flock })?;
            if ofd == libc::F_OFD_GETLK {
                mem.write(arg, &back)?;
            }
            Ok(r)
        }
        _ => {
            warn!("fcntl {cmd} on descriptor {fd}, a file of its home: not served, ENOSYS");
            Err(libc::ENOSYS)
        }
    }
}

/// Home: `HomeFile` from the node that holds the copy of `pid`: `op` on the deputy's
/// descriptor `fd`.
pub fn answer(node: &Node, pid: u32, fd: i32, op: FileOp, peer_ip: IpAddr, peer: &str) -> Response {
    if !crate::migrate::home_calls::from_holder(node, pid, peer_ip) {
        warn!("peer {peer} asks a file operation for pid {pid}: it does not hold that copy; refused");
        return Response::Error(format!("{}: the sender does not hold a copy of pid {pid}", crate::node::hostname()));
    }
    let f = match super::relay::deputy_fd(pid, fd) {
        Ok(f) => f,
        Err(e) => {
            warn!("pid {pid}: {e}");
            return Response::Errno(libc::EBADF);
        }
    };
    match operate(f.as_raw_fd(), op) {
        Ok((ret, data)) => Response::FileDone { ret, data: data.into() },
        Err(e) => Response::Errno(e),
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// `op` on `fd` (the deputy's open file, in this daemon): (result, bytes).
fn operate(fd: RawFd, op: FileOp) -> Result<(i64, Vec<u8>), i32> {
    let ret = |r: i64| if r < 0 { Err(errno()) } else { Ok((r, Vec::new())) };
    // SAFETY (every call below): system calls on our descriptor with buffers we own, each
    // of the size the call writes or reads.
    unsafe {
        match op {
            FileOp::Read { len } | FileOp::Pread { len, .. } if len as usize > CHUNK => Err(libc::EINVAL),
            FileOp::Read { len } => {
                let mut b = vec![0u8; len as usize];
                let n = libc::read(fd, b.as_mut_ptr().cast(), b.len());
                if n < 0 {
                    return Err(errno());
                }
                b.truncate(n as usize);
                Ok((n as i64, b))
            }
            FileOp::Pread { len, off } => {
                let mut b = vec![0u8; len as usize];
                let n = libc::pread(fd, b.as_mut_ptr().cast(), b.len(), off);
                if n < 0 {
                    return Err(errno());
                }
                b.truncate(n as usize);
                Ok((n as i64, b))
            }
            FileOp::Write { data } => ret(libc::write(fd, data.as_ptr().cast(), data.len()) as i64),
            FileOp::Pwrite { data, off } => ret(libc::pwrite(fd, data.as_ptr().cast(), data.len(), off) as i64),
            FileOp::Lseek { off, whence } => ret(libc::lseek(fd, off, whence)),
            FileOp::Fstat => {
                let mut st: libc::stat = std::mem::zeroed();
                if libc::fstat(fd, &mut st) < 0 {
                    return Err(errno());
                }
                let b = std::slice::from_raw_parts((&st as *const libc::stat).cast::<u8>(), std::mem::size_of::<libc::stat>());
                Ok((0, b.to_vec()))
            }
            FileOp::Statx { flags, mask } => {
                let mut st: libc::statx = std::mem::zeroed();
                if libc::statx(fd, c"".as_ptr(), flags | libc::AT_EMPTY_PATH, mask, &mut st) < 0 {
                    return Err(errno());
                }
                let b = std::slice::from_raw_parts((&st as *const libc::statx).cast::<u8>(), std::mem::size_of::<libc::statx>());
                Ok((0, b.to_vec()))
            }
            FileOp::Fsync => ret(libc::fsync(fd) as i64),
            FileOp::Fdatasync => ret(libc::fdatasync(fd) as i64),
            FileOp::Ftruncate { len } => ret(libc::ftruncate(fd, len) as i64),
            FileOp::GetFlags => ret(libc::fcntl(fd, libc::F_GETFL) as i64),
            FileOp::SetFlags { flags } => ret(libc::fcntl(fd, libc::F_SETFL, flags) as i64),
            FileOp::Lock { cmd, mut flock } => {
                if flock.len() != std::mem::size_of::<libc::flock>()
                    || ![libc::F_OFD_GETLK, libc::F_OFD_SETLK, libc::F_OFD_SETLKW].contains(&cmd)
                {
                    return Err(libc::EINVAL);
                }
                let r = libc::fcntl(fd, cmd, flock.as_mut_ptr());
                if r < 0 {
                    return Err(errno());
                }
                Ok((r as i64, flock))
            }
            FileOp::Flock { op } => ret(libc::flock(fd, op) as i64),
            FileOp::Unlock => {
                let mut all: libc::flock = std::mem::zeroed();
                all.l_type = libc::F_UNLCK as i16;
                all.l_whence = libc::SEEK_SET as i16;
                libc::fcntl(fd, libc::F_OFD_SETLK, &mut all);
                ret(libc::flock(fd, libc::LOCK_UN) as i64)
            }
        }
    }
}

/// The kind of a home descriptor when its process moves on: described from the supervisor's
/// record (the descriptor itself is only the stand-in).
pub struct HomeServed;

impl FdKind for HomeServed {
    fn name(&self) -> &'static str {
        "file of its home"
    }

    fn dump(&self, d: &OpenFd) -> Option<FdSpec> {
        let (path, flags) = crate::migrate::home_calls::home_fd_of(d.pid, d.fd)?;
        info!("pid {}: descriptor {} ({path}) stays its home's", d.pid, d.fd);
        Some(FdSpec::Home { fd: d.fd, path, flags })
    }

    fn owns(&self, spec: &FdSpec) -> bool {
        matches!(spec, FdSpec::Home { .. })
    }

    fn restore(&self, spec: &FdSpec, _pid: u32, _who: &Identity) -> Result<fs::File, FdError> {
        // Only a deputy serves it (`migrate::target` makes its stand-in).
        let FdSpec::Home { fd, path, .. } = spec else { unreachable!("dispatched by owns()") };
        Err(FdError::Io {
            path: path.clone(),
            source: std::io::Error::other(format!("descriptor {fd} is a file of its home, served only through its deputy")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_on_a_descriptor_are_the_files() {
        let dir = crate::ScratchDir::new("homefile");
        let p = dir.file("db", b"0123456789");
        let f = std::fs::OpenOptions::new().read(true).write(true).open(&p).unwrap();
        let fd = f.as_raw_fd();
        assert_eq!(operate(fd, FileOp::Pread { len: 4, off: 3 }).unwrap(), (4, b"3456".to_vec()));
        assert_eq!(operate(fd, FileOp::Pwrite { data: b"ab".to_vec().into(), off: 8 }).unwrap().0, 2);
        assert_eq!(operate(fd, FileOp::Lseek { off: 0, whence: libc::SEEK_END }).unwrap().0, 10);
        let (_, st) = operate(fd, FileOp::Fstat).unwrap();
        assert_eq!(st.len(), std::mem::size_of::<libc::stat>());
        assert_eq!(operate(fd, FileOp::Ftruncate { len: 9 }).unwrap().0, 0);
        assert_eq!(std::fs::read(&p).unwrap(), b"01234567a");
        assert_eq!(operate(fd, FileOp::Read { len: (CHUNK + 1) as u32 }), Err(libc::EINVAL));
        let mut lock = vec![0u8; std::mem::size_of::<libc::flock>()];
        lock[..2].copy_from_slice(&(libc::F_WRLCK as i16).to_ne_bytes());
        assert_eq!(operate(fd, FileOp::Lock { cmd: libc::F_OFD_SETLK, flock: lock.clone() }).unwrap().0, 0);
        assert_eq!(operate(fd, FileOp::Lock { cmd: libc::F_SETLK, flock: lock }), Err(libc::EINVAL));
    }

    #[test]
    fn a_task_string_is_read_up_to_its_nul_across_pages() {
        let mem = TaskMem { tid: std::process::id() };
        // A string that starts 5 bytes before a page boundary.
        let mut buf = vec![0u8; 3 * 4096];
        let start = 4096 - (buf.as_ptr() as usize % 4096) + 4096 - 5;
        buf[start..start + 8].copy_from_slice(b"/dev/tty");
        let at = buf.as_ptr() as u64 + start as u64;
        assert_eq!(mem.string(at, 16).unwrap(), b"/dev/tty");
        assert_eq!(mem.string(at, 4), Err(libc::ENAMETOOLONG));
        assert_eq!(mem.string(8, 16), Err(libc::EFAULT));
    }

    #[test]
    fn a_stand_in_is_recognised_until_replaced() {
        let (theirs, ours) = stand_in("/home/u/db").unwrap();
        let me = std::process::id();
        assert!(is_stand_in(me, theirs.as_raw_fd(), &ours));
        let other = std::fs::File::open("/proc/self/status").unwrap();
        assert!(!is_stand_in(me, other.as_raw_fd(), &ours));
        let link = std::fs::read_link(format!("/proc/self/fd/{}", theirs.as_raw_fd())).unwrap();
        assert!(link.to_string_lossy().contains("migr-home:/home/u/db"), "{link:?}");
    }
}
