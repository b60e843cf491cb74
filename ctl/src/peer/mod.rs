//! Node-to-node side of migctl: node keys and peers files, the authenticated channel, the
//! messages and the daemon that answers them.

pub mod channel;
pub mod key;
pub mod ping;
pub mod proto;
pub mod serve;

pub const DEFAULT_KEY_PATH: &str = "/etc/migr/node.key";
pub const DEFAULT_PEERS_PATH: &str = "/etc/migr/peers";
pub const DEFAULT_PORT: u16 = 7070;
/// A peer whose daemon does not answer is given up after this long (a read or a write that
/// makes no progress). It bounds the target's work between two messages (a restore of
/// hundreds of MiB on a slow node), so it is long.
pub const PEER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// A peer whose *kernel* stops acknowledging what we sent is given up after this long
/// (TCP_USER_TIMEOUT): a node that lost power or its link. Acknowledgements come from the
/// peer's TCP stack whatever its daemon does, so this can be much shorter than PEER_TIMEOUT,
/// and it bounds the whole stall: a socket write timeout alone restarts with every partial
/// write (seen: two 60 s waits in a row, 124 s frozen, before the source gave a dead target up).
pub const LINK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
