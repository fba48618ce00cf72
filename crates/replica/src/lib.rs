//! The replica state machine of Meridian, without IO.
//!
//! A [`Replica`] is one region's copy of the keyspace. Local writes become operations
//! `{origin, seq, hlc, deps, key, payload}`; operations travel between neighbours along
//! per-origin shortest-path trees of the topology; each replica persists what it receives,
//! drops what it has seen (loop detection by `(origin, seq)`), holds back what arrives before
//! its causal dependencies, and applies the rest. Neighbours gossip version vectors, which form
//! a matrix clock: it drives repair of lost frames, flow control, per-peer lag and stability.
//! Time, wall-clock time and randomness come in as parameters; every effect leaves as an
//! [`Output`], so the same code runs in the deterministic simulator and in the real node.

#![warn(missing_docs)]

mod clock;
mod config;
mod link;
mod log;
mod matrix;
mod op;
mod output;
mod replica;
mod stats;
pub mod topology;

pub use config::{Config, ConfigError, Limits};
pub use link::{LinkState, LinkStatus};
pub use log::{LogGap, OpLog};
pub use matrix::{LinkView, MatrixClock};
pub use op::{
    LinkAdvert, MAX_SEQ, Message, OP_FORMAT_VERSION, Op, OpDecodeError, PROTOCOL_VERSION, Row,
    SnapshotChunk,
};
pub use output::{HistoryWait, NewError, Output, PeerError, WriteError};
pub use replica::{Millis, Replica, Restored};
pub use stats::Stats;
pub use topology::{Role, Routes, Topology};
