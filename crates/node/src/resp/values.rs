//! The data commands of each type: strings (LWW registers) and counters, sets, hashes, MV
//! registers; and the replication waits, WAIT and WAITTOKEN.
//!
//! What a command reports (SET's old value, SADD's count of new members, INCR's result) is
//! read from this region's state in the same hold of the lock as its writes: it is exact for
//! this region, and another region may have written the key concurrently (docs/resp.md).

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use meridian_crdt::{
    Command, HashView, KeyType, PrepareError, SetView, StringRef, Value, VersionVector,
};
use meridian_replica::{Replica, WriteError};
use meridian_resp::{Protocol, Reply};

use super::Server;
use super::exec::{Answer, Session, int_arg, syntax_error, write};
use super::token::{format_token, parse_token};
use crate::Acknowledgement;
use crate::ops::Plan;

pub(crate) fn wrong_type() -> Reply {
    Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value")
}

fn wrong_type_error(replica: &Replica, key: &[u8]) -> WriteError {
    let found = replica
        .keyspace()
        .key_type(key)
        .unwrap_or(KeyType::Register);
    WriteError::Prepare(PrepareError::WrongType { found })
}

fn read<T>(server: &Server, f: impl FnOnce(&Replica) -> T) -> T {
    f(&server.shared.read().replica)
}

/// GET's reply, encoded into `out` from the value in place: the same bytes as
/// `point_read(r, "get", ..)` encodes, without taking a reference to the value (an atomic
/// increment and decrement on the value's shared count, which the connections of both
/// threads kept taking from each other's caches).
pub(crate) fn encode_get(r: &Replica, key: &[u8], protocol: Protocol, out: &mut BytesMut) {
    match r.keyspace().string_ref(key) {
        Ok(Some(StringRef::Str(b))) => Reply::encode_bulk(b, out),
        Ok(Some(StringRef::Int(n))) => Reply::encode_bulk(n.to_string().as_bytes(), out),
        Ok(None) => Reply::Null.encode(protocol, out),
        Err(_) => wrong_type().encode(protocol, out),
    }
}

/// The string at `key` as GET shows it; counters read as decimal, like Redis's integers.
/// One keyspace lookup, and a key of another type is refused without reading its value.
fn string_at(r: &Replica, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    match r.keyspace().string(key) {
        Ok(None) => Ok(None),
        Ok(Some(Value::Str(b))) => Ok(Some(b)),
        Ok(Some(Value::Int(n))) => Ok(Some(Bytes::from(n.to_string()))),
        Ok(Some(_)) | Err(_) => Err(wrong_type()),
    }
}

/// The set at `key` for a write to it, read in place (a write looks at the members it
/// names, never copies the set); an absent key is an empty set.
fn set_for_write<'a>(r: &'a Replica, key: &[u8]) -> Result<SetView<'a>, WriteError> {
    r.keyspace()
        .set(key)
        .map_err(|found| WriteError::Prepare(PrepareError::WrongType { found }))
}

/// The hash at `key` for a write to it, read in place; an absent key is an empty hash.
fn hash_for_write<'a>(r: &'a Replica, key: &[u8]) -> Result<HashView<'a>, WriteError> {
    r.keyspace()
        .hash(key)
        .map_err(|found| WriteError::Prepare(PrepareError::WrongType { found }))
}

/// How many different names `names` holds (a command may repeat a member or a field).
fn distinct<'a>(names: impl Iterator<Item = &'a Bytes>) -> usize {
    names.collect::<std::collections::BTreeSet<_>>().len()
}

/// A stored string as the integer INCRBY or HINCRBY adds to.
fn stored_int(bytes: &[u8]) -> Result<i64, WriteError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(WriteError::Prepare(PrepareError::NotInteger))
}

fn bulk_or_null(value: Option<Bytes>) -> Reply {
    value.map_or(Reply::Null, Reply::bulk)
}

fn count(n: usize) -> Reply {
    Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Runs a data command, or `None` if `name` is not one.
pub(crate) fn execute(
    server: &Arc<Server>,
    session: &mut Session,
    name: &str,
    args: &[Bytes],
) -> Option<Answer> {
    if is_point_read(name) {
        return Some(Answer::Now(read(server, |r| point_read(r, name, args))));
    }
    let key = args.get(1).cloned().unwrap_or_default();
    Some(match name {
        "set" => set(server, session, args),
        "mset" => {
            if args.len() % 2 == 0 {
                return Some(Answer::Now(Reply::error(
                    "ERR wrong number of arguments for 'mset' command",
                )));
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
        "getdel" => write(
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
        ),
        "incr" => incr(server, session, key, Ok(1)),
        "decr" => incr(server, session, key, Ok(-1)),
        "incrby" => incr(server, session, key, int_arg(&args[2])),
        "decrby" => incr(
            server,
            session,
            key,
            int_arg(&args[2]).and_then(|by| {
                by.checked_neg()
                    .ok_or_else(|| Reply::error("ERR decrement would overflow"))
            }),
        ),
        "sadd" | "srem" => set_write(server, session, name == "sadd", key, &args[2..]),
        "smembers" => Answer::Now(with_set(server, &key, |m| {
            Reply::Set(m.iter().cloned().map(Reply::bulk).collect())
        })),
        "hset" => hset(server, session, key, &args[2..]),
        "hdel" => {
            let fields: Vec<Bytes> = args[2..].to_vec();
            write(
                server,
                session,
                |r| {
                    let present = hash_for_write(r, &key)?;
                    let n = distinct(fields.iter().filter(|f| present.contains(f)));
                    if n == 0 {
                        return Ok(Plan {
                            writes: Vec::new(),
                            outcome: 0,
                        });
                    }
                    Ok(Plan::one(key.clone(), Command::HDel(fields.clone()), n))
                },
                |n, _| count(n),
            )
        }
        "hgetall" => Answer::Now(with_hash(server, &key, |h| {
            Reply::Map(
                h.iter()
                    .map(|(f, v)| (Reply::bulk(f.clone()), Reply::bulk(v)))
                    .collect(),
            )
        })),
        "hkeys" => Answer::Now(with_hash(server, &key, |h| {
            Reply::Array(h.iter().map(|(f, _)| Reply::bulk(f.clone())).collect())
        })),
        "hvals" => Answer::Now(with_hash(server, &key, |h| {
            Reply::Array(h.iter().map(|(_, v)| Reply::bulk(v)).collect())
        })),
        "hincrby" => hincrby(server, session, key, args[2].clone(), int_arg(&args[3])),
        "mvset" => mvset(server, session, key, args),
        "mvget" => Answer::Now(read(server, |r| match r.keyspace().mv_siblings(&key) {
            Some(siblings) => Reply::Array(vec![
                Reply::Array(siblings.into_iter().map(|(v, _)| Reply::bulk(v)).collect()),
                Reply::bulk(Bytes::from(format_token(r.applied()))),
            ]),
            None if r.keyspace().contains(&key) => wrong_type(),
            None => Reply::NullArray,
        })),
        _ => return None,
    })
}

/// Whether `name` is a point read: a command that only reads the keys, members or fields it
/// names, so its cost does not grow with the size of a key, and [`point_read`] answers it.
/// The connection runs a pipeline's consecutive point reads under one hold of the lock.
pub(crate) fn is_point_read(name: &str) -> bool {
    matches!(
        name,
        "get"
            | "mget"
            | "strlen"
            | "exists"
            | "type"
            | "scard"
            | "sismember"
            | "smismember"
            | "hget"
            | "hmget"
            | "hlen"
            | "hexists"
    )
}

/// Answers a point read ([`is_point_read`]) whose arity was checked; `args[0]` is its name.
pub(crate) fn point_read(r: &Replica, name: &str, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let ks = r.keyspace();
    match name {
        "get" => match string_at(r, key) {
            Ok(v) => bulk_or_null(v),
            Err(reply) => reply,
        },
        "mget" => Reply::Array(
            args[1..]
                .iter()
                .map(|k| bulk_or_null(string_at(r, k).ok().flatten()))
                .collect(),
        ),
        "strlen" => match string_at(r, key) {
            Ok(v) => count(v.map_or(0, |b| b.len())),
            Err(reply) => reply,
        },
        "exists" => count(args[1..].iter().filter(|k| ks.contains(k)).count()),
        "type" => Reply::Simple(
            ks.key_type(key)
                .map_or("none", |t| t.redis_name())
                .to_owned(),
        ),
        "scard" => in_set(r, key, |m| count(m.len())),
        "sismember" => in_set(r, key, |m| Reply::Integer(i64::from(m.contains(&args[2])))),
        "smismember" => in_set(r, key, |m| {
            Reply::Array(
                args[2..]
                    .iter()
                    .map(|x| Reply::Integer(i64::from(m.contains(x))))
                    .collect(),
            )
        }),
        "hget" => in_hash(r, key, |h| bulk_or_null(h.get(&args[2]))),
        "hmget" => in_hash(r, key, |h| {
            Reply::Array(args[2..].iter().map(|f| bulk_or_null(h.get(f))).collect())
        }),
        "hlen" => in_hash(r, key, |h| count(h.len())),
        "hexists" => in_hash(r, key, |h| Reply::Integer(i64::from(h.contains(&args[2])))),
        _ => Reply::error(format!("ERR '{name}' is not a point read")),
    }
}

fn in_set(r: &Replica, key: &[u8], f: impl FnOnce(SetView<'_>) -> Reply) -> Reply {
    r.keyspace().set(key).map_or_else(|_| wrong_type(), f)
}

fn in_hash(r: &Replica, key: &[u8], f: impl FnOnce(HashView<'_>) -> Reply) -> Reply {
    r.keyspace().hash(key).map_or_else(|_| wrong_type(), f)
}

fn set(server: &Server, session: &mut Session, args: &[Bytes]) -> Answer {
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
            _ => return Answer::Now(syntax_error()),
        }
    }
    if nx && xx {
        return Answer::Now(syntax_error());
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

fn incr(server: &Server, session: &mut Session, key: Bytes, by: Result<i64, Reply>) -> Answer {
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

/// A set, read in place; an absent key is an empty set.
fn with_set(server: &Server, key: &[u8], f: impl FnOnce(SetView<'_>) -> Reply) -> Reply {
    read(server, |r| in_set(r, key, f))
}

fn set_write(
    server: &Server,
    session: &mut Session,
    add: bool,
    key: Bytes,
    members: &[Bytes],
) -> Answer {
    let members = members.to_vec();
    write(
        server,
        session,
        |r| {
            let present = set_for_write(r, &key)?;
            let n = distinct(members.iter().filter(|m| present.contains(m) != add));
            // SREM of nothing present observes nothing: no op to send.
            if !add && n == 0 {
                return Ok(Plan {
                    writes: Vec::new(),
                    outcome: 0,
                });
            }
            let command = if add {
                Command::SAdd(members.clone())
            } else {
                Command::SRem(members.clone())
            };
            Ok(Plan::one(key.clone(), command, n))
        },
        |n, _| count(n),
    )
}

/// A hash, read in place; an absent key is an empty hash.
fn with_hash(server: &Server, key: &[u8], f: impl FnOnce(HashView<'_>) -> Reply) -> Reply {
    read(server, |r| in_hash(r, key, f))
}

fn hset(server: &Server, session: &mut Session, key: Bytes, pairs: &[Bytes]) -> Answer {
    if pairs.len() % 2 != 0 {
        return Answer::Now(Reply::error(
            "ERR wrong number of arguments for 'hset' command",
        ));
    }
    let fields: Vec<(Bytes, Bytes)> = pairs
        .chunks_exact(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    write(
        server,
        session,
        |r| {
            let present = hash_for_write(r, &key)?;
            let n = distinct(
                fields
                    .iter()
                    .map(|(f, _)| f)
                    .filter(|f| !present.contains(f)),
            );
            Ok(Plan::one(key.clone(), Command::HSet(fields.clone()), n))
        },
        |n, _| count(n),
    )
}

fn hincrby(
    server: &Server,
    session: &mut Session,
    key: Bytes,
    field: Bytes,
    by: Result<i64, Reply>,
) -> Answer {
    let by = match by {
        Ok(by) => by,
        Err(reply) => return Answer::Now(reply),
    };
    write(
        server,
        session,
        |r| {
            let current = match hash_for_write(r, &key)?.get(&field) {
                None => 0,
                Some(v) => stored_int(&v)?,
            };
            let after = current
                .checked_add(by)
                .ok_or(WriteError::Prepare(PrepareError::Overflow))?;
            Ok(Plan::one(
                key.clone(),
                Command::HIncrBy {
                    field: field.clone(),
                    by,
                },
                after,
            ))
        },
        |after, _| Reply::Integer(after),
    )
}

/// MVSET key value [CTX token]: replies with the causal token right after the write.
fn mvset(server: &Server, session: &mut Session, key: Bytes, args: &[Bytes]) -> Answer {
    let ctx = match &args[3..] {
        [] => None,
        [option, token] if option.eq_ignore_ascii_case(b"ctx") => match parse_token(token) {
            Ok(vv) => Some(vv),
            Err(why) => {
                return Answer::Now(Reply::error(format!("ERR invalid causal token: {why}")));
            }
        },
        _ => return Answer::Now(syntax_error()),
    };
    let value = args[2].clone();
    write(
        server,
        session,
        |_| Ok(Plan::one(key, Command::MvSet { value, ctx }, ())),
        |(), receipt| match receipt {
            Some(receipt) => Reply::bulk(Bytes::from(format_token(&receipt.token))),
            None => Reply::ok(),
        },
    )
}

/// A timeout argument in milliseconds; 0 waits without end, as in Redis.
fn timeout_arg(arg: &[u8]) -> Result<Duration, Reply> {
    let ms = int_arg(arg)?;
    if ms < 0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    Ok(if ms == 0 {
        Duration::from_secs(100 * 365 * 24 * 3600)
    } else {
        Duration::from_millis(ms.unsigned_abs())
    })
}

/// WAIT numregions timeout: how many other regions hold this connection's latest write
/// durably, once `numregions` of them do or the timeout passed.
pub(crate) fn wait(server: &Arc<Server>, session: &Session, args: &[Bytes]) -> Answer {
    let wanted = match int_arg(&args[1]) {
        Ok(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
        Ok(_) => return Answer::Now(Reply::error("ERR numregions is negative")),
        Err(reply) => return Answer::Now(reply),
    };
    let timeout = match timeout_arg(&args[2]) {
        Ok(t) => t,
        Err(reply) => return Answer::Now(reply),
    };
    let others = server
        .shared
        .config
        .topology
        .ids()
        .count()
        .saturating_sub(1);
    let Some(receipt) = session.last_write.clone() else {
        // Nothing written on this connection: every region holds all of it.
        return Answer::Now(count(others));
    };
    let server = Arc::clone(server);
    Answer::Later(Box::pin(async move {
        let holding =
            |server: &Server| read(server, |r| r.matrix().durable_at(receipt.dot).count());
        if wanted > 0 {
            let level = Acknowledgement::Regions(
                NonZeroUsize::new(wanted.saturating_add(1)).unwrap_or(NonZeroUsize::MIN),
            );
            // A timeout is not an error for WAIT: it answers how many regions made it.
            let _ = crate::ack::wait(&server.shared, receipt.dot, &level, timeout).await;
        }
        count(holding(&server).saturating_sub(1))
    }))
}

/// WAITTOKEN token timeout: waits until this region has applied everything the causal
/// token covers (read-your-writes after a failover, monotonic reads across regions).
pub(crate) fn wait_token(server: &Arc<Server>, args: &[Bytes]) -> Answer {
    let token: VersionVector = match parse_token(&args[1]) {
        Ok(vv) => vv,
        Err(why) => return Answer::Now(Reply::error(format!("ERR invalid causal token: {why}"))),
    };
    let timeout = match timeout_arg(&args[2]) {
        Ok(t) => t,
        Err(reply) => return Answer::Now(reply),
    };
    let server = Arc::clone(server);
    Answer::Later(Box::pin(async move {
        let shared = &server.shared;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let progress = shared.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            let applied = shared.read().replica.applied().clone();
            if applied.dominates(&token) {
                return Reply::ok();
            }
            tokio::select! {
                () = &mut progress => {}
                () = shared.shutdown.cancelled() => return Reply::error("ERR the node shut down"),
                () = tokio::time::sleep_until(deadline) => {
                    return Reply::error(format!(
                        "TIMEOUT this region has not applied the token within {timeout:?}; it has applied {}",
                        format_token(&applied)
                    ));
                }
            }
        }
    }))
}
