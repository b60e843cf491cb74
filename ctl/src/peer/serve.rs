//! `migctl serve`: the node daemon. One thread per connection; every connection must pass the
//! Noise handshake with the cluster key before any request is read. Refusals are logged with
//! the peer's address.

use log::{info, warn};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use super::channel::{Channel, ChannelError};
use super::proto::{Request, Response};
use crate::error::{CtlError, Result};
use crate::node::Node;
use crate::session::{fault_channel, page_server};

/// A peer that connects and then says nothing is dropped after this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
                let node = node.clone();
                std::thread::spawn(move || handle(stream, node));
            }
            Err(e) => warn!("accept failed: {e}"),
        }
    }
    Ok(())
}

fn handle(stream: TcpStream, node: Arc<Node>) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    let _ = stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
    let mut ch = match Channel::accept(stream, &node.key) {
        Ok(ch) => ch,
        Err(ChannelError::Auth) => {
            warn!("refused peer {peer}: authentication failed (wrong or missing cluster key)");
            return;
        }
        Err(e) => {
            warn!("refused peer {peer}: {e}");
            return;
        }
    };
    info!("peer {peer} authenticated");
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
            other => answer(other),
        };
        if let Err(e) = ch.send(&resp) {
            warn!("peer {peer}: {e}");
            return;
        }
    }
}

fn answer(req: Request) -> Response {
    match req {
        Request::Restore(_)
        | Request::Pages(_)
        | Request::PagerPages(_)
        | Request::Go
        | Request::Push(_)
        | Request::PushDone
        | Request::FaultChannel { .. }
        | Request::Fault { .. } => {
            Response::Error("no migration in progress on this connection".into())
        }
        Request::Ping { nonce } => Response::Pong {
            nonce,
            node: crate::node::hostname(),
            module: crate::genl::ModuleClient::connect()
                .and_then(|mut c| c.info())
                .ok()
                .map(|i| i.module_version),
        },
    }
}
