//! Messages between node daemons. Versioned: the handshake carries WIRE_VERSION and a daemon
//! refuses a peer of another version.

use serde::{Deserialize, Serialize};

pub const WIRE_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum Request {
    Ping { nonce: u64 },
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum Response {
    Pong { nonce: u64, node: String, module: Option<String> },
    Error(String),
}
