//! A node's configuration file: which node of which topology it is, where it keeps its data
//! and certificates, how durable its writes are, and the limits on what peers may send.
//!
//! ```toml
//! node = "frankfurt"                       # a node name of the topology file
//! topology = "../topologies/mesh-3.toml"   # relative paths are relative to this file
//! data_dir = "data/frankfurt"
//! fsync = "always"                         # always | periodic | periodic:250ms | never
//!
//! [tls]
//! ca = "certs/ca.pem"
//! cert = "certs/frankfurt.pem"
//! key = "certs/frankfurt-key.pem"
//!
//! [limits]                                 # optional; these are the defaults
//! max_frame_bytes = 16777216
//! max_queued_frames = 4096
//! idle_timeout_ms = 10000
//! keep_alive_ms = 2000
//!
//! [clients]                                # optional; Redis protocol clients
//! requirepass = "s3cret"                   # AUTH required when set; default: none
//! max_clients = 10000
//! max_output_buffer_bytes = 67108864       # a client that does not read is disconnected
//! idle_timeout_s = 0                       # 0: idle clients are never disconnected
//!
//! [replication]                            # optional; see docs/node.md for every field
//! preset = "wan"                           # wan | lan
//! checkpoint_interval_ms = 1000            # key states stored at most this long after a write
//! ```
//!
//! An unknown field is an error that names it, like every other mistake in the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use meridian_crdt::ActorId;
use meridian_replica::{Role, Topology};
use meridian_store::FsyncPolicy;
use serde::Deserialize;
use thiserror::Error;

/// A node's configuration, validated: paths resolved, the topology parsed, the node found.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's name in the topology.
    pub node: String,
    /// This node's actor id, from the topology.
    pub id: ActorId,
    /// The cluster's topology.
    pub topology: Arc<Topology>,
    /// Where the topology was read from (for messages).
    pub topology_path: PathBuf,
    /// The store lives in `data_dir/meridian.redb`.
    pub data_dir: PathBuf,
    /// When writes are made durable.
    pub fsync: FsyncPolicy,
    /// Certificate files.
    pub tls: TlsPaths,
    /// Limits on links.
    pub limits: LinkLimits,
    /// Replication tuning (gossip interval, retention...).
    pub replica: meridian_replica::Config,
    /// Redis protocol clients.
    pub clients: ClientLimits,
    /// Whether a store this node creates belongs to a cluster being bootstrapped (`new`: it
    /// takes writes at once) or to one that may hold history of this node (`existing`: it
    /// first hears every neighbour). A store that already exists ignores it.
    pub initial_cluster_state: InitialClusterState,
}

/// `[replication] initial_cluster_state`, after etcd's flag of the same name: what a node whose
/// store is new may assume about the rest of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitialClusterState {
    /// Every node of the cluster starts on a new store now: no node holds any op, so a new
    /// store has no history to learn and takes writes at once. Only for the first start of a
    /// cluster: on a node that rejoins a running cluster (a replaced disk) it would let the
    /// node reuse sequence numbers its peers hold, and its first writes would be lost.
    New,
    /// The cluster may hold ops of this node (the default): a new store refuses writes
    /// (TRYAGAIN) until it has heard every neighbour and holds again every op of its own
    /// that any of them has.
    #[default]
    Existing,
}

impl InitialClusterState {
    /// The name in a config file.
    pub fn as_str(self) -> &'static str {
        match self {
            InitialClusterState::New => "new",
            InitialClusterState::Existing => "existing",
        }
    }
}

/// What Redis protocol clients may do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientLimits {
    /// When set, a client must `AUTH` with it before any other command.
    pub requirepass: Option<String>,
    /// Connections past this many are refused with an error.
    pub max_clients: usize,
    /// Replies a client has not read, in bytes; past it the client is disconnected (Redis's
    /// client-output-buffer-limit).
    pub max_output_buffer_bytes: usize,
    /// A client silent for this long is disconnected; 0 never.
    pub idle_timeout_s: u64,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            requirepass: None,
            max_clients: 10_000,
            max_output_buffer_bytes: 64 << 20,
            idle_timeout_s: 0,
        }
    }
}

/// Where a node's certificates are.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsPaths {
    /// The cluster CA certificate (`meridian certs init`).
    pub ca: PathBuf,
    /// This node's certificate (`meridian certs issue`).
    pub cert: PathBuf,
    /// This node's private key.
    pub key: PathBuf,
}

/// Limits on what travels over a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkLimits {
    /// The largest frame accepted from a peer (and sent); a larger one closes the link.
    pub max_frame_bytes: u32,
    /// Frames queued for a peer that does not read them; past it, the link is closed and
    /// the peer catches up from the log when it comes back, so nothing is dropped silently.
    pub max_queued_frames: usize,
    /// A link silent for this long is down.
    pub idle_timeout_ms: u64,
    /// Keep-alive interval; must be below the idle timeout.
    pub keep_alive_ms: u64,
}

impl Default for LinkLimits {
    fn default() -> Self {
        LinkLimits {
            max_frame_bytes: 16 << 20,
            max_queued_frames: 4096,
            idle_timeout_ms: 10_000,
            keep_alive_ms: 2_000,
        }
    }
}

impl LinkLimits {
    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    /// The keep-alive interval.
    pub fn keep_alive(&self) -> Duration {
        Duration::from_millis(self.keep_alive_ms)
    }
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    node: String,
    topology: PathBuf,
    data_dir: PathBuf,
    #[serde(default = "default_fsync")]
    fsync: String,
    tls: TlsPaths,
    #[serde(default)]
    limits: LinkLimits,
    #[serde(default)]
    replication: Replication,
    #[serde(default)]
    clients: ClientLimits,
}

/// Replication tuning; `preset` picks `Config::lan()` or `Config::wan()`, the other fields
/// override it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Replication {
    preset: Option<String>,
    gossip_interval_ms: Option<u64>,
    repair_after_ms: Option<u64>,
    retention_ops: Option<usize>,
    #[serde(default)]
    open_history_without: Vec<String>,
    retention_bytes: Option<u64>,
    checkpoint_interval_ms: Option<u64>,
    initial_cluster_state: Option<String>,
}

/// The least `repair_after_ms` of a node (see `NodeConfig::parse`).
const NODE_REPAIR_FLOOR_MS: u64 = 3_000;

fn default_fsync() -> String {
    "always".to_owned()
}

/// A configuration file that cannot be used. Every message names the file and the field.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a field of the wrong type or an unknown one.
    #[error("config file {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message, which names the field.
        message: String,
    },
    /// A field has a value that cannot work.
    #[error("config file {path}: field `{field}`: {message}")]
    Field {
        /// The file.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl NodeConfig {
    /// Reads, parses and validates a config file; relative paths in it are relative to the
    /// file's directory.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        NodeConfig::parse(&text, path)
    }

    /// Parses and validates config text as if read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<NodeConfig, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let field = |field: &'static str, message: String| ConfigError::Field {
            path: path.to_owned(),
            field,
            message,
        };
        let resolve = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };

        let topology_path = resolve(&raw.topology);
        let text = std::fs::read_to_string(&topology_path).map_err(|e| {
            field(
                "topology",
                format!("cannot read {}: {e}", topology_path.display()),
            )
        })?;
        let topology = Topology::parse(&text, &topology_path.display().to_string())
            .map_err(|e| field("topology", e.to_string()))?;
        let spec = topology.by_name(&raw.node).ok_or_else(|| {
            let names: Vec<_> = topology
                .ids()
                .filter_map(|id| topology.node(id).map(|n| format!("{:?}", n.name)))
                .collect();
            field(
                "node",
                format!(
                    "{:?} is not a node of {} (its nodes: {})",
                    raw.node,
                    topology_path.display(),
                    names.join(", ")
                ),
            )
        })?;
        let id = spec.id;
        if raw.data_dir.as_os_str().is_empty() {
            return Err(field("data_dir", "must not be empty".to_owned()));
        }
        let fsync: FsyncPolicy = raw
            .fsync
            .parse()
            .map_err(|e: meridian_store::ParsePolicyError| field("fsync", e.to_string()))?;

        let limits = raw.limits;
        if !(1024..=(256 << 20)).contains(&limits.max_frame_bytes) {
            return Err(field(
                "limits.max_frame_bytes",
                format!(
                    "{} is out of range: between 1024 and {} bytes",
                    limits.max_frame_bytes,
                    256 << 20
                ),
            ));
        }
        if limits.max_queued_frames == 0 {
            return Err(field(
                "limits.max_queued_frames",
                "must be at least 1".to_owned(),
            ));
        }
        if limits.idle_timeout_ms < 100 {
            return Err(field(
                "limits.idle_timeout_ms",
                "must be at least 100 ms".to_owned(),
            ));
        }
        if limits.keep_alive_ms == 0 || limits.keep_alive_ms >= limits.idle_timeout_ms {
            return Err(field(
                "limits.keep_alive_ms",
                format!(
                    "{} must be above 0 and below limits.idle_timeout_ms ({})",
                    limits.keep_alive_ms, limits.idle_timeout_ms
                ),
            ));
        }

        let mut replica = match raw.replication.preset.as_deref() {
            None | Some("wan") => meridian_replica::Config::wan(),
            Some("lan") => meridian_replica::Config::lan(),
            Some(other) => {
                return Err(field(
                    "replication.preset",
                    format!("{other:?} is not a preset: expected \"lan\" or \"wan\""),
                ));
            }
        };
        // QUIC streams lose nothing while a connection lives, so a neighbour that has not
        // acknowledged for a while is slow (its disk, most often), not missing frames: a
        // resend after the presets' 200 ms / 1 s, made for lossy networks, only duplicated
        // thousands of ops whenever a peer's fsync stalled (BENCHMARKS.md section 6). What
        // a link does lose (ops a peer dropped from a full causal buffer, ops misrouted
        // while views of the links disagreed) is repaired after this floor.
        replica.repair_after_ms = replica.repair_after_ms.max(NODE_REPAIR_FLOOR_MS);
        replica.allow_for_sync_interval(fsync.sync_interval());
        if let Some(ms) = raw.replication.gossip_interval_ms {
            replica.gossip_interval_ms = ms;
        }
        if let Some(ms) = raw.replication.repair_after_ms {
            replica.repair_after_ms = ms;
        }
        if let Some(ops) = raw.replication.retention_ops {
            replica.retention_ops = ops;
        }
        if let Some(bytes) = raw.replication.retention_bytes {
            replica.retention_bytes = bytes;
        }
        if let Some(ms) = raw.replication.checkpoint_interval_ms {
            replica.checkpoint_interval_ms = ms;
        }
        for name in &raw.replication.open_history_without {
            let neighbour = topology
                .by_name(name)
                .map(|n| n.id)
                .filter(|&peer| topology.are_linked(id, peer));
            match neighbour {
                Some(peer) => replica.open_history_without.push(peer),
                None => {
                    return Err(field(
                        "replication.open_history_without",
                        format!(
                            "{name:?} is not a neighbour of {:?} in the topology",
                            raw.node
                        ),
                    ));
                }
            }
        }
        let initial_cluster_state = match raw.replication.initial_cluster_state.as_deref() {
            None | Some("existing") => InitialClusterState::Existing,
            Some("new") => InitialClusterState::New,
            Some(other) => {
                return Err(field(
                    "replication.initial_cluster_state",
                    format!("{other:?} is not a cluster state: expected \"new\" or \"existing\""),
                ));
            }
        };
        replica
            .validate()
            .map_err(|e| field("replication", e.to_string()))?;
        let snapshot_frame = replica.snapshot_chunk_bytes as u64 + 64 * 1024;
        if snapshot_frame > u64::from(limits.max_frame_bytes) {
            return Err(field(
                "limits.max_frame_bytes",
                format!(
                    "{} cannot carry a snapshot chunk ({} bytes and framing)",
                    limits.max_frame_bytes, replica.snapshot_chunk_bytes
                ),
            ));
        }

        let clients = raw.clients;
        if clients.max_clients == 0 {
            return Err(field(
                "clients.max_clients",
                "must be at least 1".to_owned(),
            ));
        }
        if clients.max_output_buffer_bytes < 64 * 1024 {
            return Err(field(
                "clients.max_output_buffer_bytes",
                format!(
                    "{} is below the minimum of 65536",
                    clients.max_output_buffer_bytes
                ),
            ));
        }
        if clients.requirepass.as_deref() == Some("") {
            return Err(field(
                "clients.requirepass",
                "must not be empty (leave it out for no password)".to_owned(),
            ));
        }

        Ok(NodeConfig {
            node: raw.node,
            id,
            topology: Arc::new(topology),
            topology_path,
            data_dir: resolve(&raw.data_dir),
            fsync,
            tls: TlsPaths {
                ca: resolve(&raw.tls.ca),
                cert: resolve(&raw.tls.cert),
                key: resolve(&raw.tls.key),
            },
            limits,
            replica,
            clients,
            initial_cluster_state,
        })
    }

    /// This node's role in the topology.
    pub fn role(&self) -> Role {
        self.topology
            .node(self.id)
            .map(|n| n.role)
            .unwrap_or(Role::Leader)
    }

    /// The store's file.
    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("meridian.redb")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_topology(body: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let topo = include_str!("../../../topologies/mesh-3.toml");
        std::fs::write(dir.path().join("mesh-3.toml"), topo)
            .unwrap_or_else(|e| panic!("write: {e}"));
        let path = dir.path().join("node.toml");
        std::fs::write(&path, body).unwrap_or_else(|e| panic!("write: {e}"));
        (dir, path)
    }

    const GOOD: &str = r#"
node = "virginia"
topology = "mesh-3.toml"
data_dir = "data"
fsync = "periodic:50ms"
[tls]
ca = "ca.pem"
cert = "virginia.pem"
key = "virginia-key.pem"
"#;

    #[test]
    fn a_good_file_resolves_paths_next_to_itself() {
        let (dir, path) = with_topology(GOOD);
        let config = NodeConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.id, ActorId(2));
        assert_eq!(config.data_dir, dir.path().join("data"));
        assert_eq!(config.tls.ca, dir.path().join("ca.pem"));
        assert_eq!(
            config.fsync,
            FsyncPolicy::Periodic(Duration::from_millis(50))
        );
        assert_eq!(config.limits, LinkLimits::default());
    }

    #[test]
    fn the_repair_timer_allows_for_the_sync_interval_unless_set() {
        let repair_after = |body: &str| replica_of(body).repair_after_ms;
        assert_eq!(repair_after(GOOD), NODE_REPAIR_FLOOR_MS);
        let slow = GOOD.replace("periodic:50ms", "periodic:2s");
        assert_eq!(repair_after(&slow), 6_000);
        let set = format!("{slow}[replication]\nrepair_after_ms = 500\n");
        assert_eq!(repair_after(&set), 500);
    }

    #[test]
    fn the_checkpoint_interval_defaults_to_the_presets_and_can_be_set() {
        let interval = |body: &str| replica_of(body).checkpoint_interval_ms;
        assert_eq!(
            interval(GOOD),
            meridian_replica::Config::wan().checkpoint_interval_ms
        );
        let set = format!("{GOOD}[replication]\ncheckpoint_interval_ms = 250\n");
        assert_eq!(interval(&set), 250);
    }

    /// The replication settings of a node config that must load.
    fn replica_of(body: &str) -> meridian_replica::Config {
        let (_dir, path) = with_topology(body);
        let config = NodeConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
        config.replica
    }

    fn error_of(body: &str) -> String {
        let (_dir, path) = with_topology(body);
        match NodeConfig::load(&path) {
            Ok(_) => panic!("accepted:\n{body}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_mistake_names_its_field() {
        let cases = [
            (GOOD.replace("virginia\"\n", "lisbon\"\n"), "field `node`"),
            (
                GOOD.replace("mesh-3.toml", "nowhere.toml"),
                "field `topology`",
            ),
            (GOOD.replace("periodic:50ms", "sometimes"), "field `fsync`"),
            (
                format!("{GOOD}\n[limits]\nmax_frame_bytes = 10\n"),
                "limits.max_frame_bytes",
            ),
            (
                format!("{GOOD}\n[limits]\nkeep_alive_ms = 20000\n"),
                "limits.keep_alive_ms",
            ),
            (
                format!("{GOOD}\n[replication]\npreset = \"moon\"\n"),
                "replication.preset",
            ),
            (format!("colour = \"blue\"\n{GOOD}"), "colour"),
            (
                format!("{GOOD}\n[clients]\nmax_clients = 0\n"),
                "clients.max_clients",
            ),
            (
                format!("{GOOD}\n[clients]\nrequirepass = \"\"\n"),
                "clients.requirepass",
            ),
            (
                format!("{GOOD}\n[clients]\nmax_output_buffer_bytes = 10\n"),
                "clients.max_output_buffer_bytes",
            ),
            (format!("{GOOD}\n[clients]\npassword = \"x\"\n"), "password"),
            (
                format!("{GOOD}\n[replication]\nopen_history_without = [\"atlantis\"]\n"),
                "replication.open_history_without",
            ),
            (GOOD.replace("key = \"virginia-key.pem\"\n", ""), "key"),
        ];
        for (body, expected) in cases {
            let message = error_of(&body);
            assert!(
                message.contains(expected),
                "expected {expected:?} in: {message}"
            );
        }
    }
}
