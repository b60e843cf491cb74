//! The cluster as one node sees it: `migctl nodes` (every node of the peers file, reachable
//! or not, with its load and free memory: what a balancer needs) and `migctl evacuate`
//! (every guest process sent home, or to another node when its home cannot be reached; a
//! node shutting down runs it).

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

use crate::error::{CtlError, Refused, Result};
use crate::migrate::{home, table};
use crate::peer::key::{Identity, Peers};
use crate::peer::ping::{ping, resolve};
use crate::peer::proto::Mode;

/// What a daemon says of its node in its Pong.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NodeStatus {
    /// The one-minute load average.
    pub load1: f32,
    pub cpus: u32,
    pub mem_total_kib: u64,
    /// MemAvailable: what a process moved here could use without swapping.
    pub mem_available_kib: u64,
    /// Processes from other nodes running here.
    pub guests: u32,
}

impl NodeStatus {
    pub fn here(guests: u32) -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let meminfo = read("/proc/meminfo");
        NodeStatus {
            load1: load1(&read("/proc/loadavg")).unwrap_or(0.0),
            cpus: std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
            mem_total_kib: meminfo_kib(&meminfo, "MemTotal").unwrap_or(0),
            mem_available_kib: meminfo_kib(&meminfo, "MemAvailable").unwrap_or(0),
            guests,
        }
    }
}

fn load1(loadavg: &str) -> Option<f32> {
    loadavg.split_whitespace().next()?.parse().ok()
}

fn meminfo_kib(meminfo: &str, key: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.split(':').next() == Some(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One node of the peers file, as reached just now.
#[derive(Debug, Serialize)]
pub struct NodeView {
    pub name: String,
    pub address: Option<String>,
    pub this_node: bool,
    pub reachable: bool,
    /// Why it could not be reached (or refused us).
    pub error: Option<String>,
    pub rtt_ms: Option<f64>,
    pub module: Option<String>,
    pub status: Option<NodeStatus>,
}

/// Every node of the peers file, pinged at once (each given `timeout`).
pub fn survey(identity: &Identity, timeout: Duration) -> Result<Vec<NodeView>> {
    let peers = Peers::load(&identity.peers).map_err(CtlError::Key)?;
    let names: Vec<String> = peers.names().map(String::from).collect();
    let me = &crate::node::hostname();
    let views = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .iter()
            .map(|name| {
                s.spawn(move || {
                    let address = resolve(name).ok().map(|a| a.ip().to_string());
                    let (reachable, error, rtt_ms, module, status) = match ping(name, identity, timeout.as_secs().max(1)) {
                        Ok(p) => (true, None, Some(p.rtt_ms), p.module, Some(p.status)),
                        Err(e) => (false, Some(e.to_string()), None, None, None),
                    };
                    NodeView { this_node: name == me, name: name.clone(), address, reachable, error, rtt_ms, module, status }
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    Ok(views)
}

fn mib(kib: u64) -> String {
    format!("{} MiB", kib >> 10)
}

pub fn format(views: &[NodeView]) -> String {
    let mut out = format!("{:<12} {:<16} {:<6} {:>9} {:>6} {:>4} {:>10} {:>6}\n", "NODE", "ADDRESS", "STATE", "RTT", "LOAD", "CPUS", "MEM FREE", "GUESTS");
    for v in views {
        let name = if v.this_node { format!("{}*", v.name) } else { v.name.clone() };
        let addr = v.address.as_deref().unwrap_or("?");
        match (&v.status, v.rtt_ms) {
            (Some(s), Some(rtt)) => out.push_str(&format!(
                "{:<12} {:<16} {:<6} {:>6.1} ms {:>6.2} {:>4} {:>10} {:>6}\n",
                name,
                addr,
                "up",
                rtt,
                s.load1,
                s.cpus,
                mib(s.mem_available_kib),
                s.guests
            )),
            _ => out.push_str(&format!("{:<12} {:<16} {:<6} {}\n", name, addr, "down", v.error.as_deref().unwrap_or("?"))),
        }
    }
    out.push_str("(* this node)\n");
    out
}

/// `migctl nodes`.
pub fn nodes(key: &Path, peers: &Path, timeout_s: u64, json: bool) -> Result<()> {
    let views = survey(&Identity::load(key, peers)?, Duration::from_secs(timeout_s))?;
    if json {
        println!("{}", serde_json::to_string(&views).map_err(CtlError::Json)?);
    } else {
        print!("{}", format(&views));
    }
    Ok(())
}

/// Where a guest goes when its home cannot be reached: the reachable nodes but this one and
/// its home, most free memory first.
fn fallbacks(views: &[NodeView], home: &str) -> Vec<String> {
    let mut up: Vec<&NodeView> = views.iter().filter(|v| v.reachable && !v.this_node && v.name != home).collect();
    up.sort_by_key(|v| std::cmp::Reverse(v.status.as_ref().map_or(0, |s| s.mem_available_kib)));
    up.into_iter().map(|v| v.name.clone()).collect()
}

/// `migctl evacuate`: every guest process of this node (those the caller may see: root's
/// are all) to its home, or, if its home cannot be reached, to another node.
pub fn evacuate(key: &Path, peers: &Path, mode: Mode, timeout_ms: u32) -> Result<()> {
    let here = crate::node::hostname();
    let guests: Vec<table::Record> = crate::client::table()?.into_iter().filter(|r| r.is_guest(&here)).collect();
    if guests.is_empty() {
        println!("evacuate: no guest process runs on this node");
        return Ok(());
    }
    let identity = Identity::load(key, peers)?;
    let mut views: Option<Vec<NodeView>> = None;
    let mut failed = 0;
    for g in &guests {
        println!("evacuate: pid {} ({}), home {}", g.pid, g.comm, g.home);
        let err = match crate::client::migrate(g.pid, home::HOME, timeout_ms, mode, None, false) {
            Ok(()) => continue,
            Err(e) => e,
        };
        let unreachable = matches!(&err, CtlError::Refused { reason: Refused::TargetUnreachable { .. }, .. });
        println!("evacuate: pid {}: {err}", g.pid);
        if !unreachable {
            failed += 1;
            continue;
        }
        let views = views.get_or_insert_with(|| survey(&identity, Duration::from_secs(3)).unwrap_or_default());
        let mut placed = false;
        for other in fallbacks(views, &g.home) {
            println!("evacuate: pid {}: to {other} instead", g.pid);
            match crate::client::migrate(g.pid, &other, timeout_ms, mode, None, false) {
                Ok(()) => {
                    placed = true;
                    break;
                }
                Err(e) => println!("evacuate: pid {}: {e}", g.pid),
            }
        }
        if !placed {
            failed += 1;
        }
    }
    println!("evacuate: {} of {} guest(s) moved off this node", guests.len() - failed, guests.len());
    if failed > 0 {
        return Err(CtlError::Evacuate { failed, total: guests.len() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reads_the_kernels_files() {
        assert_eq!(load1("0.52 0.58 0.59 1/189 4242\n"), Some(0.52));
        let mi = "MemTotal:        1004852 kB\nMemFree:          812040 kB\nMemAvailable:     845000 kB\n";
        assert_eq!(meminfo_kib(mi, "MemAvailable"), Some(845000));
        assert_eq!(meminfo_kib(mi, "MemTotal"), Some(1004852));
        assert_eq!(meminfo_kib(mi, "Mem"), None);
    }

    #[test]
    fn guests_without_a_home_go_where_memory_is_free() {
        let v = |name: &str, up: bool, kib: u64, me: bool| NodeView {
            name: name.into(),
            address: None,
            this_node: me,
            reachable: up,
            error: None,
            rtt_ms: None,
            module: None,
            status: up.then(|| NodeStatus { mem_available_kib: kib, ..Default::default() }),
        };
        let views = [v("node1", false, 0, false), v("node2", true, 100, false), v("node3", true, 900, true), v("node4", true, 500, false)];
        assert_eq!(fallbacks(&views, "node1"), vec!["node4", "node2"]);
        assert_eq!(fallbacks(&views, "node4"), vec!["node2"]);
    }
}
