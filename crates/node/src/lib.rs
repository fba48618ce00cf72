//! The Meridian node: the tokio driver around the sans-IO replica, as quinn drives
//! quinn-proto. A [`Node`] owns one region's [`meridian_replica::Replica`] behind a mutex, a
//! redb store behind a group-commit writer thread, one quinn endpoint whose connections to
//! the topology's neighbours carry length-delimited frames under mutual TLS, the replica's
//! timers, admin HTTP and the change feed. Inputs (client writes, frames, store reports,
//! timers) are handed to the replica and its outputs carried out in order: persist, then
//! send and acknowledge.

#![warn(missing_docs)]

mod ack;
mod admin;
pub mod cluster;
pub mod config;
mod driver;
mod expiry;
pub mod frame;
mod node;
mod ops;
pub mod ports;
mod resp;
mod sequences;
pub use sequences::PendingWrite;
mod status;
pub mod tls;
mod transport;

pub use ack::{AckError, Acknowledgement};
pub use config::{
    ClientLimits, ConfigError, InitialClusterState, LinkLimits, NodeConfig, TlsPaths,
};
pub use driver::{Change, Edit, RefusalRecord};
pub use node::{
    Addresses, FeedError, Node, NodeError, Siblings, StartError, Subscription, WriteReceipt,
};
pub use status::{LinkReport, Readiness, RefusalReport, Status};
