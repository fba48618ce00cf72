//! The redb store keeps its log as runs of consecutive ops; whatever the appends and
//! truncations, it loads exactly what the one-entry-per-op reference store (`MemStore`)
//! loads, also after a reopen, and a store written with one record per op still loads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use bytes::Bytes;
use meridian_crdt::{ActorId, Dot, VersionVector};
use meridian_store::record::{self, RecordError};
use meridian_store::run::{self, RunError};
use meridian_store::{Batch, LoadError, MemStore, RedbStore, Store, Table};
use proptest::prelude::*;
use redb::backends::InMemoryBackend;
use redb::{Database, TableDefinition};

// The on-disk format: these must match the store's own definitions.
const RUNS: TableDefinition<'_, (u32, u64), &[u8]> = TableDefinition::new("log_runs");
const LEGACY: TableDefinition<'_, (u32, u64), &[u8]> = TableDefinition::new("log");

fn dot(actor: u32, seq: u64) -> Dot {
    Dot::new(ActorId(actor), seq)
}

fn op(actor: u32, seq: u64, tag: u8) -> (Dot, Bytes) {
    (
        dot(actor, seq),
        Bytes::from(format!("op {actor}:{seq}/{tag}")),
    )
}

fn upto(entries: &[(u32, u64)]) -> VersionVector {
    entries.iter().map(|&(a, s)| (ActorId(a), s)).collect()
}

fn appends(entries: Vec<(Dot, Bytes)>) -> Batch {
    Batch {
        log: entries,
        ..Batch::default()
    }
}

fn truncation(to: &[(u32, u64)]) -> Batch {
    Batch {
        truncate: Some(upto(to)),
        ..Batch::default()
    }
}

/// One step of a log's life: appends of a stretch of consecutive seqs (as a group commit
/// makes them), scattered appends (gaps, repeats, re-appends of stored seqs), a truncation.
#[derive(Debug, Clone)]
enum Step {
    Stretch { origin: u32, first: u64, len: u64 },
    Scattered(Vec<(u32, u64)>),
    Truncate(Vec<(u32, u64)>),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u32..=3, 1u64..=3_000, 1u64..=1_500)
            .prop_map(|(origin, first, len)| Step::Stretch { origin, first, len }),
        // A stretch that ends at the largest seq.
        1 => (1u32..=3, 1u64..=50).prop_map(|(origin, len)| Step::Stretch {
            origin,
            first: u64::MAX - len + 1,
            len
        }),
        2 => prop::collection::vec((1u32..=3, 1u64..=4_000), 1..12).prop_map(Step::Scattered),
        2 => prop::collection::vec((1u32..=3, 0u64..=4_000), 1..3).prop_map(Step::Truncate),
    ]
}

fn batch_of(step: &Step, tag: u8) -> Batch {
    match step {
        Step::Stretch { origin, first, len } => {
            appends((0..*len).map(|i| op(*origin, first + i, tag)).collect())
        }
        Step::Scattered(dots) => appends(dots.iter().map(|&(a, s)| op(a, s, tag)).collect()),
        Step::Truncate(to) => truncation(to),
    }
}

fn mem_redb() -> RedbStore {
    RedbStore::with_backend(InMemoryBackend::new(), "memory").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn runs_load_what_one_record_per_op_loads(steps in prop::collection::vec(step(), 1..10)) {
        let mut reference = MemStore::default();
        let mut redb = mem_redb();
        for (i, step) in steps.iter().enumerate() {
            let batch = batch_of(step, i as u8);
            reference.commit(&batch, true).unwrap();
            redb.commit(&batch, true).unwrap();
            prop_assert_eq!(redb.load().unwrap().log, reference.load().unwrap().log);
        }
    }
}

#[test]
fn a_long_stretch_is_split_into_bounded_runs_and_truncated_inside_one() {
    let mut store = mem_redb();
    let n = 3 * run::MAX_ENTRIES as u64 + 7;
    store
        .commit(&appends((1..=n).map(|s| op(5, s, 0)).collect()), true)
        .unwrap();
    // Inside the second run: its tail stays, the first run goes.
    let cut = run::MAX_ENTRIES as u64 + 10;
    store.commit(&truncation(&[(5, cut)]), true).unwrap();
    let log = store.load().unwrap().log;
    let expected: Vec<_> = (cut + 1..=n).map(|s| op(5, s, 0)).collect();
    assert_eq!(log, expected);
}

#[test]
fn a_store_with_one_record_per_op_loads_and_truncates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    {
        // The layout of earlier builds: one enveloped op per `(origin, seq)` in `log`.
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(LEGACY).unwrap();
            for s in 1..=4 {
                let (_, bytes) = op(2, s, 0);
                t.insert((2, s), &record::encode(&bytes)[..]).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let mut store = RedbStore::open(&path).unwrap();
    store
        .commit(&appends(vec![op(2, 5, 1), op(1, 1, 1)]), true)
        .unwrap();
    let expected = vec![
        op(1, 1, 1),
        op(2, 1, 0),
        op(2, 2, 0),
        op(2, 3, 0),
        op(2, 4, 0),
        op(2, 5, 1),
    ];
    assert_eq!(store.load().unwrap().log, expected);
    store.commit(&truncation(&[(2, 3)]), true).unwrap();
    drop(store);
    let log = RedbStore::open(&path).unwrap().load().unwrap().log;
    assert_eq!(log, vec![op(1, 1, 1), op(2, 4, 0), op(2, 5, 1)]);
}

/// A store file whose log is one run: ops 1 to 3 of origin 7.
fn three_ops_of_origin_7(path: &Path) {
    let mut store = RedbStore::open(path).unwrap();
    store
        .commit(&appends((1..=3).map(|s| op(7, s, 0)).collect()), true)
        .unwrap();
}

fn tamper_run(path: &Path, key: (u32, u64), value: &[u8]) {
    let db = Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(RUNS).unwrap().insert(key, value).unwrap();
    txn.commit().unwrap();
}

#[test]
fn a_damaged_run_is_a_corrupt_record_naming_its_origin_and_first_seq() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    three_ops_of_origin_7(&path);
    // A sound envelope around a payload that is not a run.
    tamper_run(&path, (7, 1), &record::encode(&[2, 0, 0, 0, 1]));
    let err = RedbStore::open(&path).unwrap().load().unwrap_err();
    match err {
        LoadError::Corrupt { table, key, reason } => {
            assert_eq!((table, key.as_str()), (Table::Log, "7:1"));
            assert!(matches!(
                reason,
                RecordError::Run(RunError::Truncated { .. })
            ));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn truncating_into_a_damaged_run_fails_the_commit_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    three_ops_of_origin_7(&path);
    let mut damaged = record::encode(b"not a run");
    damaged[0] = record::VERSION;
    damaged[6] ^= 0xff; // the checksum no longer holds
    tamper_run(&path, (7, 1), &damaged);
    let mut store = RedbStore::open(&path).unwrap();
    let err = store.commit(&truncation(&[(7, 1)]), true).unwrap_err();
    assert!(err.to_string().contains("log run 7:1"), "{err}");
    drop(store);
    // Nothing was removed: the damage is still there to be reported.
    assert!(matches!(
        RedbStore::open(&path).unwrap().load(),
        Err(LoadError::Corrupt { .. })
    ));
}
