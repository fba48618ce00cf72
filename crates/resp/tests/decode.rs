//! The request decoder: requests decode to their arguments however the bytes arrive, every
//! limit is enforced at the header that would cross it, and malformed input is an error in
//! Redis's words, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use meridian_resp::{Decoder, Limits, ProtocolError, Request};
use proptest::prelude::*;

/// Small limits that short inputs exceed.
const SMALL: Limits = Limits {
    max_args: 4,
    max_bulk_bytes: 16,
    max_inline_bytes: 32,
    max_buffered_bytes: 64,
    unauthenticated: false,
};

/// What a decoder made of some reads: the requests, the error that stopped it, and (if none)
/// the bytes left in its buffer.
#[derive(Debug, PartialEq)]
struct Outcome {
    requests: Vec<Vec<Vec<u8>>>,
    error: Option<ProtocolError>,
    leftover: Vec<u8>,
}

fn decode_reads(limits: Limits, chunks: &[&[u8]]) -> Outcome {
    let mut decoder = Decoder::new(limits);
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(request)) => {
                    requests.push(request.args.iter().map(|a| a.to_vec()).collect());
                }
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        requests,
                        error: Some(error),
                        leftover: Vec::new(),
                    };
                }
            }
        }
    }
    Outcome {
        requests,
        error: None,
        leftover: buf.to_vec(),
    }
}

/// Cuts `bytes` at the given points (any order, any values), into reads.
fn cut<'a>(bytes: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = points.iter().map(|p| p % (bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut reads = Vec::new();
    let mut from = 0;
    for point in points {
        reads.push(&bytes[from..point]);
        from = point;
    }
    reads.push(&bytes[from..]);
    reads
}

/// The outcome of decoding `input` in one read under `limits`.
fn decode(limits: Limits, input: &[u8]) -> Outcome {
    decode_reads(limits, &[input])
}

/// The one error `input` gives, asserting that it gives no request first.
#[track_caller]
fn refused(limits: Limits, input: &[u8]) -> ProtocolError {
    let outcome = decode(limits, input);
    assert_eq!(outcome.requests, Vec::<Vec<Vec<u8>>>::new(), "{outcome:?}");
    outcome
        .error
        .unwrap_or_else(|| panic!("{:?} was not refused", String::from_utf8_lossy(input)))
}

fn args(request: &[&[u8]]) -> Vec<Vec<u8>> {
    request.iter().map(|a| a.to_vec()).collect()
}

// ---- requests decode to their arguments ----

#[test]
fn arrays_of_bulk_strings_decode_to_their_arguments() {
    let outcome = decode(
        Limits::authenticated(),
        b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n*1\r\n$4\r\nPING\r\n",
    );
    assert_eq!(
        outcome.requests,
        [args(&[b"SET", b"key", b"va\r\nl"]), args(&[b"PING"])]
    );
    assert_eq!(outcome.error, None);
    assert!(outcome.leftover.is_empty());
}

#[test]
fn inline_requests_split_like_sdssplitargs() {
    let outcome = decode(
        Limits::authenticated(),
        b"set  k\t\"a \\\"b\\\" \\x41\\n\"\r\nGET 'it\\'s'\nPING\r\n",
    );
    assert_eq!(
        outcome.requests,
        [
            args(&[b"set", b"k", b"a \"b\" A\n"]),
            args(&[b"GET", b"it's"]),
            args(&[b"PING"]),
        ]
    );
    assert_eq!(outcome.error, None);
}

#[test]
fn empty_inline_lines_and_empty_arrays_are_skipped() {
    let outcome = decode(
        Limits::authenticated(),
        b"\r\n\n   \t\r\n*0\r\n*-1\r\nPING\r\n\r\n",
    );
    assert_eq!(outcome.requests, [args(&[b"PING"])]);
    assert_eq!(outcome.error, None);
    assert!(outcome.leftover.is_empty());
}

#[test]
fn a_request_is_returned_alone_and_the_next_left_unread() {
    let mut decoder = Decoder::new(Limits::authenticated());
    let mut buf = BytesMut::from(&b"PING\r\n*1\r\n$4\r\nPI"[..]);
    let ping = decoder.decode(&mut buf).unwrap().unwrap();
    assert_eq!(ping.name(), b"PING");
    assert_eq!(
        &buf[..],
        b"*1\r\n$4\r\nPI",
        "the next request is not touched"
    );
    assert!(!decoder.is_mid_request());
}

#[test]
fn a_partial_request_is_consumed_as_far_as_it_goes_and_kept() {
    let mut decoder = Decoder::new(Limits::authenticated());
    let mut buf = BytesMut::from(&b"*2\r\n$4\r\nECHO\r\n$10\r\nhello"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert!(decoder.is_mid_request());
    // The header, the first argument and the second header are consumed; the partial
    // argument waits in the buffer, and is only measured (not scanned) on the next call.
    assert_eq!(&buf[..], b"hello");
    buf.extend_from_slice(b"worl");
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    buf.extend_from_slice(b"d\r\n");
    let request = decoder.decode(&mut buf).unwrap().unwrap();
    assert_eq!(request.args, [&b"ECHO"[..], b"helloworld"]);
    assert!(buf.is_empty());
    assert!(!decoder.is_mid_request());
}

#[test]
fn large_arguments_decode_whole() {
    let value = vec![b'v'; 100_000];
    let request = Request::new([
        Bytes::from_static(b"SET"),
        Bytes::from_static(b"k"),
        Bytes::from(value.clone()),
    ]);
    let mut encoded = BytesMut::new();
    request.encode(&mut encoded);
    let points: Vec<usize> = (0..encoded.len()).step_by(4096).collect();
    let outcome = decode_reads(Limits::authenticated(), &cut(&encoded, &points));
    assert_eq!(
        outcome.requests,
        [vec![b"SET".to_vec(), b"k".to_vec(), value]]
    );
}

#[test]
fn requests_encode_as_arrays_of_bulk_strings() {
    let mut out = BytesMut::new();
    Request::new([&b"GET"[..], b"k"]).encode(&mut out);
    assert_eq!(&out[..], b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    assert_eq!(Request::new(Vec::<Bytes>::new()).name(), b"");
}

// ---- any requests, however split ----

/// Encodes `args` as one inline line, choosing a form for each argument (bare,
/// 'single-quoted', "double-quoted" with escapes) and the blanks between them from `seed`.
fn inline_line(args: &[Vec<u8>], seed: u64) -> Vec<u8> {
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut line = Vec::new();
    if next() % 4 == 0 {
        line.extend_from_slice(b" \t");
    }
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            for _ in 0..=next() % 2 {
                line.push(if next() % 2 == 0 { b' ' } else { b'\t' });
            }
        }
        let special = |b: &u8| b" \t\r\n\x0b\x0c\x00'\"".contains(b);
        let starts_array = line.is_empty() && arg.first() == Some(&b'*');
        let bare_ok = !arg.is_empty() && !arg.iter().any(special) && !starts_array;
        let single_ok = !arg.contains(&b'\n') && !arg.contains(&0) && arg.last() != Some(&b'\\');
        match next() % 3 {
            0 if bare_ok => line.extend_from_slice(arg),
            1 if single_ok => {
                line.push(b'\'');
                for &b in arg {
                    if b == b'\'' {
                        line.push(b'\\');
                    }
                    line.push(b);
                }
                line.push(b'\'');
            }
            _ => {
                line.push(b'"');
                for &b in arg {
                    match b {
                        b'"' | b'\\' => line.extend_from_slice(&[b'\\', b]),
                        b'\n' if next() % 2 == 0 => line.extend_from_slice(b"\\n"),
                        b'\r' if next() % 2 == 0 => line.extend_from_slice(b"\\r"),
                        b'\t' if next() % 2 == 0 => line.extend_from_slice(b"\\t"),
                        0x20..=0x7e => line.push(b),
                        0x80..=0xff if next() % 2 == 0 => line.push(b),
                        _ => line.extend_from_slice(format!("\\x{b:02X}").as_bytes()),
                    }
                }
                line.push(b'"');
            }
        }
    }
    if next() % 4 == 0 {
        line.push(b' ');
    }
    line.extend_from_slice(if next() % 2 == 0 { b"\r\n" } else { b"\n" });
    line
}

fn arg_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..24),
        "[a-zA-Z0-9:_*-]{1,12}".prop_map(String::into_bytes),
        prop::collection::vec(prop::sample::select(b"\r\n\"'\\ \tx0aA".to_vec()), 0..12),
    ]
}

/// How one request is written: 0 as an array, 1 as an inline line, and before it, 2 an
/// empty line or 3 an empty array that must be skipped.
fn request_strategy() -> impl Strategy<Value = (Vec<Vec<u8>>, u8, u64)> {
    (
        prop::collection::vec(arg_strategy(), 1..8),
        0u8..4,
        any::<u64>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_requests_as_arrays_or_inline_split_anywhere_decode_to_themselves(
        requests in prop::collection::vec(request_strategy(), 1..12),
        points in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        let mut stream = Vec::new();
        for (args, form, seed) in &requests {
            match form {
                2 => stream.extend_from_slice(if seed % 2 == 0 { b"\r\n" } else { b" \n" }),
                3 => stream.extend_from_slice(if seed % 2 == 0 { b"*0\r\n" } else { b"*-1\r\n" }),
                _ => {}
            }
            if *form == 1 || (*form >= 2 && seed % 3 == 0) {
                stream.extend_from_slice(&inline_line(args, *seed));
            } else {
                let mut encoded = BytesMut::new();
                Request::new(args.iter().cloned().map(Bytes::from)).encode(&mut encoded);
                stream.extend_from_slice(&encoded);
            }
        }
        let expected: Vec<Vec<Vec<u8>>> = requests.iter().map(|(args, _, _)| args.clone()).collect();
        let outcome = decode_reads(Limits::authenticated(), &cut(&stream, &points));
        prop_assert_eq!(outcome.error, None, "{:?}", String::from_utf8_lossy(&stream));
        prop_assert_eq!(outcome.requests, expected);
        prop_assert!(outcome.leftover.is_empty());
        // One byte at a time, the hardest split of all.
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        let outcome = decode_reads(Limits::authenticated(), &bytewise);
        prop_assert_eq!(outcome.requests.len(), requests.len());
    }

    #[test]
    fn random_bytes_never_panic_and_decode_the_same_however_split(
        input in prop::collection::vec(
            prop_oneof![
                any::<u8>(),
                prop::sample::select(b"*$\r\n\r\n0123456789-\"' \\xab".to_vec()),
            ],
            0..300,
        ),
        points in prop::collection::vec(any::<usize>(), 0..8),
        small in any::<bool>(),
        unauthenticated in any::<bool>(),
    ) {
        let limits = if small {
            Limits { unauthenticated, ..SMALL }
        } else if unauthenticated {
            Limits::unauthenticated()
        } else {
            Limits::authenticated()
        };
        let whole = decode(limits, &input);
        prop_assert_eq!(&decode_reads(limits, &cut(&input, &points)), &whole);
        for args in &whole.requests {
            prop_assert!(!args.is_empty());
        }
    }

    #[test]
    fn mutated_valid_requests_never_panic_and_decode_the_same_however_split(
        requests in prop::collection::vec(request_strategy(), 1..4),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        truncate in any::<usize>(),
        points in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut stream = Vec::new();
        for (args, form, seed) in &requests {
            if *form == 1 {
                stream.extend_from_slice(&inline_line(args, *seed));
            } else {
                let mut encoded = BytesMut::new();
                Request::new(args.iter().cloned().map(Bytes::from)).encode(&mut encoded);
                stream.extend_from_slice(&encoded);
            }
        }
        for (at, byte) in flips {
            let at = at % stream.len();
            stream[at] = byte;
        }
        stream.truncate(truncate % (stream.len() + 1));
        for limits in [Limits::authenticated(), Limits::unauthenticated(), SMALL] {
            let whole = decode(limits, &stream);
            prop_assert_eq!(&decode_reads(limits, &cut(&stream, &points)), &whole);
        }
    }
}

// ---- malformed input ----

#[test]
fn malformed_input_of_every_kind_is_an_error_in_redis_words() {
    use ProtocolError::*;
    let cases: &[(&[u8], ProtocolError, &str)] = &[
        (
            b"*x\r\n",
            InvalidMultibulkLength,
            "Protocol error: invalid multibulk length",
        ),
        (
            b"*01\r\n",
            InvalidMultibulkLength,
            "Protocol error: invalid multibulk length",
        ),
        (
            b"*+1\r\n",
            InvalidMultibulkLength,
            "Protocol error: invalid multibulk length",
        ),
        (
            b"* 1\r\n",
            InvalidMultibulkLength,
            "Protocol error: invalid multibulk length",
        ),
        (
            b"*\r\n",
            InvalidMultibulkLength,
            "Protocol error: invalid multibulk length",
        ),
        (
            b"*-0\r\n",
            InvalidMultibulkLength,
            "Protocol error: invalid multibulk length",
        ),
        (
            b"*99999999999999999999\r\n",
            InvalidMultibulkLength,
            "Protocol error: invalid multibulk length",
        ),
        (
            b"*1\rx",
            InvalidMultibulkLength,
            "Protocol error: invalid multibulk length",
        ),
        (
            b"*1\r\n$x\r\n",
            InvalidBulkLength,
            "Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$-1\r\n",
            InvalidBulkLength,
            "Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$\r\n",
            InvalidBulkLength,
            "Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$03\r\nfoo\r\n",
            InvalidBulkLength,
            "Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$3\rxfoo\r\n",
            InvalidBulkLength,
            "Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\nfoo\r\n",
            ExpectedBulk(b'f'),
            "Protocol error: expected '$', got 'f'",
        ),
        (
            b"*1\r\n:1\r\n",
            ExpectedBulk(b':'),
            "Protocol error: expected '$', got ':'",
        ),
        (
            b"*1\r\n\r\n",
            ExpectedBulk(b'\r'),
            "Protocol error: expected '$', got '\\x0d'",
        ),
        (
            b"*1\r\n$3\r\nfooXY",
            UnterminatedBulk,
            "Protocol error: bulk string not followed by CRLF",
        ),
        (
            b"*1\r\n$3\r\nfoo\n\r",
            UnterminatedBulk,
            "Protocol error: bulk string not followed by CRLF",
        ),
        (
            b"SET \"abc\r\n",
            UnbalancedQuotes,
            "Protocol error: unbalanced quotes in request",
        ),
        (
            b"SET 'abc\r\n",
            UnbalancedQuotes,
            "Protocol error: unbalanced quotes in request",
        ),
        (
            b"SET \"a\"b\r\n",
            UnbalancedQuotes,
            "Protocol error: unbalanced quotes in request",
        ),
        (
            b"SET 'a'b\r\n",
            UnbalancedQuotes,
            "Protocol error: unbalanced quotes in request",
        ),
        (
            b"SET \"a\\\"\r\n",
            UnbalancedQuotes,
            "Protocol error: unbalanced quotes in request",
        ),
        (
            b"GET a\x00b\r\n",
            NulInInlineRequest,
            "Protocol error: NUL byte in inline request",
        ),
    ];
    for (input, error, text) in cases {
        let got = refused(Limits::authenticated(), input);
        assert_eq!(&got, error, "{:?}", String::from_utf8_lossy(input));
        assert_eq!(got.to_string(), *text);
        assert_eq!(
            got.reply(),
            meridian_resp::Reply::Error(format!("ERR {text}"))
        );
    }
}

#[test]
fn a_protocol_error_forgets_the_partial_request() {
    let mut decoder = Decoder::new(Limits::authenticated());
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n:1\r\n"[..]);
    assert_eq!(
        decoder.decode(&mut buf),
        Err(ProtocolError::ExpectedBulk(b':'))
    );
    assert!(!decoder.is_mid_request());
}

// ---- limits ----

#[test]
fn an_argument_count_over_the_limit_is_refused_at_its_header() {
    // Refused before the line even ends, and long before two million arguments arrive.
    assert_eq!(
        refused(Limits::authenticated(), b"*2000000\r"),
        ProtocolError::InvalidMultibulkLength
    );
    assert_eq!(
        refused(Limits::authenticated(), b"*2000000\r\n"),
        ProtocolError::InvalidMultibulkLength
    );
    let at_limit = format!("*{}\r\n", Limits::authenticated().max_args);
    assert_eq!(
        decode(Limits::authenticated(), at_limit.as_bytes()).error,
        None
    );
    assert_eq!(
        refused(Limits::unauthenticated(), b"*11\r\n"),
        ProtocolError::UnauthenticatedMultibulkLength
    );
    assert_eq!(
        ProtocolError::UnauthenticatedMultibulkLength.to_string(),
        "Protocol error: unauthenticated multibulk length"
    );
    assert_eq!(decode(Limits::unauthenticated(), b"*10\r\n").error, None);
}

#[test]
fn a_bulk_length_over_the_limit_is_refused_at_its_header() {
    assert_eq!(
        refused(Limits::authenticated(), b"*1\r\n$999999999\r\n"),
        ProtocolError::InvalidBulkLength
    );
    assert_eq!(
        refused(Limits::authenticated(), b"*1\r\n$67108865\r"),
        ProtocolError::InvalidBulkLength
    );
    let outcome = decode(Limits::authenticated(), b"*1\r\n$67108864\r\n");
    assert_eq!(outcome.error, None);
    assert_eq!(
        refused(Limits::unauthenticated(), b"*2\r\n$4\r\nAUTH\r\n$4097\r\n"),
        ProtocolError::UnauthenticatedBulkLength
    );
    assert_eq!(
        ProtocolError::UnauthenticatedBulkLength.to_string(),
        "Protocol error: unauthenticated bulk length"
    );
    assert_eq!(
        decode(Limits::unauthenticated(), b"*2\r\n$4\r\nAUTH\r\n$4096\r\n").error,
        None
    );
}

#[test]
fn a_request_over_the_buffered_limit_is_refused_at_the_header_that_crosses_it() {
    // *4 (4 bytes), $3 SET (9), then 16-byte arguments of 23 bytes each: the third crosses 64.
    let mut input = b"*4\r\n$3\r\nSET\r\n".to_vec();
    for _ in 0..2 {
        input.extend_from_slice(b"$16\r\n0123456789abcdef\r\n");
    }
    assert_eq!(decode(SMALL, &input).error, None);
    input.extend_from_slice(b"$16\r\n");
    assert_eq!(refused(SMALL, &input), ProtocolError::TooBigRequest);
    assert_eq!(
        ProtocolError::TooBigRequest.to_string(),
        "Protocol error: too big request"
    );

    // With the authenticated limits: two 64 MiB values fit in no 128 MiB request.
    let limits = Limits::authenticated();
    let mut decoder = Decoder::new(limits);
    let mut buf = BytesMut::from(&b"*3\r\n$3\r\nSET\r\n$67108864\r\n"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    buf.resize(buf.len() + limits.max_bulk_bytes, b'k');
    buf.extend_from_slice(b"\r\n$67108864\r\n");
    assert_eq!(decoder.decode(&mut buf), Err(ProtocolError::TooBigRequest));
}

#[test]
fn an_inline_line_over_the_limit_is_refused_once_it_outgrows_it() {
    let limits = Limits::authenticated();
    let max = limits.max_inline_bytes;
    let mut line = vec![b'a'; max];
    assert_eq!(
        decode(limits, &line).error,
        None,
        "at the limit, it may still end"
    );
    line.push(b'a');
    assert_eq!(refused(limits, &line), ProtocolError::TooBigInlineRequest);
    assert_eq!(
        ProtocolError::TooBigInlineRequest.to_string(),
        "Protocol error: too big inline request"
    );
    // A line of exactly the limit (its \r counted) is a request.
    let mut line = vec![b'a'; max - 1];
    line.extend_from_slice(b"\r\n");
    assert_eq!(decode(limits, &line).requests.len(), 1);
    let mut line = vec![b'a'; max];
    line.extend_from_slice(b"\r\n");
    assert_eq!(refused(limits, &line), ProtocolError::TooBigInlineRequest);
    // Unauthenticated clients get 4 KiB.
    assert_eq!(
        refused(Limits::unauthenticated(), &[b'a'; 4097]),
        ProtocolError::TooBigInlineRequest
    );
}

#[test]
fn an_inline_line_over_the_argument_limit_is_refused() {
    assert_eq!(
        refused(SMALL, b"a b c d e\r\n"),
        ProtocolError::TooManyInlineArguments
    );
    assert_eq!(decode(SMALL, b"a b c d\r\n").requests.len(), 1);
    assert_eq!(
        refused(
            Limits::unauthenticated(),
            b"HELLO 3 AUTH default pw SETNAME me x x x x\r\n"
        ),
        ProtocolError::TooManyInlineArguments
    );
}

#[test]
fn a_header_line_over_the_limit_is_refused_once_it_outgrows_it() {
    let mut header = vec![b'*'];
    header.resize(SMALL.max_inline_bytes + 1, b'1');
    assert_eq!(refused(SMALL, &header), ProtocolError::TooBigMultibulkCount);
    assert_eq!(
        ProtocolError::TooBigMultibulkCount.to_string(),
        "Protocol error: too big mbulk count string"
    );
    let mut bulk = b"*1\r\n$".to_vec();
    bulk.resize(4 + SMALL.max_inline_bytes + 1, b'1');
    assert_eq!(refused(SMALL, &bulk), ProtocolError::TooBigBulkCount);
    assert_eq!(
        ProtocolError::TooBigBulkCount.to_string(),
        "Protocol error: too big bulk count string"
    );
}

#[test]
fn the_unauthenticated_limits_are_stricter_in_every_respect() {
    let before = Limits::unauthenticated();
    let after = Limits::authenticated();
    assert!(before.max_args < after.max_args);
    assert!(before.max_bulk_bytes < after.max_bulk_bytes);
    assert!(before.max_inline_bytes < after.max_inline_bytes);
    assert!(before.max_buffered_bytes < after.max_buffered_bytes);
    assert!(before.unauthenticated && !after.unauthenticated);
    assert_eq!(Limits::default(), after);
    // What an unauthenticated client needs still fits.
    let hello = decode(
        before,
        b"*7\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$6\r\nsecret\r\n$7\r\nSETNAME\r\n$3\r\napp\r\n",
    );
    assert_eq!(hello.error, None);
    assert_eq!(hello.requests.len(), 1);
    // And a request an authenticated client may send does not.
    let set = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5000\r\n";
    assert_eq!(decode(after, set).error, None);
    assert_eq!(
        refused(before, set),
        ProtocolError::UnauthenticatedBulkLength
    );
}

#[test]
fn new_limits_apply_from_the_next_request() {
    let mut decoder = Decoder::new(Limits::unauthenticated());
    let mut buf = BytesMut::from(&b"AUTH secret\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5000\r\n"[..]);
    let auth = decoder.decode(&mut buf).unwrap().unwrap();
    assert_eq!(auth.name(), b"AUTH");
    decoder.set_limits(Limits::authenticated());
    assert_eq!(decoder.limits(), &Limits::authenticated());
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    buf.resize(buf.len() + 5000, b'v');
    buf.extend_from_slice(b"\r\n");
    let set = decoder.decode(&mut buf).unwrap().unwrap();
    assert_eq!(set.args[2].len(), 5000);
}
