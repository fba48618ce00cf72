//! Bytes read back from the store, checked as a record envelope
//! (`meridian_store::record::decode`): never a panic, and a record that decodes is the
//! envelope of its payload. The body lives in `fuzz/bodies/store_record.rs`; its
//! stable-toolchain twin, `crates/store/tests/record_fixtures.rs`, runs it over
//! `fuzz/fixtures/store_record/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bodies/store_record.rs"]
mod body;

fuzz_target!(|data: &[u8]| {
    let _ = body::check(data);
});
