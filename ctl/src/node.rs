//! The node context: what one daemon holds for all its migrations (its identity, armed fault
//! point, the migration table, configuration, and the registry through which a session's
//! services find each other), passed explicitly, never a process-wide global.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fault::{FaultPoint, Faults};
use crate::migrate::table::{State, Table};
use crate::session::Registry;

/// Where the restore stub is installed (MIGR_STUB overrides it).
pub const DEFAULT_STUB: &str = "/usr/lib/migr/migr-stub";

/// How this daemon was started.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    /// The port of `listen`: targets of lazy migrations open their fault channels to it.
    pub fault_port: u16,
    /// The local control socket.
    pub socket: PathBuf,
    pub stub: String,
    /// A peer whose daemon does not answer is given up after this long (`--peer-timeout`).
    pub peer_timeout: std::time::Duration,
    /// A frozen task with no decision resumes after this long (`--hold-timeout`): the last
    /// resort if this daemon hangs (if it dies, its hold descriptor closes and the task
    /// resumes at once). Not after hand-over: a lazily migrated copy may fault at any time.
    pub hold_timeout: std::time::Duration,
}

/// See `Config::hold_timeout`.
pub const DEFAULT_HOLD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

impl Config {
    pub fn new(listen: &str, socket: &Path) -> Self {
        Config {
            listen: listen.into(),
            fault_port: listen.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(crate::peer::DEFAULT_PORT),
            socket: socket.into(),
            stub: std::env::var("MIGR_STUB").unwrap_or_else(|_| DEFAULT_STUB.into()),
            peer_timeout: crate::peer::PEER_TIMEOUT,
            hold_timeout: DEFAULT_HOLD_TIMEOUT,
        }
    }
}

pub struct Node {
    pub identity: crate::peer::key::Identity,
    pub faults: Faults,
    pub config: Config,
    pub table: Table,
    pub registry: Registry,
}

impl Node {
    pub fn new(identity: crate::peer::key::Identity, fault: Option<FaultPoint>, config: Config) -> Arc<Self> {
        Arc::new(Node { identity, faults: Faults::new(fault), config, table: Table::default(), registry: Registry::default() })
    }

    /// The record `id` of the table, changed by `f`.
    pub fn update(&self, id: u64, f: impl FnOnce(&mut crate::migrate::table::Record)) {
        self.table.update(id, f)
    }

    pub fn set_state(&self, id: u64, state: State) {
        self.table.set_state(id, state)
    }
}

/// This machine's name, as peers and `ps` show it.
pub fn hostname() -> String {
    nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fault_port_is_the_listening_port() {
        assert_eq!(Config::new("0.0.0.0:7071", Path::new("/tmp/s")).fault_port, 7071);
        assert_eq!(Config::new("bad", Path::new("/tmp/s")).fault_port, crate::peer::DEFAULT_PORT);
    }

    #[test]
    fn two_nodes_in_one_process_do_not_share_state() {
        let a = Node::new(crate::peer::key::Identity::new([1; 32], std::path::Path::new("/nonexistent")), Some(FaultPoint::TargetMidPages), Config::new("0.0.0.0:1", Path::new("/a")));
        let b = Node::new(crate::peer::key::Identity::new([2; 32], std::path::Path::new("/nonexistent")), None, Config::new("0.0.0.0:2", Path::new("/b")));
        a.table.add(1, crate::migrate::table::Direction::Out, "x", 0);
        assert_eq!((a.table.all().len(), b.table.all().len()), (1, 0));
        assert!(a.faults.armed(FaultPoint::TargetMidPages) && !b.faults.armed(FaultPoint::TargetMidPages));
    }
}
