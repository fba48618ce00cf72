//! What a replica does when its store lets it down: a stored key state that does not decode
//! is an error that names the key, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use meridian_crdt::{ActorId, Command};
use meridian_replica::{Config, NewError, Replica, Restored};
use proptest::prelude::*;
use support::{key, mesh_3, wall};

const ME: ActorId = ActorId(1);

/// A store that wrote these state bytes for key `k`, with nothing in its log.
fn stored(entries: Vec<(Bytes, Vec<u8>)>) -> Restored {
    Restored {
        state: entries,
        history_complete: true,
        ..Restored::default()
    }
}

fn restore(restored: Restored) -> Result<Replica, NewError> {
    Replica::restore(ME, mesh_3(), Config::lan(), 0, wall(0), restored)
}

/// A key's state as a replica encodes it for the store.
fn good_state(k: &str) -> Vec<u8> {
    let mut r = Replica::new(ME, mesh_3(), Config::lan(), wall(0)).unwrap();
    r.write(
        0,
        wall(0),
        key(k),
        Command::SAdd(vec![Bytes::from_static(b"m")]),
    )
    .unwrap();
    r.keyspace().encode_key(k.as_bytes()).unwrap()
}

#[test]
fn a_stored_key_state_that_does_not_decode_names_its_key_and_table() {
    let good = good_state("cart:7");
    let mut truncated = good.clone();
    truncated.truncate(good.len() - 1);
    let cases: Vec<(Bytes, Vec<u8>, &str)> = vec![
        (key("user:1"), Vec::new(), "user:1"),
        (key("user:2"), vec![0xee, 1, 2], "user:2"),
        (key("cart:7"), truncated, "cart:7"),
        (
            Bytes::from_static(&[0xff, 0x00, b'k']),
            vec![0xee],
            "0xff006b",
        ),
    ];
    for (k, bytes, shown) in cases {
        // A good key first: the bad one is found wherever it sits.
        let entries = vec![(key("cart:1"), good_state("cart:1")), (k, bytes)];
        let e = restore(stored(entries)).unwrap_err();
        assert!(
            matches!(&e, NewError::State { key, .. } if key == shown),
            "{e:?}"
        );
        let message = e.to_string();
        assert!(
            message.contains(&format!("key {shown} in table state")),
            "{message}"
        );
    }
    let ok = restore(stored(vec![(key("cart:7"), good)])).unwrap();
    assert!(ok.keyspace().get(b"cart:7").is_some());
}

proptest! {
    #[test]
    fn any_stored_state_bytes_restore_or_fail_naming_the_key(
        bytes in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        restores_or_names_the_key(bytes)?;
    }

    #[test]
    fn a_stored_state_with_one_byte_changed_restores_or_fails_naming_the_key(
        at in any::<prop::sample::Index>(),
        to in any::<u8>(),
    ) {
        let mut bytes = good_state("k");
        let i = at.index(bytes.len());
        bytes[i] = to;
        restores_or_names_the_key(bytes)?;
    }
}

fn restores_or_names_the_key(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    match restore(stored(vec![(key("k"), bytes)])) {
        Ok(r) => prop_assert!(r.keyspace().encode_key(b"k").is_some()),
        Err(NewError::State { key, .. }) => prop_assert_eq!(key, "k"),
        Err(e) => prop_assert!(false, "unexpected error {e:?}"),
    }
    Ok(())
}
