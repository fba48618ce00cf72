//! The set commands: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD. A set is an
//! observed-remove set: an add survives a concurrent remove that had not seen it
//! (docs/resp.md, "Sets").

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::{Command, PrepareError, SetView};
use meridian_replica::{Replica, WriteError};
use meridian_resp::{Reply, errors};
use rand::Rng;

use super::Server;
use super::exec::{Answer, Session, count, distinct, int_arg, read, write, write_or_refuse};
use crate::ops::Plan;

/// The set at `key` for a write to it, read in place (a write looks at the members it
/// names, never copies the set); an absent key is an empty set.
fn set_for_write<'a>(r: &'a Replica, key: &[u8]) -> Result<SetView<'a>, WriteError> {
    r.keyspace()
        .set(key)
        .map_err(|found| WriteError::Prepare(PrepareError::WrongType { found }))
}

fn in_set(r: &Replica, key: &[u8], f: impl FnOnce(SetView<'_>) -> Reply) -> Reply {
    r.keyspace()
        .set(key)
        .map_or_else(|_| errors::wrong_type(), f)
}

/// A set, read in place; an absent key is an empty set.
fn with_set(server: &Server, key: &[u8], f: impl FnOnce(SetView<'_>) -> Reply) -> Reply {
    read(server, |r| in_set(r, key, f))
}

pub(super) fn sadd(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    change(server, session, true, args[1].clone(), &args[2..])
}

pub(super) fn srem(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    change(server, session, false, args[1].clone(), &args[2..])
}

pub(super) fn smembers(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    Answer::Now(with_set(server, &args[1], |m| {
        Reply::Set(m.iter().cloned().map(Reply::bulk).collect())
    }))
}

pub(super) fn scard(r: &Replica, args: &[Bytes]) -> Reply {
    in_set(r, &args[1], |m| count(m.len()))
}

pub(super) fn sismember(r: &Replica, args: &[Bytes]) -> Reply {
    in_set(r, &args[1], |m| {
        Reply::Integer(i64::from(m.contains(&args[2])))
    })
}

pub(super) fn smismember(r: &Replica, args: &[Bytes]) -> Reply {
    in_set(r, &args[1], |m| {
        Reply::Array(
            args[2..]
                .iter()
                .map(|x| Reply::Integer(i64::from(m.contains(x))))
                .collect(),
        )
    })
}

fn change(
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

/// How SUNION, SINTER and SDIFF combine their sets.
#[derive(Clone, Copy)]
enum Algebra {
    Union,
    Inter,
    Diff,
}

/// The members of the sets at `keys` combined, read here; a missing key is an empty set, and
/// every key is checked for its type first, as Redis does.
fn combine(r: &Replica, keys: &[Bytes], how: Algebra) -> Result<BTreeSet<Bytes>, Reply> {
    let sets = keys
        .iter()
        .map(|k| r.keyspace().set(k).map_err(|_| errors::wrong_type()))
        .collect::<Result<Vec<SetView<'_>>, Reply>>()?;
    let mut sets = sets.into_iter();
    let mut out: BTreeSet<Bytes> = sets
        .next()
        .map(|first| first.iter().cloned().collect())
        .unwrap_or_default();
    for set in sets {
        match how {
            Algebra::Union => out.extend(set.iter().cloned()),
            Algebra::Inter => out.retain(|m| set.contains(m)),
            Algebra::Diff => out.retain(|m| !set.contains(m)),
        }
    }
    Ok(out)
}

fn algebra(server: &Server, keys: &[Bytes], how: Algebra) -> Answer {
    Answer::Now(read(server, |r| match combine(r, keys, how) {
        Ok(members) => Reply::Set(members.into_iter().map(Reply::bulk).collect()),
        Err(reply) => reply,
    }))
}

pub(super) fn sunion(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    algebra(server, &args[1..], Algebra::Union)
}

pub(super) fn sinter(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    algebra(server, &args[1..], Algebra::Inter)
}

pub(super) fn sdiff(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    algebra(server, &args[1..], Algebra::Diff)
}

/// SUNIONSTORE, SINTERSTORE, SDIFFSTORE: the destination (whatever it held) becomes the
/// result, as two ops: a delete of what this region saw at the destination, then an add of
/// the result. An add made concurrently at another region survives, as with DEL.
fn store(server: &Server, session: &mut Session, args: &[Bytes], how: Algebra) -> Answer {
    let destination = args[1].clone();
    let keys = args[2..].to_vec();
    write_or_refuse(
        server,
        session,
        |r| {
            let members = match combine(r, &keys, how) {
                Ok(members) => members,
                Err(reply) => return Ok(Err(reply)),
            };
            let n = members.len();
            let mut writes = Vec::new();
            if r.keyspace().contains(&destination) {
                writes.push((destination.clone(), Command::Del));
            }
            if n > 0 {
                writes.push((
                    destination.clone(),
                    Command::SAdd(members.into_iter().collect()),
                ));
            }
            Ok(Ok(Plan { writes, outcome: n }))
        },
        |n, _| count(n),
    )
}

pub(super) fn sunionstore(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    store(server, session, args, Algebra::Union)
}

pub(super) fn sinterstore(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    store(server, session, args, Algebra::Inter)
}

pub(super) fn sdiffstore(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    store(server, session, args, Algebra::Diff)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit].
pub(super) fn sintercard(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    let numkeys = match int_arg(&args[1]) {
        Ok(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
        Ok(_) => return Answer::Now(Reply::error("ERR numkeys should be greater than 0")),
        Err(_) => return Answer::Now(Reply::error("ERR numkeys should be greater than 0")),
    };
    if numkeys > args.len() - 2 {
        return Answer::Now(Reply::error(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let keys = &args[2..2 + numkeys];
    let mut limit = 0usize;
    let mut rest = &args[2 + numkeys..];
    while !rest.is_empty() {
        match rest {
            [option, value, more @ ..] if option.eq_ignore_ascii_case(b"limit") => {
                limit = match int_arg(value) {
                    Ok(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
                    _ => return Answer::Now(Reply::error("ERR LIMIT can't be negative")),
                };
                rest = more;
            }
            _ => return Answer::Now(errors::syntax()),
        }
    }
    Answer::Now(read(server, |r| match combine(r, keys, Algebra::Inter) {
        Ok(members) if limit > 0 => count(members.len().min(limit)),
        Ok(members) => count(members.len()),
        Err(reply) => reply,
    }))
}

/// SMOVE source destination member: a remove from the source and an add to the
/// destination, two ops applied together here and durable together before the reply.
pub(super) fn smove(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let (source, destination, member) = (args[1].clone(), args[2].clone(), args[3].clone());
    write(
        server,
        session,
        |r| {
            let from = set_for_write(r, &source)?;
            if !r.keyspace().contains(&source) {
                return Ok(Plan {
                    writes: Vec::new(),
                    outcome: 0,
                });
            }
            set_for_write(r, &destination)?;
            if !from.contains(&member) {
                return Ok(Plan {
                    writes: Vec::new(),
                    outcome: 0,
                });
            }
            if source == destination {
                return Ok(Plan {
                    writes: Vec::new(),
                    outcome: 1,
                });
            }
            Ok(Plan {
                writes: vec![
                    (source.clone(), Command::SRem(vec![member.clone()])),
                    (destination.clone(), Command::SAdd(vec![member.clone()])),
                ],
                outcome: 1,
            })
        },
        |n, _| count(n),
    )
}

/// The most members SRANDMEMBER and HRANDFIELD return with a negative count (repeats
/// allowed): a reply is built in memory before it is sent, so a count from a client is
/// bounded.
pub(super) const MAX_RANDOM_REPEATS: u64 = 1_000_000;

/// A random-sample count as Redis reads it (any i64 but the lowest).
pub(super) fn sample_count(arg: &[u8]) -> Result<i64, Reply> {
    match int_arg(arg)? {
        i64::MIN => Err(Reply::error(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        )),
        n if n < 0 && n.unsigned_abs() > MAX_RANDOM_REPEATS => Err(Reply::error(format!(
            "ERR count is too large: at most {MAX_RANDOM_REPEATS} with repeats"
        ))),
        n => Ok(n),
    }
}

/// Positions drawn from `0..len` as SRANDMEMBER's count asks: a positive count draws that
/// many distinct ones (all if fewer), a negative count that many with repeats.
pub(super) fn sample(len: usize, count: i64) -> Vec<usize> {
    let mut rng = rand::rng();
    if count >= 0 {
        let n = usize::try_from(count).unwrap_or(usize::MAX).min(len);
        rand::seq::index::sample(&mut rng, len, n).into_vec()
    } else if len == 0 {
        Vec::new()
    } else {
        (0..count.unsigned_abs())
            .map(|_| rng.random_range(0..len))
            .collect()
    }
}

/// SRANDMEMBER key [count].
pub(super) fn srandmember(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    if args.len() > 3 {
        return Answer::Now(errors::syntax());
    }
    let count = match args.get(2).map(|c| sample_count(c)).transpose() {
        Ok(count) => count,
        Err(reply) => return Answer::Now(reply),
    };
    Answer::Now(with_set(server, &args[1], |m| {
        let members: Vec<&Bytes> = m.iter().collect();
        match count {
            None => sample(members.len(), 1)
                .first()
                .map_or(Reply::Null, |&i| Reply::bulk(members[i].clone())),
            Some(count) => Reply::Array(
                sample(members.len(), count)
                    .into_iter()
                    .map(|i| Reply::bulk(members[i].clone()))
                    .collect(),
            ),
        }
    }))
}

/// SPOP key [count]: random members removed (an SREM of them: a member added concurrently
/// elsewhere survives, and two regions popping at once may pop the same member).
pub(super) fn spop(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    if args.len() > 3 {
        return Answer::Now(errors::syntax());
    }
    let count = match args.get(2).map(|c| int_arg(c)) {
        None => None,
        Some(Ok(n)) if n >= 0 => Some(n),
        Some(_) => return Answer::Now(errors::must_be_positive()),
    };
    let key = args[1].clone();
    write(
        server,
        session,
        |r| {
            let members: Vec<Bytes> = set_for_write(r, &key)?.iter().cloned().collect();
            let chosen: Vec<Bytes> = sample(members.len(), count.unwrap_or(1))
                .into_iter()
                .map(|i| members[i].clone())
                .collect();
            if chosen.is_empty() {
                return Ok(Plan {
                    writes: Vec::new(),
                    outcome: chosen,
                });
            }
            Ok(Plan::one(
                key.clone(),
                Command::SRem(chosen.clone()),
                chosen,
            ))
        },
        move |chosen, _| match count {
            None => chosen.into_iter().next().map_or(Reply::Null, Reply::bulk),
            Some(_) => Reply::Array(chosen.into_iter().map(Reply::bulk).collect()),
        },
    )
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]: members in order, resumed after the last
/// member the previous call examined (docs/resp.md, SCAN).
pub(super) fn sscan(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    let scan = match server.cursors.parse(&args[2..], false) {
        Ok(scan) => scan,
        Err(reply) => return Answer::Now(reply),
    };
    let walked = read(server, |r| {
        r.keyspace().set(&args[1]).map(|members| {
            let names = members.iter_after(scan.after.as_deref()).map(|m| (m, ()));
            scan.walk(names, |_, ()| true)
        })
    });
    Answer::Now(match walked {
        Ok((found, last, done)) => {
            let members = found.into_iter().map(|(m, ())| Reply::bulk(m)).collect();
            server.cursors.reply(members, last, done)
        }
        Err(_) => errors::wrong_type(),
    })
}
