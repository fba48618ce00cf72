//! The hash commands: HSET, HGET, HMGET, HDEL, HGETALL, HKEYS, HVALS, HLEN, HEXISTS,
//! HINCRBY. Each field is its own last-write-wins register (or counter, once HINCRBY'd), so
//! two regions writing different fields both keep theirs (docs/resp.md, "Hashes").

use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::{Command, HashView, PrepareError};
use meridian_replica::{Replica, WriteError};
use meridian_resp::{Protocol, Reply, errors};

use super::exec::{
    Answer, Session, bulk_or_null, count, distinct, int_arg, read, stored_int, write,
    write_or_refuse,
};
use super::{Server, sets};
use crate::ops::Plan;

/// The hash at `key` for a write to it, read in place; an absent key is an empty hash.
fn hash_for_write<'a>(r: &'a Replica, key: &[u8]) -> Result<HashView<'a>, WriteError> {
    r.keyspace()
        .hash(key)
        .map_err(|found| WriteError::Prepare(PrepareError::WrongType { found }))
}

fn in_hash(r: &Replica, key: &[u8], f: impl FnOnce(HashView<'_>) -> Reply) -> Reply {
    r.keyspace()
        .hash(key)
        .map_or_else(|_| errors::wrong_type(), f)
}

/// A hash, read in place; an absent key is an empty hash.
fn with_hash(server: &Server, key: &[u8], f: impl FnOnce(HashView<'_>) -> Reply) -> Reply {
    read(server, |r| in_hash(r, key, f))
}

pub(super) fn hget(r: &Replica, args: &[Bytes]) -> Reply {
    in_hash(r, &args[1], |h| bulk_or_null(h.get(&args[2])))
}

pub(super) fn hmget(r: &Replica, args: &[Bytes]) -> Reply {
    in_hash(r, &args[1], |h| {
        Reply::Array(args[2..].iter().map(|f| bulk_or_null(h.get(f))).collect())
    })
}

pub(super) fn hlen(r: &Replica, args: &[Bytes]) -> Reply {
    in_hash(r, &args[1], |h| count(h.len()))
}

pub(super) fn hexists(r: &Replica, args: &[Bytes]) -> Reply {
    in_hash(r, &args[1], |h| {
        Reply::Integer(i64::from(h.contains(&args[2])))
    })
}

pub(super) fn hgetall(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    Answer::Now(with_hash(server, &args[1], |h| {
        Reply::Map(
            h.iter()
                .map(|(f, v)| (Reply::bulk(f.clone()), Reply::bulk(v)))
                .collect(),
        )
    }))
}

pub(super) fn hkeys(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    Answer::Now(with_hash(server, &args[1], |h| {
        Reply::Array(h.iter().map(|(f, _)| Reply::bulk(f.clone())).collect())
    }))
}

pub(super) fn hvals(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    Answer::Now(with_hash(server, &args[1], |h| {
        Reply::Array(h.iter().map(|(_, v)| Reply::bulk(v)).collect())
    }))
}

pub(super) fn hdel(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let key = args[1].clone();
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

/// The `field value [field value ...]` of HSET and HMSET, or the arity error of `command`.
fn field_values(command: &str, pairs: &[Bytes]) -> Result<Vec<(Bytes, Bytes)>, Reply> {
    if pairs.len() % 2 != 0 {
        return Err(errors::wrong_arity(command));
    }
    Ok(pairs
        .chunks_exact(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect())
}

/// HSET key field value [field value ...].
pub(super) fn hset(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let key = args[1].clone();
    let fields = match field_values("hset", &args[2..]) {
        Ok(fields) => fields,
        Err(reply) => return Answer::Now(reply),
    };
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

pub(super) fn hincrby(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let (key, field) = (args[1].clone(), args[2].clone());
    let by = match int_arg(&args[3]) {
        Ok(by) => by,
        Err(reply) => return Answer::Now(reply),
    };
    // Redis words a field that holds no integer its own way.
    write_or_refuse(
        server,
        session,
        |r| {
            let current = match hash_for_write(r, &key)?.get(&field) {
                None => 0,
                Some(v) => match stored_int(&v) {
                    Ok(n) => n,
                    Err(_) => return Ok(Err(errors::hash_value_not_an_integer())),
                },
            };
            let after = current
                .checked_add(by)
                .ok_or(WriteError::Prepare(PrepareError::Overflow))?;
            Ok(Ok(Plan::one(
                key.clone(),
                Command::HIncrBy {
                    field: field.clone(),
                    by,
                },
                after,
            )))
        },
        |after, _| Reply::Integer(after),
    )
}

/// HSETNX key field value: the field is written only if this region does not hold it.
pub(super) fn hsetnx(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let (key, field, value) = (args[1].clone(), args[2].clone(), args[3].clone());
    write(
        server,
        session,
        |r| {
            if hash_for_write(r, &key)?.contains(&field) {
                return Ok(Plan {
                    writes: Vec::new(),
                    outcome: 0,
                });
            }
            Ok(Plan::one(
                key.clone(),
                Command::HSet(vec![(field.clone(), value.clone())]),
                1,
            ))
        },
        |n, _| count(n),
    )
}

/// HMSET key field value [field value ...]: HSET, answered OK.
pub(super) fn hmset(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let key = args[1].clone();
    let fields = match field_values("hmset", &args[2..]) {
        Ok(fields) => fields,
        Err(reply) => return Answer::Now(reply),
    };
    write(
        server,
        session,
        |r| {
            hash_for_write(r, &key)?;
            Ok(Plan::one(key.clone(), Command::HSet(fields.clone()), ()))
        },
        |(), _| Reply::ok(),
    )
}

pub(super) fn hstrlen(r: &Replica, args: &[Bytes]) -> Reply {
    in_hash(r, &args[1], |h| {
        count(h.get(&args[2]).map_or(0, |v| v.len()))
    })
}

/// HRANDFIELD key [count [WITHVALUES]].
pub(super) fn hrandfield(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let count = match args.get(2).map(|c| sets::sample_count(c)).transpose() {
        Ok(count) => count,
        Err(reply) => return Answer::Now(reply),
    };
    let with_values = match args.get(3..).unwrap_or_default() {
        [] => false,
        [w] if w.eq_ignore_ascii_case(b"withvalues") => true,
        _ => return Answer::Now(errors::syntax()),
    };
    // As Redis: a count whose pairs would overflow is refused before the key is read.
    if with_values && count.is_some_and(|n| n.unsigned_abs() > (i64::MAX / 2).unsigned_abs()) {
        return Answer::Now(Reply::error("ERR value is out of range"));
    }
    let protocol = session.protocol;
    Answer::Now(with_hash(server, &args[1], |h| {
        let fields: Vec<(Bytes, Bytes)> = h.iter().map(|(f, v)| (f.clone(), v)).collect();
        let Some(count) = count else {
            return sets::sample(fields.len(), 1)
                .first()
                .map_or(Reply::Null, |&i| Reply::bulk(fields[i].0.clone()));
        };
        let picked = sets::sample(fields.len(), count);
        let reply = picked.into_iter().flat_map(|i| {
            let (f, v) = fields[i].clone();
            if !with_values {
                vec![Reply::bulk(f)]
            } else if protocol == Protocol::Resp3 {
                vec![Reply::Array(vec![Reply::bulk(f), Reply::bulk(v)])]
            } else {
                vec![Reply::bulk(f), Reply::bulk(v)]
            }
        });
        Reply::Array(reply.collect())
    }))
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]: fields and their values in field order,
/// resumed after the last field the previous call examined (docs/resp.md, SCAN).
pub(super) fn hscan(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    let scan = match server.cursors.parse(&args[2..], false) {
        Ok(scan) => scan,
        Err(reply) => return Answer::Now(reply),
    };
    let walked = read(server, |r| {
        r.keyspace()
            .hash(&args[1])
            .map(|fields| scan.walk(fields.iter_after(scan.after.as_deref()), |_, _| true))
    });
    Answer::Now(match walked {
        Ok((found, last, done)) => {
            let pairs = found
                .into_iter()
                .flat_map(|(f, v)| [Reply::bulk(f), Reply::bulk(v)])
                .collect();
            server.cursors.reply(pairs, last, done)
        }
        Err(_) => errors::wrong_type(),
    })
}
