// SPDX-License-Identifier: GPL-2.0
//! A small fixed-size table of shared objects (frozen tasks, pagers), found by a predicate.
//! Small on purpose: a node freezes or pages a handful of tasks at a time; a full table is
//! an EBUSY, not an allocation in a fault path.

use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

pub(crate) const SLOTS: usize = 64;

#[pin_data]
pub(crate) struct Registry<T: Send + Sync> {
    #[pin]
    slots: Mutex<[Option<Arc<T>>; SLOTS]>,
}

impl<T: Send + Sync> Registry<T> {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Registry { slots <- kernel::new_mutex!([const { None }; SLOTS]) })
    }

    /// Add `v` unless an entry matches `clash`: Err(EEXIST) then, Err(EBUSY) if full.
    pub(crate) fn insert(&self, v: Arc<T>, clash: impl Fn(&T) -> bool) -> Result {
        let mut slots = self.slots.lock();
        if slots.iter().flatten().any(|s| clash(s)) {
            return Err(EEXIST);
        }
        let slot = slots.iter_mut().find(|s| s.is_none()).ok_or(EBUSY)?;
        *slot = Some(v);
        Ok(())
    }

    pub(crate) fn find(&self, f: impl Fn(&T) -> bool) -> Option<Arc<T>> {
        self.slots.lock().iter().flatten().find(|s| f(s)).cloned()
    }

    pub(crate) fn remove(&self, f: impl Fn(&T) -> bool) {
        for slot in self.slots.lock().iter_mut() {
            if slot.as_ref().is_some_and(|s| f(s)) {
                *slot = None;
            }
        }
    }
}
