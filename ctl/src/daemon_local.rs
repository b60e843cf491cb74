//! The daemon's end of the local control socket (see `local`): runs migrations out of this
//! node for local callers and answers `ps`.

use log::{info, warn};
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};

use crate::error::{CtlError, Result};
use crate::local::{self, LocalEvent, LocalRequest};
use crate::migrate::{source, table};

pub fn start(key: [u8; 32], path: &std::path::Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CtlError::Other(format!("{}: {e}", dir.display())))?;
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(|e| CtlError::Other(format!("{}: {e}", path.display())))?;
    // Anyone may ask; what they may migrate is decided per request (ptrace proof).
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| CtlError::Other(format!("{}: {e}", path.display())))?;
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            match conn {
                Ok(s) => {
                    std::thread::spawn(move || handle(s, &key));
                }
                Err(e) => warn!("local accept failed: {e}"),
            }
        }
    });
    Ok(())
}

fn handle(mut s: UnixStream, key: &[u8; 32]) {
    let proof = match local::recv_fd(&s) {
        Ok(fd) => fd,
        Err(e) => return warn!("local client: {e}"),
    };
    let req: LocalRequest = match local::recv(&mut s) {
        Ok(r) => r,
        Err(e) => return warn!("local client: {e}"),
    };
    match req {
        LocalRequest::Ps => {
            let _ = local::send(&mut s, &LocalEvent::Table(table::all()));
        }
        LocalRequest::Stats { id } => {
            let t = table::all().into_iter().filter(|r| id.map_or(true, |i| r.id == i)).collect();
            let _ = local::send(&mut s, &LocalEvent::Table(t));
        }
        LocalRequest::Migrate { pid, to, timeout_ms, mode } => {
            let cred = nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::PeerCredentials);
            let who = cred.map(|c| format!("uid {} (pid {})", c.uid(), c.pid())).unwrap_or_else(|_| "?".into());
            let mem = match proof {
                Some(fd) if local::is_proc_mem_of(&fd, pid) => File::from(fd),
                _ => {
                    warn!("migrate {pid} asked by {who}: refused, no ptrace proof");
                    let _ = local::send(
                        &mut s,
                        &LocalEvent::Failed { refused: true, reason: "the caller may not ptrace it".into() },
                    );
                    return;
                }
            };
            info!("migrate pid {pid} to {to}, asked by {who}");
            let record = table::add(pid, "out", &to);
            let mut client = s.try_clone().ok();
            let mut events = |ev: LocalEvent| {
                // A caller that went away does not stop the migration.
                if let Some(c) = client.as_mut() {
                    if local::send(c, &ev).is_err() {
                        client = None;
                    }
                }
            };
            // Done goes out from inside (when the task runs there); a lazy migration goes on
            // serving pages after that.
            match source::migrate(pid, &to, mode, timeout_ms, mem, key, record, &mut events) {
                Ok(o) => info!(
                    "pid {pid} migrated to {to} (pid {}): {} bytes, frozen {} ms",
                    o.remote_pid, o.bytes, o.frozen_ms
                ),
                Err(f) => {
                    warn!("migrate pid {pid} to {to}: {}{}", if f.refused { "refused: " } else { "failed: " }, f.reason);
                    if !table::get(record).is_some_and(|r| r.state.starts_with("lazy phase")) {
                        table::set_state(record, format!("{}: {}", if f.refused { "refused" } else { "failed" }, f.reason));
                    }
                    events(LocalEvent::Failed { refused: f.refused, reason: f.reason });
                }
            }
        }
    }
}
