//! A migration in flight on this node: a [`Session`] owns its connections (the peer channel
//! of the migration, this node's module client, and on the source the hold descriptor of the
//! parked original) and the [`Service`]s running over them. Today's services are those of
//! lazy mode: the page server on the source (`page_server`), the fault channel and the push
//! receiver on the target (`fault_channel`); a home-node deputy and stdio forwarding are
//! meant to join them as further services.

pub mod fault_channel;
pub mod page_server;

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::CtlError;
use crate::genl::{ModuleClient, PagerRef};
use crate::migrate::pages::PageError;
use crate::node::Node;
use crate::peer::channel::{Channel, ChannelError};

/// What ends a service early: its link, the module, the task's memory, or a peer that says
/// something out of turn.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Link(#[from] ChannelError),
    #[error("{0}")]
    Module(#[from] CtlError),
    #[error("{0}")]
    Pages(#[from] PageError),
    #[error("unexpected {0}")]
    Unexpected(String),
}

impl ServiceError {
    pub fn unexpected(what: impl std::fmt::Debug) -> Self {
        ServiceError::Unexpected(format!("{what:?}"))
    }
}

/// Something a session runs over its connections, beside the migration's own steps.
pub trait Service: Send + Sync {
    /// For the logs.
    fn name(&self) -> &'static str;
    /// The session is over: stop serving (threads finish on their own).
    fn stop(&self);
}

/// Work for the fault channel of one pager (`fault_channel::FaultChannel`).
pub enum FaultWork {
    /// The module asks for the page at this address.
    Page(u64),
    /// Bring every page the source still holds here; answer with the bytes that came (or
    /// why not) once they are all in the pager.
    Rest(Sender<Result<u64, String>>),
}

/// The fault channel of a pager, as others on this node reach it.
struct FaultQueue {
    work: Sender<FaultWork>,
    /// The source pushes every page in the background too.
    push: bool,
}

/// How the services of different sessions of one node find each other: a fault channel
/// opened by a target names its source's page server by token; page requests from the
/// module name the fault channel of a task by its pager.
#[derive(Default)]
pub struct Registry {
    page_servers: Mutex<Vec<Arc<page_server::PageServer>>>,
    fault_queues: Mutex<HashMap<PagerRef, FaultQueue>>,
    /// Page requests that came before their pager's fault channel was registered (the task
    /// runs, and faults, from Go on; the channel is set up just after): handed to it when it
    /// is, instead of waiting for the pager's re-send a second later. Bounded.
    early: Mutex<Vec<(PagerRef, u64)>>,
    /// This daemon receives the module's page requests (see fault_channel::start_listener).
    pager_listening: std::sync::atomic::AtomicBool,
}

/// Early page requests kept at most (the oldest go first: a pager that never gets a channel).
const EARLY_MAX: usize = 256;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    pub(crate) fn set_pager_listening(&self) {
        self.pager_listening.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Can a lazy restore work here: do the module's page requests come to this daemon?
    pub fn pager_listening(&self) -> bool {
        self.pager_listening.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn add_page_server(&self, s: Arc<page_server::PageServer>) {
        lock(&self.page_servers).push(s);
    }

    pub(crate) fn remove_page_server(&self, token: u64) {
        lock(&self.page_servers).retain(|s| s.token != token);
    }

    pub(crate) fn page_server(&self, token: u64) -> Option<Arc<page_server::PageServer>> {
        lock(&self.page_servers).iter().find(|s| s.token == token).cloned()
    }

    // Lock order: fault_queues, then early.
    pub(crate) fn add_fault_queue(&self, pager: PagerRef, work: Sender<FaultWork>, push: bool) {
        let mut queues = lock(&self.fault_queues);
        lock(&self.early).retain(|&(p, addr)| {
            if p == pager {
                let _ = work.send(FaultWork::Page(addr));
            }
            p != pager
        });
        queues.insert(pager, FaultQueue { work, push });
    }

    pub(crate) fn remove_fault_queue(&self, pager: PagerRef) {
        lock(&self.fault_queues).remove(&pager);
    }

    /// Hand a page request of the module to the fault channel of `pager`; one that comes
    /// before the channel is kept for it.
    pub(crate) fn page_request(&self, pager: PagerRef, addr: u64) {
        let queues = lock(&self.fault_queues);
        match queues.get(&pager) {
            Some(q) => {
                let _ = q.work.send(FaultWork::Page(addr));
            }
            None => {
                let mut early = lock(&self.early);
                if early.len() >= EARLY_MAX {
                    early.remove(0);
                }
                early.push((pager, addr));
            }
        }
    }

    /// The pager of the task `pid` that came here lazily, while its fault channel is open.
    pub fn pager_of(&self, pid: u32) -> Option<PagerRef> {
        lock(&self.fault_queues).keys().find(|p| p.pid == pid).copied()
    }

    /// Every pager with an open fault channel on this node.
    pub fn pagers(&self) -> Vec<PagerRef> {
        lock(&self.fault_queues).keys().copied().collect()
    }

    /// Ask the fault channel of `pager` for every page its source still holds. None: it has
    /// no fault channel (any more); Some(None): its source pushes them anyway (wait for the
    /// pager to end); else the answer comes on the receiver.
    pub(crate) fn pull_rest(&self, pager: PagerRef) -> Option<Option<std::sync::mpsc::Receiver<Result<u64, String>>>> {
        let queues = lock(&self.fault_queues);
        let q = queues.get(&pager)?;
        if q.push {
            return Some(None);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        q.work.send(FaultWork::Rest(tx)).ok()?;
        Some(Some(rx))
    }
}

/// The original of an outgoing migration, parked by the module (source side).
struct Hold {
    session: u32,
    _fd: OwnedFd,
    committed: bool,
    /// Lazy mode after hand-over: the copy runs on the target.
    runs_elsewhere: bool,
}

pub struct Session {
    pub node: Arc<Node>,
    /// Its record in the node's table.
    pub record: u64,
    pub pid: u32,
    /// Target, lazy mode: the task's pager.
    pub pager: Option<PagerRef>,
    /// The migration's connection to the other node.
    pub peer: Channel,
    /// This node's module.
    pub module: ModuleClient,
    hold: Option<Hold>,
    services: Vec<Arc<dyn Service>>,
}

impl Session {
    pub fn new(node: Arc<Node>, record: u64, pid: u32, peer: Channel, module: ModuleClient) -> Self {
        Session { node, record, pid, pager: None, peer, module, hold: None, services: Vec::new() }
    }

    /// Source: the module parked the original under `session`; `fd` is its hold descriptor
    /// (closing it thaws the task). From now on, ending the session thaws the original
    /// unless it was committed.
    pub fn hold(&mut self, session: u32, fd: OwnedFd) {
        self.hold = Some(Hold { session, _fd: fd, committed: false, runs_elsewhere: false });
    }

    /// Source, lazy: the task runs on the target; the original must never come back.
    pub fn hand_over(&mut self) {
        let Some(h) = self.hold.as_mut() else { return };
        h.runs_elsewhere = true;
        if let Err(e) = self.module.hand_over(h.session) {
            log::warn!("pid {}: hand-over: {e}", self.pid);
        }
    }

    /// Source: the task runs on `to`; the original ends, or stays as its deputy.
    pub fn commit(&mut self, to: &str, deputy: bool) {
        let Some(h) = self.hold.as_mut() else { return };
        if let Err(e) = self.module.commit(h.session, deputy) {
            // The task runs on the target; ending the original is what is left to do.
            log::error!("pid {}: runs on {to} but commit failed: {e}; killing the original", self.pid);
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), nix::sys::signal::Signal::SIGKILL);
        }
        h.committed = true;
    }

    /// Start a service on this session; it stops when the session ends (or when detached
    /// services are stopped by their new owner).
    pub fn start(&mut self, s: Arc<dyn Service>) {
        log::debug!("pid {}: {} started", self.pid, s.name());
        self.services.push(s);
    }

    /// Stop every service of this session.
    pub fn stop_services(&mut self) {
        for s in self.services.drain(..).rev() {
            log::debug!("pid {}: {} stopped", self.pid, s.name());
            s.stop();
        }
    }

    /// Take the services away from the session, for services that must outlive its
    /// connection (a target's fault channel lives as long as the task, not the link).
    pub fn detach_services(&mut self) -> Vec<Arc<dyn Service>> {
        std::mem::take(&mut self.services)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop_services();
        let Some(h) = self.hold.as_ref() else { return };
        if !h.committed && h.runs_elsewhere {
            // The copy on the target runs (and will end in SIGBUS on pages it lacks): the
            // original must not come back.
            self.commit("the target", false);
        } else if !h.committed {
            match self.module.thaw(h.session) {
                Ok(()) => log::info!("pid {}: thawed, it carries on here", self.pid),
                // Closing the hold descriptor (right after this) thaws it anyway.
                Err(e) => log::warn!("pid {}: thaw: {e}", self.pid),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_request_before_its_channel_reaches_it() {
        let r = Registry::default();
        let (a, b) = (PagerRef { pid: 7, id: 1 }, PagerRef { pid: 8, id: 2 });
        r.page_request(a, 0x1000);
        r.page_request(b, 0x2000);
        let (tx, rx) = std::sync::mpsc::channel();
        r.add_fault_queue(a, tx, false);
        r.page_request(a, 0x3000);
        let got: Vec<u64> = rx.try_iter().map(|w| match w {
            FaultWork::Page(addr) => addr,
            FaultWork::Rest(_) => 0,
        }).collect();
        assert_eq!(got, [0x1000, 0x3000]);
        assert_eq!(lock(&r.early).as_slice(), [(b, 0x2000)]);
    }
}
