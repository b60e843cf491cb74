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

use super::{files, pages, procinfo, table};
use crate::genl::ModuleClient;
use crate::image::{Frozen, Image};
use crate::local::{LocalEvent, Outcome};
use crate::peer::channel::{Channel, ChannelError};
use crate::peer::ping::resolve;
use crate::peer::proto::{Request, Response, RestoreOffer};
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

/// A frozen task: thawed on drop unless committed.
struct FrozenTask {
    module: ModuleClient,
    session: u32,
    _hold: OwnedFd,
    pid: u32,
    committed: bool,
}

impl Drop for FrozenTask {
    fn drop(&mut self) {
        if !self.committed {
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
    timeout_ms: u32,
    mem: File,
    key: &[u8; 32],
    record: u64,
    events: &mut dyn FnMut(LocalEvent),
) -> Result<Outcome, Failure> {
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
    let runs = pages::scan(&pagemap, &image.vmas).map_err(|e| refused(format!("pagemap: {e}")))?;
    let total = pages::total_bytes(&runs);

    // A nanosleep in progress keeps running while we migrate, as it would locally.
    adjust_restart(&mut image, frozen_at.elapsed());
    let offer = RestoreOffer {
        source_node: nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default(),
        pid,
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

    // 5. Go, and give up the original only once the target says it runs.
    crate::fault::check("source-before-go").map_err(failed)?;
    ch.send(&Request::Go).map_err(link)?;
    let remote_pid = match ch.recv::<Response>().map_err(link)? {
        Response::Running { pid } => pid,
        Response::Error(e) | Response::Refused(e) => return Err(failed(format!("target {to}: {e}"))),
        other => return Err(failed(format!("target {to}: unexpected {other:?}"))),
    };
    let frozen_ms = frozen_at.elapsed().as_millis() as u64;
    match frozen.module.commit(frozen.session) {
        Ok(()) => frozen.committed = true,
        Err(e) => {
            // The task runs on the target; ending the original is what is left to do.
            log::error!("pid {pid}: runs on {to} but commit failed: {e}; killing the original");
            frozen.committed = true;
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
        }
    }
    table::set_state(record, format!("migrated to {to} (pid {remote_pid})"));
    Ok(Outcome {
        pid,
        node: to.into(),
        remote_pid,
        bytes: sent,
        total_ms: started.elapsed().as_millis() as u64,
        frozen_ms,
    })
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
