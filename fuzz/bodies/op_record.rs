//! The body of the `op_record` fuzz target, shared with its stable-toolchain twin
//! `crates/replica/tests/op_fixtures.rs` (both include this file with `#[path]`).

use meridian_replica::Op;

/// Decodes `data` as a stored op; returns whether it decoded.
///
/// Never panics on any input. An op that decodes survives `Op::encode` then `Op::decode`
/// unchanged, and `Op::encoded_len` is the length of its encoding.
pub fn check(data: &[u8]) -> bool {
    let Ok(op) = Op::decode(data) else {
        return false;
    };
    let again = op.encode();
    assert_eq!(Op::decode(&again).as_ref(), Ok(&op), "encode then decode");
    assert_eq!(op.encoded_len(), again.len(), "encoded_len");
    true
}
