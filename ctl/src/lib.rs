//! migctl as a library: the CLI's commands (`cli`), the node daemon (`peer::serve`,
//! `daemon_local`) and what they share. A daemon's state lives in one [`node::Node`] passed
//! explicitly; a migration in flight is a [`session::Session`] that owns its connections and
//! the services running over them; each kind of open descriptor is one module of [`fd`].

pub mod cli;
pub mod client;
pub mod creds;
pub mod daemon_local;
pub mod docs;
pub mod error;
pub mod fault;
pub mod fd;
pub mod genl;
pub mod image;
pub mod info;
pub mod local;
pub mod migrate;
pub mod node;
pub mod page_sink;
pub mod nodes;
pub mod peer;
pub mod session;
pub mod uapi;
#[allow(dead_code)]
pub mod uapi_gen;

pub use error::{CtlError, Result};

/// For unit tests: a scratch directory of this test process, removed when dropped.
#[cfg(test)]
pub(crate) struct ScratchDir(pub std::path::PathBuf);

#[cfg(test)]
impl ScratchDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("migctl-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        ScratchDir(dir)
    }

    pub fn join(&self, file: &str) -> std::path::PathBuf {
        self.0.join(file)
    }

    /// A file `name` in it holding `contents`.
    pub fn file(&self, name: &str, contents: &[u8]) -> std::path::PathBuf {
        let p = self.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

#[cfg(test)]
impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
