//! The daemon's end of the local control socket (see `local`): runs migrations out of this
//! node for local callers and answers `ps`.

use log::{info, warn};
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;

use crate::error::{CtlError, Failure, Refused, Result};
use crate::local::{self, LocalEvent, LocalRequest};
use crate::migrate::source;
use crate::migrate::table::{Direction, State};
use crate::node::Node;

pub fn start(node: Arc<Node>) -> Result<()> {
    let path = node.config.socket.clone();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CtlError::io(dir, e))?;
    }
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(|e| CtlError::io(&path, e))?;
    // Anyone may ask; what they may migrate is decided per request (ptrace proof).
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).map_err(|e| CtlError::io(&path, e))?;
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            match conn {
                Ok(s) => {
                    let node = node.clone();
                    std::thread::spawn(move || handle(s, &node));
                }
                Err(e) => warn!("local accept failed: {e}"),
            }
        }
    });
    Ok(())
}

fn handle(mut s: UnixStream, node: &Arc<Node>) {
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
            let _ = local::send(&mut s, &LocalEvent::Table(node.table.all()));
        }
        LocalRequest::Forget => {
            // The records are the node's: only root may drop them (anyone may read them).
            let uid = nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::PeerCredentials).map(|c| c.uid());
            let answer = if uid == Ok(0) {
                let n = node.table.forget_ended();
                info!("forgot {n} ended migration(s), asked by uid 0");
                LocalEvent::Table(node.table.all())
            } else {
                LocalEvent::Failed(Failure::Failed("only root may forget migrations".into()))
            };
            let _ = local::send(&mut s, &answer);
        }
        LocalRequest::Stats { id } => {
            let t = node.table.all().into_iter().filter(|r| id.map_or(true, |i| r.id == i)).collect();
            let _ = local::send(&mut s, &LocalEvent::Table(t));
        }
        LocalRequest::Migrate { pid, to, timeout_ms, mode } => {
            let cred = nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::PeerCredentials);
            let who = cred.map(|c| format!("uid {} (pid {})", c.uid(), c.pid())).unwrap_or_else(|_| "?".into());
            let mem = match proof {
                Some(fd) if local::is_proc_mem_of(&fd, pid) => File::from(fd),
                _ => {
                    warn!("migrate {pid} asked by {who}: refused, no ptrace proof");
                    let _ = local::send(&mut s, &LocalEvent::Failed(Failure::Refused(Refused::NoProof)));
                    return;
                }
            };
            info!("migrate pid {pid} to {to}, asked by {who}");
            let record = node.table.add(pid, Direction::Out, &to);
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
            let req = source::Migration { pid, to: to.clone(), mode, timeout_ms, record };
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
        let ev = local::recv::<LocalEvent>(&mut client).unwrap();
        t.join().unwrap();
        ev
    }

    #[test]
    fn ps_shows_this_nodes_table() {
        let node = Node::new([0; 32], None, Config::new("127.0.0.1:0", std::path::Path::new("/nonexistent")));
        let id = node.table.add(77, Direction::In, "node1");
        node.set_state(id, State::Running);
        match ask(&node, LocalRequest::Ps) {
            LocalEvent::Table(t) => assert_eq!((t.len(), t[0].pid, &t[0].state), (1, 77, &State::Running)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_migration_without_proof_is_refused_typed() {
        let node = Node::new([0; 32], None, Config::new("127.0.0.1:0", std::path::Path::new("/nonexistent")));
        let req = LocalRequest::Migrate { pid: 1, to: "node2".into(), timeout_ms: 1000, mode: crate::peer::proto::Mode::Eager };
        let ev = ask(&node, req);
        assert_eq!(ev, LocalEvent::Failed(Failure::Refused(Refused::NoProof)));
        let LocalEvent::Failed(f) = ev else { unreachable!() };
        let e = f.into_error(1);
        assert_eq!((e.exit_code(), e.to_string().as_str()), (11, "migration refused: pid 1: the caller may not ptrace it"));
    }
}
