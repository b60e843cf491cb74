//! Lazy mode, source side: the page server, a service of the outgoing session (answers faults
//! with the page and a prefetch window read from the parked original), and the background
//! push. Both read the original through /proc/PID/mem; a page goes over the wire once (the
//! `sent` set), whichever path sends it first.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};

use super::{Service, ServiceError};
use crate::image::Vma;
use crate::migrate::pages::{self, Run, TaskMemory, PAGE};
use crate::node::Node;
use crate::peer::channel::{Channel, ChannelError};
use crate::peer::proto::{PageBatch, Request, Response};

/// Prefetch window, in pages: starts here, doubles on each fault that continues the last
/// window, falls back on a jump.
const WINDOW_START: u64 = 4;
const WINDOW_MAX: u64 = 32;
/// The first piece a window is sent in, in pages (see `send_window`).
const WINDOW_PIECE: u64 = 4;

pub struct PageServer {
    node: Arc<Node>,
    pub token: u64,
    /// The parked original's memory.
    mem: TaskMemory,
    lazy: Vec<Vma>,
    /// The pages of `lazy` the original holds (what the push sends, and a `Rest`).
    runs: Vec<Run>,
    prefetch: bool,
    record: u64,
    sent: Mutex<HashSet<u64>>,
    /// Set once the original is released: a late fault request gets no answer.
    stopped: std::sync::atomic::AtomicBool,
    /// How the fault channel ended: closed by the target (its task is gone, or it has every
    /// page), or lost (the link or the peer gone: pages may be missing there).
    done: (Mutex<Option<Result<(), String>>>, Condvar),
}

impl Service for PageServer {
    fn name(&self) -> &'static str {
        "page server"
    }

    /// The original is released: a late fault request gets no answer.
    fn stop(&self) {
        self.stopped.store(true, std::sync::atomic::Ordering::Release);
        self.node.registry.remove_page_server(self.token);
    }
}

impl PageServer {
    /// Serve the pages of `lazy` from `mem` to the fault channel the target opens with `token`.
    pub fn start(node: &Arc<Node>, token: u64, mem: &TaskMemory, lazy: Vec<Vma>, runs: Vec<Run>, prefetch: bool, record: u64) -> std::io::Result<Arc<Self>> {
        let s = Arc::new(PageServer {
            node: node.clone(),
            token,
            mem: mem.try_clone()?,
            lazy,
            runs,
            prefetch,
            record,
            sent: Mutex::new(HashSet::new()),
            stopped: std::sync::atomic::AtomicBool::new(false),
            done: (Mutex::new(None), Condvar::new()),
        });
        node.registry.add_page_server(s.clone());
        Ok(s)
    }

    /// Keep the pages of `batch` not sent yet, and mark them sent. A run none of whose pages
    /// went before (the push's usual case) is kept as it is, not copied.
    fn unsent(&self, batch: PageBatch) -> PageBatch {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = PageBatch { runs: Vec::new() };
        for (addr, data) in batch.runs {
            let fresh: Vec<bool> = (0..data.len() as u64 / PAGE).map(|i| sent.insert(addr / PAGE + i)).collect();
            if fresh.iter().all(|&f| f) {
                out.runs.push((addr, data));
                continue;
            }
            for (i, page) in data.chunks(PAGE as usize).enumerate().filter(|(i, _)| fresh[*i]) {
                let a = addr + i as u64 * PAGE;
                match out.runs.last_mut() {
                    Some((s, d)) if *s + d.len() as u64 == a => d.extend_from_slice(page),
                    _ => out.runs.push((a, page.to_vec().into())),
                }
            }
        }
        out
    }

    /// The faulting page. It goes even if it went before (the target lost it, or it was zero).
    fn read_page(&self, page: u64) -> std::io::Result<PageBatch> {
        let data = self.mem.read_new(PAGE as usize, page)?;
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).insert(page / PAGE);
        Ok(PageBatch { runs: vec![(page, data.into())] })
    }

    /// The pages after the faulting `page` that its window covers, in its mapping: how many
    /// (at most `window - 1`).
    fn window_len(&self, page: u64, window: u64) -> u64 {
        let end = self.lazy.iter().find(|v| v.contains(page)).map(|v| v.end).unwrap_or(page + PAGE);
        (window - 1).min((end - page) / PAGE - 1)
    }

    /// `n` pages from `start`, not sent yet and not all zero (zeros arrive anyway, as zero
    /// pages on the target).
    fn read_window_piece(&self, start: u64, n: u64) -> std::io::Result<PageBatch> {
        let mut batch = PageBatch { runs: Vec::new() };
        if n == 0 {
            return Ok(batch);
        }
        let data = self.mem.read_new((n * PAGE) as usize, start)?;
        for (a, d) in self.unsent(PageBatch { runs: vec![(start, data.into())] }).runs {
            if d.chunks(PAGE as usize).all(|p| p.iter().all(|&b| b == 0)) {
                continue;
            }
            batch.runs.push((a, d));
        }
        Ok(batch)
    }

    /// Send the window after the faulting `page` in pieces that double from WINDOW_PIECE
    /// pages, a piece taking all that is left when that is at most twice its size (31 pages:
    /// 4, 8, 19): `WindowPart`s, the last one `FaultPages`, the target's sign that the window
    /// is over (an empty window is one empty `FaultPages`). Each piece is read, sealed and sent while
    /// the target places the one before: the target's one CPU decrypts and places piece k
    /// while ours seals piece k + 1, instead of each side waiting for the other's whole
    /// window, and the task reads on as soon as the first piece is in. Returns the pages sent.
    fn send_window(&self, ch: &mut Channel, page: u64, window: u64) -> std::io::Result<u64> {
        let n = self.window_len(page, window);
        let (mut start, mut left, mut piece, mut sent) = (page + PAGE, n, WINDOW_PIECE, 0);
        loop {
            let take = if left <= piece * 2 { left } else { piece };
            let batch = self.read_window_piece(start, take)?;
            sent += batch.runs.iter().map(|(_, d)| d.len() as u64 / PAGE).sum::<u64>();
            let wrap = if take == left { Response::FaultPages } else { Response::WindowPart };
            ch.send_batch(wrap, &batch).map_err(|e| std::io::Error::other(e.to_string()))?;
            if take == left {
                return Ok(sent);
            }
            (start, left, piece) = (start + take * PAGE, left - take, piece * 2);
        }
    }

    fn finish(&self, how: Result<(), String>) {
        let (lock, cv) = &self.done;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = Some(how);
        cv.notify_all();
    }

    /// Wait until the fault channel ends: Ok if the target closed it, else why it was lost.
    pub fn wait_done(&self) -> Result<(), String> {
        let (lock, cv) = &self.done;
        let mut done = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match &*done {
                Some(how) => return how.clone(),
                None => done = cv.wait(done).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }

    /// Stream every page the original holds and the target lacks, then PushDone; returns once
    /// the target says it has them all (Released). `progress(done, total)` after each batch.
    pub fn push(&self, ch: &mut Channel, progress: &mut dyn FnMut(u64, u64)) -> Result<(), PushFailed> {
        self.push_all(ch, progress).map_err(PushFailed)
    }

    /// Answer a `Rest` on the fault channel: every page not sent yet, then AllSent. (Only
    /// without a push: a pushed page may still be on its way on the other connection.)
    fn send_rest(&self, ch: &mut Channel) -> Result<u64, ServiceError> {
        let mut bytes = 0;
        pages::read_batches(&self.mem, &self.runs, |batch, _| {
            let batch = self.unsent(batch);
            if batch.runs.is_empty() {
                return Ok(());
            }
            bytes += batch.runs.iter().map(|(_, d)| d.len() as u64).sum::<u64>();
            ch.send_batch(Response::FaultPages, &batch)?;
            Ok::<(), ServiceError>(())
        })?;
        ch.send(&Response::AllSent)?;
        Ok(bytes)
    }

    fn push_all(&self, ch: &mut Channel, progress: &mut dyn FnMut(u64, u64)) -> Result<(), ServiceError> {
        let runs = &self.runs;
        let total = pages::total_bytes(runs);
        pages::read_batches(&self.mem, runs, |batch, done| {
            progress(done, total);
            let batch = self.unsent(batch);
            if batch.runs.is_empty() {
                return Ok(());
            }
            let n: u64 = batch.runs.iter().map(|(_, d)| d.len() as u64).sum();
            ch.send_batch(Request::Push, &batch)?;
            self.node.update(self.record, |r| {
                r.stats.pages_pushed += n / PAGE;
                r.stats.wire_bytes += n;
            });
            Ok::<(), ServiceError>(())
        })?;
        ch.send(&Request::PushDone)?;
        match ch.recv::<Response>()? {
            Response::Released => Ok(()),
            other => Err(ServiceError::unexpected(other)),
        }
    }
}

/// Serve a fault channel a target opened (`FaultChannel { token }`), until it closes.
pub fn serve_faults(node: &Node, ch: &mut Channel, token: u64, peer: &str) {
    let Some(srv) = node.registry.page_server(token) else {
        log::warn!("peer {peer}: fault channel for an unknown migration");
        let _ = ch.send(&Response::Error("no such migration".into()));
        return;
    };
    let mut window = WINDOW_START;
    let (mut prev, mut next) = (u64::MAX, u64::MAX);
    // The task there may fault on nothing for as long as it likes (--no-push: no time limit
    // while the source lives); only a vanished peer ends the channel.
    if let Err(e) = ch.set_idle_allowed() {
        log::warn!("peer {peer}: fault channel: {e}");
        return srv.finish(Err(format!("fault channel: {e}")));
    }
    let how = loop {
        let addr = match ch.recv::<Request>() {
            Ok(Request::Fault { addr }) => addr,
            Ok(Request::Rest) => match srv.send_rest(ch) {
                Ok(n) => {
                    log::info!("peer {peer}: sent the rest of a lazy task's memory ({} KiB) as it moves on", n >> 10);
                    srv.node.update(srv.record, |r| {
                        r.stats.pages_pushed += n / PAGE;
                        r.stats.wire_bytes += n;
                    });
                    continue;
                }
                Err(e) => {
                    log::warn!("peer {peer}: the rest of a lazy task's memory: {e}");
                    break Err(format!("rest: {e}"));
                }
            },
            Ok(other) => {
                log::warn!("peer {peer}: unexpected {other:?} on a fault channel");
                break Err(format!("unexpected {other:?} on the fault channel"));
            }
            // The target closed it: its task ended or has every page.
            Err(ChannelError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break Ok(()),
            Err(e) => {
                log::warn!("peer {peer}: fault channel lost: {e}; the copy there faults on nothing more from here");
                break Err(format!("fault channel lost: {e}"));
            }
        };
        let page = addr & !(PAGE - 1);
        // Sequential: the fault lands in or right after the last window.
        window = if !srv.prefetch {
            1
        } else if page > prev && page <= next {
            (window * 2).min(WINDOW_MAX)
        } else {
            WINDOW_START
        };
        prev = page;
        // The faulting page alone first, sent before the window is even read, so the task
        // waits for one page's round trip and no more; then the window (maybe empty), in
        // pieces, while the task runs on.
        let t0 = std::time::Instant::now();
        let answer = srv.read_page(page).and_then(|first| {
            let t1 = t0.elapsed().as_micros();
            ch.send_batch(Response::FaultPages, &first).map_err(|e| std::io::Error::other(e.to_string()))?;
            log::debug!("fault at {page:#x}: read in {t1} us, sent after {} us", t0.elapsed().as_micros());
            srv.send_window(ch, page, window)
        });
        next = page + window * PAGE;
        match answer {
            Ok(pre) => srv.node.update(srv.record, |r| {
                r.stats.pages_faulted += 1;
                r.stats.pages_prefetched += pre;
                r.stats.remote_faults += 1;
                r.stats.wire_bytes += (1 + pre) * PAGE;
            }),
            Err(_) if srv.stopped.load(std::sync::atomic::Ordering::Acquire) => break Ok(()),
            Err(e) => {
                log::warn!("fault at {page:#x}: {e}");
                let _ = ch.send(&Response::Error(format!("cannot read {page:#x}: {e}")));
                break Err(format!("fault at {page:#x}: {e}"));
            }
        }
    };
    srv.finish(how);
}


/// The background push broke off: the target lacks pages it will fault on.
#[derive(Debug, thiserror::Error)]
#[error("push: {0}")]
pub struct PushFailed(pub ServiceError);
