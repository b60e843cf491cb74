//! The target side of a migration, run by the daemon for a peer's `Restore`: check, start
//! the stub with the migrated pid, write the pages, let it go, report.
//!
//! The pid: the original's pid is reused (clone3 set_tid), because programs cache it (glibc
//! keeps the tid in its thread descriptor; robust futexes and recursive mutexes hold it). If
//! the pid is taken here, the migration is refused; there is no renumbering.

use std::ffi::CString;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::table::{Direction, State};
use super::{files, pages, procinfo};
use crate::fault::FaultPoint;
use crate::genl::{ModuleClient, PagerRef};
use crate::image::Image;
use crate::node::Node;
use crate::peer::channel::Channel;
use crate::peer::proto::{FdSpec, Mode, Request, Response, RestoreOffer};
use crate::session::fault_channel::{self, FaultChannel};
use crate::session::Session;
use crate::uapi_gen as uapi;

pub fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Eager => "eager",
        Mode::Lazy { push: true, prefetch: true } => "lazy",
        Mode::Lazy { push: false, prefetch: true } => "lazy, no push",
        Mode::Lazy { push: true, prefetch: false } => "lazy, no prefetch",
        Mode::Lazy { push: false, prefetch: false } => "lazy, no push, no prefetch",
    }
}

/// How long the stub may take to rebuild the layout.
const LAYOUT_TIMEOUT: Duration = Duration::from_secs(30);
/// The stub finds its session descriptor here (above any descriptor the image uses).
const STUB_FD: RawFd = 1023;
/// The stub's environment: glibc must not register rseq (the image brings its own).
const STUB_ENV: &str = "GLIBC_TUNABLES=glibc.pthread.rseq=0";
/// Descriptors prepared for the stub are parked from here up, out of the way of dup2.
const PARK_FD: RawFd = 512;

/// Restores being built (from Restore to Running) at once, from all peers.
const MAX_BUILDING: usize = 8;
static BUILDING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One of the MAX_BUILDING slots, given back on drop.
struct BuildSlot;

impl BuildSlot {
    fn take() -> Option<Self> {
        use std::sync::atomic::Ordering;
        BUILDING.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_BUILDING).then_some(n + 1)).ok().map(|_| BuildSlot)
    }
}

impl Drop for BuildSlot {
    fn drop(&mut self) {
        BUILDING.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Serve one Restore that came on `ch`; the task runs here afterwards or nothing remains.
/// The migration's session takes the connection and closes it when done (after a failure
/// the source may still be streaming pages; after success it has nothing more to say, or
/// only the push of lazy mode, received here).
pub fn restore(node: &Arc<Node>, mut ch: Channel, offer: RestoreOffer, peer: &str) {
    let pid = offer.pid;
    let record = node.table.add(pid, Direction::In, &offer.source_node, offer.identity.uid[0]);
    node.update(record, |r| {
        r.home = offer.home.clone();
        r.deputy = offer.deputy;
    });
    let mode = offer.mode;
    let (token, fault_port) = (offer.token, offer.fault_port);
    let (offer_deputy, offer_home) = (offer.deputy, offer.home.clone());
    node.update(record, |r| r.stats.mode = mode_name(mode).into());
    let fail = |ch: &mut Channel, (resp, why): Fail| {
        log::warn!("restore of pid {pid} from {peer}: {why}");
        node.set_state(record, State::Failed(why.clone()));
        let _ = ch.send(&resp(why));
    };
    // The module, able to do this mode, before anything else.
    let module = match module_for(mode) {
        Ok(m) => m,
        Err(f) => return fail(&mut ch, f),
    };
    if matches!(mode, Mode::Lazy { .. }) && !node.registry.pager_listening() {
        let why = format!("{}: this daemon does not receive the module's page requests (another daemon holds them)", crate::node::hostname());
        return fail(&mut ch, refuse(why));
    }
    // What a peer can make this node's module hold at once: an image is at most MAX_VMAS
    // mappings with a path of at most PATH_MAX each (the module's policy), so about 4 MiB,
    // and at most MAX_BUILDING of them are being built at a time.
    let Some(slot) = BuildSlot::take() else {
        return fail(&mut ch, refuse(format!("{}: {MAX_BUILDING} restores in progress already; try again", crate::node::hostname())));
    };
    let mut session = Session::new(node.clone(), record, pid, ch, module);
    let (child, relay_plan, homecoming) = match run(&mut session, offer) {
        Ok(ran) => ran,
        Err(f) => return fail(&mut session.peer, f),
    };
    drop(slot);
    node.set_state(record, State::Running);
    log::info!("pid {pid} from {peer}: running");
    if super::home::is_this_node(&node.table.get(record).map(|r| r.home).unwrap_or_default()) {
        node.table.came_home(pid);
    } else if offer_deputy {
        super::deputy::watch_home(node, pid, offer_home.clone());
    }
    // Standard input/output served through the deputy: its relays to the home.
    let relay = relay_plan.and_then(|p| crate::fd::relay::start(node, p, pid, &offer_home));
    if let (Mode::Lazy { .. }, Some(pager)) = (mode, session.pager) {
        let source = SocketAddr::new(session.peer.peer_ip(), fault_port);
        let push = matches!(mode, Mode::Lazy { push: true, .. });
        session.start(FaultChannel::start(node, pager, source, token, record, push));
    }
    // The restored task is our child: record how it ends.
    let node2 = node.clone();
    let reports_stops = offer_deputy && !super::home::is_this_node(&offer_home);
    if homecoming {
        // Home in its deputy: its parent is its own again (not us), and has its status.
        std::thread::spawn(move || {
            if let Ok(p) = crate::fd::relay::pidfd(child) {
                while !crate::fd::relay::has_ended(&p) {
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
            node2.set_state(record, State::Ended("at home; its parent has its status".into()));
        });
    } else { std::thread::spawn(move || {
        use nix::sys::wait::{WaitPidFlag, WaitStatus};
        // A copy whose home keeps a deputy: its stops and continues go home too (job control
        // in the home shell); else only its end matters.
        let flags = reports_stops.then_some(WaitPidFlag::WUNTRACED | WaitPidFlag::WCONTINUED);
        let st = loop {
            match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child as i32), flags) {
                Ok(WaitStatus::Stopped(_, sig)) => {
                    super::deputy::report_stop(&node2, child, &offer_home, Some(sig as u32))
                }
                Ok(WaitStatus::Continued(_)) => super::deputy::report_stop(&node2, child, &offer_home, None),
                other => break other,
            }
        };
        let (how, status) = match st {
            Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => (State::Exited(c), Some((c as u32 & 0xff) << 8)),
            Ok(nix::sys::wait::WaitStatus::Signaled(_, s, core)) => {
                (State::KilledBy(s.to_string()), Some(s as u32 | if core { 0x80 } else { 0 }))
            }
            other => (State::Ended(format!("{other:?}")), None),
        };
        log::info!("pid {child}: {how}");
        // Every byte it wrote reaches the home before its end does (a shell's prompt after
        // the program's last line, as without migration).
        if let Some(relay) = relay {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !relay.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Its home keeps a deputy: the end goes there, unless it moved on (that kill is
        // the commit of the move, not its end).
        let r = node2.table.get(record);
        node2.set_state(record, how);
        if let (Some(r), Some(status)) = (r, status) {
            if r.deputy && !super::home::is_this_node(&r.home) && !node2.table.moved_on(child, record) {
                super::deputy::report_end(&node2, child, r.home, status);
            }
        }
    });
    }
    // The session's services (the fault channel) live as long as the task's pager, not as
    // long as this connection or the task: children it forked may still miss pages of the
    // source after it exited, and the pager ends early when the task moves on (it reads the
    // rest of its memory first). The source lets its original go when they stop.
    let services = session.detach_services();
    if let (false, Some(pager)) = (services.is_empty(), session.pager) {
        std::thread::spawn(move || {
            while ModuleClient::connect().and_then(|mut m| m.pager_alive(pager)).unwrap_or(false) {
                std::thread::sleep(Duration::from_millis(200));
            }
            log::info!("pid {child}: its pager has ended; the fault channel closes");
            for s in services {
                s.stop();
            }
        });
    }
    if let Mode::Lazy { push: true, .. } = mode {
        if let Err(e) = fault_channel::receive_push(&mut session, Instant::now()) {
            log::warn!("pid {child}: {e}");
        }
    }
}

/// Why writing into the stub failed: it was killed meanwhile (this node's OOM killer, most
/// likely, as its pages arrive), or the error itself.
fn stub_fate(stub: u32, e: impl std::fmt::Display) -> String {
    // A task the OOM killer chose is still exiting when the write fails: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let status = std::fs::read_to_string(format!("/proc/{stub}/status")).unwrap_or_default();
        let state = status.lines().find_map(|l| l.strip_prefix("State:")).map(str::trim).unwrap_or("gone");
        if state.starts_with('Z') || state.starts_with('X') || state == "gone" {
            return format!("the copy being built was killed ({e}); out of memory here? (see the kernel log)");
        }
        if Instant::now() > deadline {
            return e.to_string();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The module of this node, able to restore in `mode`.
fn module_for(mode: Mode) -> Result<ModuleClient, Fail> {
    super::source::module_for(mode).map_err(|r| match r {
        crate::error::Refused::MissingFeature { feature, .. } => {
            refuse(format!("the migr module on {} lacks the {feature} feature", crate::node::hostname()))
        }
        other => refuse(format!("module: {other}")),
    })
}

type Fail = (fn(String) -> Response, String);

fn refuse(why: impl std::fmt::Display) -> Fail {
    (Response::Refused, why.to_string())
}

fn error(why: impl std::fmt::Display) -> Fail {
    (Response::Error, why.to_string())
}

/// A stub that is killed and reaped unless disarmed.
struct Stub {
    pid: u32,
    armed: bool,
}

impl Drop for Stub {
    fn drop(&mut self) {
        if self.armed {
            let p = nix::unistd::Pid::from_raw(self.pid as i32);
            let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(p, None);
        }
    }
}

/// Is `pid` free here? If it is our own original of a lazy migration, parked to serve its
/// pages (or just released), and coming back (it moves on from the node it went to only once every page is
/// there, so that node closes its fault channel and we let the original go), wait for it
/// to end, at most ORIGINAL_ENDS.
fn pid_free_soon(node: &Node, pid: u32) -> bool {
    const ORIGINAL_ENDS: Duration = Duration::from_secs(10);
    let exists = || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok();
    // Our original: a migration out of this pid, serving pages or just ended (killed, not
    // yet reaped by its parent).
    let ours_parked = || {
        node.table.all().iter().any(|r| {
            r.pid == pid && r.direction == Direction::Out && matches!(r.state, State::ServingPages { .. } | State::Released { .. } | State::Migrated { .. })
        })
    };
    let deadline = Instant::now() + ORIGINAL_ENDS;
    while exists() {
        if !ours_parked() || Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// What a restore leaves running: the task's pid, the stand-ins of its standard input/output
/// if its home serves them (`fd::relay`), and whether it came home.
type Restored = (u32, Option<crate::fd::relay::Plan>, bool);

/// The restore proper.
fn run(session: &mut Session, offer: RestoreOffer) -> Result<Restored, Fail> {
    let (pid, record) = (offer.pid, session.record);
    let node = session.node.clone();
    let image = Image::from_attrs(offer.attrs.clone()).map_err(|e| refuse(e.to_string()))?;
    node.update(record, |r| r.comm = image.comm.clone());
    // Back home, where its deputy holds the pid: the deputy becomes it again (below).
    let homecoming = super::home::is_this_node(&offer.home) && node.table.deputy_holder(pid).is_some();
    if homecoming {
        super::deputy::take_back_descriptors(pid, &offer.fds).map_err(refuse)?;
        // The deputy becomes the stub with its own credentials (the process's user's): the
        // stub can take no other ids.
        let held = procinfo::identity(pid).map_err(|e| refuse(format!("its deputy: {e}")))?;
        let sorted = |g: &[u32]| {
            let mut g = g.to_vec();
            g.sort_unstable();
            g
        };
        let want = &offer.identity;
        if held.uid != want.uid || held.gid != want.gid || sorted(&held.groups) != sorted(&want.groups) {
            return Err(refuse("its user or group ids changed away from home: coming home with them is not supported yet"));
        }
    } else if !pid_free_soon(&node, pid) {
        return Err(refuse(format!("pid {pid} is in use on this node{}", procinfo::holder_of(pid))));
    }
    for f in &offer.files {
        files::check(f).map_err(refuse)?;
    }
    let stub = node.config.stub.clone();
    if !std::path::Path::new(&stub).exists() {
        return Err(refuse(format!("restore stub {stub} is missing")));
    }
    let mut fds = Vec::new();
    crate::fd::stdio::new_arrival(pid).map_err(|e| refuse(e.to_string()))?;
    let mut relay_plan = if offer.deputy && !homecoming { Some(crate::fd::relay::plan(&offer.fds).map_err(refuse)?) } else { None };
    // Files of the home served at any offset (`fd::home_file`): a stand-in each.
    let mut homes = Vec::new();
    for spec in offer.fds.iter().filter(|_| !homecoming) {
        if relay_plan.is_some() {
            if crate::fd::relay::takes(spec) {
                continue;
            }
            let served_by_home = crate::fd::relay::home_served(spec)
                || crate::fd::relay::check_read_only(spec, &offer.fd_ids, &offer.identity)
                    .inspect_err(|e| log::info!("pid {pid}: {e}: read through its home"))
                    .is_err();
            if served_by_home {
                let (fd, path, flags) = match spec {
                    FdSpec::File { fd, path, flags, .. } | FdSpec::Home { fd, path, flags } => (*fd, path.clone(), *flags),
                    FdSpec::Detached { .. } => continue, // taken above
                };
                if fd >= PARK_FD || homes.len() >= super::home_calls::MAX_HOME_FDS {
                    return Err(refuse(format!("descriptor {fd} ({path}): too many or too high to serve through the home")));
                }
                let (theirs, ours) = crate::fd::home_file::stand_in(&path).map_err(|e| refuse(format!("a stand-in for {path}: {e}")))?;
                fds.push((fd, theirs));
                homes.push(crate::fd::home_file::HomeFd { fd, path, flags, ours });
                continue;
            }
        }
        let (num, f) = crate::fd::restore(spec, pid, &offer.identity).map_err(|e| refuse(e.to_string()))?;
        if num >= PARK_FD {
            return Err(refuse(format!("descriptor {num} is too high to restore")));
        }
        fds.push((num, OwnedFd::from(f)));
    }

    let mut attrs = offer.attrs.clone();
    attrs.retain(|(t, _)| *t != uapi::A_TASK_MODE);
    let mode = if matches!(offer.mode, Mode::Lazy { .. }) { uapi::MODE_LAZY } else { uapi::MODE_EAGER };
    attrs.push((uapi::A_TASK_MODE, mode.to_ne_bytes().to_vec()));
    let (ctl, stub_fd, pager_id) = session.module.restore(&attrs).map_err(|e| refuse(format!("module: {e}")))?;
    session.pager = pager_id.map(|id| PagerRef { pid, id });
    // SAFETY: the module just installed both descriptors in this process for us.
    let (ctl, stub_fd) = unsafe { (OwnedFd::from_raw_fd(ctl), OwnedFd::from_raw_fd(stub_fd)) };

    node.faults.check(FaultPoint::TargetBeforeStub).map_err(error)?;
    let id = &offer.identity;
    let groups = if id.groups.is_empty() {
        "-".to_string()
    } else {
        id.groups.iter().map(|g| g.to_string()).collect::<Vec<_>>().join(",")
    };
    let vvar = image.vvar().map(|v| v.start).unwrap_or(0);
    let argv = [
        stub.clone(),
        STUB_FD.to_string(),
        format!("{vvar:x}"),
        format!("{:x}", image.vdso()),
        format!("{:x}", image.gs_base()),
        format!("{},{},{}", id.uid[0], id.uid[1], id.uid[2]),
        format!("{},{},{}", id.gid[0], id.gid[1], id.gid[2]),
        groups,
        id.cwd.clone(),
        image.comm.clone(),
    ];
    // A copy whose home keeps its deputy gets a group of its own here, so that its tree's
    // group is its alone (`home_calls` answers for it as the home group).
    let own_group = relay_plan.as_ref().is_some_and(|p| p.own_group) || offer.deputy;
    let home_fds: Vec<i32> = homes.iter().map(|h| h.fd).collect();
    let mut tty_master = relay_plan.as_ref().and_then(|p| p.terminal_master());
    let filter = (offer.deputy && !homecoming).then(|| super::home_calls::PreparedFilter::new(&home_fds, tty_master.is_some()));
    if let Some(p) = relay_plan.as_mut() {
        fds.append(&mut p.for_process);
    }
    let child = if homecoming {
        let mut argv = argv.to_vec();
        argv[1] = "@FD@".into();
        session
            .module
            .deputy_become(pid, stub_fd.as_raw_fd(), &argv, &[STUB_ENV.to_string()])
            .map_err(|e| refuse(format!("its deputy cannot become it: {e}")))?;
        // The deputy is gone: what it held is the process's again.
        node.table.deputy_ended(pid, "came home");
        log::info!("pid {pid}: home again in its deputy");
        pid
    } else {
        let (child, listener) = spawn_stub(pid, &argv, &fds, &stub_fd, own_group, filter.as_ref()).map_err(|e| match e {
            nix::errno::Errno::EEXIST => refuse(format!("pid {pid} is in use on this node{}", procinfo::holder_of(pid))),
            e => refuse(format!("cannot start the stub: {e}")),
        })?;
        // Its calls that name its home's processes or files (getppid, kill of its parent,
        // a file at an offset...), from now: the stub's own opens are looked at too. If the
        // restore fails, the stub's end ends the supervisor.
        if let Some(l) = listener {
            super::home_calls::supervise(&node, child, &offer.home, l, std::mem::take(&mut homes), tty_master.take());
        }
        child
    };
    drop(stub_fd);
    drop(fds);
    let mut guard = Stub { pid: child, armed: true };
    procinfo::apply_rlimits(child, &id.rlimits);

    wait_layout(&ctl, child)?;
    node.faults.check(FaultPoint::TargetAfterLayout).map_err(error)?;
    let mem = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/{child}/mem"))
        .map_err(|e| error(format!("opening the stub's memory: {e}")))?;
    let ch = &mut session.peer;
    ch.send(&Response::Ready).map_err(|e| error(format!("link lost: {e}")))?;

    let mut bytes = 0u64;
    let (started, cpu_started, mut writing) = (Instant::now(), pages::thread_cpu(), Duration::ZERO);
    loop {
        match ch.recv::<Request>() {
            Ok(Request::Pages(batch)) => {
                let t = Instant::now();
                let n = pages::write_batch(&mem, &batch).map_err(|e| error(stub_fate(child, e)))?;
                writing += t.elapsed();
                bytes += n;
                node.update(record, |r| r.stats.pages_eager += n / 4096);
                node.faults.check(FaultPoint::TargetMidPages).map_err(error)?;
                node.update(record, |r| r.bytes = bytes);
            }
            Ok(Request::PagerPages(batch)) => {
                let n = batch.runs.iter().map(|(_, d)| d.len() as u64).sum::<u64>();
                let pager = session.pager.ok_or_else(|| error("pager pages for a task without a pager"))?;
                session
                    .module
                    .page_batch(pager, &batch, uapi::PAGE_KIND_EAGER)
                    .map_err(|e| error(format!("delivering pages to the pager: {e}")))?;
                bytes += n;
                node.update(record, |r| r.stats.pages_eager += n / 4096);
            }
            Ok(Request::Go) => {
                node.faults.check(FaultPoint::TargetBeforeGo).map_err(error)?;
                let all = started.elapsed();
                log::info!("pid {pid}: {} KiB of pages in {} ms ({} ms of CPU): {} ms receiving and decrypting, {} ms writing",
                    bytes >> 10, all.as_millis(), (pages::thread_cpu() - cpu_started).as_millis(), (all - writing).as_millis(), writing.as_millis());
                break;
            }
            Ok(other) => return Err(error(format!("unexpected {other:?} during transfer"))),
            Err(e) => return Err(error(format!("link to the source lost during transfer: {e}"))),
        }
    }
    // SAFETY: MIGR_IOC_GO takes no argument and the descriptor is our control file.
    let r = unsafe { libc::ioctl(ctl.as_raw_fd(), uapi::IOC_GO as _, 0) };
    if r < 0 {
        return Err(error(format!("restore failed: {}", std::io::Error::last_os_error())));
    }
    guard.armed = false;
    session.peer.send(&Response::Running { pid: child }).map_err(|e| {
        // It runs here now; the source will thaw its copy when it hears nothing. We cannot
        // tell which side the user wants, so the newcomer goes.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child as i32), nix::sys::signal::Signal::SIGKILL);
        error(format!("link lost before the source heard that pid {child} runs: {e}"))
    })?;
    drop(ctl);
    Ok((child, relay_plan, homecoming))
}

/// Wait until the stub has rebuilt the layout (the control descriptor polls readable).
fn wait_layout(ctl: &OwnedFd, child: u32) -> Result<(), Fail> {
    let deadline = Instant::now() + LAYOUT_TIMEOUT;
    loop {
        // SAFETY: MIGR_IOC_STATUS takes no argument and the descriptor is our control file.
        let st = unsafe { libc::ioctl(ctl.as_raw_fd(), uapi::IOC_STATUS as _, 0) };
        if st == uapi::RESTORE_STATE_LAYOUT_READY as i32 {
            return Ok(());
        }
        if st < 0 {
            // ioctl(2) returns -1 and leaves the module's error code in errno.
            let e = std::io::Error::last_os_error();
            return Err(error(format!("rebuilding the address space failed: {e}")));
        }
        match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child as i32), Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => {
                return Err(refuse(format!("restore stub exited with status {c} (see the task's stderr)")))
            }
            Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => {
                return Err(error(format!("restore stub killed by {s}")))
            }
            // Not our child (a deputy become the stub): gone, or a zombie of its parent's.
            Err(nix::errno::Errno::ECHILD) if !runs(child) => return Err(error("restore stub is gone")),
            _ => {}
        }
        if Instant::now() > deadline {
            return Err(error("restore stub did not rebuild the address space in time"));
        }
        let mut pfd = [nix::poll::PollFd::new(ctl_borrow(ctl), nix::poll::PollFlags::POLLIN)];
        let _ = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(50u16));
    }
}

/// Whether `pid` exists and has not ended (a zombie has).
fn runs(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z'))
}

fn ctl_borrow(fd: &OwnedFd) -> std::os::fd::BorrowedFd<'_> {
    use std::os::fd::AsFd;
    fd.as_fd()
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Start the stub as our child with pid `pid`, the descriptors in place, and exec it.
/// `own_group`: the child gets a process group of its own (see `fd::relay::Plan`).
/// `filter`: installed in the child before the exec; its listener is returned.
fn spawn_stub(
    pid: u32,
    argv: &[String],
    fds: &[(RawFd, OwnedFd)],
    stub_fd: &OwnedFd,
    own_group: bool,
    filter: Option<&super::home_calls::PreparedFilter>,
) -> Result<(u32, Option<OwnedFd>), nix::errno::Errno> {
    // Everything the child needs is prepared before clone: after it, only dup2/execve/_exit
    // (async-signal-safe) run in the child.
    let cargv: Vec<CString> = argv.iter().map(|a| CString::new(a.as_str()).unwrap_or_default()).collect();
    let mut pargv: Vec<*const libc::c_char> = cargv.iter().map(|a| a.as_ptr()).collect();
    pargv.push(std::ptr::null());
    let env = [CString::new(STUB_ENV).unwrap_or_default()];
    let penv = [env[0].as_ptr(), std::ptr::null()];
    let mut parked = Vec::new();
    for (num, f) in fds {
        let high = nix::fcntl::fcntl(f.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(PARK_FD))?;
        // SAFETY: fcntl just created this descriptor.
        parked.push((*num, unsafe { OwnedFd::from_raw_fd(high) }));
    }
    // The child sends the filter's listener back on this pair (close-on-exec both).
    let pair = match filter {
        Some(_) => Some(nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::Stream,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )?),
        None => None,
    };
    // The child's end out of the way of the dup2s below, as the parked descriptors are.
    let pair = match pair {
        Some((ours, theirs)) => {
            let high = nix::fcntl::fcntl(theirs.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(PARK_FD))?;
            // SAFETY: fcntl just created this descriptor.
            Some((ours, unsafe { OwnedFd::from_raw_fd(high) }))
        }
        None => None,
    };
    let tid: [libc::pid_t; 1] = [pid as libc::pid_t];
    let args = CloneArgs {
        exit_signal: libc::SIGCHLD as u64,
        set_tid: tid.as_ptr() as u64,
        set_tid_size: 1,
        ..Default::default()
    };
    // SAFETY: clone3 with no CLONE_VM behaves like fork; the child only calls dup2, execve
    // and _exit on memory prepared above.
    let r = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) };
    if r < 0 {
        return Err(nix::errno::Errno::last());
    }
    if r == 0 {
        // SAFETY: see above; the descriptors are valid in the child (inherited).
        unsafe {
            for (num, f) in &parked {
                if libc::dup2(f.as_raw_fd(), *num) < 0 {
                    libc::_exit(120);
                }
            }
            if libc::dup2(stub_fd.as_raw_fd(), STUB_FD) < 0 {
                libc::_exit(121);
            }
            if own_group && libc::setpgid(0, 0) < 0 {
                libc::_exit(123);
            }
            if let (Some(f), Some((_, theirs))) = (filter, pair.as_ref()) {
                if !f.install_and_send(theirs.as_raw_fd()) {
                    libc::_exit(124);
                }
            }
            // Nothing of the daemon's may leak into the image (exec would close only the
            // close-on-exec ones).
            for fd in 0..STUB_FD {
                if !parked.iter().any(|(num, _)| *num == fd) {
                    libc::close(fd);
                }
            }
            libc::syscall(libc::SYS_close_range, (STUB_FD + 1) as libc::c_uint, libc::c_uint::MAX, 0 as libc::c_uint);
            libc::execve(pargv[0], pargv.as_ptr(), penv.as_ptr());
            libc::_exit(122);
        }
    }
    let child = r as u32;
    let Some((ours, theirs)) = pair else { return Ok((child, None)) };
    drop(theirs);
    match super::home_calls::receive_listener(&ours) {
        Ok(l) => Ok((child, Some(l))),
        Err(e) => {
            log::warn!("pid {pid}: the stub could not install its home-call filter: {e}");
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child as i32), nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child as i32), None);
            Err(nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
        }
    }
}

