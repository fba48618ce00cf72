//! `LongDouble` against redis-server itself: `fixtures/incrbyfloat.txt` holds `INCRBYFLOAT`
//! replies recorded from redis-server 7.0.15 on x86-64, each replayed here as Redis computes
//! it (parse the stored value, parse the increment, add, refuse a non-finite sum, print).
//! Property tests then hold the type to its own laws on inputs no fixture lists.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use meridian_crdt::LongDouble;
use proptest::prelude::*;

const NOT_A_FLOAT: &str = "ERR value is not a valid float";
const NOT_FINITE: &str = "ERR increment would produce NaN or Infinity";

/// A reply to `INCRBYFLOAT`: the new value, or the error's text.
type Reply = Result<Vec<u8>, String>;

/// One fixture line: the value SET first, then each increment with Redis's reply to it
/// (`=value` or `!error`), each increment applied to the value the previous one left.
struct Sequence {
    line: usize,
    start: Vec<u8>,
    steps: Vec<(Vec<u8>, Reply)>,
}

/// Undoes the fixture's escapes (`\\`, `\t`, `\n`, `\xHH`), which keep each field on its line.
fn unescape(field: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut bytes = field.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'\\') => out.push(b'\\'),
            Some(b't') => out.push(b'\t'),
            Some(b'n') => out.push(b'\n'),
            Some(b'x') => {
                let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                let hex = std::str::from_utf8(&hex).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
            }
            other => panic!("bad escape {other:?} in {field:?}"),
        }
    }
    out
}

fn fixture() -> Vec<Sequence> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/incrbyfloat.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert!(fields.len() % 2 == 1, "line {}: {line:?}", index + 1);
            let steps = fields[1..]
                .chunks(2)
                .map(|pair| {
                    let reply = match pair[1].split_at(1) {
                        ("=", value) => Ok(unescape(value)),
                        ("!", error) => Err(error.to_owned()),
                        _ => panic!("line {}: bad reply {:?}", index + 1, pair[1]),
                    };
                    (unescape(pair[0]), reply)
                })
                .collect();
            Sequence {
                line: index + 1,
                start: unescape(fields[0]),
                steps,
            }
        })
        .collect()
}

/// `INCRBYFLOAT` as redis-server runs it on `stored`: the stored value is checked first.
fn incrbyfloat(stored: &[u8], increment: &[u8]) -> Reply {
    let value = LongDouble::parse(stored).ok_or(NOT_A_FLOAT)?;
    let increment = LongDouble::parse(increment).ok_or(NOT_A_FLOAT)?;
    let sum = value + increment;
    if !sum.is_finite() {
        return Err(NOT_FINITE.to_owned());
    }
    Ok(sum.to_human().into_bytes())
}

#[test]
fn every_recorded_incrbyfloat_reply_is_reproduced_byte_for_byte() {
    let sequences = fixture();
    let mut replies = 0;
    let mut mismatches = Vec::new();
    for sequence in &sequences {
        let mut stored = sequence.start.clone();
        for (increment, expected) in &sequence.steps {
            replies += 1;
            let actual = incrbyfloat(&stored, increment);
            if &actual != expected {
                mismatches.push(format!(
                    "line {}: {:?} + {:?}: redis {:?}, ours {:?}",
                    sequence.line,
                    String::from_utf8_lossy(&stored),
                    String::from_utf8_lossy(increment),
                    expected.as_ref().map(|v| String::from_utf8_lossy(v)),
                    actual.as_ref().map(|v| String::from_utf8_lossy(v)),
                ));
            }
            if let Ok(value) = expected {
                stored = value.clone();
            }
        }
    }
    // A truncated or emptied fixture must not pass quietly.
    assert!(replies > 5000, "only {replies} recorded replies");
    assert!(
        mismatches.is_empty(),
        "{} of {replies} replies differ:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(30)].join("\n")
    );
}

#[test]
fn opposite_infinities_sum_to_nan() {
    let inf = LongDouble::parse(b"inf").unwrap();
    let minus_inf = LongDouble::parse(b"-Infinity").unwrap();
    assert!(!inf.is_finite() && !inf.is_nan());
    assert!((inf + minus_inf).is_nan());
    assert_eq!(inf + inf, inf);
    assert_eq!(inf + LongDouble::from_i64(-1), inf);
}

#[test]
fn extreme_integers_are_exact() {
    for value in [i64::MIN, i64::MAX, -1, 0, 1] {
        assert_eq!(LongDouble::from_i64(value).to_human(), value.to_string());
        assert_eq!(
            LongDouble::parse(value.to_string().as_bytes()),
            Some(LongDouble::from_i64(value))
        );
    }
}

#[test]
fn non_canonical_encodings_are_refused() {
    let integer_bit = 1u64 << 63;
    // An unnormal, a pseudo-denormal, a pseudo-infinity, a pseudo-NaN, a signalling NaN and
    // a quiet NaN other than the FPU's default one.
    for (sign_exp, mantissa) in [
        (0x3FFF, 1),
        (0x0000, integer_bit | 5),
        (0x7FFF, 0),
        (0xFFFF, 7),
        (0x7FFF, integer_bit | 1),
        (0x7FFF, 0xC000_0000_0000_0000),
    ] {
        assert_eq!(LongDouble::from_bits(sign_exp, mantissa), None);
    }
    let nan = LongDouble::parse(b"inf").unwrap() + LongDouble::parse(b"-inf").unwrap();
    let (sign_exp, mantissa) = nan.to_bits();
    assert_eq!(LongDouble::from_bits(sign_exp, mantissa), Some(nan));
}

#[test]
fn zeros_of_either_sign_print_as_zero() {
    let minus_zero = LongDouble::parse(b"-0").unwrap();
    assert_ne!(minus_zero, LongDouble::from_i64(0));
    assert_eq!(minus_zero.to_human(), "0");
    assert_eq!((minus_zero + minus_zero).to_bits(), minus_zero.to_bits());
    assert_eq!(
        minus_zero + LongDouble::from_i64(0),
        LongDouble::from_i64(0)
    );
}

/// Valid values of every class: numbers near one, huge, tiny and denormal ones, zeros,
/// infinities, and whatever parses from a short decimal.
fn long_double() -> impl Strategy<Value = LongDouble> {
    let integer_bit = 1u64 << 63;
    prop_oneof![
        (any::<bool>(), 16_383u16 - 80..16_383 + 80, any::<u64>())
            .prop_map(move |(neg, e, m)| (u16::from(neg) << 15 | e, m | integer_bit)),
        (any::<u16>(), any::<u64>()).prop_map(move |(e, m)| (e, m | integer_bit)),
        (any::<bool>(), any::<u64>()).prop_map(move |(neg, m)| (u16::from(neg) << 15, m >> 1)),
        (any::<bool>(), prop_oneof![Just(0u64), Just(integer_bit)])
            .prop_map(|(neg, m)| (u16::from(neg) << 15 | if m == 0 { 0 } else { 0x7FFF }, m)),
    ]
    .prop_filter_map("canonical", |(e, m)| LongDouble::from_bits(e, m))
    .boxed()
    .prop_union(
        "-?[0-9]{1,20}(\\.[0-9]{0,20})?(e-?[0-9]{1,3})?"
            .prop_filter_map("parses", |text| LongDouble::parse(text.as_bytes()))
            .boxed(),
    )
}

proptest! {
    #[test]
    fn bits_round_trip(x in long_double()) {
        let (sign_exp, mantissa) = x.to_bits();
        prop_assert_eq!(LongDouble::from_bits(sign_exp, mantissa), Some(x));
    }

    #[test]
    fn addition_commutes(x in long_double(), y in long_double()) {
        prop_assert_eq!(x + y, y + x);
    }

    #[test]
    fn printed_values_parse_back_to_the_same_text(x in long_double()) {
        prop_assume!(x.is_finite());
        let text = x.to_human();
        let again = LongDouble::parse(text.as_bytes());
        prop_assert!(again.is_some(), "{} does not parse", text);
        prop_assert_eq!(again.map(|y| y.to_human()), Some(text));
    }

    #[test]
    fn any_encoding_decodes_without_panicking(sign_exp in any::<u16>(), mantissa in any::<u64>()) {
        if let Some(x) = LongDouble::from_bits(sign_exp, mantissa) {
            prop_assert_eq!(x.to_bits(), (sign_exp, mantissa));
            let _ = x.to_human();
        }
    }

    #[test]
    fn any_text_parses_without_panicking(text in proptest::collection::vec(any::<u8>(), 0..40)) {
        let _ = LongDouble::parse(&text);
    }
}
