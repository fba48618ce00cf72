//! The body of the `key_state` fuzz target, shared with its stable-toolchain twin
//! `crates/crdt/tests/state_fixtures.rs` (both include this file with `#[path]`).

use bytes::Bytes;
use meridian_crdt::Keyspace;

/// Loads `data` as the stored state of key `k` into an empty keyspace; returns whether it
/// loaded.
///
/// Never panics on any input. The encoding is canonical, so state that loads re-encodes to
/// exactly `data`; state that does not load leaves the keyspace empty.
pub fn check(data: &[u8]) -> bool {
    let mut ks = Keyspace::new();
    match ks.load_key(Bytes::from_static(b"k"), data) {
        Ok(()) => {
            assert_eq!(ks.encode_key(b"k").as_deref(), Some(data), "canonical");
            true
        }
        Err(_) => {
            assert_eq!(
                ks,
                Keyspace::new(),
                "an error leaves the keyspace unchanged"
            );
            false
        }
    }
}
