//! The Redis protocol as Meridian speaks it, without IO.
//!
//! A connection is a byte stream in each direction. Inbound, a [`Decoder`] takes the bytes a
//! client has sent so far (a `BytesMut` the driver keeps filling from the socket) and hands
//! back one [`Request`] at a time, whether it came as a RESP array of bulk strings or as an
//! inline line typed into telnet; it keeps its place between calls, so a request split
//! anywhere decodes the same and a large argument is never rescanned, and it refuses any size
//! a client declares beyond its [`Limits`] at the header that declares it, before the bytes
//! arrive (stricter limits apply before AUTH). A request that cannot be decoded is a
//! [`ProtocolError`] worded as Redis words it; the driver replies it and closes the
//! connection. Outbound, a [`Reply`] is a value the command handlers build and
//! [`Reply::encode`] writes in the [`Protocol`] the connection has chosen: RESP2 by default,
//! RESP3 after `HELLO 3`, RESP3-only types downgraded the way Redis downgrades them. The
//! [`command`] module holds the command table (names, arities, flags, key positions, docs),
//! the arity and unknown-command errors, and the replies of `COMMAND`, `COMMAND COUNT`,
//! `COMMAND INFO` and `COMMAND DOCS`, so that redis-cli's hints and cluster-aware clients
//! work against Meridian; [`errors`] holds Redis's other error replies.
//!
//! ```
//! use bytes::BytesMut;
//! use meridian_resp::{Decoder, Limits, Protocol, Reply};
//!
//! let mut decoder = Decoder::new(Limits::authenticated());
//! let mut inbound = BytesMut::from(&b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nPING\r\n"[..]);
//! let echo = decoder.decode(&mut inbound).expect("well formed").expect("complete");
//! assert_eq!(echo.args, [&b"ECHO"[..], b"hi"]);
//! let ping = decoder.decode(&mut inbound).expect("well formed").expect("complete");
//! assert_eq!(ping.args, [&b"PING"[..]]);
//! assert_eq!(decoder.decode(&mut inbound), Ok(None));
//!
//! let mut outbound = BytesMut::new();
//! Reply::bulk("hi").encode(Protocol::Resp2, &mut outbound);
//! Reply::Simple("PONG".into()).encode(Protocol::Resp2, &mut outbound);
//! assert_eq!(&outbound[..], b"$2\r\nhi\r\n+PONG\r\n");
//! ```

#![warn(missing_docs)]

pub mod command;
mod decode;
pub mod errors;
mod inline;
mod reply;
mod table;

pub use decode::{Decoder, Limits, ProtocolError, Request};
pub use reply::{Protocol, Reply, format_double};
