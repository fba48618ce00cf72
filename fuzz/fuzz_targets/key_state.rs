//! Bytes read back from the store or a peer's snapshot, loaded as one key's CRDT state
//! (`Keyspace::load_key`): never a panic, and state that loads re-encodes to the same bytes.
//! The body lives in `fuzz/bodies/key_state.rs`; its stable-toolchain twin,
//! `crates/crdt/tests/state_fixtures.rs`, runs it over `fuzz/fixtures/key_state/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bodies/key_state.rs"]
mod body;

fuzz_target!(|data: &[u8]| {
    let _ = body::check(data);
});
