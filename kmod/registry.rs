// SPDX-License-Identifier: GPL-2.0
//! A table of shared objects (frozen tasks, pagers), found by a predicate. No fixed cap: it
//! grows (in the doits that add, process context, GFP_KERNEL) to the most entries it ever
//! held at once, and reuses freed slots; lookups never allocate (they run in fault paths).
//! A node freezes or pages a handful of tasks at a time, so a linear scan is enough.

use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

#[pin_data]
pub(crate) struct Registry<T: Send + Sync> {
    /// Locking: a mutex (sleeps): every caller is in process context (doits, faults, task
    /// works, file release), never in atomic context.
    #[pin]
    slots: Mutex<KVec<Option<Arc<T>>>>,
}

impl<T: Send + Sync> Registry<T> {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Registry { slots <- kernel::new_mutex!(KVec::new()) })
    }

    /// Add `v` unless an entry matches `clash`: Err(EEXIST) then, Err(ENOMEM) if the table
    /// cannot grow.
    pub(crate) fn insert(&self, v: Arc<T>, clash: impl Fn(&T) -> bool) -> Result {
        let mut slots = self.slots.lock();
        if slots.iter().flatten().any(|s| clash(s)) {
            return Err(EEXIST);
        }
        match slots.iter_mut().find(|s| s.is_none()) {
            Some(slot) => *slot = Some(v),
            None => slots.push(Some(v), GFP_KERNEL)?,
        }
        Ok(())
    }

    pub(crate) fn find(&self, f: impl Fn(&T) -> bool) -> Option<Arc<T>> {
        self.slots.lock().iter().flatten().find(|s| f(s)).cloned()
    }

    /// Every entry (references), for a walk without the table's lock.
    pub(crate) fn all(&self) -> Result<KVec<Arc<T>>> {
        let slots = self.slots.lock();
        let mut v = KVec::with_capacity(slots.len(), GFP_KERNEL)?;
        for s in slots.iter().flatten() {
            v.push(s.clone(), GFP_KERNEL)?;
        }
        Ok(v)
    }

    pub(crate) fn remove(&self, f: impl Fn(&T) -> bool) {
        for slot in self.slots.lock().iter_mut() {
            if slot.as_ref().is_some_and(|s| f(s)) {
                *slot = None;
            }
        }
    }
}
