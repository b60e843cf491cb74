//! The command line (clap definitions) and what each command does. The man page and the
//! shell completions are generated from these definitions (`docs`).

use clap::{Parser, Subcommand};
use std::path::PathBuf;

use crate::error::{CtlError, Result};
use crate::fault::FaultPoint;
use crate::node::{Config, Node};
use crate::{client, docs, genl, local, peer};

#[derive(Parser)]
#[command(name = "migctl", version, about = "Live process migration between Linux nodes")]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MigrateMode {
    Eager,
    Lazy,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Show the local module's version, protocol version and features.
    Info {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Run the node daemon: accept authenticated requests from other nodes.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0:7070")]
        listen: String,
        /// This node's private key (mode 600; `migctl keygen` makes one).
        #[arg(long, default_value = peer::DEFAULT_KEY_PATH)]
        key: PathBuf,
        /// Public keys of the nodes this one trusts, one per line (`migctl pubkey` prints
        /// this node's line); read again for every connection.
        #[arg(long, default_value = peer::DEFAULT_PEERS_PATH)]
        peers: PathBuf,
        /// Local control socket (for `migctl migrate` and `ps` on this node).
        #[arg(long, default_value = local::SOCKET_PATH)]
        socket: PathBuf,
        /// Fail every migration at this point (testing).
        #[arg(long, value_enum)]
        inject_fault: Option<FaultPoint>,
        /// Seconds a peer's daemon may leave a request unanswered before the migration
        /// fails (a peer whose kernel stops acknowledging is given up after 20 s anyway).
        #[arg(long, default_value_t = peer::PEER_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86400))]
        peer_timeout: u64,
        /// Seconds a frozen process waits for the migration's outcome before it resumes by
        /// itself (the last resort if this daemon hangs). Not after a lazy hand-over.
        #[arg(long, default_value_t = crate::node::DEFAULT_HOLD_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
        hold_timeout: u64,
    },
    /// Check that NODE's daemon answers and is in our cluster.
    Ping {
        /// host or host:port of the other node's daemon.
        node: String,
        /// This node's private key.
        #[arg(long, default_value = peer::DEFAULT_KEY_PATH)]
        key: PathBuf,
        /// The nodes this one trusts.
        #[arg(long, default_value = peer::DEFAULT_PEERS_PATH)]
        peers: PathBuf,
        #[arg(long)]
        json: bool,
        /// Seconds to wait for the peer.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Print a new random private key for this node (save it as /etc/migr/node.key, mode
    /// 600; it never leaves the node).
    Keygen,
    /// Print this node's line for the other nodes' peers files: its public key and name.
    Pubkey {
        #[arg(long, default_value = peer::DEFAULT_KEY_PATH)]
        key: PathBuf,
        /// The name to list it under (default: this node's hostname).
        #[arg(long)]
        name: Option<String>,
    },
    /// Move a running process to another node (stop-and-copy): it carries on there from
    /// where it stopped. A refused or failed migration leaves it running here, untouched.
    Migrate {
        pid: u32,
        /// host or host:port of the target node's daemon, or `home`: the node the process
        /// started on (for a process that came here from elsewhere).
        #[arg(long)]
        to: String,
        /// Seconds the process may take to stop; if it does not (stopped by a signal, in
        /// uninterruptible sleep), the migration is refused and it is left as it was.
        #[arg(long, default_value_t = 30)]
        freeze_timeout: u32,
        /// lazy: it runs there at once and its memory follows on demand, with prefetch and
        /// a background push (the source lets go once every page is there); eager: all
        /// memory before it runs there (stop-and-copy: the source is free at once).
        #[arg(long, value_enum, default_value_t = MigrateMode::Lazy)]
        mode: MigrateMode,
        /// Lazy mode: no background push (pages move only on demand; the home node serves
        /// them until the process ends).
        #[arg(long)]
        no_push: bool,
        /// Lazy mode: one page per fault, no prefetch window.
        #[arg(long)]
        no_prefetch: bool,
        /// Leaving its home node, the original stays there as the process's deputy (the
        /// default): it keeps the pid, so the parent and the shell still see it; signals
        /// sent to it go to the process; its terminal, pipes and home-only files are served
        /// through it; it ends as the process ends, with the same status. A process holding
        /// something the deputy cannot serve is refused, named.
        #[arg(long, overrides_with = "no_deputy")]
        deputy: bool,
        /// Leaving its home node, the original ends at the move: the process's descriptors
        /// are reopened on the target by path (its terminal reads as /dev/null, its output
        /// goes to files there), its parent sees it killed. No effect on a guest (a process
        /// away from home keeps what it left with).
        #[arg(long, overrides_with = "deputy")]
        no_deputy: bool,
        /// Print the outcome as one JSON object (pid, node, remote_pid, bytes, frozen_ms,
        /// total_ms) instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Counters of migrations on this node: pages by path, bytes on the wire, fault latency.
    Stats {
        id: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// The nodes of this node's peers file, reachable or not: address, round trip, load,
    /// CPUs, free memory (MemAvailable) and guest processes.
    Nodes {
        #[arg(long)]
        json: bool,
        /// Seconds to wait for each node.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
        /// This node's private key.
        #[arg(long, default_value = peer::DEFAULT_KEY_PATH)]
        key: PathBuf,
        /// The nodes this one trusts.
        #[arg(long, default_value = peer::DEFAULT_PEERS_PATH)]
        peers: PathBuf,
    },
    /// Send every guest process (one that came from another node) home, or to the reachable
    /// node with the most free memory if its home cannot be reached; one line for each. Run
    /// by a node that is shutting down. Exit 13 if any guest stays.
    Evacuate {
        /// How memory travels (see `migrate`). Eager by default: the node is going away,
        /// and a lazy move would need it until every page is pushed.
        #[arg(long, value_enum, default_value_t = MigrateMode::Eager)]
        mode: MigrateMode,
        /// Seconds each process may take to stop.
        #[arg(long, default_value_t = 30)]
        freeze_timeout: u32,
        /// This node's private key (to reach the other nodes when a home is down).
        #[arg(long, default_value = peer::DEFAULT_KEY_PATH)]
        key: PathBuf,
        /// The nodes this one trusts.
        #[arg(long, default_value = peer::DEFAULT_PEERS_PATH)]
        peers: PathBuf,
    },
    /// List migrations in and out of this node.
    Ps {
        #[arg(long)]
        json: bool,
        /// First forget the migrations that have ended (root only).
        #[arg(long)]
        forget: bool,
    },
    /// Write the man page (DIR/man/migctl.1) and shell completions (DIR/completions/).
    #[command(hide = true)]
    GenDocs {
        #[arg(default_value = "build")]
        dir: PathBuf,
    },
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Info { json } => {
            let info = genl::ModuleClient::connect()?.info()?;
            info.check_protocol()?;
            println!("{}", if json { info.to_json() } else { info.to_text() });
            Ok(())
        }
        Cmd::Serve { listen, key, peers, socket, inject_fault, peer_timeout, hold_timeout } => {
            let mut config = Config::new(&listen, &socket);
            config.peer_timeout = std::time::Duration::from_secs(peer_timeout);
            config.hold_timeout = std::time::Duration::from_secs(hold_timeout);
            let node = Node::new(peer::key::Identity::load(&key, &peers)?, inject_fault, config);
            peer::serve::run(node)
        }
        Cmd::Ping { node, key, peers, json, timeout } => {
            let pong = peer::ping::ping(&node, &peer::key::Identity::load(&key, &peers)?, timeout)?;
            if json {
                println!("{}", serde_json::to_string(&pong).map_err(CtlError::Json)?);
            } else {
                println!(
                    "{}: node {} answered in {:.1} ms (module: {})",
                    node,
                    pong.node,
                    pong.rtt_ms,
                    pong.module.as_deref().unwrap_or("not loaded")
                );
            }
            Ok(())
        }
        Cmd::Migrate { pid, to, freeze_timeout, mode, no_push, no_prefetch, deputy, no_deputy, json } => {
            let deputy = match (deputy, no_deputy) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let mode = match mode {
                MigrateMode::Eager => peer::proto::Mode::Eager,
                MigrateMode::Lazy => peer::proto::Mode::Lazy { push: !no_push, prefetch: !no_prefetch },
            };
            client::migrate(pid, &to, freeze_timeout.saturating_mul(1000), mode, deputy, json)
        }
        Cmd::Stats { id, json } => client::stats(id, json),
        Cmd::Ps { json, forget } => client::ps(json, forget),
        Cmd::Nodes { json, timeout, key, peers } => crate::nodes::nodes(&key, &peers, timeout, json),
        Cmd::Evacuate { mode, freeze_timeout, key, peers } => {
            let mode = match mode {
                MigrateMode::Eager => peer::proto::Mode::Eager,
                MigrateMode::Lazy => peer::proto::Mode::Lazy { push: true, prefetch: true },
            };
            crate::nodes::evacuate(&key, &peers, mode, freeze_timeout.saturating_mul(1000))
        }
        Cmd::Keygen => {
            println!("{}", peer::key::generate()?);
            Ok(())
        }
        Cmd::Pubkey { key, name } => {
            let public = peer::key::public_of(&peer::key::load(&key)?);
            println!("{} {}", peer::key::hex(&public), name.unwrap_or_else(crate::node::hostname));
            Ok(())
        }
        Cmd::GenDocs { dir } => docs::write_all(&dir),
    }
}
