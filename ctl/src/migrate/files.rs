//! Mapped files travel by identity, not by content: the target must hold the very same
//! bytes at the same path (ld.so, libraries, the program itself). Checked by SHA-256 of the
//! whole file, so a different version of a library is refused instead of crashing later.

use sha2::{Digest, Sha256};
use std::io::Read;

use crate::peer::proto::FileId;

/// A mapped file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct Unreadable {
    pub path: String,
    pub source: std::io::Error,
}

/// Why a mapped file of the image cannot be used on this node.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error("{0} does not exist on this node")]
    Missing(String),
    #[error("{0} differs on this node (other content)")]
    Differs(String),
}

pub fn identify(path: &str) -> Result<FileId, Unreadable> {
    let unreadable = |source| Unreadable { path: path.into(), source };
    let mut f = std::fs::File::open(path).map_err(unreadable)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(unreadable)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok(FileId { path: path.to_string(), size, sha256: h.finalize().into() })
}

/// Can `want` be used on this node?
pub fn check(want: &FileId) -> Result<(), Mismatch> {
    match identify(&want.path) {
        Err(_) => Err(Mismatch::Missing(want.path.clone())),
        Ok(have) if have != *want => Err(Mismatch::Differs(want.path.clone())),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_by_content() {
        let dir = crate::ScratchDir::new("files");
        let p = dir.file("lib.so", b"version 1");
        let id = identify(p.to_str().unwrap()).unwrap();
        assert_eq!(id.size, 9);
        assert_eq!(check(&id), Ok(()));
        std::fs::write(&p, b"version 2").unwrap();
        assert_eq!(check(&id), Err(Mismatch::Differs(id.path.clone())));
        std::fs::remove_file(&p).unwrap();
        let e = check(&id).unwrap_err();
        assert_eq!(e, Mismatch::Missing(id.path.clone()));
        assert_eq!(e.to_string(), format!("{} does not exist on this node", id.path));
    }
}
