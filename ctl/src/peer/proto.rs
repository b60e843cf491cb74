//! Messages between node daemons. Versioned: the handshake carries WIRE_VERSION and a daemon
//! refuses a peer of another version.
//!
//! A migration on one connection, source -> target:
//!   Restore(offer)  -> Ready | Refused(reason)      (target checks pid, files; builds layout)
//!   Pages(batch)*   (no answer; TCP flow control paces the stream)
//!   Go              -> Running { pid } | Error       (target resumes the task)
//! Any error or a broken link before Running: the target discards the stub, the source
//! thaws the original.

use serde::{Deserialize, Serialize};

/// 4: Noise XX with per-node keys (was NNpsk0 with a cluster key). 5: a process's home node
/// travels with it (`RestoreOffer::home`), and the home hears where it went (`Moved`).
/// 6: the deputy and its relays. 7: `Rest` on a fault channel (moving on before every page
/// arrived). 8: `HomeIds` and `HomeKill` (a process's calls that name its home's processes).
/// 9: a fault's prefetch window comes in pieces (`WindowPart`).
pub const WIRE_VERSION: u32 = 9;

/// A file the image maps, named by path and identified by content.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileId {
    pub path: String,
    pub size: u64,
    pub sha256: [u8; 32],
}

/// How an open descriptor of the original is recreated on the target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum FdSpec {
    /// A regular file at this path: reopened with these flags (O_CREAT added for writers)
    /// at this position.
    File { fd: i32, path: String, flags: i32, pos: u64 },
    /// Standard input/output that is not a file (terminal, pipe, socket) on the home node:
    /// input from /dev/null, output to /var/log/migr/PID.out on the target, until the
    /// home-node forwarding exists.
    Detached { fd: i32, what: String, tty: Option<TtyState> },
    /// A regular file of the process's home, served there through its deputy (`fd::home_file`):
    /// on the target the descriptor is a stand-in whose every use goes to the home.
    Home { fd: i32, path: String, flags: i32 },
}

/// A terminal's modes (struct termios, as bytes: both nodes are x86-64 Linux) and size.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TtyState {
    pub termios: Vec<u8>,
    pub rows: u16,
    pub cols: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Identity {
    pub uid: [u32; 3],
    pub gid: [u32; 3],
    pub groups: Vec<u32>,
    pub cwd: String,
    /// (resource, soft, hard) for every RLIMIT_*.
    pub rlimits: Vec<(u32, u64, u64)>,
}

/// How memory travels.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Mode {
    /// Every page before the task runs (stop-and-copy).
    Eager,
    /// The stack and private file copies before; anonymous memory on demand, with prefetch
    /// and (if `push`) a background push, after.
    Lazy { push: bool, prefetch: bool },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RestoreOffer {
    pub source_node: String,
    /// The node the process started on (its home): the source itself, or the home its own
    /// source named when the process came here.
    pub home: String,
    pub pid: u32,
    pub mode: Mode,
    /// Lazy mode: the target opens a fault channel to the source's daemon at this port and
    /// names the migration with this token.
    pub fault_port: u16,
    pub token: u64,
    /// The module's image attributes (uapi/migr.yaml set `task`), raw.
    pub attrs: Vec<(u16, Vec<u8>)>,
    pub files: Vec<FileId>,
    pub fds: Vec<FdSpec>,
    pub identity: Identity,
    /// The process's home keeps a deputy for it (`migrate::deputy`): its signals come from
    /// there and its end is reported there.
    pub deputy: bool,
    /// With a deputy: the content of each regular file the process has open read-only, by
    /// descriptor: the target reopens it only if its own is the same (`fd::relay`).
    pub fd_ids: Vec<(i32, FileId)>,
}

/// Contiguous runs of page contents: (start address, bytes, a multiple of 4096). The bytes
/// are a `ByteBuf`, which serde encodes as one byte string (postcard: a length and the
/// bytes, the same encoding as a `Vec<u8>`'s) with a copy, where a `Vec<u8>` goes byte by
/// byte through serde's sequence calls: 9 x slower to encode, 24 x to decode on the host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PageBatch {
    pub runs: Vec<(u64, serde_bytes::ByteBuf)>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum Request {
    Ping { nonce: u64 },
    Restore(Box<RestoreOffer>),
    /// Page contents written into the stub before it runs.
    Pages(PageBatch),
    /// Lazy mode, before Go: pages for the pager (the first page of each lazy mapping).
    PagerPages(PageBatch),
    Go,
    /// Lazy mode, after Running, on the migration's connection: the background push.
    Push(PageBatch),
    PushDone,
    /// Lazy mode: the first message of a fault channel (a second connection, so that a
    /// fault never waits behind the push).
    FaultChannel { token: u64 },
    /// On a fault channel: the task needs the page at `addr`.
    Fault { addr: u64 },
    /// On a fault channel: every page the source holds that it has not sent yet (the task, or
    /// a child it forked, moves on from the target). Answered with FaultPages batches and then
    /// AllSent.
    Rest,
    /// To a process's home node, from the node it just left: pid now runs on `to`.
    Moved { pid: u32, to: String },
    /// From a process's home to the node that holds its copy: its deputy was sent `signal`.
    Signal { pid: u32, signal: u32 },
    /// From the node that held the copy to its home: the copy ended with wait status `status`.
    Exited { pid: u32, status: u32 },
    /// From the node that holds the copy to its home: the copy stopped by `signal` (^Z).
    Stopped { pid: u32, signal: u32 },
    /// From the node that holds the copy to its home: the copy runs again.
    Continued { pid: u32 },
    /// From a process's home to the node that holds its copy: still there? (Noted, or an
    /// Error saying it does not hold it.)
    Holds { pid: u32 },
    /// From the node that holds a copy to its home: does its deputy still live? (Noted, or
    /// an Error.)
    HasDeputy { pid: u32 },
    /// From the node that holds a copy to its home (`fd::relay`): send me what the deputy's
    /// descriptors read, as (object, deputy's descriptor, is a terminal); then the home sends
    /// RelayData, RelayEof and RelayWinsize on this connection.
    RelayIn { pid: u32, inputs: Vec<(String, i32, bool)> },
    /// The other way: the holder sends RelayData, then RelayEnd, for the deputy's descriptors.
    RelayOut { pid: u32, outputs: Vec<(String, i32, bool)> },
    RelayData { key: String, data: Vec<u8> },
    RelayEof { key: String },
    RelayWinsize { key: String, rows: u16, cols: u16 },
    /// The stand-in terminal's signal keys changed (`fd::relay::SignalKeys`): whether they
    /// signal, and ^C, ^\, ^Z.
    RelayModes { key: String, isig: bool, keys: Vec<u8> },
    /// Everything is sent; the stand-in terminals' last modes (termios bytes).
    RelayEnd { ttys: Vec<(String, Vec<u8>)> },
    /// From the node that holds the copy of `pid` to its home (`migrate::home_calls`): the
    /// parent, group and session of `of` there (0: of the copy's deputy). Ids or Errno.
    HomeIds { pid: u32, of: u32 },
    /// From the node that holds the copy of `pid` to its home: kill(target, signal) there,
    /// as the deputy's user (target 0: the deputy's group). Noted or Errno.
    HomeKill { pid: u32, target: i32, signal: u32 },
    /// From the node that holds the copy of `pid` to its home: `op` on the deputy's
    /// descriptor `fd` (`fd::home_file`). FileDone or Errno.
    HomeFile { pid: u32, fd: i32, op: FileOp },
}

/// One operation on a file of the home, as the process made it (`fd::home_file`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum FileOp {
    Read { len: u32 },
    Pread { len: u32, off: i64 },
    Write { data: serde_bytes::ByteBuf },
    Pwrite { data: serde_bytes::ByteBuf, off: i64 },
    Lseek { off: i64, whence: i32 },
    /// struct stat (fstat, fstatat with AT_EMPTY_PATH).
    Fstat,
    /// struct statx (statx with AT_EMPTY_PATH).
    Statx { flags: i32, mask: u32 },
    Fsync,
    Fdatasync,
    Ftruncate { len: i64 },
    GetFlags,
    SetFlags { flags: i32 },
    /// fcntl with a struct flock (as bytes): F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW.
    Lock { cmd: i32, flock: Vec<u8> },
    Flock { op: i32 },
    /// The process closed its descriptor: release the locks of the open file description.
    Unlock,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum Response {
    Pong { nonce: u64, node: String, module: Option<String>, status: crate::nodes::NodeStatus },
    Error(String),
    Ready,
    Refused(String),
    Running { pid: u32 },
    /// Answers to a Fault: the faulting page alone, then the prefetch window, in pieces: any
    /// number of `WindowPart`s, then its last piece as `FaultPages` (possibly empty).
    FaultPages(PageBatch),
    /// Lazy mode: every pushed page is in the target's pager; the source may let go.
    Released,
    /// The last answer to `Rest`: the source has sent every page it holds.
    AllSent,
    /// The home node recorded a `Moved`.
    Noted,
    /// Answer to HomeIds.
    Ids { ppid: u32, pgid: u32, sid: u32 },
    /// A system call made for another node failed with this errno.
    Errno(i32),
    /// Answer to HomeFile: the call's result, and the bytes it read (read, pread, a stat
    /// structure, a lock description).
    FileDone { ret: i64, data: serde_bytes::ByteBuf },
    /// A piece of a fault's prefetch window that is not its last (see `FaultPages`).
    WindowPart(PageBatch),
}

#[cfg(test)]
mod tests {
    use super::PageBatch;

    #[test]
    fn page_bytes_encode_as_one_string_the_same_as_a_vec() {
        let data: Vec<u8> = (0..8192u32).map(|i| (i * 7) as u8).collect();
        let batch = PageBatch { runs: vec![(0x1000, data.clone().into())] };
        let bytes = postcard::to_stdvec(&batch).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&vec![(0x1000u64, data)]).unwrap());
        assert_eq!(postcard::from_bytes::<PageBatch>(&bytes).unwrap(), batch);
    }
}
