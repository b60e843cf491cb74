//! `migctl serve`: the node daemon. One thread per connection; every connection must pass the
//! Noise handshake with a key listed in the peers file before any request is read. What a peer that has not
//! authenticated can cost is bounded: at most MAX_HANDSHAKES of them at once (more are closed
//! on accept), each for at most HANDSHAKE_TIMEOUT, with the handshake's fixed-size buffers.
//! Refusals are logged with the peer's address.

use log::{info, warn};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::channel::{Channel, ChannelError};
use super::proto::{Request, Response};
use crate::error::{CtlError, Result};
use crate::node::Node;
use crate::session::{fault_channel, page_server};

/// A peer that connects and then says nothing is dropped after this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections in their handshake at once.
const MAX_HANDSHAKES: usize = 16;
static HANDSHAKES: AtomicUsize = AtomicUsize::new(0);

/// One of the MAX_HANDSHAKES handshake slots, given back on drop.
struct HandshakeSlot;

impl HandshakeSlot {
    fn take() -> Option<Self> {
        HANDSHAKES
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_HANDSHAKES).then_some(n + 1))
            .ok()
            .map(|_| HandshakeSlot)
    }
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        HANDSHAKES.fetch_sub(1, Ordering::AcqRel);
    }
}

pub fn run(node: Arc<Node>) -> Result<()> {
    let listen = &node.config.listen;
    let listener =
        TcpListener::bind(listen).map_err(|source| CtlError::Listen { addr: listen.clone(), source })?;
    info!("migctl serve: listening on {listen}");
    crate::daemon_local::start(node.clone())?;
    fault_channel::start_listener(node.clone());
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let Some(slot) = HandshakeSlot::take() else {
                    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
                    warn!("refused peer {peer}: {MAX_HANDSHAKES} handshakes in progress already");
                    continue;
                };
                let node = node.clone();
                std::thread::spawn(move || handle(stream, node, slot));
            }
            Err(e) => warn!("accept failed: {e}"),
        }
    }
    Ok(())
}

fn handle(stream: TcpStream, node: Arc<Node>, slot: HandshakeSlot) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    let _ = stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(HANDSHAKE_TIMEOUT));
    let accepted = Channel::accept(stream, &node.identity);
    drop(slot);
    let mut ch = match accepted {
        Ok(ch) => ch,
        Err(ChannelError::Auth) => {
            warn!("refused peer {peer}: authentication failed (not a migr node, or its handshake was altered)");
            return;
        }
        Err(e) => {
            warn!("refused peer {peer}: {e}");
            return;
        }
    };
    info!("peer {peer} authenticated as {}", ch.peer_name);
    let peer = format!("{peer} ({})", ch.peer_name);
    if let Err(e) = ch.set_timeout(node.config.peer_timeout) {
        warn!("peer {peer}: {e}");
        return;
    }
    loop {
        let req: Request = match ch.recv() {
            Ok(r) => r,
            Err(ChannelError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return,
            Err(e) => {
                warn!("peer {peer}: {e}");
                return;
            }
        };
        let resp = match req {
            Request::Restore(offer) => {
                // The migration's session takes the connection; it ends with the migration.
                return crate::migrate::target::restore(&node, ch, *offer, &peer);
            }
            Request::FaultChannel { token } => {
                page_server::serve_faults(&node, &mut ch, token, &peer);
                return;
            }
            Request::Moved { pid, to } => crate::migrate::home::note_moved(&node, pid, &to, ch.peer_ip(), &peer),
            Request::Signal { pid, signal } => crate::migrate::deputy::deliver_signal(&node, pid, signal, ch.peer_ip(), &peer),
            Request::Exited { pid, status } => crate::migrate::deputy::note_exited(&node, pid, status, ch.peer_ip(), &peer),
            Request::Stopped { pid, signal } => crate::migrate::deputy::note_stopped(&node, pid, Some(signal), ch.peer_ip(), &peer),
            Request::Continued { pid } => crate::migrate::deputy::note_stopped(&node, pid, None, ch.peer_ip(), &peer),
            Request::Holds { pid } => crate::migrate::deputy::holds(&node, pid, ch.peer_ip()),
            Request::HasDeputy { pid } => crate::migrate::deputy::has_deputy(&node, pid),
            Request::HomeIds { pid, of } => crate::migrate::home_calls::answer_ids(&node, pid, of, ch.peer_ip(), &peer),
            Request::HomeFile { pid, fd, op } => crate::fd::home_file::answer(&node, pid, fd, op, ch.peer_ip(), &peer),
            Request::HomeKill { pid, target, signal } => {
                crate::migrate::home_calls::answer_kill(&node, pid, target, signal, ch.peer_ip(), &peer)
            }
            Request::RelayIn { pid, inputs } => {
                crate::fd::relay::serve_in(&node, &mut ch, pid, inputs, &peer);
                return;
            }
            Request::RelayOut { pid, outputs } => {
                crate::fd::relay::serve_out(&node, &mut ch, pid, outputs, &peer);
                return;
            }
            other => answer(other, &node),
        };
        if let Err(e) = ch.send(&resp) {
            warn!("peer {peer}: {e}");
            return;
        }
    }
}

fn answer(req: Request, node: &Node) -> Response {
    match req {
        Request::Restore(_)
        | Request::Pages(_)
        | Request::PagerPages(_)
        | Request::Go
        | Request::Push(_)
        | Request::PushDone
        | Request::FaultChannel { .. }
        | Request::Moved { .. }
        | Request::Signal { .. }
        | Request::Exited { .. }
        | Request::Stopped { .. }
        | Request::Continued { .. }
        | Request::Holds { .. }
        | Request::HasDeputy { .. }
        | Request::HomeIds { .. }
        | Request::HomeKill { .. }
        | Request::HomeFile { .. }
        | Request::RelayIn { .. }
        | Request::RelayOut { .. }
        | Request::RelayData { .. }
        | Request::RelayEof { .. }
        | Request::RelayWinsize { .. }
        | Request::RelayModes { .. }
        | Request::RelayEnd { .. }
        | Request::Fault { .. }
        | Request::Rest => {
            Response::Error("no migration in progress on this connection".into())
        }
        Request::Ping { nonce } => Response::Pong {
            nonce,
            node: crate::node::hostname(),
            module: crate::genl::ModuleClient::connect()
                .and_then(|mut c| c.info())
                .ok()
                .map(|i| i.module_version),
            status: crate::nodes::NodeStatus::here(node.table.guests(&crate::node::hostname())),
        },
    }
}
