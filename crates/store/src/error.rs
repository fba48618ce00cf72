//! Errors, one enum per operation; each variant says what holds after it.

use std::fmt;
use std::sync::Arc;

use thiserror::Error;

use crate::Table;
use crate::record::RecordError;

/// The underlying failure reported by the storage engine or the operating system, shared so
/// that one failure can be handed to every waiter of a group commit.
#[derive(Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// Wraps an engine or I/O error.
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Cause(Arc::new(e))
    }

    /// A cause that is only a message (injected faults, internal failures).
    pub fn msg(m: impl Into<String>) -> Self {
        Cause(Arc::new(Message(m.into())))
    }

    /// The underlying error.
    pub fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

/// Opening a store failed.
#[derive(Debug, Error)]
pub enum OpenError {
    /// The database file could not be opened or created (I/O error, already open in another
    /// process, a file that is not a redb database).
    /// Nothing is open; the file was not modified, except by redb's own crash repair.
    #[error("cannot open store {path}: {cause}")]
    Open {
        /// The file (or the backend's name).
        path: String,
        /// What redb or the OS reported.
        cause: Cause,
    },
    /// The file is damaged: a page's checksum does not match, or its structure makes no sense
    /// (a flipped bit, a torn or overwritten page, an edit outside redb). Nothing is open: a
    /// node refuses to start on it rather than trust it.
    #[error("store {path} is damaged: {cause}")]
    Damaged {
        /// The file (or the backend's name).
        path: String,
        /// What redb found.
        cause: Cause,
    },
    /// The file opened, but creating the tables failed. Nothing is open; the file holds what it
    /// held before (the creating transaction was not committed).
    #[error("cannot initialise the tables of store {path}: {cause}")]
    Init {
        /// The file (or the backend's name).
        path: String,
        /// What redb reported.
        cause: Cause,
    },
}

/// Reading the store back failed. A load never modifies the store: after any of these the
/// store is unchanged, and still accepts commits unless the engine itself failed to read
/// ([`LoadError::Read`]).
#[derive(Debug, Error)]
pub enum LoadError {
    /// A stored record's envelope is wrong (unknown version, checksum mismatch, too short):
    /// the file was damaged or written by a newer build. Nothing was loaded.
    #[error("corrupt record in table {table}, key {key}: {reason}")]
    Corrupt {
        /// The table holding the record.
        table: Table,
        /// The record's key, printable: `origin:seq` for the log, UTF-8 (lossy) or hex for
        /// state and meta keys.
        key: String,
        /// What is wrong with it.
        reason: RecordError,
    },
    /// The storage engine failed to read (I/O error, corruption below the record level).
    /// Nothing was loaded. After a failed read from the disk, redb refuses all I/O, so the
    /// next commit of a [`crate::RedbStore`] fails and poisons it.
    #[error("cannot read the store: {0}")]
    Read(Cause),
}

/// Committing or syncing failed. After any of these the store is poisoned: it refuses every
/// further commit and sync with [`CommitError::Failed`], and never reports success again,
/// because after a failed write or fsync the state of the disk is unknown (a failed fsync in
/// particular may have dropped dirty pages that a retry would then report as durable).
/// Whatever the variant, no batch committed without `sync` since the last successful sync is
/// known to be durable. Reopening the store (after a restart) shows what survived.
///
/// Display names what failed and, for a [`crate::RedbStore`], the store:
/// `fsync failed: store /var/lib/meridian/node.redb: I/O error: Input/output error (os error 5)`.
#[derive(Debug, Clone, Error)]
pub enum CommitError {
    /// Writing the batch failed: a write, read or resize of the file, or the storage engine
    /// itself. Nothing of the batch is visible to this process; whether any of it reached the
    /// disk is unknown until the store is reopened. The batch was not acknowledged and must
    /// not be.
    #[error("write failed: {0}")]
    Write(Cause),
    /// The disk is full (a write, a resize or an fsync reported `ENOSPC`). Nothing of the
    /// batch is visible to this process; whether any of it reached the disk is unknown until
    /// the store is reopened. Freeing space does not revive the store: reopen it.
    #[error("disk full: {0}")]
    DiskFull(Cause),
    /// Making data durable (fsync) failed, in a commit with `sync`, a sync, or an fsync the
    /// engine makes on its own (redb's when it grows the file). The batch being committed, if
    /// any, may be visible to this process, but neither it nor any earlier unsynced batch is
    /// known to be durable: a crash may lose them all, or a restart may find them all the same
    /// (redb fsyncs twice per commit, and the first may have made it durable).
    #[error("fsync failed: {0}")]
    Fsync(Cause),
    /// An earlier commit or sync of this store failed (`first`); this operation was not
    /// attempted, and nothing of its batch is visible.
    #[error("store stopped after an earlier failure: {first}")]
    Failed {
        /// The failure that poisoned the store.
        first: Box<CommitError>,
    },
    /// The group-commit writer thread is gone (it panicked) before reporting on this batch.
    /// Nothing is known about the batch: treat it as not durable.
    #[error("the store writer thread stopped before reporting")]
    WriterGone,
}

impl CommitError {
    /// The error to report for an operation refused because `first` poisoned the store.
    pub fn after(first: &CommitError) -> CommitError {
        match first {
            CommitError::Failed { .. } => first.clone(),
            other => CommitError::Failed {
                first: Box::new(other.clone()),
            },
        }
    }

    /// The failure that stopped the store: `first` for [`CommitError::Failed`], else itself.
    pub fn root(&self) -> &CommitError {
        match self {
            CommitError::Failed { first } => first.root(),
            other => other,
        }
    }
}
