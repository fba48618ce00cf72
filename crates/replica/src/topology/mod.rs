//! The cluster's topology: which nodes exist, what each may do, and which pairs are linked.
//!
//! Every node reads the same topology file (format in `docs/topology.md`), so every node knows
//! the same [`Topology`]. From it and a view of which links are up, each node computes the same
//! shortest-path [`Tree`] per origin ([`Routes`]): a node forwards an op of origin `O` only to
//! its children in `O`'s tree, so in steady state no node receives an op twice.
//!
//! This module reads no files: [`Topology::parse`] takes the text, and the file name only for
//! its error messages.

mod parse;
mod tree;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use meridian_crdt::ActorId;
use thiserror::Error;

pub use tree::{DEFAULT_LATENCY_MS, Routes, Tree};

/// A validated cluster description.
///
/// Invariants after [`Topology::parse`]: names, actor ids and socket addresses are unique; ids
/// are at least 1; at least one node is a leader; the links join every node to every other
/// (the graph is connected); `links` holds each undirected link once, with `a < b`, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The cluster's name (the cluster id, a UUID, lives in each store).
    pub cluster: String,
    /// How the links were given.
    pub shape: Shape,
    /// The centre of a star; `None` for every other shape.
    pub hub: Option<String>,
    /// The nodes, in file order (a ring and a chain follow this order).
    pub nodes: Vec<NodeSpec>,
    /// The resolved undirected links, `a < b` by actor id, sorted by `(a, b)`.
    pub links: Vec<Link>,
}

/// How a topology file gives its links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Every pair of nodes is linked.
    Mesh,
    /// Each node is linked to the next in file order, and the last to the first (3 nodes or more).
    Ring,
    /// The hub is linked to every other node.
    Star,
    /// Each node but the root is linked to the parent it names.
    Tree,
    /// Each node is linked to the next in file order.
    Chain,
    /// The `[[link]]` entries are the graph.
    Links,
}

impl Shape {
    /// The name used in topology files.
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Mesh => "mesh",
            Shape::Ring => "ring",
            Shape::Star => "star",
            Shape::Tree => "tree",
            Shape::Chain => "chain",
            Shape::Links => "links",
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a node may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Accepts reads and writes.
    Leader,
    /// Read-only: rejects writes.
    Replica,
    /// Read-only; stores what it receives at once and applies it after [`NodeSpec::delay`].
    Delayed,
}

impl Role {
    /// The name used in topology files.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Replica => "replica",
            Role::Delayed => "delayed",
        }
    }

    /// Whether clients may write on a node of this role.
    pub fn accepts_writes(self) -> bool {
        self == Role::Leader
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One node (one region) of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// Unique name; also the name in the node's certificate.
    pub name: String,
    /// Actor id: stable forever, never reused, at least 1.
    pub id: ActorId,
    /// What the node may do.
    pub role: Role,
    /// How long a delayed replica waits before applying what it received; `Some` exactly
    /// when `role` is [`Role::Delayed`].
    pub delay: Option<Duration>,
    /// The parent's name in a [`Shape::Tree`]; `None` for the root and for other shapes.
    pub parent: Option<String>,
    /// Replication links (QUIC).
    pub quic: SocketAddr,
    /// Redis protocol.
    pub resp: SocketAddr,
    /// HTTP: `/status`, `/metrics`, `/health`.
    pub admin: SocketAddr,
}

/// One of the three addresses of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `quic`: replication links.
    Quic,
    /// `resp`: Redis protocol.
    Resp,
    /// `admin`: HTTP.
    Admin,
}

impl Endpoint {
    /// The field's name in topology files.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Quic => "quic",
            Endpoint::Resp => "resp",
            Endpoint::Admin => "admin",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl NodeSpec {
    /// The address of one endpoint.
    pub fn addr(&self, endpoint: Endpoint) -> SocketAddr {
        match endpoint {
            Endpoint::Quic => self.quic,
            Endpoint::Resp => self.resp,
            Endpoint::Admin => self.admin,
        }
    }
}

/// An undirected link between two nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Link {
    /// The end with the smaller actor id.
    pub a: ActorId,
    /// The end with the larger actor id.
    pub b: ActorId,
    /// One-way latency for the simulator and the route weights, when the file gives one.
    pub latency_ms: Option<u32>,
}

impl Topology {
    /// Parses and validates a topology file. `file` is only used in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Topology, TopologyError> {
        parse::parse(text, file)
    }

    /// The node with this actor id.
    pub fn node(&self, id: ActorId) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The node with this name.
    pub fn by_name(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Every node's actor id, ascending.
    pub fn ids(&self) -> impl Iterator<Item = ActorId> + '_ {
        let mut ids: Vec<ActorId> = self.nodes.iter().map(|n| n.id).collect();
        ids.sort_unstable();
        ids.into_iter()
    }

    /// The nodes linked to `id`, ascending.
    pub fn neighbours(&self, id: ActorId) -> impl Iterator<Item = ActorId> + '_ {
        let mut out: Vec<ActorId> = self
            .links
            .iter()
            .filter_map(|l| match (l.a == id, l.b == id) {
                (true, false) => Some(l.b),
                (false, true) => Some(l.a),
                _ => None,
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out.into_iter()
    }

    /// Whether `a` and `b` are linked (in either order).
    pub fn are_linked(&self, a: ActorId, b: ActorId) -> bool {
        self.link(a, b).is_some()
    }

    /// The latency the file gives for the link between `a` and `b`; `None` when they are not
    /// linked or the file gives no latency.
    pub fn latency_ms(&self, a: ActorId, b: ActorId) -> Option<u32> {
        self.link(a, b).and_then(|l| l.latency_ms)
    }

    /// The link between `a` and `b`, in either order.
    pub fn link(&self, a: ActorId, b: ActorId) -> Option<&Link> {
        let key = (a.min(b), a.max(b));
        self.links
            .binary_search_by(|l| (l.a, l.b).cmp(&key))
            .ok()
            .map(|i| &self.links[i])
    }
}

/// Why a topology file was refused. Each message names the file, the node when one is at fault,
/// and how to fix it. Nothing is returned but the error: there is no partial topology.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// The text is not TOML. `message` is the parser's, with line and column.
    #[error("{file}: not valid TOML: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// The TOML parser's message.
        message: String,
    },
    /// A field that the format does not know (names are never silently ignored).
    #[error(
        "{file}: {place}: unknown field `{field}`; the fields allowed here are {known} (see docs/topology.md)"
    )]
    UnknownField {
        /// The file.
        file: String,
        /// Where: `the top level`, `node "lagos"`, `[[link]] #2`.
        place: String,
        /// The unknown field.
        field: String,
        /// The fields allowed at that place.
        known: String,
    },
    /// A required field is absent.
    #[error("{file}: {place}: missing field `{field}`; add it, e.g. {example}")]
    MissingField {
        /// The file.
        file: String,
        /// Where: `the top level`, `node "lagos"`, `[[node]] #3`, `[[link]] #2`.
        place: String,
        /// The missing field.
        field: &'static str,
        /// An example line that would fix it.
        example: &'static str,
    },
    /// A field holds a value of the wrong type.
    #[error("{file}: {place}: {message}; fix the value (see docs/topology.md)")]
    InvalidValue {
        /// The file.
        file: String,
        /// Where the value is.
        place: String,
        /// The TOML deserializer's message.
        message: String,
    },
    /// `cluster = ""`.
    #[error("{file}: `cluster` is empty; give the cluster a name, e.g. cluster = \"east-africa\"")]
    EmptyCluster {
        /// The file.
        file: String,
    },
    /// `shape` is not one the format knows.
    #[error(
        "{file}: shape \"{shape}\" is not known; use one of mesh, ring, star, tree, chain, links"
    )]
    UnknownShape {
        /// The file.
        file: String,
        /// The shape given.
        shape: String,
    },
    /// There is no `[[node]]`.
    #[error("{file}: the file has no [[node]]; describe at least one node")]
    NoNodes {
        /// The file.
        file: String,
    },
    /// `name = ""`.
    #[error(
        "{file}: [[node]] #{index}: the name is empty; give every node a unique name, e.g. its region"
    )]
    EmptyName {
        /// The file.
        file: String,
        /// The node's position in the file, from 1.
        index: usize,
    },
    /// Two nodes share a name.
    #[error(
        "{file}: node \"{node}\": the name is used by [[node]] #{first} and #{second}; give each node its own name"
    )]
    DuplicateName {
        /// The file.
        file: String,
        /// The name.
        node: String,
        /// The first node with it, from 1.
        first: usize,
        /// The second node with it, from 1.
        second: usize,
    },
    /// Two nodes share an actor id.
    #[error(
        "{file}: node \"{node}\": actor id {id} is already used by node \"{other}\"; give each node its own id"
    )]
    DuplicateId {
        /// The file.
        file: String,
        /// The later node.
        node: String,
        /// The id.
        id: u32,
        /// The earlier node with that id.
        other: String,
    },
    /// `id = 0`.
    #[error("{file}: node \"{node}\": actor id 0 is reserved; actor ids start at 1")]
    ZeroActorId {
        /// The file.
        file: String,
        /// The node.
        node: String,
    },
    /// An id below 0 or above `u32::MAX`.
    #[error(
        "{file}: node \"{node}\": actor id {id} is out of range; use an id from 1 to 4294967295"
    )]
    ActorIdOutOfRange {
        /// The file.
        file: String,
        /// The node.
        node: String,
        /// The id given.
        id: i64,
    },
    /// `role` is not one the format knows.
    #[error(
        "{file}: node \"{node}\": role \"{role}\" is not known; use leader, replica or delayed"
    )]
    UnknownRole {
        /// The file.
        file: String,
        /// The node.
        node: String,
        /// The role given.
        role: String,
    },
    /// `quic`, `resp` or `admin` is not a socket address.
    #[error(
        "{file}: node \"{node}\": `{field}` = \"{value}\" is not a socket address ({reason}); write an IP and a port, e.g. \"127.0.0.1:7401\""
    )]
    BadAddress {
        /// The file.
        file: String,
        /// The node.
        node: String,
        /// Which address.
        field: Endpoint,
        /// The value given.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
    /// Two nodes, or two roles of one node, on one socket address.
    #[error(
        "{file}: node \"{node}\": `{field}` address {addr} is already used by node \"{other}\" (`{other_field}`); give every node and every role its own address"
    )]
    DuplicateAddress {
        /// The file.
        file: String,
        /// The later node.
        node: String,
        /// Which of its addresses.
        field: Endpoint,
        /// The address.
        addr: SocketAddr,
        /// The node that uses it first (may be `node` itself).
        other: String,
        /// Which of that node's addresses.
        other_field: Endpoint,
    },
    /// `delay` is absent on a delayed replica.
    #[error("{file}: node \"{node}\": a delayed replica needs a delay; add e.g. delay = \"30s\"")]
    DelayMissing {
        /// The file.
        file: String,
        /// The node.
        node: String,
    },
    /// `delay` on a node that is not delayed.
    #[error(
        "{file}: node \"{node}\": `delay` is only for role = \"delayed\" (this node is a {role}); remove the delay or set role = \"delayed\""
    )]
    DelayNotDelayed {
        /// The file.
        file: String,
        /// The node.
        node: String,
        /// Its role.
        role: Role,
    },
    /// `delay` does not parse, or is zero.
    #[error(
        "{file}: node \"{node}\": delay \"{value}\" {reason}; write a positive duration such as \"500ms\", \"30s\", \"2m\", \"1h\" or \"1m30s\""
    )]
    BadDuration {
        /// The file.
        file: String,
        /// The node.
        node: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No node has role leader.
    #[error(
        "{file}: no node has role = \"leader\"; at least one node must accept writes (role defaults to leader)"
    )]
    NoLeader {
        /// The file.
        file: String,
    },
    /// `shape = "star"` without `hub`.
    #[error("{file}: shape = \"star\" needs a hub; add hub = \"<name of the centre node>\"")]
    MissingHub {
        /// The file.
        file: String,
    },
    /// `hub` names no node.
    #[error("{file}: hub \"{hub}\" is not a [[node]]; set hub to the name of one of the nodes")]
    UnknownHub {
        /// The file.
        file: String,
        /// The hub given.
        hub: String,
    },
    /// `hub` on a shape other than star.
    #[error(
        "{file}: `hub` is only for shape = \"star\" (this file's shape is {shape}); remove hub"
    )]
    HubNotStar {
        /// The file.
        file: String,
        /// The file's shape.
        shape: Shape,
    },
    /// `parent` on a shape other than tree.
    #[error(
        "{file}: node \"{node}\": `parent` is only for shape = \"tree\" (this file's shape is {shape}); remove parent"
    )]
    ParentNotTree {
        /// The file.
        file: String,
        /// The node.
        node: String,
        /// The file's shape.
        shape: Shape,
    },
    /// `parent` names no node.
    #[error(
        "{file}: node \"{node}\": parent \"{parent}\" is not a [[node]]; name one of the nodes"
    )]
    UnknownParent {
        /// The file.
        file: String,
        /// The node.
        node: String,
        /// The parent given.
        parent: String,
    },
    /// A second node without a parent: a tree has exactly one root.
    #[error(
        "{file}: node \"{node}\" names no parent, but node \"{root}\" is already the root and a tree has exactly one root; give \"{node}\" a parent"
    )]
    MissingParent {
        /// The file.
        file: String,
        /// The second parentless node, in file order.
        node: String,
        /// The first parentless node, in file order.
        root: String,
    },
    /// Every node of a tree names a parent.
    #[error(
        "{file}: every node names a parent, so the tree has no root; remove `parent` from the node that should be the root"
    )]
    NoRoot {
        /// The file.
        file: String,
    },
    /// Following parents from a node comes back to it.
    #[error(
        "{file}: node \"{node}\": the parents form a cycle ({cycle}); a tree must lead from every node to the root"
    )]
    ParentCycle {
        /// The file.
        file: String,
        /// The first node of the cycle, in file order.
        node: String,
        /// The cycle, as `a -> b -> a`.
        cycle: String,
    },
    /// A `[[link]]` from a node to itself.
    #[error("{file}: [[link]] #{index} joins node \"{node}\" to itself; remove it")]
    SelfLink {
        /// The file.
        file: String,
        /// The link's position in the file, from 1.
        index: usize,
        /// The node.
        node: String,
    },
    /// A `[[link]]` names a node that does not exist.
    #[error(
        "{file}: [[link]] #{index} names node \"{node}\", which is not a [[node]]; fix the name or add the node"
    )]
    UnknownLinkNode {
        /// The file.
        file: String,
        /// The link's position in the file, from 1.
        index: usize,
        /// The unknown name.
        node: String,
    },
    /// Two `[[link]]` entries join the same pair.
    #[error(
        "{file}: the link between \"{a}\" and \"{b}\" is listed twice ([[link]] #{first} and #{second}); keep one"
    )]
    DuplicateLink {
        /// The file.
        file: String,
        /// One end.
        a: String,
        /// The other end.
        b: String,
        /// The first entry, from 1.
        first: usize,
        /// The second entry, from 1.
        second: usize,
    },
    /// `latency_ms` below 1 or above `u32::MAX`.
    #[error(
        "{file}: the link between \"{a}\" and \"{b}\": latency_ms = {latency_ms} is out of range; use a whole number of milliseconds from 1 to 4294967295"
    )]
    LatencyOutOfRange {
        /// The file.
        file: String,
        /// One end.
        a: String,
        /// The other end.
        b: String,
        /// The value given.
        latency_ms: i64,
    },
    /// A `[[link]]` for a pair the shape does not link.
    #[error(
        "{file}: [[link]] between \"{a}\" and \"{b}\": shape {shape} does not link these nodes; with a shape, [[link]] only gives the latency of a link the shape makes (use shape = \"links\" to list the links yourself)"
    )]
    LinkNotInShape {
        /// The file.
        file: String,
        /// The shape.
        shape: Shape,
        /// One end.
        a: String,
        /// The other end.
        b: String,
    },
    /// A ring of fewer than 3 nodes.
    #[error(
        "{file}: a ring needs at least 3 nodes and this file has {nodes}; use shape = \"{instead}\""
    )]
    RingTooSmall {
        /// The file.
        file: String,
        /// How many nodes the file has.
        nodes: usize,
        /// The shape to use instead.
        instead: Shape,
    },
    /// Some node cannot be reached over the links.
    #[error(
        "{file}: node \"{node}\" cannot be reached from node \"{from}\" over the links; add a [[link]] that joins it to the rest"
    )]
    Disconnected {
        /// The file.
        file: String,
        /// The first node, in file order, that cannot be reached.
        node: String,
        /// The first node in the file.
        from: String,
    },
}
