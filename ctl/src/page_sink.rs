//! Page data into the module's pager, the fast way: many `page-data` requests in one
//! `sendmsg`, written straight into one buffer.
//!
//! A `page-data` request carries at most `MAX_PAGE_RUN` pages (a netlink attribute's length
//! is 16 bits), so a 1 MiB batch is 18 requests. Through neli each was its own message built
//! with several copies of the pages and its own acknowledgement to wait for: two system calls
//! per 60 KiB. Netlink takes any number of requests in one write and runs them in order
//! (`netlink_rcv_skb`), acknowledging an error whether or not it was asked for; so the
//! requests of a batch go out in as few writes as the socket's send buffer allows, only
//! the last of each write asks for an acknowledgement, and reading up to it collects the
//! errors of the ones before. `NETLINK_CAP_ACK` keeps an error from echoing 60 KiB of pages.
//! The kernel side is the same `page-data` doit (kmod/pager.rs) as for one request.
//!
//! Each request also names this sink's staging area (uapi `staging`): memory of ours the
//! module writes the pages and the ioctl arguments into to place them, instead of mapping
//! an area in the daemon for every request (two system calls' worth of work and two page
//! faults each, in the kernel). It is written only by the module, only during our own
//! `sendmsg`; `&mut self` keeps two requests from sharing it.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{CtlError, ModuleError};
use crate::genl::PagerRef;
use crate::peer::proto::PageBatch;
use crate::uapi_gen as uapi;

const NLMSG_HDR: usize = 16;
const GENL_HDR: usize = 4;
const NLA_HDR: usize = 4;
const NLMSG_ERROR: u16 = 2;
/// The most one write carries (the send buffer is asked for this much and a little more).
const WRITE_MAX: usize = 1 << 20;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A netlink socket of its own for page data (see the module comment).
pub struct PageSink {
    fd: OwnedFd,
    family: u16,
    seq: u32,
    /// Requests of the write being built.
    out: Vec<u8>,
    /// The largest write the socket takes (its send buffer, less the kernel's margin).
    write_max: usize,
    /// Sequence number of the last request in `out`, and where it starts.
    last_seq: u32,
    last_at: usize,
    staging: Staging,
}

/// uapi STAGING_LEN bytes of anonymous memory, page-aligned, faulted in once.
struct Staging(*mut libc::c_void);

impl Staging {
    fn map() -> Result<Self, CtlError> {
        // SAFETY: a new private anonymous mapping; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                uapi::STAGING_LEN as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(os_error("staging area"));
        }
        Ok(Staging(p))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `map` made; nothing refers to it any more.
        unsafe { libc::munmap(self.0, uapi::STAGING_LEN as usize) };
    }
}

// SAFETY: the mapping is only an address handed to the module; no Rust reference to its
// bytes exists, so moving the owner between threads is fine.
unsafe impl Send for Staging {}

fn os_error(what: &str) -> CtlError {
    CtlError::Module(ModuleError::Socket(format!("page sink: {what}: {}", std::io::Error::last_os_error()).into()))
}

fn set_int(fd: &OwnedFd, level: i32, opt: i32, v: i32) -> bool {
    // SAFETY: setsockopt reads one int from a valid pointer for the given length.
    unsafe {
        libc::setsockopt(fd.as_raw_fd(), level, opt, &v as *const i32 as *const libc::c_void, std::mem::size_of::<i32>() as u32) == 0
    }
}

impl PageSink {
    /// A socket for the generic netlink family `family` (migr's, as resolved by neli).
    pub fn open(family: u16) -> Result<Self, CtlError> {
        // SAFETY: plain socket(2); the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_GENERIC) };
        if raw < 0 {
            return Err(os_error("socket"));
        }
        // SAFETY: `raw` is a descriptor we just opened and own from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // Root (the daemon) may go over net.core.wmem_max; anyone else gets what it allows.
        let want = (WRITE_MAX + 4096) as i32;
        if !set_int(&fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, want) {
            set_int(&fd, libc::SOL_SOCKET, libc::SO_SNDBUF, want);
        }
        set_int(&fd, libc::SOL_NETLINK, libc::NETLINK_CAP_ACK, 1);
        let mut sndbuf: i32 = 0;
        let mut len = std::mem::size_of::<i32>() as u32;
        // SAFETY: getsockopt writes at most `len` bytes into `sndbuf`.
        let r = unsafe { libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF, &mut sndbuf as *mut i32 as *mut libc::c_void, &mut len) };
        if r != 0 {
            return Err(os_error("SO_SNDBUF"));
        }
        // netlink_sendmsg refuses a message longer than the send buffer less 32 bytes.
        let write_max = (sndbuf.max(0) as usize).saturating_sub(64).min(WRITE_MAX);
        let staging = Staging::map()?;
        Ok(PageSink { fd, family, seq: 0, out: Vec::with_capacity(write_max), write_max, last_seq: 0, last_at: 0, staging })
    }

    /// Place every page of `batch` in `pager`. The first error the module returned (ESRCH:
    /// the pager has ended) after every request was tried, as one request at a time would
    /// have ended at it.
    pub fn deliver(&mut self, pager: PagerRef, batch: &PageBatch, kind: u32) -> Result<(), CtlError> {
        let max = uapi::MAX_PAGE_RUN as usize * 4096;
        let mut first_error = None;
        for (addr, data) in &batch.runs {
            for (i, piece) in data.chunks(max).enumerate() {
                let need = NLMSG_HDR + GENL_HDR + 3 * (NLA_HDR + 4) + 2 * (NLA_HDR + 8) + NLA_HDR + align4(piece.len());
                if !self.out.is_empty() && self.out.len() + need > self.write_max {
                    self.flush(&mut first_error)?;
                }
                self.push_request(pager, addr + (i * max) as u64, piece, kind);
            }
        }
        self.flush(&mut first_error)?;
        first_error.map_or(Ok(()), Err)
    }

    fn push_request(&mut self, pager: PagerRef, addr: u64, data: &[u8], kind: u32) {
        self.seq = self.seq.wrapping_add(1);
        self.last_seq = self.seq;
        let out = &mut self.out;
        let start = out.len();
        self.last_at = start;
        out.extend_from_slice(&[0; NLMSG_HDR]); // filled in below
        out.extend_from_slice(&[uapi::CMD_PAGE_DATA, uapi::FAMILY_VERSION, 0, 0]);
        let attr = |out: &mut Vec<u8>, ty: u16, payload: &[u8]| {
            out.extend_from_slice(&((NLA_HDR + payload.len()) as u16).to_ne_bytes());
            out.extend_from_slice(&ty.to_ne_bytes());
            out.extend_from_slice(payload);
            out.resize(align4(out.len()), 0);
        };
        attr(out, uapi::A_PAGER_PID, &pager.pid.to_ne_bytes());
        attr(out, uapi::A_PAGER_ID, &pager.id.to_ne_bytes());
        attr(out, uapi::A_PAGER_ADDR, &addr.to_ne_bytes());
        attr(out, uapi::A_PAGER_DATA, data);
        attr(out, uapi::A_PAGER_KIND, &kind.to_ne_bytes());
        attr(out, uapi::A_PAGER_STAGING, &(self.staging.0 as u64).to_ne_bytes());
        let len = (out.len() - start) as u32;
        let flags = (libc::NLM_F_REQUEST) as u16;
        let hdr = &mut out[start..start + NLMSG_HDR];
        hdr[0..4].copy_from_slice(&len.to_ne_bytes());
        hdr[4..6].copy_from_slice(&self.family.to_ne_bytes());
        hdr[6..8].copy_from_slice(&flags.to_ne_bytes());
        hdr[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        // nlmsg_pid 0: the kernel fills in our port.
    }

    /// Send what `out` holds (the last request asking for an acknowledgement) and read the
    /// answers up to that acknowledgement; an error answer of any request is kept in
    /// `first_error`.
    fn flush(&mut self, first_error: &mut Option<CtlError>) -> Result<(), CtlError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let at = self.last_at;
        let flags = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
        self.out[at + 6..at + 8].copy_from_slice(&flags.to_ne_bytes());
        // No address: a netlink socket sends to the kernel by default.
        // SAFETY: send reads `out` for its length.
        let r = unsafe { libc::send(self.fd.as_raw_fd(), self.out.as_ptr() as *const libc::c_void, self.out.len(), 0) };
        self.out.clear();
        if r < 0 {
            return Err(os_error("send"));
        }
        self.read_answers(first_error)
    }

    fn read_answers(&mut self, first_error: &mut Option<CtlError>) -> Result<(), CtlError> {
        let mut buf = [0u8; 8192];
        loop {
            // SAFETY: recv writes at most buf.len() bytes into `buf`.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(os_error("receive"));
            }
            let mut msgs = &buf[..n as usize];
            while msgs.len() >= NLMSG_HDR {
                let len = u32::from_ne_bytes(msgs[0..4].try_into().unwrap_or([0; 4])) as usize;
                let ty = u16::from_ne_bytes([msgs[4], msgs[5]]);
                if len < NLMSG_HDR || len > msgs.len() {
                    return Err(CtlError::Module(ModuleError::Receive("page sink: a truncated answer".into())));
                }
                // An error or acknowledgement: the error number, then the request's header.
                if ty == NLMSG_ERROR && len >= NLMSG_HDR + 4 + NLMSG_HDR {
                    let body = &msgs[NLMSG_HDR..len];
                    let errno = i32::from_ne_bytes(body[0..4].try_into().unwrap_or([0; 4]));
                    let seq = u32::from_ne_bytes(body[4 + 8..4 + 12].try_into().unwrap_or([0; 4]));
                    if errno != 0 && first_error.is_none() {
                        *first_error = Some(crate::genl::errno_error(errno));
                    }
                    if seq == self.last_seq {
                        return Ok(());
                    }
                }
                msgs = &msgs[align4(len).min(msgs.len())..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_laid_out_as_the_kernel_parses_them() {
        let Ok(mut s) = PageSink::open(0x1234) else { return }; // no netlink in this sandbox
        let page = vec![7u8; 4096];
        s.push_request(PagerRef { pid: 42, id: 3 }, 0x7000, &page, uapi::PAGE_KIND_PUSH);
        s.push_request(PagerRef { pid: 42, id: 3 }, 0x8000, &page[..0], uapi::PAGE_KIND_FAULT);
        let out = &s.out;
        let len0 = u32::from_ne_bytes(out[0..4].try_into().unwrap()) as usize;
        assert_eq!(len0 % 4, 0);
        assert_eq!(u16::from_ne_bytes([out[4], out[5]]), 0x1234);
        assert_eq!(out[NLMSG_HDR], uapi::CMD_PAGE_DATA);
        // Walk the attributes of the first request.
        let mut at = NLMSG_HDR + GENL_HDR;
        let mut seen = Vec::new();
        while at < len0 {
            let alen = u16::from_ne_bytes([out[at], out[at + 1]]) as usize;
            let ty = u16::from_ne_bytes([out[at + 2], out[at + 3]]);
            seen.push((ty, alen - NLA_HDR));
            if ty == uapi::A_PAGER_DATA {
                assert!(out[at + 4..at + alen].iter().all(|&b| b == 7));
            }
            if ty == uapi::A_PAGER_ADDR {
                assert_eq!(u64::from_ne_bytes(out[at + 4..at + 12].try_into().unwrap()), 0x7000);
            }
            at += align4(alen);
        }
        assert_eq!(at, len0);
        assert_eq!(seen, [(uapi::A_PAGER_PID, 4), (uapi::A_PAGER_ID, 4), (uapi::A_PAGER_ADDR, 8), (uapi::A_PAGER_DATA, 4096), (uapi::A_PAGER_KIND, 4), (uapi::A_PAGER_STAGING, 8)]);
        let len1 = u32::from_ne_bytes(out[len0..len0 + 4].try_into().unwrap()) as usize;
        assert_eq!(len0 + len1, out.len());
        assert_eq!(u32::from_ne_bytes(out[len0 + 8..len0 + 12].try_into().unwrap()), s.last_seq);
    }
}
