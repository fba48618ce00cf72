//! Operations and the messages that carry them between neighbours.

use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::{ActorId, Dot, Hlc, Payload, VersionVector};
use serde::{Deserialize, Serialize};

/// Protocol version spoken in [`Message::Hello`]. A peer with another version is refused.
pub const PROTOCOL_VERSION: u32 = 7;

/// The largest sequence number a peer may name: far beyond any real history (a node writing a
/// million ops a second for a hundred thousand years stays below it), and far enough from
/// `u64::MAX` that no counter arithmetic on it can overflow.
pub const MAX_SEQ: u64 = 1 << 62;

/// One write, as it travels between regions.
///
/// Invariants kept by the origin: `seq` counts the origin's operations 1, 2, 3 … without
/// gaps; `deps` is the origin's applied version vector when it wrote (so
/// `deps[origin] == seq - 1`); the payload was built from the origin's state at that moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// The region that accepted the write.
    pub origin: ActorId,
    /// Position in the origin's sequence of writes, from 1.
    pub seq: u64,
    /// Hybrid logical clock stamp, used for last-write-wins order.
    pub hlc: Hlc,
    /// The origin's applied version vector when it wrote: the causal context.
    pub deps: VersionVector,
    /// The key written.
    pub key: Bytes,
    /// What the write does to the key.
    pub payload: Payload,
    /// The origin's next op belongs to the same unit (a transaction, a multi-key write):
    /// every region applies a unit's ops together, once it holds all of them, so that no
    /// read sees part of one. The last op of a unit, and every op outside one, says `false`.
    #[serde(default)]
    pub continues: bool,
}

/// Format version of [`Op::encode`].
pub const OP_FORMAT_VERSION: u8 = 2;

/// Stored or received op bytes that are not an op.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpDecodeError {
    /// No bytes at all.
    #[error("empty op record")]
    Empty,
    /// Written by another format version.
    #[error("op format version {0} is not known (this build reads {OP_FORMAT_VERSION})")]
    UnknownVersion(u8),
    /// The body does not decode.
    #[error("op does not decode: {0}")]
    Body(String),
}

impl Op {
    /// The op as stored in the log: a format version byte, then the MessagePack body.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![OP_FORMAT_VERSION];
        // Encoding into a Vec cannot fail for these plain data types.
        if rmp_serde::encode::write(&mut bytes, self).is_err() {
            bytes.truncate(1);
        }
        bytes
    }

    /// Length of [`Op::encode`]'s output, without allocating it.
    pub fn encoded_len(&self) -> usize {
        struct Count(usize);
        impl std::io::Write for Count {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0 += buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut count = Count(1);
        let _ = rmp_serde::encode::write(&mut count, self);
        count.0
    }

    /// Reads what [`Op::encode`] wrote. Never panics on any input.
    pub fn decode(bytes: &[u8]) -> Result<Op, OpDecodeError> {
        let (&version, body) = bytes.split_first().ok_or(OpDecodeError::Empty)?;
        if version != OP_FORMAT_VERSION {
            return Err(OpDecodeError::UnknownVersion(version));
        }
        rmp_serde::from_slice(body).map_err(|e| OpDecodeError::Body(e.to_string()))
    }

    /// The op's globally unique identity.
    pub fn dot(&self) -> Dot {
        Dot {
            actor: self.origin,
            seq: self.seq,
        }
    }
}

/// A row of the matrix clock: what one node holds durably and what it has applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// Ops held durably in the node's log (contiguous per origin).
    pub received: VersionVector,
    /// Ops applied to the node's durable state (contiguous per origin, causally closed),
    /// lowered to the `deps` of the node's own ops not yet durable: every op the node still
    /// sends or writes has `deps` covering it.
    pub applied: VersionVector,
}

impl Row {
    /// Pointwise maximum: rows only grow, so merging two reports keeps the newest.
    pub fn merge(&mut self, other: &Row) {
        self.received.merge(&other.received);
        self.applied.merge(&other.applied);
    }

    /// Whether `other` would add nothing to this row.
    pub fn covers(&self, other: &Row) -> bool {
        self.received.dominates(&other.received) && self.applied.dominates(&other.applied)
    }
}

/// A node's report of which of its links are up, versioned so the newest one wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkAdvert {
    /// The reporting node.
    pub node: ActorId,
    /// Increases every time the node's set of up links changes.
    pub version: u64,
    /// Neighbours whose link is up, sorted.
    pub up: Vec<ActorId>,
}

/// One piece of a state snapshot: what a neighbour sends instead of ops its log no longer
/// holds. The receiver merges the whole snapshot state-based once the last chunk arrives,
/// then takes the log tail after `applied`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotChunk {
    /// Identifies one snapshot; a chunk of another id starts over.
    pub id: u64,
    /// Position of this chunk, from 0.
    pub index: u32,
    /// Whether this is the last chunk.
    pub last: bool,
    /// The sender's applied vector: everything the snapshot's state reflects.
    pub applied: VersionVector,
    /// The newest HLC stamp among the ops the state reflects (as far as the sender knows):
    /// the receiver's clock observes it as it would the ops' own stamps.
    pub newest: Option<Hlc>,
    /// Keys with their whole state (`Keyspace::encode_key`), sorted, each key in one chunk.
    pub entries: Vec<(Bytes, Bytes)>,
}

/// What neighbours say to each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// First message on a link, in both directions.
    Hello {
        /// Cluster name from the topology file.
        cluster: String,
        /// The sender.
        node: ActorId,
        /// [`PROTOCOL_VERSION`] of the sender.
        protocol: u32,
        /// What the sender holds durably: the other side sends what is missing.
        received: VersionVector,
    },
    /// A batch of operations, in origin-sequence order per origin.
    Ops(Vec<Arc<Op>>),
    /// Part of a state snapshot, for a peer that needs ops below our log's horizon.
    Snapshot(SnapshotChunk),
    /// Periodic anti-entropy and acknowledgement gossip: matrix-clock rows (the sender's own
    /// and the newest it knows of others), link-state adverts, and what the sender has taken.
    Gossip {
        /// Rows of the matrix clock, by node.
        rows: Vec<(ActorId, Row)>,
        /// Link-state adverts, by node.
        links: Vec<LinkAdvert>,
        /// The ops the sender has taken into its log, synced or not yet: what releases the
        /// receiver's send window on this link. (Its row's `received` says what it holds
        /// durably, which under a periodic fsync advances once a sync interval: a window
        /// released by that alone carried one window of ops per interval.)
        accepted: VersionVector,
    },
    /// A pub/sub message (PUBLISH), sent once along its origin's forwarding tree to every
    /// region. Neither logged nor stored: best effort, as in Redis.
    Publish {
        /// The region it was published at.
        origin: ActorId,
        /// The origin's number for it, increasing (dedup: a region drops one it has passed).
        seq: u64,
        /// The channel.
        channel: Bytes,
        /// The message.
        message: Bytes,
    },
}

impl Message {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello { .. } => "hello",
            Message::Ops(_) => "ops",
            Message::Snapshot(_) => "snapshot",
            Message::Gossip { .. } => "gossip",
            Message::Publish { .. } => "publish",
        }
    }
}
