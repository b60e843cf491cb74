// SPDX-License-Identifier: GPL-2.0
//! Typed atomics for state machines: an enum stored in an `AtomicU32`.
//! [`state_enum!`] declares the enum and its mapping to `u32`; [`AtomicEnum`] holds one.

use core::marker::PhantomData;
use core::sync::atomic::{AtomicU32, Ordering};

/// An enum with a `u32` representation. `from_raw` is total, but only values from
/// `into_raw` are ever given to it (by [`AtomicEnum`]).
pub(crate) trait AtomicRepr: Copy + PartialEq {
    fn into_raw(self) -> u32;
    fn from_raw(raw: u32) -> Self;
}

/// Declare a `#[repr(u32)]` fieldless enum with explicit values and its [`AtomicRepr`].
macro_rules! state_enum {
    ($(#[$m:meta])* $vis:vis enum $name:ident {
        $($(#[$vm:meta])* $v:ident = $val:expr),+ $(,)?
    }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        #[repr(u32)]
        $vis enum $name { $($(#[$vm])* $v = $val),+ }

        impl $crate::bind::atomic::AtomicRepr for $name {
            fn into_raw(self) -> u32 {
                self as u32
            }

            fn from_raw(raw: u32) -> Self {
                $(if raw == $val { return $name::$v; })+
                // Not reached: an `AtomicEnum` only holds values of `into_raw`. The first
                // variant keeps this total without a panic path.
                [$($name::$v),+][0]
            }
        }
    };
}
pub(crate) use state_enum;

/// An atomic holding a `T`. Loads acquire, stores release, compare-exchanges are AcqRel.
///
/// # Invariants
/// The atomic only ever holds values of `T::into_raw`.
pub(crate) struct AtomicEnum<T: AtomicRepr> {
    v: AtomicU32,
    _t: PhantomData<T>,
}

impl<T: AtomicRepr> AtomicEnum<T> {
    pub(crate) fn new(v: T) -> Self {
        AtomicEnum { v: AtomicU32::new(v.into_raw()), _t: PhantomData }
    }

    pub(crate) fn load(&self) -> T {
        T::from_raw(self.v.load(Ordering::Acquire))
    }

    pub(crate) fn store(&self, v: T) {
        self.v.store(v.into_raw(), Ordering::Release);
    }

    /// Move from `from` to `to`: Ok if it was `from`, else Err(what it was).
    pub(crate) fn transition(&self, from: T, to: T) -> core::result::Result<(), T> {
        self.v
            .compare_exchange(from.into_raw(), to.into_raw(), Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(T::from_raw)
    }
}
