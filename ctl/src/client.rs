//! `migctl migrate` and `migctl ps`: ask this node's daemon over the local socket.

use std::io::{IsTerminal, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use crate::error::{CtlError, Result};
use crate::local::{self, LocalEvent, LocalRequest, SOCKET_PATH};
use crate::migrate::table;

fn connect() -> Result<UnixStream> {
    UnixStream::connect(SOCKET_PATH)
        .map_err(|e| CtlError::Other(format!("no migr daemon on this node ({SOCKET_PATH}: {e}); start `migctl serve`")))
}

fn io(e: std::io::Error) -> CtlError {
    CtlError::Other(format!("local daemon: {e}"))
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

pub fn migrate(pid: u32, to: &str, timeout_ms: u32, mode: crate::peer::proto::Mode) -> Result<()> {
    // The proof that we may ptrace it: the kernel checks ptrace access when we open this.
    let refused = |why: String| CtlError::Refused(format!("pid {pid}: {why}"));
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => refused("no such process".into()),
        std::io::ErrorKind::PermissionDenied => refused("you may not ptrace it, so you may not migrate it".into()),
        // The process exists but has no memory to open.
        _ if e.raw_os_error() == Some(libc::ESRCH) => refused("it is a kernel thread".into()),
        _ => refused(e.to_string()),
    })?;
    let mut s = connect()?;
    local::send_fd(&s, mem.as_raw_fd()).map_err(io)?;
    drop(mem);
    local::send(&mut s, &LocalRequest::Migrate { pid, to: to.into(), timeout_ms, mode }).map_err(io)?;
    let tty = std::io::stderr().is_terminal();
    let start = std::time::Instant::now();
    loop {
        match local::recv::<LocalEvent>(&mut s).map_err(io)? {
            LocalEvent::Progress { sent, total } => {
                if tty {
                    let rate = sent as f64 / start.elapsed().as_secs_f64().max(0.001);
                    eprint!("\r{pid} -> {to}: {} / {} ({}/s)   ", human(sent), human(total), human(rate as u64));
                    let _ = std::io::stderr().flush();
                }
            }
            LocalEvent::Done(o) => {
                if tty {
                    eprintln!();
                }
                println!(
                    "pid {} migrated to {} (pid {}): {} of memory, frozen {:.2} s, total {:.2} s",
                    o.pid,
                    o.node,
                    o.remote_pid,
                    human(o.bytes),
                    o.frozen_ms as f64 / 1000.0,
                    o.total_ms as f64 / 1000.0
                );
                return Ok(());
            }
            LocalEvent::Failed { refused, reason } => {
                if tty {
                    eprintln!();
                }
                let reason = format!("pid {pid}: {reason}");
                return Err(if refused { CtlError::Refused(reason) } else { CtlError::Failed(reason) });
            }
            LocalEvent::Table(_) => return Err(CtlError::Other("unexpected answer from the daemon".into())),
        }
    }
}

fn ask_table(req: LocalRequest) -> Result<Vec<table::Record>> {
    let mut s = connect()?;
    local::send_fd(&s, -1)
        .or_else(|_| {
            use std::io::Write;
            (&s).write_all(b"N")
        })
        .map_err(io)?;
    local::send(&mut s, &req).map_err(io)?;
    match local::recv::<LocalEvent>(&mut s).map_err(io)? {
        LocalEvent::Table(t) => Ok(t),
        _ => Err(CtlError::Other("unexpected answer from the daemon".into())),
    }
}

/// `migctl stats [ID]`: the counters of one migration (or all).
pub fn stats(id: Option<u64>, json: bool) -> Result<()> {
    let t = ask_table(LocalRequest::Stats { id })?;
    if t.is_empty() {
        return Err(CtlError::Other(match id {
            Some(i) => format!("no migration {i} on this node"),
            None => "no migrations on this node".into(),
        }));
    }
    for r in &t {
        if json {
            let mut v = serde_json::to_value(&r.stats).map_err(|e| CtlError::Other(e.to_string()))?;
            v["id"] = r.id.into();
            v["pid"] = r.pid.into();
            v["direction"] = r.direction.clone().into();
            v["state"] = r.state.clone().into();
            println!("{v}");
        } else {
            println!("{} pid {} {} {}: {}", r.id, r.pid, r.direction, r.peer, r.stats.format());
        }
    }
    Ok(())
}

pub fn ps(json: bool) -> Result<()> {
    let mut s = connect()?;
    local::send_fd(&s, -1).or_else(|_| {
        // No descriptor to pass: a plain byte keeps the framing.
        use std::io::Write;
        (&s).write_all(b"N")
    })
    .map_err(io)?;
    local::send(&mut s, &LocalRequest::Ps).map_err(io)?;
    match local::recv::<LocalEvent>(&mut s).map_err(io)? {
        LocalEvent::Table(t) => {
            if json {
                println!("{}", serde_json::to_string(&t).map_err(|e| CtlError::Other(e.to_string()))?);
            } else {
                print!("{}", table::format(&t));
            }
            Ok(())
        }
        _ => Err(CtlError::Other("unexpected answer from the daemon".into())),
    }
}
