//! A store's identity: created once on an empty store, found again at every open, and any
//! mismatch with the topology refused with a message saying what to do; never a panic on a
//! damaged record.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use meridian_crdt::{ActorId, Dot};
use meridian_store::identity::{IDENTITY_VERSION, MAX_FIELD_LEN};
use meridian_store::{
    Batch, CommitError, FaultKind, FaultStore, IDENTITY_KEY, Identity, IdentityError, MemStore,
    Opened, RedbStore, Store, open_identity,
};
use proptest::prelude::*;

const CLUSTER_ID: &str = "6f1c1e0a-2d3b-4c5d-8e9f-0a1b2c3d4e5f";
const OTHER_ID: &str = "0b4e8f7a-9c1d-4e2f-a3b4-c5d6e7f8a9b0";

/// Opens `store` as node `us-east` (actor 1) of cluster `west`.
fn open(store: &mut impl Store, cluster_id: Option<&str>) -> Result<Opened, IdentityError> {
    open_as(store, "west", "us-east", 1, cluster_id)
}

fn open_as(
    store: &mut impl Store,
    cluster: &str,
    node: &str,
    actor: u32,
    cluster_id: Option<&str>,
) -> Result<Opened, IdentityError> {
    let loaded = store.load().unwrap();
    open_identity(store, &loaded, cluster, node, actor, cluster_id)
}

fn created(opened: Opened) -> Identity {
    match opened {
        Opened::Created(id) => id,
        other => panic!("expected a created identity, got {other:?}"),
    }
}

fn existing(opened: Opened) -> Identity {
    match opened {
        Opened::Existing(id) => id,
        other => panic!("expected an existing identity, got {other:?}"),
    }
}

fn is_uuid_v4(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok_and(|u| u.get_version_num() == 4) && s.len() == 36
}

fn sample() -> Identity {
    Identity {
        cluster: "west".into(),
        cluster_id: CLUSTER_ID.into(),
        node: "us-east".into(),
        actor: 1,
        incarnation: OTHER_ID.into(),
    }
}

fn with_identity_bytes(bytes: &[u8]) -> MemStore {
    let mut store = MemStore::new();
    let batch = Batch {
        meta: vec![(IDENTITY_KEY.into(), Bytes::copy_from_slice(bytes))],
        ..Batch::default()
    };
    store.commit(&batch, true).unwrap();
    store
}

#[test]
fn created_on_an_empty_mem_store_then_found_again() {
    let mut store = MemStore::new();
    let id = created(open(&mut store, None).unwrap());
    assert_eq!(
        (id.cluster.as_str(), id.node.as_str(), id.actor),
        ("west", "us-east", 1)
    );
    assert!(is_uuid_v4(&id.cluster_id), "{}", id.cluster_id);
    assert!(is_uuid_v4(&id.incarnation), "{}", id.incarnation);
    assert_ne!(id.cluster_id, id.incarnation);

    let loaded = store.load().unwrap();
    assert_eq!(loaded.meta.keys().collect::<Vec<_>>(), [IDENTITY_KEY]);
    assert!(loaded.log.is_empty() && loaded.state.is_empty());

    let again = existing(open(&mut store, None).unwrap());
    assert_eq!(again, id);
    // Knowing the cluster id from the peers (in any case) changes nothing.
    let upper = id.cluster_id.to_uppercase();
    assert_eq!(existing(open(&mut store, Some(&upper)).unwrap()), id);
}

#[test]
fn created_on_an_empty_redb_store_then_found_again_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.redb");
    let id = {
        let mut store = RedbStore::open(&path).unwrap();
        created(open(&mut store, Some(CLUSTER_ID)).unwrap())
    };
    assert_eq!(id.cluster_id, CLUSTER_ID);
    let mut store = RedbStore::open(&path).unwrap();
    let again = existing(open(&mut store, Some(CLUSTER_ID)).unwrap());
    assert_eq!(again, id);
    assert_eq!(again.incarnation, id.incarnation);
}

#[test]
fn the_given_cluster_id_is_recorded_canonically() {
    let mut store = MemStore::new();
    let id = created(open(&mut store, Some(&CLUSTER_ID.to_uppercase())).unwrap());
    assert_eq!(id.cluster_id, CLUSTER_ID);
}

#[test]
fn every_store_created_gets_a_new_incarnation_and_without_peers_a_new_cluster_id() {
    let a = created(open(&mut MemStore::new(), None).unwrap());
    let b = created(open(&mut MemStore::new(), None).unwrap());
    assert_ne!(a.incarnation, b.incarnation);
    assert_ne!(a.cluster_id, b.cluster_id);
    let c = created(open(&mut MemStore::new(), Some(CLUSTER_ID)).unwrap());
    let d = created(open(&mut MemStore::new(), Some(CLUSTER_ID)).unwrap());
    assert_eq!(c.cluster_id, d.cluster_id);
    assert_ne!(c.incarnation, d.incarnation);
}

#[test]
fn a_synced_identity_survives_a_crash() {
    let store = FaultStore::new();
    let id = created(open(&mut store.clone(), None).unwrap());
    assert_eq!(store.unsynced_batches(), 0);
    let mut restarted = store.crash();
    assert_eq!(existing(open(&mut restarted, None).unwrap()), id);
}

#[test]
fn another_cluster_name_is_refused_naming_both_and_the_fix() {
    let mut store = MemStore::new();
    created(open(&mut store, None).unwrap());
    let err = open_as(&mut store, "east-africa", "us-east", 1, None).unwrap_err();
    let IdentityError::OtherCluster { expected, found } = &err else {
        panic!("expected OtherCluster, got {err:?}");
    };
    assert_eq!((expected.as_str(), found.as_str()), ("east-africa", "west"));
    assert_eq!(
        err.to_string(),
        "this store belongs to cluster \"west\" but the topology file names cluster \
         \"east-africa\": point data_dir at this cluster's store, or remove it to start this \
         node afresh (it will learn its history from its peers)"
    );
    // Refusing wrote nothing.
    assert_eq!(store.load().unwrap().meta.len(), 1);
}

#[test]
fn another_node_name_or_actor_is_refused() {
    let mut store = MemStore::new();
    created(open(&mut store, None).unwrap());
    for (node, actor) in [("eu-west", 1), ("us-east", 2), ("eu-west", 2)] {
        let err = open_as(&mut store, "west", node, actor, None).unwrap_err();
        match &err {
            IdentityError::OtherNode {
                expected_node,
                found_node,
                expected_actor,
                found_actor,
            } => {
                assert_eq!(
                    (expected_node.as_str(), *expected_actor),
                    (node, actor),
                    "{err}"
                );
                assert_eq!((found_node.as_str(), *found_actor), ("us-east", 1));
            }
            other => panic!("expected OtherNode, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("\"us-east\" (actor 1)"), "{msg}");
        assert!(msg.contains(&format!("{node:?} (actor {actor})")), "{msg}");
        assert!(
            msg.contains("point data_dir at this node's own store"),
            "{msg}"
        );
    }
}

#[test]
fn another_cluster_id_is_refused() {
    let mut store = MemStore::new();
    created(open(&mut store, Some(CLUSTER_ID)).unwrap());
    let err = open(&mut store, Some(OTHER_ID)).unwrap_err();
    let IdentityError::ClusterIdMismatch {
        cluster,
        expected,
        found,
    } = &err
    else {
        panic!("expected ClusterIdMismatch, got {err:?}");
    };
    assert_eq!(cluster, "west");
    assert_eq!(expected, OTHER_ID);
    assert_eq!(found, CLUSTER_ID);
    let msg = err.to_string();
    assert!(
        msg.contains(CLUSTER_ID) && msg.contains(OTHER_ID) && msg.contains("remove it"),
        "{msg}"
    );
}

#[test]
fn a_cluster_id_that_is_not_a_uuid_is_refused_and_nothing_written() {
    let mut store = MemStore::new();
    let err = open(&mut store, Some("west-1")).unwrap_err();
    assert!(matches!(err, IdentityError::InvalidArgument(_)), "{err:?}");
    assert!(store.load().unwrap().meta.is_empty());
}

#[test]
fn empty_or_overlong_names_are_refused_and_nothing_written() {
    let long = "n".repeat(MAX_FIELD_LEN + 1);
    for (cluster, node) in [("", "us-east"), ("west", ""), (long.as_str(), "us-east")] {
        let mut store = MemStore::new();
        let err = open_as(&mut store, cluster, node, 1, None).unwrap_err();
        assert!(matches!(err, IdentityError::InvalidArgument(_)), "{err:?}");
        assert!(store.load().unwrap().meta.is_empty());
    }
    let longest = "n".repeat(MAX_FIELD_LEN);
    let mut store = MemStore::new();
    let id = created(open_as(&mut store, &longest, &longest, u32::MAX, None).unwrap());
    assert_eq!(
        existing(open_as(&mut store, &longest, &longest, u32::MAX, None).unwrap()),
        id
    );
}

#[test]
fn damaged_identity_records_are_corrupt() {
    let good = sample().encode().unwrap();
    let mut wrong_version = good.to_vec();
    wrong_version[0] = IDENTITY_VERSION + 1;
    let mut trailing = good.to_vec();
    trailing.push(0);
    let mut bad_utf8 = good.to_vec();
    bad_utf8[3] = 0xff; // first byte of the cluster name
    let bad_uuid = Identity {
        cluster_id: "not-a-uuid".into(),
        ..sample()
    }
    .encode()
    .unwrap();
    let zero_len = [IDENTITY_VERSION, 0, 0];
    let overlong = {
        let mut v = vec![IDENTITY_VERSION];
        v.extend_from_slice(&u16::MAX.to_le_bytes());
        v.extend(std::iter::repeat_n(b'a', usize::from(u16::MAX)));
        v
    };
    let cases: [(&str, &[u8]); 8] = [
        ("empty", &[]),
        ("wrong version", &wrong_version),
        ("truncated", &good[..good.len() - 1]),
        ("trailing bytes", &trailing),
        ("bad utf-8", &bad_utf8),
        ("cluster id not a uuid", &bad_uuid),
        ("zero-length field", &zero_len),
        ("overlong field", &overlong),
    ];
    for (what, bytes) in cases {
        let mut store = with_identity_bytes(bytes);
        let err = open(&mut store, None).unwrap_err();
        let IdentityError::Corrupt(reason) = &err else {
            panic!("{what}: expected Corrupt, got {err:?}");
        };
        assert!(!reason.is_empty(), "{what}");
        assert!(err.to_string().contains("unreadable"), "{what}: {err}");
    }
}

#[test]
fn data_without_an_identity_is_refused_and_left_alone() {
    let batches = [
        Batch {
            log: vec![(Dot::new(ActorId(1), 1), Bytes::from_static(b"op"))],
            ..Batch::default()
        },
        Batch {
            state: vec![(Bytes::from_static(b"k"), Some(Bytes::from_static(b"v")))],
            ..Batch::default()
        },
        Batch {
            meta: vec![("applied".into(), Bytes::from_static(b"vv"))],
            ..Batch::default()
        },
    ];
    for batch in batches {
        let mut store = MemStore::new();
        store.commit(&batch, true).unwrap();
        let before = store.load().unwrap();
        let err = open(&mut store, None).unwrap_err();
        assert!(
            matches!(err, IdentityError::NotEmptyWithoutIdentity),
            "{err:?}"
        );
        assert!(err.to_string().contains("no identity record"), "{err}");
        assert_eq!(store.load().unwrap(), before);
    }
}

#[test]
fn a_failed_commit_is_reported_and_a_restart_starts_afresh() {
    for kind in [FaultKind::Write, FaultKind::DiskFull, FaultKind::Fsync] {
        let store = FaultStore::new();
        store.fail_after(1, kind);
        let err = open(&mut store.clone(), None).unwrap_err();
        let IdentityError::Commit(cause) = &err else {
            panic!("{kind:?}: expected Commit, got {err:?}");
        };
        match (kind, cause) {
            (FaultKind::Write, CommitError::Write(_))
            | (FaultKind::DiskFull, CommitError::DiskFull(_))
            | (FaultKind::Fsync, CommitError::Fsync(_)) => {}
            _ => panic!("{kind:?}: unexpected {cause:?}"),
        }
        // The store is poisoned: every later commit fails, reporting the first failure.
        let later = store.clone().commit(&Batch::default(), true).unwrap_err();
        assert!(matches!(later, CommitError::Failed { .. }), "{later:?}");
        let again = open(&mut store.clone(), None);
        if kind == FaultKind::Fsync {
            // After a failed fsync the identity is visible to this process but not durable:
            // the caller must stop on the first error, not retry.
            assert!(matches!(again, Ok(Opened::Existing(_))), "{again:?}");
        } else {
            assert!(
                matches!(
                    again,
                    Err(IdentityError::Commit(CommitError::Failed { .. }))
                ),
                "{again:?}"
            );
        }
        // Nothing reached the disk: after a restart the store is empty and is created anew.
        let mut restarted = store.crash();
        assert!(store.load().is_err());
        created(open(&mut restarted, None).unwrap());
    }
}

#[test]
fn open_identity_helpers() {
    let mut store = MemStore::new();
    let opened = open(&mut store, None).unwrap();
    assert!(opened.is_created());
    let id = opened.clone().into_identity();
    assert_eq!(opened.identity(), &id);
    let again = open(&mut store, None).unwrap();
    assert!(!again.is_created());
    assert_eq!(again.into_identity(), id);
    let shown = id.to_string();
    assert!(
        shown.contains("\"us-east\"") && shown.contains(&id.incarnation),
        "{shown}"
    );
}

proptest! {
    #[test]
    fn decoding_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        match Identity::decode(&bytes) {
            // Whatever decodes re-encodes to the same bytes.
            Ok(id) => prop_assert_eq!(id.encode().unwrap(), Bytes::from(bytes.clone())),
            Err(reason) => prop_assert!(!reason.is_empty()),
        }
        let mut store = with_identity_bytes(&bytes);
        match open(&mut store, None) {
            Ok(Opened::Existing(_)) | Err(IdentityError::Corrupt(_) | IdentityError::OtherCluster { .. } | IdentityError::OtherNode { .. }) => {}
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn every_damage_to_a_valid_record_is_caught_or_harmless(
        cluster in "[a-z][a-z0-9-]{0,20}",
        node in "\\PC{1,20}",
        actor in any::<u32>(),
        at in any::<prop::sample::Index>(),
        flip in 1..=255u8,
        cut in any::<prop::sample::Index>(),
    ) {
        let id = Identity { cluster, node, actor, ..sample() };
        let good = id.encode().unwrap();
        prop_assert_eq!(Identity::decode(&good), Ok(id.clone()));
        // Every strict prefix is refused.
        let cut = cut.index(good.len());
        prop_assert!(Identity::decode(&good[..cut]).is_err());
        // A flipped byte is refused or decodes to another identity, never panics.
        let mut bad = good.to_vec();
        bad[at.index(good.len())] ^= flip;
        if let Ok(other) = Identity::decode(&bad) {
            prop_assert_ne!(other, id);
        }
    }
}
