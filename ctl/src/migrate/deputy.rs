//! The deputy, daemon side. A process that leaves its home node with `--deputy` leaves its
//! original there as its deputy (kmod/deputy.rs): the pid, the parent, the session and the
//! process group stay home. This module connects the deputy with its copy, wherever that
//! runs now (the home's record follows it, see `home`):
//!
//! - signals: the module hands every signal the deputy is sent to this daemon; one forwarder
//!   thread sends them, in order, to the node that holds the copy (`Request::Signal`), which
//!   delivers them to the copy if the sender is the copy's home;
//! - the end: the node that holds the copy waits for it (it is that daemon's child); when it
//!   ends there (not when it moves on) it tells the home (`Request::Exited`) and the home's
//!   module ends the deputy the same way, so the parent's wait() sees the same status;
//! - loss: the home asks the holder every few seconds whether it still holds the copy; a
//!   holder that cannot be reached for LOST_AFTER, or that no longer knows the copy, ends
//!   the deputy as if killed by SIGKILL. The holder asks the home the same about the
//!   deputy and kills the copy in the same cases: a copy whose home is gone is not left
//!   running with nobody to report to. Both sides log why.
//!
//! Trust, as for `Moved`: both requests come over authenticated channels, a signal is
//! accepted only from the copy's home and an end only from the node the home's record says
//! holds the copy (both compared by address).

use super::home::ask;
use crate::genl::ModuleClient;
use crate::node::Node;
use crate::peer::ping::resolve;
use crate::peer::proto::{Request, Response};
use log::{info, warn};
use std::net::IpAddr;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the home asks the holder about its copy.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// A holder unreachable this long is taken as lost with the copy.
const LOST_AFTER: Duration = Duration::from_secs(30);

/// The home's forwarder of deputy signals: one thread, so that signals keep their order.
pub struct SignalForwarder {
    tx: mpsc::Sender<(u32, u32)>,
}

impl SignalForwarder {
    pub fn start(node: Arc<Node>) -> Self {
        let (tx, rx) = mpsc::channel::<(u32, u32)>();
        std::thread::spawn(move || {
            for (pid, signal) in rx {
                // A resize of a relayed terminal reaches the process with the new size: its
                // stand-in terminal raises SIGWINCH there (fd::relay); this one would come
                // first, with the old size.
                if signal == libc::SIGWINCH as u32 && node.table.tty_relayed(pid) {
                    continue;
                }
                let Some(at) = node.table.deputy_holder(pid) else {
                    warn!("deputy {pid}: signal {signal}, but no copy of it is known; dropped");
                    continue;
                };
                match ask(&node, &at, Request::Signal { pid, signal }) {
                    Ok(()) => info!("deputy {pid}: signal {signal} handed to its copy on {at}"),
                    Err(e) => warn!("deputy {pid}: signal {signal} not delivered to {at}: {e}"),
                }
            }
        });
        SignalForwarder { tx }
    }

    pub fn forward(&self, pid: u32, signal: u32) {
        let _ = self.tx.send((pid, signal));
    }
}

/// On the home, after a commit that kept a deputy for `pid`: watch the copy until the deputy
/// ends (see the module doc: loss).
/// `record`: the home's record of this deputy (a pid may serve again, for another process,
/// once this deputy has ended: the record is not reused).
fn watch(node: &Arc<Node>, pid: u32, record: u64) {
    let node = node.clone();
    std::thread::spawn(move || {
        let mut unreachable_since: Option<Instant> = None;
        // The deputy itself: a pidfd, readable once it has ended.
        let deputy = crate::fd::relay::pidfd(pid).ok();
        loop {
            std::thread::sleep(CHECK_EVERY);
            let Some(at) = node.table.get(record).filter(|r| r.deputy).and_then(|r| r.now_on.or_else(|| r.state.ran_on().map(String::from))) else {
                return;
            };
            if deputy.as_ref().is_some_and(crate::fd::relay::has_ended) {
                // Ended without deputy-end: killed here in a way the module could not hand
                // on (while stopped, say). Its copy must not outlive it.
                let sent = ask(&node, &at, Request::Signal { pid, signal: libc::SIGKILL as u32 });
                warn!("deputy {pid}: ended here on its own; its copy on {at} killed ({sent:?})");
                node.table.deputy_ended(pid, "killed here");
                return;
            }
            match ask(&node, &at, Request::Holds { pid }) {
                Ok(()) => unreachable_since = None,
                Err(e) if e.contains(NOT_HELD) => {
                    // It may have ended or moved on a moment ago, its Exited or Moved on the
                    // way: give it that moment.
                    std::thread::sleep(CHECK_EVERY);
                    if node.table.get(record).is_some_and(|r| r.deputy && r.now_on.as_deref().unwrap_or(&at) == at) {
                        end(&node, pid, LOST, &format!("{at} no longer holds its copy ({e})"));
                        return;
                    }
                }
                Err(e) => {
                    let since = *unreachable_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= LOST_AFTER {
                        end(&node, pid, LOST, &format!("{at}, which holds its copy, unreachable for {} s ({e})", LOST_AFTER.as_secs()));
                        return;
                    }
                }
            }
        }
    });
}

/// The wait status of a copy that is lost: killed by SIGKILL.
const LOST: u32 = libc::SIGKILL as u32;
/// What a holder answers for a pid it does not hold.
const NOT_HELD: &str = "does not hold";

/// End the deputy of `pid` as `status` says; the record notes how.
fn end(node: &Node, pid: u32, status: u32, why: &str) {
    let how = describe(status);
    // The record first: the watcher, seeing the deputy gone, must not take it for killed.
    node.table.deputy_ended(pid, &format!("{how}; {why}"));
    match ModuleClient::connect().and_then(|mut m| m.deputy_end(pid, status)) {
        Ok(()) => info!("deputy {pid}: ends ({how}): {why}"),
        Err(e) => warn!("deputy {pid}: could not end it ({how}): {e}"),
    }
}

/// A wait status as `ps` words it.
pub fn describe(status: u32) -> String {
    match (status & 0x7f, status & 0x80 != 0) {
        (0, _) => format!("exited {}", (status >> 8) & 0xff),
        (sig, core) => format!("killed by signal {sig}{}", if core { " (core dumped)" } else { "" }),
    }
}

/// On the node that holds the copy: `Signal` from `peer_ip`.
pub fn deliver_signal(node: &Node, pid: u32, signal: u32, peer_ip: IpAddr, peer: &str) -> Response {
    if !node.table.holds_copy_of(pid, |home| resolve(home).is_ok_and(|a| a.ip() == peer_ip)) {
        warn!("peer {peer} sends signal {signal} for pid {pid}: not a copy of that peer's process here; ignored");
        return Response::Error(format!("{}: {NOT_HELD} a copy of pid {pid} from the sender", crate::node::hostname()));
    }
    // SAFETY: kill(2) with plain integers.
    if unsafe { libc::kill(pid as i32, signal as i32) } != 0 {
        let e = std::io::Error::last_os_error();
        return Response::Error(format!("kill {pid} {signal}: {e}"));
    }
    Response::Noted
}

/// On the home: `HasDeputy` from a node that holds a copy. Whether a deputy of `pid` lives
/// here, whoever asks (the answer grants nothing; comparing the asker with the record's
/// holder would fail a copy that just moved on, before its `Moved` arrived).
pub fn has_deputy(node: &Node, pid: u32) -> Response {
    match node.table.deputy_holder(pid) {
        Some(_) => Response::Noted,
        None => Response::Error(format!("{}: no deputy of pid {pid}", crate::node::hostname())),
    }
}

/// On the node that holds the copy of `pid`: watch its home's deputy while the copy runs
/// here (see the module doc: loss).
pub fn watch_home(node: &Arc<Node>, pid: u32, home: String) {
    let node = node.clone();
    std::thread::spawn(move || {
        let mut unreachable_since: Option<Instant> = None;
        let is_home = |h: &str| h == home;
        loop {
            std::thread::sleep(CHECK_EVERY);
            if !node.table.holds_copy_of(pid, is_home) {
                return; // ended or moved on
            }
            if node.table.leaving(pid) {
                // Moving on: its migration decides (going home, the deputy becomes the
                // process before this copy lets go, and the home rightly has no deputy then).
                unreachable_since = None;
                continue;
            }
            let why = match ask(&node, &home, Request::HasDeputy { pid }) {
                Ok(()) => {
                    unreachable_since = None;
                    continue;
                }
                Err(e) if e.contains("no deputy") => format!("its home {home} has no deputy for it any more ({e})"),
                Err(e) => {
                    let since = *unreachable_since.get_or_insert_with(Instant::now);
                    if since.elapsed() < LOST_AFTER {
                        continue;
                    }
                    format!("its home {home} unreachable for {} s ({e})", LOST_AFTER.as_secs())
                }
            };
            if !node.table.holds_copy_of(pid, is_home) || node.table.leaving(pid) {
                continue; // ended or moved on (the next round returns), or moving on
            }
            warn!("pid {pid}: {why}; killed");
            // SAFETY: kill(2) with plain integers.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            return;
        }
    });
}

/// On the node that holds the copy: `Holds` from `peer_ip` (its home).
pub fn holds(node: &Node, pid: u32, peer_ip: IpAddr) -> Response {
    if node.table.holds_copy_of(pid, |home| resolve(home).is_ok_and(|a| a.ip() == peer_ip)) {
        Response::Noted
    } else {
        Response::Error(format!("{}: {NOT_HELD} a copy of pid {pid} from the sender", crate::node::hostname()))
    }
}

/// On the node that holds the copy, once it ended here with `status`: tell its home (a few
/// tries; the home's watcher ends the deputy anyway if this never arrives).
pub fn report_end(node: &Arc<Node>, pid: u32, home: String, status: u32) {
    let node = node.clone();
    std::thread::spawn(move || {
        for attempt in 1..=5 {
            match ask(&node, &home, Request::Exited { pid, status }) {
                Ok(()) => return info!("pid {pid}: told its home {home} that it {}", describe(status)),
                Err(e) => warn!("pid {pid}: could not tell its home {home} that it {} (try {attempt}): {e}", describe(status)),
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    });
}

/// On the home: `Exited` from `peer_ip`.
pub fn note_exited(node: &Node, pid: u32, status: u32, peer_ip: IpAddr, peer: &str) -> Response {
    let Some(at) = node.table.deputy_holder(pid) else {
        return Response::Error(format!("{}: no deputy of pid {pid} here", crate::node::hostname()));
    };
    if !resolve(&at).is_ok_and(|a| a.ip() == peer_ip) {
        warn!("peer {peer} says pid {pid} ended: its copy runs on {at}, not there; ignored");
        return Response::Error(format!("{}: pid {pid} does not run on the sender", crate::node::hostname()));
    }
    if node.table.deputy_may_end(pid, status) {
        end(node, pid, status, &format!("its copy ended on {at}"));
    } else {
        info!("deputy {pid}: its copy ended on {at} ({}); the deputy ends once committed", describe(status));
    }
    Response::Noted
}

/// On the home: `Stopped` (`signal`) or `Continued` (None) from `peer_ip`: the deputy stops
/// the same way, so that the home shell sees the job stopped; the relay gives the home
/// terminal back meanwhile (`fd::relay`). A copy continued by someone else than the deputy
/// continues the deputy too.
pub fn note_stopped(node: &Node, pid: u32, signal: Option<u32>, peer_ip: IpAddr, peer: &str) -> Response {
    let Some(at) = node.table.deputy_holder(pid) else {
        return Response::Error(format!("{}: no deputy of pid {pid} here", crate::node::hostname()));
    };
    if !resolve(&at).is_ok_and(|a| a.ip() == peer_ip) {
        warn!("peer {peer} says pid {pid} stopped or continued: its copy runs on {at}, not there; ignored");
        return Response::Error(format!("{}: pid {pid} does not run on the sender", crate::node::hostname()));
    }
    node.table.set_stopped(pid, signal.is_some());
    match signal {
        Some(sig) => match ModuleClient::connect().and_then(|mut m| m.deputy_stop(pid, sig)) {
            Ok(()) => info!("deputy {pid}: stops (signal {sig}) as its copy on {at} did"),
            Err(e) => warn!("deputy {pid}: could not stop it (signal {sig}): {e}"),
        },
        None => {
            // Continued from elsewhere than the deputy (whose SIGCONT it was otherwise):
            // the deputy follows.
            if is_stopped(pid) {
                // SAFETY: kill(2) with plain integers.
                unsafe { libc::kill(pid as i32, libc::SIGCONT) };
            }
            info!("deputy {pid}: its copy on {at} runs again");
        }
    }
    Response::Noted
}

/// Whether `pid` is stopped (state T in /proc/PID/stat).
fn is_stopped(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('T'))
}

/// On the node that holds the copy: it stopped (`Some(signal)`) or continued (None); tell
/// its home, in order (on the waiter's thread).
pub fn report_stop(node: &Node, pid: u32, home: &str, signal: Option<u32>) {
    let req = match signal {
        Some(signal) => Request::Stopped { pid, signal },
        None => Request::Continued { pid },
    };
    if let Err(e) = ask(node, home, req) {
        warn!("pid {pid}: could not tell its home {home} that it {}: {e}", if signal.is_some() { "stopped" } else { "continued" });
    }
}

/// On the home, for a process coming back to its deputy: the deputy's descriptors are the
/// originals and the process takes them back as they are; so the process must hold the same
/// descriptor numbers as the deputy (one opened or closed away from home is refused, named),
/// and each regular file read or written at an offset is set to the process's offset.
pub fn take_back_descriptors(pid: u32, specs: &[crate::peer::proto::FdSpec]) -> Result<(), String> {
    use crate::peer::proto::FdSpec;
    let mut held: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| format!("the deputy's descriptors: {e}"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    held.sort();
    let mut wanted: Vec<i32> = specs.iter().map(|s| s.fd()).collect();
    wanted.sort();
    if let Some(fd) = wanted.iter().find(|fd| !held.contains(fd)) {
        return Err(format!("descriptor {fd} was opened away from home: coming home with it is not supported yet"));
    }
    if let Some(fd) = held.iter().find(|fd| !wanted.contains(fd)) {
        return Err(format!("descriptor {fd} was closed away from home: coming home without it is not supported yet"));
    }
    for s in specs {
        if let FdSpec::File { fd, flags, pos, path } = s {
            if flags & libc::O_APPEND == 0 {
                let f = crate::fd::relay::deputy_fd(pid, *fd)?;
                use std::io::Seek;
                (&f).seek(std::io::SeekFrom::Start(*pos)).map_err(|e| format!("descriptor {fd} ({path}): {e}"))?;
            }
        }
    }
    Ok(())
}

/// On the home, once the commit made the original the deputy of `pid`: end it at once if
/// its copy ended meanwhile, else watch the copy.
pub fn committed(node: &Arc<Node>, pid: u32, record: u64) {
    match node.table.deputy_committed(pid) {
        Some(status) => end(node, pid, status, "its copy ended before the commit was done"),
        None => watch(node, pid, record),
    }
}
