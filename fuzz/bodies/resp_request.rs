//! The body of the `resp_request` fuzz target, shared with its stable-toolchain twin
//! `crates/resp/tests/request_fixtures.rs` (both include this file with `#[path]`).

use bytes::BytesMut;
use meridian_resp::{Decoder, Limits, ProtocolError, Request};

/// Small limits, so that short inputs reach every refusal.
const SMALL: Limits = Limits {
    max_args: 4,
    max_bulk_bytes: 16,
    max_inline_bytes: 32,
    max_buffered_bytes: 64,
    unauthenticated: false,
};

/// What a decoder made of some bytes: the requests, then the error that stopped it (if
/// any), or else the bytes it left in the buffer (after an error the buffer is not looked
/// at again, and how much of it had arrived depends on the reads).
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub requests: Vec<Request>,
    pub error: Option<ProtocolError>,
    pub leftover: Vec<u8>,
}

/// Decodes `chunks` as successive reads from a socket: after each one, every request the
/// buffer holds, until the decoder needs more or refuses.
pub fn decode_reads(limits: Limits, chunks: &[&[u8]]) -> Outcome {
    let mut decoder = Decoder::new(limits);
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(request)) => requests.push(request),
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

/// Decodes `data` as a client's bytes; returns whether it was one or more whole requests
/// and nothing else.
///
/// The first byte is a control byte: its low bit picks the limits (authenticated, or small
/// ones that short inputs exceed), the other seven where the rest is split in two reads.
/// Never panics on any input. The split changes nothing (the same requests, the same error,
/// the same bytes left over), and every decoded request, re-encoded as a RESP array, decodes
/// to itself.
pub fn check(data: &[u8]) -> bool {
    let Some((&control, input)) = data.split_first() else {
        return false;
    };
    let limits = if control & 1 == 0 {
        Limits::authenticated()
    } else {
        SMALL
    };
    let split = usize::from(control >> 1) * input.len() / 127;
    let whole = decode_reads(limits, &[input]);
    let halves = decode_reads(limits, &[&input[..split], &input[split..]]);
    assert_eq!(whole, halves, "split at {split}");
    for request in &whole.requests {
        assert!(!request.args.is_empty(), "a request has a name");
        let mut encoded = BytesMut::new();
        request.encode(&mut encoded);
        let again = decode_reads(Limits::authenticated(), &[&encoded]);
        assert_eq!(
            again.requests,
            std::slice::from_ref(request),
            "re-encoded as an array"
        );
        assert_eq!(again.error, None);
        assert!(again.leftover.is_empty());
    }
    !whole.requests.is_empty() && whole.error.is_none() && whole.leftover.is_empty()
}
