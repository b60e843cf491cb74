//! An authenticated, encrypted channel over TCP: Noise XX with each node's own static key
//! (snow). Both ends learn the other's public key during the handshake and accept it only if
//! it is listed in their peers file (read again for each connection, so revoking a node is
//! one edit). Nothing is processed before the handshake succeeds; a replayed or altered
//! message fails Noise's authentication and ends the connection.
//!
//! Handshake: -> e (payload: wire version); <- e, ee, s, es (wire version); -> s, se; then the
//! responder, having checked the initiator's key, sends one transport message `ACCEPTED`, so
//! an initiator it refused sees "refused authentication" rather than a later broken pipe.
//! What an unauthenticated peer can cost the responder: two DH operations and fixed buffers
//! (bounded in number and time by serve.rs).
//!
//! On the wire: frames of a 2-byte big-endian length and a Noise message (at most 65535
//! bytes). An application message is postcard-encoded and sent as a 4-byte length frame
//! followed by as many frames as its size needs.

use serde::{de::DeserializeOwned, Serialize};
use std::io::{Read, Write};
use std::net::TcpStream;

use super::key::{hex, Identity, Peers};
use super::proto::{PageBatch, WIRE_VERSION};

const NOISE_PARAMS: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";
const MAX_NOISE: usize = 65535;
const TAG: usize = 16;
/// The room kept in the send buffers between messages: a page batch and its frames.
const KEEP_SEALED: usize = 2 << 20;

fn shrink(mut v: Vec<u8>, keep: usize) -> Vec<u8> {
    if v.capacity() > keep {
        v = Vec::new();
    }
    v
}

/// What one read from the socket may take: four of the largest frames.
const READ_BUFFER: usize = 4 * (2 + MAX_NOISE);
/// The largest message a peer may send: a page batch is about 1 MiB (pages::BATCH_BYTES),
/// a restore offer (the image, the files, the descriptors) far less. What a peer announces
/// costs the receiver nothing until its bytes have come (see `recv`).
const MAX_MESSAGE: usize = 64 << 20;
const ACCEPTED: &[u8] = b"migr-accepted";

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The handshake failed or the peer refused us (our key is not in its list).
    #[error("authentication failed")]
    Auth,
    /// The peer authenticated with a key our peers file does not list.
    #[error("its key {key} is not in {list}")]
    UnknownPeer { key: String, list: String },
    /// The initiator closed the connection after our part of the handshake: it checked our
    /// key and refused it.
    #[error("it hung up during the handshake (does its peers file list this node?)")]
    HungUp,
    /// Our own peers file cannot be used: every peer is refused until it is fixed.
    #[error("{0}")]
    Peers(String),
    #[error("peer speaks wire version {0}, we speak {WIRE_VERSION}")]
    Version(u32),
    #[error("bad message: {0}")]
    Decode(String),
}

pub struct Channel {
    stream: TcpStream,
    noise: snow::TransportState,
    /// Bytes read from the socket and not yet taken: `rbuf[rpos..rend]`. Room for several
    /// whole frames (at least one of the largest).
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    /// The last message sent, encoded and sealed (kept for their room).
    plain: Vec<u8>,
    sealed: Vec<u8>,
    /// The last message received, decrypted (kept for its room).
    opened: Vec<u8>,
    /// The peer's name in our peers file.
    pub peer_name: String,
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

fn builder(identity: &Identity) -> snow::Builder<'_> {
    // The parameter string is a constant known to parse.
    snow::Builder::new(NOISE_PARAMS.parse().expect("valid Noise parameters")).local_private_key(identity.private())
}

/// The listed name of the key the peer proved it holds, or why it is not accepted.
fn check_peer(hs: &snow::HandshakeState, identity: &Identity) -> Result<String, ChannelError> {
    let key = hs.get_remote_static().ok_or(ChannelError::Auth)?;
    let peers = Peers::load(&identity.peers).map_err(|e| ChannelError::Peers(e.to_string()))?;
    match peers.name_of(key) {
        Some(name) => Ok(name.to_string()),
        None => Err(ChannelError::UnknownPeer { key: hex(key), list: identity.peers.display().to_string() }),
    }
}

/// EOF or a reset while waiting for the peer's part of the handshake: it refused us.
fn refused_on_eof(e: std::io::Error) -> ChannelError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => ChannelError::Auth,
        _ => ChannelError::Io(e),
    }
}

impl Channel {
    /// Client side: run the handshake over `stream`; the peer must be in our peers file.
    pub fn initiate(mut stream: TcpStream, identity: &Identity) -> Result<Self, ChannelError> {
        // Requests and answers are small and latency-bound (a page fault waits on each):
        // no Nagle delay.
        stream.set_nodelay(true)?;
        let mut hs = builder(identity).build_initiator().map_err(|_| ChannelError::Auth)?;
        let mut buf = vec![0u8; MAX_NOISE];
        let n = hs.write_message(&WIRE_VERSION.to_be_bytes(), &mut buf).map_err(|_| ChannelError::Auth)?;
        write_frame(&mut stream, &buf[..n])?;
        let reply = read_frame(&mut stream).map_err(refused_on_eof)?;
        let n = hs.read_message(&reply, &mut buf).map_err(|_| ChannelError::Auth)?;
        check_version(&buf[..n])?;
        let peer_name = check_peer(&hs, identity)?;
        let n = hs.write_message(&[], &mut buf).map_err(|_| ChannelError::Auth)?;
        write_frame(&mut stream, &buf[..n])?;
        let noise = hs.into_transport_mode().map_err(|_| ChannelError::Auth)?;
        let mut ch = Channel { stream, noise, rbuf: vec![0u8; READ_BUFFER], rpos: 0, rend: 0, plain: Vec::new(), sealed: Vec::new(), opened: Vec::new(), peer_name };
        // The responder checks our key last; it closes the connection if it refuses it.
        let mut answer = Vec::new();
        ch.recv_frame_into(&mut answer).map_err(|e| match e {
            ChannelError::Io(e) => refused_on_eof(e),
            other => other,
        })?;
        if answer != ACCEPTED {
            return Err(ChannelError::Auth);
        }
        Ok(ch)
    }

    /// Server side: authenticate the peer that connected on `stream`; it must be in our
    /// peers file.
    pub fn accept(mut stream: TcpStream, identity: &Identity) -> Result<Self, ChannelError> {
        stream.set_nodelay(true)?;
        let mut hs = builder(identity).build_responder().map_err(|_| ChannelError::Auth)?;
        let mut buf = vec![0u8; MAX_NOISE];
        let first = read_frame(&mut stream)?;
        let n = hs.read_message(&first, &mut buf).map_err(|_| ChannelError::Auth)?;
        check_version(&buf[..n])?;
        let n = hs.write_message(&WIRE_VERSION.to_be_bytes(), &mut buf).map_err(|_| ChannelError::Auth)?;
        write_frame(&mut stream, &buf[..n])?;
        let last = read_frame(&mut stream).map_err(|e| match refused_on_eof(e) {
            ChannelError::Auth => ChannelError::HungUp,
            other => other,
        })?;
        hs.read_message(&last, &mut buf).map_err(|_| ChannelError::Auth)?;
        let peer_name = check_peer(&hs, identity)?;
        let noise = hs.into_transport_mode().map_err(|_| ChannelError::Auth)?;
        let mut ch = Channel { stream, noise, rbuf: vec![0u8; READ_BUFFER], rpos: 0, rend: 0, plain: Vec::new(), sealed: Vec::new(), opened: Vec::new(), peer_name };
        ch.send_frame(ACCEPTED)?;
        Ok(ch)
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

    /// Put one frame holding `plain` into `out` at `at` (its length, then the Noise
    /// message, encrypted straight into place: the cipher's pass is the only copy); returns
    /// where it ends. `out` only grows, so only new room is ever zeroed.
    fn seal_at(&mut self, plain: &[u8], out: &mut Vec<u8>, at: usize) -> Result<usize, ChannelError> {
        let end = at + 2 + plain.len() + TAG;
        if out.len() < end {
            out.resize(end, 0);
        }
        let n = self.noise.write_message(plain, &mut out[at + 2..end]).map_err(|_| ChannelError::Auth)?;
        out[at..at + 2].copy_from_slice(&(n as u16).to_be_bytes());
        Ok(at + 2 + n)
    }

    /// One frame by itself (the responder's `ACCEPTED`).
    fn send_frame(&mut self, plain: &[u8]) -> Result<(), ChannelError> {
        let mut out = Vec::new();
        let end = self.seal_at(plain, &mut out, 0)?;
        Ok(self.stream.write_all(&out[..end])?)
    }

    /// At least `need` bytes in `rbuf[rpos..rend]`, reading what the socket has (as much
    /// as fits, so a reply of several frames, or two replies, costs one read).
    fn fill(&mut self, need: usize) -> std::io::Result<()> {
        if self.rend - self.rpos >= need {
            return Ok(());
        }
        if self.rpos + need > self.rbuf.len() {
            self.rbuf.copy_within(self.rpos..self.rend, 0);
            self.rend -= self.rpos;
            self.rpos = 0;
        }
        while self.rend - self.rpos < need {
            match self.stream.read(&mut self.rbuf[self.rend..]) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.rend += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Receive one frame and put its plaintext into `out` at `at` (decrypted in place there);
    /// returns where it ends. `out` only grows (by the frame's size at most).
    fn open_frame_at(&mut self, out: &mut Vec<u8>, at: usize) -> Result<usize, ChannelError> {
        self.fill(2)?;
        let len = u16::from_be_bytes([self.rbuf[self.rpos], self.rbuf[self.rpos + 1]]) as usize;
        self.fill(2 + len)?;
        if out.len() < at + len {
            out.resize(at + len, 0);
        }
        let frame = &self.rbuf[self.rpos + 2..self.rpos + 2 + len];
        let n = self.noise.read_message(frame, &mut out[at..at + len]).map_err(|_| ChannelError::Auth)?;
        self.rpos += 2 + len;
        Ok(at + n)
    }

    /// Receive one frame and append its plaintext to `out`.
    fn recv_frame_into(&mut self, out: &mut Vec<u8>) -> Result<(), ChannelError> {
        let end = self.open_frame_at(out, out.len())?;
        out.truncate(end);
        Ok(())
    }

    /// One message: its length frame and its data frames go out with one write (one
    /// system call, and as few segments as TCP can make of them: a fault's request and its
    /// page answer are each one round of the link).
    pub fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), ChannelError> {
        // Both buffers are kept from message to message: a page batch is about 1 MiB, and a
        // new one each time costs its allocation and the zeroing of its frames.
        let mut plain = std::mem::take(&mut self.plain);
        plain.clear();
        let plain = postcard::to_extend(msg, plain).map_err(|e| ChannelError::Decode(e.to_string()))?;
        let mut out = std::mem::take(&mut self.sealed);
        let mut end = self.seal_at(&(plain.len() as u32).to_be_bytes(), &mut out, 0)?;
        for chunk in plain.chunks(MAX_NOISE - TAG) {
            end = self.seal_at(chunk, &mut out, end)?;
        }
        let sent = self.stream.write_all(&out[..end]);
        // What a rare larger message (a restore offer) grew them to is not kept.
        self.plain = shrink(plain, KEEP_SEALED);
        self.sealed = shrink(out, KEEP_SEALED);
        sent?;
        Ok(())
    }

    /// A message that carries a page batch (`wrap`: `Request::Pages`, `Request::Push`,
    /// `Response::FaultPages`), sealed straight from the batch's pages: the same bytes as
    /// `send(&wrap(batch))` once decrypted (postcard: the message's variant, the number of
    /// runs, then each run's address, length and bytes), without first encoding a copy of
    /// every page. Frame boundaries differ (a frame for each run's header), which the
    /// receiver does not see.
    pub fn send_batch<T: Serialize>(&mut self, wrap: fn(PageBatch) -> T, batch: &PageBatch) -> Result<(), ChannelError> {
        // The variant's encoding: the message around an empty batch, less the empty run
        // list's length (one zero byte).
        let mut head = postcard::to_stdvec(&wrap(PageBatch { runs: Vec::new() })).map_err(|e| ChannelError::Decode(e.to_string()))?;
        if head.pop() != Some(0) {
            return Err(ChannelError::Decode("a page batch message that does not end with its runs".into()));
        }
        varint(&mut head, batch.runs.len() as u64);
        let mut total = head.len();
        let mut run_heads = Vec::with_capacity(batch.runs.len());
        for (addr, data) in &batch.runs {
            let mut h = Vec::with_capacity(20);
            varint(&mut h, *addr);
            varint(&mut h, data.len() as u64);
            total += h.len() + data.len();
            run_heads.push(h);
        }
        let mut out = std::mem::take(&mut self.sealed);
        let mut end = self.seal_at(&(total as u32).to_be_bytes(), &mut out, 0)?;
        for (h, (_, data)) in run_heads.iter().zip(&batch.runs) {
            head.extend_from_slice(h);
            end = self.seal_at(&head, &mut out, end)?;
            head.clear();
            for chunk in data.chunks(MAX_NOISE - TAG) {
                end = self.seal_at(chunk, &mut out, end)?;
            }
        }
        if !head.is_empty() {
            end = self.seal_at(&head, &mut out, end)?; // no runs
        }
        let sent = self.stream.write_all(&out[..end]);
        self.sealed = shrink(out, KEEP_SEALED);
        sent?;
        Ok(())
    }

    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T, ChannelError> {
        let mut len = Vec::with_capacity(4 + TAG);
        self.recv_frame_into(&mut len)?;
        let len: [u8; 4] = len.as_slice().try_into().map_err(|_| ChannelError::Decode("bad length frame".into()))?;
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_MESSAGE {
            return Err(ChannelError::Decode(format!("message of {len} bytes is too large")));
        }
        // Grown as authenticated frames arrive, not from the announced length: a peer that
        // announces 64 MiB and sends nothing more costs one frame's room. Kept from message
        // to message (a page batch is about 1 MiB), so only new room is ever zeroed.
        let mut bytes = std::mem::take(&mut self.opened);
        let mut end = 0;
        let got = (|| {
            while end < len {
                end = self.open_frame_at(&mut bytes, end)?;
            }
            if end != len {
                return Err(ChannelError::Decode(format!("message of {end} bytes, announced {len}")));
            }
            postcard::from_bytes(&bytes[..len]).map_err(|e| ChannelError::Decode(e.to_string()))
        })();
        self.opened = shrink(bytes, KEEP_SEALED);
        got
    }
}

/// postcard's unsigned integer encoding (LEB128).
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
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
    use crate::peer::key::{generate, parse};
    use crate::peer::proto::{Request, Response};
    use std::net::TcpListener;

    struct Node {
        identity: Identity,
        _dir: crate::ScratchDir,
    }

    /// A node with a fresh key whose peers file lists `trusted` (public keys, names).
    fn node(name: &str, trusted: &[(&[u8; 32], &str)]) -> Node {
        let dir = crate::ScratchDir::new(name);
        let peers = dir.join("peers");
        let text: String = trusted.iter().map(|(k, n)| format!("{} {n}\n", hex(&k[..]))).collect();
        std::fs::write(&peers, text).unwrap();
        Node { identity: Identity::new(parse(&generate().unwrap()).unwrap(), &peers), _dir: dir }
    }

    fn trust(n: &Node, trusted: &[(&[u8; 32], &str)]) {
        let text: String = trusted.iter().map(|(k, name)| format!("{} {name}\n", hex(&k[..]))).collect();
        std::fs::write(&n.identity.peers, text).unwrap();
    }

    fn pair(client: &Identity, server: &Identity) -> (Result<Channel, ChannelError>, Result<Channel, ChannelError>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = server.clone();
        let server = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            Channel::accept(s, &server)
        });
        let client = Channel::initiate(TcpStream::connect(addr).unwrap(), client);
        (client, server.join().unwrap())
    }

    /// Nodes `tag`-a and `tag`-b that list each other, connected: (client, server).
    fn connected(tag: &str) -> (Channel, Channel) {
        let a = node(&format!("{tag}-a"), &[]);
        let b = node(&format!("{tag}-b"), &[(&a.identity.public, "node-a")]);
        trust(&a, &[(&b.identity.public, "node-b")]);
        let (c, s) = pair(&a.identity, &b.identity);
        (c.unwrap(), s.unwrap())
    }

    #[test]
    fn listed_peers_talk_including_large_messages() {
        let (mut c, mut s) = connected("talk");
        assert_eq!((c.peer_name.as_str(), s.peer_name.as_str()), ("node-b", "node-a"));
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
    fn messages_sent_back_to_back_arrive_whole_and_in_order() {
        // The receiver reads ahead: messages that come in one read are taken one at a time.
        let (mut c, mut s) = connected("ahead");
        let t = std::thread::spawn(move || {
            for i in 0..20u64 {
                s.send(&Request::Ping { nonce: i }).unwrap();
                s.send(&Response::Error("y".repeat(70_000 + i as usize))).unwrap();
            }
            s
        });
        for i in 0..20u64 {
            assert_eq!(c.recv::<Request>().unwrap(), Request::Ping { nonce: i });
            match c.recv::<Response>().unwrap() {
                Response::Error(m) => assert_eq!(m.len(), 70_000 + i as usize),
                other => panic!("unexpected {other:?}"),
            }
        }
        t.join().unwrap();
    }

    #[test]
    fn a_batch_sealed_from_its_pages_reads_as_the_message() {
        let (mut c, mut s) = connected("batch");
        let page = |b: u8| serde_bytes::ByteBuf::from(vec![b; 4096]);
        let batches = [
            PageBatch { runs: Vec::new() },
            PageBatch { runs: vec![(0x7f00_0000_1000, page(1))] },
            PageBatch { runs: vec![(0x1000, serde_bytes::ByteBuf::from((0..300_000).map(|i| i as u8).collect::<Vec<u8>>())), (u64::MAX - 4095, page(9))] },
        ];
        let t = std::thread::spawn(move || {
            for b in &batches {
                s.send_batch(Request::Push, b).unwrap();
                s.send_batch(Response::FaultPages, b).unwrap();
                // Read back the same as the plain encoding.
                s.send(&Request::Pages(b.clone())).unwrap();
                s.send_batch(Request::Pages, b).unwrap();
            }
            batches
        });
        let mut got = Vec::new();
        for _ in 0..3 {
            let Request::Push(a) = c.recv::<Request>().unwrap() else { panic!("not a push") };
            let Response::FaultPages(b) = c.recv::<Response>().unwrap() else { panic!("not fault pages") };
            let Request::Pages(x) = c.recv::<Request>().unwrap() else { panic!("not pages") };
            let Request::Pages(y) = c.recv::<Request>().unwrap() else { panic!("not pages") };
            assert_eq!((&a, &b, &x), (&y, &y, &y));
            got.push(a);
        }
        assert_eq!(got, t.join().unwrap());
    }

    #[test]
    fn a_message_announced_too_large_is_refused_before_its_bytes() {
        let (mut c, mut s) = connected("large");
        c.send_frame(&((MAX_MESSAGE + 1) as u32).to_be_bytes()).unwrap();
        match s.recv::<Request>() {
            Err(ChannelError::Decode(m)) => assert!(m.contains("too large"), "{m}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unlisted_initiator_is_refused_and_told() {
        let a = node("initiator-a", &[]);
        let b = node("initiator-b", &[]);
        trust(&a, &[(&b.identity.public, "node-b")]);
        let (c, s) = pair(&a.identity, &b.identity);
        assert!(matches!(s, Err(ChannelError::UnknownPeer { .. })), "{:?}", s.err());
        assert!(matches!(c, Err(ChannelError::Auth)), "{:?}", c.err());
        // Listed again: accepted at the next connection, no restart.
        trust(&b, &[(&a.identity.public, "node-a")]);
        let (c, s) = pair(&a.identity, &b.identity);
        assert!(c.is_ok() && s.is_ok());
    }

    #[test]
    fn unlisted_responder_is_refused_by_the_initiator() {
        let a = node("responder-a", &[]);
        let b = node("responder-b", &[]);
        trust(&b, &[(&a.identity.public, "node-a")]);
        let (c, s) = pair(&a.identity, &b.identity);
        assert!(matches!(c, Err(ChannelError::UnknownPeer { .. })), "{:?}", c.err());
        assert!(s.is_err());
    }
}
