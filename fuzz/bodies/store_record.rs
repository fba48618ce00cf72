//! The body of the `store_record` fuzz target, shared with its stable-toolchain twin
//! `crates/store/tests/record_fixtures.rs` (both include this file with `#[path]`).

use meridian_store::{record, run};

/// Decodes `data` as a stored record envelope; returns whether it decoded.
///
/// Never panics on any input. A record that decodes is exactly the envelope of its payload:
/// re-encoding the payload gives the same bytes, which decode to the same payload. Its
/// payload is then read as a log run (a run's record is an envelope like any other), which
/// never panics either, and a run that decodes re-encodes to the same payload.
pub fn check(data: &[u8]) -> bool {
    let Ok(payload) = record::decode(data) else {
        return false;
    };
    let again = record::encode(payload);
    assert_eq!(record::decode(&again), Ok(payload), "re-encoded payload");
    assert_eq!(again, data, "the envelope is canonical");
    if let Ok(ranges) = run::decode(payload) {
        let mut encoded = Vec::new();
        run::encode_into(ranges.into_iter().map(|r| &payload[r]), &mut encoded);
        assert_eq!(encoded, payload, "the run is canonical");
    }
    true
}
