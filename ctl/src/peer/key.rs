//! Node identity: each node has its own X25519 key (32 random bytes, hex on one line, mode
//! 600, never copied to another node) and a list of the peers it trusts (their public keys,
//! `/etc/migr/peers`). The channel authenticates both ends by these keys (Noise XX), so one
//! node is revoked by deleting its line on the others: the list is read again for every
//! connection, no restart needed.
//!
//! Peers file: one peer per line, `<64 hex digits> [name]`; blank lines and `#` comments are
//! ignored; any other line makes the whole file invalid (a typo must not silently drop or
//! admit a node). It must be owned by root (or by the daemon's user) and not writable by group
//! or others: whoever can write it can admit a node.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{KeyError, Result};

pub const KEY_LEN: usize = 32;

fn parse_hex(hex: &str) -> Option<[u8; KEY_LEN]> {
    if hex.len() != KEY_LEN * 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut key = [0u8; KEY_LEN];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

pub fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn parse(text: &str) -> Result<[u8; KEY_LEN]> {
    parse_hex(text.trim()).ok_or_else(|| KeyError::Format.into())
}

/// The public key of a private X25519 key (as Noise's 25519 DH computes it: clamped scalar
/// times the base point).
pub fn public_of(private: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    curve25519_dalek::MontgomeryPoint::mul_base_clamped(*private).to_bytes()
}

/// A node's private key file.
pub fn load(path: &Path) -> Result<[u8; KEY_LEN]> {
    let path_buf = || path.to_path_buf();
    let meta = std::fs::metadata(path).map_err(|source| KeyError::Missing { path: path_buf(), source })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(KeyError::Exposed { path: path_buf() }.into());
    }
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read { path: path_buf(), source })?;
    parse(&text).map_err(|_| KeyError::BadFile { path: path_buf() }.into())
}

pub fn generate() -> Result<String> {
    let mut key = [0u8; KEY_LEN];
    getrandom::getrandom(&mut key).map_err(KeyError::Random)?;
    Ok(hex(&key))
}

/// The peers this node trusts, as read from its peers file.
#[derive(Debug, Default)]
pub struct Peers {
    entries: Vec<([u8; KEY_LEN], String)>,
}

impl Peers {
    pub fn parse(text: &str, path: &Path) -> std::result::Result<Self, KeyError> {
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let key = words.next().and_then(parse_hex);
            let name = words.next();
            match (key, words.next()) {
                (Some(key), None) => {
                    let name = name.map(String::from).unwrap_or_else(|| hex(&key[..4]));
                    entries.push((key, name));
                }
                _ => return Err(KeyError::PeersLine { path: path.to_path_buf(), line: n + 1 }),
            }
        }
        Ok(Peers { entries })
    }

    pub fn load(path: &Path) -> std::result::Result<Self, KeyError> {
        let path_buf = || path.to_path_buf();
        let meta = std::fs::metadata(path).map_err(|source| KeyError::PeersMissing { path: path_buf(), source })?;
        let euid = nix::unistd::geteuid().as_raw();
        if meta.permissions().mode() & 0o022 != 0 || (meta.uid() != 0 && meta.uid() != euid) {
            return Err(KeyError::PeersExposed { path: path_buf() });
        }
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read { path: path_buf(), source })?;
        Self::parse(&text, path)
    }

    /// The names of the peers, in the file's order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(_, name)| name.as_str())
    }

    /// The name of the peer with this public key, if it is listed.
    pub fn name_of(&self, public: &[u8]) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k[..] == *public).map(|(_, n)| n.as_str())
    }
}

/// What a node proves itself with and whom it accepts.
#[derive(Debug, Clone)]
pub struct Identity {
    private: [u8; KEY_LEN],
    pub public: [u8; KEY_LEN],
    /// Read again for every connection (revocation takes effect at the next one).
    pub peers: PathBuf,
}

impl Identity {
    pub fn new(private: [u8; KEY_LEN], peers: &Path) -> Self {
        Identity { private, public: public_of(&private), peers: peers.to_path_buf() }
    }

    pub fn load(key: &Path, peers: &Path) -> Result<Self> {
        let identity = Self::new(load(key)?, peers);
        // Checked once at start too, so a bad list is an error now rather than a refused peer later.
        Peers::load(peers)?;
        Ok(identity)
    }

    pub fn private(&self) -> &[u8; KEY_LEN] {
        &self.private
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(parse(&format!("{a}\n")).unwrap().len(), KEY_LEN);
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(parse("abcd").is_err());
        assert!(parse(&"zz".repeat(KEY_LEN)).is_err());
    }

    #[test]
    fn public_key_is_x25519() {
        // RFC 7748, section 6.1: Alice's private and public keys.
        let private = parse("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a").unwrap();
        assert_eq!(hex(&public_of(&private)), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    }

    #[test]
    fn world_readable_key_is_refused() {
        let dir = crate::ScratchDir::new("key");
        let p = dir.join("k");
        std::fs::write(&p, generate().unwrap()).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&p).unwrap_err();
        assert!(matches!(e, crate::error::CtlError::Key(KeyError::Exposed { .. })));
        assert_eq!(e.to_string(), format!("node key: {} is readable by group or others; chmod 600 it", p.display()));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&p).is_ok());
    }

    #[test]
    fn peers_file_lists_keys_with_names_and_refuses_bad_lines() {
        let a = parse(&generate().unwrap()).unwrap();
        let b = parse(&generate().unwrap()).unwrap();
        let text = format!("# the cluster\n{} node1\n\n{}   # no name\n", hex(&a), hex(&b));
        let peers = Peers::parse(&text, Path::new("p")).unwrap();
        assert_eq!(peers.name_of(&a), Some("node1"));
        assert_eq!(peers.name_of(&b), Some(hex(&b[..4]).as_str()));
        assert_eq!(peers.name_of(&[0u8; KEY_LEN]), None);
        for bad in ["abcd node1", &format!("{} node1 extra", hex(&a))] {
            let e = Peers::parse(&format!("{} ok\n{bad}\n", hex(&a)), Path::new("p")).unwrap_err();
            assert!(matches!(e, KeyError::PeersLine { line: 2, .. }), "{e}");
        }
    }

    #[test]
    fn group_writable_peers_file_is_refused() {
        let dir = crate::ScratchDir::new("peers");
        let p = dir.join("peers");
        std::fs::write(&p, "").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o664)).unwrap();
        assert!(matches!(Peers::load(&p), Err(KeyError::PeersExposed { .. })));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Peers::load(&p).is_ok());
    }
}
