//! A process's home node: the node it started on. The home travels with the process
//! (`RestoreOffer::home`), so `migctl migrate PID --to home` works from wherever it runs, and
//! every node it leaves tells the home where it went (`Request::Moved`), so that the home's
//! `migctl ps` shows where each of its processes runs now.
//!
//! Trust: a `Moved` comes over an authenticated channel, and the home accepts it only from
//! the node its record says the process runs on (compared by address): another node of the
//! cluster cannot redirect the home's view of a process it does not hold.

use crate::node::Node;
use crate::peer::channel::Channel;
use crate::peer::ping::resolve;
use crate::peer::proto::{Request, Response};
use log::{info, warn};
use std::net::{IpAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// The word `migctl migrate --to` takes for "the process's home node".
pub const HOME: &str = "home";

/// The home of `pid` as this node sees it: the home its source named if it came here and
/// runs here, else this node.
pub fn home_of(node: &Node, pid: u32) -> String {
    node.table.home_of(pid).unwrap_or_else(crate::node::hostname)
}

/// Whether this node is `name` (its hostname, or an address of it that `name` resolves to
/// as a loopback address).
pub fn is_this_node(name: &str) -> bool {
    name == crate::node::hostname() || resolve(name).is_ok_and(|a| a.ip().is_loopback())
}

/// `--to home` for `pid`: the home's name, or why there is none to go to.
pub fn target_for(node: &Node, pid: u32) -> Result<String, String> {
    match node.table.home_of(pid) {
        Some(home) if !is_this_node(&home) => Ok(home),
        _ => Err(format!("pid {pid} is on its home node already (--to home moves a guest back)")),
    }
}

/// After `pid` left this node for `to`: tell its home, unless the home is this node (its
/// record is this migration's) or `to` (the process is back; its restore there says so).
/// Best effort, in the background: a home that cannot be reached is logged, the move stands.
pub fn tell_home(node: &Arc<Node>, pid: u32, home: String, to: &str) {
    if is_this_node(&home) || home == to {
        return;
    }
    let (node, to) = (node.clone(), to.to_string());
    std::thread::spawn(move || match send_moved(&node, pid, &home, &to) {
        Ok(()) => info!("pid {pid}: told its home {home} that it runs on {to}"),
        Err(e) => warn!("pid {pid}: could not tell its home {home} that it runs on {to}: {e}"),
    });
}

fn send_moved(node: &Node, pid: u32, home: &str, to: &str) -> Result<(), String> {
    ask(node, home, Request::Moved { pid, to: to.into() })
}

/// One request about a process to the node `at` (its home, or the node that holds it), on
/// a connection of its own, answered with `Noted`.
pub(super) fn ask(node: &Node, at: &str, req: Request) -> Result<(), String> {
    let addr = resolve(at).map_err(|e| e.to_string())?;
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let mut ch = Channel::initiate(stream, &node.identity).map_err(|e| e.to_string())?;
    ch.set_timeout(node.config.peer_timeout).map_err(|e| e.to_string())?;
    ch.send(&req).map_err(|e| e.to_string())?;
    match ch.recv::<Response>().map_err(|e| e.to_string())? {
        Response::Noted => Ok(()),
        Response::Error(e) => Err(e),
        other => Err(format!("unexpected {other:?}")),
    }
}

/// On the home node: `peer_ip` says `pid` now runs on `to`.
pub fn note_moved(node: &Node, pid: u32, to: &str, peer_ip: IpAddr, peer: &str) -> Response {
    let from_holder = |at: &str| resolve(at).is_ok_and(|a| a.ip() == peer_ip);
    if node.table.moved(pid, from_holder, to) {
        info!("pid {pid}: now on {to} (told by {peer})");
        Response::Noted
    } else {
        warn!("peer {peer} says pid {pid} now runs on {to}: no process of this node runs on that peer under that pid; ignored");
        Response::Error(format!("{}: no process {pid} of this node runs on the sender", crate::node::hostname()))
    }
}
