//! Meridian's collaborative text commands: TEXT.INSERT, TEXT.DELETE, TEXT.GET, TEXT.RANGE,
//! TEXT.LEN, TEXT.CURSOR and TEXT.RESOLVE. Positions count Unicode scalar values (Rust
//! `char`s), never bytes; concurrent edits at other regions merge without interleaving
//! (docs/resp.md, "Text").

use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::seq::{Cursor, Sequence, Text};
use meridian_crdt::{Command, PrepareError, Splice};
use meridian_replica::{Replica, WriteError};
use meridian_resp::{Reply, errors};

use super::Server;
use super::exec::{Answer, Session, int_arg, write};
use super::lists::{self, as_int};
use crate::ops::Plan;

pub(super) fn get(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    with_text(server, &args[1], |text, _| {
        text.map_or(Reply::Null, |t| Reply::bulk(t.text()))
    })
}

pub(super) fn len(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    with_text(server, &args[1], |_, len| Reply::Integer(as_int(len)))
}

pub(super) fn range(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    with_text(server, &args[1], |text, len| {
        match (int_arg(&args[2]), int_arg(&args[3])) {
            (Ok(start), Ok(stop)) => match (text, lists::range(start, stop, len)) {
                (Some(t), Some((from, to))) => Reply::bulk(t.slice(from, to).0),
                _ => Reply::bulk(Bytes::new()),
            },
            (Err(reply), _) | (_, Err(reply)) => reply,
        }
    })
}

pub(super) fn cursor(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    with_text(server, &args[1], |text, len| {
        let Some(pos) = position(&args[2], len) else {
            return errors::index_out_of_range();
        };
        let empty = Sequence::new();
        match text.unwrap_or(&empty).cursor(pos) {
            Ok(cursor) => Reply::bulk(cursor.to_string()),
            Err(_) => errors::index_out_of_range(),
        }
    })
}

pub(super) fn resolve(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    with_text(server, &args[1], |text, _| {
        let cursor = std::str::from_utf8(&args[2])
            .ok()
            .and_then(|s| s.parse::<Cursor>().ok());
        let Some(cursor) = cursor else {
            return errors::invalid_cursor();
        };
        let empty = Sequence::new();
        match text.unwrap_or(&empty).resolve(cursor) {
            Ok(pos) => Reply::Integer(as_int(pos)),
            Err(_) => Reply::error(
                "ERR the cursor names text this key does not hold (or no longer: deleted and collected)",
            ),
        }
    })
}

/// Answers from this region's text at `key` and its length in characters (an absent key is
/// an empty text).
fn with_text(
    server: &Server,
    key: &[u8],
    f: impl FnOnce(Option<&Sequence<Text>>, u64) -> Reply,
) -> Answer {
    let core = server.shared.read();
    Answer::Now(match core.replica.keyspace().text(key) {
        Ok(text) => f(text, text.map_or(0, Sequence::len)),
        Err(_) => errors::wrong_type(),
    })
}

/// A position argument, if it is a whole number no larger than `len`.
fn position(arg: &[u8], len: u64) -> Option<u64> {
    let pos = int_arg(arg).ok()?;
    u64::try_from(pos).ok().filter(|&p| p <= len)
}

/// The length of the text at `key` for a write to it (an absent key is empty), and where the
/// position argument `pos` falls in it.
fn place_for_write(r: &Replica, key: &[u8], pos: &[u8]) -> Result<(u64, u64), WriteError> {
    let text = r
        .keyspace()
        .text(key)
        .map_err(|found| WriteError::Prepare(PrepareError::WrongType { found }))?;
    let len = text.map_or(0, Sequence::len);
    let at = position(pos, len).ok_or(WriteError::Prepare(PrepareError::OutOfRange))?;
    Ok((len, at))
}

pub(super) fn insert(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let key = args[1].clone();
    if let Err(reply) = int_arg(&args[2]) {
        return Answer::Now(reply);
    }
    let Ok(content) = std::str::from_utf8(&args[3]) else {
        return Answer::Now(Reply::error("ERR text is not valid UTF-8"));
    };
    let content = content.to_owned();
    let added = content.chars().count() as u64;
    let pos = args[2].clone();
    write(
        server,
        session,
        |r| {
            let (len, at) = place_for_write(r, &key, &pos)?;
            if added == 0 {
                return Ok(Plan {
                    writes: Vec::new(),
                    outcome: len,
                });
            }
            let command = Command::Text(Splice {
                delete: Vec::new(),
                insert: Some((at, Text(content.clone()))),
            });
            Ok(Plan::one(key.clone(), command, len + added))
        },
        |len, _| Reply::Integer(as_int(len)),
    )
}

pub(super) fn delete(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let key = args[1].clone();
    let count = match int_arg(&args[3]) {
        Ok(n) if n >= 0 => n as u64,
        Ok(_) => return Answer::Now(Reply::error("ERR count can't be negative")),
        Err(reply) => return Answer::Now(reply),
    };
    if let Err(reply) = int_arg(&args[2]) {
        return Answer::Now(reply);
    }
    let pos = args[2].clone();
    write(
        server,
        session,
        |r| {
            let (len, at) = place_for_write(r, &key, &pos)?;
            let n = count.min(len - at);
            if n == 0 {
                return Ok(Plan {
                    writes: Vec::new(),
                    outcome: 0,
                });
            }
            let command = Command::Text(Splice {
                delete: vec![(at, n)],
                insert: None,
            });
            Ok(Plan::one(key.clone(), command, n))
        },
        |n, _| Reply::Integer(as_int(n)),
    )
}
