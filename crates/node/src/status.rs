//! What `/status` shows and `meridian status` prints: the node, its role, its vectors and
//! every link with its state, how far behind the peer is and the link's last error.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use meridian_crdt::VersionVector;
use meridian_replica::{LinkState, WriteError};
use serde::{Deserialize, Serialize};

use crate::driver::Shared;

/// A node's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The node's name.
    pub node: String,
    /// Its actor id.
    pub id: u32,
    /// The cluster's name.
    pub cluster: String,
    /// The cluster's id (from the certificates).
    pub cluster_id: String,
    /// `leader`, `replica` or `delayed`.
    pub role: String,
    /// Ops applied to the state, by node name.
    pub applied: BTreeMap<String, u64>,
    /// Ops durable in the log, by node name.
    pub received: BTreeMap<String, u64>,
    /// Digest of the state.
    pub digest: String,
    /// Keys holding a value.
    pub keys: usize,
    /// Why the store stopped taking writes, if it did.
    pub store_failure: Option<String>,
    /// What a node with a new store waits for before it takes writes (it must not reuse a
    /// sequence number of its own), if it waits.
    #[serde(default)]
    pub recovering: Option<String>,
    /// Whether the node serves what its role serves (`/ready`): a leader that takes writes,
    /// a replica whose store works.
    #[serde(default)]
    pub ready: bool,
    /// Each link to a neighbour.
    pub links: Vec<LinkReport>,
    /// The latest refused connections.
    pub refusals: Vec<RefusalReport>,
    /// Op counters since start.
    pub counters: BTreeMap<String, u64>,
}

/// One link as status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkReport {
    /// The neighbour's name.
    pub peer: String,
    /// `up`, `down` or `catching-up`.
    pub state: String,
    /// Ops this node holds that the peer is not known to hold.
    pub behind: u64,
    /// Ops sent, not yet acknowledged.
    pub in_flight: u64,
    /// Connections made so far.
    pub connects: u64,
    /// Cut by the operator.
    pub disabled: bool,
    /// The newest problem on the link.
    pub last_error: Option<String>,
    /// UDP payload bytes sent on the link since the node started (QUIC and TLS included).
    pub wire_bytes_sent: u64,
    /// UDP payload bytes received on the link since the node started.
    pub wire_bytes_received: u64,
}

/// A connection that was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalReport {
    /// The remote address.
    pub remote: String,
    /// A short label.
    pub kind: String,
    /// The reason.
    pub reason: String,
}

/// Whether a node serves what its role serves: what `/ready` answers. Liveness is another
/// question (`/health`: the process works, and only a failed store, which needs a restart,
/// makes it fail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// A leader that takes writes.
    Writable,
    /// A read or delayed replica whose store works: it serves reads and refuses writes by
    /// role (READONLY), which is what it is for.
    ReadOnly,
    /// Not ready, and why: a leader still learning its own history (its writes get
    /// TRYAGAIN), or a failed store (MISCONF; it needs a restart).
    NotReady(String),
}

impl Readiness {
    pub(crate) fn of(replica: &meridian_replica::Replica) -> Readiness {
        if let Some(reason) = replica.store_failure() {
            return Readiness::NotReady(format!("store failed: {reason}"));
        }
        match replica.write_refusal() {
            None => Readiness::Writable,
            Some(WriteError::ReadOnly) => Readiness::ReadOnly,
            Some(refused) => Readiness::NotReady(refused.to_string()),
        }
    }

    /// Whether the node is ready for its role.
    pub fn is_ready(&self) -> bool {
        !matches!(self, Readiness::NotReady(_))
    }
}

impl std::fmt::Display for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Readiness::Writable => f.write_str("ready: takes writes"),
            Readiness::ReadOnly => f.write_str("ready: read-only replica, serves reads"),
            Readiness::NotReady(why) => write!(f, "not ready: {why}"),
        }
    }
}

impl Status {
    pub(crate) fn of(shared: &Shared) -> Status {
        let core = shared.read();
        let r = &core.replica;
        let topology = &shared.config.topology;
        let name = |id| {
            topology
                .node(id)
                .map(|n| n.name.clone())
                .unwrap_or_else(|| id.to_string())
        };
        let by_name = |v: &VersionVector| v.iter().map(|(id, seq)| (name(id), seq)).collect();
        let links = r
            .links()
            .map(|(peer, link)| {
                let info = core.link_info.get(&peer).cloned().unwrap_or_default();
                let current = core.links.get(&peer).map(|l| l.conn.stats());
                let (tx, rx) = current.map_or((0, 0), |s| (s.udp_tx.bytes, s.udp_rx.bytes));
                let state = match link.state {
                    LinkState::Up if link.catching_up => "catching-up",
                    LinkState::Up => "up",
                    LinkState::Handshaking => "handshaking",
                    LinkState::Down => "down",
                };
                LinkReport {
                    peer: name(peer),
                    state: state.to_owned(),
                    behind: r.lag(peer).unwrap_or(link.behind),
                    in_flight: link.in_flight,
                    connects: info.connects,
                    disabled: info.disabled,
                    last_error: info.last_error,
                    wire_bytes_sent: info.wire_sent + tx,
                    wire_bytes_received: info.wire_received + rx,
                }
            })
            .collect();
        let s = r.stats();
        let counters = [
            ("local_writes", s.local_writes),
            ("ops_received", s.ops_received),
            ("duplicates", s.duplicates),
            ("ops_sent", s.ops_sent),
            ("repairs", s.repairs),
            ("snapshots_sent", s.snapshots_sent),
            ("snapshots_merged", s.snapshots_merged),
            ("truncated", s.truncated),
            ("protocol_errors", s.protocol_errors),
            ("history_found_behind", s.history_found_behind),
            ("conflicts_lww", s.conflicts_lww),
            ("conflicts_mv", s.conflicts_mv),
            ("conflicts_type", s.conflicts_type),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Status {
            node: shared.config.node.clone(),
            id: shared.config.id.0,
            cluster: topology.cluster.clone(),
            cluster_id: shared.cluster_id().hyphenated().to_string(),
            role: r.role().to_string(),
            applied: by_name(r.applied()),
            received: by_name(r.received()),
            digest: r.digest().to_string(),
            keys: r.keyspace().len(),
            store_failure: r.store_failure().map(str::to_owned),
            recovering: r.history_wait().map(|w| w.to_string()),
            ready: Readiness::of(r).is_ready(),
            links,
            refusals: core
                .refusals
                .iter()
                .map(|f| RefusalReport {
                    remote: f.remote.to_string(),
                    kind: f.kind.to_owned(),
                    reason: f.reason.clone(),
                })
                .collect(),
            counters,
        }
    }

    /// The status as a few lines and a table of links, for a terminal.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let vector = |v: &BTreeMap<String, u64>| {
            v.iter()
                .map(|(n, s)| format!("{n}={s}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let _ = writeln!(
            out,
            "node     {} (id {}, {})",
            self.node, self.id, self.role
        );
        let _ = writeln!(out, "cluster  {} ({})", self.cluster, self.cluster_id);
        let _ = writeln!(out, "applied  {}", vector(&self.applied));
        let _ = writeln!(out, "keys     {}   digest {}", self.keys, self.digest);
        if let Some(f) = &self.store_failure {
            let _ = writeln!(out, "STORE FAILED: {f}");
        }
        if let Some(w) = &self.recovering {
            let _ = writeln!(out, "not taking writes yet: {w}");
        }
        let _ = writeln!(out, "ready    {}", if self.ready { "yes" } else { "no" });
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<16} {:<12} {:>10} {:>10} {:>8}  last error",
            "peer", "state", "behind", "in flight", "connects"
        );
        for l in &self.links {
            let state = if l.disabled {
                format!("{} (cut)", l.state)
            } else {
                l.state.clone()
            };
            let _ = writeln!(
                out,
                "{:<16} {:<12} {:>10} {:>10} {:>8}  {}",
                l.peer,
                state,
                l.behind,
                l.in_flight,
                l.connects,
                l.last_error.as_deref().unwrap_or("-")
            );
        }
        for f in &self.refusals {
            let _ = writeln!(out, "refused {} ({}): {}", f.remote, f.kind, f.reason);
        }
        out
    }
}
