//! The daemon's record of migrations in and out, for `migctl ps`.

use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

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
