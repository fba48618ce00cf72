//! Meridian: a multi-leader, geo-replicated key-value store on CRDTs.
pub use meridian_crdt as crdt;
pub use meridian_node as node;
pub use meridian_node::{Node, NodeConfig};
pub use meridian_replica as replica;
pub use meridian_sim as sim;
