//! The string commands: GET, MGET, STRLEN, SET, MSET, GETDEL and the counters INCR, INCRBY,
//! DECR, DECRBY. A string is a last-write-wins register; INCR and its kin turn the key into a
//! counter whose increments from every region add up (docs/resp.md, "Strings and counters").
//!
//! What a command reports (SET's old value, INCR's result) is read from this region's state
//! in the same hold of the lock as its writes: it is exact for this region, and another
//! region may have written the key concurrently.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use meridian_crdt::{Command, PrepareError, StringRef, Value};
use meridian_replica::{Replica, WriteError};
use meridian_resp::{Protocol, Reply, errors};

use super::Server;
use super::exec::{
    Answer, Session, bulk_or_null, count, int_arg, stored_int, write, wrong_type_error,
};
use crate::ops::Plan;

/// GET's reply, encoded into `out` from the value in place: the same bytes as
/// [`get`] encodes, without taking a reference to the value (an atomic
/// increment and decrement on the value's shared count, which the connections of both
/// threads kept taking from each other's caches).
pub(crate) fn encode_get(r: &Replica, key: &[u8], protocol: Protocol, out: &mut BytesMut) {
    match r.keyspace().string_ref(key) {
        Ok(Some(StringRef::Str(b))) => Reply::encode_bulk(b, out),
        Ok(Some(StringRef::Int(n))) => Reply::encode_bulk(n.to_string().as_bytes(), out),
        Ok(None) => Reply::Null.encode(protocol, out),
        Err(_) => errors::wrong_type().encode(protocol, out),
    }
}

/// The string at `key` as GET shows it; counters read as decimal, like Redis's integers.
/// One keyspace lookup, and a key of another type is refused without reading its value.
pub(super) fn string_at(r: &Replica, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    match r.keyspace().string(key) {
        Ok(None) => Ok(None),
        Ok(Some(Value::Str(b))) => Ok(Some(b)),
        Ok(Some(Value::Int(n))) => Ok(Some(Bytes::from(n.to_string()))),
        Ok(Some(_)) | Err(_) => Err(errors::wrong_type()),
    }
}

pub(super) fn get(r: &Replica, args: &[Bytes]) -> Reply {
    string_at(r, &args[1]).map_or_else(|reply| reply, bulk_or_null)
}

pub(super) fn mget(r: &Replica, args: &[Bytes]) -> Reply {
    Reply::Array(
        args[1..]
            .iter()
            .map(|k| bulk_or_null(string_at(r, k).ok().flatten()))
            .collect(),
    )
}

pub(super) fn strlen(r: &Replica, args: &[Bytes]) -> Reply {
    string_at(r, &args[1]).map_or_else(|reply| reply, |v| count(v.map_or(0, |b| b.len())))
}

/// SET key value [NX | XX] [GET].
pub(super) fn set(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let (key, value) = (args[1].clone(), args[2].clone());
    let (mut nx, mut xx, mut get) = (false, false, false);
    for option in &args[3..] {
        match option.to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"get" => get = true,
            b"ex" | b"px" | b"exat" | b"pxat" | b"keepttl" => {
                return Answer::Now(Reply::error(
                    "ERR Meridian keys do not expire: SET with EX, PX, EXAT, PXAT or KEEPTTL is not supported",
                ));
            }
            _ => return Answer::Now(errors::syntax()),
        }
    }
    if nx && xx {
        return Answer::Now(errors::syntax());
    }
    write(
        server,
        session,
        |r| {
            let old = if get {
                string_at(r, &key).map_err(|_| wrong_type_error(r, &key))?
            } else {
                None
            };
            // A plain SET skips the lookup: under load it is a cache miss per request.
            let go = !(nx || xx) || r.keyspace().contains(&key) == xx;
            let writes = if go {
                vec![(key.clone(), Command::Set(value))]
            } else {
                Vec::new()
            };
            Ok(Plan {
                writes,
                outcome: (go, old),
            })
        },
        move |(done, old), _| match (get, done) {
            (true, _) => bulk_or_null(old),
            (false, true) => Reply::ok(),
            (false, false) => Reply::Null,
        },
    )
}

pub(super) fn mset(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    if args.len() % 2 == 0 {
        return Answer::Now(errors::wrong_arity("mset"));
    }
    let writes = args[1..]
        .chunks_exact(2)
        .map(|kv| (kv[0].clone(), Command::Set(kv[1].clone())))
        .collect();
    write(
        server,
        session,
        |_| {
            Ok(Plan {
                writes,
                outcome: (),
            })
        },
        |(), _| Reply::ok(),
    )
}

pub(super) fn getdel(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let key = args[1].clone();
    write(
        server,
        session,
        |r| match string_at(r, &key) {
            Ok(None) => Ok(Plan {
                writes: Vec::new(),
                outcome: None,
            }),
            Ok(Some(old)) => Ok(Plan::one(key.clone(), Command::Del, Some(old))),
            Err(_) => Err(wrong_type_error(r, &key)),
        },
        |old, _| bulk_or_null(old),
    )
}

pub(super) fn incr(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    add(server, session, args[1].clone(), Ok(1))
}

pub(super) fn decr(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    add(server, session, args[1].clone(), Ok(-1))
}

pub(super) fn incrby(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    add(server, session, args[1].clone(), int_arg(&args[2]))
}

pub(super) fn decrby(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let by = int_arg(&args[2]).and_then(|by| {
        by.checked_neg()
            .ok_or_else(|| Reply::error("ERR decrement would overflow"))
    });
    add(server, session, args[1].clone(), by)
}

/// Adds `by` to the counter at `key` (a string holding an integer becomes one).
fn add(server: &Server, session: &mut Session, key: Bytes, by: Result<i64, Reply>) -> Answer {
    let by = match by {
        Ok(by) => by,
        Err(reply) => return Answer::Now(reply),
    };
    write(
        server,
        session,
        |r| {
            let current = match string_at(r, &key) {
                Ok(None) => 0,
                Ok(Some(s)) => stored_int(&s)?,
                Err(_) => return Err(wrong_type_error(r, &key)),
            };
            let after = current
                .checked_add(by)
                .ok_or(WriteError::Prepare(PrepareError::Overflow))?;
            Ok(Plan::one(key.clone(), Command::IncrBy(by), after))
        },
        |after, _| Reply::Integer(after),
    )
}
