//! Lazy mode, target side, two services of the incoming session: page requests from the
//! module go to the source over a fault channel (its own connection, never behind the push); answers and pushed pages go into
//! the module's pager. If the source goes away before every page is here, the pager is told
//! so and the task's faults on missing pages end in SIGBUS.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{FaultWork, Service, ServiceError, Session};
use crate::error::{CtlError, ModuleError};
use crate::genl::{ModuleClient, ModuleEvent, PagerRef};
use crate::node::Node;
use crate::peer::channel::Channel;
use crate::peer::proto::{PageBatch, Request, Response};
use crate::uapi::Feature;
use crate::uapi_gen as uapi;

/// Start the daemon's listener for the module's events (once, at daemon start): each page
/// request goes to the fault channel of its task, each deputy signal to the node its copy
/// runs on. The module takes one listener at a time: while another
/// daemon holds it (or the socket of the one before this daemon has not closed yet), this one
/// refuses lazy restores and tries again every second.
pub fn start_listener(node: Arc<Node>) {
    std::thread::spawn(move || {
        let mut told = false;
        let mut m = loop {
            match ModuleClient::connect().and_then(|mut m| {
                // Only a module with the pager takes page-request listeners.
                if !m.info()?.has(Feature::Lazy) {
                    log::warn!("pager listener: the migr module lacks the lazy feature; lazy restores are refused");
                    return Ok(None);
                }
                m.pager_listen().map(|_| Some(m))
            }) {
                Ok(Some(m)) => break m,
                Ok(None) => return,
                Err(e) if !told => {
                    log::warn!("pager listener: {e} (another daemon on this node listens?); lazy restores are refused until it goes");
                    told = true;
                }
                Err(_) => {}
            }
            std::thread::sleep(Duration::from_secs(1));
        };
        if told {
            log::info!("pager listener: page requests come here now");
        }
        node.registry.set_pager_listening();
        let deputies = crate::migrate::deputy::SignalForwarder::start(node.clone());
        loop {
            match m.next_event() {
                Ok(ModuleEvent::PageRequest(pager, addr)) => node.registry.page_request(pager, addr),
                Ok(ModuleEvent::DeputySignal { pid, signal }) => deputies.forward(pid, signal),
                Err(e) => {
                    log::warn!("pager listener: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    });
}

/// Deliver a batch to the pager of `pid`. A pager that is gone (the task exited) takes no
/// more pages, and that is fine.
fn deliver(m: &mut ModuleClient, pager: PagerRef, batch: &PageBatch, kind: u32) -> Result<(), ServiceError> {
    match m.page_batch(pager, batch, kind) {
        Ok(()) | Err(CtlError::Module(ModuleError::Errno(nix::errno::Errno::ESRCH))) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn fail(pager: PagerRef, why: &str) {
    log::warn!("pid {}: lazy restore lost its source ({why}); faults on missing pages will end in SIGBUS", pager.pid);
    if let Ok(mut m) = ModuleClient::connect() {
        let _ = m.pager_end(pager, uapi::PAGER_END_FAIL);
    }
}

/// The fault channel of one task: opened to the source's daemon, one request at a time,
/// until the task ends (the service is stopped) or the source closes it.
pub struct FaultChannel {
    ended: Arc<AtomicBool>,
}

impl Service for FaultChannel {
    fn name(&self) -> &'static str {
        "fault channel"
    }

    /// The task ended.
    fn stop(&self) {
        self.ended.store(true, Ordering::Release);
    }
}

impl FaultChannel {
    pub fn start(node: &Arc<Node>, pager: PagerRef, source: SocketAddr, token: u64, record: u64, push: bool) -> Arc<Self> {
        let pid = pager.pid;
        let ended = Arc::new(AtomicBool::new(false));
        let (tx, rx) = channel::<FaultWork>();
        node.registry.add_fault_queue(pager, tx, push);
        let node = node.clone();
        let svc = Arc::new(FaultChannel { ended: ended.clone() });
        std::thread::spawn(move || {
            let result = (|| -> Result<(), ServiceError> {
                let stream = TcpStream::connect_timeout(&source, Duration::from_secs(5))?;
                let mut ch = Channel::initiate(stream, &node.identity)?;
                ch.set_timeout(node.config.peer_timeout)?;
                ch.send(&Request::FaultChannel { token })?;
                let mut m = ModuleClient::connect()?;
                let mut recent = RecentPages::default();
                let mut queue = PendingPages::default();
                let mut rests = Vec::new();
                loop {
                    if queue.is_empty() && rests.is_empty() {
                        match rx.recv_timeout(Duration::from_millis(200)) {
                            Ok(w) => take(w, &mut queue, &mut rests),
                            Err(RecvTimeoutError::Timeout) if ended.load(Ordering::Acquire) => return Ok(()),
                            Err(RecvTimeoutError::Timeout) => continue,
                            Err(RecvTimeoutError::Disconnected) => return Ok(()),
                        }
                    }
                    // Everything queued meanwhile, each page once: the pager asks again every
                    // second for a fault still waiting, and on a loaded node those copies pile
                    // up here behind the request being served.
                    while let Ok(w) = rx.try_recv() {
                        take(w, &mut queue, &mut rests);
                    }
                    if !rests.is_empty() {
                        // Everything at once: every waiting fault is answered by it too.
                        let got = pull_rest(&mut ch, &mut m, pager);
                        let answer = got.as_ref().map(|n| *n).map_err(|e| e.to_string());
                        for reply in rests.drain(..) {
                            let _ = reply.send(answer.clone());
                        }
                        let n = got?;
                        node.update(record, |r| {
                            r.stats.pages_pushed += n / 4096;
                            r.stats.wire_bytes += n;
                        });
                        continue;
                    }
                    let Some(page) = queue.next() else { continue };
                    // A request just answered (the task faulted on the next page while the
                    // window was on its way, or the pager's re-send of a request that waited in
                    // this queue) needs no round trip: the page is in the pager. Only recently:
                    // a later request for it (the pager's next re-send) goes out again.
                    if recent.holds(page) {
                        continue;
                    }
                    let t0 = Instant::now();
                    ch.send(&Request::Fault { addr: page })?;
                    // The faulting page alone first (its arrival wakes the task), then the window.
                    let first = fault_pages(&mut ch)?;
                    let t1 = t0.elapsed().as_micros();
                    deliver(&mut m, pager, &first, uapi::PAGE_KIND_FAULT)?;
                    let us = t0.elapsed().as_micros() as u64;
                    log::debug!("fault at {page:#x}: answer after {t1} us, in the pager after {us} us");
                    // The pager asks again for a fault still waiting after 1 s: on a loaded
                    // node those copies queue up behind the first request and would each cost
                    // a round trip for a page already placed.
                    recent.add(page, Instant::now());
                    let pre = window_pages(&mut ch, &mut m, pager, &mut recent)?;
                    node.update(record, |r| {
                        r.stats.remote_faults += 1;
                        r.stats.pages_faulted += 1;
                        r.stats.pages_prefetched += pre;
                        r.stats.wire_bytes += 4096 * (1 + pre);
                        r.stats.add_latency(us);
                    });
                }
            })();
            node.registry.remove_fault_queue(pager);
            match result {
                Ok(()) => log::info!("pid {pid}: fault channel closed"),
                Err(e) if !ended.load(Ordering::Acquire) => fail(pager, &format!("fault channel: {e}")),
                Err(_) => {}
            }
        });
        svc
    }
}

fn take(w: FaultWork, queue: &mut PendingPages, rests: &mut Vec<std::sync::mpsc::Sender<Result<u64, String>>>) {
    match w {
        FaultWork::Page(a) => queue.add(a),
        FaultWork::Rest(reply) => rests.push(reply),
    }
}

/// Every page the source still holds, into the pager (which places each in every address
/// space of the task's tree that misses it); the bytes that came.
fn pull_rest(ch: &mut Channel, m: &mut ModuleClient, pager: PagerRef) -> Result<u64, ServiceError> {
    ch.send(&Request::Rest)?;
    let mut bytes = 0;
    loop {
        match ch.recv::<Response>()? {
            Response::FaultPages(batch) => {
                deliver(m, pager, &batch, uapi::PAGE_KIND_PUSH)?;
                bytes += batch.runs.iter().map(|(_, d)| d.len() as u64).sum::<u64>();
            }
            Response::AllSent => return Ok(bytes),
            other => return Err(ServiceError::unexpected(other)),
        }
    }
}

/// How long a page delivered with a window counts as "just arrived" for later requests.
const RECENT: Duration = Duration::from_millis(500);

/// Pages just placed (see RECENT), each with when it was: forgetting the expired ones costs
/// only those (a sequential reader places a thousand pages in RECENT; going over all of them
/// at each fault cost more than the fault's own request under TCG).
#[derive(Default)]
struct RecentPages {
    order: VecDeque<(Instant, u64)>,
    placed: HashMap<u64, Instant>,
}

impl RecentPages {
    fn add(&mut self, page: u64, at: Instant) {
        self.order.push_back((at, page));
        self.placed.insert(page, at);
    }

    /// Was `page` placed within RECENT?
    fn holds(&mut self, page: u64) -> bool {
        while let Some(&(at, p)) = self.order.front() {
            if at.elapsed() < RECENT {
                break;
            }
            self.order.pop_front();
            // Only if it was not placed again since.
            if self.placed.get(&p) == Some(&at) {
                self.placed.remove(&p);
            }
        }
        self.placed.contains_key(&page)
    }
}

/// Page requests waiting for the fault channel, in the order they came, each page once.
#[derive(Default)]
struct PendingPages {
    order: VecDeque<u64>,
    queued: HashSet<u64>,
}

impl PendingPages {
    fn add(&mut self, addr: u64) {
        let page = addr & !4095;
        if self.queued.insert(page) {
            self.order.push_back(page);
        }
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn next(&mut self) -> Option<u64> {
        let page = self.order.pop_front()?;
        self.queued.remove(&page);
        Some(page)
    }
}

/// The prefetch window that follows a fault's page, piece by piece into the pager (each
/// piece placed as it comes, so the task reads on while the next is on its way), until its
/// last piece; each page counts as just arrived. The pages that came.
fn window_pages(ch: &mut Channel, m: &mut ModuleClient, pager: PagerRef, recent: &mut RecentPages) -> Result<u64, ServiceError> {
    let mut pages = 0;
    loop {
        let (piece, last) = match ch.recv::<Response>()? {
            Response::WindowPart(b) => (b, false),
            Response::FaultPages(b) => (b, true),
            other => return Err(ServiceError::unexpected(other)),
        };
        deliver(m, pager, &piece, uapi::PAGE_KIND_PREFETCH)?;
        let now = Instant::now();
        for (a, d) in &piece.runs {
            for i in 0..d.len() as u64 / 4096 {
                recent.add(a + i * 4096, now);
            }
            pages += d.len() as u64 / 4096;
        }
        if last {
            return Ok(pages);
        }
    }
}

fn fault_pages(ch: &mut Channel) -> Result<PageBatch, ServiceError> {
    match ch.recv::<Response>()? {
        Response::FaultPages(b) => Ok(b),
        other => Err(ServiceError::unexpected(other)),
    }
}

/// The push receiver: the background push on the session's connection, until PushDone;
/// runs in the session's own thread.
pub fn receive_push(s: &mut Session, started: Instant) -> Result<(), PushError> {
    let (pid, record) = (s.pid, s.record);
    let pager = s.pager.ok_or_else(|| PushError::OutOfTurn("a push for a task without a pager".into()))?;
    let m = &mut s.module;
    let ch = &mut s.peer;
    loop {
        match ch.recv::<Request>() {
            Ok(Request::Push(batch)) => {
                deliver(m, pager, &batch, uapi::PAGE_KIND_PUSH)?;
                let n: u64 = batch.runs.iter().map(|(_, d)| d.len() as u64).sum();
                s.node.update(record, |r| {
                    r.stats.pages_pushed += n / 4096;
                    r.stats.wire_bytes += n;
                });
            }
            Ok(Request::PushDone) => {
                let _ = m.pager_end(pager, uapi::PAGER_END_COMPLETE);
                let ms = started.elapsed().as_millis() as u64;
                s.node.update(record, |r| r.stats.complete_ms = ms.max(1));
                log::info!("pid {pid}: every page is here ({ms} ms after it started); the source may let go");
                ch.send(&Response::Released).map_err(ServiceError::from)?;
                return Ok(());
            }
            Ok(other) => return Err(PushError::OutOfTurn(format!("{other:?}"))),
            Err(e) => {
                let e = PushError::Push(e.into());
                fail(pager, &e.to_string());
                return Err(e);
            }
        }
    }
}

/// What ends the push receiver early.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("{0}")]
    Service(#[from] ServiceError),
    #[error("push: {0}")]
    Push(ServiceError),
    #[error("unexpected {0} during the push")]
    OutOfTurn(String),
}

#[cfg(test)]
mod tests {
    use super::{PendingPages, RecentPages, RECENT};
    use std::time::{Duration, Instant};

    #[test]
    fn recent_pages_expire_in_order_and_a_page_placed_again_stays() {
        let mut r = RecentPages::default();
        let old = Instant::now() - RECENT - Duration::from_millis(10);
        r.add(0x1000, old);
        r.add(0x2000, old);
        r.add(0x2000, Instant::now());
        r.add(0x3000, Instant::now());
        assert!(!r.holds(0x1000));
        assert!(r.holds(0x2000) && r.holds(0x3000));
        assert_eq!(r.order.len(), 2);
    }

    #[test]
    fn pending_pages_keep_order_and_drop_copies() {
        let mut q = PendingPages::default();
        for a in [0x3000, 0x1234, 0x3fff, 0x1000, 0x5000] {
            q.add(a);
        }
        let mut out = Vec::new();
        while let Some(p) = q.next() {
            out.push(p);
        }
        assert_eq!(out, [0x3000, 0x1000, 0x5000]);
        q.add(0x3000); // served pages may be asked for again
        assert_eq!(q.next(), Some(0x3000));
        assert!(q.is_empty());
    }
}
