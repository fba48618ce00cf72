//! A whole cluster on one machine, from a topology file: what `meridian up` runs, and what
//! the demos, whole-node tests and benchmarks start. [`prepare`] writes a cluster CA, one
//! certificate and one config file per node and a data directory per node under one
//! directory (keeping whatever is already there, so a second `up` resumes the same
//! cluster); [`LocalCluster`] starts every node in this process; [`launch`] does both for a
//! topology it writes itself, on free loopback ports.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::config::{ConfigError, InitialClusterState, NodeConfig};
use crate::node::{Node, StartError};
use crate::ports::{NoFreePort, free_addrs};
use crate::tls::{self, CertError};

/// A local cluster that cannot be prepared or started.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// The topology file cannot be read or parsed.
    #[error("{0}")]
    Topology(String),
    /// A directory or file cannot be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Certificates.
    #[error("certificates: {0}")]
    Certs(#[from] CertError),
    /// A generated config does not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No free loopback port for a node of [`loopback_topology`].
    #[error(transparent)]
    Ports(#[from] NoFreePort),
    /// A node did not start.
    #[error("node {node}: {source}")]
    Start {
        /// The node.
        node: String,
        /// Why.
        source: StartError,
    },
}

/// Options for the generated node configs.
#[derive(Debug, Clone)]
pub struct Options {
    /// `fsync` of every node.
    pub fsync: String,
    /// `[replication] preset`: "lan" or "wan".
    pub preset: String,
    /// Extra TOML appended to every node's config (for example a `[limits]` table).
    pub extra: String,
    /// `[replication] initial_cluster_state` of every node. `None` decides: `new` when this
    /// call creates the cluster (its CA), so that a brand-new cluster takes writes at once;
    /// `existing` when it resumes one, so that a node whose data directory was emptied learns
    /// its history back before it writes.
    pub initial_cluster_state: Option<InitialClusterState>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fsync: "always".to_owned(),
            preset: "lan".to_owned(),
            extra: String::new(),
            initial_cluster_state: None,
        }
    }
}

/// Writes certificates, configs and data directories for every node of `topology` under
/// `dir`, and returns each node's config file, in the topology's order.
pub fn prepare(
    topology: &Path,
    dir: &Path,
    options: &Options,
) -> Result<Vec<PathBuf>, ClusterError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ClusterError::Io { path, source }
    };
    let text = std::fs::read_to_string(topology)
        .map_err(|e| ClusterError::Topology(format!("cannot read {}: {e}", topology.display())))?;
    let parsed = meridian_replica::Topology::parse(&text, &topology.display().to_string())
        .map_err(|e| ClusterError::Topology(e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let topology_copy = dir.join("topology.toml");
    std::fs::write(&topology_copy, &text).map_err(io(&topology_copy))?;
    let certs = dir.join("certs");
    let created = !certs.join("ca.pem").exists();
    if created {
        tls::init_ca(&certs, &parsed.cluster)?;
    }
    let state = match options.initial_cluster_state {
        Some(state) => state,
        None if created => InitialClusterState::New,
        None => InitialClusterState::Existing,
    };
    let mut configs = Vec::new();
    for id in parsed.ids() {
        let Some(spec) = parsed.node(id) else {
            continue;
        };
        let name = &spec.name;
        let node_dir = dir.join(format!("node-{}", id.0));
        std::fs::create_dir_all(&node_dir).map_err(io(&node_dir))?;
        let cert = certs.join(format!("{name}.pem"));
        let key = certs.join(format!("{name}-key.pem"));
        if !cert.exists() || !key.exists() {
            tls::issue(&certs, name)?;
        }
        let config = format!(
            "# Node {name} of the local cluster made by `meridian up`.\n\
             node = {name:?}\n\
             topology = \"../topology.toml\"\n\
             data_dir = \"data\"\n\
             fsync = {fsync:?}\n\n\
             [tls]\n\
             ca = {ca:?}\n\
             cert = {cert:?}\n\
             key = {key:?}\n\n\
             [replication]\n\
             preset = {preset:?}\n\
             initial_cluster_state = {state:?}\n{extra}",
            fsync = options.fsync,
            ca = "../certs/ca.pem",
            cert = format!("../certs/{name}.pem"),
            key = format!("../certs/{name}-key.pem"),
            preset = options.preset,
            state = state.as_str(),
            extra = options.extra,
        );
        let path = node_dir.join("node.toml");
        std::fs::write(&path, config).map_err(io(&path))?;
        NodeConfig::load(&path)?;
        configs.push(path);
    }
    Ok(configs)
}

/// Writes `dir/topology.toml`: cluster `name` of `shape` (`mesh`, `ring`, `star`, `tree` or
/// `chain`), one leader per name of `regions` in that order, each on free loopback ports. A
/// star's hub is the first region; a tree's root is the first, and region `i` hangs below
/// region `(i - 1) / 2`. Returns the file's path.
pub fn loopback_topology(
    dir: &Path,
    name: &str,
    shape: &str,
    regions: &[&str],
) -> Result<PathBuf, ClusterError> {
    let mut text = format!("cluster = {name:?}\nshape = {shape:?}\n");
    if let (Some(hub), "star") = (regions.first(), shape) {
        text.push_str(&format!("hub = {hub:?}\n"));
    }
    for (i, region) in regions.iter().enumerate() {
        let (quic, resp, admin) = free_addrs()?;
        text.push_str(&format!(
            "\n[[node]]\nname = {region:?}\nid = {id}\nrole = \"leader\"\nquic = \"{quic}\"\nresp = \"{resp}\"\nadmin = \"{admin}\"\n",
            id = i + 1,
        ));
        if shape == "tree" && i > 0 {
            text.push_str(&format!("parent = {:?}\n", regions[(i - 1) / 2]));
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| ClusterError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let path = dir.join("topology.toml");
    std::fs::write(&path, text).map_err(|source| ClusterError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// A cluster of `shape` with one leader per name of `regions`, on loopback, under `dir`
/// ([`loopback_topology`], [`prepare`] into `dir/cluster`), every node started in this
/// process with its store under `dir`.
pub async fn launch(
    dir: &Path,
    name: &str,
    shape: &str,
    regions: &[&str],
    options: &Options,
) -> Result<LocalCluster, ClusterError> {
    let topology = loopback_topology(dir, name, shape, regions)?;
    let configs = prepare(&topology, &dir.join("cluster"), options)?;
    LocalCluster::start(&configs).await
}

/// Every node of a cluster, running in this process.
#[derive(Debug)]
pub struct LocalCluster {
    /// The nodes, in the topology's order.
    pub nodes: Vec<Node>,
}

impl LocalCluster {
    /// Starts a node from each config file.
    pub async fn start(configs: &[PathBuf]) -> Result<LocalCluster, ClusterError> {
        let mut nodes = Vec::new();
        for path in configs {
            let config = NodeConfig::load(path)?;
            let node = config.node.clone();
            let started = Node::start(config)
                .await
                .map_err(|source| ClusterError::Start { node, source })?;
            nodes.push(started);
        }
        Ok(LocalCluster { nodes })
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name() == name)
    }

    /// Waits until every link that no operator cut is up at both ends; false if that takes
    /// longer than `limit`. Polls every 10 ms.
    pub async fn connected(&self, limit: Duration) -> bool {
        self.poll(limit, || {
            self.nodes.iter().all(|n| {
                n.status()
                    .links
                    .iter()
                    .all(|l| l.disabled || l.state == "up")
            })
        })
        .await
    }

    /// Waits until every node has applied the same ops and holds the same digest; false if
    /// that takes longer than `limit`. Polls every 10 ms.
    pub async fn converged(&self, limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            let mut states = Vec::new();
            for n in &self.nodes {
                states.push((n.applied().await, n.digest().await));
            }
            if states.windows(2).all(|w| w[0] == w[1]) {
                return true;
            }
            if start.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn poll(&self, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        while !done() {
            if start.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Stops every node cleanly; the first error, if any.
    pub async fn shutdown(self) -> Result<(), String> {
        let mut first = Ok(());
        for node in self.nodes {
            let name = node.name().to_owned();
            if let Err(e) = node.shutdown().await {
                if first.is_ok() {
                    first = Err(format!("node {name}: {e}"));
                }
            }
        }
        first
    }
}
