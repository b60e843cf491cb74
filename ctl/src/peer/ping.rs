//! `migctl ping NODE`: reach another node's daemon over the authenticated channel.

use serde::Serialize;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::channel::{Channel, ChannelError};
use super::proto::{Request, Response};
use super::DEFAULT_PORT;
use crate::error::{CtlError, PeerReason, Result};

#[derive(Debug, Serialize)]
pub struct Pong {
    pub node: String,
    pub rtt_ms: f64,
    pub module: Option<String>,
    pub status: crate::nodes::NodeStatus,
}

/// "host" or "host:port" to a socket address, with the daemon's default port.
pub fn resolve(node: &str) -> Result<std::net::SocketAddr> {
    let with_port = if node.contains(':') { node.to_string() } else { format!("{node}:{DEFAULT_PORT}") };
    with_port
        .to_socket_addrs()
        .map_err(|source| CtlError::PeerUnreachable { peer: node.into(), source })?
        .next()
        .ok_or_else(|| CtlError::PeerUnreachable { peer: node.into(), source: std::io::Error::other("no address") })
}

pub fn ping(node: &str, identity: &super::key::Identity, timeout_s: u64) -> Result<Pong> {
    let addr = resolve(node)?;
    let timeout = Duration::from_secs(timeout_s.max(1));
    let unreachable = |source: std::io::Error| CtlError::PeerUnreachable { peer: node.into(), source };
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(unreachable)?;
    stream.set_read_timeout(Some(timeout)).map_err(unreachable)?;
    stream.set_write_timeout(Some(timeout)).map_err(unreachable)?;
    let peer_err = |e: ChannelError| match e {
        ChannelError::Auth => CtlError::AuthFailed { peer: node.into() },
        ChannelError::Io(source) => CtlError::PeerUnreachable { peer: node.into(), source },
        other => CtlError::Peer { peer: node.into(), reason: other.into() },
    };
    let start = Instant::now();
    let mut ch = Channel::initiate(stream, identity).map_err(peer_err)?;
    let mut nonce = [0u8; 8];
    getrandom::getrandom(&mut nonce)?;
    let nonce = u64::from_ne_bytes(nonce);
    ch.send(&Request::Ping { nonce }).map_err(peer_err)?;
    match ch.recv::<Response>().map_err(peer_err)? {
        Response::Pong { nonce: n, node: name, module, status } if n == nonce => Ok(Pong {
            node: name,
            rtt_ms: start.elapsed().as_secs_f64() * 1000.0,
            module,
            status,
        }),
        Response::Pong { .. } => Err(CtlError::Peer { peer: node.into(), reason: PeerReason::OtherNonce }),
        Response::Error(m) => Err(CtlError::Peer { peer: node.into(), reason: PeerReason::Said(m) }),
        other => Err(CtlError::Peer { peer: node.into(), reason: PeerReason::Unexpected(format!("{other:?}")) }),
    }
}
