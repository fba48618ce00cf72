//! Every store keeps what it was given: log, state, meta, removals, truncation; loads sorted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use meridian_crdt::{ActorId, Dot, VersionVector};
use meridian_store::{
    Batch, CommitError, FaultKind, FaultStore, LoadError, Loaded, MemStore, RedbStore, Store,
};

fn dot(actor: u32, seq: u64) -> Dot {
    Dot::new(ActorId(actor), seq)
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn put(key: &str, value: &str) -> (Bytes, Option<Bytes>) {
    (b(key), Some(b(value)))
}

fn first_batch() -> Batch {
    Batch {
        log: vec![
            (dot(2, 1), b("op 2:1")),
            (dot(1, 2), b("op 1:2")),
            (dot(1, 1), b("op 1:1")),
            (dot(1, 3), b("op 1:3")),
            (dot(10, 1), b("")),
        ],
        truncate: None,
        state: vec![put("k2", "two"), put("k1", "one"), put("k3", "three")],
        meta: vec![
            ("cluster".into(), b("c-1")),
            ("incarnation".into(), b("i-1")),
        ],
    }
}

fn second_batch() -> Batch {
    Batch {
        log: vec![(dot(1, 4), b("op 1:4"))],
        truncate: Some([(ActorId(1), 2), (ActorId(3), 9)].into_iter().collect()),
        state: vec![
            (b("k1"), None),
            put("k2", "two'"),
            (b("absent"), None),
            put("k4", "x"),
            put("k4", "four"),
        ],
        meta: vec![("cluster".into(), b("c-2"))],
    }
}

fn after_first() -> Loaded {
    Loaded {
        log: vec![
            (dot(1, 1), b("op 1:1")),
            (dot(1, 2), b("op 1:2")),
            (dot(1, 3), b("op 1:3")),
            (dot(2, 1), b("op 2:1")),
            (dot(10, 1), b("")),
        ],
        state: vec![
            (b("k1"), b("one")),
            (b("k2"), b("two")),
            (b("k3"), b("three")),
        ],
        meta: [
            ("cluster".into(), b("c-1")),
            ("incarnation".into(), b("i-1")),
        ]
        .into(),
    }
}

fn after_second() -> Loaded {
    Loaded {
        log: vec![
            (dot(1, 3), b("op 1:3")),
            (dot(1, 4), b("op 1:4")),
            (dot(2, 1), b("op 2:1")),
            (dot(10, 1), b("")),
        ],
        state: vec![
            (b("k2"), b("two'")),
            (b("k3"), b("three")),
            (b("k4"), b("four")),
        ],
        meta: [
            ("cluster".into(), b("c-2")),
            ("incarnation".into(), b("i-1")),
        ]
        .into(),
    }
}

fn roundtrip(store: &mut dyn Store) {
    assert_eq!(store.load().unwrap(), Loaded::default());
    store.commit(&first_batch(), true).unwrap();
    assert_eq!(store.load().unwrap(), after_first());
    store.commit(&second_batch(), false).unwrap();
    store.sync().unwrap();
    assert_eq!(store.load().unwrap(), after_second());
    store.commit(&Batch::default(), true).unwrap();
    assert_eq!(store.load().unwrap(), after_second());
}

#[test]
fn mem_store_roundtrip() {
    roundtrip(&mut MemStore::new());
}

#[test]
fn fault_store_roundtrip() {
    roundtrip(&mut FaultStore::new());
}

#[test]
fn redb_store_roundtrip_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    roundtrip(&mut RedbStore::open(&path).unwrap());
    assert_eq!(
        RedbStore::open(&path).unwrap().load().unwrap(),
        after_second()
    );
}

#[test]
fn merged_batch_commits_like_its_parts() {
    let mut merged = first_batch();
    merged.merge(second_batch());
    let mut store = MemStore::new();
    store.commit(&merged, true).unwrap();
    assert_eq!(store.load().unwrap(), after_second());
}

#[test]
fn truncating_an_absent_origin_or_below_the_log_changes_nothing() {
    let mut store = FaultStore::new();
    store.commit(&first_batch(), true).unwrap();
    let t = Batch {
        truncate: Some([(ActorId(7), 100)].into_iter().collect::<VersionVector>()),
        ..Batch::default()
    };
    store.commit(&t, true).unwrap();
    assert_eq!(store.load().unwrap(), after_first());
}

#[test]
fn redb_unsynced_commit_is_visible_and_kept_by_a_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let mut store = RedbStore::open(&path).unwrap();
    store.commit(&first_batch(), false).unwrap();
    assert_eq!(store.load().unwrap(), after_first());
    drop(store);
    assert_eq!(
        RedbStore::open(&path).unwrap().load().unwrap(),
        after_first()
    );
}

#[test]
fn redb_store_refuses_a_second_open_of_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let _first = RedbStore::open(&path).unwrap();
    let err = RedbStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("store.redb"), "{err}");
}

#[test]
fn fault_store_loses_unsynced_batches_at_crash_and_keeps_synced_ones() {
    let mut store = FaultStore::new();
    store.commit(&first_batch(), true).unwrap();
    store.commit(&second_batch(), false).unwrap();
    assert_eq!(store.load().unwrap(), after_second());
    assert_eq!(store.unsynced_batches(), 1);

    let mut restarted = store.crash();
    assert_eq!(restarted.load().unwrap(), after_first());
    assert_eq!(restarted.stats().lost_batches_at_crash, 1);
    assert!(matches!(
        store.commit(&second_batch(), true),
        Err(CommitError::Write(_))
    ));
    assert!(matches!(store.load(), Err(LoadError::Read(_))));

    restarted.commit(&second_batch(), false).unwrap();
    restarted.sync().unwrap();
    let again = restarted.crash();
    assert_eq!(again.load().unwrap(), after_second());
    let stats = again.stats();
    assert_eq!(stats.lost_batches_at_crash, 1);
    assert_eq!(stats.crashes, 2);
    assert_eq!(stats.commits, 3);
    assert_eq!(stats.syncs, 2);
}

/// Commits `first_batch` then fails the second commit with `kind`; returns the store.
fn fail_second_commit(kind: FaultKind) -> (FaultStore, CommitError) {
    let mut store = FaultStore::new();
    store.fail_after(2, kind);
    store.commit(&first_batch(), true).unwrap();
    let err = store.commit(&second_batch(), true).unwrap_err();
    // Poisoned: nothing is ever reported as success again, not even a sync.
    for later in [
        store.commit(&Batch::default(), true),
        store.sync(),
        store.commit(&first_batch(), false),
    ] {
        match later {
            Err(CommitError::Failed { first }) => {
                assert_eq!(first.to_string(), err.to_string())
            }
            other => panic!("expected Failed after {err}, got {other:?}"),
        }
    }
    assert_eq!(store.stats().failures, 1);
    (store, err)
}

#[test]
fn injected_write_failure_applies_nothing_and_poisons() {
    let (store, err) = fail_second_commit(FaultKind::Write);
    assert!(matches!(err, CommitError::Write(_)), "{err}");
    assert_eq!(store.load().unwrap(), after_first());
    let mut restarted = store.crash();
    restarted.commit(&second_batch(), true).unwrap();
    assert_eq!(restarted.load().unwrap(), after_second());
}

#[test]
fn injected_disk_full_applies_nothing_and_poisons() {
    let (store, err) = fail_second_commit(FaultKind::DiskFull);
    assert!(matches!(err, CommitError::DiskFull(_)), "{err}");
    assert_eq!(store.load().unwrap(), after_first());
}

#[test]
fn injected_fsync_failure_leaves_the_batch_visible_but_not_durable() {
    let (store, err) = fail_second_commit(FaultKind::Fsync);
    assert!(matches!(err, CommitError::Fsync(_)), "{err}");
    assert_eq!(store.load().unwrap(), after_second());
    assert_eq!(store.crash().load().unwrap(), after_first());
}

#[test]
fn injected_failure_of_a_sync_keeps_unsynced_batches_at_risk() {
    let mut store = FaultStore::new();
    store.commit(&first_batch(), false).unwrap();
    store.fail_after(1, FaultKind::Fsync);
    assert!(matches!(store.sync(), Err(CommitError::Fsync(_))));
    assert!(matches!(store.sync(), Err(CommitError::Failed { .. })));
    assert_eq!(store.crash().load().unwrap(), Loaded::default());
}
