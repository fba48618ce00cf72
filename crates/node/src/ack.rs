//! Cross-region acknowledgement: how many regions hold a write durably, read off the matrix
//! clock (each node gossips its durable vector and relays the newest it knows of the others).

use std::fmt;
use std::num::NonZeroUsize;
use std::time::Duration;

use meridian_crdt::{ActorId, Dot};
use thiserror::Error;

use crate::driver::Shared;

/// How many regions must hold a write durably before it counts as acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acknowledgement {
    /// This node alone: what every write already waits for.
    Local,
    /// At least this many nodes, this one included.
    Regions(NonZeroUsize),
    /// More than half of the topology's nodes.
    Majority,
    /// Every node of the topology, replicas included.
    All,
    /// The named node (and this one).
    Region(String),
}

impl fmt::Display for Acknowledgement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Acknowledgement::Local => f.write_str("local"),
            Acknowledgement::Regions(n) => write!(f, "{n} regions"),
            Acknowledgement::Majority => f.write_str("a majority"),
            Acknowledgement::All => f.write_str("every region"),
            Acknowledgement::Region(name) => write!(f, "region {name}"),
        }
    }
}

/// A write not acknowledged at the level asked for. It is never rolled back: it stays durable
/// where it is and keeps replicating.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AckError {
    /// Not in time; `holding` are the nodes known to hold it durably.
    #[error("not held by {wanted} within {waited:?}: held by {} of {nodes} ({})", holding.len(), holding.join(", "))]
    Timeout {
        /// The level asked for.
        wanted: Acknowledgement,
        /// How long it waited.
        waited: Duration,
        /// The nodes known to hold the write durably.
        holding: Vec<String>,
        /// Nodes in the topology.
        nodes: usize,
    },
    /// The named region is not in the topology.
    #[error("no region {0:?} in the topology")]
    UnknownRegion(String),
    /// The node shut down while waiting.
    #[error("the node shut down")]
    ShutDown,
}

/// Whether the nodes in `holding` satisfy `level`, in a topology of `nodes` nodes.
fn satisfied(
    level: &Acknowledgement,
    holding: &[ActorId],
    nodes: usize,
    named: Option<ActorId>,
) -> bool {
    match level {
        Acknowledgement::Local => true,
        Acknowledgement::Regions(n) => holding.len() >= n.get(),
        Acknowledgement::Majority => holding.len() * 2 > nodes,
        Acknowledgement::All => holding.len() >= nodes,
        Acknowledgement::Region(_) => named.is_some_and(|id| holding.contains(&id)),
    }
}

/// Waits until `dot` is durable at `level`, or `timeout` passed.
pub(crate) async fn wait(
    shared: &Shared,
    dot: Dot,
    level: &Acknowledgement,
    timeout: Duration,
) -> Result<(), AckError> {
    let topology = &shared.config.topology;
    let nodes = topology.ids().count();
    let named = match level {
        Acknowledgement::Region(name) => Some(
            topology
                .by_name(name)
                .map(|n| n.id)
                .ok_or_else(|| AckError::UnknownRegion(name.clone()))?,
        ),
        _ => None,
    };
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // Registered before the check, so that progress made in between wakes it.
        let progress = shared.progress.notified();
        tokio::pin!(progress);
        progress.as_mut().enable();
        let holding: Vec<ActorId> = shared.read().replica.matrix().durable_at(dot).collect();
        if satisfied(level, &holding, nodes, named) {
            return Ok(());
        }
        tokio::select! {
            () = &mut progress => {}
            () = shared.shutdown.cancelled() => return Err(AckError::ShutDown),
            () = tokio::time::sleep_until(deadline) => {
                let holding = holding
                    .iter()
                    .map(|id| topology.node(*id).map_or_else(|| id.to_string(), |n| n.name.clone()))
                    .collect();
                return Err(AckError::Timeout { wanted: level.clone(), waited: timeout, holding, nodes });
            }
        }
    }
}
