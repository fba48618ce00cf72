//! Meridian's durable storage. A node's disk holds three tables: the op log
//! `(origin, seq) -> op`, the state `key -> CRDT bytes`, and small named `meta` records
//! (cluster id, incarnation, version vectors); the store treats every value as opaque bytes
//! and wraps each in a versioned, checksummed [`record`] envelope. Everything changes through
//! one [`Batch`] at a time, applied atomically by [`Store::commit`]; a commit is durable when
//! committed with `sync` or once a later [`Store::sync`] returns, and a store whose write or
//! fsync failed is poisoned: it refuses everything after and never reports success again.
//! [`Store::load`] reads everything back at open. [`RedbStore`] keeps the tables in one redb
//! file (or over any redb [`StorageBackend`]), [`MemStore`] in memory, and [`FaultStore`] in memory with crashes that lose unsynced
//! batches and injected write, fsync and disk-full failures, for the simulator. A node writes
//! through [`GroupCommit`]: one writer thread owns the store, merges every queued batch into
//! one commit and one fsync, then acknowledges them together under the node's
//! [`FsyncPolicy`]. At open, [`open_identity`] checks the store's [`identity`] record against
//! the topology (or writes one into a new store).
//!
//! Within a batch, log appends apply first, then the log truncation, then state and meta
//! writes in order (a later write to the same key wins).
//!
//! ```
//! use bytes::Bytes;
//! use meridian_crdt::{ActorId, Dot};
//! use meridian_store::{Batch, FsyncPolicy, GroupCommit, RedbStore, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("node.redb");
//! let writer = GroupCommit::start(RedbStore::open(&path)?, FsyncPolicy::Always);
//! let batch = Batch {
//!     log: vec![(Dot::new(ActorId(1), 1), Bytes::from_static(b"op 1:1"))],
//!     state: vec![(Bytes::from_static(b"greeting"), Some(Bytes::from_static(b"hello")))],
//!     ..Batch::default()
//! };
//! writer.submit(batch).wait()?; // committed and fsynced
//! writer.shutdown()?;
//!
//! let loaded = RedbStore::open(&path)?.load()?;
//! assert_eq!(loaded.state[0].1, "hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod error;
mod group;
pub mod identity;
mod mem;
pub mod record;
mod redb_store;
pub mod run;

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use meridian_crdt::{Dot, VersionVector};

pub use error::{Cause, CommitError, LoadError, OpenError};
pub use group::{FsyncPolicy, GroupCommit, GroupCommitStats, ParsePolicyError, Ticket};
pub use identity::{IDENTITY_KEY, Identity, IdentityError, Opened, open_identity};
pub use mem::{FaultKind, FaultStats, FaultStore, MemStore};
/// The storage under a [`RedbStore`] opened with [`RedbStore::with_backend`].
pub use redb::StorageBackend;
pub use redb_store::RedbStore;

/// Which table a record lives in (for error messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// The op log, `(origin, seq) -> op` (kept by [`RedbStore`] in runs, [`run`]).
    Log,
    /// The CRDT state, `key -> state`.
    State,
    /// Named records: cluster id, incarnation, vectors.
    Meta,
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Table::Log => "log",
            Table::State => "state",
            Table::Meta => "meta",
        })
    }
}

/// One atomic group commit.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    /// Ops to append: `(origin, seq) -> encoded op` (opaque bytes).
    pub log: Vec<(Dot, Bytes)>,
    /// Drops every log entry `(origin, seq)` with `seq <= truncate[origin]`, after this
    /// batch's appends.
    pub truncate: Option<VersionVector>,
    /// `key -> encoded CRDT state` (opaque bytes); `None` removes the key. Applied in order.
    pub state: Vec<(Bytes, Option<Bytes>)>,
    /// Small named records, applied in order.
    pub meta: Vec<(String, Bytes)>,
}

impl Batch {
    /// Whether the batch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
            && self.truncate.as_ref().is_none_or(VersionVector::is_empty)
            && self.state.is_empty()
            && self.meta.is_empty()
    }

    /// Number of log, state and meta entries (the truncation not counted).
    pub fn records(&self) -> usize {
        self.log.len() + self.state.len() + self.meta.len()
    }

    /// Folds `later` into `self`, so that committing the result equals committing `self`
    /// then `later`: later wins per state and meta key (entries stay in order), logs are
    /// appended, truncations take the pointwise max. Exact but for one case: an op that
    /// `later` appends at or below `self`'s truncation is dropped by the merged batch (the
    /// truncation applies after every append) where separate commits would keep it;
    /// re-appending a truncated, hence stable, op has no use.
    pub fn merge(&mut self, later: Batch) {
        let Batch {
            log,
            truncate,
            state,
            meta,
        } = later;
        if self.log.is_empty() {
            self.log = log;
        } else {
            self.log.extend(log);
        }
        match (&mut self.truncate, truncate) {
            (Some(mine), Some(theirs)) => mine.merge(&theirs),
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
        if self.state.is_empty() {
            self.state = state;
        } else {
            self.state.extend(state);
        }
        if self.meta.is_empty() {
            self.meta = meta;
        } else {
            self.meta.extend(meta);
        }
    }
}

/// Everything durable, read back at open.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Loaded {
    /// The log, sorted by `(origin, seq)`.
    pub log: Vec<(Dot, Bytes)>,
    /// The state, sorted by key.
    pub state: Vec<(Bytes, Bytes)>,
    /// The meta records.
    pub meta: BTreeMap<String, Bytes>,
}

/// A node's durable storage: a narrow trait so that the simulator can run the same driver
/// code over [`FaultStore`] that a node runs over [`RedbStore`].
pub trait Store: Send + 'static {
    /// Reads everything committed (including commits not yet synced, as this process sees
    /// them).
    fn load(&self) -> Result<Loaded, LoadError>;

    /// Applies `batch` atomically. With `sync`, it is durable (fsynced) when this returns;
    /// without, a crash may lose it until the next `sync`.
    fn commit(&mut self, batch: &Batch, sync: bool) -> Result<(), CommitError>;

    /// Makes every committed batch durable.
    fn sync(&mut self) -> Result<(), CommitError>;
}

impl<S: Store + ?Sized> Store for Box<S> {
    fn load(&self) -> Result<Loaded, LoadError> {
        (**self).load()
    }

    fn commit(&mut self, batch: &Batch, sync: bool) -> Result<(), CommitError> {
        (**self).commit(batch, sync)
    }

    fn sync(&mut self) -> Result<(), CommitError> {
        (**self).sync()
    }
}

/// A state or meta key in printable form: UTF-8 if it is, else hex.
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

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_crdt::ActorId;

    fn vv(entries: &[(u32, u64)]) -> VersionVector {
        entries.iter().map(|&(a, s)| (ActorId(a), s)).collect()
    }

    #[test]
    fn merge_appends_and_takes_max_of_truncations() {
        let mut a = Batch {
            log: vec![(Dot::new(ActorId(1), 1), Bytes::from_static(b"x"))],
            truncate: Some(vv(&[(1, 3), (2, 1)])),
            state: vec![(Bytes::from_static(b"k"), Some(Bytes::from_static(b"1")))],
            meta: vec![],
        };
        a.merge(Batch {
            log: vec![(Dot::new(ActorId(1), 2), Bytes::from_static(b"y"))],
            truncate: Some(vv(&[(2, 5)])),
            state: vec![(Bytes::from_static(b"k"), None)],
            meta: vec![("m".into(), Bytes::from_static(b"v"))],
        });
        assert_eq!(a.log.len(), 2);
        assert_eq!(a.truncate, Some(vv(&[(1, 3), (2, 5)])));
        assert_eq!(a.state.last(), Some(&(Bytes::from_static(b"k"), None)));
        assert_eq!(a.records(), 5);
        assert!(!a.is_empty());
        assert!(Batch::default().is_empty());
        let mut e = Batch::default();
        e.merge(Batch::default());
        assert!(e.is_empty());
    }

    #[test]
    fn printable_keys() {
        assert_eq!(printable_key(b"user:1"), "user:1");
        assert_eq!(printable_key(&[0xff, 0x00]), "0xff00");
        assert_eq!(printable_key(b"a\nb"), "0x610a62");
    }
}
