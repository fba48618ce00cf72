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
    Answer, Session, bulk_or_null, count, int_arg, read, stored_int, write, write_or_refuse,
    wrong_type_error,
};
use super::expiry::{Base, Unit, set_deadline};
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

/// SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | KEEPTTL].
pub(super) fn set(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let (key, value) = (args[1].clone(), args[2].clone());
    let options = match Options::parse(&args[3..], Family::Set) {
        Ok(o) => o,
        Err(reply) => return Answer::Now(reply),
    };
    // Redis checks the time before anything else.
    let command = match options.expiry {
        Expiry::Time { arg, unit, base } => match set_deadline(arg, unit, base, "set") {
            Ok(at) => Command::SetTimed {
                value,
                at: Some(at),
            },
            Err(reply) => return Answer::Now(reply),
        },
        Expiry::KeepTtl => Command::SetTimed { value, at: None },
        Expiry::None | Expiry::Persist => Command::Set(value),
    };
    let mode = options.mode;
    let get = mode.get;
    conditional_set(
        server,
        session,
        key,
        command,
        mode,
        move |done, old| match (get, done) {
            (true, _) => bulk_or_null(old),
            (false, true) => Reply::ok(),
            (false, false) => Reply::Null,
        },
    )
}

/// SETEX key seconds value, and PSETEX in milliseconds.
fn set_with_ttl(server: &Server, session: &mut Session, args: &[Bytes], unit: Unit) -> Answer {
    let command = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let at = match set_deadline(&args[2], unit, Base::Now, &command) {
        Ok(at) => at,
        Err(reply) => return Answer::Now(reply),
    };
    let command = Command::SetTimed {
        value: args[3].clone(),
        at: Some(at),
    };
    write(
        server,
        session,
        |_| Ok(Plan::one(args[1].clone(), command, ())),
        |(), _| Reply::ok(),
    )
}

pub(super) fn setex(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    set_with_ttl(server, session, args, Unit::Seconds)
}

pub(super) fn psetex(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    set_with_ttl(server, session, args, Unit::Millis)
}

/// GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | PERSIST]: the value, after the key's deadline is set or
/// removed.
pub(super) fn getex(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let expiry = match Options::parse(&args[2..], Family::GetEx) {
        Ok(o) => o.expiry,
        Err(reply) => return Answer::Now(reply),
    };
    let key = args[1].clone();
    write_or_refuse(
        server,
        session,
        |r| {
            let value = match string_at(r, &key) {
                Ok(Some(v)) => v,
                Ok(None) => {
                    return Ok(Ok(Plan {
                        writes: Vec::new(),
                        outcome: None,
                    }));
                }
                Err(_) => return Err(wrong_type_error(r, &key)),
            };
            let ks = r.keyspace();
            let command = match expiry {
                // Redis checks the time only once the key is found.
                Expiry::Time { arg, unit, base } => match set_deadline(arg, unit, base, "getex") {
                    Ok(at) if at <= ks.clock() => Some(Command::Del),
                    Ok(at) => Some(Command::Expire(Some(at))),
                    Err(reply) => return Ok(Err(reply)),
                },
                Expiry::Persist if ks.expires(&key).is_some() => Some(Command::Expire(None)),
                Expiry::Persist | Expiry::None | Expiry::KeepTtl => None,
            };
            Ok(Ok(Plan {
                writes: command.map(|c| (key.clone(), c)).into_iter().collect(),
                outcome: Some(value),
            }))
        },
        |value, _| bulk_or_null(value),
    )
}

/// Which command's options [`Options::parse`] reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Set,
    GetEx,
}

/// The expiry option of SET or GETEX.
#[derive(Clone, Copy)]
enum Expiry<'a> {
    None,
    /// EX, PX, EXAT or PXAT with its argument, not yet checked.
    Time {
        arg: &'a [u8],
        unit: Unit,
        base: Base,
    },
    KeepTtl,
    Persist,
}

/// SET's or GETEX's options, parsed as Redis parses them: each option once at most (EX and
/// its kin may repeat, the last one counting), and none that contradicts another.
struct Options<'a> {
    mode: SetMode,
    expiry: Expiry<'a>,
}

impl<'a> Options<'a> {
    fn parse(args: &'a [Bytes], family: Family) -> Result<Options<'a>, Reply> {
        let set = family == Family::Set;
        let mut mode = SetMode::default();
        let mut expiry = Expiry::None;
        let mut i = 0;
        while i < args.len() {
            let option = args[i].to_ascii_lowercase();
            let next = args.get(i + 1);
            let time = match option.as_slice() {
                b"ex" => Some((Unit::Seconds, Base::Now)),
                b"px" => Some((Unit::Millis, Base::Now)),
                b"exat" => Some((Unit::Seconds, Base::Epoch)),
                b"pxat" => Some((Unit::Millis, Base::Epoch)),
                _ => None,
            };
            match (option.as_slice(), time) {
                (b"nx", _) if set && !mode.xx => mode.nx = true,
                (b"xx", _) if set && !mode.nx => mode.xx = true,
                (b"get", _) if set => mode.get = true,
                (b"keepttl", _) if set && matches!(expiry, Expiry::None | Expiry::KeepTtl) => {
                    expiry = Expiry::KeepTtl;
                }
                (b"persist", _) if !set && matches!(expiry, Expiry::None | Expiry::Persist) => {
                    expiry = Expiry::Persist;
                }
                (_, Some((unit, base))) => {
                    let same = match expiry {
                        Expiry::None => true,
                        Expiry::Time {
                            unit: u, base: b, ..
                        } => (u, b) == (unit, base),
                        Expiry::KeepTtl | Expiry::Persist => false,
                    };
                    let Some(arg) = next.filter(|_| same) else {
                        return Err(errors::syntax());
                    };
                    expiry = Expiry::Time { arg, unit, base };
                    i += 1;
                }
                _ => return Err(errors::syntax()),
            }
            i += 1;
        }
        Ok(Options { mode, expiry })
    }
}

/// What SET's options ask of it.
#[derive(Clone, Copy, Debug, Default)]
struct SetMode {
    /// Only if the key is absent here.
    nx: bool,
    /// Only if the key is present here.
    xx: bool,
    /// Read the old value (a string, or the key is refused as WRONGTYPE).
    get: bool,
}

/// SET's write, for SET, SETNX and GETSET: `command` (a SET) at `key` if `mode`'s condition
/// holds in this region; `reply` gets whether it was written and the old value (read for GET
/// only).
fn conditional_set(
    server: &Server,
    session: &mut Session,
    key: Bytes,
    command: Command,
    mode: SetMode,
    reply: impl FnOnce(bool, Option<Bytes>) -> Reply + Send + 'static,
) -> Answer {
    let SetMode { nx, xx, get } = mode;
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
                vec![(key.clone(), command)]
            } else {
                Vec::new()
            };
            Ok(Plan {
                writes,
                outcome: (go, old),
            })
        },
        move |(done, old), _| reply(done, old),
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

/// The longest string APPEND and SETRANGE may make: the longest value a client may send
/// (`Limits::authenticated`), so that every region can take the op that carries it.
const MAX_STRING: usize = meridian_resp::Limits::authenticated().max_bulk_bytes;

fn too_long() -> Reply {
    Reply::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
}

/// SETNX key value: SET NX, answered 1 or 0.
pub(super) fn setnx(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let mode = SetMode {
        nx: true,
        ..SetMode::default()
    };
    conditional_set(
        server,
        session,
        args[1].clone(),
        Command::Set(args[2].clone()),
        mode,
        |done, _| Reply::Integer(i64::from(done)),
    )
}

/// GETSET key value: SET GET.
pub(super) fn getset(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let mode = SetMode {
        get: true,
        ..SetMode::default()
    };
    conditional_set(
        server,
        session,
        args[1].clone(),
        Command::Set(args[2].clone()),
        mode,
        |_, old| bulk_or_null(old),
    )
}

/// MSETNX key value [key value ...]: every key set if none exists here, else none.
pub(super) fn msetnx(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    if args.len() % 2 == 0 {
        return Answer::Now(errors::wrong_arity("msetnx"));
    }
    let pairs: Vec<(Bytes, Bytes)> = args[1..]
        .chunks_exact(2)
        .map(|kv| (kv[0].clone(), kv[1].clone()))
        .collect();
    write(
        server,
        session,
        |r| {
            if pairs.iter().any(|(k, _)| r.keyspace().contains(k)) {
                return Ok(Plan {
                    writes: Vec::new(),
                    outcome: false,
                });
            }
            let writes = pairs
                .iter()
                .map(|(k, v)| (k.clone(), Command::Set(v.clone())))
                .collect();
            Ok(Plan {
                writes,
                outcome: true,
            })
        },
        |done, _| Reply::Integer(i64::from(done)),
    )
}

/// APPEND key value: the value this region reads, extended and written back (a SET).
pub(super) fn append(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let (key, tail) = (args[1].clone(), args[2].clone());
    rewrite(server, session, key, move |old| {
        let old = old.unwrap_or_default();
        if old.len() + tail.len() > MAX_STRING {
            return Err(too_long());
        }
        let mut new = Vec::with_capacity(old.len() + tail.len());
        new.extend_from_slice(&old);
        new.extend_from_slice(&tail);
        Ok(Some(Bytes::from(new)))
    })
}

/// SETRANGE key offset value: the value this region reads, overwritten from `offset`
/// (zero-padded past its end) and written back (a SET).
pub(super) fn setrange(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let key = args[1].clone();
    let offset = match int_arg(&args[2]) {
        Ok(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
        Ok(_) => return Answer::Now(Reply::error("ERR offset is out of range")),
        Err(reply) => return Answer::Now(reply),
    };
    let patch = args[3].clone();
    rewrite(server, session, key, move |old| {
        if patch.is_empty() {
            // Nothing to write: the length as it is (0 for a missing key).
            return Ok(None);
        }
        let old = old.unwrap_or_default();
        if offset.saturating_add(patch.len()) > MAX_STRING {
            return Err(too_long());
        }
        let mut new = old.to_vec();
        if new.len() < offset + patch.len() {
            new.resize(offset + patch.len(), 0);
        }
        new[offset..offset + patch.len()].copy_from_slice(&patch);
        Ok(Some(Bytes::from(new)))
    })
}

/// A read-modify-write of the string at `key`: `change` gets the value this region reads
/// (`None`: no key) and returns the new one (`None`: leave it); the reply is the length the
/// key then holds. Replicated as a SET: a concurrent change made elsewhere loses to the
/// later stamp (docs/resp.md).
fn rewrite(
    server: &Server,
    session: &mut Session,
    key: Bytes,
    change: impl FnOnce(Option<Bytes>) -> Result<Option<Bytes>, Reply>,
) -> Answer {
    write_or_refuse(
        server,
        session,
        |r| {
            let old = string_at(r, &key).map_err(|_| wrong_type_error(r, &key))?;
            let old_len = old.as_ref().map_or(0, Bytes::len);
            Ok(change(old).map(|new| match new {
                None => Plan {
                    writes: Vec::new(),
                    outcome: old_len,
                },
                // The key keeps its time to live, as in Redis.
                Some(new) => {
                    let len = new.len();
                    let command = Command::SetTimed {
                        value: new,
                        at: None,
                    };
                    Plan::one(key.clone(), command, len)
                }
            }))
        },
        |len, _| count(len),
    )
}

/// GETRANGE key start end: bytes `start..=end` of the string, negative from the end.
pub(super) fn getrange(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    let (start, end) = match (int_arg(&args[2]), int_arg(&args[3])) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(reply), _) | (_, Err(reply)) => return Answer::Now(reply),
    };
    Answer::Now(read(server, |r| match string_at(r, &args[1]) {
        Err(reply) => reply,
        Ok(value) => {
            let value = value.unwrap_or_default();
            Reply::bulk(substring(&value, start, end))
        }
    }))
}

/// Redis's GETRANGE arithmetic.
fn substring(value: &Bytes, start: i64, end: i64) -> Bytes {
    let len = i64::try_from(value.len()).unwrap_or(i64::MAX);
    if start < 0 && end < 0 && start > end {
        return Bytes::new();
    }
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    if start > end || len == 0 {
        return Bytes::new();
    }
    value.slice(start as usize..=end as usize)
}
