//! The source side of a migration, run by the daemon for a local `migctl migrate`.
//!
//! Order matters for atomicity: everything that can be checked without touching the task is
//! checked first (peer reachable and authenticated, the module able to do it); then the task
//! is frozen; nothing is given up until the target says the task runs there. Every failure
//! path thaws the original (the session does, on drop, and in any case the module when the
//! hold descriptor closes).

use std::fs::File;
use std::net::TcpStream;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::table::State;
use super::{files, pages, procinfo};
use crate::error::{CtlError, Failure, ModuleError, Refused};
use crate::fault::FaultPoint;
use crate::genl::ModuleClient;
use crate::image::{Frozen, Image, Vma};
use crate::local::{LocalEvent, Outcome};
use crate::node::Node;
use crate::peer::channel::{Channel, ChannelError};
use crate::peer::ping::resolve;
use crate::peer::proto::{Mode, Request, Response, RestoreOffer};
use crate::session::page_server::PageServer;
use crate::session::Session;
use crate::uapi::Feature;
use crate::uapi_gen as uapi;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a local caller asked for.
pub struct Migration {
    pub pid: u32,
    pub to: String,
    pub mode: Mode,
    pub timeout_ms: u32,
    /// Leaving its home: keep the original there as its deputy (`migrate::deputy`); None:
    /// the default (a deputy when it leaves home; a guest carries on what it has).
    pub deputy: Option<bool>,
    /// Its record in the node's table.
    pub record: u64,
}

/// The features of this node's module that `mode` needs.
pub fn needed_features(mode: Mode) -> &'static [Feature] {
    match mode {
        Mode::Eager => &[Feature::StopAndCopy],
        Mode::Lazy { .. } => &[Feature::StopAndCopy, Feature::Lazy],
    }
}

/// Connect this node's module and check it can do `mode`.
pub fn module_for(mode: Mode) -> Result<ModuleClient, Refused> {
    let mut module = ModuleClient::connect().map_err(|e| Refused::Other(e.to_string()))?;
    let info = module.info().map_err(|e| Refused::Other(e.to_string()))?;
    info.check_protocol().map_err(|e| Refused::Other(e.to_string()))?;
    for f in needed_features(mode) {
        info.require(*f, "this node")?;
    }
    Ok(module)
}

/// A task that came here lazily and still misses pages of its source cannot travel on as it
/// is (those pages are in neither its page tables nor /proc/PID/mem: the module refuses,
/// `lazy-pages-pending`). Bring them here first: the fault channel of its pager asks the
/// source for every page it still holds (`Rest`; with push on, the push brings them anyway),
/// the pager places each in every address space of the task's tree that misses it (the task,
/// a child it forked here, a PROT_NONE range alike), and then ends as complete: what is
/// still missing is what the source never had, zeros. The task keeps running meanwhile.
///
/// Which pager: the task's own if it is the one that came; for a child forked here, its
/// nearest ancestor's; if none is left (a double fork, its parent gone), every pager of this
/// node (only tried after the module said this task's memory is served by one).
fn finish_paging_in(node: &Node, m: &mut ModuleClient, pid: u32) -> Result<(), Failure> {
    let mut candidates = Vec::new();
    let mut at = pid;
    for _ in 0..64 {
        if let Some(p) = node.registry.pager_of(at) {
            candidates.push(p);
            break;
        }
        match parent_of(at) {
            Some(pp) if pp > 1 => at = pp,
            _ => break,
        }
    }
    if candidates.is_empty() {
        candidates = node.registry.pagers();
    }
    if candidates.is_empty() {
        // Its pager's fault channel is gone (this daemon restarted): the pages are lost.
        return Err(crate::uapi::Refusal::LazyPagesPending.into());
    }
    let started = Instant::now();
    let mut bytes = 0;
    for pager in candidates {
        match node.registry.pull_rest(pager) {
            None => continue,
            Some(Some(answer)) => match answer.recv() {
                Ok(Ok(n)) => bytes += n,
                Ok(Err(e)) => return Err(Failure::failed(format!("pid {pid}: bringing its memory here: {e}"))),
                Err(_) => return Err(Failure::failed(format!("pid {pid}: its fault channel ended before its memory was here"))),
            },
            // The push brings every page: wait for it to end (a push that breaks ends the
            // pager as failed, so this ends too).
            Some(None) => {
                while m.pager_alive(pager).unwrap_or(false) {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        // ESRCH: it ended meanwhile by itself (the push finished, or the task tree exited).
        match m.pager_end(pager, uapi::PAGER_END_COMPLETE) {
            Ok(()) | Err(CtlError::Module(ModuleError::Errno(nix::errno::Errno::ESRCH))) => {}
            Err(e) => return Err(Failure::failed(e)),
        }
    }
    log::info!(
        "pid {pid}: brought the rest of its memory here from where it came from ({} KiB in {} ms) before moving it on",
        bytes >> 10,
        started.elapsed().as_millis()
    );
    Ok(())
}

/// The parent of `pid`, from /proc.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name's closing parenthesis: state, then the parent's pid.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

pub fn migrate(
    node: &Arc<Node>,
    req: Migration,
    mem: File,
    events: &mut dyn FnMut(LocalEvent),
) -> Result<Outcome, Failure> {
    let Migration { pid, ref to, mode, timeout_ms, deputy, record } = req;
    let home = super::home::home_of(node, pid);
    // A deputy is left where the process starts out (unless asked not to); a guest that has
    // one carries that on.
    let leaves_deputy = deputy.unwrap_or(true) && super::home::is_this_node(&home);
    let has_deputy = leaves_deputy || node.table.copy_has_deputy(pid);
    if deputy == Some(true) && !has_deputy {
        return Err(Failure::refused(format!("pid {pid} is a guest here without a deputy on its home {home} (a deputy is left when a process leaves its home)")));
    }
    if let Some(at) = node.table.deputy_holder(pid) {
        return Err(Failure::refused(format!("pid {pid} here is the deputy of its copy on {at}; migrate it from there")));
    }
    let to = if to == super::home::HOME {
        let home = super::home::target_for(node, pid).map_err(Failure::refused)?;
        node.update(record, |r| r.peer = home.clone());
        home
    } else {
        to.clone()
    };
    let to = to.as_str();
    node.update(record, |r| r.stats.mode = super::target::mode_name(mode).into());
    let started = Instant::now();
    // 1. The peer, before anything happens to the task.
    let unreachable = |why: String| Failure::Refused(Refused::TargetUnreachable { target: to.into(), why });
    let addr = resolve(to).map_err(|e| unreachable(e.to_string()))?;
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|e| unreachable(e.to_string()))?;
    let ch = Channel::initiate(stream, &node.identity).map_err(|e| match e {
        ChannelError::Auth => {
            Failure::refused(format!("target {to} refused authentication (is this node's public key in its peers file?)"))
        }
        other => Failure::refused(format!("target {to}: {other}")),
    })?;
    ch.set_timeout(node.config.peer_timeout).map_err(Failure::refused)?;

    // Confinement the module does not see (an LSM label, a cgroup's limits): refused before
    // anything happens to the task.
    if let Some(why) = procinfo::confinement_refusal(pid) {
        return Err(Failure::refused(why));
    }
    // With a deputy, descriptors it cannot serve are refused before the freeze (they are
    // read again from the frozen task, which may have opened or closed some meanwhile).
    if has_deputy {
        let early = crate::fd::dump(pid).map_err(Failure::refused)?;
        crate::fd::relay::servable(&early).map_err(Failure::refused)?;
    }

    if node.faults.armed(FaultPoint::SourceProcessGoneBeforeFreeze) {
        make_process_vanish(pid);
    }

    // 2. Freeze; first, a task still paging in from the node it came from gets the rest of
    // its memory here.
    let mut module = module_for(mode).map_err(Failure::Refused)?;
    if leaves_deputy && !module.info().map_err(Failure::refused)?.has(crate::uapi::Feature::Deputy) {
        return Err(Failure::refused("the migr module on this node lacks the deputy feature (--no-deputy moves it without one)"));
    }
    let mut session = Session::new(node.clone(), record, pid, ch, module);
    // Opened before the freeze, whose proof check makes it the frozen task's (the pid cannot
    // have passed to another process in between: the proof, opened before, would not match
    // it); without it pages are read through /proc/PID/mem only (`pages::TaskMemory`).
    let pidfd = crate::fd::relay::pidfd(pid).ok();
    let hold_ms = node.config.hold_timeout.as_millis().min(u32::MAX as u128) as u32;
    let mut paged_in = false;
    // A copy whose home keeps its deputy carries migr's own filter (`home_calls`).
    let migr_filter = super::home_calls::listener_for(pid);
    let (session_id, hold_fd, mut image) = loop {
        let filter = migr_filter.as_deref().map(|l| l.as_fd());
        let reply = session.module.freeze(pid, timeout_ms, hold_ms, mem.as_fd(), filter).map_err(Failure::refused)?;
        match Frozen::from_reply(reply).map_err(Failure::refused)? {
            // Refused before anything happened to the task: bring its pages here, once.
            Frozen::Refused(crate::uapi::Refusal::LazyPagesPending) if !paged_in => {
                paged_in = true;
                finish_paging_in(node, &mut session.module, pid)?;
            }
            Frozen::Refused(why) => return Err(why.into()),
            Frozen::Session { session, hold_fd, image } => break (session, hold_fd, image),
        }
    };
    let task_mem = pages::TaskMemory::new(pid, mem.try_clone().map_err(|e| Failure::failed(format!("pid {pid}: its memory: {e}")))?, pidfd);
    let frozen_at = Instant::now();
    // SAFETY: the module just installed this descriptor in our process for us.
    session.hold(session_id, unsafe { OwnedFd::from_raw_fd(hold_fd) });
    node.update(record, |r| {
        r.comm = image.comm.clone();
        r.state = State::Frozen;
    });
    log::info!("pid {pid} ({}) frozen: {} mappings", image.comm, image.vmas.len());

    node.faults.check(FaultPoint::SourceAfterFreeze).map_err(Failure::failed)?;

    // 3. What userspace reads: identity, descriptors, mapped files.
    let identity = procinfo::identity(pid).map_err(Failure::refused)?;
    let fds = crate::fd::dump(pid).map_err(Failure::refused)?;
    let mut file_ids = Vec::new();
    for path in image.files() {
        file_ids.push(files::identify(&path).map_err(|e| Failure::refused(format!("mapped file {e}")))?);
    }
    let fd_ids = if has_deputy { crate::fd::relay::read_only_file_ids(pid, &fds).map_err(Failure::refused)? } else { Vec::new() };
    let pagemap = File::open(format!("/proc/{pid}/pagemap")).map_err(|e| Failure::refused(format!("pagemap: {e}")))?;
    let lazy = matches!(mode, Mode::Lazy { .. });
    let (eager_vmas, lazy_vmas): (Vec<Vma>, Vec<Vma>) =
        image.vmas.iter().cloned().partition(|v| !(lazy && v.is_lazy()));
    let runs = pages::scan(&pagemap, &eager_vmas).map_err(|e| Failure::refused(format!("pagemap: {e}")))?;
    let lazy_runs = pages::scan(&pagemap, &lazy_vmas).map_err(|e| Failure::refused(format!("pagemap: {e}")))?;
    let total = pages::total_bytes(&runs);
    let mut token = [0u8; 8];
    getrandom::getrandom(&mut token).map_err(Failure::refused)?;
    let token = u64::from_ne_bytes(token);
    let image_bytes: u64 = image.attrs.iter().map(|(_, p)| p.len() as u64 + 4).sum();
    node.update(record, |r| r.stats.image_bytes = image_bytes);

    // A nanosleep in progress keeps running while we migrate, as it would locally.
    adjust_restart(&mut image, frozen_at.elapsed());
    let offer = RestoreOffer {
        source_node: crate::node::hostname(),
        home: home.clone(),
        pid,
        mode,
        fault_port: node.config.fault_port,
        token,
        attrs: image.attrs.clone(),
        files: file_ids,
        fds,
        identity,
        deputy: has_deputy,
        fd_ids,
    };
    let link = |e: ChannelError| Failure::failed(format!("link to {to} lost: {e}"));
    let ch = &mut session.peer;
    ch.send(&Request::Restore(Box::new(offer))).map_err(link)?;
    match ch.recv::<Response>().map_err(link)? {
        Response::Ready => {}
        Response::Refused(why) => return Err(Failure::refused(format!("target {to}: {why}"))),
        Response::Error(e) => return Err(Failure::failed(format!("target {to}: {e}"))),
        other => return Err(Failure::failed(format!("target {to}: unexpected {other:?}"))),
    }

    // 4. Pages.
    node.set_state(record, State::Transferring);
    let mut sent = 0u64;
    let (pages_started, cpu_started, mut sending) = (Instant::now(), pages::thread_cpu(), Duration::ZERO);
    pages::read_batches(&task_mem, &runs, |batch, done| {
        sent += batch.runs.iter().map(|(_, d)| d.len() as u64).sum::<u64>();
        let t = Instant::now();
        ch.send_batch(Request::Pages, &batch).map_err(link)?;
        sending += t.elapsed();
        events(LocalEvent::Progress { sent: done, total });
        node.update(record, |r| r.bytes = sent);
        Ok::<(), Failure>(())
    })?;
    node.update(record, |r| {
        r.stats.wire_bytes += sent;
        r.stats.pages_eager += sent / pages::PAGE;
    });
    let all = pages_started.elapsed();
    log::info!("pid {pid}: {} KiB of pages in {} ms ({} ms of CPU): {} ms reading, {} ms encoding, encrypting and sending",
        sent >> 10, all.as_millis(), (pages::thread_cpu() - cpu_started).as_millis(), (all - sending).as_millis(), sending.as_millis());

    // 5. Go, and give up the original only once the target says it runs.
    node.faults.check(FaultPoint::SourceBeforeGo).map_err(Failure::failed)?;
    ch.send(&Request::Go).map_err(link)?;
    let remote_pid = match ch.recv::<Response>().map_err(link)? {
        Response::Running { pid } => pid,
        Response::Error(e) | Response::Refused(e) => return Err(Failure::failed(format!("target {to}: {e}"))),
        other => return Err(Failure::failed(format!("target {to}: unexpected {other:?}"))),
    };
    let frozen_ms = frozen_at.elapsed().as_millis() as u64;
    node.update(record, |r| r.stats.frozen_ms = frozen_ms);
    let outcome = Outcome {
        pid,
        node: to.into(),
        remote_pid,
        bytes: sent,
        total_ms: started.elapsed().as_millis() as u64,
        frozen_ms,
    };
    super::home::tell_home(node, pid, home, to);
    node.update(record, |r| r.deputy = leaves_deputy);
    let Mode::Lazy { push, prefetch } = mode else {
        // Recorded first: the node's waiter of a copy that moves on (killed by this commit)
        // reads it, so as not to report that end to the home.
        node.set_state(record, State::Migrated { to: to.into(), pid: remote_pid });
        session.commit(to, leaves_deputy);
        if leaves_deputy {
            super::deputy::committed(node, pid, record);
        }
        events(LocalEvent::Done(outcome.clone()));
        return Ok(outcome);
    };

    // 6. Lazy: the task runs there; the original stays parked and the page server serves it
    // until the target has every page (push) or its task is gone (no push).
    session.hand_over();
    node.set_state(record, State::ServingPages { to: to.into(), pid: remote_pid });
    events(LocalEvent::Done(outcome.clone()));
    let running_at = Instant::now();
    let server = PageServer::start(node, token, &task_mem, lazy_vmas, lazy_runs, prefetch, record)
        .map_err(|e| Failure::failed(format!("page server: {e}")))?;
    session.start(server.clone());
    let result = if push {
        let mut pushed = |sent, total| events(LocalEvent::Pushed { sent, total });
        server.push(&mut session.peer, &mut pushed).map_err(|e| e.to_string())
    } else {
        server.wait_done()
    };
    session.stop_services();
    session.commit(to, leaves_deputy);
    if leaves_deputy {
        super::deputy::committed(node, pid, record);
    }
    let ms = running_at.elapsed().as_millis() as u64;
    match result {
        Ok(()) => {
            node.update(record, |r| r.stats.complete_ms = ms.max(1));
            node.set_state(record, State::Released { to: to.into(), pid: remote_pid, after_ms: ms });
            events(LocalEvent::Released { after_ms: ms });
            log::info!("pid {pid}: every page is on {to}; original released after {ms} ms");
            Ok(outcome)
        }
        Err(e) => {
            log::warn!("pid {pid}: lazy phase on {to} broken: {e}; original ended, the copy there will fault on missing pages");
            node.set_state(record, State::LazyBroken(e.to_string()));
            Err(Failure::failed(e))
        }
    }
}

fn adjust_restart(image: &mut Image, elapsed: Duration) {
    let is_sleep = image
        .attrs
        .iter()
        .any(|(t, p)| *t == uapi::A_TASK_RESTART && p.as_slice() == uapi::RESTART_NANOSLEEP.to_ne_bytes());
    if let (true, Some(rem)) = (is_sleep, image.attr_u64(uapi::A_TASK_RESTART_REMAINING_NS)) {
        image.set_attr_u64(uapi::A_TASK_RESTART_REMAINING_NS, rem.saturating_sub(elapsed.as_nanos() as u64));
    }
}

/// Fault injection: the process exits and is reaped before the freeze (the race between the
/// caller's ptrace proof and the freeze), so the module sees a pid that no longer exists.
fn make_process_vanish(pid: u32) {
    log::warn!("fault injected at source-process-gone-before-freeze: killing pid {pid}");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}
