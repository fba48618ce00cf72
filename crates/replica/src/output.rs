//! What leaves the replica: outputs for the driver and the errors of each input.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::seq::Delta;
use meridian_crdt::{ActorId, Dot, PrepareError, StateDecodeError, VersionVector};
use thiserror::Error;

use crate::op::{MAX_SEQ, Message, Op, PROTOCOL_VERSION};

/// An effect for the driver to carry out, in order.
#[derive(Debug, Clone)]
pub enum Output {
    /// Write this batch durably in one transaction (and one fsync under a strict policy), then
    /// call [`crate::Replica::handle_persisted`] with `batch`.
    Persist {
        /// Identifies the batch in `handle_persisted`.
        batch: u64,
        /// Ops to append to the log, in acceptance order.
        ops: Vec<Arc<Op>>,
        /// Keys whose state changed since the last batch, with their whole state
        /// (`Keyspace::encode_key`), or `None` when the key now holds nothing.
        state: Vec<(Bytes, Option<Vec<u8>>)>,
        /// The applied vector the state corresponds to (store it beside the state).
        applied: VersionVector,
        /// Log entries covered by this vector can be removed: stable, past the retention,
        /// or covered by a snapshot. Store it as the log's base.
        truncate: Option<VersionVector>,
    },
    /// Send a message to a neighbour.
    Send {
        /// The neighbour.
        to: ActorId,
        /// What to send.
        msg: Message,
    },
    /// A local write is durable: acknowledge it to the client.
    Ack(Dot),
    /// An op was applied to the keyspace (local or remote): the change feed.
    Applied {
        /// The op.
        op: Arc<Op>,
        /// For a list or text key, what a reader saw change, by position, in order.
        deltas: Vec<Delta>,
    },
    /// A state snapshot from a neighbour was merged: the applied vector jumped to cover
    /// `applied` without individual ops, and these keys changed (the change feed).
    Merged {
        /// The snapshot's vector, now covered by ours.
        applied: VersionVector,
        /// Keys whose value or metadata changed.
        keys: Vec<Bytes>,
    },
    /// A pub/sub message reached this region (published here, or forwarded to it): deliver
    /// it to this region's subscribers. Each region gets each message once.
    Published {
        /// The region it was published at.
        origin: ActorId,
        /// The origin's number for it.
        seq: u64,
        /// The channel.
        channel: Bytes,
        /// The message.
        message: Bytes,
    },
    /// The link to a neighbour must be closed: it broke the protocol.
    CloseLink {
        /// The neighbour.
        peer: ActorId,
        /// Why.
        error: PeerError,
    },
}

/// A local write that was refused. The state did not change.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WriteError {
    /// This node's store is new (or may have lost its latest writes) and it has not yet
    /// learnt from every neighbour how far its own history goes, or not yet fetched it back;
    /// writing now could reuse a sequence number. The reason says what it waits for.
    #[error("this region is recovering its own history from its peers: {0}")]
    Recovering(HistoryWait),
    /// This node's store failed (a write, an fsync, a full disk): it accepts no write until
    /// it is restarted on a working store. Reads go on.
    #[error("this region's store failed and accepts no writes: {0}")]
    StoreFailed(String),
    /// This node is a read-only or delayed replica.
    #[error("this node is a read-only replica")]
    ReadOnly,
    /// A key, pub/sub channel or message longer than every region takes from its peers
    /// (`Limits`): refused here, where a peer would refuse the op and close its link.
    #[error("{what} of {len} bytes is over the limit of {limit} bytes")]
    TooLong {
        /// What is too long.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The command does not fit the key's current value.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
}

/// What a node with a closed history gate still waits for (`Replica::history_wait`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryWait {
    /// Neighbours whose handshake has not been heard since this store was created, with their
    /// names in the topology file.
    pub neighbours: Vec<(ActorId, String)>,
    /// The highest seq of this node's own ops that any node is known to hold.
    pub known: u64,
    /// How far this node holds its own ops again.
    pub held: u64,
}

impl fmt::Display for HistoryWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.neighbours.is_empty() {
            f.write_str("waiting for the handshake of neighbour")?;
            if self.neighbours.len() > 1 {
                f.write_str("s")?;
            }
            for (i, (id, name)) in self.neighbours.iter().enumerate() {
                let sep = if i == 0 { " " } else { ", " };
                write!(f, "{sep}{name} (id {id})")?;
            }
            f.write_str(
                " (one gone for good can be named in open_history_without, at the risk of reusing sequence numbers)",
            )?;
            if self.known > self.held {
                f.write_str("; ")?;
            }
        }
        if self.known > self.held {
            write!(
                f,
                "fetching its own ops {}..={} back from its peers",
                self.held + 1,
                self.known
            )?;
        }
        Ok(())
    }
}

/// A neighbour broke the protocol. The link is closed; the state did not change beyond the
/// valid messages before the bad one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PeerError {
    /// The peer is not in our topology file.
    #[error("node {0} is not in the topology file")]
    UnknownNode(ActorId),
    /// The peer is a node of the topology but not our neighbour.
    #[error("node {0} is not linked to this node in the topology file")]
    NotANeighbour(ActorId),
    /// The peer's Hello names another cluster.
    #[error("peer belongs to cluster {theirs:?}, this node to {ours:?}")]
    WrongCluster {
        /// Our cluster name.
        ours: String,
        /// Theirs.
        theirs: String,
    },
    /// The peer speaks another protocol version.
    #[error("peer speaks protocol {theirs}, this node {PROTOCOL_VERSION}")]
    WrongProtocol {
        /// Their version.
        theirs: u32,
    },
    /// The peer's Hello claims to be another node than the link's.
    #[error("peer introduced itself as node {claimed}, expected node {expected}")]
    WrongIdentity {
        /// Who the link is to.
        expected: ActorId,
        /// Who the Hello says.
        claimed: ActorId,
    },
    /// A message other than Hello arrived before the handshake.
    #[error("{0} message before the handshake")]
    BeforeHello(&'static str),
    /// A frame held more ops than the limit.
    #[error("frame holds {count} ops, the limit is {limit}")]
    TooManyOps {
        /// Ops in the frame.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A state snapshot that cannot be decoded or does not fit.
    #[error("bad snapshot: {0}")]
    BadSnapshot(String),
    /// A pub/sub message whose origin is unknown or whose channel or body is over the limit.
    #[error("invalid pub/sub message from origin {origin}: {reason}")]
    InvalidPublish {
        /// Its claimed origin.
        origin: ActorId,
        /// What is wrong.
        reason: &'static str,
    },
    /// An op that cannot be valid.
    #[error("invalid op {origin}:{seq}: {reason}")]
    InvalidOp {
        /// Its origin.
        origin: ActorId,
        /// Its seq.
        seq: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The replica could not be created.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NewError {
    /// `me` is not a node of the topology.
    #[error("node {0} is not in the topology file")]
    NotInTopology(ActorId),
    /// The config is inconsistent.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A key's record in the store's state table does not decode (corrupt, or written by
    /// another format). No replica was made.
    #[error("stored state: the record of key {key} in table state does not decode: {reason}")]
    State {
        /// The key, printable: UTF-8 when it is, otherwise `0x` and hex.
        key: String,
        /// What is wrong with the bytes.
        reason: StateDecodeError,
    },
    /// A stored vector or log op names a seq beyond [`crate::MAX_SEQ`]: the store is corrupt.
    /// No replica was made.
    #[error("stored {record}: node {origin} at seq {seq}, beyond the largest seq {MAX_SEQ}")]
    StoredSeq {
        /// Which record: `applied vector`, `log base` or `log`.
        record: &'static str,
        /// The node the seq belongs to.
        origin: ActorId,
        /// The seq.
        seq: u64,
    },
    /// `Config::open_history_without` names a node that is not a neighbour of this one.
    #[error(
        "open_history_without names node {0}, which is not a neighbour of this node in the topology file"
    )]
    HistoryOverride(ActorId),
    /// A recovered log has a gap.
    #[error("recovered log: {0}")]
    Log(#[from] crate::log::LogGap),
}

/// A key as error messages show it: UTF-8 when it is printable, otherwise `0x` and hex (as the
/// store shows keys).
pub(crate) fn printable_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(s) if !s.chars().any(char::is_control) => s.to_owned(),
        _ => {
            let mut out = String::with_capacity(2 + 2 * key.len());
            out.push_str("0x");
            for b in key {
                out.push_str(&format!("{b:02x}"));
            }
            out
        }
    }
}
