//! The store in one redb file.

mod log;
mod watched;

use std::cmp::Ordering;
use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use redb::backends::FileBackend;
use redb::{
    Builder, Database, DatabaseError, Durability, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, StorageBackend, StorageError, TableDefinition, WriteTransaction,
};
use thiserror::Error;

use crate::{
    Batch, Cause, CommitError, LoadError, Loaded, OpenError, Store, Table, printable_key, record,
};
use watched::{Call, LastFailure, Watched};

/// redb's quick repair saves the allocator state at each commit and turns on two-phase commit,
/// so that an open after a crash need not walk the file; the price is a second fsync per
/// durable commit. Every open here walks the whole file anyway (the integrity check), so quick
/// repair would buy nothing, and without it a durable commit is one fsync: redb writes the new
/// commit slot with checksums and picks, after a crash, the newest slot whose checksums hold.
const QUICK_REPAIR: bool = false;

const STATE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("state");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");

/// The store in one redb file, with three tables: the log, `log_runs` (`(u32 origin, u64
/// first seq) -> record`, each a [`crate::run`] of one origin's ops with consecutive seqs),
/// `state` (`bytes -> record`) and `meta` (`str -> record`), every value in a [`record`]
/// envelope. A fourth, `log` (`(u32 origin, u64 seq) -> record` of one op), is where earlier
/// builds kept the log: it is still loaded and truncated, never written.
///
/// Every open checks the integrity of the file: redb verifies the checksum of every page
/// reachable from the last commit and rebuilds its allocator state, so a file damaged outside
/// redb (a flipped bit, a torn or overwritten page) is refused with [`OpenError::Damaged`]. A
/// plain redb open trusts such a file, and the load after it may panic inside redb or return
/// records under altered keys. The check reads the whole file, as [`Store::load`] does next.
///
/// Write transactions leave redb's quick repair off: every open walks the file anyway, so
/// it would only add a second fsync to each durable commit. A commit with `sync` uses
/// `Durability::Immediate` (fsynced when it returns); without, it uses
/// `Durability::None`, which redb keeps in this process only: such commits are visible to
/// [`Store::load`] at once, but redb does not write the header that makes them reachable on
/// disk until the next `Immediate` commit ([`Store::sync`]) or a clean close, so a crash of
/// the process, not only of the machine, loses them.
///
/// [`RedbStore::open`] keeps the store in a file; [`RedbStore::with_backend`] over any redb
/// [`StorageBackend`] (memory, or a test disk that fails on demand).
///
/// A failed commit or sync names the store and what failed: the store watches the calls its
/// backend fails, since redb reports a failed write and a failed fsync alike. After any I/O
/// failure redb itself refuses every further call to the backend, so it never retries an
/// fsync either; [`Store::load`] then answers from redb's page cache (1 GiB) and fails with
/// [`LoadError::Read`] where it would have to read the backend.
pub struct RedbStore {
    db: Database,
    /// The file, or the backend's name: how errors name this store.
    name: String,
    path: Option<PathBuf>,
    /// The backend call that failed in the current operation.
    failed: Arc<LastFailure>,
    poisoned: Option<CommitError>,
    buf: Vec<u8>,
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore")
            .field("name", &self.name)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens the store at `path`, creating the file and its tables if needed. After a crash,
    /// redb repairs the file here (quickly, thanks to quick repair) back to the last durable
    /// commit.
    pub fn open(path: impl AsRef<Path>) -> Result<RedbStore, OpenError> {
        let path = path.as_ref().to_path_buf();
        let name = path.display().to_string();
        let refused = |cause| OpenError::Open {
            path: name.clone(),
            cause,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| refused(Cause::new(e)))?;
        let backend = FileBackend::new(file).map_err(|e| refused(Cause::new(e)))?;
        Self::create(backend, name, Some(path))
    }

    /// Opens the store over `backend` (creating its tables if needed), as [`RedbStore::open`]
    /// does over a file; `name` names the store in errors. redb reaches the storage only
    /// through the backend, so a backend that loses what was not synced at a simulated crash
    /// and is reopened after it shows what a crash leaves.
    pub fn with_backend(
        backend: impl StorageBackend,
        name: impl Into<String>,
    ) -> Result<RedbStore, OpenError> {
        Self::create(backend, name.into(), None)
    }

    fn create(
        backend: impl StorageBackend,
        name: String,
        path: Option<PathBuf>,
    ) -> Result<RedbStore, OpenError> {
        let failed = Arc::new(LastFailure::default());
        let watched = Watched {
            inner: backend,
            failed: Arc::clone(&failed),
        };
        let db = Builder::new()
            .set_check_integrity_on_open(true)
            .create_with_backend(watched)
            .map_err(|e| match e {
                DatabaseError::Storage(StorageError::Corrupted(_)) => OpenError::Damaged {
                    path: name.clone(),
                    cause: Cause::new(e),
                },
                e => OpenError::Open {
                    path: name.clone(),
                    cause: Cause::new(e),
                },
            })?;
        Self::init(db, name, path, failed)
    }

    fn init(
        db: Database,
        name: String,
        path: Option<PathBuf>,
        failed: Arc<LastFailure>,
    ) -> Result<RedbStore, OpenError> {
        let init = || -> Result<(), redb::Error> {
            let mut txn = db.begin_write()?;
            txn.set_quick_repair(QUICK_REPAIR);
            txn.open_table(log::RUNS)?;
            txn.open_table(log::LEGACY)?;
            txn.open_table(STATE)?;
            txn.open_table(META)?;
            txn.commit()?;
            Ok(())
        };
        init().map_err(|e| OpenError::Init {
            path: name.clone(),
            cause: Cause::new(e),
        })?;
        Ok(RedbStore {
            db,
            name,
            path,
            failed,
            poisoned: None,
            buf: Vec::new(),
        })
    }

    /// The file, for a store opened by [`RedbStore::open`].
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// How errors name this store: the file, or the name given to
    /// [`RedbStore::with_backend`].
    pub fn name(&self) -> &str {
        &self.name
    }

    fn write(&mut self, batch: &Batch, sync: bool) -> Result<(), CommitError> {
        self.failed.take();
        let mut attempt = || -> Result<(), redb::Error> {
            let mut txn = self.db.begin_write()?;
            let durability = if sync {
                Durability::Immediate
            } else {
                Durability::None
            };
            txn.set_durability(durability).map_err(redb::Error::from)?;
            txn.set_quick_repair(QUICK_REPAIR);
            fill(&txn, batch, &mut self.buf)?;
            txn.commit()?;
            Ok(())
        };
        attempt().map_err(|e| self.commit_error(e))
    }

    /// What a failed commit or sync reports: a full disk whichever call failed, a failed
    /// fsync, or else (a failed write, read or resize, or an engine error) a failed write.
    fn commit_error(&self, error: redb::Error) -> CommitError {
        let call = self.failed.take();
        let disk_full =
            matches!(&error, redb::Error::Io(e) if e.kind() == io::ErrorKind::StorageFull);
        let fsync = matches!(&error, redb::Error::Io(_)) && call == Some(Call::Sync);
        let cause = Cause::new(InStore {
            store: self.name.clone(),
            error,
        });
        if disk_full {
            CommitError::DiskFull(cause)
        } else if fsync {
            CommitError::Fsync(cause)
        } else {
            CommitError::Write(cause)
        }
    }

    fn checked(
        &mut self,
        op: impl FnOnce(&mut Self) -> Result<(), CommitError>,
    ) -> Result<(), CommitError> {
        if let Some(first) = &self.poisoned {
            return Err(CommitError::after(first));
        }
        let result = op(self);
        if let Err(e) = &result {
            self.poisoned = Some(e.clone());
        }
        result
    }
}

/// Writes `batch` into `txn`: appends, then the truncation, then state and meta.
fn fill(txn: &WriteTransaction, batch: &Batch, buf: &mut Vec<u8>) -> Result<(), redb::Error> {
    fn put<'b>(buf: &'b mut Vec<u8>, payload: &[u8]) -> &'b [u8] {
        buf.clear();
        record::encode_into(payload, buf);
        buf
    }
    if !batch.log.is_empty() || batch.truncate.is_some() {
        let mut runs = txn.open_table(log::RUNS)?;
        log::append(&mut runs, &batch.log, buf)?;
        if let Some(upto) = &batch.truncate {
            let mut legacy = txn.open_table(log::LEGACY)?;
            for (actor, seq) in upto.iter() {
                log::truncate(&mut runs, &mut legacy, actor.0, seq, buf)?;
            }
        }
    }
    if !batch.state.is_empty() {
        let mut state = txn.open_table(STATE)?;
        for (key, value) in ascending(&batch.state, |a, b| a.0.cmp(&b.0)) {
            match value {
                Some(v) => {
                    state.insert(key.as_ref(), put(buf, v))?;
                }
                None => {
                    state.remove(key.as_ref())?;
                }
            }
        }
    }
    if !batch.meta.is_empty() {
        let mut meta = txn.open_table(META)?;
        for (name, value) in &batch.meta {
            meta.insert(name.as_str(), put(buf, value))?;
        }
    }
    Ok(())
}

/// The entries in ascending key order, a later entry after an earlier one with the same key
/// (so it still wins): redb inserts in key order faster, and a merged batch interleaves
/// many writers' keys.
fn ascending<T>(entries: &[T], cmp: impl Fn(&T, &T) -> Ordering) -> Vec<&T> {
    let mut sorted: Vec<&T> = entries.iter().collect();
    sorted.sort_by(|a, b| cmp(a, b)); // stable
    sorted
}

/// A storage engine error and the store it happened in.
#[derive(Debug, Error)]
#[error("store {store}: {error}")]
struct InStore {
    store: String,
    error: redb::Error,
}

/// Most entries [`Store::load`] reserves room for up front.
const MAX_RESERVE: u64 = 1 << 16;

/// Room to reserve for a table that says it holds `len` entries. The count comes from the
/// file: a damaged one may claim billions, and reserving for them aborts the process.
fn plausible(len: u64) -> usize {
    usize::try_from(len.min(MAX_RESERVE)).unwrap_or(0)
}

fn read_error(e: impl Into<redb::Error>) -> LoadError {
    LoadError::Read(Cause::new(e.into()))
}

fn corrupt(table: Table, key: String) -> impl FnOnce(record::RecordError) -> LoadError {
    move |reason| LoadError::Corrupt { table, key, reason }
}

impl Store for RedbStore {
    fn load(&self) -> Result<Loaded, LoadError> {
        let txn = self.db.begin_read().map_err(read_error)?;
        let mut out = Loaded::default();

        log::load(&txn, &mut out.log)?;

        let state = txn.open_table(STATE).map_err(read_error)?;
        out.state
            .reserve(plausible(state.len().map_err(read_error)?));
        for item in state.iter().map_err(read_error)? {
            let (k, v) = item.map_err(read_error)?;
            let key = k.value();
            let value =
                record::decode(v.value()).map_err(corrupt(Table::State, printable_key(key)))?;
            out.state
                .push((Bytes::copy_from_slice(key), Bytes::copy_from_slice(value)));
        }

        let meta = txn.open_table(META).map_err(read_error)?;
        for item in meta.iter().map_err(read_error)? {
            let (k, v) = item.map_err(read_error)?;
            let name = k.value();
            let value = record::decode(v.value())
                .map_err(corrupt(Table::Meta, printable_key(name.as_bytes())))?;
            out.meta
                .insert(name.to_owned(), Bytes::copy_from_slice(value));
        }
        Ok(out)
    }

    fn commit(&mut self, batch: &Batch, sync: bool) -> Result<(), CommitError> {
        self.checked(|s| s.write(batch, sync))
    }

    fn sync(&mut self) -> Result<(), CommitError> {
        self.checked(|s| s.write(&Batch::default(), true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: the load reserved room for as many entries as a table's header said it
    /// held, and one flipped byte in that header asked for 68 GB: the allocation failed and
    /// aborted the process, where a damaged file must be an error.
    #[test]
    fn a_table_length_read_from_the_file_reserves_bounded_room() {
        assert_eq!(plausible(12), 12);
        assert_eq!(plausible(1_426_063_380), 1 << 16);
        assert_eq!(plausible(u64::MAX), 1 << 16);
    }
}
