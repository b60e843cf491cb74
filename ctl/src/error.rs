//! Every way migctl can fail, each with one clear line and a distinct exit code, so that
//! scripts can tell "module not loaded" from "no permission" from "peer refused us".

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CtlError {
    #[error("migr module not loaded (the 'migr' generic netlink family does not exist; try: insmod migr.ko)")]
    ModuleNotLoaded,
    #[error("permission denied: driving migr needs CAP_SYS_ADMIN")]
    PermissionDenied,
    #[error("protocol mismatch: module speaks migr protocol {module}, migctl speaks {ours}")]
    ProtocolMismatch { module: u32, ours: u32 },
    #[error("module error: {0}")]
    Module(String),
    #[error("cluster key: {0}")]
    Key(String),
    #[error("peer {peer} unreachable: {reason}")]
    PeerUnreachable { peer: String, reason: String },
    #[error("peer {peer} refused authentication (is the cluster key the same on both nodes?)")]
    AuthFailed { peer: String },
    #[error("peer {peer}: {reason}")]
    Peer { peer: String, reason: String },
    #[error("migration refused: {0}")]
    Refused(String),
    #[error("migration failed, the process carries on at home: {0}")]
    Failed(String),
    #[error("{0}")]
    Other(String),
}

impl CtlError {
    /// Exit code for this error; 2 is kept for usage errors (clap's own).
    pub fn exit_code(&self) -> i32 {
        match self {
            CtlError::Other(_) => 1,
            CtlError::ModuleNotLoaded => 3,
            CtlError::PermissionDenied => 4,
            CtlError::ProtocolMismatch { .. } => 5,
            CtlError::Module(_) => 6,
            CtlError::Key(_) => 7,
            CtlError::PeerUnreachable { .. } => 8,
            CtlError::AuthFailed { .. } => 9,
            CtlError::Peer { .. } => 10,
            CtlError::Refused(_) => 11,
            CtlError::Failed(_) => 12,
        }
    }
}

pub type Result<T> = std::result::Result<T, CtlError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_and_not_usage() {
        let all = [
            CtlError::Other(String::new()),
            CtlError::ModuleNotLoaded,
            CtlError::PermissionDenied,
            CtlError::ProtocolMismatch { module: 1, ours: 2 },
            CtlError::Module(String::new()),
            CtlError::Key(String::new()),
            CtlError::PeerUnreachable { peer: String::new(), reason: String::new() },
            CtlError::AuthFailed { peer: String::new() },
            CtlError::Peer { peer: String::new(), reason: String::new() },
            CtlError::Refused(String::new()),
            CtlError::Failed(String::new()),
        ];
        let mut codes: Vec<i32> = all.iter().map(|e| e.exit_code()).collect();
        assert!(!codes.contains(&0) && !codes.contains(&2));
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn messages_are_one_line() {
        let e = CtlError::ProtocolMismatch { module: 3, ours: 1 };
        let s = e.to_string();
        assert!(!s.contains('\n'));
        assert!(s.contains("protocol 3") && s.contains("speaks 1"));
    }
}
