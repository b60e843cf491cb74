// SPDX-License-Identifier: GPL-2.0
//! The pager's page array: an xarray from page offset to a page reference or the SERVED
//! mark (a value entry). Page references outside it are [`PageRef`]s.

use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::code;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::types::Opaque;

use super::ffi;

/// A counted reference to a `struct page` (6.12's `kernel::page::Page` owns an allocation
/// and frees it, it cannot hold a shared reference, hence this type).
///
/// # Invariants
/// `0` is a page on which this value owns one reference; dropped with put_page.
pub(crate) struct PageRef(NonNull<bindings::page>);

impl PageRef {
    /// A new page for user memory (GFP_HIGHUSER: may sleep), zeroed if `zero`.
    pub(crate) fn alloc(zero: bool) -> Result<Self> {
        // SAFETY: alloc_page has no preconditions (process context, may sleep).
        let p = unsafe { ffi::migr_alloc_page(zero) };
        // INVARIANT: a new page comes with one reference, ours.
        NonNull::new(p).map(PageRef).ok_or(code::ENOMEM)
    }

    /// A new page holding a copy of `data` (exactly PAGE_SIZE bytes).
    pub(crate) fn with_contents(data: &[u8]) -> Result<Self> {
        if data.len() != PAGE_SIZE {
            return Err(code::EINVAL);
        }
        let p = Self::alloc(false)?;
        // SAFETY: the page is ours and live; `data` has PAGE_SIZE readable bytes.
        unsafe { ffi::migr_copy_to_page(p.0.as_ptr(), data.as_ptr().cast()) };
        Ok(p)
    }

    /// Give the reference to the caller (the fault handler hands it to the mm core).
    pub(super) fn into_raw(self) -> *mut bindings::page {
        let p = self.0.as_ptr();
        core::mem::forget(self);
        p
    }
}

impl Drop for PageRef {
    fn drop(&mut self) {
        // SAFETY: drops the reference this value owns (type invariant).
        unsafe { ffi::migr_put_page(self.0.as_ptr()) };
    }
}

// SAFETY: page references may be dropped from any thread.
unsafe impl Send for PageRef {}

/// What a fault finds at an offset.
pub(crate) enum Slot {
    /// A page: its reference is the caller's now.
    Page(PageRef),
    /// Served before (the task owns or dropped that page since).
    Served,
    Absent,
}

/// # Invariants
/// `xa` was initialised by `new` at its final (pinned) address; each non-value entry is a
/// page whose reference the array owns.
#[pin_data(PinnedDrop)]
pub(crate) struct PageArray {
    #[pin]
    xa: Opaque<bindings::xarray>,
}

impl PageArray {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(PageArray {
            // INVARIANT: initialised in place, at the address it keeps (pinned).
            // SAFETY: `slot` is the pinned, uninitialised xarray.
            xa <- Opaque::ffi_init(|slot| unsafe { ffi::migr_xa_init(slot) }),
        })
    }

    /// Take the entry at `pgoff` for a fault. With `keep` a present page stays (the caller
    /// gets a new reference); without, the caller gets the array's and the slot becomes
    /// SERVED. Takes the xarray spinlock; does not sleep.
    pub(crate) fn take(&self, pgoff: u64, keep: bool) -> Slot {
        let mut page = core::ptr::null_mut();
        // SAFETY: initialised (type invariant); `page` is a valid out pointer.
        match unsafe { ffi::migr_xa_take(self.xa.get(), pgoff as _, &mut page, keep) } {
            0 => match NonNull::new(page) {
                // INVARIANT: the glue gave us a reference (moved or new).
                Some(p) => Slot::Page(PageRef(p)),
                None => Slot::Absent,
            },
            1 => Slot::Served,
            _ => Slot::Absent,
        }
    }

    /// Is anything (page or SERVED) at `pgoff`? Lockless (RCU).
    pub(crate) fn present(&self, pgoff: u64) -> bool {
        // SAFETY: initialised (type invariant).
        unsafe { ffi::migr_xa_present(self.xa.get(), pgoff as _) }
    }

    /// Store `page` at `pgoff` if the slot is empty: Ok(true) stored, Ok(false) something
    /// was there (the page is dropped). May sleep (GFP_KERNEL).
    pub(crate) fn store_new(&self, pgoff: u64, page: PageRef) -> Result<bool> {
        // SAFETY: initialised; the glue consumes the page reference on every path.
        let r = unsafe { ffi::migr_xa_store_new(self.xa.get(), pgoff as _, page.into_raw()) };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        Ok(r > 0)
    }

    /// Mark `count` offsets from `pgoff` SERVED, dropping pages held there. Best effort
    /// (GFP_NOWAIT): callable from an MMU notifier, never sleeps.
    pub(crate) fn discard(&self, pgoff: u64, count: u64) {
        // SAFETY: initialised (type invariant).
        unsafe { ffi::migr_xa_discard(self.xa.get(), pgoff as _, count as _) };
    }
}

#[pinned_drop]
impl PinnedDrop for PageArray {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: initialised; being dropped, so no other user remains; the array owns the
        // references of its page entries (type invariant), which this drops.
        unsafe { ffi::migr_xa_destroy_pages(self.xa.get()) };
    }
}

// SAFETY: the xarray has its own lock; page references may move between threads.
unsafe impl Send for PageArray {}
// SAFETY: every method takes the xarray's lock or uses RCU.
unsafe impl Sync for PageArray {}
