//! A whole cluster on one machine, from a topology file: what `meridian up` runs, and what
//! whole-node tests and benchmarks start. [`prepare`] writes a cluster CA, one certificate
//! and one config file per node and a data directory per node under one directory (keeping
//! whatever is already there, so a second `up` resumes the same cluster); [`LocalCluster`]
//! starts every node in this process.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::config::{ConfigError, InitialClusterState, NodeConfig};
use crate::node::{Node, StartError};
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
