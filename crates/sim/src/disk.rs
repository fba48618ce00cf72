//! A node's simulated disk: the store crate's fault-injecting backend, written with the same
//! record encodings a real node uses (ops, key states, vectors), so that every restart in the
//! simulator also reads back what it wrote. [`store_batch`] and [`restored`] are the bridge
//! between the replica's `Output::Persist` and the store's tables.

use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::VersionVector;
use meridian_replica::{Millis, Op, Restored};
use meridian_store::{Batch, CommitError, FaultKind, FaultStore, Loaded, Store};

/// Meta record holding the applied vector of the stored state.
pub const META_APPLIED: &str = "applied";
/// Meta record holding the log's base.
pub const META_TRUNCATED: &str = "truncated";

/// The store batch for one `Output::Persist`: ops encoded into the log, key states into the
/// state table, the state's applied vector and the log's base into meta.
pub fn store_batch(
    ops: &[Arc<Op>],
    state: Vec<(Bytes, Option<Vec<u8>>)>,
    applied: &VersionVector,
    truncate: Option<VersionVector>,
) -> Batch {
    let mut meta = vec![(META_APPLIED.to_string(), Bytes::from(applied.to_bytes()))];
    if let Some(t) = &truncate {
        meta.push((META_TRUNCATED.to_string(), Bytes::from(t.to_bytes())));
    }
    Batch {
        log: ops
            .iter()
            .map(|op| (op.dot(), Bytes::from(op.encode())))
            .collect(),
        truncate,
        state: state
            .into_iter()
            .map(|(k, v)| (k, v.map(Bytes::from)))
            .collect(),
        meta,
    }
}

/// What a restarting node reads back from `loaded`, decoded; the message names the record
/// that does not decode.
pub fn restored(loaded: Loaded, history_complete: bool) -> Result<Restored, String> {
    let vector = |name: &str| -> Result<VersionVector, String> {
        match loaded.meta.get(name) {
            Some(bytes) => {
                VersionVector::from_bytes(bytes).map_err(|e| format!("meta {name}: {e}"))
            }
            None => Ok(VersionVector::new()),
        }
    };
    let applied = vector(META_APPLIED)?;
    let truncated = vector(META_TRUNCATED)?;
    let ops = loaded
        .log
        .iter()
        .map(|(dot, bytes)| {
            Op::decode(bytes)
                .map(Arc::new)
                .map_err(|e| format!("log {}:{}: {e}", dot.actor, dot.seq))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Restored {
        state: loaded
            .state
            .into_iter()
            .map(|(k, v)| (k, v.to_vec()))
            .collect(),
        applied,
        truncated,
        ops,
        history_complete,
    })
}

/// One node's disk, and when its writer is next free.
#[derive(Debug, Default)]
pub(crate) struct SimDisk {
    store: FaultStore,
    /// Batches are written one after the other, as by a store's writer thread.
    pub(crate) busy_until: Millis,
}

impl SimDisk {
    /// Writes a batch; durable only after [`SimDisk::sync`].
    pub(crate) fn commit(&mut self, batch: &Batch) -> Result<(), CommitError> {
        self.store.commit(batch, false)
    }

    /// The fsync.
    pub(crate) fn sync(&mut self) -> Result<(), CommitError> {
        self.store.sync()
    }

    /// The process dies: what was not synced is gone.
    pub(crate) fn crash(&mut self) {
        self.store = self.store.crash();
        self.busy_until = 0;
    }

    /// Batches written but not synced: what a crash now would lose.
    pub(crate) fn unsynced_batches(&self) -> usize {
        self.store.unsynced_batches()
    }

    /// Arms a failure of the `n`-th next write or sync.
    pub(crate) fn fail_after(&self, n: u64, kind: FaultKind) {
        self.store.fail_after(n, kind);
    }

    /// What a restarting node reads back, decoded; `history_complete` as the node's fsync
    /// policy allows (see [`Restored::history_complete`]).
    pub(crate) fn restored(&self, history_complete: bool) -> Result<Restored, String> {
        let loaded = self.store.load().map_err(|e| e.to_string())?;
        restored(loaded, history_complete)
    }

    /// Ops in the store's log, as this process sees it (synced or not).
    pub(crate) fn logged_ops(&self) -> Result<usize, String> {
        Ok(self.store.load().map_err(|e| e.to_string())?.log.len())
    }
}
