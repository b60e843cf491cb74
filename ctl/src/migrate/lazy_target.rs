//! Lazy mode, target side: page requests from the module go to the source over a fault
//! channel (its own connection, never behind the push); answers and pushed pages go into
//! the module's pager. If the source goes away before every page is here, the pager is told
//! so and the task's faults on missing pages end in SIGBUS.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::table;
use crate::genl::ModuleClient;
use crate::peer::channel::Channel;
use crate::peer::proto::{Request, Response};
use crate::uapi_gen as uapi;

/// pid -> the queue of its fault channel.
static QUEUES: Mutex<Option<HashMap<u32, Sender<u64>>>> = Mutex::new(None);

fn queues() -> std::sync::MutexGuard<'static, Option<HashMap<u32, Sender<u64>>>> {
    QUEUES.lock().unwrap_or_else(|p| p.into_inner())
}

/// Start the daemon's listener for page-request events (once, at daemon start).
pub fn start_listener() {
    std::thread::spawn(|| {
        let mut m = match ModuleClient::connect().and_then(|mut m| m.pager_listen().map(|_| m)) {
            Ok(m) => m,
            Err(e) => return log::warn!("pager listener: {e}; lazy restores will not work"),
        };
        loop {
            match m.next_page_request() {
                Ok((pid, addr)) => {
                    if let Some(q) = queues().as_ref().and_then(|q| q.get(&pid)) {
                        let _ = q.send(addr);
                    }
                }
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
fn deliver(m: &mut ModuleClient, pid: u32, batch: &crate::peer::proto::PageBatch, kind: u32) -> Result<(), String> {
    match m.page_batch(pid, batch, kind) {
        Ok(()) => Ok(()),
        Err(e) if e.to_string().contains("No such process") => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

fn fail(pid: u32, why: &str) {
    log::warn!("pid {pid}: lazy restore lost its source ({why}); faults on missing pages will end in SIGBUS");
    if let Ok(mut m) = ModuleClient::connect() {
        let _ = m.pager_end(pid, uapi::PAGER_END_FAIL);
    }
}

/// The fault channel of one task: opened to the source's daemon, one request at a time.
pub fn start_fault_channel(pid: u32, source: SocketAddr, key: [u8; 32], token: u64, record: u64, ended: Arc<AtomicBool>) {
    let (tx, rx) = channel::<u64>();
    queues().get_or_insert_with(HashMap::new).insert(pid, tx);
    std::thread::spawn(move || {
        let result = (|| -> Result<(), String> {
            let stream = TcpStream::connect_timeout(&source, Duration::from_secs(5)).map_err(|e| e.to_string())?;
            let mut ch = Channel::initiate(stream, &key).map_err(|e| e.to_string())?;
            ch.set_timeout(super::source::PEER_TIMEOUT).map_err(|e| e.to_string())?;
            ch.send(&Request::FaultChannel { token }).map_err(|e| e.to_string())?;
            let mut m = ModuleClient::connect().map_err(|e| e.to_string())?;
            let mut recent: HashMap<u64, Instant> = HashMap::new();
            loop {
                let addr = match rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(a) => a,
                    Err(RecvTimeoutError::Timeout) if ended.load(Ordering::Acquire) => return Ok(()),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                };
                let page = addr & !4095;
                // A request the window just answered (the task faulted on the next page
                // while the window was on its way) needs no round trip: the page is in the
                // pager. Only recently: a later request for it (the pager's 1 s re-send)
                // goes out again.
                recent.retain(|_, at: &mut Instant| at.elapsed() < RECENT);
                if recent.contains_key(&page) {
                    continue;
                }
                let t0 = Instant::now();
                ch.send(&Request::Fault { addr }).map_err(|e| e.to_string())?;
                // The faulting page alone first (its arrival wakes the task), then the window.
                let first = fault_pages(&mut ch)?;
                deliver(&mut m, pid, &first, uapi::PAGE_KIND_FAULT)?;
                let us = t0.elapsed().as_micros() as u64;
                let rest = fault_pages(&mut ch)?;
                deliver(&mut m, pid, &rest, uapi::PAGE_KIND_PREFETCH)?;
                let now = Instant::now();
                for (a, d) in &rest.runs {
                    for i in 0..d.len() as u64 / 4096 {
                        recent.insert(a + i * 4096, now);
                    }
                }
                let pre: u64 = rest.runs.iter().map(|(_, d)| d.len() as u64 / 4096).sum();
                table::update(record, |r| {
                    r.stats.remote_faults += 1;
                    r.stats.pages_faulted += 1;
                    r.stats.pages_prefetched += pre;
                    r.stats.wire_bytes += 4096 * (1 + pre);
                    r.stats.add_latency(us);
                });
            }
        })();
        if let Some(q) = queues().as_mut() {
            q.remove(&pid);
        }
        match result {
            Ok(()) => log::info!("pid {pid}: fault channel closed"),
            Err(e) if !ended.load(Ordering::Acquire) => fail(pid, &format!("fault channel: {e}")),
            Err(_) => {}
        }
    });
}

/// How long a page delivered with a window counts as "just arrived" for later requests.
const RECENT: Duration = Duration::from_millis(500);

fn fault_pages(ch: &mut Channel) -> Result<crate::peer::proto::PageBatch, String> {
    match ch.recv::<Response>().map_err(|e| e.to_string())? {
        Response::FaultPages(b) => Ok(b),
        other => Err(format!("unexpected {other:?}")),
    }
}

/// Receive the background push on the migration's connection, until PushDone.
pub fn receive_push(ch: &mut Channel, pid: u32, record: u64, started: Instant) -> Result<(), String> {
    let mut m = ModuleClient::connect().map_err(|e| e.to_string())?;
    loop {
        match ch.recv::<Request>() {
            Ok(Request::Push(batch)) => {
                deliver(&mut m, pid, &batch, uapi::PAGE_KIND_PUSH)?;
                let n: u64 = batch.runs.iter().map(|(_, d)| d.len() as u64).sum();
                table::update(record, |r| {
                    r.stats.pages_pushed += n / 4096;
                    r.stats.wire_bytes += n;
                });
            }
            Ok(Request::PushDone) => {
                let _ = m.pager_end(pid, uapi::PAGER_END_COMPLETE);
                let ms = started.elapsed().as_millis() as u64;
                table::update(record, |r| r.stats.complete_ms = ms.max(1));
                log::info!("pid {pid}: every page is here ({ms} ms after it started); the source may let go");
                ch.send(&Response::Released).map_err(|e| e.to_string())?;
                return Ok(());
            }
            Ok(other) => return Err(format!("unexpected {other:?} during the push")),
            Err(e) => {
                fail(pid, &format!("push: {e}"));
                return Err(format!("push: {e}"));
            }
        }
    }
}
