//! The daemon's record of migrations in and out, for `migctl ps`.

use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Counters of one migration, for `migctl stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    pub mode: String,
    /// Pages that moved, by why.
    pub pages_eager: u64,
    pub pages_faulted: u64,
    pub pages_prefetched: u64,
    pub pages_pushed: u64,
    /// Remote faults (requests that went to the source).
    pub remote_faults: u64,
    /// Page payload bytes on the wire, and the state image.
    pub wire_bytes: u64,
    pub image_bytes: u64,
    /// Remote fault latency, request to pages delivered, in microseconds.
    pub fault_us_p50: u64,
    pub fault_us_p99: u64,
    pub fault_us_max: u64,
    /// From the task running on the target to every page there (0: not yet, or never).
    pub complete_ms: u64,
    pub frozen_ms: u64,
    #[serde(skip)]
    pub latencies: Vec<u64>,
}

impl Stats {
    pub fn add_latency(&mut self, us: u64) {
        self.latencies.push(us);
        let mut v = self.latencies.clone();
        v.sort_unstable();
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        self.fault_us_p50 = at(0.5);
        self.fault_us_p99 = at(0.99);
        self.fault_us_max = *v.last().unwrap_or(&0);
    }

    pub fn format(&self) -> String {
        format!(
            "mode {}: pages eager {}, faulted {}, prefetched {}, pushed {}; remote faults {}; \
             wire {} B (+ image {} B); fault latency p50 {} us, p99 {} us, max {} us; frozen {} ms; \
             complete after {} ms",
            self.mode,
            self.pages_eager,
            self.pages_faulted,
            self.pages_prefetched,
            self.pages_pushed,
            self.remote_faults,
            self.wire_bytes,
            self.image_bytes,
            self.fault_us_p50,
            self.fault_us_p99,
            self.fault_us_max,
            self.frozen_ms,
            self.complete_ms
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub id: u64,
    pub pid: u32,
    /// "out" (leaving this node) or "in" (arriving).
    pub direction: String,
    pub peer: String,
    pub comm: String,
    pub state: String,
    pub bytes: u64,
    pub started: u64,
    #[serde(default)]
    pub stats: Stats,
}

static TABLE: Mutex<Vec<Record>> = Mutex::new(Vec::new());

fn lock() -> std::sync::MutexGuard<'static, Vec<Record>> {
    TABLE.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn add(pid: u32, direction: &str, peer: &str) -> u64 {
    let mut t = lock();
    let id = t.last().map(|r| r.id + 1).unwrap_or(1);
    let started = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    t.push(Record {
        id,
        pid,
        direction: direction.into(),
        peer: peer.into(),
        comm: String::new(),
        state: "starting".into(),
        bytes: 0,
        started,
        stats: Stats::default(),
    });
    id
}

pub fn update(id: u64, f: impl FnOnce(&mut Record)) {
    if let Some(r) = lock().iter_mut().find(|r| r.id == id) {
        f(r);
    }
}

pub fn set_state(id: u64, state: impl Into<String>) {
    let s = state.into();
    update(id, |r| r.state = s);
}

pub fn get(id: u64) -> Option<Record> {
    lock().iter().find(|r| r.id == id).cloned()
}

pub fn all() -> Vec<Record> {
    lock().clone()
}

pub fn format(records: &[Record]) -> String {
    let mut out = format!("{:<4} {:<8} {:<4} {:<16} {:<16} {:>10}  {}\n", "ID", "PID", "DIR", "PEER", "COMMAND", "BYTES", "STATE");
    for r in records {
        out.push_str(&format!(
            "{:<4} {:<8} {:<4} {:<16} {:<16} {:>10}  {}\n",
            r.id, r.pid, r.direction, r.peer, r.comm, r.bytes, r.state
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_follow_the_samples() {
        let mut s = Stats::default();
        for us in (1..=100).rev() {
            s.add_latency(us);
        }
        assert_eq!((s.fault_us_p50, s.fault_us_p99, s.fault_us_max), (51, 99, 100));
        assert!(s.format().contains("p50 51 us"));
    }

    #[test]
    fn records_are_numbered_and_updated() {
        let a = add(10, "out", "node2");
        let b = add(11, "in", "node1");
        assert!(b > a);
        set_state(a, "frozen");
        update(b, |r| r.stats.pages_pushed = 7);
        assert_eq!(get(a).unwrap().state, "frozen");
        assert_eq!(get(b).unwrap().stats.pages_pushed, 7);
        assert!(format(&all()).contains("frozen"));
    }
}
