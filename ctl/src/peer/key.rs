//! The cluster key: 32 random bytes, hex on one line, the same file on every node. Whoever
//! holds it is a member of the cluster; the file must not be readable by others.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::{CtlError, Result};

pub const KEY_LEN: usize = 32;

pub fn parse(text: &str) -> Result<[u8; KEY_LEN]> {
    let hex = text.trim();
    if hex.len() != KEY_LEN * 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CtlError::Key(format!("expected {} hex digits on one line", KEY_LEN * 2)));
    }
    let mut key = [0u8; KEY_LEN];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|e| CtlError::Key(e.to_string()))?;
    }
    Ok(key)
}

pub fn load(path: &Path) -> Result<[u8; KEY_LEN]> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CtlError::Key(format!("{}: {e} (make one with: migctl keygen)", path.display())))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(CtlError::Key(format!(
            "{} is readable by group or others; chmod 600 it",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| CtlError::Key(format!("{}: {e}", path.display())))?;
    parse(&text).map_err(|e| CtlError::Key(format!("{}: {e}", path.display())))
}

pub fn generate() -> Result<String> {
    let mut key = [0u8; KEY_LEN];
    getrandom::getrandom(&mut key).map_err(|e| CtlError::Key(format!("no randomness: {e}")))?;
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
        let dir = std::env::temp_dir().join(format!("migctl-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("k");
        std::fs::write(&p, generate().unwrap()).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load(&p).unwrap_err().to_string().contains("chmod 600"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&p).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
