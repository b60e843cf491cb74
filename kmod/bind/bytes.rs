// SPDX-License-Identifier: GPL-2.0
//! Plain-old-data slices as bytes, for attributes that carry arrays and C structs
//! (`kernel::types::AsBytes`/`FromBytes` say which types qualify).

use kernel::error::code;
use kernel::prelude::*;
use kernel::types::{AsBytes, FromBytes};

/// View a slice of plain-old-data values as bytes.
pub(crate) fn as_bytes<T: AsBytes>(v: &[T]) -> &[u8] {
    // SAFETY: `T: AsBytes` has no uninitialised bytes; the length covers exactly the slice,
    // which the returned borrow keeps alive.
    unsafe { core::slice::from_raw_parts(v.as_ptr().cast::<u8>(), core::mem::size_of_val(v)) }
}

/// Fill `out` from bytes of exactly its size (EINVAL otherwise).
pub(crate) fn copy_from_bytes<T: FromBytes>(out: &mut [T], b: &[u8]) -> Result {
    if b.len() != core::mem::size_of_val(out) {
        return Err(code::EINVAL);
    }
    // SAFETY: lengths match (checked above), the regions are distinct (one is borrowed
    // mutably), and any bit pattern is a valid `T` (`FromBytes`).
    unsafe { core::ptr::copy_nonoverlapping(b.as_ptr(), out.as_mut_ptr().cast::<u8>(), b.len()) };
    Ok(())
}
