//! The stable-toolchain twin of the `store_record` fuzz target: its body
//! (`fuzz/bodies/store_record.rs`) runs over the seed inputs in `fuzz/fixtures/store_record/`,
//! over every prefix of them, and over envelopes made here. A fixture named `valid-*` must
//! decode and one named `bad-*` must not; a crash libFuzzer finds is kept there as `bad-*` (or
//! `valid-*`) so that it runs here on every `cargo test`.

#![allow(clippy::expect_used)]

use std::fs;
use std::path::PathBuf;

use meridian_store::record;

#[path = "../../../fuzz/bodies/store_record.rs"]
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
    let fixtures = fixtures("store_record");
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
    }
}

#[test]
fn envelopes_made_here_decode() {
    let big = vec![0xa5; 70_000];
    for payload in [&b""[..], b"hello", &[0; 5], &[0xff; 1], &big] {
        let rec = record::encode(payload);
        assert!(body::check(&rec));
        let mut flipped = rec.clone();
        if let Some(last) = flipped.last_mut() {
            *last ^= 0x40;
            assert!(!body::check(&flipped));
        }
        assert!(!body::check(&rec[..rec.len() - 1]));
    }
}
