//! Node-to-node side of migctl: the cluster key, the authenticated channel, the messages
//! and the daemon that answers them.

pub mod channel;
pub mod key;
pub mod ping;
pub mod proto;
pub mod serve;

pub const DEFAULT_KEY_PATH: &str = "/etc/migr/cluster.key";
pub const DEFAULT_PORT: u16 = 7070;
/// A silent peer is given up after this long.
pub const PEER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
