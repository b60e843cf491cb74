//! The cluster key: 32 random bytes, hex on one line, the same file on every node. Whoever
//! holds it is a member of the cluster; the file must not be readable by others.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::{KeyError, Result};

pub const KEY_LEN: usize = 32;

pub fn parse(text: &str) -> Result<[u8; KEY_LEN]> {
    let hex = text.trim();
    if hex.len() != KEY_LEN * 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyError::Format.into());
    }
    let mut key = [0u8; KEY_LEN];
    for (i, k) in key.iter_mut().enumerate() {
        // Checked above: two hex digits.
        *k = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| KeyError::Format)?;
    }
    Ok(key)
}

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
    Ok(key.iter().map(|b| format!("{b:02x}")).collect())
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
    fn world_readable_key_is_refused() {
        let dir = crate::ScratchDir::new("key");
        let p = dir.join("k");
        std::fs::write(&p, generate().unwrap()).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&p).unwrap_err();
        assert!(matches!(e, crate::error::CtlError::Key(KeyError::Exposed { .. })));
        assert_eq!(e.to_string(), format!("cluster key: {} is readable by group or others; chmod 600 it", p.display()));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&p).is_ok());
    }
}
