//! Calls that name the home's processes, made by a process whose home keeps its deputy.
//!
//! Away from home the process keeps its pid (clone3 set_tid) but not its parent, process
//! group or session: those stay with its deputy. So a handful of system calls would answer
//! wrongly on the target or act on the wrong process there: `getppid` (the target's daemon),
//! `getpgrp`/`getpgid`/`getsid` (a group and session of the target's), `kill` of its parent or
//! its group (a process of the target with that number, or nobody). A seccomp filter with a
//! user-notification listener takes exactly those calls off the process (and off the children
//! it forks there, which inherit it); this node's daemon, the supervisor, answers them:
//!
//! - ids: the copy's parent, group and session are its deputy's on the home (asked there;
//!   the group and session of a deputy never change, so they are asked once); a child born
//!   here asks for its own parent here, and its group is the copy's as long as it did not
//!   leave it;
//! - signals: to the process itself or to anything it forked here: as they are, here; to
//!   another pid, or to its group (`kill(0)`, `kill(-home group)`), on the home, with the
//!   deputy's user, group and supplementary ids (`Request::HomeKill`): the deputy is in its
//!   group and hands its own signal on to the copy, as for any signal sent to it; members of
//!   the group born here get it here too;
//! - what the home cannot do for it is refused with ENOSYS and logged, never done on the
//!   wrong process: `kill(-1)`, and thread-directed or queued signals (`tkill`, `tgkill`,
//!   `rt_sigqueueinfo`, `rt_tgsigqueueinfo`) and `pidfd_open` to a pid not born here;
//!   `setsid`/`setpgid` of the copy itself fail with EPERM (its deputy holds its session
//!   and group).
//!
//! The signal a home process receives this way says (siginfo) it comes from the user's
//! uid but from the home daemon's pid, as signals forwarded the other way do.
//!
//! The filter is installed by the stub's parent side while still root (no `no_new_privs`),
//! before it execs the stub; the module's confinement check accepts it on a later move
//! because the daemon shows it the listener (`listener_for`). The shape carries any system
//! call, so file operations of a moved process can take the same road later.

use std::collections::HashMap;
use std::net::{IpAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use log::{info, warn};

use crate::node::Node;
use crate::peer::channel::Channel;
use crate::peer::ping::resolve;
use crate::peer::proto::{Identity, Request, Response};

/// A connection to the home idle this long is closed (the home closes it after the peer
/// timeout, 60 s).
const IDLE: Duration = Duration::from_secs(20);
/// Most descriptors served through the home (the filter's jumps must stay short).
pub const MAX_HOME_FDS: usize = 64;
/// The bit that marks an x32 system call number.
const X32_BIT: u32 = 0x4000_0000;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// The calls taken off the process.
const CALLS: [libc::c_long; 12] = [
    libc::SYS_getppid,
    libc::SYS_getpgrp,
    libc::SYS_getpgid,
    libc::SYS_getsid,
    libc::SYS_setpgid,
    libc::SYS_setsid,
    libc::SYS_kill,
    libc::SYS_tkill,
    libc::SYS_tgkill,
    libc::SYS_rt_sigqueueinfo,
    libc::SYS_rt_tgsigqueueinfo,
    libc::SYS_pidfd_open,
];

/// The opens, taken when the process has a stand-in terminal: its `/dev/tty` is that one.
const OPENS: [libc::c_long; 3] = [libc::SYS_open, libc::SYS_openat, libc::SYS_openat2];

/// The filter, built before the stub's clone: its child only makes system calls with it.
pub struct PreparedFilter {
    _program: Box<[libc::sock_filter]>,
    fprog: libc::sock_fprog,
}

// SAFETY: `fprog` points into `_program`, which it owns and never changes.
unsafe impl Send for PreparedFilter {}

fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter { code: code as u16, jt: 0, jf: 0, k }
}

fn jump_if_equal(k: u32, jt: u8) -> libc::sock_filter {
    libc::sock_filter { code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16, jt, jf: 0, k }
}

/// A jump of the filter being built, to a label resolved at the end.
enum Insn {
    Plain(libc::sock_filter),
    /// Jump to the label if the accumulator equals `k`, else go on.
    IfEqual(u32, Label),
    Label(Label),
}

#[derive(Clone, Copy, PartialEq)]
enum Label {
    X86_64,
    Notify,
    /// The descriptor checks of argument N (its low 32 bits: a descriptor is an int).
    FdArg(usize),
}

/// The filter: every call in CALLS; a call of `home_file::FD_CALLS` (or mmap) whose
/// descriptor argument is one of `home_fds`; sendfile, splice, copy_file_range and tee when
/// any of their descriptors is (checked in the supervisor).
fn program(home_fds: &[i32], take_opens: bool) -> Vec<libc::sock_filter> {
    let ld = |off: u32| Insn::Plain(stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, off));
    let ret = |v: u32| Insn::Plain(stmt(libc::BPF_RET | libc::BPF_K, v));
    // seccomp_data: nr at 0, arch at 4, args from 16 (8 bytes each, little-endian).
    let mut p = vec![
        ld(4),
        Insn::IfEqual(AUDIT_ARCH_X86_64, Label::X86_64),
        ret(libc::SECCOMP_RET_ALLOW),
        Insn::Label(Label::X86_64),
        ld(0),
        Insn::Plain(stmt(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, !X32_BIT)),
    ];
    for nr in CALLS {
        p.push(Insn::IfEqual(nr as u32, Label::Notify));
    }
    if take_opens {
        for nr in OPENS {
            p.push(Insn::IfEqual(nr as u32, Label::Notify));
        }
    }
    if !home_fds.is_empty() {
        for nr in crate::fd::home_file::FD_CALLS.iter().chain(&[libc::SYS_mmap]) {
            let args = crate::fd::home_file::fd_args(*nr);
            let to = if args.len() > 1 { Label::Notify } else { Label::FdArg(args[0]) };
            p.push(Insn::IfEqual(*nr as u32, to));
        }
    }
    p.push(ret(libc::SECCOMP_RET_ALLOW));
    for arg in [0usize, 4] {
        if home_fds.is_empty() {
            break;
        }
        p.push(Insn::Label(Label::FdArg(arg)));
        p.push(ld(16 + 8 * arg as u32));
        for fd in home_fds {
            p.push(Insn::IfEqual(*fd as u32, Label::Notify));
        }
        p.push(ret(libc::SECCOMP_RET_ALLOW));
    }
    p.push(Insn::Label(Label::Notify));
    p.push(ret(libc::SECCOMP_RET_USER_NOTIF));
    // Resolve: a label's position counts instructions only.
    let mut at = Vec::new();
    let mut n = 0usize;
    for i in &p {
        match i {
            Insn::Label(l) => at.push((*l, n)),
            _ => n += 1,
        }
    }
    let mut out = Vec::new();
    for i in &p {
        match i {
            Insn::Plain(f) => out.push(*f),
            Insn::IfEqual(k, l) => {
                // Every label is defined after its jumps, within 255 instructions (at most
                // MAX_HOME_FDS descriptors: checked by `new`'s caller and a test).
                let target = at.iter().find(|(x, _)| x == l).map_or(out.len() + 1, |(_, pos)| *pos);
                out.push(jump_if_equal(*k, target.saturating_sub(out.len() + 1) as u8));
            }
            Insn::Label(_) => {}
        }
    }
    out
}

impl PreparedFilter {
    /// `home_fds`: the process's descriptors served through its home (`fd::home_file`).
    /// `take_opens`: its opens are looked at (it has a stand-in terminal: `/dev/tty`).
    pub fn new(home_fds: &[i32], take_opens: bool) -> Self {
        let mut program = program(home_fds, take_opens).into_boxed_slice();
        let fprog = libc::sock_fprog { len: program.len() as u16, filter: program.as_mut_ptr() };
        PreparedFilter { _program: program, fprog }
    }

    /// In the stub's child, between clone and execve (system calls only, nothing allocated):
    /// install the filter with a listener and send the listener over `sock`.
    ///
    /// # Safety
    /// Only to be called in a child of clone that will exec or _exit; `sock` is a connected
    /// unix socket.
    pub unsafe fn install_and_send(&self, sock: RawFd) -> bool {
        // WAIT_KILLABLE_RECV: once the supervisor has taken a call, only a fatal signal ends
        // the wait. Without it a signal handled meanwhile (without SA_RESTART) would make
        // kill() or getppid() fail with EINTR, which they never do; a signal that comes
        // before the supervisor takes the call restarts it as usual (SA_RESTART or none).
        // SAFETY: the program outlives the call; the kernel copies it.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
                &self.fprog as *const libc::sock_fprog,
            )
        };
        if fd < 0 {
            return false;
        }
        let mut byte = 0u8;
        let mut iov = libc::iovec { iov_base: &mut byte as *mut u8 as *mut libc::c_void, iov_len: 1 };
        let mut control = [0u64; 4]; // CMSG_SPACE(4) is 24 bytes, aligned as a cmsghdr
        // SAFETY: a zeroed msghdr is valid; the cmsg macros compute within `control`.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut i32, fd as i32);
            let sent = libc::sendmsg(sock, &msg, 0) == 1;
            libc::close(fd as i32);
            sent
        }
    }
}

/// In the daemon, after the clone: the listener the child sent (None if it could not).
pub fn receive_listener(sock: &OwnedFd) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut pfd = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(sock),
        nix::poll::PollFlags::POLLIN,
    )];
    if nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(10_000u16))? == 0 {
        return Err(std::io::Error::from_raw_os_error(libc::ETIMEDOUT));
    }
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!(RawFd);
    let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(std::io::Error::from_raw_os_error(libc::EPROTO))
}

/// What this node's supervisors serve, by the pid of the copy: the listener (shown to the
/// module when that copy, or a child it forked here, moves on) and its home descriptors.
struct Served {
    listener: Arc<OwnedFd>,
    homes: Vec<(i32, String, i32)>,
}

static SERVED: Mutex<Option<HashMap<u32, Served>>> = Mutex::new(None);

/// `f` of what is served for `pid`, if it is a copy served here or was born of one.
fn served<T>(pid: u32, f: impl Fn(&Served) -> T) -> Option<T> {
    let map = SERVED.lock().ok()?;
    let map = map.as_ref()?;
    let mut cur = pid;
    for _ in 0..64 {
        if let Some(s) = map.get(&cur) {
            return Some(f(s));
        }
        cur = stat_ids(cur).ok()?.0;
        if cur <= 1 {
            return None;
        }
    }
    None
}

/// The listener whose filter `pid` carries, if it is a copy served here or was born of one.
pub fn listener_for(pid: u32) -> Option<Arc<OwnedFd>> {
    served(pid, |s| s.listener.clone())
}

/// (path, flags) of descriptor `fd` of `pid` if it is a file of its home served here.
pub fn home_fd_of(pid: u32, fd: i32) -> Option<(String, i32)> {
    served(pid, |s| s.homes.iter().find(|h| h.0 == fd).map(|h| (h.1.clone(), h.2)))?
}

/// (ppid, pgrp, session) of `pid` on this node, from /proc/PID/stat.
fn stat_ids(pid: u32) -> Result<(u32, u32, u32), i32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|_| libc::ESRCH)?;
    let rest = s.rsplit_once(')').map(|(_, r)| r).ok_or(libc::ESRCH)?;
    let f: Vec<u32> = rest.split_whitespace().skip(1).take(3).filter_map(|x| x.parse().ok()).collect();
    match f[..] {
        [ppid, pgrp, sid] => Ok((ppid, pgrp, sid)),
        _ => Err(libc::ESRCH),
    }
}

/// The thread group of task `tid` on this node.
fn tgid_of(tid: u32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix("Tgid:")).and_then(|v| v.trim().parse().ok())
}

/// What the supervisor tells the kernel for one call.
#[derive(Debug)]
enum Answer {
    /// Let the call run as it is, here.
    Continue,
    Value(i64),
    Errno(i32),
    /// Give the task this file as a new descriptor (lowest free; close-on-exec if asked),
    /// whose number the call returns.
    NewFd(OwnedFd, bool),
}

/// The supervisor of one copy: answers its tree's calls, asking its home when needed.
struct Supervisor {
    node: Arc<Node>,
    copy: u32,
    home: String,
    /// The copy's group and session here (what its tree's members share with it).
    group_here: u32,
    session_here: u32,
    /// The deputy's group and session on the home (they never change), once asked.
    home_group: Option<(u32, u32)>,
    channel: Option<Channel>,
    /// Its descriptors served through the home (`fd::home_file`).
    homes: Vec<crate::fd::home_file::HomeFd>,
    /// The master of its stand-in terminal, if it has one (its `/dev/tty`).
    tty_master: Option<OwnedFd>,
}

/// Start supervising `copy`'s calls with `listener`, until no task uses its filter.
pub fn supervise(
    node: &Arc<Node>,
    copy: u32,
    home: &str,
    listener: OwnedFd,
    homes: Vec<crate::fd::home_file::HomeFd>,
    tty_master: Option<OwnedFd>,
) {
    let (_, group_here, session_here) = stat_ids(copy).unwrap_or((0, copy, 0));
    let listener = Arc::new(listener);
    if let Ok(mut m) = SERVED.lock() {
        let record = homes.iter().map(|h| (h.fd, h.path.clone(), h.flags)).collect();
        m.get_or_insert_with(HashMap::new).insert(copy, Served { listener: listener.clone(), homes: record });
    }
    let mut s = Supervisor {
        node: node.clone(),
        copy,
        home: home.to_string(),
        group_here,
        session_here,
        home_group: None,
        channel: None,
        homes,
        tty_master,
    };
    std::thread::spawn(move || {
        s.serve(&listener);
        if let Ok(mut m) = SERVED.lock() {
            if let Some(m) = m.as_mut() {
                if m.get(&copy).is_some_and(|s| Arc::ptr_eq(&s.listener, &listener)) {
                    m.remove(&copy);
                }
            }
        }
        info!("pid {copy}: no task uses its home-call filter any more; supervisor ends");
    });
}

impl Supervisor {
    fn serve(&mut self, listener: &OwnedFd) {
        let fd = listener.as_raw_fd();
        loop {
            let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, IDLE.as_millis() as i32) };
            if r == 0 {
                // Idle: close the connection before the home's timeout would (a request on
                // a connection the home closed could not tell whether it was done there).
                self.channel = None;
                continue;
            }
            if r < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return;
            }
            if pfd.revents & libc::POLLIN == 0 {
                return; // POLLHUP: every task of the filter has ended
            }
            // SAFETY: RECV wants a zeroed struct seccomp_notif to fill.
            let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
            // SAFETY: the ioctl writes one seccomp_notif.
            if unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } < 0 {
                continue; // the caller went away (ENOENT), or interrupted
            }
            let answer = self.answer(req.pid, req.data.nr as u32, &req.data.args);
            let mut resp = libc::seccomp_notif_resp { id: req.id, val: 0, error: 0, flags: 0 };
            match answer {
                Answer::Continue => resp.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
                Answer::Value(v) => resp.val = v,
                Answer::Errno(e) => resp.error = -e,
                Answer::NewFd(f, cloexec) => {
                    let mut add = libc::seccomp_notif_addfd {
                        id: req.id,
                        flags: libc::SECCOMP_ADDFD_FLAG_SEND as u32,
                        srcfd: f.as_raw_fd() as u32,
                        newfd: 0,
                        newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
                    };
                    // SAFETY: the ioctl reads one seccomp_notif_addfd; with FLAG_SEND it also
                    // answers the call with the new descriptor's number.
                    if unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_ADDFD, &mut add) } >= 0 {
                        continue;
                    }
                    resp.error = -std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EMFILE);
                }
            }
            // SAFETY: the ioctl reads one seccomp_notif_resp. ENOENT: the caller is gone.
            unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
        }
    }

    /// Whether `pid` is the copy or was born of it here (a thread of either included).
    fn in_tree(&self, pid: i64) -> bool {
        if pid <= 0 || pid > i64::from(i32::MAX) {
            return false;
        }
        let Some(mut cur) = tgid_of(pid as u32) else { return false };
        for _ in 0..64 {
            if cur == self.copy {
                return true;
            }
            match stat_ids(cur) {
                Ok((ppid, _, _)) if ppid > 1 => cur = ppid,
                _ => return false,
            }
        }
        false
    }

    fn answer(&mut self, tid: u32, nr: u32, args: &[u64; 6]) -> Answer {
        if nr & X32_BIT != 0 {
            warn!("pid {}: an x32 call {nr:#x} that names processes; refused (ENOSYS)", self.copy);
            return Answer::Errno(libc::ENOSYS);
        }
        if !self.homes.is_empty() && (crate::fd::home_file::FD_CALLS.contains(&i64::from(nr)) || i64::from(nr) == libc::SYS_mmap) {
            let homes = std::mem::take(&mut self.homes);
            let copy = self.copy;
            let mut ask = |fd: i32, op: crate::peer::proto::FileOp| match self.ask(Request::HomeFile { pid: copy, fd, op }) {
                Ok(Response::FileDone { ret, data }) => Ok((ret, data.into_vec())),
                Ok(Response::Errno(e)) => Err(e),
                other => {
                    warn!("pid {copy}: a file operation on its home: {other:?}");
                    Err(libc::EIO)
                }
            };
            let served = crate::fd::home_file::serve(copy, tid, i64::from(nr), args, &homes, &mut ask);
            self.homes = homes;
            return match served {
                None => Answer::Continue,
                Some(crate::fd::home_file::Outcome::Value(v)) => Answer::Value(v),
                Some(crate::fd::home_file::Outcome::Errno(e)) => Answer::Errno(e),
            };
        }
        if OPENS.contains(&i64::from(nr)) {
            return self.open(tid, i64::from(nr), args);
        }
        let caller = tgid_of(tid).unwrap_or(tid);
        let is_copy = caller == self.copy;
        let arg = |i: usize| args[i] as i32 as i64; // pid_t arguments
        let nr = i64::from(nr);
        match nr {
            libc::SYS_getppid if is_copy => self.home_ids(0).map(|(ppid, _, _)| Answer::Value(ppid.into())).unwrap_or_else(Answer::Errno),
            libc::SYS_getppid => Answer::Continue,
            libc::SYS_getpgrp => self.group_of(i64::from(caller), 1),
            libc::SYS_getpgid => self.group_of(if arg(0) == 0 { i64::from(caller) } else { arg(0) }, 1),
            libc::SYS_getsid => self.group_of(if arg(0) == 0 { i64::from(caller) } else { arg(0) }, 2),
            libc::SYS_setsid | libc::SYS_setpgid if is_copy && (nr == libc::SYS_setsid || arg(0) == 0 || arg(0) == i64::from(caller)) => {
                warn!("pid {}: refused to change its own process group or session (its deputy holds them on {})", self.copy, self.home);
                Answer::Errno(libc::EPERM)
            }
            libc::SYS_setsid | libc::SYS_setpgid => Answer::Continue,
            libc::SYS_kill => self.kill(caller, arg(0), args[1] as i32),
            libc::SYS_tgkill | libc::SYS_rt_sigqueueinfo | libc::SYS_rt_tgsigqueueinfo | libc::SYS_tkill
            | libc::SYS_pidfd_open => {
                if self.in_tree(arg(0)) {
                    Answer::Continue
                } else {
                    warn!("pid {}: call {nr} names pid {} (not born here): refused, ENOSYS (only kill reaches the home)", self.copy, arg(0));
                    Answer::Errno(libc::ENOSYS)
                }
            }
            _ => Answer::Continue,
        }
    }

    /// An open: `/dev/tty` is the stand-in terminal (its controlling terminal at home); any
    /// other path opens as it is.
    fn open(&mut self, tid: u32, nr: i64, args: &[u64; 6]) -> Answer {
        let Some(master) = self.tty_master.as_ref() else { return Answer::Continue };
        let mem = crate::fd::home_file::TaskMem { tid };
        let (path_at, flags) = match nr {
            libc::SYS_open => (args[0], args[1] as i32),
            libc::SYS_openat => (args[1], args[2] as i32),
            _ => match mem.read(args[2], 8) {
                Ok(how) => (args[1], u64::from_ne_bytes(how[..8].try_into().unwrap_or_default()) as i32),
                Err(e) => return Answer::Errno(e),
            },
        };
        if mem.string(path_at, 16).as_deref() != Ok(b"/dev/tty".as_slice()) || flags & libc::O_PATH != 0 {
            return Answer::Continue;
        }
        // A new open file of the stand-in terminal (TIOCGPTPEER: its own flags, as an open of
        // /dev/tty gives).
        let peer_flags = flags & (libc::O_ACCMODE | libc::O_NONBLOCK) | libc::O_NOCTTY | libc::O_CLOEXEC;
        // SAFETY: TIOCGPTPEER on our terminal master returns a new descriptor.
        let f = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, peer_flags) };
        if f < 0 {
            return Answer::Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::ENXIO));
        }
        // SAFETY: just created.
        Answer::NewFd(unsafe { OwnedFd::from_raw_fd(f) }, flags & libc::O_CLOEXEC != 0)
    }

    /// getpgid (field 1) or getsid (field 2) of `pid`.
    fn group_of(&mut self, pid: i64, field: usize) -> Answer {
        if self.in_tree(pid) {
            let Ok(ids) = stat_ids(pid as u32) else { return Answer::Errno(libc::ESRCH) };
            let (here, shared) = if field == 1 { (ids.1, self.group_here) } else { (ids.2, self.session_here) };
            if here != shared {
                return Answer::Continue; // it left the copy's group or session here
            }
            return match self.home_group() {
                Ok((g, s)) => Answer::Value(i64::from(if field == 1 { g } else { s })),
                Err(e) => Answer::Errno(e),
            };
        }
        if pid <= 0 {
            return Answer::Errno(libc::ESRCH);
        }
        match self.home_ids(pid as u32) {
            Ok((_, g, s)) => Answer::Value(i64::from(if field == 1 { g } else { s })),
            Err(e) => Answer::Errno(e),
        }
    }

    fn home_group(&mut self) -> Result<(u32, u32), i32> {
        if let Some(g) = self.home_group {
            return Ok(g);
        }
        let (_, g, s) = self.home_ids(0)?;
        self.home_group = Some((g, s));
        Ok((g, s))
    }

    fn kill(&mut self, caller: u32, target: i64, signal: i32) -> Answer {
        if !(0..=64).contains(&signal) {
            return Answer::Errno(libc::EINVAL);
        }
        if target == -1 {
            warn!("pid {}: kill(-1, {signal}) refused (ENOSYS): every process of the user is on two nodes", self.copy);
            return Answer::Errno(libc::ENOSYS);
        }
        if target > 0 {
            if self.in_tree(target) {
                return Answer::Continue;
            }
            return self.home_kill(target as i32, signal);
        }
        // A group: its own (0), the home group, a group born here, or another of the home.
        let own = if target == 0 { stat_ids(caller).map(|i| i.1).unwrap_or(0) } else { 0 };
        let group_here = if target == 0 { own } else { (-target) as u32 };
        if group_here != self.group_here && self.in_tree(i64::from(group_here)) {
            return Answer::Continue; // a group of its children here
        }
        let home = match self.home_group() {
            Ok((g, _)) => g,
            Err(e) => return Answer::Errno(e),
        };
        if target == 0 && own != self.group_here {
            return Answer::Continue;
        }
        if target != 0 && (-target) as u32 != home {
            return self.home_kill(target as i32, signal);
        }
        // The copy's group: on the home (its deputy hands it to the copy), and here to the
        // members born here.
        let r = self.home_kill(-(home as i32), signal);
        self.signal_group_here(signal);
        r
    }

    /// `signal` to the members of the copy's group here but the copy, as the copy's user.
    fn signal_group_here(&self, signal: i32) {
        let members: Vec<u32> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&p| p != self.copy && stat_ids(p).is_ok_and(|i| i.1 == self.group_here) && self.in_tree(p.into()))
            .collect();
        if members.is_empty() {
            return;
        }
        let Ok(who) = super::procinfo::identity(self.copy) else { return };
        let _ = as_process(&who, || {
            for p in members {
                // SAFETY: kill(2) with plain integers.
                unsafe { libc::kill(p as i32, signal) };
            }
        });
    }

    fn home_kill(&mut self, target: i32, signal: i32) -> Answer {
        match self.ask(Request::HomeKill { pid: self.copy, target, signal: signal as u32 }) {
            Ok(Response::Noted) => Answer::Value(0),
            Ok(Response::Errno(e)) => Answer::Errno(e),
            other => {
                warn!("pid {}: kill({target}, {signal}) on its home {}: {other:?}", self.copy, self.home);
                Answer::Errno(libc::EAGAIN)
            }
        }
    }

    /// (ppid, pgid, sid) of `of` on the home (0: the copy's deputy).
    fn home_ids(&mut self, of: u32) -> Result<(u32, u32, u32), i32> {
        match self.ask(Request::HomeIds { pid: self.copy, of }) {
            Ok(Response::Ids { ppid, pgid, sid }) => Ok((ppid, pgid, sid)),
            Ok(Response::Errno(e)) => Err(e),
            other => {
                warn!("pid {}: ids of {of} on its home {}: {other:?}", self.copy, self.home);
                Err(libc::EAGAIN)
            }
        }
    }

    /// One request to the home, on a kept connection. If it breaks, the request is sent again
    /// on a new one only if doing it twice is the same as once (asking ids, a stat): a
    /// write or a signal may have been done before the answer was lost.
    fn ask(&mut self, req: Request) -> Result<Response, String> {
        use crate::peer::proto::FileOp;
        let idempotent = match &req {
            Request::HomeIds { .. } => true,
            Request::HomeFile { op, .. } => matches!(op, FileOp::Fstat | FileOp::Statx { .. } | FileOp::GetFlags | FileOp::Pread { .. }),
            _ => false,
        };
        for attempt in 0..if idempotent { 2 } else { 1 } {
            if self.channel.is_none() {
                let addr = resolve(&self.home).map_err(|e| e.to_string())?;
                let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
                let ch = Channel::initiate(stream, &self.node.identity).map_err(|e| e.to_string())?;
                ch.set_timeout(self.node.config.peer_timeout).map_err(|e| e.to_string())?;
                self.channel = Some(ch);
            }
            let Some(ch) = self.channel.as_mut() else { continue };
            match ch.send(&req).and_then(|()| ch.recv::<Response>()) {
                Ok(r) => return Ok(r),
                Err(e) => {
                    self.channel = None;
                    if attempt == 1 || !idempotent {
                        return Err(e.to_string());
                    }
                }
            }
        }
        Err("no connection to the home".into())
    }
}

/// Run `f` in a thread with the real, effective and saved ids and the groups of `who` (raw
/// system calls: only that thread changes; it cannot change back, so it ends with `f`).
pub fn as_process<T: Send>(who: &Identity, f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let groups: Vec<libc::gid_t> = who.groups.clone();
            let (u, g) = (who.uid, who.gid);
            // SAFETY: raw credential system calls of this thread, with plain integers and a
            // vector that outlives them.
            let ok = unsafe {
                libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) == 0
                    && libc::syscall(libc::SYS_setresgid, g[0], g[1], g[2]) == 0
                    && libc::syscall(libc::SYS_setresuid, u[0], u[1], u[2]) == 0
            };
            if !ok {
                return Err(std::io::Error::last_os_error());
            }
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::from_raw_os_error(libc::EIO)))
    })
}

/// Whether `peer_ip` is the node that holds the copy of `pid` (the home's record).
pub(crate) fn from_holder(node: &Node, pid: u32, peer_ip: IpAddr) -> bool {
    node.table.deputy_holder(pid).is_some_and(|at| resolve(&at).is_ok_and(|a| a.ip() == peer_ip))
}

/// On the home: `HomeIds` from the node that holds the copy of `pid`.
pub fn answer_ids(node: &Node, pid: u32, of: u32, peer_ip: IpAddr, peer: &str) -> Response {
    if !from_holder(node, pid, peer_ip) {
        warn!("peer {peer} asks the ids of {of} for pid {pid}: it does not hold that copy; refused");
        return Response::Error(format!("{}: the sender does not hold a copy of pid {pid}", crate::node::hostname()));
    }
    match stat_ids(if of == 0 { pid } else { of }) {
        Ok((ppid, pgid, sid)) => Response::Ids { ppid, pgid, sid },
        Err(e) => Response::Errno(e),
    }
}

/// On the home: `HomeKill` from the node that holds the copy of `pid`: kill(target, signal)
/// with the deputy's ids (0: the deputy's group).
pub fn answer_kill(node: &Node, pid: u32, target: i32, signal: u32, peer_ip: IpAddr, peer: &str) -> Response {
    if !from_holder(node, pid, peer_ip) {
        warn!("peer {peer} asks a kill for pid {pid}: it does not hold that copy; refused");
        return Response::Error(format!("{}: the sender does not hold a copy of pid {pid}", crate::node::hostname()));
    }
    if signal > 64 || target == -1 || target == i32::MIN {
        return Response::Errno(libc::EINVAL);
    }
    let target = if target == 0 {
        match stat_ids(pid) {
            Ok((_, pgid, _)) => -(pgid as i32),
            Err(e) => return Response::Errno(e),
        }
    } else {
        target
    };
    let who = match super::procinfo::identity(pid) {
        Ok(w) => w,
        Err(e) => return Response::Error(format!("its deputy: {e}")),
    };
    // SAFETY: kill(2) with plain integers.
    let r = as_process(&who, || if unsafe { libc::kill(target, signal as i32) } == 0 { 0 } else { std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO) });
    match r {
        Ok(0) => {
            info!("pid {pid}: kill({target}, {signal}) for its copy, as its user");
            Response::Noted
        }
        Ok(e) => Response::Errno(e),
        Err(e) => Response::Error(format!("cannot act as the deputy's user: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the filter returns for a call (the instructions `program` uses, run as the
    /// kernel's BPF interpreter would).
    fn run(p: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let word = |off: u32| -> u32 {
            match off {
                0 => nr,
                4 => arch,
                o if o >= 16 && (o - 16) % 8 == 0 => args[((o - 16) / 8) as usize] as u32,
                o => panic!("load at {o}"),
            }
        };
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let i = &p[pc];
            pc += 1;
            match u32::from(i.code) {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => a = word(i.k),
                c if c == libc::BPF_ALU | libc::BPF_AND | libc::BPF_K => a &= i.k,
                c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => pc += if a == i.k { i.jt } else { i.jf } as usize,
                c if c == libc::BPF_RET | libc::BPF_K => return i.k,
                c => panic!("instruction {c:#x}"),
            }
        }
    }

    #[test]
    fn the_filter_takes_the_calls_and_the_home_descriptors_only() {
        let f = PreparedFilter::new(&[5, 9], true);
        let p = &f._program;
        let (notify, allow, x86) = (libc::SECCOMP_RET_USER_NOTIF, libc::SECCOMP_RET_ALLOW, AUDIT_ARCH_X86_64);
        let nr = |n: libc::c_long| n as u32;
        assert_eq!(run(p, x86, nr(libc::SYS_getppid), [0; 6]), notify);
        assert_eq!(run(p, x86, nr(libc::SYS_kill), [1, 2, 0, 0, 0, 0]), notify);
        assert_eq!(run(p, x86, nr(libc::SYS_getpid), [0; 6]), allow);
        assert_eq!(run(p, 0x4000_0003, nr(libc::SYS_getppid), [0; 6]), allow, "not x86-64: as it is");
        assert_eq!(run(p, x86, nr(libc::SYS_getppid) | X32_BIT, [0; 6]), notify);
        assert_eq!(run(p, x86, nr(libc::SYS_read), [5, 0, 0, 0, 0, 0]), notify);
        assert_eq!(run(p, x86, nr(libc::SYS_pwrite64), [9, 0, 0, 0, 0, 0]), notify);
        assert_eq!(run(p, x86, nr(libc::SYS_read), [6, 0, 0, 0, 0, 0]), allow);
        assert_eq!(run(p, x86, nr(libc::SYS_read), [5 | (1 << 32), 0, 0, 0, 0, 0]), notify, "an int: the low half");
        assert_eq!(run(p, x86, nr(libc::SYS_mmap), [0, 4096, 1, 2, 9, 0]), notify);
        assert_eq!(run(p, x86, nr(libc::SYS_mmap), [5, 4096, 1, 2, u64::MAX, 0]), allow);
        assert_eq!(run(p, x86, nr(libc::SYS_sendfile), [1, 2, 0, 0, 0, 0]), notify);
        assert_eq!(run(p, x86, nr(libc::SYS_exit_group), [5, 0, 0, 0, 0, 0]), allow);
        assert_eq!(run(p, x86, nr(libc::SYS_openat), [0; 6]), notify, "opens, with a terminal");
        // Without home descriptors, no descriptor is looked at.
        let bare = PreparedFilter::new(&[], false);
        assert_eq!(run(&bare._program, x86, nr(libc::SYS_read), [5, 0, 0, 0, 0, 0]), allow);
        assert_eq!(run(&bare._program, x86, nr(libc::SYS_openat), [0; 6]), allow);
        // The most descriptors still fit the jumps.
        let many: Vec<i32> = (3..3 + MAX_HOME_FDS as i32).collect();
        let big = PreparedFilter::new(&many, true);
        assert_eq!(run(&big._program, x86, nr(libc::SYS_getppid), [0; 6]), notify);
        assert_eq!(run(&big._program, x86, nr(libc::SYS_read), [66, 0, 0, 0, 0, 0]), notify);
        assert_eq!(run(&big._program, x86, nr(libc::SYS_mmap), [0, 0, 0, 0, 66, 0]), notify);
        assert_eq!(run(&big._program, x86, nr(libc::SYS_read), [67, 0, 0, 0, 0, 0]), allow);
    }

    #[test]
    fn stat_ids_reads_parent_group_and_session() {
        let (ppid, pgid, sid) = stat_ids(std::process::id()).unwrap();
        // SAFETY: plain id queries.
        unsafe {
            assert_eq!(ppid as i32, libc::getppid());
            assert_eq!(pgid as i32, libc::getpgrp());
            assert_eq!(sid as i32, libc::getsid(0));
        }
    }
}
