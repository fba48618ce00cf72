//! The stable-toolchain twin of the `resp_request` fuzz target: its body
//! (`fuzz/bodies/resp_request.rs`) runs over the seed inputs in `fuzz/fixtures/resp_request/`,
//! whole, cut at every length and with every control byte (so every split point and both
//! sets of limits), and over encodings made here. A fixture named `valid-*` must decode to
//! whole requests and one named `bad-*` must not; a crash libFuzzer finds is kept there as
//! `bad-*` (or `valid-*`) so that it runs here on every `cargo test`.

#![allow(clippy::expect_used)]

use std::fs;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use meridian_resp::Request;

#[path = "../../../fuzz/bodies/resp_request.rs"]
mod body;

/// Every fixture of `fuzz/fixtures/<target>/`, sorted by name.
fn fixtures(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/fixtures")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .expect("fixtures directory")
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("UTF-8 fixture name")
                .to_owned();
            (name, fs::read(&path).expect("fixture"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn fixtures_decode_as_named_and_never_panic() {
    let fixtures = fixtures("resp_request");
    let valid = fixtures
        .iter()
        .filter(|(n, _)| n.starts_with("valid-"))
        .count();
    let bad = fixtures
        .iter()
        .filter(|(n, _)| n.starts_with("bad-"))
        .count();
    assert!(valid > 0 && bad > 0, "valid and bad seeds: {fixtures:?}");
    assert_eq!(
        valid + bad,
        fixtures.len(),
        "every fixture is valid-* or bad-*"
    );
    for (name, bytes) in &fixtures {
        assert_eq!(body::check(bytes), name.starts_with("valid-"), "{name}");
        for len in 0..bytes.len() {
            body::check(&bytes[..len]);
        }
        if let Some((&control, input)) = bytes.split_first() {
            let limits_bit = control & 1;
            for split in 0..=127u8 {
                let mut again = vec![(split << 1) | limits_bit];
                again.extend_from_slice(input);
                assert_eq!(
                    body::check(&again),
                    name.starts_with("valid-"),
                    "{name} split by control byte {split}"
                );
            }
        }
    }
}

#[test]
fn requests_made_here_decode() {
    let big = Bytes::from(vec![0xa5; 70_000]);
    let requests = [
        Request::new([&b"PING"[..]]),
        Request::new([&b"SET"[..], b"k", b""]),
        Request::new([
            Bytes::from_static(b"SET"),
            Bytes::from_static(b"k\r\n"),
            big,
        ]),
        Request::new([&b"\x00"[..]]),
    ];
    for request in &requests {
        let mut encoded = BytesMut::from(&[0x40][..]);
        request.encode(&mut encoded);
        assert!(body::check(&encoded));
        let outcome = body::decode_reads(meridian_resp::Limits::authenticated(), &[&encoded[1..]]);
        assert_eq!(outcome.requests, std::slice::from_ref(request));
        assert!(!body::check(&encoded[..encoded.len() - 1]));
    }
}
