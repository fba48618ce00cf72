//! Whole-node test support: clusters on loopback with free ports, bounded polls.

#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use meridian_node::cluster::{self, LocalCluster, Options};

/// A free loopback address for QUIC and two for TCP (`meridian_node::ports`).
pub fn free_addrs() -> (SocketAddr, SocketAddr, SocketAddr) {
    meridian_node::ports::free_addrs().unwrap()
}

/// A topology file of `shape` ("mesh", "ring", "chain", "star", "tree") with `n` leaders
/// named `n1`… on free loopback ports, written into `dir`.
pub fn topology(dir: &Path, shape: &str, n: usize) -> PathBuf {
    let names: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    cluster::loopback_topology(dir, &format!("test-{shape}-{n}"), shape, &names).unwrap()
}

/// Prepares and starts a cluster of `shape` with `n` nodes under `dir`.
pub async fn start(
    dir: &Path,
    shape: &str,
    n: usize,
    options: &Options,
) -> (LocalCluster, Vec<PathBuf>) {
    let topology = topology(dir, shape, n);
    let configs = cluster::prepare(&topology, &dir.join("cluster"), options).unwrap();
    let cluster = LocalCluster::start(&configs).await.unwrap();
    (cluster, configs)
}

/// Options for tests: fast gossip so that convergence is quick.
pub fn options() -> Options {
    Options {
        fsync: "always".to_owned(),
        preset: "lan".to_owned(),
        ..Options::default()
    }
}

/// Polls `condition` every 20 ms until it holds; fails the test after `limit`, saying
/// what was awaited.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if condition().await {
            return;
        }
        if start.elapsed() > limit {
            panic!("not within {limit:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A plain HTTP/1.0 GET: status code and body, or `None` if the server does not answer.
pub fn try_http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_owned()))
}

/// [`try_http_get`] of a server that must answer.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    try_http_get(addr, path).unwrap_or_else(|| panic!("no HTTP answer from {addr}{path}"))
}

/// Whether every node holds the same digest and applied vector.
pub async fn converged(cluster: &LocalCluster) -> bool {
    let first = &cluster.nodes[0];
    let digest = first.digest().await;
    let applied = first.applied().await;
    for node in &cluster.nodes[1..] {
        if node.digest().await != digest || node.applied().await != applied {
            return false;
        }
    }
    true
}

/// Whether every link of every node is up.
pub fn all_links_up(cluster: &LocalCluster) -> bool {
    cluster
        .nodes
        .iter()
        .all(|n| n.status().links.iter().all(|l| l.state == "up"))
}
