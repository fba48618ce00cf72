//! Every reply encodes byte for byte as Redis sends it, in RESP2 and in RESP3. The expected
//! bytes are the examples of the RESP specification (redis.io/docs/reference/protocol-spec)
//! where it has one, and what Redis sends otherwise.

use bytes::Bytes;
use meridian_resp::{Protocol, ProtocolError, Reply};

fn resp2(reply: &Reply) -> Bytes {
    reply.to_bytes(Protocol::Resp2)
}

fn resp3(reply: &Reply) -> Bytes {
    reply.to_bytes(Protocol::Resp3)
}

/// Asserts the encoding of `reply` in both protocols.
#[track_caller]
fn encodes(reply: Reply, in_resp2: &[u8], in_resp3: &[u8]) {
    assert_eq!(resp2(&reply), in_resp2, "RESP2 of {reply:?}");
    assert_eq!(resp3(&reply), in_resp3, "RESP3 of {reply:?}");
}

/// Asserts the encoding of `reply`, the same in both protocols.
#[track_caller]
fn encodes_alike(reply: Reply, bytes: &[u8]) {
    encodes(reply, bytes, bytes);
}

#[test]
fn simple_strings_encode_as_plus_lines() {
    encodes_alike(Reply::ok(), b"+OK\r\n");
    encodes_alike(Reply::Simple("PONG".into()), b"+PONG\r\n");
    encodes_alike(Reply::Simple(String::new()), b"+\r\n");
}

#[test]
fn errors_encode_as_minus_lines_with_their_code() {
    encodes_alike(Reply::error("Error message"), b"-Error message\r\n");
    encodes_alike(
        Reply::error("ERR unknown command 'foo'"),
        b"-ERR unknown command 'foo'\r\n",
    );
    encodes_alike(
        Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value"),
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
}

#[test]
fn line_breaks_in_simple_strings_and_errors_are_sent_as_spaces() {
    encodes_alike(
        Reply::error("ERR bad\r\ninjected"),
        b"-ERR bad  injected\r\n",
    );
    encodes_alike(Reply::Simple("a\nb\rc".into()), b"+a b c\r\n");
}

#[test]
fn protocol_errors_reply_as_redis_does() {
    encodes_alike(
        ProtocolError::InvalidMultibulkLength.reply(),
        b"-ERR Protocol error: invalid multibulk length\r\n",
    );
    encodes_alike(
        ProtocolError::ExpectedBulk(b'x').reply(),
        b"-ERR Protocol error: expected '$', got 'x'\r\n",
    );
    // A byte that would break the line is shown escaped.
    encodes_alike(
        ProtocolError::ExpectedBulk(b'\r').reply(),
        b"-ERR Protocol error: expected '$', got '\\x0d'\r\n",
    );
}

#[test]
fn integers_encode_as_colon_lines() {
    encodes_alike(Reply::Integer(0), b":0\r\n");
    encodes_alike(Reply::Integer(1000), b":1000\r\n");
    encodes_alike(Reply::Integer(-1), b":-1\r\n");
    encodes_alike(Reply::Integer(i64::MIN), b":-9223372036854775808\r\n");
    encodes_alike(Reply::Integer(i64::MAX), b":9223372036854775807\r\n");
}

#[test]
fn bulk_strings_encode_with_their_length_and_any_bytes() {
    encodes_alike(Reply::bulk("hello"), b"$5\r\nhello\r\n");
    encodes_alike(Reply::bulk(""), b"$0\r\n\r\n");
    encodes_alike(
        Reply::bulk(&b"a\r\n\x00\xff"[..]),
        b"$5\r\na\r\n\x00\xff\r\n",
    );
    let big = vec![b'x'; 1234];
    let mut expected = b"$1234\r\n".to_vec();
    expected.extend_from_slice(&big);
    expected.extend_from_slice(b"\r\n");
    encodes_alike(Reply::bulk(big), &expected);
}

#[test]
fn nulls_are_null_bulk_or_null_array_in_resp2_and_underscore_in_resp3() {
    encodes(Reply::Null, b"$-1\r\n", b"_\r\n");
    encodes(Reply::NullArray, b"*-1\r\n", b"_\r\n");
}

#[test]
fn arrays_encode_their_length_then_each_element() {
    encodes_alike(Reply::Array(vec![]), b"*0\r\n");
    encodes_alike(
        Reply::Array(vec![Reply::bulk("hello"), Reply::bulk("world")]),
        b"*2\r\n$5\r\nhello\r\n$5\r\nworld\r\n",
    );
    encodes_alike(
        Reply::Array(vec![
            Reply::Integer(1),
            Reply::Integer(2),
            Reply::Integer(3),
            Reply::Integer(4),
            Reply::bulk("hello"),
        ]),
        b"*5\r\n:1\r\n:2\r\n:3\r\n:4\r\n$5\r\nhello\r\n",
    );
    encodes_alike(
        Reply::Array(vec![
            Reply::Array(vec![
                Reply::Integer(1),
                Reply::Integer(2),
                Reply::Integer(3),
            ]),
            Reply::Array(vec![Reply::Simple("Hello".into()), Reply::error("World")]),
        ]),
        b"*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n*2\r\n+Hello\r\n-World\r\n",
    );
    encodes(
        Reply::Array(vec![
            Reply::bulk("hello"),
            Reply::Null,
            Reply::bulk("world"),
        ]),
        b"*3\r\n$5\r\nhello\r\n$-1\r\n$5\r\nworld\r\n",
        b"*3\r\n$5\r\nhello\r\n_\r\n$5\r\nworld\r\n",
    );
}

#[test]
fn maps_are_percent_in_resp3_and_flat_arrays_in_resp2() {
    let map = Reply::Map(vec![
        (Reply::Simple("first".into()), Reply::Integer(1)),
        (Reply::Simple("second".into()), Reply::Integer(2)),
    ]);
    encodes(
        map,
        b"*4\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
        b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
    );
    encodes(Reply::Map(vec![]), b"*0\r\n", b"%0\r\n");
}

#[test]
fn sets_are_tilde_in_resp3_and_arrays_in_resp2() {
    let set = Reply::Set(vec![
        Reply::Simple("orange".into()),
        Reply::Simple("apple".into()),
        Reply::Boolean(true),
        Reply::Integer(100),
        Reply::Integer(999),
    ]);
    encodes(
        set,
        b"*5\r\n+orange\r\n+apple\r\n:1\r\n:100\r\n:999\r\n",
        b"~5\r\n+orange\r\n+apple\r\n#t\r\n:100\r\n:999\r\n",
    );
}

#[test]
fn doubles_are_comma_lines_in_resp3_and_bulk_strings_in_resp2() {
    encodes(Reply::Double(1.23), b"$4\r\n1.23\r\n", b",1.23\r\n");
    encodes(Reply::Double(10.0), b"$2\r\n10\r\n", b",10\r\n");
    encodes(Reply::Double(-0.5), b"$4\r\n-0.5\r\n", b",-0.5\r\n");
    encodes(Reply::Double(f64::INFINITY), b"$3\r\ninf\r\n", b",inf\r\n");
    encodes(
        Reply::Double(f64::NEG_INFINITY),
        b"$4\r\n-inf\r\n",
        b",-inf\r\n",
    );
    encodes(Reply::Double(f64::NAN), b"$3\r\nnan\r\n", b",nan\r\n");
    encodes(
        Reply::Double(1e300),
        b"$23\r\n1.0000000000000001e+300\r\n",
        b",1.0000000000000001e+300\r\n",
    );
}

#[test]
fn booleans_are_hash_lines_in_resp3_and_integers_in_resp2() {
    encodes(Reply::Boolean(true), b":1\r\n", b"#t\r\n");
    encodes(Reply::Boolean(false), b":0\r\n", b"#f\r\n");
}

#[test]
fn verbatim_strings_carry_their_format_in_resp3_and_only_their_text_in_resp2() {
    let verbatim = Reply::Verbatim {
        format: *b"txt",
        text: Bytes::from_static(b"Some string"),
    };
    encodes(
        verbatim,
        b"$11\r\nSome string\r\n",
        b"=15\r\ntxt:Some string\r\n",
    );
    let empty = Reply::Verbatim {
        format: *b"mkd",
        text: Bytes::new(),
    };
    encodes(empty, b"$0\r\n\r\n", b"=4\r\nmkd:\r\n");
}

#[test]
fn pushes_are_greater_than_in_resp3_and_arrays_in_resp2() {
    let push = Reply::Push(vec![
        Reply::bulk("message"),
        Reply::bulk("channel"),
        Reply::bulk("hi"),
    ]);
    encodes(
        push,
        b"*3\r\n$7\r\nmessage\r\n$7\r\nchannel\r\n$2\r\nhi\r\n",
        b">3\r\n$7\r\nmessage\r\n$7\r\nchannel\r\n$2\r\nhi\r\n",
    );
}

#[test]
fn nested_resp3_types_downgrade_at_every_depth() {
    let reply = Reply::Array(vec![Reply::Map(vec![(
        Reply::bulk("flags"),
        Reply::Set(vec![Reply::Simple("fast".into()), Reply::Boolean(false)]),
    )])]);
    encodes(
        reply,
        b"*1\r\n*2\r\n$5\r\nflags\r\n*2\r\n+fast\r\n:0\r\n",
        b"*1\r\n%1\r\n$5\r\nflags\r\n~2\r\n+fast\r\n#f\r\n",
    );
}

#[test]
fn encode_appends_to_what_the_buffer_holds() {
    let mut out = bytes::BytesMut::from(&b"+OK\r\n"[..]);
    Reply::Integer(7).encode(Protocol::Resp3, &mut out);
    assert_eq!(&out[..], b"+OK\r\n:7\r\n");
}

#[test]
fn protocols_map_to_hello_versions() {
    assert_eq!(Protocol::default(), Protocol::Resp2);
    assert_eq!(Protocol::from_version(2), Some(Protocol::Resp2));
    assert_eq!(Protocol::from_version(3), Some(Protocol::Resp3));
    assert_eq!(Protocol::from_version(4), None);
    assert_eq!(Protocol::Resp3.version(), 3);
}
