//! The daemon's end of the local control socket (see `local`): runs migrations out of this
//! node for local callers and answers `ps`.

use log::{info, warn};
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::error::{CtlError, Failure, Refused, Result};
use crate::local::{self, LocalEvent, LocalRequest};
use crate::migrate::source;
use crate::migrate::table::{Direction, State};
use crate::node::Node;

/// Local connections served at once; more wait in the kernel's backlog until one ends.
const MAX_CONNECTIONS: usize = 64;
/// A caller must send its request within this long after connecting.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A caller that stops reading its migration's events is dropped after this long (the
/// migration goes on without it).
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Migrations in progress at once per user (root: no limit).
pub const MAX_IN_PROGRESS_PER_USER: usize = 8;

pub fn start(node: Arc<Node>) -> Result<()> {
    let path = node.config.socket.clone();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CtlError::io(dir, e))?;
    }
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(|e| CtlError::io(&path, e))?;
    // Anyone may ask; what they may migrate is decided per request (ptrace proof), what they
    // may see is their own (the caller's uid from the kernel, SO_PEERCRED).
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).map_err(|e| CtlError::io(&path, e))?;
    let slots = Arc::new((Mutex::new(0usize), Condvar::new()));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            match conn {
                Ok(s) => {
                    let slot = Slot::take(&slots);
                    let node = node.clone();
                    std::thread::spawn(move || {
                        handle(s, &node);
                        drop(slot);
                    });
                }
                Err(e) => warn!("local accept failed: {e}"),
            }
        }
    });
    Ok(())
}

/// One of the MAX_CONNECTIONS connection slots, given back on drop.
struct Slot(Arc<(Mutex<usize>, Condvar)>);

impl Slot {
    /// Wait for a free slot (the accept loop stops accepting meanwhile).
    fn take(slots: &Arc<(Mutex<usize>, Condvar)>) -> Slot {
        let (n, cv) = &**slots;
        let mut n = n.lock().unwrap_or_else(|p| p.into_inner());
        while *n >= MAX_CONNECTIONS {
            n = cv.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n += 1;
        Slot(slots.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (n, cv) = &*self.0;
        *n.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        cv.notify_one();
    }
}

fn handle(mut s: UnixStream, node: &Arc<Node>) {
    // Who asks, from the kernel; a caller who cannot be identified is not served.
    let Ok(cred) = nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::PeerCredentials) else {
        return warn!("local client: no peer credentials");
    };
    let uid = cred.uid();
    let _ = s.set_read_timeout(Some(REQUEST_TIMEOUT));
    let _ = s.set_write_timeout(Some(EVENT_TIMEOUT));
    let proof = match local::recv_fd(&s) {
        Ok(fd) => fd,
        Err(e) => return warn!("local client uid {uid}: {e}"),
    };
    let req: LocalRequest = match local::recv(&mut s, local::MAX_REQUEST) {
        Ok(r) => r,
        Err(e) => return warn!("local client uid {uid}: {e}"),
    };
    match req {
        LocalRequest::Ps => {
            let _ = local::send(&mut s, &LocalEvent::Table(node.table.visible_to(uid)));
        }
        LocalRequest::Forget => {
            // The records are the node's: only root may drop them.
            let answer = if uid == 0 {
                let n = node.table.forget_ended();
                info!("forgot {n} ended migration(s), asked by uid 0");
                LocalEvent::Table(node.table.all())
            } else {
                LocalEvent::Failed(Failure::Failed("only root may forget migrations".into()))
            };
            let _ = local::send(&mut s, &answer);
        }
        LocalRequest::Stats { id } => {
            let t = node.table.visible_to(uid).into_iter().filter(|r| id.map_or(true, |i| r.id == i)).collect();
            let _ = local::send(&mut s, &LocalEvent::Table(t));
        }
        LocalRequest::Migrate { pid, to, timeout_ms, mode, deputy } => {
            let who = format!("uid {uid} (pid {})", cred.pid());
            let mem = match proof {
                Some(fd) if local::is_proc_mem_of(&fd, pid) => File::from(fd),
                _ => {
                    warn!("migrate {pid} asked by {who}: refused, no ptrace proof");
                    let _ = local::send(&mut s, &LocalEvent::Failed(Failure::Refused(Refused::NoProof)));
                    return;
                }
            };
            // Checked and recorded under the table's lock, so parallel requests cannot exceed it.
            let Some(record) = node.table.add_within(pid, Direction::Out, &to, uid, limit_for(uid)) else {
                warn!("migrate {pid} asked by {who}: refused, {MAX_IN_PROGRESS_PER_USER} in progress");
                let why = Refused::TooManyInProgress { uid, limit: MAX_IN_PROGRESS_PER_USER };
                let _ = local::send(&mut s, &LocalEvent::Failed(Failure::Refused(why)));
                return;
            };
            info!("migrate pid {pid} to {to}, asked by {who}");
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
            let req = source::Migration { pid, to: to.clone(), mode, timeout_ms, deputy, record };
            match source::migrate(node, req, mem, &mut events) {
                Ok(o) => info!(
                    "pid {pid} migrated to {to} (pid {}): {} bytes, frozen {} ms",
                    o.remote_pid, o.bytes, o.frozen_ms
                ),
                Err(f) => {
                    warn!("migrate pid {pid} to {to}: {f}");
                    // A broken lazy phase keeps its own state.
                    if !node.table.get(record).is_some_and(|r| matches!(r.state, State::LazyBroken(_))) {
                        node.set_state(record, State::from(&f));
                    }
                    events(LocalEvent::Failed(f));
                }
            }
        }
    }
}

/// How many migrations in progress `uid` may have (None: no limit).
fn limit_for(uid: u32) -> Option<usize> {
    (uid != 0).then_some(MAX_IN_PROGRESS_PER_USER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Config;
    use std::io::Write;

    fn ask(node: &Arc<Node>, req: LocalRequest) -> LocalEvent {
        let (mut client, daemon) = UnixStream::pair().unwrap();
        let node = node.clone();
        let t = std::thread::spawn(move || handle(daemon, &node));
        (&client).write_all(b"N").unwrap();
        local::send(&mut client, &req).unwrap();
        let ev = local::recv::<LocalEvent>(&mut client, local::MAX_ANSWER).unwrap();
        t.join().unwrap();
        ev
    }

    #[test]
    fn ps_shows_this_nodes_table() {
        let node = Node::new(crate::peer::key::Identity::new([0; 32], std::path::Path::new("/nonexistent")), None, Config::new("127.0.0.1:0", std::path::Path::new("/nonexistent")));
        let id = node.table.add(77, Direction::In, "node1", nix::unistd::getuid().as_raw());
        node.set_state(id, State::Running);
        match ask(&node, LocalRequest::Ps) {
            LocalEvent::Table(t) => assert_eq!((t.len(), t[0].pid, &t[0].state), (1, 77, &State::Running)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_migration_without_proof_is_refused_typed() {
        let node = Node::new(crate::peer::key::Identity::new([0; 32], std::path::Path::new("/nonexistent")), None, Config::new("127.0.0.1:0", std::path::Path::new("/nonexistent")));
        let req = LocalRequest::Migrate { pid: 1, to: "node2".into(), timeout_ms: 1000, mode: crate::peer::proto::Mode::Eager, deputy: None };
        let ev = ask(&node, req);
        assert_eq!(ev, LocalEvent::Failed(Failure::Refused(Refused::NoProof)));
        let LocalEvent::Failed(f) = ev else { unreachable!() };
        let e = f.into_error(1);
        assert_eq!((e.exit_code(), e.to_string().as_str()), (11, "migration refused: pid 1: the caller may not ptrace it"));
    }
}
