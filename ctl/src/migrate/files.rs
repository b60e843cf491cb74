//! Mapped files travel by identity, not by content: the target must hold the very same
//! bytes at the same path (ld.so, libraries, the program itself). Checked by SHA-256 of the
//! whole file, so a different version of a library is refused instead of crashing later.

use sha2::{Digest, Sha256};
use std::io::Read;

use crate::peer::proto::FileId;

pub fn identify(path: &str) -> Result<FileId, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| format!("{path}: {e}"))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok(FileId { path: path.to_string(), size, sha256: h.finalize().into() })
}

/// Why `want` cannot be used on this node, if it cannot.
pub fn check(want: &FileId) -> Option<String> {
    match identify(&want.path) {
        Err(_) => Some(format!("{} does not exist on this node", want.path)),
        Ok(have) if have != *want => Some(format!("{} differs on this node (other content)", want.path)),
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_by_content() {
        let dir = std::env::temp_dir().join(format!("migr-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("lib.so");
        std::fs::write(&p, b"version 1").unwrap();
        let id = identify(p.to_str().unwrap()).unwrap();
        assert_eq!(id.size, 9);
        assert!(check(&id).is_none());
        std::fs::write(&p, b"version 2").unwrap();
        assert!(check(&id).unwrap().contains("differs"));
        std::fs::remove_file(&p).unwrap();
        assert!(check(&id).unwrap().contains("does not exist"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
