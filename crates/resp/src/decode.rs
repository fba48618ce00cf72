//! The request decoder: RESP arrays of bulk strings and inline lines, incremental, bounded.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::inline;
use crate::reply::Reply;

/// Limits on what a client may send. Every size that comes from outside is bounded.
///
/// A size a client declares (an argument count, a bulk length) is checked against these
/// limits as soon as its header line is read, before the bytes it announces arrive; a line
/// with no end in sight (inline, or a header) is refused once it outgrows its limit. Switch a
/// connection's decoder from [`Limits::unauthenticated`] to [`Limits::authenticated`] with
/// [`Decoder::set_limits`] when AUTH (or HELLO with AUTH) succeeds; the new limits apply from
/// the next request, since the decoder never reads ahead of the request it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most arguments in one request, the command name included (`*N` with a larger `N` is
    /// refused at the header).
    pub max_args: usize,
    /// Longest single argument in bytes (`$N` with a larger `N` is refused at the header).
    pub max_bulk_bytes: usize,
    /// Longest inline request line in bytes, counting a `\r` before the `\n`; also the
    /// longest `*N` or `$N` header line, as in Redis.
    pub max_inline_bytes: usize,
    /// Largest encoded request in bytes, headers and line ends included: a request whose
    /// headers declare more is refused at the header that crosses the limit.
    pub max_buffered_bytes: usize,
    /// Whether these limits guard a client that has not authenticated yet. It changes only
    /// the words of two refusals, which then say "unauthenticated multibulk length" and
    /// "unauthenticated bulk length" as Redis says them, so a client sees why.
    pub unauthenticated: bool,
}

impl Limits {
    /// Limits for a client that may run commands.
    ///
    /// - `max_args`: 1,048,576 (2^20). Redis accepts up to 2^31 - 1; a million arguments is
    ///   an MSET or HSET of half a million pairs, beyond any sane batch, and keeps the
    ///   argument vector of one request under 32 MiB of handles.
    /// - `max_bulk_bytes`: 64 MiB. Redis's `proto-max-bulk-len` defaults to 512 MiB, but a
    ///   Meridian value is also an op that every region receives and each writes in one
    ///   transaction, so a value that size would stall replication behind it; 64 MiB is far
    ///   above any value we expect and small enough to ship.
    /// - `max_inline_bytes`: 64 KiB, Redis's `PROTO_INLINE_MAX_SIZE`: inline requests are
    ///   typed by people.
    /// - `max_buffered_bytes`: 128 MiB: one maximal value with room for everything else a
    ///   request carries. (Redis bounds a client's whole query buffer at 1 GiB.)
    pub const fn authenticated() -> Limits {
        Limits {
            max_args: 1 << 20,
            max_bulk_bytes: 64 << 20,
            max_inline_bytes: 64 << 10,
            max_buffered_bytes: 128 << 20,
            unauthenticated: false,
        }
    }

    /// Limits for a client that has not authenticated yet, when the node requires a password.
    ///
    /// Before AUTH the only useful requests are AUTH, HELLO, PING and QUIT, so everything
    /// else is a stranger's bytes held in our memory:
    /// - `max_args`: 10, as Redis (which refuses more with "unauthenticated multibulk
    ///   length"); `HELLO 3 AUTH user password SETNAME name` is 7.
    /// - `max_bulk_bytes`: 4 KiB. Redis allows 16 KiB; passwords, user names and client
    ///   names are far shorter.
    /// - `max_inline_bytes`: 4 KiB, an `AUTH password` typed at a terminal.
    /// - `max_buffered_bytes`: 16 KiB, a HELLO with a 4 KiB password and a 4 KiB name and
    ///   room to spare.
    pub fn unauthenticated() -> Limits {
        Limits {
            max_args: 10,
            max_bulk_bytes: 4 << 10,
            max_inline_bytes: 4 << 10,
            max_buffered_bytes: 16 << 10,
            unauthenticated: true,
        }
    }
}

impl Default for Limits {
    /// [`Limits::authenticated`].
    fn default() -> Limits {
        Limits::authenticated()
    }
}

/// One request: `args[0]` is the command name as sent (any case).
///
/// A decoded request always has at least one argument: empty inline lines and `*0` arrays
/// are skipped, as Redis skips them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The arguments, the command name first.
    pub args: Vec<Bytes>,
}

impl Request {
    /// A request of these arguments.
    pub fn new<A: Into<Bytes>>(args: impl IntoIterator<Item = A>) -> Request {
        Request {
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// The command name as sent, or empty for a request without arguments.
    pub fn name(&self) -> &[u8] {
        self.args.first().map_or(&[][..], |name| &name[..])
    }

    /// Writes the request as a client sends it: a RESP array of bulk strings.
    pub fn encode(&self, out: &mut BytesMut) {
        let mut header = itoa_buf();
        out.reserve(self.args.iter().map(|a| a.len() + 16).sum::<usize>() + 16);
        out.put_u8(b'*');
        out.put_slice(format_u64(&mut header, self.args.len() as u64));
        out.put_slice(b"\r\n");
        for arg in &self.args {
            out.put_u8(b'$');
            out.put_slice(format_u64(&mut header, arg.len() as u64));
            out.put_slice(b"\r\n");
            out.put_slice(arg);
            out.put_slice(b"\r\n");
        }
    }
}

/// A request that cannot be decoded: the connection must be closed after replying the error.
///
/// `Display` gives Redis's own words ("Protocol error: invalid bulk length"); the reply is
/// that text after `ERR `, as Redis sends it: see [`ProtocolError::reply`]. After an error
/// the decoder has forgotten any partial request and the buffer is left where the error was
/// found; neither is worth using again.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// `*N` where `N` is not an integer, or is more than [`Limits::max_args`].
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// `*N` with `N` more than [`Limits::max_args`], under unauthenticated limits.
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// A `*N` header line longer than [`Limits::max_inline_bytes`].
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    /// `$N` where `N` is not a non-negative integer, or is more than
    /// [`Limits::max_bulk_bytes`].
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// `$N` with `N` more than [`Limits::max_bulk_bytes`], under unauthenticated limits.
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    /// A `$N` header line longer than [`Limits::max_inline_bytes`].
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// An element of a request array that is not a bulk string; holds its first byte.
    #[error("Protocol error: expected '$', got '{}'", show_byte(*.0))]
    ExpectedBulk(u8),
    /// A bulk string whose announced length is not followed by `\r\n`. (Redis skips two
    /// bytes there whatever they are; we refuse, since it means the stream is out of step.)
    #[error("Protocol error: bulk string not followed by CRLF")]
    UnterminatedBulk,
    /// A request whose headers declare more than [`Limits::max_buffered_bytes`] in all.
    #[error("Protocol error: too big request")]
    TooBigRequest,
    /// An inline line longer than [`Limits::max_inline_bytes`].
    #[error("Protocol error: too big inline request")]
    TooBigInlineRequest,
    /// An inline line with an unterminated quote, or a closing quote followed by something
    /// other than a space.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// An inline line with more than [`Limits::max_args`] arguments.
    #[error("Protocol error: too many arguments in inline request")]
    TooManyInlineArguments,
    /// An inline line holding a NUL byte. (Redis reads inline lines as C strings and never
    /// sees past one; write `"\x00"` inside double quotes instead.)
    #[error("Protocol error: NUL byte in inline request")]
    NulInInlineRequest,
}

impl ProtocolError {
    /// The reply to send before closing the connection: `-ERR Protocol error: …`.
    pub fn reply(&self) -> Reply {
        Reply::Error(format!("ERR {self}"))
    }
}

/// A byte as Redis's `%c` would show it, escaped when it is not printable ASCII.
fn show_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() || byte == b' ' {
        char::from(byte).to_string()
    } else {
        format!("\\x{byte:02x}")
    }
}

/// Arguments shorter than this are copied out of the read buffer, so that a key or value the
/// node keeps does not pin a whole read buffer; longer ones are split off without a copy
/// (Redis draws the same line at 32 KiB, `PROTO_MBULK_BIG_ARG`).
const COPY_BELOW: usize = 32 << 10;

/// Requests announce at most this many arguments up front; the vector grows as they arrive.
const PREALLOCATE_ARGS: usize = 1024;

/// Decodes requests off the front of a connection's inbound bytes.
///
/// Call [`Decoder::decode`] after each read from the socket, with the same buffer, until it
/// returns `Ok(None)`; between calls only append to the buffer. The decoder consumes headers
/// and complete arguments as it reads them and keeps its place, so the buffer never holds
/// more of a request than its unread tail, and it never reads past the end of the request it
/// returns.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    partial: Option<Partial>,
    /// Bytes at the front of the buffer already searched, in vain, for the end of the line
    /// being read (an inline request or a header), so that a slowly arriving line is not
    /// rescanned from its start on every call.
    scanned: usize,
}

/// A RESP array whose header has been read but not all of its elements.
#[derive(Debug)]
struct Partial {
    /// Elements still to read.
    remaining: usize,
    args: Vec<Bytes>,
    /// The length of the bulk string whose header has been read, if any.
    bulk_len: Option<usize>,
    /// Encoded bytes of this request consumed so far.
    held: usize,
}

/// What one step of decoding did.
enum Step {
    /// A request is complete.
    Request(Request),
    /// Bytes were consumed (a skipped line, a header); go on.
    Progress,
    /// The buffer ends before the next thing to read.
    NeedMore,
}

/// A header line (`*N\r\n`, `$N\r\n`) at the front of the buffer.
enum Header {
    NeedMore,
    TooLong,
    Invalid,
    /// The value and the index of its `\r`; the `\n` after it may not have arrived yet.
    Value(i64, usize),
}

impl Decoder {
    /// A decoder at the start of a connection.
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            partial: None,
            scanned: 0,
        }
    }

    /// Replaces the limits, from the next header or line read (in practice, the next
    /// request: see [`Limits`]).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether part of a request has been consumed from the buffer and is held here.
    pub fn is_mid_request(&self) -> bool {
        self.partial.is_some()
    }

    /// Takes one complete request off the front of `buf`, or `None` if more bytes are needed.
    ///
    /// Incremental: a request split anywhere decodes the same. Bytes of a request that is not
    /// complete yet may be consumed from `buf` and kept here, so a huge argument is never
    /// rescanned. Empty inline lines and `*0` (or negative) arrays are consumed and skipped.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ProtocolError> {
        loop {
            let step = if self.partial.is_some() {
                self.continue_array(buf)
            } else {
                match buf.first() {
                    None => Ok(Step::NeedMore),
                    Some(b'*') => self.start_array(buf),
                    Some(_) => self.inline(buf),
                }
            };
            match step {
                Ok(Step::Request(request)) => return Ok(Some(request)),
                Ok(Step::Progress) => continue,
                Ok(Step::NeedMore) => return Ok(None),
                Err(error) => {
                    self.partial = None;
                    self.scanned = 0;
                    return Err(error);
                }
            }
        }
    }

    fn start_array(&mut self, buf: &mut BytesMut) -> Result<Step, ProtocolError> {
        let (count, cr) = match header_line(buf, &mut self.scanned, &self.limits) {
            Header::NeedMore => return Ok(Step::NeedMore),
            Header::TooLong => return Err(ProtocolError::TooBigMultibulkCount),
            Header::Invalid => return Err(ProtocolError::InvalidMultibulkLength),
            Header::Value(count, cr) => (count, cr),
        };
        if count > saturating_i64(self.limits.max_args) {
            return Err(if self.limits.unauthenticated {
                ProtocolError::UnauthenticatedMultibulkLength
            } else {
                ProtocolError::InvalidMultibulkLength
            });
        }
        match buf.get(cr + 1) {
            None => return Ok(Step::NeedMore),
            Some(b'\n') => {}
            Some(_) => return Err(ProtocolError::InvalidMultibulkLength),
        }
        buf.advance(cr + 2);
        self.scanned = 0;
        // Redis reads `*0` and `*-1` (and any negative count) as nothing at all.
        let Ok(remaining) = usize::try_from(count) else {
            return Ok(Step::Progress);
        };
        if remaining == 0 {
            return Ok(Step::Progress);
        }
        self.partial = Some(Partial {
            remaining,
            args: Vec::with_capacity(remaining.min(PREALLOCATE_ARGS)),
            bulk_len: None,
            held: cr + 2,
        });
        Ok(Step::Progress)
    }

    fn continue_array(&mut self, buf: &mut BytesMut) -> Result<Step, ProtocolError> {
        let limits = self.limits;
        loop {
            let Some(partial) = self.partial.as_mut() else {
                return Ok(Step::Progress);
            };
            if partial.remaining == 0 {
                let args = std::mem::take(&mut partial.args);
                self.partial = None;
                return Ok(Step::Request(Request { args }));
            }
            let len = match partial.bulk_len {
                Some(len) => len,
                None => {
                    let Some(&first) = buf.first() else {
                        return Ok(Step::NeedMore);
                    };
                    if first != b'$' {
                        return Err(ProtocolError::ExpectedBulk(first));
                    }
                    let (value, cr) = match header_line(buf, &mut self.scanned, &limits) {
                        Header::NeedMore => return Ok(Step::NeedMore),
                        Header::TooLong => return Err(ProtocolError::TooBigBulkCount),
                        Header::Invalid => return Err(ProtocolError::InvalidBulkLength),
                        Header::Value(value, cr) => (value, cr),
                    };
                    let Ok(len) = usize::try_from(value) else {
                        return Err(ProtocolError::InvalidBulkLength);
                    };
                    if len > limits.max_bulk_bytes {
                        return Err(if limits.unauthenticated {
                            ProtocolError::UnauthenticatedBulkLength
                        } else {
                            ProtocolError::InvalidBulkLength
                        });
                    }
                    let header_len = cr + 2;
                    let total = partial
                        .held
                        .saturating_add(header_len)
                        .saturating_add(len)
                        .saturating_add(2);
                    if total > limits.max_buffered_bytes {
                        return Err(ProtocolError::TooBigRequest);
                    }
                    match buf.get(cr + 1) {
                        None => return Ok(Step::NeedMore),
                        Some(b'\n') => {}
                        Some(_) => return Err(ProtocolError::InvalidBulkLength),
                    }
                    buf.advance(header_len);
                    self.scanned = 0;
                    partial.held += header_len;
                    partial.bulk_len = Some(len);
                    len
                }
            };
            if buf.len() < len.saturating_add(2) {
                return Ok(Step::NeedMore);
            }
            if &buf[len..len + 2] != b"\r\n" {
                return Err(ProtocolError::UnterminatedBulk);
            }
            let arg = if len < COPY_BELOW {
                let arg = Bytes::copy_from_slice(&buf[..len]);
                buf.advance(len);
                arg
            } else {
                buf.split_to(len).freeze()
            };
            buf.advance(2);
            partial.held += len + 2;
            partial.args.push(arg);
            partial.remaining -= 1;
            partial.bulk_len = None;
        }
    }

    fn inline(&mut self, buf: &mut BytesMut) -> Result<Step, ProtocolError> {
        let max = self.limits.max_inline_bytes;
        let window = &buf[..buf.len().min(max.saturating_add(1))];
        let from = self.scanned.min(window.len());
        let Some(lf) = window[from..].iter().position(|&b| b == b'\n') else {
            self.scanned = window.len();
            return if buf.len() > max {
                Err(ProtocolError::TooBigInlineRequest)
            } else {
                Ok(Step::NeedMore)
            };
        };
        let lf = from + lf;
        let line = &buf[..lf];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.contains(&0) {
            return Err(ProtocolError::NulInInlineRequest);
        }
        let args = inline::split(line).ok_or(ProtocolError::UnbalancedQuotes)?;
        if args.len() > self.limits.max_args {
            return Err(ProtocolError::TooManyInlineArguments);
        }
        buf.advance(lf + 1);
        self.scanned = 0;
        if args.is_empty() {
            return Ok(Step::Progress);
        }
        Ok(Step::Request(Request { args }))
    }
}

/// Reads the header line at the front of `buf`, whose first byte is its marker (`*`, `$`).
///
/// Only the first `max_inline_bytes + 1` bytes decide the outcome, so that the answer does not
/// depend on how the bytes were split; the value is parsed (and may be refused) as soon as its
/// `\r` is seen, without waiting for the `\n`.
fn header_line(buf: &[u8], scanned: &mut usize, limits: &Limits) -> Header {
    let max = limits.max_inline_bytes;
    let window = &buf[..buf.len().min(max.saturating_add(1))];
    let from = (*scanned).clamp(1, window.len().max(1));
    let Some(cr) = window
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\r'))
    else {
        *scanned = window.len();
        return if buf.len() > max {
            Header::TooLong
        } else {
            Header::NeedMore
        };
    };
    let cr = from + cr;
    match parse_i64(&buf[1..cr]) {
        Some(value) => Header::Value(value, cr),
        None => Header::Invalid,
    }
}

/// Parses an integer exactly as Redis's `string2ll` does: an optional `-`, then `0` alone or
/// a non-zero digit followed by digits; no `+`, no spaces, no leading zeros, no `-0`, and it
/// must fit in an `i64`.
pub(crate) fn parse_i64(digits: &[u8]) -> Option<i64> {
    let (negative, magnitude) = match digits {
        [b'0'] => return Some(0),
        [b'-', rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    match magnitude.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut value: u64 = 0;
    for &digit in magnitude {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(value)
    } else {
        i64::try_from(value).ok()
    }
}

fn saturating_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A buffer wide enough for any `u64` in decimal.
pub(crate) fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// Formats `n` in decimal into `buf`, returning the digits.
pub(crate) fn format_u64(buf: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        // n % 10 < 10, so the cast cannot truncate.
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}
