//! Identities and stamps: actors, dots, hybrid logical clock stamps.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A region's numeric actor id: assigned in the topology file, stable forever, never reused.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
pub struct ActorId(pub u32);

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The globally unique name of one operation: its origin and the origin's sequence number
/// (1, 2, 3 … without gaps).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Dot {
    /// The region that issued the operation.
    pub actor: ActorId,
    /// The origin's sequence number of the operation, starting at 1.
    pub seq: u64,
}

impl Dot {
    /// The dot `actor:seq`.
    pub fn new(actor: ActorId, seq: u64) -> Self {
        Dot { actor, seq }
    }
}

impl fmt::Display for Dot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.actor, self.seq)
    }
}

/// A hybrid logical clock stamp; `time` is wall-clock milliseconds.
pub type Hlc = hybrid_clocks::Timestamp<u64>;

/// The order of last-writer-wins: by HLC, then by actor id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Stamp {
    /// The HLC of the write.
    pub hlc: Hlc,
    /// The writer, breaking ties between equal HLCs.
    pub actor: ActorId,
}

/// What every stored entry remembers of the operation that made it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Tag {
    /// The dot of the operation that made the entry.
    pub dot: Dot,
    /// The HLC of that operation.
    pub hlc: Hlc,
}

impl Tag {
    /// The LWW stamp of this entry.
    pub fn stamp(&self) -> Stamp {
        Stamp {
            hlc: self.hlc,
            actor: self.dot.actor,
        }
    }
}

/// The metadata of one operation, as `Keyspace::apply` needs it.
#[derive(Clone, Copy, Debug)]
pub struct OpMeta<'a> {
    /// The operation's dot.
    pub dot: Dot,
    /// The operation's HLC stamp.
    pub hlc: Hlc,
    /// The origin's applied version vector when it wrote: what the writer had observed.
    pub deps: &'a crate::VersionVector,
}

impl OpMeta<'_> {
    /// The tag that entries made by this operation carry.
    pub fn tag(&self) -> Tag {
        Tag {
            dot: self.dot,
            hlc: self.hlc,
        }
    }
}

/// An HLC stamp from its parts, a convenience for tests and simulators.
pub fn hlc(time: u64, count: u32) -> Hlc {
    Hlc {
        epoch: 0,
        time,
        count,
    }
}
