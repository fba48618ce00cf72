//! Splitting an inline request line into arguments, by the rules of Redis's `sdssplitargs`.
//!
//! Arguments are separated by blanks. An argument may be, or contain from some point on,
//! a "double-quoted" part, where `\n` `\r` `\t` `\b` `\a` stand for their control bytes,
//! `\xHH` for any byte, and a backslash before anything else for that thing (`\"`, `\\`); or a
//! 'single-quoted' part, where only `\'` is special. A closing quote must be followed by a
//! blank or the end of the line, and every opened quote must close.

use bytes::Bytes;

/// The blanks skipped between arguments: C's `isspace` in the C locale.
fn is_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Splits `line` (without its `\r\n`, and without NUL bytes) into arguments; `None` if its
/// quotes are unbalanced. An empty or all-blank line gives no arguments.
///
/// Mirrors `sdssplitargs` byte for byte. Where that reads the C string's terminating NUL, this
/// reads the end of `line`: `at(i)` is `None` past the end.
pub(crate) fn split(line: &[u8]) -> Option<Vec<Bytes>> {
    let at = |i: usize| line.get(i).copied();
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while at(p).is_some_and(is_blank) {
            p += 1;
        }
        if p >= line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let mut done = false;
            if in_double {
                match (at(p), at(p + 1)) {
                    (Some(b'\\'), Some(b'x'))
                        if at(p + 2).is_some_and(|b| b.is_ascii_hexdigit())
                            && at(p + 3).is_some_and(|b| b.is_ascii_hexdigit()) =>
                    {
                        current.push(hex(line[p + 2]) * 16 + hex(line[p + 3]));
                        p += 3;
                    }
                    (Some(b'\\'), Some(escaped)) => {
                        p += 1;
                        current.push(match escaped {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    (Some(b'"'), next) => {
                        if next.is_some_and(|b| !is_blank(b)) {
                            return None;
                        }
                        done = true;
                    }
                    (None, _) => return None,
                    (Some(byte), _) => current.push(byte),
                }
            } else if in_single {
                match (at(p), at(p + 1)) {
                    (Some(b'\\'), Some(b'\'')) => {
                        p += 1;
                        current.push(b'\'');
                    }
                    (Some(b'\''), next) => {
                        if next.is_some_and(|b| !is_blank(b)) {
                            return None;
                        }
                        done = true;
                    }
                    (None, _) => return None,
                    (Some(byte), _) => current.push(byte),
                }
            } else {
                match at(p) {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => done = true,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(byte) => current.push(byte),
                }
            }
            if p < line.len() {
                p += 1;
            }
            if done {
                break;
            }
        }
        args.push(Bytes::from(current));
    }
}

/// The value of an ASCII hex digit (the caller has checked that it is one).
fn hex(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    fn args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
        split(line).map(|args| args.iter().map(|a| a.to_vec()).collect())
    }

    fn ok(line: &[u8], expected: &[&[u8]]) {
        let expected: Vec<Vec<u8>> = expected.iter().map(|a| a.to_vec()).collect();
        assert_eq!(
            args(line),
            Some(expected),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }

    #[test]
    fn blanks_separate_arguments() {
        ok(b"SET  k\tv", &[b"SET", b"k", b"v"]);
        ok(b"  PING  ", &[b"PING"]);
        ok(b"", &[]);
        ok(b" \t \x0b\x0c", &[]);
        // \v and \f are skipped between arguments but are part of an unquoted one.
        ok(b"a\x0bb", &[b"a\x0bb"]);
        ok(b"a\rb", &[b"a", b"b"]);
    }

    #[test]
    fn double_quotes_unescape() {
        ok(
            br#"SET "a b" "\n\r\t\b\a\\\"\q\x41\x4a\x4A""#,
            &[b"SET", b"a b", b"\n\r\t\x08\x07\\\"qAJJ"],
        );
        ok(br#""""#, &[b""]);
        // Not a hex escape: \x then one hex digit is an escaped x.
        ok(br#""\x4""#, &[b"x4"]);
        ok(br#""\xzz""#, &[b"xzz"]);
        // A quoted part may follow unquoted bytes of the same argument.
        ok(br#"ab"c d""#, &[b"abc d"]);
    }

    #[test]
    fn single_quotes_only_unescape_quotes() {
        ok(br"'a\'b' 'c\nd'", &[b"a'b", b"c\\nd"]);
        ok(b"''", &[b""]);
    }

    #[test]
    fn unbalanced_quotes_are_refused() {
        for line in [
            &br#""abc"#[..],
            br"'abc",
            br#""abc"def"#,
            br"'abc'def",
            br#""abc\""#,
            br"'abc\'",
            br#"a "b"#,
            br#""\"#,
        ] {
            assert_eq!(args(line), None, "{:?}", String::from_utf8_lossy(line));
        }
        ok(br#""abc" def"#, &[b"abc", b"def"]);
        ok(b"\"abc\"\x0bdef", &[b"abc", b"def"]);
    }
}
