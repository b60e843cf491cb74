//! Client of the module's `migr` generic netlink family (neli).

use neli::{
    consts::{
        nl::{NlmF, NlmFFlags},
        socket::NlFamily,
    },
    err::NlError,
    genl::{Genlmsghdr, Nlattr},
    nl::{NlPayload, Nlmsghdr},
    socket::NlSocketHandle,
    types::{Buffer, GenlBuffer},
};

use std::os::fd::{AsRawFd, BorrowedFd};

use crate::error::{CtlError, ModuleError, Result};
use crate::info::ModuleInfo;
use crate::uapi_gen as uapi;

/// The pager of a lazily restored task: its pid and the id the restore gave it. Pids repeat
/// from one migration to the next, ids do not: the module refuses (ESRCH) a request for a
/// pager that has ended, even if another task of that pid has one now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PagerRef {
    pub pid: u32,
    pub id: u32,
}

/// An event the module sends to the listening daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleEvent {
    /// A lazily restored task faulted on a page its pager lacks: (pager, address).
    PageRequest(PagerRef, u64),
    /// The deputy of `pid` was sent `signal`, for its copy.
    DeputySignal { pid: u32, signal: u32 },
}

pub struct ModuleClient {
    sock: NlSocketHandle,
    family: u16,
    /// Page data goes by its own socket (`page_sink`), opened at the first batch.
    pages: Option<crate::page_sink::PageSink>,
}

/// Map a netlink error number from the kernel to what the user should read; the number is
/// kept (callers match on it, e.g. ESRCH: the task is gone).
pub(crate) fn errno_error(errno: i32) -> CtlError {
    match nix::errno::Errno::from_raw(errno.abs()) {
        nix::errno::Errno::EPERM => CtlError::PermissionDenied,
        e => CtlError::Module(ModuleError::Errno(e)),
    }
}

fn nl_error<T, P>(e: NlError<T, P>) -> CtlError
where
    T: std::fmt::Debug,
    P: std::fmt::Debug,
{
    match e {
        NlError::Nlmsgerr(m) => errno_error(m.error),
        other => CtlError::Module(ModuleError::Receive(other.to_string().into())),
    }
}

impl ModuleClient {
    pub fn connect() -> Result<Self> {
        let mut sock = NlSocketHandle::connect(NlFamily::Generic, None, &[])
            .map_err(|e| ModuleError::Socket(e.into()))?;
        // neli opens its socket without SOCK_CLOEXEC: a restored task must not inherit it.
        {
            use std::os::fd::AsRawFd;
            // SAFETY: F_SETFD on a descriptor we own.
            unsafe { libc::fcntl(sock.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        let family = sock.resolve_genl_family(uapi::FAMILY_NAME).map_err(|e| {
            if std::path::Path::new("/sys/module/migr").exists() {
                CtlError::Module(ModuleError::Resolve(e.to_string().into()))
            } else {
                CtlError::ModuleNotLoaded
            }
        })?;
        Ok(ModuleClient { sock, family, pages: None })
    }

    /// Send one command with the given attributes (nested ones marked by `nested`) and
    /// return the attributes of its reply (nested payloads raw).
    fn request_with(&mut self, cmd: u8, attrs: &[(u16, bool, Vec<u8>)]) -> Result<Vec<(u16, Vec<u8>)>> {
        let mut buf = GenlBuffer::<u16, Buffer>::new();
        for (ty, nested, payload) in attrs {
            let a = Nlattr::new(*nested, false, *ty, Buffer::from(payload.as_slice()))
                .map_err(|e| ModuleError::Attribute { ty: *ty, source: e.to_string().into() })?;
            buf.push(a);
        }
        // Commands without a reply message are acknowledged instead (an empty result).
        let ack = !matches!(cmd, uapi::CMD_FREEZE | uapi::CMD_RESTORE | uapi::CMD_INFO_GET);
        self.send_recv(cmd, buf, ack)
    }

    fn request(&mut self, cmd: u8) -> Result<Vec<(u16, Vec<u8>)>> {
        self.send_recv(cmd, GenlBuffer::<u16, Buffer>::new(), false)
    }

    fn send_recv(
        &mut self,
        cmd: u8,
        attrs: GenlBuffer<u16, Buffer>,
        ack: bool,
    ) -> Result<Vec<(u16, Vec<u8>)>> {
        let genl = Genlmsghdr::new(cmd, uapi::FAMILY_VERSION, attrs);
        let msg = Nlmsghdr::new(
            None,
            self.family,
            NlmFFlags::new(if ack { &[NlmF::Request, NlmF::Ack] } else { &[NlmF::Request] }),
            None,
            None,
            NlPayload::Payload(genl),
        );
        self.sock
            .send(msg)
            .map_err(|e| ModuleError::Send(e.to_string().into()))?;
        let reply: Option<Nlmsghdr<u16, Genlmsghdr<u8, u16>>> =
            self.sock.recv().map_err(nl_error)?;
        match reply {
            Some(m) => match m.nl_payload {
                NlPayload::Ack(_) => Ok(Vec::new()),
                NlPayload::Payload(g) => Ok(g
                    .get_attr_handle()
                    .get_attrs()
                    .iter()
                    .map(|a| (a.nla_type.nla_type, a.nla_payload.as_ref().to_vec()))
                    .collect()),
                NlPayload::Err(e) => Err(errno_error(e.error)),
                _ => Err(ModuleError::EmptyReply.into()),
            },
            None => Err(ModuleError::NoReply.into()),
        }
    }

    /// Freeze `pid` (see uapi/migr.yaml `freeze`): the reply's attributes. `proof` is the
    /// /proc/PID/mem the requesting user opened (the module checks that it is this task's).
    /// `migr_filter`: the listener of the home-call filter this daemon gave the task's stub
    /// (`migrate::home_calls`), so that the module does not refuse the task as confined.
    pub fn freeze(
        &mut self,
        pid: u32,
        timeout_ms: u32,
        hold_ms: u32,
        proof: BorrowedFd<'_>,
        migr_filter: Option<BorrowedFd<'_>>,
    ) -> Result<Vec<(u16, Vec<u8>)>> {
        let proof_fd = proof.as_raw_fd() as u32; // an open descriptor is never negative
        let mut attrs = vec![
            (uapi::A_TASK_PID, false, pid.to_ne_bytes().to_vec()),
            (uapi::A_TASK_TIMEOUT_MS, false, timeout_ms.to_ne_bytes().to_vec()),
            (uapi::A_TASK_HOLD_TIMEOUT_MS, false, hold_ms.to_ne_bytes().to_vec()),
            (uapi::A_TASK_PROOF_FD, false, proof_fd.to_ne_bytes().to_vec()),
        ];
        if let Some(l) = migr_filter {
            attrs.push((uapi::A_TASK_SECCOMP_LISTENER_FD, false, (l.as_raw_fd() as u32).to_ne_bytes().to_vec()));
        }
        self.request_with(uapi::CMD_FREEZE, &attrs)
    }

    pub fn thaw(&mut self, session: u32) -> Result<()> {
        self.request_with(uapi::CMD_THAW, &[(uapi::A_TASK_SESSION, false, session.to_ne_bytes().to_vec())])
            .map(|_| ())
    }

    pub fn hand_over(&mut self, session: u32) -> Result<()> {
        self.request_with(uapi::CMD_HAND_OVER, &[(uapi::A_TASK_SESSION, false, session.to_ne_bytes().to_vec())])
            .map(|_| ())
    }

    /// End the original (or, with `deputy`, keep it as the deputy of its copy).
    pub fn commit(&mut self, session: u32, deputy: bool) -> Result<()> {
        let mut attrs = vec![(uapi::A_TASK_SESSION, false, session.to_ne_bytes().to_vec())];
        if deputy {
            attrs.push((uapi::A_TASK_DEPUTY, false, Vec::new()));
        }
        self.request_with(uapi::CMD_COMMIT, &attrs).map(|_| ())
    }

    /// The process of the deputy of `pid` comes home: the deputy becomes the restore stub
    /// whose file is our descriptor `stub_fd`, exec'ing `argv` ("@FD@" standing for the
    /// descriptor the file gets there) with `envp`.
    pub fn deputy_become(&mut self, pid: u32, stub_fd: i32, argv: &[String], envp: &[String]) -> Result<()> {
        let strings = |v: &[String]| v.iter().flat_map(|s| s.bytes().chain([0])).collect::<Vec<u8>>();
        self.request_with(
            uapi::CMD_DEPUTY_BECOME,
            &[
                (uapi::A_TASK_PID, false, pid.to_ne_bytes().to_vec()),
                (uapi::A_TASK_FD, false, (stub_fd as u32).to_ne_bytes().to_vec()),
                (uapi::A_TASK_EXEC_ARGV, false, strings(argv)),
                (uapi::A_TASK_EXEC_ENVP, false, strings(envp)),
            ],
        )
        .map(|_| ())
    }

    /// The copy of the deputy of `pid` stopped by `signal`: the deputy stops the same way.
    pub fn deputy_stop(&mut self, pid: u32, signal: u32) -> Result<()> {
        self.request_with(
            uapi::CMD_DEPUTY_STOP,
            &[
                (uapi::A_TASK_PID, false, pid.to_ne_bytes().to_vec()),
                (uapi::A_TASK_SIGNAL, false, signal.to_ne_bytes().to_vec()),
            ],
        )
        .map(|_| ())
    }

    /// The copy of the deputy of `pid` ended with `wait_status`: the deputy ends the same way.
    pub fn deputy_end(&mut self, pid: u32, wait_status: u32) -> Result<()> {
        self.request_with(
            uapi::CMD_DEPUTY_END,
            &[
                (uapi::A_TASK_PID, false, pid.to_ne_bytes().to_vec()),
                (uapi::A_TASK_WAIT_STATUS, false, wait_status.to_ne_bytes().to_vec()),
            ],
        )
        .map(|_| ())
    }

    /// Hand an image to the module: (control fd, stub fd), both installed in this process,
    /// and in lazy mode the id of the task's pager.
    pub fn restore(&mut self, image: &[(u16, Vec<u8>)]) -> Result<(i32, i32, Option<u32>)> {
        let attrs: Vec<(u16, bool, Vec<u8>)> =
            image.iter().map(|(t, p)| (*t, *t == uapi::A_TASK_VMA, p.clone())).collect();
        let reply = self.request_with(uapi::CMD_RESTORE, &attrs)?;
        let get = |ty| {
            reply
                .iter()
                .find(|(t, _)| *t == ty)
                .ok_or(ModuleError::Missing("restore reply lacks a descriptor"))
                .map_err(CtlError::from)
                .and_then(|(_, p)| read_u32(p))
        };
        let pager_id = get(uapi::A_TASK_PAGER_ID).ok();
        Ok((get(uapi::A_TASK_FD)? as i32, get(uapi::A_TASK_STUB_FD)? as i32, pager_id))
    }

    /// Deliver pages (a run of at most MAX_PAGE_RUN) to `pager`.
    pub fn page_data(&mut self, pager: PagerRef, addr: u64, data: &[u8], kind: u32) -> Result<()> {
        self.request_with(
            uapi::CMD_PAGE_DATA,
            &[
                (uapi::A_PAGER_PID, false, pager.pid.to_ne_bytes().to_vec()),
                (uapi::A_PAGER_ID, false, pager.id.to_ne_bytes().to_vec()),
                (uapi::A_PAGER_ADDR, false, addr.to_ne_bytes().to_vec()),
                (uapi::A_PAGER_DATA, false, data.to_vec()),
                (uapi::A_PAGER_KIND, false, kind.to_ne_bytes().to_vec()),
            ],
        )
        .map(|_| ())
    }

    /// Does `pager` still exist? (A lazily restored task's pager outlives the task while
    /// children it forked still miss pages of the source.) A page-data of no pages: ESRCH
    /// once the pager has ended.
    pub fn pager_alive(&mut self, pager: PagerRef) -> Result<bool> {
        match self.page_data(pager, 0, &[], uapi::PAGE_KIND_PUSH) {
            Ok(()) => Ok(true),
            Err(CtlError::Module(ModuleError::Errno(nix::errno::Errno::ESRCH))) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deliver a batch of runs, split into pieces the netlink attribute can carry.
    pub fn page_batch(&mut self, pager: PagerRef, batch: &crate::peer::proto::PageBatch, kind: u32) -> Result<()> {
        let sink = match self.pages.as_mut() {
            Some(s) => s,
            None => self.pages.insert(crate::page_sink::PageSink::open(self.family)?),
        };
        sink.deliver(pager, batch, kind)
    }

    pub fn pager_end(&mut self, pager: PagerRef, end: u32) -> Result<()> {
        self.request_with(
            uapi::CMD_PAGER_END,
            &[
                (uapi::A_PAGER_PID, false, pager.pid.to_ne_bytes().to_vec()),
                (uapi::A_PAGER_ID, false, pager.id.to_ne_bytes().to_vec()),
                (uapi::A_PAGER_END, false, end.to_ne_bytes().to_vec()),
            ],
        )
        .map(|_| ())
    }

    /// Make this socket the receiver of page-request events.
    pub fn pager_listen(&mut self) -> Result<()> {
        self.request_with(uapi::CMD_PAGER_LISTEN, &[(uapi::A_PAGER_PID, false, 0u32.to_ne_bytes().to_vec())])
            .map(|_| ())
    }

    /// Wait for the next event of the module (page request or deputy signal).
    pub fn next_event(&mut self) -> Result<ModuleEvent> {
        loop {
            let m: Option<Nlmsghdr<u16, Genlmsghdr<u8, u16>>> = self.sock.recv().map_err(nl_error)?;
            let Some(m) = m else { continue };
            let NlPayload::Payload(g) = m.nl_payload else { continue };
            let mut u32s = std::collections::HashMap::new();
            let mut addr = None;
            for a in g.get_attr_handle().get_attrs() {
                let (ty, payload) = (a.nla_type.nla_type, a.nla_payload.as_ref());
                match (g.cmd, ty) {
                    (uapi::CMD_PAGE_REQUEST, uapi::A_PAGER_ADDR) => addr = read_u64(payload).ok(),
                    _ => {
                        if let Ok(v) = read_u32(payload) {
                            u32s.insert(ty, v);
                        }
                    }
                }
            }
            match g.cmd {
                uapi::CMD_PAGE_REQUEST => {
                    if let (Some(&pid), Some(&id), Some(a)) = (u32s.get(&uapi::A_PAGER_PID), u32s.get(&uapi::A_PAGER_ID), addr) {
                        return Ok(ModuleEvent::PageRequest(PagerRef { pid, id }, a));
                    }
                }
                uapi::CMD_DEPUTY_SIGNAL => {
                    if let (Some(&pid), Some(&signal)) = (u32s.get(&uapi::A_TASK_PID), u32s.get(&uapi::A_TASK_SIGNAL)) {
                        return Ok(ModuleEvent::DeputySignal { pid, signal });
                    }
                }
                _ => {}
            }
        }
    }

    pub fn info(&mut self) -> Result<ModuleInfo> {
        let attrs = self.request(uapi::CMD_INFO_GET)?;
        let mut info = ModuleInfo { module_version: String::new(), protocol_version: 0, features: 0 };
        for (ty, payload) in &attrs {
            let payload = payload.as_slice();
            match *ty {
                uapi::A_INFO_MODULE_VERSION => {
                    info.module_version =
                        String::from_utf8_lossy(payload).trim_end_matches('\0').to_string()
                }
                uapi::A_INFO_PROTOCOL_VERSION => info.protocol_version = read_u32(payload)?,
                uapi::A_INFO_FEATURES => info.features = read_u64(payload)?,
                _ => {}
            }
        }
        if info.protocol_version == 0 {
            return Err(ModuleError::Missing("reply lacks the protocol version").into());
        }
        Ok(info)
    }
}

pub(crate) fn read_u32(b: &[u8]) -> Result<u32> {
    b.try_into()
        .map(u32::from_ne_bytes)
        .map_err(|_| ModuleError::AttributeLength { len: b.len(), want: 4 }.into())
}

pub(crate) fn read_u64(b: &[u8]) -> Result<u64> {
    b.try_into()
        .map(u64::from_ne_bytes)
        .map_err(|_| ModuleError::AttributeLength { len: b.len(), want: 8 }.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_attributes_check_their_length() {
        assert_eq!(read_u32(&7u32.to_ne_bytes()).unwrap(), 7);
        assert!(read_u32(&[1, 2]).is_err());
        assert_eq!(read_u64(&9u64.to_ne_bytes()).unwrap(), 9);
        assert!(read_u64(&[0; 4]).is_err());
    }

    #[test]
    fn eperm_means_permission_denied() {
        assert!(matches!(errno_error(-nix::libc::EPERM), CtlError::PermissionDenied));
        assert!(matches!(errno_error(-nix::libc::EINVAL), CtlError::Module(ModuleError::Errno(nix::errno::Errno::EINVAL))));
        assert_eq!(errno_error(-nix::libc::ESRCH).to_string(), "module error: No such process");
    }
}
