// SPDX-License-Identifier: GPL-2.0
//! How long a pager's remote faults waited: from the pager reading the fault off the task's
//! userfaultfd to the page placed (the UFFDIO_COPY that wakes the task). This is the part
//! of a fault the task waits for that the daemons cannot see from user space: the daemon's
//! own figure (`migctl stats`, request sent to page-data acknowledged) leaves out the
//! module's event, its hand-off to the fault channel and the request's sealing.
//!
//! A histogram of fixed buckets, lock-free (answers are counted under the pager's mutex,
//! but the summary reads it from any context): below 8 us one bucket per microsecond, then
//! four per doubling, so a percentile is known to within 25% of its value; waits from 2^30
//! us up share the last bucket.

use core::sync::atomic::{AtomicU32, Ordering};

const FINE: usize = 8;
const PER_DOUBLING: usize = 4;
/// The largest exponent with buckets of its own: 2^30 us, about 18 minutes.
const TOP_EXP: usize = 30;
const BUCKETS: usize = FINE + (TOP_EXP - 2) * PER_DOUBLING;

pub(crate) struct FaultWaits {
    buckets: [AtomicU32; BUCKETS],
}

/// The bucket of a wait of `us` microseconds.
const fn bucket(us: u64) -> usize {
    if us < FINE as u64 {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros() as usize; // >= 3
    if exp > TOP_EXP {
        return BUCKETS - 1;
    }
    let quarter = ((us >> (exp - 2)) & 3) as usize;
    FINE + (exp - 3) * PER_DOUBLING + quarter
}

/// The largest wait (us) that falls in bucket `i`.
const fn upper(i: usize) -> u64 {
    if i < FINE {
        return i as u64;
    }
    let exp = 3 + (i - FINE) / PER_DOUBLING;
    let quarter = ((i - FINE) % PER_DOUBLING) as u64;
    ((4 + quarter + 1) << (exp - 2)) - 1
}

impl FaultWaits {
    pub(crate) const fn new() -> Self {
        FaultWaits { buckets: [const { AtomicU32::new(0) }; BUCKETS] }
    }

    pub(crate) fn record(&self, us: u64) {
        if let Some(b) = self.buckets.get(bucket(us)) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// At most how long (us) the fraction `per_mille`/1000 of the waits took: the upper
    /// end of the bucket that holds that rank. None before any wait was counted.
    pub(crate) fn percentile(&self, per_mille: u64) -> Option<u64> {
        let total: u64 = self.buckets.iter().map(|b| b.load(Ordering::Relaxed) as u64).sum();
        if total == 0 {
            return None;
        }
        // The rank of the wanted wait, counted from 1 (the median of 3 is the 2nd).
        let rank = (total * per_mille).div_ceil(1000).max(1);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed) as u64;
            if seen >= rank {
                return Some(upper(i));
            }
        }
        Some(upper(BUCKETS - 1))
    }
}

/// "p50 <= N us, p99 <= M us", or "none" before any wait was counted (the pager's summary).
impl core::fmt::Display for FaultWaits {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match (self.percentile(500), self.percentile(990)) {
            (Some(p50), Some(p99)) => write!(f, "p50 <= {p50} us, p99 <= {p99} us"),
            _ => f.write_str("none"),
        }
    }
}

// The buckets tile the axis: each starts right after the one before ends.
const _: () = {
    let mut i = 0;
    while i < BUCKETS - 1 {
        assert!(bucket(upper(i)) == i && bucket(upper(i) + 1) == i + 1);
        i += 1;
    }
};
