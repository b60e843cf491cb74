//! The man page and shell completions, generated from the clap definitions of `cli`
//! (`migctl gen-docs DIR`, run by `make docs`): DIR/man/migctl.1 (and migctl-SUB.1 for each
//! subcommand) and DIR/completions/{migctl.bash,_migctl,migctl.fish}.

use clap::CommandFactory;
use clap_complete::Shell;
use std::path::Path;

use crate::cli::Cli;
use crate::error::{CtlError, Result};

/// The man page of migctl (roff): synopsis, and every visible subcommand with its summary.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    Ok(out)
}

/// The man pages of the visible subcommands, (file name, roff), as `migctl-SUB.1`: their
/// options in full.
pub fn subcommand_pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let cmd = Cli::command();
    let mut pages = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("migctl-{}", sub.get_name());
        let page = sub.clone().name(name.clone()).bin_name(format!("migctl {}", sub.get_name()));
        let mut out = Vec::new();
        clap_mangen::Man::new(page).render(&mut out)?;
        pages.push((format!("{name}.1"), out));
    }
    Ok(pages)
}

/// Completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "migctl", &mut out);
    out
}

/// Write the man page and the completions under `dir`.
pub fn write_all(dir: &Path) -> Result<()> {
    let write = |path: std::path::PathBuf, data: &[u8]| -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| CtlError::io(parent, e))?;
        }
        std::fs::write(&path, data).map_err(|e| CtlError::io(&path, e))?;
        println!("wrote {}", path.display());
        Ok(())
    };
    let man = dir.join("man");
    write(man.join("migctl.1"), &man_page().map_err(|e| CtlError::io(&man, e))?)?;
    for (file, page) in subcommand_pages().map_err(|e| CtlError::io(&man, e))? {
        write(man.join(file), &page)?;
    }
    for (shell, file) in [(Shell::Bash, "migctl.bash"), (Shell::Zsh, "_migctl"), (Shell::Fish, "migctl.fish")] {
        write(dir.join("completions").join(file), &completions(shell))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible_subcommands() -> Vec<String> {
        Cli::command().get_subcommands().filter(|s| !s.is_hide_set()).map(|s| s.get_name().to_string()).collect()
    }

    #[test]
    fn man_page_renders_and_names_every_subcommand() {
        let man = String::from_utf8(man_page().unwrap()).unwrap();
        assert!(man.contains(".TH migctl"), "{}", &man[..200.min(man.len())]);
        let subs = visible_subcommands();
        assert_eq!(subs, ["info", "serve", "ping", "keygen", "pubkey", "migrate", "stats", "nodes", "evacuate", "ps"]);
        for sub in &subs {
            assert!(man.contains(&format!("migctl\\-{sub}")), "man page lacks {sub}: {man}");
        }
        assert!(!man.contains("gen\\-docs"), "the hidden generator shows in the man page");
    }

    #[test]
    fn subcommand_pages_document_their_options() {
        let pages = subcommand_pages().unwrap();
        assert_eq!(pages.len(), visible_subcommands().len());
        let page = |name: &str| {
            let (_, p) = pages.iter().find(|(f, _)| f == name).unwrap();
            String::from_utf8(p.clone()).unwrap()
        };
        assert!(page("migctl-migrate.1").contains("\\-\\-freeze\\-timeout"));
        let serve = page("migctl-serve.1");
        for word in ["\\-\\-inject\\-fault", "source\\-process\\-gone\\-before\\-freeze", "target\\-mid\\-pages"] {
            assert!(serve.contains(word), "migctl-serve.1 lacks {word}: {serve}");
        }
    }

    #[test]
    fn completions_know_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = String::from_utf8(completions(shell)).unwrap();
            for sub in visible_subcommands() {
                assert!(text.contains(&sub), "{shell} completion lacks {sub}");
            }
        }
    }

    #[test]
    fn write_all_makes_the_files() {
        let dir = std::env::temp_dir().join(format!("migctl-docs-{}", std::process::id()));
        write_all(&dir).unwrap();
        for f in ["man/migctl.1", "man/migctl-serve.1", "completions/migctl.bash", "completions/_migctl", "completions/migctl.fish"] {
            assert!(std::fs::metadata(dir.join(f)).unwrap().len() > 0, "{f}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
