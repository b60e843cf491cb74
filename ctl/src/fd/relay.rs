//! Standard input/output served through the deputy (issue 14): a process that left its home
//! with a deputy keeps reading and writing the home's terminal and pipes. Both sides are
//! here, as CRIU keeps dump and restore of one kind side by side.
//!
//! - The target makes a local stand-in for each object the process's descriptors 0-2 name
//!   (descriptors naming the same object share one): a pseudo-terminal for a terminal (with
//!   the home terminal's modes and size, so that its line discipline does echo and line
//!   editing for the program as the home terminal would), a pipe for a pipe (read end for
//!   descriptor 0, write end for 1 and 2). The signal keys stay at home (^C, ^\, ^Z signal
//!   the deputy, which hands the signal on; `SignalKeys` keeps the home terminal's keys as
//!   the program sets them on the stand-in), so the process is not in a session of its own
//!   there, where the kernel would drop its job-control stops (`Plan::own_group`).
//! - Two connections to the home carry the bytes: `RelayIn` (the home reads the deputy's own
//!   descriptor, found with pidfd_getfd, and sends what it reads; the target writes it into
//!   the stand-in) and `RelayOut` (the other way). While the process runs away, the home
//!   terminal is in raw mode (the stand-in's line discipline is the one that counts, as with
//!   ssh); its size is watched and sent on change. When the process ends there, RelayOut
//!   sends what is left and the stand-in terminal's last modes, which the home terminal takes
//!   (a program that left raw mode on the way out leaves the home terminal as it would have).
//!   The end is reported to the home only after that (see `migrate::target`).
//! - Who may: as for the deputy's other requests, only the node the home's record says holds
//!   the process (by address, over the authenticated channel).
//!
//! - Job control: while the process is stopped (`migrate::deputy`: its deputy stops too), the
//!   home terminal is the shell's, in its modes of before; the relay reads it again, raw,
//!   once the process runs again.
//!
//! Not carried: a controlling terminal there (an open of `/dev/tty` is given the stand-in by
//! `migrate::home_calls`, and the session and group ids are answered from the home there),
//! stdio sockets (refused).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{info, warn};

use crate::node::Node;
use crate::peer::channel::Channel;
use crate::peer::ping::resolve;
use crate::peer::proto::{FdSpec, FileId, Identity, Request, Response, TtyState};

/// Most bytes in one data message.
const CHUNK: usize = 16 * 1024;
/// How long the home waits for its record to name the asking node as the holder (the
/// relays start right after the process runs there, maybe before the home recorded it).
const HOLDER_WAIT: Duration = Duration::from_secs(10);

/// The home terminal's state, read by the source for a terminal on descriptors 0-2.
pub fn tty_state(pid: u32, fd: i32) -> Option<TtyState> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(format!("/proc/{pid}/fd/{fd}"))
        .ok()?;
    let t = termios_of(&f)?;
    let (rows, cols) = winsize_of(&f).unwrap_or((24, 80));
    Some(TtyState { termios: termios_bytes(&t), rows, cols })
}

fn termios_of(f: &impl AsRawFd) -> Option<libc::termios> {
    // SAFETY: termios is a struct of integers and arrays of them: all zeros is a value.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: tcgetattr writes one termios through a pointer to ours, and nothing else.
    (unsafe { libc::tcgetattr(f.as_raw_fd(), &mut t) } == 0).then_some(t)
}

fn winsize_of(f: &impl AsRawFd) -> Option<(u16, u16)> {
    // SAFETY: winsize is four integers: all zeros is a value.
    let mut w: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize through a pointer to ours, and nothing else.
    (unsafe { libc::ioctl(f.as_raw_fd(), libc::TIOCGWINSZ, &mut w) } == 0).then_some((w.ws_row, w.ws_col))
}

fn set_winsize(f: &impl AsRawFd, rows: u16, cols: u16) {
    let w = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one winsize.
    unsafe { libc::ioctl(f.as_raw_fd(), libc::TIOCSWINSZ, &w) };
}

fn termios_bytes(t: &libc::termios) -> Vec<u8> {
    // SAFETY: termios is plain old data; its bytes are read, not interpreted.
    unsafe { std::slice::from_raw_parts((t as *const libc::termios).cast::<u8>(), std::mem::size_of::<libc::termios>()) }
        .to_vec()
}

fn termios_from(b: &[u8]) -> Option<libc::termios> {
    if b.len() != std::mem::size_of::<libc::termios>() {
        return None;
    }
    // SAFETY: the length is that of termios, a struct of integers (any bytes are a value).
    Some(unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<libc::termios>()) })
}

fn set_termios(f: &impl AsRawFd, t: &libc::termios) -> bool {
    // SAFETY: tcsetattr reads one termios.
    unsafe { libc::tcsetattr(f.as_raw_fd(), libc::TCSANOW, t) == 0 }
}

/// What the target's stand-ins are, named by the object they stand in for (the /proc link
/// text on the home: `/dev/pts/3`, `pipe:[123]`).
pub struct Plan {
    /// For the stub: (descriptor number, file).
    pub for_process: Vec<(i32, OwnedFd)>,
    /// A stand-in terminal is among them: the process gets a process group of its own in
    /// the daemon's session (not a session of its own: a session leader's group has no
    /// parent in its session, so the kernel would drop job-control stops for it).
    pub own_group: bool,
    /// The daemon's ends, for `start`.
    ends: Vec<End>,
}

impl Plan {
    /// The stand-in terminal's master, if there is one: a new reference (`home_calls` opens
    /// the terminal again from it for the process's `/dev/tty`).
    pub fn terminal_master(&self) -> Option<OwnedFd> {
        let m = self.ends.iter().find(|e| e.tty)?.to_process.as_ref()?;
        m.try_clone().ok().map(OwnedFd::from)
    }
}

struct End {
    key: String,
    /// The descriptor of the deputy on the home that holds the object.
    home_fd: i32,
    tty: bool,
    /// Daemon side: where input goes (pipe write end, terminal master), where output comes
    /// from (pipe read end, terminal master).
    to_process: Option<File>,
    from_process: Option<File>,
}

/// Source, for a move with a deputy: the content of every regular file `pid` has open
/// read-only (read through its own descriptor, whatever its path names now).
pub fn read_only_file_ids(pid: u32, specs: &[FdSpec]) -> Result<Vec<(i32, FileId)>, String> {
    let mut ids = Vec::new();
    for s in specs {
        if let FdSpec::File { fd, path, flags, .. } = s {
            if flags & libc::O_ACCMODE == libc::O_RDONLY {
                let mut id = crate::migrate::files::identify(&format!("/proc/{pid}/fd/{fd}")).map_err(|e| e.to_string())?;
                id.path = path.clone();
                ids.push((*fd, id));
            }
        }
    }
    Ok(ids)
}

/// Target, with a deputy: whether `plan` serves `spec` (a file written in append mode: a
/// pipe to the home). A file written at an offset, or read and not the same here (see
/// `check_read_only`), is served by `fd::home_file`; one read and the same is reopened here.
pub fn takes(spec: &FdSpec) -> bool {
    match spec {
        FdSpec::Detached { .. } => true,
        FdSpec::File { flags, .. } => flags & libc::O_ACCMODE != libc::O_RDONLY && flags & libc::O_APPEND != 0,
        FdSpec::Home { .. } => false,
    }
}

/// Target, with a deputy: whether `spec` is a file served by its home at any offset
/// (`fd::home_file`) without looking at this node's files: written at an offset, or already
/// served so on the node it comes from.
pub fn home_served(spec: &FdSpec) -> bool {
    match spec {
        FdSpec::Detached { .. } => false,
        FdSpec::File { flags, .. } => flags & libc::O_ACCMODE != libc::O_RDONLY && flags & libc::O_APPEND == 0,
        FdSpec::Home { .. } => true,
    }
}

/// Target, with a deputy: a file open read-only is reopened here only if this node's is the
/// same (size and SHA-256, read with the user's credentials).
pub fn check_read_only(spec: &FdSpec, ids: &[(i32, FileId)], who: &Identity) -> Result<(), String> {
    let FdSpec::File { fd, path, .. } = spec else { return Ok(()) };
    let Some((_, want)) = ids.iter().find(|(n, _)| n == fd) else {
        return Err(format!("descriptor {fd} ({path}): its content was not named by the source"));
    };
    match crate::creds::as_user(who, || crate::migrate::files::check(want)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("descriptor {fd}: {e}")),
        Err(e) => Err(format!("descriptor {fd} ({path}): {e}")),
    }
}

/// Whether every descriptor among `specs` can be served through a deputy (what `plan`
/// refuses, said before anything is made: the source asks before it freezes the task).
pub fn servable(specs: &[FdSpec]) -> Result<(), String> {
    for s in specs {
        match s {
            FdSpec::Detached { fd, what, tty } => {
                if !(what == "/dev/null" || tty.is_some() || what.starts_with("pipe:")) {
                    return Err(format!("descriptor {fd} ({what}) cannot be served through the deputy yet (--no-deputy moves it without one: that descriptor reads /dev/null or writes to a log on the target)"));
                }
            }
            // Served through the home at any offset (`fd::home_file`).
            FdSpec::File { .. } | FdSpec::Home { .. } => {}
        }
    }
    Ok(())
}

/// Target: the stand-ins for the descriptors `takes` names among `specs`.
pub fn plan(specs: &[FdSpec]) -> Result<Plan, String> {
    servable(specs)?;
    let mut groups: BTreeMap<String, (Vec<i32>, Option<TtyState>)> = BTreeMap::new();
    let mut plan = Plan { for_process: Vec::new(), own_group: false, ends: Vec::new() };
    for s in specs {
        match s {
            FdSpec::Detached { fd, what, tty } => {
                let g = groups.entry(what.clone()).or_default();
                g.0.push(*fd);
                if tty.is_some() {
                    g.1 = tty.clone();
                }
            }
            // A file written: its writes land in the home's file, through the deputy's own
            // descriptor (append mode: each write at the end, as at home).
            FdSpec::File { fd, path, .. } if takes(s) => {
                let (r, w) = pipe()?;
                plan.for_process.push((*fd, w));
                let key = format!("file:{fd}:{path}");
                plan.ends.push(End { key, home_fd: *fd, tty: false, to_process: None, from_process: Some(File::from(r)) });
            }
            FdSpec::File { .. } | FdSpec::Home { .. } => {}
        }
    }
    for (key, (fds, tty)) in groups {
        let home_fd = fds[0];
        if key == "/dev/null" {
            let null = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null").map_err(|e| e.to_string())?;
            for &fd in &fds {
                plan.for_process.push((fd, OwnedFd::from(null.try_clone().map_err(|e| e.to_string())?)));
            }
        } else if let Some(state) = tty {
            let (master, slave) = openpty(&state).map_err(|e| format!("a terminal for {key}: {e}"))?;
            for &fd in &fds {
                plan.for_process.push((fd, slave.try_clone().map_err(|e| e.to_string())?));
            }
            plan.own_group = true;
            let m2 = master.try_clone().map_err(|e| e.to_string())?;
            plan.ends.push(End { key, home_fd, tty: true, to_process: Some(master), from_process: Some(m2) });
        } else if key.starts_with("pipe:") {
            let (input, output): (Vec<i32>, Vec<i32>) = fds.iter().partition(|&&fd| fd == 0);
            if !input.is_empty() {
                let (r, w) = pipe()?;
                plan.for_process.push((0, r));
                plan.ends.push(End { key: key.clone(), home_fd: 0, tty: false, to_process: Some(File::from(w)), from_process: None });
            }
            if !output.is_empty() {
                let (r, w) = pipe()?;
                for &fd in &output {
                    plan.for_process.push((fd, w.try_clone().map_err(|e| e.to_string())?));
                }
                plan.ends.push(End { key, home_fd: output[0], tty: false, to_process: None, from_process: Some(File::from(r)) });
            }
        } else {
            return Err(format!("descriptor {home_fd} ({key}) cannot be served through the deputy yet"));
        }
    }
    Ok(plan)
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))
}

/// A pseudo-terminal pair with the home terminal's modes and size.
fn openpty(state: &TtyState) -> std::io::Result<(File, OwnedFd)> {
    let (mut m, mut s) = (-1, -1);
    // SAFETY: openpty writes two descriptors; no name buffer, no termios, no winsize.
    if unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openpty just created both.
    let (master, slave) = unsafe { (File::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
    nix::fcntl::fcntl(master.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))?;
    nix::fcntl::fcntl(slave.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))?;
    if let Some(t) = termios_from(&state.termios) {
        set_termios(&slave, &t);
    }
    set_winsize(&master, state.rows, state.cols);
    Ok((master, slave))
}

/// Target, once the process runs: the two relays to its home. Returns a handle to wait on
/// before the process's end is reported (every byte it wrote is at home then).
pub fn start(node: &Arc<Node>, plan: Plan, pid: u32, home: &str) -> Option<std::thread::JoinHandle<()>> {
    if plan.ends.is_empty() {
        return None;
    }
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    for e in plan.ends {
        if let Some(w) = e.to_process {
            inputs.push((e.key.clone(), e.home_fd, e.tty, w));
        }
        if let Some(r) = e.from_process {
            outputs.push((e.key, e.home_fd, e.tty, r));
        }
    }
    if !inputs.is_empty() {
        let (node, home) = (node.clone(), home.to_string());
        std::thread::spawn(move || {
            if let Err(e) = relay_in_target(&node, pid, &home, inputs) {
                warn!("pid {pid}: input from its home {home}: {e}");
            }
        });
    }
    let (node, home) = (node.clone(), home.to_string());
    Some(std::thread::spawn(move || {
        if let Err(e) = relay_out_target(&node, pid, &home, outputs) {
            warn!("pid {pid}: output to its home {home}: {e}");
        }
    }))
}

fn connect(node: &Node, home: &str) -> Result<Channel, String> {
    let addr = resolve(home).map_err(|e| e.to_string())?;
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let ch = Channel::initiate(stream, &node.identity).map_err(|e| e.to_string())?;
    ch.set_idle_allowed().map_err(|e| e.to_string())?;
    Ok(ch)
}

fn expect_noted(ch: &mut Channel) -> Result<(), String> {
    match ch.recv::<Response>().map_err(|e| e.to_string())? {
        Response::Noted => Ok(()),
        Response::Error(e) | Response::Refused(e) => Err(e),
        other => Err(format!("unexpected {other:?}")),
    }
}

/// Target: what the home reads goes into the stand-ins.
fn relay_in_target(node: &Node, pid: u32, home: &str, inputs: Vec<(String, i32, bool, File)>) -> Result<(), String> {
    let mut ch = connect(node, home)?;
    let spec = inputs.iter().map(|(k, fd, tty, _)| (k.clone(), *fd, *tty)).collect();
    ch.send(&Request::RelayIn { pid, inputs: spec }).map_err(|e| e.to_string())?;
    expect_noted(&mut ch)?;
    let mut to: BTreeMap<String, File> = inputs.into_iter().map(|(k, _, _, f)| (k, f)).collect();
    loop {
        match ch.recv::<Request>() {
            Ok(Request::RelayData { key, data }) => {
                if let Some(f) = to.get_mut(&key) {
                    if f.write_all(&data).is_err() {
                        to.remove(&key); // the process closed it
                    }
                }
            }
            Ok(Request::RelayEof { key }) => {
                to.remove(&key);
            }
            Ok(Request::RelayWinsize { key, rows, cols }) => {
                if let Some(f) = to.get(&key) {
                    // The stand-in is not the process's controlling terminal (Plan::own_group):
                    // the SIGWINCH its kernel would send is sent here, after the new size.
                    set_winsize(f, rows, cols);
                    // SAFETY: kill(2) with plain integers.
                    unsafe { libc::kill(pid as i32, libc::SIGWINCH) };
                }
            }
            Ok(other) => return Err(format!("unexpected {other:?}")),
            Err(_) => return Ok(()), // the home ended it (the deputy is gone)
        }
    }
}

/// What one round of `pump` read from a relay's descriptors (by index).
enum Got {
    Data(usize, Vec<u8>),
    /// End of file (every writer closed) or EIO (a terminal whose last user closed it).
    Closed(usize),
}

/// Wait up to `ms` for any of `files` to be readable and read each one that is.
fn pump<'a>(files: impl Iterator<Item = &'a File>, ms: i32, buf: &mut [u8]) -> Vec<Got> {
    let files: Vec<&File> = files.collect();
    let mut pfds: Vec<libc::pollfd> =
        files.iter().map(|f| libc::pollfd { fd: f.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    // SAFETY: poll on descriptors we hold, for their number.
    if unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) } <= 0 {
        return Vec::new();
    }
    let mut got = Vec::new();
    for (i, (p, mut f)) in pfds.iter().zip(files).enumerate() {
        if p.revents != 0 {
            got.push(match f.read(buf) {
                Ok(n) if n > 0 => Got::Data(i, buf[..n].to_vec()),
                _ => Got::Closed(i),
            });
        }
    }
    got
}

/// Target: what the process writes goes home; then the stand-in terminals' last modes.
fn relay_out_target(node: &Node, pid: u32, home: &str, outputs: Vec<(String, i32, bool, File)>) -> Result<(), String> {
    let mut ch = connect(node, home)?;
    let spec = outputs.iter().map(|(k, fd, tty, _)| (k.clone(), *fd, *tty)).collect();
    ch.send(&Request::RelayOut { pid, outputs: spec }).map_err(|e| e.to_string())?;
    expect_noted(&mut ch)?;
    let mut open: Vec<(String, bool, File)> = outputs.into_iter().map(|(k, _, tty, f)| (k, tty, f)).collect();
    let mut ended_ttys = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    // What the home terminal was last told of the stand-in's signal keys (see SignalKeys).
    let mut told: BTreeMap<String, SignalKeys> = BTreeMap::new();
    while !open.is_empty() {
        for (key, tty, f) in &open {
            let now = termios_of(f).filter(|_| *tty).map(|t| SignalKeys::of(&t));
            if let Some(now) = now.filter(|n| told.get(key) != Some(n)) {
                if told.insert(key.clone(), now).is_some() {
                    ch.send(&Request::RelayModes { key: key.clone(), isig: now.isig, keys: now.keys.to_vec() })
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        let mut closed = Vec::new();
        for got in pump(open.iter().map(|(_, _, f)| f), 200, &mut buf) {
            match got {
                Got::Data(i, data) => {
                    ch.send(&Request::RelayData { key: open[i].0.clone(), data }).map_err(|e| e.to_string())?
                }
                Got::Closed(i) => closed.push(i),
            }
        }
        for i in closed.into_iter().rev() {
            let (key, tty, f) = open.remove(i);
            if let Some(t) = termios_of(&f).filter(|_| tty) {
                ended_ttys.push((key, termios_bytes(&t)));
            }
        }
    }
    ch.send(&Request::RelayEnd { ttys: ended_ttys }).map_err(|e| e.to_string())?;
    expect_noted(&mut ch)?;
    info!("pid {pid}: its output is all at its home {home}");
    Ok(())
}

/// A pidfd of `pid`.
pub fn pidfd(pid: u32) -> Result<OwnedFd, String> {
    // SAFETY: pidfd_open with plain integers; the result is a new descriptor.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) };
    if pidfd < 0 {
        return Err(format!("pidfd_open {pid}: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: just created.
    Ok(unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) })
}

/// Whether the process of `pidfd` has ended (its pidfd polls readable).
pub fn has_ended(pidfd: &OwnedFd) -> bool {
    let mut p = libc::pollfd { fd: pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: poll on one descriptor we own, no wait.
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}

/// Home: the deputy's descriptor `fd` (pidfd_getfd: the same open file).
pub fn deputy_fd(pid: u32, fd: i32) -> Result<File, String> {
    let pidfd = pidfd(pid)?;
    // SAFETY: pidfd_getfd with plain integers; the result is a new descriptor.
    let f = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if f < 0 {
        return Err(format!("descriptor {fd} of the deputy {pid}: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: just created (close-on-exec, as pidfd_getfd makes it).
    Ok(unsafe { File::from_raw_fd(f as RawFd) })
}

/// Home: whether `peer_ip` holds the process of the deputy `pid` (waiting a little for the
/// record to say so).
fn from_holder(node: &Node, pid: u32, peer_ip: IpAddr) -> bool {
    let deadline = Instant::now() + HOLDER_WAIT;
    loop {
        if node.table.deputy_holder(pid).is_some_and(|at| resolve(&at).is_ok_and(|a| a.ip() == peer_ip)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Home: the deputy's descriptors a relay from `peer` names, as (object, is a terminal,
/// file); None (answered with the reason) unless `peer` holds the process.
fn admit(node: &Node, ch: &mut Channel, pid: u32, list: Vec<(String, i32, bool)>, peer: &str) -> Option<Vec<(String, bool, File)>> {
    if !from_holder(node, pid, ch.peer_ip()) {
        warn!("peer {peer} asks to relay the stdio of pid {pid}: it does not hold that process; refused");
        let _ = ch.send(&Response::Error(format!("{}: pid {pid} does not run on the sender", crate::node::hostname())));
        return None;
    }
    let opened: Result<Vec<_>, String> =
        list.into_iter().map(|(key, fd, tty)| deputy_fd(pid, fd).map(|f| (key, tty, f))).collect();
    match opened {
        Ok(v) => Some(v),
        Err(e) => {
            let _ = ch.send(&Response::Error(e));
            None
        }
    }
}

/// Put a home terminal in raw mode but for its signal keys (^C, ^\, ^Z: they signal the
/// deputy, which hands the signal on: the stand-in terminal is not the process's controlling
/// terminal); its modes before.
fn make_raw(f: &File) -> Option<libc::termios> {
    let before = termios_of(f)?;
    let mut raw = before;
    // SAFETY: cfmakeraw edits the value in place.
    unsafe { libc::cfmakeraw(&mut raw) };
    raw.c_lflag |= before.c_lflag & libc::ISIG;
    set_termios(f, &raw);
    Some(before)
}

/// A terminal's signal keys: whether they signal (ISIG) and which they are (VINTR, VQUIT,
/// VSUSP). The program sets them on its stand-in (raw mode turns ISIG off); the home
/// terminal, where the keys are typed, follows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct SignalKeys {
    isig: bool,
    keys: [u8; 3],
}

impl SignalKeys {
    fn of(t: &libc::termios) -> Self {
        SignalKeys { isig: t.c_lflag & libc::ISIG != 0, keys: [t.c_cc[libc::VINTR], t.c_cc[libc::VQUIT], t.c_cc[libc::VSUSP]] }
    }

    fn apply_to(&self, f: &File) {
        if let Some(mut t) = termios_of(f) {
            t.c_lflag = (t.c_lflag & !libc::ISIG) | if self.isig { libc::ISIG } else { 0 };
            (t.c_cc[libc::VINTR], t.c_cc[libc::VQUIT], t.c_cc[libc::VSUSP]) = (self.keys[0], self.keys[1], self.keys[2]);
            set_termios(f, &t);
        }
    }
}

/// Home: `RelayIn` from `peer`: read the deputy's inputs, send them, until the deputy ends
/// or the connection does.
pub fn serve_in(node: &Node, ch: &mut Channel, pid: u32, inputs: Vec<(String, i32, bool)>, peer: &str) {
    let Some(files) = admit(node, ch, pid, inputs, peer) else { return };
    let mut open = Vec::new();
    // The home terminals' modes before they went raw: given back while the process is
    // stopped (the home shell has the terminal then).
    let mut saved = Vec::new();
    for (key, tty, f) in files {
        if tty {
            saved.push((open.len(), make_raw(&f)));
        }
        let size = if tty { winsize_of(&f) } else { None };
        open.push((key, tty, f, size));
    }
    let mut paused = false;
    if ch.send(&Response::Noted).is_err() {
        return;
    }
    node.table.set_tty_relayed(pid, open.iter().any(|(_, tty, _, _)| *tty));
    info!("deputy {pid}: its input goes to {peer}");
    // Until the deputy ends or the process moves on (its next node opens its own relay).
    let holder = node.table.deputy_holder(pid);
    let mut buf = vec![0u8; CHUNK];
    while !open.is_empty() && holder.is_some() && node.table.deputy_holder(pid) == holder {
        // Job control: while the process is stopped, its terminal is the home shell's.
        let stopped = node.table.stopped(pid);
        if stopped != paused {
            paused = stopped;
            for (i, modes) in saved.iter_mut() {
                let f = &open[*i].2;
                match (stopped, &modes) {
                    (true, Some(t)) => {
                        set_termios(f, t);
                    }
                    (false, _) => *modes = make_raw(f),
                    _ => {}
                }
            }
        }
        if paused {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        let got = pump(open.iter().map(|(_, _, f, _)| f), 200, &mut buf);
        // A terminal's size is watched: a change goes to the stand-in (whose kernel then
        // sends SIGWINCH to the process, as the home terminal would).
        for (key, tty, f, size) in open.iter_mut() {
            let now = if *tty { winsize_of(f) } else { None };
            if let (Some((rows, cols)), true) = (now, now != *size) {
                *size = now;
                if ch.send(&Request::RelayWinsize { key: key.clone(), rows, cols }).is_err() {
                    return;
                }
            }
        }
        let mut closed = Vec::new();
        for g in got {
            let sent = match g {
                Got::Data(i, data) => ch.send(&Request::RelayData { key: open[i].0.clone(), data }),
                Got::Closed(i) => {
                    closed.push(i);
                    ch.send(&Request::RelayEof { key: open[i].0.clone() })
                }
            };
            if sent.is_err() {
                return;
            }
        }
        for i in closed.into_iter().rev() {
            open.remove(i);
        }
    }
}

/// Home: `RelayOut` from `peer`: write what comes to the deputy's descriptors; at the end,
/// the stand-in terminals' last modes go to the home terminals.
pub fn serve_out(node: &Node, ch: &mut Channel, pid: u32, outputs: Vec<(String, i32, bool)>, peer: &str) {
    let Some(files) = admit(node, ch, pid, outputs, peer) else { return };
    let mut to: BTreeMap<String, File> = files.into_iter().map(|(key, _, f)| (key, f)).collect();
    if ch.send(&Response::Noted).is_err() || ch.set_idle_allowed().is_err() {
        return;
    }
    loop {
        match ch.recv::<Request>() {
            Ok(Request::RelayData { key, data }) => {
                if let Some(f) = to.get_mut(&key) {
                    if let Err(e) = f.write_all(&data) {
                        warn!("deputy {pid}: writing its output to {key}: {e}");
                        to.remove(&key);
                    }
                }
            }
            Ok(Request::RelayModes { key, isig, keys }) => {
                if let (Some(f), Ok(keys)) = (to.get(&key), <[u8; 3]>::try_from(keys.as_slice())) {
                    SignalKeys { isig, keys }.apply_to(f);
                }
            }
            Ok(Request::RelayEnd { ttys }) => {
                for (key, bytes) in ttys {
                    if let (Some(f), Some(t)) = (to.get(&key), termios_from(&bytes)) {
                        set_termios(f, &t);
                    }
                }
                let _ = ch.send(&Response::Noted);
                return;
            }
            Ok(other) => {
                warn!("deputy {pid}: unexpected {other:?} on its output relay");
                return;
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detached(fd: i32, what: &str, tty: Option<TtyState>) -> FdSpec {
        FdSpec::Detached { fd, what: what.into(), tty }
    }

    #[test]
    fn descriptors_of_one_object_share_one_stand_in() {
        let tty = TtyState { termios: vec![0; std::mem::size_of::<libc::termios>()], rows: 33, cols: 99 };
        let specs = [
            detached(0, "/dev/pts/7", Some(tty.clone())),
            detached(1, "pipe:[5]", None),
            detached(2, "/dev/pts/7", Some(tty)),
            FdSpec::File { fd: 3, path: "/x".into(), flags: 0, pos: 0 },
        ];
        let plan = plan(&specs).unwrap();
        let nums: Vec<i32> = plan.for_process.iter().map(|(n, _)| *n).collect();
        assert_eq!(nums.len(), 3, "{nums:?}");
        assert!(plan.own_group);
        // The terminal: in and out through one master, sized as the home's.
        let term = plan.ends.iter().find(|e| e.tty).unwrap();
        assert_eq!((term.home_fd, term.to_process.is_some(), term.from_process.is_some()), (0, true, true));
        assert_eq!(winsize_of(term.to_process.as_ref().unwrap()), Some((33, 99)));
        // The pipe on descriptor 1: output only.
        let pipe = plan.ends.iter().find(|e| !e.tty).unwrap();
        assert_eq!((pipe.home_fd, pipe.to_process.is_some(), pipe.from_process.is_some()), (1, false, true));
    }

    #[test]
    fn bytes_written_by_the_process_come_out_of_its_stand_in() {
        let plan = plan(&[detached(1, "pipe:[9]", None), detached(2, "pipe:[9]", None)]).unwrap();
        let mut out = plan.ends.into_iter().next().unwrap().from_process.unwrap();
        for (_, w) in plan.for_process {
            File::from(w).write_all(b"x").unwrap();
        }
        let mut got = Vec::new();
        out.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"xx", "both descriptors write one pipe; EOF once they are closed");
    }

    #[test]
    fn a_stdio_socket_is_refused_by_name() {
        let e = plan(&[detached(0, "socket:[77]", None)]).err().unwrap();
        assert!(e.contains("socket:[77]") && e.contains("cannot be served through the deputy"), "{e}");
    }

    #[test]
    fn a_file_read_is_reopened_only_where_it_is_the_same_and_a_file_written_goes_home() {
        let dir = crate::ScratchDir::new("relay");
        let p = dir.file("conf", b"same");
        let path = p.to_string_lossy().to_string();
        let me = crate::migrate::procinfo::identity(std::process::id()).unwrap();
        let f = File::open(&p).unwrap();
        let fd = f.as_raw_fd();
        let read = FdSpec::File { fd, path: path.clone(), flags: libc::O_RDONLY, pos: 0 };
        let ids = read_only_file_ids(std::process::id(), std::slice::from_ref(&read)).unwrap();
        assert!(!takes(&read));
        assert!(check_read_only(&read, &ids, &me).is_ok());
        std::fs::write(&p, b"changed").unwrap();
        let e = check_read_only(&read, &ids, &me).unwrap_err();
        assert!(e.contains(&path), "{e}");
        // Written in append mode: a pipe to the home; at an offset: served by the home.
        let log = FdSpec::File { fd: 7, path: "/var/log/x".into(), flags: libc::O_WRONLY | libc::O_APPEND, pos: 0 };
        let plan1 = plan(std::slice::from_ref(&log)).unwrap();
        assert!(takes(&log) && !home_served(&log) && plan1.for_process[0].0 == 7 && plan1.ends[0].home_fd == 7);
        let at = FdSpec::File { fd: 8, path: "/db".into(), flags: libc::O_RDWR, pos: 0 };
        assert!(!takes(&at) && home_served(&at) && plan(std::slice::from_ref(&at)).unwrap().for_process.is_empty());
        assert!(home_served(&FdSpec::Home { fd: 9, path: "/db".into(), flags: libc::O_RDONLY }) && !home_served(&read));
    }

    #[test]
    fn termios_bytes_round_trip_and_bad_lengths_are_refused() {
        // SAFETY: a zeroed termios is a valid value.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        t.c_lflag = libc::ECHO | libc::ICANON;
        let b = termios_bytes(&t);
        assert_eq!(termios_from(&b).unwrap().c_lflag, t.c_lflag);
        assert!(termios_from(&b[1..]).is_none());
    }
}
