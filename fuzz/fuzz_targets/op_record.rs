//! Bytes read back from the op log, decoded as an op (`Op::decode`): never a panic, and an op
//! that decodes survives encode then decode. The body lives in `fuzz/bodies/op_record.rs`; its
//! stable-toolchain twin, `crates/replica/tests/op_fixtures.rs`, runs it over
//! `fuzz/fixtures/op_record/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bodies/op_record.rs"]
mod body;

fuzz_target!(|data: &[u8]| {
    let _ = body::check(data);
});
