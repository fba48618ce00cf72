//! Replies and their encoding in RESP2 and RESP3.

use bytes::{BufMut, Bytes, BytesMut};

use crate::decode::{format_u64, itoa_buf};

/// The protocol a connection speaks: RESP2 by default, RESP3 after `HELLO 3`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Protocol {
    /// RESP2: the protocol of every Redis client; the default.
    #[default]
    Resp2,
    /// RESP3: typed maps, sets, nulls, doubles, booleans, verbatim strings and pushes.
    Resp3,
}

impl Protocol {
    /// The protocol of a `HELLO protover` argument: 2 or 3, anything else `None` (to which
    /// Redis answers `-NOPROTO unsupported protocol version`).
    pub fn from_version(version: i64) -> Option<Protocol> {
        match version {
            2 => Some(Protocol::Resp2),
            3 => Some(Protocol::Resp3),
            _ => None,
        }
    }

    /// The version number, as `HELLO` reports it in its `proto` field.
    pub fn version(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// A reply, encoded per protocol.
///
/// RESP2 has no RESP3-only types, so [`Reply::encode`] downgrades them as Redis does: `Map`
/// becomes a flat array of keys and values, `Set` and `Push` arrays, `Null` `$-1` (and
/// `NullArray` `*-1`), `Boolean` `:1` or `:0`, `Double` a bulk string of its digits, and
/// `Verbatim` a bulk string of its text alone.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A status: `+OK`. Carriage returns and line feeds in it are sent as spaces.
    Simple(String),
    /// An error, its full text with its code first: `ERR unknown command 'foo'`,
    /// `WRONGTYPE Operation against a key holding the wrong kind of value`. Carriage returns
    /// and line feeds in it are sent as spaces, as Redis does.
    Error(String),
    /// An integer.
    Integer(i64),
    /// A binary-safe string.
    Bulk(Bytes),
    /// Nothing: a missing key (`$-1` in RESP2, `_` in RESP3).
    Null,
    /// Nothing where an array was expected (`*-1` in RESP2, `_` in RESP3).
    NullArray,
    /// An ordered list of replies.
    Array(Vec<Reply>),
    /// Key-value pairs, in order.
    Map(Vec<(Reply, Reply)>),
    /// Unordered distinct replies.
    Set(Vec<Reply>),
    /// A floating-point number, in redis-server 7.0's notation (`1.5`, `inf`, `-0`,
    /// `1.0000000000000001e+300`).
    Double(f64),
    /// True or false.
    Boolean(bool),
    /// Text to show as is, with a three-letter format: `txt` or `mkd`.
    Verbatim {
        /// The format, `*b"txt"` or `*b"mkd"`.
        format: [u8; 3],
        /// The text.
        text: Bytes,
    },
    /// Out-of-band data (a change-feed message): an array in RESP2, `>` in RESP3.
    Push(Vec<Reply>),
    /// Several replies in a row, as one command's answer: SUBSCRIBE of several channels
    /// answers once per channel.
    Several(Vec<Reply>),
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple("OK".to_owned())
    }

    /// An error of this full text, code first (`"ERR syntax error"`).
    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(text.into())
    }

    /// A bulk string.
    pub fn bulk(bytes: impl Into<Bytes>) -> Reply {
        Reply::Bulk(bytes.into())
    }

    /// Appends a bulk string, as `Reply::Bulk(bytes)` encodes (in either protocol), without
    /// owning the bytes first: a reply encoded under a lock from the value in place.
    pub fn encode_bulk(bytes: &[u8], out: &mut BytesMut) {
        bulk(out, bytes);
    }

    /// Appends the encoding of this reply in `protocol` to `out`.
    pub fn encode(&self, protocol: Protocol, out: &mut BytesMut) {
        let resp3 = protocol == Protocol::Resp3;
        match self {
            Reply::Several(replies) => {
                for r in replies {
                    r.encode(protocol, out);
                }
            }
            Reply::Simple(text) => line(out, b'+', text.as_bytes()),
            Reply::Error(text) => line(out, b'-', text.as_bytes()),
            Reply::Integer(n) => {
                let mut digits = itoa_buf();
                out.put_u8(b':');
                if *n < 0 {
                    out.put_u8(b'-');
                }
                out.put_slice(format_u64(&mut digits, n.unsigned_abs()));
                out.put_slice(b"\r\n");
            }
            Reply::Bulk(bytes) => bulk(out, bytes),
            Reply::Null if resp3 => out.put_slice(b"_\r\n"),
            Reply::Null => out.put_slice(b"$-1\r\n"),
            Reply::NullArray if resp3 => out.put_slice(b"_\r\n"),
            Reply::NullArray => out.put_slice(b"*-1\r\n"),
            Reply::Array(items) => {
                header(out, b'*', items.len());
                for item in items {
                    item.encode(protocol, out);
                }
            }
            Reply::Map(pairs) => {
                if resp3 {
                    header(out, b'%', pairs.len());
                } else {
                    header(out, b'*', pairs.len().saturating_mul(2));
                }
                for (key, value) in pairs {
                    key.encode(protocol, out);
                    value.encode(protocol, out);
                }
            }
            Reply::Set(items) | Reply::Push(items) => {
                let marker = match (resp3, self) {
                    (false, _) => b'*',
                    (true, Reply::Set(_)) => b'~',
                    (true, _) => b'>',
                };
                header(out, marker, items.len());
                for item in items {
                    item.encode(protocol, out);
                }
            }
            Reply::Double(d) => {
                let text = format_double(*d);
                if resp3 {
                    line(out, b',', text.as_bytes());
                } else {
                    bulk(out, text.as_bytes());
                }
            }
            Reply::Boolean(b) if resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Reply::Boolean(b) => out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
            Reply::Verbatim { format, text } if resp3 => {
                header(out, b'=', text.len() + 4);
                out.put_slice(format);
                out.put_u8(b':');
                out.put_slice(text);
                out.put_slice(b"\r\n");
            }
            Reply::Verbatim { text, .. } => bulk(out, text),
        }
    }

    /// The encoding of this reply in `protocol`, on its own.
    pub fn to_bytes(&self, protocol: Protocol) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(protocol, &mut out);
        out.freeze()
    }
}

/// `<marker><text>\r\n`, with any `\r` or `\n` in the text sent as a space so that a reply
/// can never break the framing.
fn line(out: &mut BytesMut, marker: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(marker);
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        out.extend(text.iter().map(|&b| match b {
            b'\r' | b'\n' => b' ',
            other => other,
        }));
    } else {
        out.put_slice(text);
    }
    out.put_slice(b"\r\n");
}

fn header(out: &mut BytesMut, marker: u8, len: usize) {
    let mut digits = itoa_buf();
    out.put_u8(marker);
    out.put_slice(format_u64(&mut digits, len as u64));
    out.put_slice(b"\r\n");
}

fn bulk(out: &mut BytesMut, bytes: &[u8]) {
    out.reserve(bytes.len() + 16);
    header(out, b'$', bytes.len());
    out.put_slice(bytes);
    out.put_slice(b"\r\n");
}

/// A double as redis-server 7.0 replies with one (`addReplyDouble`): `inf`, `-inf`, `nan`,
/// else C's `%.17g`: 17 significant digits, trailing zeros dropped, in exponent form
/// (`1.0000000000000001e+300`) when the exponent is below -4 or at least 17. (Redis 7.2 writes
/// the shortest round-trip digits instead; the reference this node is tested against is 7.0.)
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".to_owned();
    }
    if d.is_infinite() {
        return if d < 0.0 { "-inf" } else { "inf" }.to_owned();
    }
    // `{:.16e}` rounds to 17 significant digits, as `%.17g` does: "1.1000000000000001e0".
    let scientific = format!("{d:.16e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s.to_owned()
        }
    };
    if !(-4..17).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exponent.unsigned_abs())
    } else {
        let decimals = usize::try_from(16 - exponent).unwrap_or(0);
        trim(&format!("{d:.decimals$}"))
    }
}

#[cfg(test)]
mod tests {
    use super::format_double;

    #[test]
    fn doubles_are_written_as_redis_writes_them() {
        // Each as redis-server 7.0 (and C's printf("%.17g")) writes it.
        for (d, text) in [
            (1.5, "1.5"),
            (-1.5, "-1.5"),
            (0.1, "0.10000000000000001"),
            (3.0, "3"),
            (-0.0, "-0"),
            (0.0, "0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (1e18, "1e+18"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (1e20, "1e+20"),
            (1.5e300, "1.5000000000000001e+300"),
            (1e-7, "9.9999999999999995e-08"),
            (1.25e-5, "1.2500000000000001e-05"),
            (0.000123, "0.00012300000000000001"),
            (12345678.5, "12345678.5"),
            (1.1, "1.1000000000000001"),
            (0.30000000000000004, "0.30000000000000004"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (5e-324, "4.9406564584124654e-324"),
        ] {
            assert_eq!(format_double(d), text, "{d:e}");
        }
    }
}
