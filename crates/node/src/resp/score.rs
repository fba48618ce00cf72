//! Scores and ranges as Redis 7.0 reads them: a score argument (ZADD, ZINCRBY, WEIGHTS) the
//! way `getDoubleFromObject` does, a score range end (`1`, `(1`, `-inf`) the way `strtod`
//! does, and a name range end (`[a`, `(a`, `-`, `+`).

use bytes::Bytes;
use meridian_crdt::{LexBound, ScoreBound};

/// `s` read as C's `strtod` reads a whole string: leading white space, a sign, `inf` or
/// `infinity` (any case), a hexadecimal or decimal number; `None` if anything is left over or
/// the value is NaN. An empty string reads as 0, as `strtod` leaves it. Also returns whether
/// the text named an infinity itself (an overflow to one is `strtod`'s `ERANGE`).
fn strtod(s: &[u8]) -> Option<(f64, bool)> {
    let s = std::str::from_utf8(s).ok()?;
    let s = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    if s.is_empty() {
        return Some((0.0, false));
    }
    let (negative, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (magnitude, named_infinity) = if lower == "inf" || lower == "infinity" {
        (f64::INFINITY, true)
    } else if let Some(digits) = lower.strip_prefix("0x") {
        (hexadecimal(digits)?, false)
    } else {
        (decimal(body)?, false)
    };
    Some((
        if negative { -magnitude } else { magnitude },
        named_infinity,
    ))
}

/// Digits, an optional point and digits (one digit at least), an optional exponent.
fn decimal(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let mut mantissa = digits(&mut i);
    if i < b.len() && b[i] == b'.' {
        i += 1;
        mantissa += digits(&mut i);
    }
    if mantissa == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse().ok()
}

/// Hexadecimal digits with an optional point, and an optional binary exponent (`p`).
fn hexadecimal(s: &str) -> Option<f64> {
    let (mantissa, exponent) = match s.split_once('p') {
        Some((m, e)) => (m, Some(e)),
        None => (s, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.len() + fraction.len() == 0 {
        return None;
    }
    let mut v = 0.0f64;
    for c in whole.chars().chain(fraction.chars()) {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = -4 * i32::try_from(fraction.len()).ok()?;
    if let Some(e) = exponent {
        let e: i32 = e.parse().ok()?;
        scale = scale.checked_add(e)?;
    }
    Some(v * 2f64.powi(scale))
}

/// A score argument, as ZADD, ZINCRBY and WEIGHTS read one: all of it a number, no white
/// space before it, neither NaN nor beyond the range of a double (nor a non-zero number that
/// rounds to zero).
pub(crate) fn score_arg(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || arg[0].is_ascii_whitespace() || arg[0] == b'\x0b' {
        return None;
    }
    let (v, named_infinity) = strtod(arg)?;
    if v.is_infinite() && !named_infinity {
        return None;
    }
    if v == 0.0 && arg.iter().any(|c| (b'1'..=b'9').contains(c)) && !is_hex_zero(arg) {
        return None;
    }
    Some(v)
}

/// Whether `arg` is a hexadecimal zero (`0x0`), whose digits are not an underflow.
fn is_hex_zero(arg: &[u8]) -> bool {
    let lower = arg.to_ascii_lowercase();
    let body = lower.strip_prefix(b"-").unwrap_or(&lower);
    let body = body.strip_prefix(b"+").unwrap_or(body);
    body.strip_prefix(b"0x").is_some_and(|d| {
        d.split(|&c| c == b'p')
            .next()
            .is_some_and(|m| m.iter().all(|&c| c == b'0' || c == b'.'))
    })
}

/// One end of a score range: `(` before it excludes the score itself.
pub(crate) fn score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (text, exclusive) = match arg.strip_prefix(b"(") {
        Some(rest) => (rest, true),
        None => (arg, false),
    };
    let (value, _) = strtod(text)?;
    Some(ScoreBound { value, exclusive })
}

/// One end of a name range: `-`, `+`, `[name` or `(name`.
pub(crate) fn lex_bound(arg: &Bytes) -> Option<LexBound> {
    match arg.first()? {
        b'-' if arg.len() == 1 => Some(LexBound::Min),
        b'+' if arg.len() == 1 => Some(LexBound::Max),
        b'[' => Some(LexBound::Included(arg.slice(1..))),
        b'(' => Some(LexBound::Excluded(arg.slice(1..))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_arguments_are_read_as_redis_reads_them() {
        // Each as redis-server 7.0 answered ZADD with it.
        for (arg, want) in [
            ("1", Some(1.0)),
            ("-2.5", Some(-2.5)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("1e5", Some(1e5)),
            ("0x10", Some(16.0)),
            ("Infinity", Some(f64::INFINITY)),
            ("-inf", Some(f64::NEG_INFINITY)),
            ("+inf", Some(f64::INFINITY)),
            ("1e400", None),
            ("1e-400", None),
            (" 1", None),
            ("1 ", None),
            ("", None),
            ("nan", None),
            ("(1", None),
            ("1_0", None),
            ("abc", None),
            ("1e", None),
            ("0x", None),
            ("0", Some(0.0)),
            ("0x0", Some(0.0)),
        ] {
            assert_eq!(score_arg(arg.as_bytes()), want, "{arg:?}");
        }
    }

    #[test]
    fn range_ends_are_read_as_strtod_reads_them() {
        let b = |s: &str| score_bound(s.as_bytes());
        assert_eq!(
            b("(1.5"),
            Some(ScoreBound {
                value: 1.5,
                exclusive: true
            })
        );
        // As redis-server 7.0: white space before, an empty end (0), an overflow (inf).
        assert_eq!(b(" 1").map(|s| s.value), Some(1.0));
        assert_eq!(b("").map(|s| s.value), Some(0.0));
        assert_eq!(b("(").map(|s| (s.value, s.exclusive)), Some((0.0, true)));
        assert_eq!(b("1e400").map(|s| s.value), Some(f64::INFINITY));
        assert_eq!(b("abc"), None);
        assert_eq!(b("nan"), None);
        assert_eq!(b("1 "), None);
    }

    #[test]
    fn name_range_ends_need_a_bracket_or_a_sign() {
        let l = |s: &'static str| lex_bound(&Bytes::from_static(s.as_bytes()));
        assert_eq!(l("-"), Some(LexBound::Min));
        assert_eq!(l("+"), Some(LexBound::Max));
        assert_eq!(l("[a"), Some(LexBound::Included(Bytes::from_static(b"a"))));
        assert_eq!(l("("), Some(LexBound::Excluded(Bytes::new())));
        assert_eq!(l("a"), None);
        assert_eq!(l("-a"), None);
        assert_eq!(l(""), None);
    }
}
