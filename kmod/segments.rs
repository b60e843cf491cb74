// SPDX-License-Identifier: GPL-2.0
//! Where the missing pages of one address space are at the source: a sorted list of
//! segments `[start, end)` of this address space whose pages, while missing here, are the
//! source's pages from `src` on. A lazy restore starts with one segment per lazy mapping,
//! `src == start`; what the task does to its memory edits the list as the kernel's
//! userfaultfd reports it (kmod/pager.rs): MADV_DONTNEED and munmap cut a range out (a
//! missing page there is zero from then on, as in anonymous memory), mremap moves one,
//! fork copies the list to the child. The cost is one entry per piece of mapping, not per
//! page.

use kernel::prelude::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Segment {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) src: u64,
}

impl Segment {
    fn src_end(&self) -> u64 {
        self.src + (self.end - self.start)
    }
}

#[derive(Default)]
pub(crate) struct Segments(KVec<Segment>);

impl Segments {
    /// `[start, end)` from the source's same addresses, for each range.
    pub(crate) fn identity(ranges: &[(u64, u64)]) -> Result<Self> {
        let mut s = Segments::default();
        for &(start, end) in ranges {
            if start < end {
                s.insert(Segment { start, end, src: start })?;
            }
        }
        Ok(s)
    }

    pub(crate) fn try_clone(&self) -> Result<Self> {
        let mut v = KVec::with_capacity(self.0.len(), GFP_KERNEL)?;
        v.extend_from_slice(&self.0, GFP_KERNEL)?;
        Ok(Segments(v))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Segment> {
        self.0.iter()
    }

    /// The source address of the page at `addr` here, if it is still the source's.
    pub(crate) fn src_of(&self, addr: u64) -> Option<u64> {
        self.0.iter().find(|s| s.start <= addr && addr < s.end).map(|s| s.src + (addr - s.start))
    }

    /// Where the source's page `src` is missing here, if anywhere.
    pub(crate) fn addr_of(&self, src: u64) -> Option<u64> {
        self.0.iter().find(|s| s.src <= src && src < s.src_end()).map(|s| s.start + (src - s.src))
    }

    fn insert(&mut self, seg: Segment) -> Result {
        self.0.push(seg, GFP_KERNEL)?;
        self.0.as_mut_slice().sort_unstable_by_key(|s| s.start);
        Ok(())
    }

    /// Remove `[start, end)`; returns the pieces removed.
    pub(crate) fn take(&mut self, start: u64, end: u64) -> Result<KVec<Segment>> {
        let mut taken = KVec::new();
        let mut kept = KVec::with_capacity(self.0.len() + 1, GFP_KERNEL)?;
        for &s in self.0.iter() {
            if s.end <= start || s.start >= end {
                kept.push(s, GFP_KERNEL)?;
                continue;
            }
            if s.start < start {
                kept.push(Segment { start: s.start, end: start, src: s.src }, GFP_KERNEL)?;
            }
            let (a, b) = (s.start.max(start), s.end.min(end));
            taken.push(Segment { start: a, end: b, src: s.src + (a - s.start) }, GFP_KERNEL)?;
            if s.end > end {
                kept.push(Segment { start: end, end: s.end, src: s.src + (end - s.start) }, GFP_KERNEL)?;
            }
        }
        self.0 = kept;
        Ok(taken)
    }

    /// mremap of `[from, from + len)` to `to`: the pieces move, what was at `to` is gone.
    pub(crate) fn remap(&mut self, from: u64, to: u64, len: u64) -> Result {
        let moved = self.take(from, from.saturating_add(len))?;
        self.take(to, to.saturating_add(len))?;
        for s in moved.iter() {
            let shift = |a: u64| a - from + to;
            self.insert(Segment { start: shift(s.start), end: shift(s.end), src: s.src })?;
        }
        Ok(())
    }
}
