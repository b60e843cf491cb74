//! The source side of a migration, run by the daemon for a local `migctl migrate`.
//!
//! Order matters for atomicity: everything that can be checked without touching the task is
//! checked first (peer reachable and authenticated); then the task is frozen; nothing is
//! given up until the target says the task runs there. Every failure path thaws the
//! original (explicitly, and in any case when the hold descriptor closes).

use std::fs::File;
use std::net::TcpStream;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::lazy_source::PageServer;
use super::{files, pages, procinfo, table};
use crate::genl::ModuleClient;
use crate::image::{Frozen, Image, Vma};
use crate::local::{LocalEvent, Outcome};
use crate::peer::channel::{Channel, ChannelError};
use crate::peer::ping::resolve;
use crate::peer::proto::{Mode, PageBatch, Request, Response, RestoreOffer};
use std::os::unix::fs::FileExt;
use crate::uapi_gen as uapi;

/// A silent peer is given up after this long.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The module resumes a task left parked this long without thaw or commit: the last resort
/// if this daemon hangs (if it dies, its hold descriptor closes and the task resumes at once).
const HOLD_TIMEOUT_MS: u32 = 600_000;

pub struct Failure {
    pub refused: bool,
    pub reason: String,
}

fn refused(reason: impl Into<String>) -> Failure {
    Failure { refused: true, reason: reason.into() }
}

fn failed(reason: impl Into<String>) -> Failure {
    Failure { refused: false, reason: reason.into() }
}

static LISTEN_PORT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(crate::peer::DEFAULT_PORT);

/// The port this daemon listens on (for the fault channels of lazy migrations).
pub fn set_listen_port(p: u16) {
    LISTEN_PORT.store(p, std::sync::atomic::Ordering::Relaxed);
}

/// A frozen task: thawed on drop unless committed, or ended if it already runs elsewhere.
struct FrozenTask {
    module: ModuleClient,
    session: u32,
    _hold: OwnedFd,
    pid: u32,
    committed: bool,
    runs_elsewhere: bool,
}

impl FrozenTask {
    fn commit(&mut self, to: &str) {
        if let Err(e) = self.module.commit(self.session) {
            // The task runs on the target; ending the original is what is left to do.
            log::error!("pid {}: runs on {to} but commit failed: {e}; killing the original", self.pid);
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), nix::sys::signal::Signal::SIGKILL);
        }
        self.committed = true;
    }
}

impl Drop for FrozenTask {
    fn drop(&mut self) {
        if !self.committed && self.runs_elsewhere {
            // The copy on the target runs (and will end in SIGBUS on pages it lacks): the
            // original must not come back.
            self.commit("the target");
        } else if !self.committed {
            match self.module.thaw(self.session) {
                Ok(()) => log::info!("pid {}: thawed, it carries on here", self.pid),
                // Closing the hold descriptor (right after this) thaws it anyway.
                Err(e) => log::warn!("pid {}: thaw: {e}", self.pid),
            }
        }
    }
}

pub fn migrate(
    pid: u32,
    to: &str,
    mode: Mode,
    timeout_ms: u32,
    mem: File,
    key: &[u8; 32],
    record: u64,
    events: &mut dyn FnMut(LocalEvent),
) -> Result<Outcome, Failure> {
    table::update(record, |r| r.stats.mode = super::target::mode_name(mode).into());
    let started = Instant::now();
    // 1. The peer, before anything happens to the task.
    let addr = resolve(to).map_err(|e| refused(e.to_string()))?;
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| refused(format!("target {to} unreachable: {e}")))?;
    let mut ch = Channel::initiate(stream, key).map_err(|e| match e {
        ChannelError::Auth => refused(format!("target {to} refused authentication (cluster key differs?)")),
        other => refused(format!("target {to}: {other}")),
    })?;
    ch.set_timeout(PEER_TIMEOUT).map_err(|e| refused(e.to_string()))?;

    if crate::fault::armed("source-process-gone-before-freeze") {
        make_process_vanish(pid);
    }

    // 2. Freeze.
    let mut module = ModuleClient::connect().map_err(|e| refused(e.to_string()))?;
    let reply = module.freeze(pid, timeout_ms, HOLD_TIMEOUT_MS).map_err(|e| refused(e.to_string()))?;
    let (session, hold_fd, mut image) = match Frozen::from_reply(reply).map_err(|e| refused(e.to_string()))? {
        Frozen::Refused(why) => return Err(refused(why)),
        Frozen::Session { session, hold_fd, image } => (session, hold_fd, image),
    };
    let frozen_at = Instant::now();
    let mut frozen = FrozenTask {
        module: ModuleClient::connect().map_err(|e| refused(e.to_string()))?,
        session,
        // SAFETY: the module just installed this descriptor in our process for us.
        _hold: unsafe { OwnedFd::from_raw_fd(hold_fd) },
        pid,
        committed: false,
        runs_elsewhere: false,
    };
    drop(module);
    table::update(record, |r| {
        r.comm = image.comm.clone();
        r.state = "frozen".into();
    });
    log::info!("pid {pid} ({}) frozen: {} mappings", image.comm, image.vmas.len());

    crate::fault::check("source-after-freeze").map_err(failed)?;

    // 3. What userspace reads: identity, descriptors, mapped files.
    let identity = procinfo::identity(pid).map_err(refused)?;
    let fds = procinfo::fds(pid).map_err(refused)?;
    let mut file_ids = Vec::new();
    for path in image.files() {
        file_ids.push(files::identify(&path).map_err(|e| refused(format!("mapped file {e}")))?);
    }
    let pagemap = File::open(format!("/proc/{pid}/pagemap")).map_err(|e| refused(format!("pagemap: {e}")))?;
    let lazy = matches!(mode, Mode::Lazy { .. });
    let (eager_vmas, lazy_vmas): (Vec<Vma>, Vec<Vma>) =
        image.vmas.iter().cloned().partition(|v| !(lazy && v.is_lazy()));
    let runs = pages::scan(&pagemap, &eager_vmas).map_err(|e| refused(format!("pagemap: {e}")))?;
    let lazy_runs = pages::scan(&pagemap, &lazy_vmas).map_err(|e| refused(format!("pagemap: {e}")))?;
    let total = pages::total_bytes(&runs);
    let mut token = [0u8; 8];
    getrandom::getrandom(&mut token).map_err(|e| refused(e.to_string()))?;
    let token = u64::from_ne_bytes(token);
    let image_bytes: u64 = image.attrs.iter().map(|(_, p)| p.len() as u64 + 4).sum();
    table::update(record, |r| r.stats.image_bytes = image_bytes);

    // A nanosleep in progress keeps running while we migrate, as it would locally.
    adjust_restart(&mut image, frozen_at.elapsed());
    let offer = RestoreOffer {
        source_node: nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default(),
        pid,
        mode,
        fault_port: LISTEN_PORT.load(std::sync::atomic::Ordering::Relaxed),
        token,
        attrs: image.attrs.clone(),
        files: file_ids,
        fds,
        identity,
    };
    let link = |e: ChannelError| failed(format!("link to {to} lost: {e}"));
    ch.send(&Request::Restore(Box::new(offer))).map_err(link)?;
    match ch.recv::<Response>().map_err(link)? {
        Response::Ready => {}
        Response::Refused(why) => return Err(refused(format!("target {to}: {why}"))),
        Response::Error(e) => return Err(failed(format!("target {to}: {e}"))),
        other => return Err(failed(format!("target {to}: unexpected {other:?}"))),
    }

    // 4. Pages.
    table::set_state(record, "transferring");
    let mut sent = 0u64;
    pages::read_batches(&mem, &runs, |batch, done| {
        sent += batch.runs.iter().map(|(_, d)| d.len() as u64).sum::<u64>();
        ch.send(&Request::Pages(batch)).map_err(|e| format!("link to {to} lost: {e}"))?;
        events(LocalEvent::Progress { sent: done, total });
        table::update(record, |r| r.bytes = sent);
        Ok(())
    })
    .map_err(failed)?;
    if lazy {
        // The first page of each lazy mapping goes to the pager now: the target touches it
        // before the task runs (see kmod/mm.rs `touch_lazy`).
        for v in &lazy_vmas {
            let mut page = vec![0u8; pages::PAGE as usize];
            mem.read_exact_at(&mut page, v.start).map_err(|e| failed(format!("reading {:#x}: {e}", v.start)))?;
            ch.send(&Request::PagerPages(PageBatch { runs: vec![(v.start, page)] })).map_err(link)?;
            sent += pages::PAGE;
        }
    }
    table::update(record, |r| {
        r.stats.wire_bytes += sent;
        r.stats.pages_eager += sent / pages::PAGE;
    });

    // 5. Go, and give up the original only once the target says it runs.
    crate::fault::check("source-before-go").map_err(failed)?;
    ch.send(&Request::Go).map_err(link)?;
    let remote_pid = match ch.recv::<Response>().map_err(link)? {
        Response::Running { pid } => pid,
        Response::Error(e) | Response::Refused(e) => return Err(failed(format!("target {to}: {e}"))),
        other => return Err(failed(format!("target {to}: unexpected {other:?}"))),
    };
    let frozen_ms = frozen_at.elapsed().as_millis() as u64;
    table::update(record, |r| r.stats.frozen_ms = frozen_ms);
    let outcome = Outcome {
        pid,
        node: to.into(),
        remote_pid,
        bytes: sent,
        total_ms: started.elapsed().as_millis() as u64,
        frozen_ms,
    };
    let Mode::Lazy { push, prefetch } = mode else {
        frozen.commit(to);
        table::set_state(record, format!("migrated to {to} (pid {remote_pid})"));
        events(LocalEvent::Done(outcome.clone()));
        return Ok(outcome);
    };

    // 6. Lazy: the task runs there; the original stays parked as the page server until the
    // target has every page (push) or its task is gone (no push).
    frozen.runs_elsewhere = true;
    if let Err(e) = frozen.module.hand_over(frozen.session) {
        log::warn!("pid {pid}: hand-over: {e}");
    }
    table::set_state(record, format!("serving pages to {to} (pid {remote_pid})"));
    events(LocalEvent::Done(outcome.clone()));
    let running_at = Instant::now();
    let server = PageServer::start(token, &mem, lazy_vmas, prefetch, record)
        .map_err(|e| failed(format!("page server: {e}")))?;
    let result = if push {
        server.push(&mut ch, &lazy_runs)
    } else {
        server.wait_done();
        Ok(())
    };
    server.stop();
    frozen.commit(to);
    let ms = running_at.elapsed().as_millis() as u64;
    match result {
        Ok(()) => {
            table::update(record, |r| r.stats.complete_ms = ms.max(1));
            table::set_state(record, format!("migrated to {to} (pid {remote_pid}), released after {ms} ms"));
            log::info!("pid {pid}: every page is on {to}; original released after {ms} ms");
            Ok(outcome)
        }
        Err(e) => {
            log::warn!("pid {pid}: lazy phase on {to} broken: {e}; original ended, the copy there will fault on missing pages");
            table::set_state(record, format!("lazy phase broken: {e}"));
            Err(failed(e))
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
