//! A store's identity record: which cluster and which node a store belongs to, written once
//! when the store is created and checked against the topology file at every open.
//!
//! The record lives in the meta table under [`IDENTITY_KEY`]. Its payload (inside the store's
//! checksummed [`crate::record`] envelope) is
//! `[version u8 = 1][cluster][cluster_id][node][actor u32 LE][incarnation]`, each string
//! field a `u16 LE` byte length then that many bytes of UTF-8, at most [`MAX_FIELD_LEN`]
//! bytes, with nothing after the last field.
//!
//! ```
//! use meridian_store::{MemStore, Opened, Store, open_identity};
//!
//! let mut store = MemStore::new();
//! let loaded = store.load()?;
//! let created = open_identity(&mut store, &loaded, "west", "us-east", 1, None)?;
//! assert!(matches!(created, Opened::Created(_)));
//!
//! // At the next start, the same store opens as the same incarnation.
//! let loaded = store.load()?;
//! let again = open_identity(&mut store, &loaded, "west", "us-east", 1, None)?;
//! assert!(matches!(&again, Opened::Existing(id) if id == created.identity()));
//!
//! // A topology naming another node is refused, with a message saying what to do.
//! let err = open_identity(&mut store, &loaded, "west", "eu-west", 2, None).unwrap_err();
//! assert!(err.to_string().contains("\"us-east\""));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use bytes::Bytes;
use thiserror::Error;
use uuid::Uuid;

use crate::{Batch, CommitError, LoadError, Loaded, Store};

/// The meta key holding the identity record.
pub const IDENTITY_KEY: &str = "identity";

/// The only identity encoding version this build writes and reads.
pub const IDENTITY_VERSION: u8 = 1;

/// The longest string field (cluster name, node name, UUIDs) the record holds, in bytes.
pub const MAX_FIELD_LEN: usize = 1024;

/// What every error that the operator fixes by starting afresh ends with.
const AFRESH: &str =
    "remove it to start this node afresh (it will learn its history from its peers)";

/// Who a store belongs to, written once when the store is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The topology's cluster name.
    pub cluster: String,
    /// The cluster's UUID (hyphenated), the same in every store of the cluster.
    pub cluster_id: String,
    /// The node's name (its region) in the topology.
    pub node: String,
    /// The node's numeric actor id in the topology.
    pub actor: u32,
    /// A UUID (hyphenated), new for every store created.
    pub incarnation: String,
}

impl Identity {
    /// The record's payload, as stored under [`IDENTITY_KEY`] (the store adds its envelope).
    ///
    /// Fails when a string field is empty or longer than [`MAX_FIELD_LEN`] bytes.
    pub fn encode(&self) -> Result<Bytes, String> {
        let fields = [
            ("cluster name", &self.cluster),
            ("cluster id", &self.cluster_id),
            ("node name", &self.node),
            ("incarnation", &self.incarnation),
        ];
        for (what, field) in fields {
            check_field(what, field)?;
        }
        let len = 1 + 4 + fields.iter().map(|(_, f)| 2 + f.len()).sum::<usize>();
        let mut out = Vec::with_capacity(len);
        out.push(IDENTITY_VERSION);
        put_str(&mut out, &self.cluster);
        put_str(&mut out, &self.cluster_id);
        put_str(&mut out, &self.node);
        out.extend_from_slice(&self.actor.to_le_bytes());
        put_str(&mut out, &self.incarnation);
        Ok(Bytes::from(out))
    }

    /// Reads a record written by [`Identity::encode`]. Never panics, and allocates no more
    /// than `bytes.len()`: on anything else (unknown version, truncated, trailing bytes,
    /// empty or overlong field, invalid UTF-8, a UUID field that is not a UUID) it says what
    /// is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Identity, String> {
        let mut r = Reader(bytes);
        let version = r.take(1, "version")?[0];
        if version != IDENTITY_VERSION {
            return Err(format!(
                "unknown identity version {version} (this build reads version {IDENTITY_VERSION})"
            ));
        }
        let cluster = r.string("cluster name")?;
        let cluster_id = r.string("cluster id")?;
        let node = r.string("node name")?;
        let actor = r.take(4, "actor id")?;
        let actor = u32::from_le_bytes([actor[0], actor[1], actor[2], actor[3]]);
        let incarnation = r.string("incarnation")?;
        if !r.0.is_empty() {
            return Err(format!("{} unexpected bytes after the record", r.0.len()));
        }
        for (what, field) in [("cluster id", &cluster_id), ("incarnation", &incarnation)] {
            if Uuid::try_parse(field).is_err() {
                return Err(format!("the {what} {field:?} is not a UUID"));
            }
        }
        Ok(Identity {
            cluster,
            cluster_id,
            node,
            actor,
            incarnation,
        })
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node {:?} (actor {}) of cluster {:?} (id {}), incarnation {}",
            self.node, self.actor, self.cluster, self.cluster_id, self.incarnation
        )
    }
}

fn check_field(what: &str, field: &str) -> Result<(), String> {
    if field.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if field.len() > MAX_FIELD_LEN {
        return Err(format!(
            "the {what} is {} bytes long, more than the {MAX_FIELD_LEN} allowed",
            field.len()
        ));
    }
    Ok(())
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // `check_field` bounds every field to MAX_FIELD_LEN, well below u16::MAX.
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!(
                "truncated in the {what}: {n} bytes needed, {} left",
                self.0.len()
            ));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        let len = self.take(2, what)?;
        let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
        if len == 0 || len > MAX_FIELD_LEN {
            return Err(format!(
                "the {what} is {len} bytes long, outside 1..={MAX_FIELD_LEN}"
            ));
        }
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|e| format!("the {what} is not UTF-8: {e}"))
    }
}

/// How [`open_identity`] found the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// The store already held this identity, which matches the topology.
    Existing(Identity),
    /// The store was empty and now holds this fresh identity (durably). The node has no
    /// history on this disk, but its actor id may have history at its peers: it must learn
    /// its own last sequence number from them before it writes.
    Created(Identity),
}

impl Opened {
    /// The store's identity.
    pub fn identity(&self) -> &Identity {
        match self {
            Opened::Existing(id) | Opened::Created(id) => id,
        }
    }

    /// The store's identity, by value.
    pub fn into_identity(self) -> Identity {
        match self {
            Opened::Existing(id) | Opened::Created(id) => id,
        }
    }

    /// Whether the identity was created by this open.
    pub fn is_created(&self) -> bool {
        matches!(self, Opened::Created(_))
    }
}

/// The store does not belong to the node the topology describes, or its identity could not
/// be read or written. After any of these but [`IdentityError::Commit`], nothing was written.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// The store was created for another cluster.
    #[error(
        "this store belongs to cluster {found:?} but the topology file names cluster \
         {expected:?}: point data_dir at this cluster's store, or {AFRESH}"
    )]
    OtherCluster {
        /// The cluster name in the topology file.
        expected: String,
        /// The cluster name in the store.
        found: String,
    },
    /// The store was created for another node (name or actor id) of this cluster.
    #[error(
        "this store belongs to node {found_node:?} (actor {found_actor}) but the topology file \
         says this node is {expected_node:?} (actor {expected_actor}): point data_dir at this \
         node's own store, or {AFRESH}"
    )]
    OtherNode {
        /// The node name in the topology file.
        expected_node: String,
        /// The node name in the store.
        found_node: String,
        /// The actor id in the topology file.
        expected_actor: u32,
        /// The actor id in the store.
        found_actor: u32,
    },
    /// The store's cluster has the right name but another id than the one its peers report:
    /// it belongs to an earlier (or another) cluster of the same name.
    #[error(
        "this store belongs to cluster {cluster:?} with id {found}, but its peers know cluster \
         {cluster:?} as id {expected}: the store is from another cluster of the same name \
         (an earlier deployment?); point data_dir at this cluster's store, or {AFRESH}"
    )]
    ClusterIdMismatch {
        /// The cluster name (the same in the store and the topology).
        cluster: String,
        /// The cluster id given by the caller (learnt from the peers).
        expected: String,
        /// The cluster id in the store.
        found: String,
    },
    /// The identity record cannot be read (damaged, or written by a newer build).
    #[error(
        "the identity record of this store is unreadable ({0}): the store is damaged or was \
         written by a newer build of Meridian; run that build, restore the store from a \
         backup, or {AFRESH}"
    )]
    Corrupt(String),
    /// The store holds data (log, state or meta records) but no identity record, so it cannot
    /// be checked against the topology.
    #[error(
        "this store holds data but no identity record, so Meridian cannot tell which cluster \
         and node it belongs to: point data_dir at this node's store, or {AFRESH}"
    )]
    NotEmptyWithoutIdentity,
    /// An argument cannot be recorded: a cluster id that is not a UUID, an empty or overlong
    /// name.
    #[error("cannot record this store's identity: {0}; fix the topology file or the peer")]
    InvalidArgument(String),
    /// Writing the new identity failed; the store is poisoned (see [`CommitError`]), and
    /// whether the identity reached the disk is known only after reopening it.
    #[error("cannot write this store's identity: {0}")]
    Commit(#[from] CommitError),
    /// Loading the store failed (for callers that load and check in one function;
    /// [`open_identity`] itself never returns it).
    #[error("cannot read this store: {0}")]
    Load(#[from] LoadError),
}

/// Reads the identity in `loaded.meta` (what `store` loaded at open) and checks it against
/// what the topology says this node is: `cluster` and `node` names and `actor` id, and the
/// `cluster_id` when the caller knows it from its peers.
///
/// On an empty store (no meta, no log, no state) it writes a new identity, with the given
/// `cluster_id` or else a new UUID and a new incarnation UUID, through one synced
/// [`Store::commit`], and returns [`Opened::Created`]. A store with data but no identity is
/// refused with [`IdentityError::NotEmptyWithoutIdentity`].
///
/// Checks apply in this order: cluster name, node name and actor, cluster id. UUIDs compare
/// as UUIDs (case and hyphens aside).
pub fn open_identity(
    store: &mut impl Store,
    loaded: &Loaded,
    cluster: &str,
    node: &str,
    actor: u32,
    cluster_id: Option<&str>,
) -> Result<Opened, IdentityError> {
    let given_id = cluster_id
        .map(|id| {
            Uuid::try_parse(id).map_err(|_| {
                IdentityError::InvalidArgument(format!("the cluster id {id:?} is not a UUID"))
            })
        })
        .transpose()?;

    if let Some(bytes) = loaded.meta.get(IDENTITY_KEY) {
        let found = Identity::decode(bytes).map_err(IdentityError::Corrupt)?;
        if found.cluster != cluster {
            return Err(IdentityError::OtherCluster {
                expected: cluster.to_owned(),
                found: found.cluster,
            });
        }
        if found.node != node || found.actor != actor {
            return Err(IdentityError::OtherNode {
                expected_node: node.to_owned(),
                found_node: found.node,
                expected_actor: actor,
                found_actor: found.actor,
            });
        }
        if let Some(given) = given_id {
            // `decode` checked that the stored id parses.
            if Uuid::try_parse(&found.cluster_id).ok() != Some(given) {
                return Err(IdentityError::ClusterIdMismatch {
                    cluster: found.cluster,
                    expected: given.hyphenated().to_string(),
                    found: found.cluster_id,
                });
            }
        }
        return Ok(Opened::Existing(found));
    }

    if !(loaded.meta.is_empty() && loaded.log.is_empty() && loaded.state.is_empty()) {
        return Err(IdentityError::NotEmptyWithoutIdentity);
    }
    let identity = Identity {
        cluster: cluster.to_owned(),
        cluster_id: given_id
            .unwrap_or_else(Uuid::new_v4)
            .hyphenated()
            .to_string(),
        node: node.to_owned(),
        actor,
        incarnation: Uuid::new_v4().hyphenated().to_string(),
    };
    let record = identity.encode().map_err(IdentityError::InvalidArgument)?;
    let batch = Batch {
        meta: vec![(IDENTITY_KEY.to_owned(), record)],
        ..Batch::default()
    };
    store.commit(&batch, true)?;
    Ok(Opened::Created(identity))
}
