//! A damaged record is a `LoadError::Corrupt` naming its table and key, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use bytes::Bytes;
use meridian_crdt::{ActorId, Dot};
use meridian_store::record::{self, RecordError};
use meridian_store::{Batch, LoadError, RedbStore, Store, Table};
use proptest::prelude::*;
use redb::{Database, TableDefinition, WriteTransaction};

// The on-disk format: these must match the store's own definitions.
const LOG: TableDefinition<'_, (u32, u64), &[u8]> = TableDefinition::new("log");
const STATE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("state");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");

fn healthy_store(path: &Path) {
    let mut store = RedbStore::open(path).unwrap();
    let batch = Batch {
        log: vec![(Dot::new(ActorId(7), 41), Bytes::from_static(b"op"))],
        truncate: None,
        state: vec![(
            Bytes::from_static(b"user:1"),
            Some(Bytes::from_static(b"v")),
        )],
        meta: vec![("cluster".into(), Bytes::from_static(b"c"))],
    };
    store.commit(&batch, true).unwrap();
}

/// Writes into the store's file behind its back, as a damaged disk or a hand edit would.
fn tamper(path: &Path, f: impl FnOnce(&WriteTransaction)) {
    let db = Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    f(&txn);
    txn.commit().unwrap();
}

fn load_error(path: &Path) -> (Table, String, RecordError) {
    match RedbStore::open(path).unwrap().load() {
        Err(LoadError::Corrupt { table, key, reason }) => (table, key, reason),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn garbage_in_the_log_names_origin_and_seq() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    healthy_store(&path);
    tamper(&path, |txn| {
        let mut t = txn.open_table(LOG).unwrap();
        t.insert((7, 42), &b"xx"[..]).unwrap();
    });
    assert_eq!(
        load_error(&path),
        (Table::Log, "7:42".into(), RecordError::TooShort { len: 2 })
    );
}

#[test]
fn wrong_version_in_the_state_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    healthy_store(&path);
    tamper(&path, |txn| {
        let mut t = txn.open_table(STATE).unwrap();
        let mut rec = record::encode(b"new format");
        rec[0] = 2;
        t.insert(&b"user:2"[..], rec.as_slice()).unwrap();
    });
    assert_eq!(
        load_error(&path),
        (
            Table::State,
            "user:2".into(),
            RecordError::UnknownVersion(2)
        )
    );
}

#[test]
fn checksum_mismatch_in_meta_names_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    healthy_store(&path);
    tamper(&path, |txn| {
        let mut t = txn.open_table(META).unwrap();
        let mut rec = record::encode(b"0123456789abcdef");
        rec[10] ^= 0x40;
        t.insert("cluster", rec.as_slice()).unwrap();
    });
    let (table, key, reason) = load_error(&path);
    assert_eq!((table, key.as_str()), (Table::Meta, "cluster"));
    assert!(
        matches!(reason, RecordError::ChecksumMismatch { .. }),
        "{reason}"
    );
}

#[test]
fn binary_state_key_is_shown_in_hex() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    healthy_store(&path);
    tamper(&path, |txn| {
        let mut t = txn.open_table(STATE).unwrap();
        t.insert(&[0xde, 0xad, 0x00][..], &[][..]).unwrap();
    });
    let (table, key, _) = load_error(&path);
    assert_eq!((table, key.as_str()), (Table::State, "0xdead00"));
    let err = RedbStore::open(&path).unwrap().load().unwrap_err();
    assert_eq!(
        err.to_string(),
        "corrupt record in table state, key 0xdead00: record too short: 0 bytes, the envelope alone takes 5"
    );
}

#[test]
fn a_corrupt_record_does_not_stop_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    healthy_store(&path);
    tamper(&path, |txn| {
        let mut t = txn.open_table(STATE).unwrap();
        t.insert(&b"bad"[..], &b"garbage!"[..]).unwrap();
    });
    let mut store = RedbStore::open(&path).unwrap();
    assert!(store.load().is_err());
    // Overwriting the damaged record repairs the table.
    let fix = Batch {
        state: vec![(Bytes::from_static(b"bad"), Some(Bytes::from_static(b"ok")))],
        ..Batch::default()
    };
    store.commit(&fix, true).unwrap();
    assert_eq!(store.load().unwrap().state.len(), 2);
}

proptest! {
    #[test]
    fn decoding_random_records_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(payload) = record::decode(&bytes) {
            prop_assert_eq!(record::encode(payload), bytes);
        }
    }

    #[test]
    fn decoding_envelopes_around_random_payloads(
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        flip in any::<(usize, u8)>(),
    ) {
        let mut rec = record::encode(&payload);
        prop_assert_eq!(record::decode(&rec), Ok(&payload[..]));
        let (at, mask) = flip;
        let at = at % rec.len();
        rec[at] ^= mask.max(1);
        prop_assert!(record::decode(&rec).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn loading_random_bytes_from_the_file_never_panics(
        value in proptest::collection::vec(any::<u8>(), 0..32),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        healthy_store(&path);
        tamper(&path, |txn| {
            let mut t = txn.open_table(LOG).unwrap();
            t.insert((1, 1), value.as_slice()).unwrap();
        });
        match RedbStore::open(&path).unwrap().load() {
            Ok(loaded) => prop_assert_eq!(record::encode(&loaded.log[0].1), value),
            Err(LoadError::Corrupt { table, key, .. }) => {
                prop_assert_eq!(table, Table::Log);
                prop_assert_eq!(key, "1:1");
            }
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }
}
