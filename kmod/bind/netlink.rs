// SPDX-License-Identifier: GPL-2.0
//! Generic netlink: the `migr` family's registration, requests with their attributes
//! (missing or malformed ones reported through extack, as GENL_REQ_ATTR_CHECK and
//! NL_SET_BAD_ATTR do in in-tree families), and messages (replies and events).
//!
//! The family table (ops, policies, GENL_ADMIN_PERM on every command) is generated into
//! kmod/migr_nl_gen.c from uapi/migr.yaml; its doits land in kmod/bind/entry.rs, which
//! builds a [`Request`] and calls the handler.
//!
//! Context: a doit runs in the sender's process context under the genl cb_lock (read;
//! `parallel_ops`, so no genl_mutex): it may allocate with GFP_KERNEL and sleep. The only
//! long sleeps are the killable, time-bounded waits of `WaitQueue` (freeze waits for the
//! task to park), which never wait for another doit of this family to run first.

use kernel::ffi::{c_int, c_void};
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::{code, to_result};
use kernel::prelude::*;

use super::ffi::{self, GenlInfo, NlAttr};

/// Registration of the family and of the socket-release notifier; both undone on drop.
///
/// # Invariants
/// Both were registered by `register`.
pub(crate) struct Family(());

impl Family {
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: the family struct is static in migr_nl_gen.c; registered once, here.
        to_result(unsafe { ffi::migr_genl_register() })?;
        // SAFETY: the notifier block is static in kmod/glue/netlink.c; registered once.
        if let Err(e) = to_result(unsafe { ffi::migr_nl_notifier_register() }) {
            // SAFETY: registered just above.
            unsafe { ffi::migr_genl_unregister() };
            return Err(e);
        }
        // INVARIANT: both registered.
        Ok(Family(()))
    }
}

impl Drop for Family {
    fn drop(&mut self) {
        // SAFETY: both were registered (type invariant). genl_unregister_family waits for
        // running doits; netlink_unregister_notifier for running notifier calls (atomic
        // notifier chain: synchronize_rcu), so no callback outlives the module.
        unsafe {
            ffi::migr_genl_unregister();
            ffi::migr_nl_notifier_unregister();
        }
    }
}

/// The request of a running doit.
///
/// # Invariants
/// `info` is the `genl_info` of a doit that runs for at least `'a`.
pub(crate) struct Request<'a> {
    info: NonNull<GenlInfo>,
    _doit: PhantomData<&'a GenlInfo>,
}

/// One attribute of a request (or of a nest in it), validated by the op's policy.
///
/// # Invariants
/// Points into the message of a doit that runs for at least `'a`, at an attribute whose
/// type and length the generated policy checked.
#[derive(Clone, Copy)]
pub(crate) struct Attr<'a> {
    a: NonNull<NlAttr>,
    _doit: PhantomData<&'a NlAttr>,
}

impl<'a> Attr<'a> {
    fn new(a: *const NlAttr) -> Option<Self> {
        NonNull::new(a.cast_mut()).map(|a| Attr { a, _doit: PhantomData })
    }

    pub(crate) fn u32(self) -> u32 {
        // SAFETY: a valid attribute (type invariant) that the policy checked to be a u32.
        unsafe { ffi::migr_attr_u32(self.a.as_ptr()) }
    }

    pub(crate) fn u64(self) -> u64 {
        // SAFETY: as in `u32`, a u64.
        unsafe { ffi::migr_attr_u64(self.a.as_ptr()) }
    }

    /// The payload, valid while the doit runs.
    pub(crate) fn bytes(self) -> &'a [u8] {
        let mut len: c_int = 0;
        // SAFETY: a valid attribute (type invariant); `len` is a valid out pointer.
        let data = unsafe { ffi::migr_attr_data(self.a.as_ptr(), &mut len) };
        let len = usize::try_from(len).unwrap_or(0);
        if data.is_null() || len == 0 {
            return &[];
        }
        // SAFETY: the payload has `len` bytes inside the message, which lives for `'a`.
        unsafe { core::slice::from_raw_parts(data.cast::<u8>(), len) }
    }

    /// A NUL-terminated string attribute, without its NUL.
    pub(crate) fn string(self) -> &'a [u8] {
        let b = self.bytes();
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        b.get(..end).unwrap_or(b)
    }
}

impl<'a> Request<'a> {
    /// # Safety
    /// `info` must be the `genl_info` of the running doit, and the `Request` must not be
    /// used after the doit returns (`'a` must not outlive it).
    pub(super) unsafe fn from_raw(info: *mut GenlInfo) -> Option<Self> {
        // INVARIANT: per the contract.
        NonNull::new(info).map(|info| Request { info, _doit: PhantomData })
    }

    fn raw(&self) -> *mut GenlInfo {
        self.info.as_ptr()
    }

    /// An optional attribute. `ty` must belong to the op's attribute set (at most its
    /// maxattr): callers pass the generated constants of the set.
    pub(crate) fn get(&self, ty: u16) -> Option<Attr<'a>> {
        // SAFETY: `info` is valid (type invariant); attrs has maxattr + 1 entries and `ty`
        // is one of the set's attributes.
        Attr::new(unsafe { ffi::migr_attr(self.raw(), c_int::from(ty)) })
    }

    /// A required attribute: if it is missing, the extack names it (GENL_REQ_ATTR_CHECK)
    /// and the result is EINVAL.
    pub(crate) fn require(&self, ty: u16) -> Result<Attr<'a>> {
        // SAFETY: as in `get`; the glue records the missing type in info->extack.
        Attr::new(unsafe { ffi::migr_attr_require(self.raw(), c_int::from(ty)) }).ok_or(code::EINVAL)
    }

    pub(crate) fn u32(&self, ty: u16) -> Option<u32> {
        self.get(ty).map(Attr::u32)
    }

    pub(crate) fn u64(&self, ty: u16) -> Option<u64> {
        self.get(ty).map(Attr::u64)
    }

    pub(crate) fn need_u32(&self, ty: u16) -> Result<u32> {
        self.require(ty).map(Attr::u32)
    }

    /// A present attribute whose value is wrong: the extack points at it
    /// (NL_SET_BAD_ATTR); returns EINVAL for the caller to return.
    pub(crate) fn bad(&self, attr: Attr<'a>) -> Error {
        // SAFETY: `info` is valid; `attr` is an attribute of its message.
        unsafe { ffi::migr_attr_bad(self.raw(), attr.a.as_ptr()) };
        code::EINVAL
    }

    /// Every top-level attribute of type `ty`, in message order (for multi-attr nests).
    pub(crate) fn all(&self, ty: u16) -> AttrIter<'a> {
        AttrIter { info: self.info, ty, prev: core::ptr::null(), done: false, _doit: PhantomData }
    }

    /// Parse a nested `vma` attribute (the only nested set of the spec) into its members,
    /// validated by its generated policy; errors are reported in the extack.
    pub(crate) fn parse_vma(&self, nest: Attr<'a>) -> Result<Nested<'a, '_>> {
        let mut tb = [core::ptr::null(); NEST_MAX + 1];
        // SAFETY: `info` is valid; `nest` is an attribute of its message; `tb` has room for
        // NEST_MAX + 1 entries; the policy is the generated `vma` one.
        to_result(unsafe {
            ffi::migr_attr_parse_vma(self.raw(), nest.a.as_ptr(), tb.as_mut_ptr(), NEST_MAX as c_int)
        })?;
        Ok(Nested { req: self, nest, tb })
    }

    /// The netlink port of the sender.
    pub(crate) fn portid(&self) -> u32 {
        // SAFETY: `info` is valid (type invariant).
        unsafe { ffi::migr_info_portid(self.raw()) }
    }

    /// Start a reply of about `size` bytes (at least a page is allocated).
    pub(crate) fn reply(&self, size: usize) -> Result<Message<'a>> {
        let mut hdr = core::ptr::null_mut();
        let size = size.max(MIN_MSG);
        // SAFETY: `info` is valid; `hdr` is a valid out pointer. Process context (doit).
        let skb = unsafe { ffi::migr_msg_reply(self.raw(), &mut hdr, size) };
        let skb = NonNull::new(skb).ok_or(code::ENOMEM)?;
        Ok(Message { skb, hdr, dest: Dest::Reply(self.info), _doit: PhantomData })
    }
}

/// Payload room every message gets at least (a little under NLMSG_GOODSIZE, which the
/// glue's genlmsg_new rounds up to a page with the headers).
const MIN_MSG: usize = 3072;

/// Highest attribute type a nested set may have here (the `vma` set uses 7).
const NEST_MAX: usize = 15;
const _: () = assert!(crate::uapi_gen::A_VMA_PAD as usize <= NEST_MAX);

/// The members of a nested attribute, indexed by type.
pub(crate) struct Nested<'a, 'r> {
    req: &'r Request<'a>,
    nest: Attr<'a>,
    tb: [*const NlAttr; NEST_MAX + 1],
}

impl<'a> Nested<'a, '_> {
    pub(crate) fn get(&self, ty: u16) -> Option<Attr<'a>> {
        self.tb.get(usize::from(ty)).and_then(|a| Attr::new(*a))
    }

    /// A required member: if missing, the extack names it and its nest
    /// (NL_SET_ERR_ATTR_MISS); EINVAL.
    pub(crate) fn require(&self, ty: u16) -> Result<Attr<'a>> {
        self.get(ty).ok_or_else(|| {
            // SAFETY: the request's info is valid; `nest` is an attribute of its message.
            unsafe { ffi::migr_attr_missing_in(self.req.raw(), self.nest.a.as_ptr(), c_int::from(ty)) };
            code::EINVAL
        })
    }
}

pub(crate) struct AttrIter<'a> {
    info: NonNull<GenlInfo>,
    ty: u16,
    prev: *const NlAttr,
    done: bool,
    _doit: PhantomData<&'a GenlInfo>,
}

impl<'a> Iterator for AttrIter<'a> {
    type Item = Attr<'a>;

    fn next(&mut self) -> Option<Attr<'a>> {
        if self.done {
            return None;
        }
        // SAFETY: `info` is the running doit's (it came from a `Request<'a>`); `prev` is
        // null or an attribute returned by the previous call on the same message.
        let a = unsafe { ffi::migr_attr_next(self.info.as_ptr(), self.prev, c_int::from(self.ty)) };
        self.prev = a;
        let a = Attr::new(a);
        self.done = a.is_none();
        a
    }
}

enum Dest {
    /// The reply to a running doit's request.
    Reply(NonNull<GenlInfo>),
    /// An event for a port of the initial netns.
    Event,
}

/// A message under construction (freed on drop unless sent).
///
/// # Invariants
/// `skb` is a message this value owns, with the genl header `hdr`; for `Dest::Reply` the
/// doit of that info runs for at least `'a`.
pub(crate) struct Message<'a> {
    skb: NonNull<bindings::sk_buff>,
    hdr: *mut c_void,
    dest: Dest,
    _doit: PhantomData<&'a GenlInfo>,
}

impl Message<'static> {
    /// An event of command `cmd` (no request), of about `size` bytes. Process context
    /// (GFP_KERNEL), e.g. a page fault.
    pub(crate) fn event(cmd: u8, size: usize) -> Result<Self> {
        let mut hdr = core::ptr::null_mut();
        let size = size.max(MIN_MSG);
        // SAFETY: `hdr` is a valid out pointer; the glue uses the static family.
        let skb = unsafe { ffi::migr_msg_event(cmd, &mut hdr, size) };
        let skb = NonNull::new(skb).ok_or(code::ENOMEM)?;
        Ok(Message { skb, hdr, dest: Dest::Event, _doit: PhantomData })
    }
}

impl<'a> Message<'a> {
    fn skb(&self) -> *mut bindings::sk_buff {
        self.skb.as_ptr()
    }

    pub(crate) fn put_u32(&mut self, ty: u16, value: u32) -> Result {
        // SAFETY: a live message owned by this value (type invariant).
        to_result(unsafe { ffi::migr_msg_put_u32(self.skb(), ty, value) })
    }

    /// A u64 attribute, aligned with the set's `pad` attribute.
    pub(crate) fn put_u64(&mut self, ty: u16, value: u64, pad: u16) -> Result {
        // SAFETY: as in `put_u32`.
        to_result(unsafe { ffi::migr_msg_put_u64(self.skb(), ty, value, pad) })
    }

    pub(crate) fn put_bytes(&mut self, ty: u16, data: &[u8]) -> Result {
        let len = c_int::try_from(data.len()).map_err(|_| code::E2BIG)?;
        // SAFETY: as in `put_u32`; `data` has `len` readable bytes.
        to_result(unsafe { ffi::migr_msg_put(self.skb(), ty, data.as_ptr().cast(), len) })
    }

    pub(crate) fn put_cstr(&mut self, ty: u16, value: &CStr) -> Result {
        self.put_bytes(ty, value.as_bytes_with_nul())
    }

    /// A nested attribute of type `ty` whose members `f` writes.
    pub(crate) fn nest(&mut self, ty: u16, f: impl FnOnce(&mut Self) -> Result) -> Result {
        // SAFETY: as in `put_u32`.
        let nest = unsafe { ffi::migr_msg_nest_start(self.skb(), ty) };
        if nest.is_null() {
            return Err(super::errno::emsgsize());
        }
        f(self)?;
        // SAFETY: `nest` was opened on this message above, and nothing was removed since.
        unsafe { ffi::migr_msg_nest_end(self.skb(), nest) };
        Ok(())
    }

    /// Send a reply to its requester.
    pub(crate) fn send(self) -> Result {
        let Dest::Reply(info) = self.dest else {
            return Err(code::EINVAL);
        };
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: the message is ours and its doit runs (type invariant); the glue
        // consumes it on every path, and `ManuallyDrop` keeps `drop` from freeing it again.
        to_result(unsafe { ffi::migr_msg_reply_send(this.skb(), this.hdr, info.as_ptr()) })
    }

    /// Send an event to netlink port `portid` of the initial netns; never blocks
    /// (ECONNREFUSED if nobody listens there, EAGAIN if its queue is full).
    pub(crate) fn send_to(self, portid: u32) -> Result {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: the message is ours (type invariant); the glue consumes it on every path.
        to_result(unsafe { ffi::migr_msg_unicast(this.skb(), this.hdr, portid) })
    }
}

impl Drop for Message<'_> {
    fn drop(&mut self) {
        // SAFETY: never sent (sending bypasses drop), so still ours (type invariant).
        unsafe { ffi::migr_msg_free(self.skb()) };
    }
}

/// Turn a handler's result into a doit's return value. Handlers run only for callers with
/// CAP_SYS_ADMIN: GENL_ADMIN_PERM (every op, from the spec) demands CAP_NET_ADMIN, and
/// migrating processes is more than network administration.
pub(super) fn run_doit(info: *mut GenlInfo, handler: fn(&Request<'_>) -> Result) -> c_int {
    if !super::task::capable_sys_admin() {
        return code::EPERM.to_errno();
    }
    // SAFETY: called by a doit with its own info; the request lives in this call only.
    let Some(req) = (unsafe { Request::from_raw(info) }) else {
        return code::EINVAL.to_errno();
    };
    match handler(&req) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
