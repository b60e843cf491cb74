//! The daemon's record of migrations in and out, for `migctl ps` and `migctl stats`.

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
    /// The remote fault latencies as a histogram: (a bucket's middle in microseconds, faults),
    /// by bucket, 16 buckets per doubling (each about 4.4% wide), so that the millionth fault
    /// costs what the first did to record (a sorted copy of every latency did not).
    #[serde(default)]
    pub fault_us_hist: Vec<(u64, u64)>,
}

/// Buckets of the latency histogram per doubling.
const BUCKETS_PER_DOUBLING: f64 = 16.0;

/// The middle of the histogram bucket that holds `us`.
fn bucket_of(us: u64) -> u64 {
    if us < 16 {
        return us; // exact below 16 us, where a bucket would be narrower than 1 us
    }
    let b = ((us as f64).log2() * BUCKETS_PER_DOUBLING).floor();
    2f64.powf((b + 0.5) / BUCKETS_PER_DOUBLING).round() as u64
}

impl Stats {
    pub fn add_latency(&mut self, us: u64) {
        let b = bucket_of(us);
        match self.fault_us_hist.binary_search_by_key(&b, |&(v, _)| v) {
            Ok(i) => self.fault_us_hist[i].1 += 1,
            Err(i) => self.fault_us_hist.insert(i, (b, 1)),
        }
        self.fault_us_p50 = self.quantile(0.5);
        self.fault_us_p99 = self.quantile(0.99);
        self.fault_us_max = self.fault_us_max.max(us);
    }

    /// The latency at quantile q (0..=1), to the histogram's precision.
    fn quantile(&self, q: f64) -> u64 {
        let total: u64 = self.fault_us_hist.iter().map(|&(_, n)| n).sum();
        let Some(last) = total.checked_sub(1) else { return 0 };
        let rank = (last as f64 * q).round() as u64;
        let mut seen = 0;
        for &(v, n) in &self.fault_us_hist {
            seen += n;
            if seen > rank {
                return v;
            }
        }
        0
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

/// Which way a migration goes, seen from this node.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Direction {
    /// Leaving this node.
    Out,
    /// Arriving.
    In,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // pad: `ps` aligns this column.
        f.pad(match self {
            Direction::Out => "out",
            Direction::In => "in",
        })
    }
}

/// Where a migration stands (the STATE column of `migctl ps`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum State {
    Starting,
    /// Source: the original is parked.
    Frozen,
    /// Source: eager pages on their way.
    Transferring,
    /// Source: the task runs on the target (eager: done; lazy: before release).
    Migrated { to: String, pid: u32 },
    /// Source, lazy: the original stays parked and serves pages.
    ServingPages { to: String, pid: u32 },
    /// Source, lazy: every page is on the target; the original was released.
    Released { to: String, pid: u32, after_ms: u64 },
    /// Source, lazy: the link broke after the task ran there.
    LazyBroken(String),
    Refused(String),
    Failed(String),
    /// Target: the restored task runs here.
    Running,
    /// Target: how the restored task ended.
    Exited(i32),
    KilledBy(String),
    Ended(String),
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Starting => write!(f, "starting"),
            State::Frozen => write!(f, "frozen"),
            State::Transferring => write!(f, "transferring"),
            State::Migrated { to, pid } => write!(f, "migrated to {to} (pid {pid})"),
            State::ServingPages { to, pid } => write!(f, "serving pages to {to} (pid {pid})"),
            State::Released { to, pid, after_ms } => write!(f, "migrated to {to} (pid {pid}), released after {after_ms} ms"),
            State::LazyBroken(e) => write!(f, "lazy phase broken: {e}"),
            State::Refused(e) => write!(f, "refused: {e}"),
            State::Failed(e) => write!(f, "failed: {e}"),
            State::Running => write!(f, "running"),
            State::Exited(c) => write!(f, "exited {c}"),
            State::KilledBy(s) => write!(f, "killed by {s}"),
            State::Ended(how) => write!(f, "ended ({how})"),
        }
    }
}

impl From<&crate::error::Failure> for State {
    fn from(f: &crate::error::Failure) -> Self {
        match f {
            crate::error::Failure::Refused(r) => State::Refused(r.to_string()),
            crate::error::Failure::Failed(e) => State::Failed(e.clone()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub id: u64,
    pub pid: u32,
    pub direction: Direction,
    pub peer: String,
    /// The uid this record belongs to: who asked (out), the process's real uid (in). Only
    /// that user and root see it.
    #[serde(default)]
    pub owner: u32,
    pub comm: String,
    pub state: State,
    pub bytes: u64,
    pub started: u64,
    #[serde(default)]
    pub stats: Stats,
    /// In: the process's home node, as its source named it.
    #[serde(default)]
    pub home: String,
    /// Out, on the home node: where the process runs now, when it moved on from the node
    /// this migration took it to (told by the node it left; see `migrate::home`).
    #[serde(default)]
    pub now_on: Option<String>,
    /// Out, on the home node: the original stays here as the deputy of the process, until
    /// it ends. In: the process's home keeps a deputy for it (signals come from there, its
    /// end is reported there). See `migrate::deputy`.
    #[serde(default)]
    pub deputy: bool,
    /// Out, with deputy: the module made the original a deputy (commit done).
    #[serde(default)]
    pub deputy_committed: bool,
    /// Out, with deputy: how the copy ended, told before the commit was done.
    #[serde(default)]
    pub deputy_end: Option<u32>,
    /// Out, with deputy: its terminal is relayed (`fd::relay`), which carries the size.
    #[serde(default)]
    pub tty_relayed: bool,
    /// Out, with deputy: its copy is stopped (job control); the relay leaves the home
    /// terminal to the shell meanwhile.
    #[serde(default)]
    pub stopped: bool,
}

impl Record {
    /// A guest of node `here`: a process that came from another node, runs here, and whose
    /// home is not here (one that came back home is not a guest).
    pub fn is_guest(&self, here: &str) -> bool {
        self.direction == Direction::In && self.state == State::Running && self.home != here
    }

    /// As `ps --json` and `stats --json` show it: direction and state as text.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "pid": self.pid,
            "direction": self.direction.to_string(),
            "peer": self.peer,
            "comm": self.comm,
            "state": self.state.to_string(),
            "bytes": self.bytes,
            "started": self.started,
            "stats": self.stats,
            "home": self.home,
            "now_on": self.now_on,
            "deputy": self.deputy,
        })
    }
}

impl State {
    /// Source: the node the task ran on after this migration, if it got there.
    pub fn ran_on(&self) -> Option<&str> {
        match self {
            State::Migrated { to, .. } | State::ServingPages { to, .. } | State::Released { to, .. } => Some(to),
            _ => None,
        }
    }

    /// Nothing more happens to a migration in this state: its record may be forgotten.
    pub fn is_final(&self) -> bool {
        !matches!(self, State::Starting | State::Frozen | State::Transferring | State::ServingPages { .. } | State::Running)
    }
}

fn moved_on(t: &Records, pid: u32, arrival: u64) -> bool {
    t.iter().any(|r| r.id > arrival && r.pid == pid && r.direction == Direction::Out && r.state.ran_on().is_some())
}

/// The migrations of one node daemon (held in its [`crate::node::Node`]).
#[derive(Debug, Default)]
pub struct Table(Mutex<Records>);

/// Ids are never reused, even after `forget_ended`.
#[derive(Debug, Default)]
struct Records {
    last_id: u64,
    list: Vec<Record>,
}

impl std::ops::Deref for Records {
    type Target = Vec<Record>;
    fn deref(&self) -> &Vec<Record> {
        &self.list
    }
}

impl std::ops::DerefMut for Records {
    fn deref_mut(&mut self) -> &mut Vec<Record> {
        &mut self.list
    }
}

impl Table {
    fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drop the records of migrations that have ended; returns how many.
    pub fn forget_ended(&self) -> usize {
        let mut t = self.lock();
        let before = t.len();
        t.retain(|r| !r.state.is_final());
        before - t.len()
    }

    pub fn add(&self, pid: u32, direction: Direction, peer: &str, owner: u32) -> u64 {
        self.add_within(pid, direction, peer, owner, None).unwrap_or_default()
    }

    /// Add a record unless `owner` has `limit` migrations in progress already.
    pub fn add_within(&self, pid: u32, direction: Direction, peer: &str, owner: u32, limit: Option<usize>) -> Option<u64> {
        let mut t = self.lock();
        if limit.is_some_and(|l| t.iter().filter(|r| r.owner == owner && !r.state.is_final()).count() >= l) {
            return None;
        }
        t.last_id += 1;
        let id = t.last_id;
        let started = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        t.push(Record {
            id,
            pid,
            direction,
            peer: peer.into(),
            owner,
            comm: String::new(),
            state: State::Starting,
            bytes: 0,
            started,
            stats: Stats::default(),
            home: String::new(),
            now_on: None,
            deputy: false,
            deputy_committed: false,
            deputy_end: None,
            tty_relayed: false,
            stopped: false,
        });
        Some(id)
    }

    pub fn update(&self, id: u64, f: impl FnOnce(&mut Record)) {
        if let Some(r) = self.lock().iter_mut().find(|r| r.id == id) {
            f(r);
        }
    }

    pub fn set_state(&self, id: u64, state: State) {
        self.update(id, |r| r.state = state);
    }

    pub fn get(&self, id: u64) -> Option<Record> {
        self.lock().iter().find(|r| r.id == id).cloned()
    }

    pub fn all(&self) -> Vec<Record> {
        self.lock().list.clone()
    }

    /// The home of `pid` if it came here and runs here (its latest arrival; a migration out
    /// that is starting does not count).
    pub fn home_of(&self, pid: u32) -> Option<String> {
        let t = self.lock();
        let r = t.iter().rev().find(|r| r.pid == pid && r.direction == Direction::In)?;
        (r.state == State::Running && !r.home.is_empty()).then(|| r.home.clone())
    }

    /// `pid`, which left this node, now runs on `to`: recorded on the latest migration that
    /// took it away, if `holds(where it runs now)` (the teller is the node that holds it).
    pub fn moved(&self, pid: u32, holds: impl Fn(&str) -> bool, to: &str) -> bool {
        let mut t = self.lock();
        let Some(r) = t.iter_mut().rev().find(|r| r.pid == pid) else { return false };
        let Some(now) = r.now_on.clone().or_else(|| r.state.ran_on().map(String::from)) else { return false };
        if r.direction != Direction::Out || !holds(&now) {
            return false;
        }
        r.now_on = Some(to.into());
        true
    }

    /// On the home: the node that holds the copy of the deputy of `pid`, while it lives.
    pub fn deputy_holder(&self, pid: u32) -> Option<String> {
        let t = self.lock();
        let r = t.iter().rev().find(|r| r.pid == pid && r.direction == Direction::Out && r.deputy)?;
        r.now_on.clone().or_else(|| r.state.ran_on().map(String::from))
    }

    /// On the home: the copy of the deputy of `pid` ended with `status`. True if the deputy
    /// can be ended now; false if its commit is not done yet (kept for `deputy_committed`).
    pub fn deputy_may_end(&self, pid: u32, status: u32) -> bool {
        let mut t = self.lock();
        let Some(r) = t.iter_mut().rev().find(|r| r.pid == pid && r.direction == Direction::Out && r.deputy) else {
            return false;
        };
        if !r.deputy_committed {
            r.deputy_end = Some(status);
        }
        r.deputy_committed
    }

    /// On the home: the original of `pid` is its deputy now; how its copy ended if that
    /// was told before.
    pub fn deputy_committed(&self, pid: u32) -> Option<u32> {
        let mut t = self.lock();
        let r = t.iter_mut().rev().find(|r| r.pid == pid && r.direction == Direction::Out && r.deputy)?;
        r.deputy_committed = true;
        r.deputy_end.take()
    }

    /// On the home: the terminal of the deputy of `pid` is relayed (`fd::relay`), or not.
    pub fn set_tty_relayed(&self, pid: u32, relayed: bool) {
        let mut t = self.lock();
        if let Some(r) = t.iter_mut().rev().find(|r| r.pid == pid && r.direction == Direction::Out && r.deputy) {
            r.tty_relayed = relayed;
        }
    }

    /// On the home: the copy of the deputy of `pid` is stopped, or runs.
    pub fn set_stopped(&self, pid: u32, stopped: bool) {
        let mut t = self.lock();
        if let Some(r) = t.iter_mut().rev().find(|r| r.pid == pid && r.direction == Direction::Out && r.deputy) {
            r.stopped = stopped;
        }
    }

    /// On the home: whether the copy of the deputy of `pid` is stopped.
    pub fn stopped(&self, pid: u32) -> bool {
        let t = self.lock();
        t.iter().rev().find(|r| r.pid == pid && r.direction == Direction::Out && r.deputy).is_some_and(|r| r.stopped)
    }

    /// On the home: whether the terminal of the deputy of `pid` is relayed.
    pub fn tty_relayed(&self, pid: u32) -> bool {
        let t = self.lock();
        t.iter().rev().find(|r| r.pid == pid && r.direction == Direction::Out && r.deputy).is_some_and(|r| r.tty_relayed)
    }

    /// Whether the latest arrival of `pid` here came with a deputy on its home.
    pub fn copy_has_deputy(&self, pid: u32) -> bool {
        let t = self.lock();
        t.iter().rev().find(|r| r.pid == pid && r.direction == Direction::In).is_some_and(|r| r.deputy && r.state == State::Running)
    }

    /// On the home: the deputy of `pid` ended (`how`).
    pub fn deputy_ended(&self, pid: u32, how: &str) {
        let mut t = self.lock();
        if let Some(r) = t.iter_mut().rev().find(|r| r.pid == pid && r.direction == Direction::Out && r.deputy) {
            r.deputy = false;
            r.now_on = Some(format!("ended ({how})"));
        }
    }

    /// Whether the latest arrival of `pid` here still runs here as the copy of a process
    /// whose home (`is_home`) keeps a deputy, and has not moved on.
    pub fn holds_copy_of(&self, pid: u32, is_home: impl Fn(&str) -> bool) -> bool {
        let t = self.lock();
        let Some(r) = t.iter().rev().find(|r| r.pid == pid && r.direction == Direction::In) else { return false };
        r.state == State::Running && r.deputy && is_home(&r.home) && !moved_on(&t, pid, r.id)
    }

    /// Whether the latest arrival of `pid` here is being moved on right now: a migration away
    /// started after it and has neither run on its target nor ended.
    pub fn leaving(&self, pid: u32) -> bool {
        let t = self.lock();
        let Some(arrival) = t.iter().rev().find(|r| r.pid == pid && r.direction == Direction::In).map(|r| r.id) else {
            return false;
        };
        t.iter().any(|r| {
            r.id > arrival && r.pid == pid && r.direction == Direction::Out && matches!(r.state, State::Starting | State::Frozen | State::Transferring)
        })
    }

    /// Whether `pid`, which arrived with record `arrival`, left this node again since.
    pub fn moved_on(&self, pid: u32, arrival: u64) -> bool {
        moved_on(&self.lock(), pid, arrival)
    }

    /// `pid` came back to this node, its home: its migrations away say so.
    pub fn came_home(&self, pid: u32) {
        for r in self.lock().iter_mut().filter(|r| r.pid == pid && r.direction == Direction::Out && r.state.ran_on().is_some()) {
            r.now_on = Some("here (back home)".into());
        }
    }

    /// The records `uid` may see: all for root, else that user's own.
    pub fn visible_to(&self, uid: u32) -> Vec<Record> {
        self.lock().iter().filter(|r| uid == 0 || r.owner == uid).cloned().collect()
    }

    /// How many guests run on `here` (see `Record::is_guest`).
    pub fn guests(&self, here: &str) -> u32 {
        self.lock().iter().filter(|r| r.is_guest(here)).count() as u32
    }

    /// How many of `uid`'s migrations are still in progress.
    pub fn in_progress_of(&self, uid: u32) -> usize {
        self.lock().iter().filter(|r| r.owner == uid && !r.state.is_final()).count()
    }
}

pub fn format(records: &[Record]) -> String {
    let mut out = format!("{:<4} {:<8} {:<4} {:<16} {:<16} {:>10}  {}\n", "ID", "PID", "DIR", "PEER", "COMMAND", "BYTES", "STATE");
    for r in records {
        out.push_str(&format!(
            "{:<4} {:<8} {:<4} {:<16} {:<16} {:>10}  {}\n",
            r.id,
            r.pid,
            r.direction,
            r.peer,
            r.comm,
            r.bytes,
            where_now(r)
        ));
    }
    out
}

/// The STATE column: the state, where the process runs now if it moved on, its deputy.
fn where_now(r: &Record) -> String {
    let mut s = r.state.to_string();
    match &r.now_on {
        Some(ended) if ended.starts_with("ended") => s += &format!("; deputy {ended}"),
        Some(now) => s += &format!("; now on {now}"),
        None => {}
    }
    if r.deputy && r.direction == Direction::Out {
        s += "; its deputy holds the pid here";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_quantiles_come_within_a_bucket_of_the_exact_ones() {
        let mut s = Stats::default();
        // 1..=10000 us: exact p50 5000, p99 9900.
        for us in (1..=10000).rev() {
            s.add_latency(us);
        }
        let near = |got: u64, want: f64| (got as f64 - want).abs() <= want * 0.05;
        assert!(near(s.fault_us_p50, 5000.0), "p50 {}", s.fault_us_p50);
        assert!(near(s.fault_us_p99, 9900.0), "p99 {}", s.fault_us_p99);
        assert_eq!(s.fault_us_max, 10000);
        assert_eq!(s.fault_us_hist.iter().map(|&(_, n)| n).sum::<u64>(), 10000);
        assert!(s.fault_us_hist.len() < 250, "{} buckets", s.fault_us_hist.len());
        assert!(s.fault_us_hist.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(Stats::default().quantile(0.5), 0);
        assert!(s.format().contains(&format!("p50 {} us", s.fault_us_p50)));
    }

    #[test]
    fn forget_drops_only_ended_migrations_and_ids_are_not_reused() {
        let t = Table::default();
        let a = t.add(10, Direction::Out, "node2", 0);
        let b = t.add(11, Direction::Out, "node2", 0);
        t.set_state(a, State::Failed("x".into()));
        t.set_state(b, State::ServingPages { to: "node2".into(), pid: 11 });
        assert_eq!(t.forget_ended(), 1);
        assert_eq!(t.all().iter().map(|r| r.id).collect::<Vec<_>>(), vec![b]);
        assert_eq!(t.add(12, Direction::In, "node1", 0), b + 1);
        t.set_state(b, State::Released { to: "node2".into(), pid: 11, after_ms: 1 });
        assert_eq!(t.forget_ended(), 1);
        assert_eq!(t.add(13, Direction::In, "node1", 0), b + 2);
    }

    #[test]
    fn users_see_only_their_own_migrations_and_root_sees_all() {
        let t = Table::default();
        let mine = t.add(10, Direction::Out, "node2", 1000);
        t.add(11, Direction::Out, "node2", 1001);
        t.add(12, Direction::In, "node1", 0);
        assert_eq!(t.visible_to(1000).iter().map(|r| r.id).collect::<Vec<_>>(), vec![mine]);
        assert_eq!(t.visible_to(0).len(), 3);
        assert_eq!(t.in_progress_of(1000), 1);
        assert_eq!(t.add_within(13, Direction::Out, "node2", 1000, Some(1)), None);
        t.set_state(mine, State::Failed("x".into()));
        assert_eq!(t.in_progress_of(1000), 0);
        assert!(t.add_within(13, Direction::Out, "node2", 1000, Some(1)).is_some());
    }

    #[test]
    fn the_home_follows_its_process_only_from_the_node_that_holds_it() {
        let t = Table::default();
        let out = t.add(10, Direction::Out, "node2", 0);
        t.set_state(out, State::Migrated { to: "node2".into(), pid: 10 });
        assert!(!t.moved(10, |at| at == "node3", "node4"), "a node that does not hold it");
        assert!(t.moved(10, |at| at == "node2", "node3"));
        assert!(!t.moved(10, |at| at == "node2", "node4"), "node2 no longer holds it");
        assert!(t.moved(10, |at| at == "node3", "node4"));
        assert!(format(&t.all()).contains("migrated to node2 (pid 10); now on node4"));
        assert!(!t.moved(11, |_| true, "node3"), "no such process");
        t.came_home(10);
        assert_eq!(t.get(out).unwrap().now_on.as_deref(), Some("here (back home)"));
        // A guest's home is the one its source named, while it runs here.
        let inn = t.add(20, Direction::In, "node2", 0);
        t.update(inn, |r| r.home = "node1".into());
        assert_eq!(t.home_of(20), None, "not running yet");
        t.set_state(inn, State::Running);
        assert_eq!(t.home_of(20).as_deref(), Some("node1"));
        t.add(20, Direction::Out, "node3", 0);
        assert_eq!(t.home_of(20).as_deref(), Some("node1"), "while it is leaving");
        assert!(t.get(inn).unwrap().is_guest("node3") && !t.get(inn).unwrap().is_guest("node1"));
        assert_eq!(t.guests("node3"), 1);
        t.set_state(inn, State::Exited(0));
        assert_eq!(t.home_of(20), None);
        assert_eq!(t.guests("node3"), 0);
    }

    #[test]
    fn a_deputy_follows_its_copy_and_ends_once_committed() {
        let t = Table::default();
        // Home: the copy runs on node2; it ends before the commit is done.
        let out = t.add(10, Direction::Out, "node2", 0);
        t.update(out, |r| r.deputy = true);
        assert_eq!(t.deputy_holder(10), None, "not on node2 yet");
        t.set_state(out, State::Migrated { to: "node2".into(), pid: 10 });
        assert_eq!(t.deputy_holder(10).as_deref(), Some("node2"));
        assert!(t.moved(10, |at| at == "node2", "node3"));
        assert_eq!(t.deputy_holder(10).as_deref(), Some("node3"), "the deputy follows it");
        assert!(!t.deputy_may_end(10, 43 << 8), "not committed: kept");
        assert_eq!(t.deputy_committed(10), Some(43 << 8));
        assert!(t.deputy_may_end(10, 43 << 8));
        t.deputy_ended(10, "exited 43");
        assert_eq!(t.deputy_holder(10), None);
        assert!(format(&t.all()).contains("deputy ended (exited 43)"));
        // The node that holds a copy: only for its home, until it moves on.
        let inn = t.add(20, Direction::In, "node1", 0);
        t.update(inn, |r| {
            r.home = "node1".into();
            r.deputy = true;
        });
        t.set_state(inn, State::Running);
        assert!(t.holds_copy_of(20, |h| h == "node1") && !t.holds_copy_of(20, |h| h == "node3"));
        assert!(t.copy_has_deputy(20));
        assert!(!t.leaving(20));
        let on = t.add(20, Direction::Out, "node3", 0);
        assert!(t.holds_copy_of(20, |h| h == "node1"), "leaving is not gone");
        assert!(t.leaving(20), "but it is leaving (its home's deputy may be gone already)");
        t.set_state(on, State::Frozen);
        assert!(t.leaving(20));
        t.set_state(on, State::Migrated { to: "node3".into(), pid: 20 });
        assert!(!t.leaving(20));
        assert!(t.moved_on(20, inn) && !t.holds_copy_of(20, |h| h == "node1"));
        assert_eq!(crate::migrate::deputy::describe(15 | 0x80), "killed by signal 15 (core dumped)");
        assert_eq!(crate::migrate::deputy::describe(3 << 8), "exited 3");
    }

    #[test]
    fn records_are_numbered_and_updated() {
        let t = Table::default();
        let a = t.add(10, Direction::Out, "node2", 0);
        let b = t.add(11, Direction::In, "node1", 0);
        assert!(b > a);
        t.set_state(a, State::Frozen);
        t.update(b, |r| r.stats.pages_pushed = 7);
        assert_eq!(t.get(a).unwrap().state, State::Frozen);
        assert_eq!(t.get(b).unwrap().stats.pages_pushed, 7);
        let text = format(&t.all());
        assert!(text.contains("frozen") && text.contains(" out  ") && text.contains(" in   "));
    }

    #[test]
    fn states_print_as_before() {
        let to = || "node2".to_string();
        assert_eq!(State::Migrated { to: to(), pid: 5 }.to_string(), "migrated to node2 (pid 5)");
        assert_eq!(State::ServingPages { to: to(), pid: 5 }.to_string(), "serving pages to node2 (pid 5)");
        assert_eq!(
            State::Released { to: to(), pid: 5, after_ms: 12 }.to_string(),
            "migrated to node2 (pid 5), released after 12 ms"
        );
        assert_eq!(State::KilledBy("SIGBUS".into()).to_string(), "killed by SIGBUS");
        assert_eq!(State::Exited(0).to_string(), "exited 0");
        let f = crate::error::Failure::from(crate::uapi::Refusal::Ptraced);
        assert_eq!(State::from(&f).to_string(), "refused: it is being traced (ptrace)");
        let t = Table::default();
        let id = t.add(3, Direction::In, "node1", 0);
        t.set_state(id, State::Running);
        let v = t.get(id).unwrap().to_json();
        assert_eq!((v["state"].as_str(), v["direction"].as_str()), (Some("running"), Some("in")));
    }
}
