//! An authenticated, encrypted channel over TCP: Noise NNpsk0 keyed by the cluster key (snow).
//! A peer without the key fails the handshake: the responder cannot decrypt its first message,
//! logs it and drops the connection; nothing is processed before the handshake succeeds.
//!
//! On the wire: frames of a 2-byte big-endian length and a Noise message (at most 65535
//! bytes). An application message is postcard-encoded and sent as a 4-byte length frame
//! followed by as many frames as its size needs.

use serde::{de::DeserializeOwned, Serialize};
use std::io::{Read, Write};
use std::net::TcpStream;

use super::key::KEY_LEN;
use super::proto::WIRE_VERSION;

const NOISE_PARAMS: &str = "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s";
const MAX_NOISE: usize = 65535;
const TAG: usize = 16;
const MAX_MESSAGE: usize = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("authentication failed")]
    Auth,
    #[error("peer speaks wire version {0}, we speak {WIRE_VERSION}")]
    Version(u32),
    #[error("bad message: {0}")]
    Decode(String),
}

pub struct Channel {
    stream: TcpStream,
    noise: snow::TransportState,
    buf: Vec<u8>,
}

fn write_frame(s: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(2 + data.len());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
    s.write_all(&out)
}

fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len)?;
    let mut data = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut data)?;
    Ok(data)
}

fn builder(key: &[u8; KEY_LEN]) -> snow::Builder<'_> {
    // The parameter string is a constant known to parse.
    snow::Builder::new(NOISE_PARAMS.parse().expect("valid Noise parameters")).psk(0, key)
}

impl Channel {
    /// Client side: connect the handshake over `stream`.
    pub fn initiate(mut stream: TcpStream, key: &[u8; KEY_LEN]) -> Result<Self, ChannelError> {
        // Requests and answers are small and latency-bound (a page fault waits on each):
        // no Nagle delay.
        stream.set_nodelay(true)?;
        let mut hs = builder(key).build_initiator().map_err(|_| ChannelError::Auth)?;
        let mut buf = vec![0u8; MAX_NOISE];
        let n = hs.write_message(&WIRE_VERSION.to_be_bytes(), &mut buf).map_err(|_| ChannelError::Auth)?;
        write_frame(&mut stream, &buf[..n])?;
        // A responder that cannot authenticate us closes the connection: EOF here is "refused".
        let reply = read_frame(&mut stream).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => ChannelError::Auth,
            _ => ChannelError::Io(e),
        })?;
        let n = hs.read_message(&reply, &mut buf).map_err(|_| ChannelError::Auth)?;
        check_version(&buf[..n])?;
        let noise = hs.into_transport_mode().map_err(|_| ChannelError::Auth)?;
        Ok(Channel { stream, noise, buf: vec![0u8; 2 + MAX_NOISE] })
    }

    /// Server side: authenticate the peer that connected on `stream`.
    pub fn accept(mut stream: TcpStream, key: &[u8; KEY_LEN]) -> Result<Self, ChannelError> {
        stream.set_nodelay(true)?;
        let mut hs = builder(key).build_responder().map_err(|_| ChannelError::Auth)?;
        let mut buf = vec![0u8; MAX_NOISE];
        let first = read_frame(&mut stream)?;
        let n = hs.read_message(&first, &mut buf).map_err(|_| ChannelError::Auth)?;
        check_version(&buf[..n])?;
        let n = hs.write_message(&WIRE_VERSION.to_be_bytes(), &mut buf).map_err(|_| ChannelError::Auth)?;
        write_frame(&mut stream, &buf[..n])?;
        let noise = hs.into_transport_mode().map_err(|_| ChannelError::Auth)?;
        Ok(Channel { stream, noise, buf: vec![0u8; 2 + MAX_NOISE] })
    }

    pub fn peer_ip(&self) -> std::net::IpAddr {
        self.stream.peer_addr().map(|a| a.ip()).unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    /// Bound every later read and write: a silent peer becomes an error, never a hang. Data
    /// the peer's kernel leaves unacknowledged for LINK_TIMEOUT ends the connection
    /// (ETIMEDOUT on the next read or write), however the writes were split.
    pub fn set_timeout(&self, t: std::time::Duration) -> std::io::Result<()> {
        use nix::sys::socket::{setsockopt, sockopt::TcpUserTimeout};
        let link_ms = super::LINK_TIMEOUT.min(t).as_millis() as u32;
        setsockopt(&self.stream, TcpUserTimeout, &link_ms).map_err(std::io::Error::from)?;
        self.stream.set_read_timeout(Some(t))?;
        self.stream.set_write_timeout(Some(t))
    }

    /// For a channel that may rightly stay silent for as long as a process runs (a fault
    /// channel: a process that sleeps for an hour faults on nothing): no read timeout, but TCP
    /// keepalive probes, so a peer that vanished is still noticed within about LINK_TIMEOUT.
    pub fn set_idle_allowed(&self) -> std::io::Result<()> {
        use nix::sys::socket::{setsockopt, sockopt};
        let idle_s = (super::LINK_TIMEOUT.as_secs() / 2).max(1) as u32;
        setsockopt(&self.stream, sockopt::KeepAlive, &true).map_err(std::io::Error::from)?;
        setsockopt(&self.stream, sockopt::TcpKeepIdle, &idle_s).map_err(std::io::Error::from)?;
        setsockopt(&self.stream, sockopt::TcpKeepInterval, &(idle_s / 2).max(1)).map_err(std::io::Error::from)?;
        setsockopt(&self.stream, sockopt::TcpKeepCount, &3u32).map_err(std::io::Error::from)?;
        self.stream.set_read_timeout(None)
    }

    /// Encrypt `plain` right behind the frame's length in `buf` and send both with one write:
    /// no copy of the data besides the cipher's own (page data is most of what we send, and
    /// every pass over it counts in a small VM).
    fn send_frame(&mut self, plain: &[u8]) -> Result<(), ChannelError> {
        let n = self.noise.write_message(plain, &mut self.buf[2..]).map_err(|_| ChannelError::Auth)?;
        self.buf[..2].copy_from_slice(&(n as u16).to_be_bytes());
        self.stream.write_all(&self.buf[..2 + n])?;
        Ok(())
    }

    /// Receive one frame and append its plaintext to `out` (decrypted in place there).
    fn recv_frame_into(&mut self, out: &mut Vec<u8>) -> Result<(), ChannelError> {
        let mut len = [0u8; 2];
        self.stream.read_exact(&mut len)?;
        let len = u16::from_be_bytes(len) as usize;
        self.stream.read_exact(&mut self.buf[..len])?;
        let at = out.len();
        out.resize(at + len, 0);
        let n = self.noise.read_message(&self.buf[..len], &mut out[at..]).map_err(|_| ChannelError::Auth)?;
        out.truncate(at + n);
        Ok(())
    }

    pub fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), ChannelError> {
        let bytes = postcard::to_stdvec(msg).map_err(|e| ChannelError::Decode(e.to_string()))?;
        self.send_frame(&(bytes.len() as u32).to_be_bytes())?;
        for chunk in bytes.chunks(MAX_NOISE - TAG) {
            self.send_frame(chunk)?;
        }
        Ok(())
    }

    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T, ChannelError> {
        let mut len = Vec::with_capacity(MAX_NOISE);
        self.recv_frame_into(&mut len)?;
        let len: [u8; 4] = len.as_slice().try_into().map_err(|_| ChannelError::Decode("bad length frame".into()))?;
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_MESSAGE {
            return Err(ChannelError::Decode(format!("message of {len} bytes is too large")));
        }
        // Room for the last frame's tag too: read_message writes into a slice of the frame's size.
        let mut bytes = Vec::with_capacity(len + MAX_NOISE);
        while bytes.len() < len {
            self.recv_frame_into(&mut bytes)?;
        }
        if bytes.len() != len {
            return Err(ChannelError::Decode(format!("message of {} bytes, announced {len}", bytes.len())));
        }
        postcard::from_bytes(&bytes).map_err(|e| ChannelError::Decode(e.to_string()))
    }
}

fn check_version(payload: &[u8]) -> Result<(), ChannelError> {
    let v: [u8; 4] = payload.try_into().map_err(|_| ChannelError::Decode("bad handshake payload".into()))?;
    match u32::from_be_bytes(v) {
        WIRE_VERSION => Ok(()),
        other => Err(ChannelError::Version(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::proto::{Request, Response};
    use std::net::TcpListener;

    fn pair(client_key: [u8; 32], server_key: [u8; 32]) -> (Result<Channel, ChannelError>, Result<Channel, ChannelError>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            Channel::accept(s, &server_key)
        });
        let client = Channel::initiate(TcpStream::connect(addr).unwrap(), &client_key);
        (client, server.join().unwrap())
    }

    #[test]
    fn same_key_talks_including_large_messages() {
        let (c, s) = pair([7; 32], [7; 32]);
        let (mut c, mut s) = (c.unwrap(), s.unwrap());
        c.send(&Request::Ping { nonce: 42 }).unwrap();
        assert_eq!(s.recv::<Request>().unwrap(), Request::Ping { nonce: 42 });
        let big = Response::Error("x".repeat(200_000));
        let t = std::thread::spawn(move || { s.send(&big).unwrap(); s });
        match c.recv::<Response>().unwrap() {
            Response::Error(m) => assert_eq!(m.len(), 200_000),
            other => panic!("unexpected {other:?}"),
        }
        t.join().unwrap();
    }

    #[test]
    fn wrong_key_is_refused_on_both_sides() {
        let (c, s) = pair([1; 32], [2; 32]);
        assert!(matches!(s, Err(ChannelError::Auth)));
        assert!(matches!(c, Err(ChannelError::Auth)));
    }
}
