//! Bytes from a Redis client, decoded as requests (`meridian_resp::Decoder`): never a panic,
//! the same result however the bytes are split, and a decoded request re-encoded as a RESP
//! array decodes to itself. The body lives in `fuzz/bodies/resp_request.rs`; its
//! stable-toolchain twin, `crates/resp/tests/request_fixtures.rs`, runs it over
//! `fuzz/fixtures/resp_request/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bodies/resp_request.rs"]
mod body;

fuzz_target!(|data: &[u8]| {
    let _ = body::check(data);
});
