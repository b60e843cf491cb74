//! `migctl migrate` and `migctl ps`: ask this node's daemon over the local socket.

use std::io::{IsTerminal, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use crate::error::{CtlError, Refused, Result};
use crate::local::{self, LocalEvent, LocalRequest, SOCKET_PATH};
use crate::migrate::table;
use crate::uapi::Refusal;

fn connect() -> Result<UnixStream> {
    UnixStream::connect(SOCKET_PATH).map_err(|source| CtlError::NoDaemon { path: SOCKET_PATH.into(), source })
}

fn io(e: std::io::Error) -> CtlError {
    CtlError::LocalDaemon(e)
}

fn human(bytes: u64) -> String {
    if bytes >= 10 << 20 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 10 << 10 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

/// One progress line of a migration (as `pv` or `rsync --progress` show theirs): pages and
/// bytes moved of the total, the rate so far and the time left at that rate.
fn progress_line(pid: u32, to: &str, sent: u64, total: u64, elapsed: std::time::Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = sent as f64 / secs;
    let pct = if total > 0 { sent * 100 / total } else { 100 };
    let left = if rate > 0.0 { format!("{:.0} s left", total.saturating_sub(sent) as f64 / rate) } else { "? left".into() };
    format!(
        "{pid} -> {to}: {} pages, {} / {} ({pct}%), {}/s, {left}",
        sent / 4096,
        human(sent),
        human(total),
        human(rate as u64)
    )
}

/// After a lazy migration's Done, on a terminal: the background push until the source lets
/// the original go (the process runs on the target all along; ending here ends nothing).
fn follow_push(s: &mut std::os::unix::net::UnixStream, pid: u32, to: &str) {
    let start = std::time::Instant::now();
    loop {
        match local::recv::<LocalEvent>(s, local::MAX_ANSWER) {
            Ok(LocalEvent::Pushed { sent, total }) => {
                eprint!("\rpushing: {}   ", progress_line(pid, to, sent, total, start.elapsed()));
                let _ = std::io::stderr().flush();
            }
            Ok(LocalEvent::Released { after_ms }) => {
                eprintln!("\npid {pid}: every page is on {to}; the source let the original go after {:.1} s", after_ms as f64 / 1000.0);
                return;
            }
            Ok(LocalEvent::Failed(f)) => {
                eprintln!("\npid {pid}: {f}");
                return;
            }
            Ok(_) => {}
            Err(_) => {
                eprintln!();
                return;
            }
        }
    }
}

/// `migctl migrate`: progress on stderr when it is a terminal; the outcome as a sentence, or
/// with `json` as one JSON object (the final figures).
pub fn migrate(pid: u32, to: &str, timeout_ms: u32, mode: crate::peer::proto::Mode, deputy: Option<bool>, json: bool) -> Result<()> {
    // The proof that we may ptrace it: the kernel checks ptrace access when we open this.
    let refused = |reason: Refused| CtlError::Refused { pid, reason };
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).map_err(|e| match e.kind() {
        // What the module would refuse, found first.
        std::io::ErrorKind::NotFound => refused(Refused::Module(Refusal::NoSuchPid)),
        std::io::ErrorKind::PermissionDenied => refused(Refused::NotPtraceable),
        // The process exists but has no memory to open.
        _ if e.raw_os_error() == Some(libc::ESRCH) => refused(Refused::Module(Refusal::KernelThread)),
        _ => refused(Refused::Other(e.to_string())),
    })?;
    let mut s = connect()?;
    local::send_fd(&s, mem.as_raw_fd()).map_err(io)?;
    drop(mem);
    local::send(&mut s, &LocalRequest::Migrate { pid, to: to.into(), timeout_ms, mode, deputy }).map_err(io)?;
    let tty = std::io::stderr().is_terminal();
    let start = std::time::Instant::now();
    loop {
        match local::recv::<LocalEvent>(&mut s, local::MAX_ANSWER).map_err(io)? {
            LocalEvent::Progress { sent, total } => {
                if tty {
                    eprint!("\r{}   ", progress_line(pid, to, sent, total, start.elapsed()));
                    let _ = std::io::stderr().flush();
                }
            }
            LocalEvent::Done(o) => {
                if tty {
                    eprintln!();
                }
                if json {
                    println!("{}", serde_json::to_string(&o)?);
                } else {
                    println!(
                    "pid {} migrated to {} (pid {}): {} of memory, frozen {:.2} s, total {:.2} s",
                    o.pid,
                    o.node,
                    o.remote_pid,
                    human(o.bytes),
                    o.frozen_ms as f64 / 1000.0,
                    o.total_ms as f64 / 1000.0
                    );
                }
                // Lazy with push, on a terminal: the push's progress until the source is released.
                if tty && matches!(mode, crate::peer::proto::Mode::Lazy { push: true, .. }) {
                    follow_push(&mut s, pid, to);
                }
                return Ok(());
            }
            LocalEvent::Pushed { .. } | LocalEvent::Released { .. } => {}
            LocalEvent::Failed(f) => {
                if tty {
                    eprintln!();
                }
                return Err(f.into_error(pid));
            }
            LocalEvent::Table(_) => return Err(CtlError::UnexpectedAnswer),
        }
    }
}

/// The migrations of this node the caller may see (as `migctl ps`).
pub fn table() -> Result<Vec<table::Record>> {
    ask_table(LocalRequest::Ps)
}

fn ask_table(req: LocalRequest) -> Result<Vec<table::Record>> {
    let mut s = connect()?;
    // No descriptor to pass: a plain byte keeps the framing.
    local::send_fd(&s, -1).or_else(|_| (&s).write_all(b"N")).map_err(io)?;
    local::send(&mut s, &req).map_err(io)?;
    match local::recv::<LocalEvent>(&mut s, local::MAX_ANSWER).map_err(io)? {
        LocalEvent::Table(t) => Ok(t),
        LocalEvent::Failed(crate::error::Failure::Failed(why)) => Err(CtlError::LocalDaemon(std::io::Error::other(why))),
        _ => Err(CtlError::UnexpectedAnswer),
    }
}

/// `migctl stats [ID]`: the counters of one migration (or all).
pub fn stats(id: Option<u64>, json: bool) -> Result<()> {
    let t = ask_table(LocalRequest::Stats { id })?;
    if t.is_empty() {
        return Err(id.map_or(CtlError::NoMigrations, CtlError::NoSuchMigration));
    }
    for r in &t {
        if json {
            let mut v = serde_json::to_value(&r.stats)?;
            let rec = r.to_json();
            for k in ["id", "pid", "direction", "state"] {
                v[k] = rec[k].clone();
            }
            println!("{v}");
        } else {
            println!("{} pid {} {} {}: {}", r.id, r.pid, r.direction, r.peer, r.stats.format());
        }
    }
    Ok(())
}

/// `migctl ps`: the migrations in and out of this node.
pub fn ps(json: bool, forget: bool) -> Result<()> {
    let t = ask_table(if forget { LocalRequest::Forget } else { LocalRequest::Ps })?;
    if json {
        let v: Vec<serde_json::Value> = t.iter().map(|r| r.to_json()).collect();
        println!("{}", serde_json::to_string(&v)?);
    } else {
        print!("{}", table::format(&t));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_says_pages_bytes_rate_and_time_left() {
        let l = progress_line(42, "node2", 64 << 20, 256 << 20, std::time::Duration::from_secs(2));
        assert_eq!(l, "42 -> node2: 16384 pages, 64 MiB / 256 MiB (25%), 32 MiB/s, 6 s left");
        assert!(progress_line(1, "n", 0, 0, std::time::Duration::ZERO).contains("(100%)"));
    }
}
