//! The sorted set writes and point reads: ZADD, ZINCRBY, ZREM, ZPOPMIN, ZPOPMAX, ZUNIONSTORE,
//! ZINTERSTORE, ZSCORE, ZMSCORE, ZCARD, ZCOUNT, ZLEXCOUNT, ZRANK, ZREVRANK. The range reads
//! are in `zranges`.
//!
//! Members are an observed-remove set, and a score is a base (ZADD) plus increments
//! (ZINCRBY, ZADD INCR) that all count, even when made at two regions at once
//! (docs/resp.md, "Sorted sets"). A write reads this region's sorted set to decide what to do
//! (NX, XX, GT, LT, which members a pop takes) and sends what it decided.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::{Command, PrepareError, Score, ZSetView};
use meridian_replica::{Replica, WriteError};
use meridian_resp::{Protocol, Reply, errors};

use super::Server;
use super::exec::{Answer, Session, count, distinct, int_arg, read, write, write_or_refuse};
use super::score::{lex_bound, score_arg, score_bound};
use crate::ops::Plan;

/// The sorted set at `key` for a write to it, read in place; an absent key is empty.
pub(super) fn zset_for_write<'a>(r: &'a Replica, key: &[u8]) -> Result<ZSetView<'a>, WriteError> {
    r.keyspace()
        .zset(key)
        .map_err(|found| WriteError::Prepare(PrepareError::WrongType { found }))
}

/// A sorted set read in place, or WRONGTYPE.
pub(super) fn in_zset(r: &Replica, key: &[u8], f: impl FnOnce(ZSetView<'_>) -> Reply) -> Reply {
    r.keyspace()
        .zset(key)
        .map_or_else(|_| errors::wrong_type(), f)
}

fn not_a_float() -> Reply {
    Reply::error("ERR value is not a valid float")
}

/// A score as a reply: a double in RESP3, its text in RESP2 (redis-server 7.0's `%.17g`).
pub(super) fn score_reply(score: f64) -> Reply {
    Reply::Double(score)
}

/// Members with their scores, as ZRANGE WITHSCORES and ZPOPMIN with a count reply: pairs in
/// RESP3, a flat list in RESP2.
pub(super) fn scored_reply(items: Vec<(Bytes, f64)>, protocol: Protocol) -> Reply {
    Reply::Array(if protocol == Protocol::Resp3 {
        items
            .into_iter()
            .map(|(m, s)| Reply::Array(vec![Reply::bulk(m), score_reply(s)]))
            .collect()
    } else {
        items
            .into_iter()
            .flat_map(|(m, s)| [Reply::bulk(m), score_reply(s)])
            .collect()
    })
}

/// A score as a write stores it: `-0` as `0`, as redis-server 7.0 stores a small sorted set's
/// whole-number scores (as integers), so that it reads back as `0`.
fn stored(score: f64) -> f64 {
    if score == 0.0 { 0.0 } else { score }
}

/// ZADD's options.
#[derive(Default)]
struct ZAddOptions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What ZADD did, for its reply.
enum ZAddOutcome {
    /// Members added, and members added or changed (CH).
    Counts { added: usize, changed: usize },
    /// INCR: the new score, or nothing if a condition held it back.
    Incr(Option<f64>),
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]. Each member is
/// decided in turn as Redis does (a member named twice: the second sees the first); the
/// members that change are sent as one op, and INCR as an increment.
pub(super) fn zadd(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let mut o = ZAddOptions::default();
    let mut i = 2;
    while let Some(arg) = args.get(i) {
        let flag = match arg.to_ascii_lowercase().as_slice() {
            b"nx" => &mut o.nx,
            b"xx" => &mut o.xx,
            b"gt" => &mut o.gt,
            b"lt" => &mut o.lt,
            b"ch" => &mut o.ch,
            b"incr" => &mut o.incr,
            _ => break,
        };
        *flag = true;
        i += 1;
    }
    let pairs = &args[i..];
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Answer::Now(errors::syntax());
    }
    if o.nx && o.xx {
        return Answer::Now(Reply::error(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if ((o.gt || o.lt) && o.nx) || (o.gt && o.lt) {
        return Answer::Now(Reply::error(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if o.incr && pairs.len() > 2 {
        return Answer::Now(Reply::error(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut items = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks_exact(2) {
        match score_arg(&pair[0]) {
            Some(s) => items.push((pair[1].clone(), stored(s))),
            None => return Answer::Now(not_a_float()),
        }
    }
    let key = args[1].clone();
    let incr = o.incr;
    let increment = items.first().map(|(_, s)| *s).filter(|_| incr);
    write_or_refuse(
        server,
        session,
        move |r| {
            let z = zset_for_write(r, &key)?;
            // What each member scores as the command goes along.
            let mut now: BTreeMap<Bytes, Option<f64>> = BTreeMap::new();
            let (mut added, mut changed) = (0, 0);
            let mut incremented = None;
            for (member, score) in items {
                let current = *now
                    .entry(member.clone())
                    .or_insert_with(|| z.score(&member));
                let Some(current) = current else {
                    if o.xx {
                        continue;
                    }
                    added += 1;
                    now.insert(member.clone(), Some(score));
                    incremented = Some(score);
                    continue;
                };
                if o.nx {
                    continue;
                }
                let new = if incr { current + score } else { score };
                if new.is_nan() {
                    return Ok(Err(Reply::error(
                        "ERR resulting score is not a number (NaN)",
                    )));
                }
                if (o.lt && new >= current) || (o.gt && new <= current) {
                    continue;
                }
                if new != current {
                    changed += 1;
                }
                now.insert(member, Some(new));
                incremented = Some(new);
            }
            let outcome = if incr {
                ZAddOutcome::Incr(incremented)
            } else {
                ZAddOutcome::Counts {
                    added,
                    changed: added + changed,
                }
            };
            let writes: Vec<(Bytes, Score)> = now
                .into_iter()
                // An equal score (`-0` equals `0`) changes nothing, as in Redis.
                .filter_map(|(m, s)| {
                    let s = s?;
                    (z.score(&m) != Some(s)).then_some((m, s))
                })
                .map(|(m, s)| (m, Score::new(s)))
                .collect();
            if writes.is_empty() {
                return Ok(Ok(Plan {
                    writes: Vec::new(),
                    outcome,
                }));
            }
            // INCR sends the increment the client gave, so that concurrent ones all count.
            let command = match (increment, writes.first()) {
                (Some(by), Some((member, _))) => Command::ZIncrBy {
                    member: member.clone(),
                    by: Score::new(by),
                },
                _ => Command::ZAdd(writes),
            };
            Ok(Ok(Plan::one(key.clone(), command, outcome)))
        },
        move |outcome, _| match outcome {
            ZAddOutcome::Counts { added, changed } => count(if o.ch { changed } else { added }),
            ZAddOutcome::Incr(Some(s)) => score_reply(s),
            ZAddOutcome::Incr(None) => Reply::Null,
        },
    )
}

/// ZINCRBY key increment member.
pub(super) fn zincrby(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let Some(by) = score_arg(&args[2]) else {
        return Answer::Now(not_a_float());
    };
    let (key, member) = (args[1].clone(), args[3].clone());
    write(
        server,
        session,
        move |r| {
            let current = zset_for_write(r, &key)?.score(&member);
            let new = current.map_or(by, |c| c + by);
            let command = Command::ZIncrBy {
                member: member.clone(),
                by: Score::new(stored(by)),
            };
            Ok(Plan::one(key.clone(), command, new))
        },
        |new, _| score_reply(new),
    )
}

/// ZREM key member [member ...]: the number of members removed.
pub(super) fn zrem(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let key = args[1].clone();
    let members = args[2..].to_vec();
    write(
        server,
        session,
        move |r| {
            let z = zset_for_write(r, &key)?;
            let n = distinct(members.iter().filter(|m| z.score(m).is_some()));
            // A ZREM of nothing present observes nothing: no op to send.
            if n == 0 {
                return Ok(Plan {
                    writes: Vec::new(),
                    outcome: 0,
                });
            }
            Ok(Plan::one(key.clone(), Command::ZRem(members.clone()), n))
        },
        |n, _| count(n),
    )
}

pub(super) fn zpopmin(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    pop(server, session, args, false)
}

pub(super) fn zpopmax(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    pop(server, session, args, true)
}

/// ZPOPMIN / ZPOPMAX key [count]: removes the members at one end, as a ZREM of them. Two
/// regions popping at once may each return the same member (docs/resp.md).
fn pop(server: &Server, session: &mut Session, args: &[Bytes], max: bool) -> Answer {
    if args.len() > 3 {
        return Answer::Now(errors::syntax());
    }
    let count = match args.get(2).map(|c| int_arg(c)) {
        None => None,
        Some(Ok(n)) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        // As Redis: a count that is not a non-negative integer, whatever it is.
        Some(_) => return Answer::Now(errors::must_be_positive()),
    };
    let key = args[1].clone();
    let protocol = session.protocol;
    write(
        server,
        session,
        move |r| {
            let z = zset_for_write(r, &key)?;
            let n = count.unwrap_or(1).min(z.len());
            let popped: Vec<(Bytes, f64)> =
                z.by_rank(0, n, max).map(|(m, s)| (m.clone(), s)).collect();
            if popped.is_empty() {
                return Ok(Plan {
                    writes: Vec::new(),
                    outcome: popped,
                });
            }
            let members = popped.iter().map(|(m, _)| m.clone()).collect();
            Ok(Plan::one(key.clone(), Command::ZRem(members), popped))
        },
        move |popped, _| match count {
            // Without a count: one member and its score, flat, in either protocol.
            None => Reply::Array(
                popped
                    .into_iter()
                    .flat_map(|(m, s)| [Reply::bulk(m), score_reply(s)])
                    .collect(),
            ),
            Some(_) => scored_reply(popped, protocol),
        },
    )
}

/// How ZUNIONSTORE and ZINTERSTORE combine.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Combine {
    Union,
    Inter,
}

/// How scores of one member in several sets add up.
#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            // Redis: inf + -inf is 0 here, not NaN.
            Aggregate::Sum => {
                let s = a + b;
                if s.is_nan() { 0.0 } else { s }
            }
            Aggregate::Min => a.min(b),
            Aggregate::Max => a.max(b),
        }
    }
}

/// ZUNIONSTORE / ZINTERSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE
/// SUM|MIN|MAX]. Sets are read here (a set key counts as members scored 1, as in Redis); the
/// destination becomes the result as a delete of what this region saw there and an add, like
/// SUNIONSTORE.
fn store(server: &Server, session: &mut Session, args: &[Bytes], how: Combine) -> Answer {
    let name = if how == Combine::Union {
        "zunionstore"
    } else {
        "zinterstore"
    };
    let numkeys = match int_arg(&args[2]) {
        Ok(n) => n,
        Err(reply) => return Answer::Now(reply),
    };
    if numkeys < 1 {
        return Answer::Now(Reply::error(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if numkeys > args.len() - 3 {
        return Answer::Now(errors::syntax());
    }
    let sources = args[3..3 + numkeys].to_vec();
    let options = args[3 + numkeys..].to_vec();
    let destination = args[1].clone();
    write_or_refuse(
        server,
        session,
        move |r| {
            // As Redis: the sources' types are checked before the options are read.
            let mut sets = Vec::with_capacity(sources.len());
            for key in &sources {
                match members_of(r, key) {
                    Ok(m) => sets.push(m),
                    Err(reply) => return Ok(Err(reply)),
                }
            }
            let (weights, aggregate) = match combine_options(&options, sources.len()) {
                Ok(o) => o,
                Err(reply) => return Ok(Err(reply)),
            };
            let mut result: Option<BTreeMap<Bytes, f64>> = None;
            for (members, weight) in sets.into_iter().zip(&weights) {
                let weighted = members.into_iter().map(|(m, s)| {
                    let v = s * weight;
                    (m, if v.is_nan() { 0.0 } else { v })
                });
                result = Some(match result {
                    None => weighted.collect(),
                    Some(mut acc) => {
                        let incoming: BTreeMap<Bytes, f64> = weighted.collect();
                        if how == Combine::Inter {
                            acc.retain(|m, _| incoming.contains_key(m));
                        }
                        for (m, v) in incoming {
                            if let Some(a) = acc.get_mut(&m) {
                                *a = aggregate.apply(*a, v);
                            } else if how == Combine::Union {
                                acc.insert(m, v);
                            }
                        }
                        acc
                    }
                });
            }
            let result = result.unwrap_or_default();
            let n = result.len();
            let mut writes = Vec::new();
            if r.keyspace().contains(&destination) {
                writes.push((destination.clone(), Command::Del));
            }
            if n > 0 {
                let members = result
                    .into_iter()
                    .map(|(m, s)| (m, Score::new(s)))
                    .collect();
                writes.push((destination.clone(), Command::ZAdd(members)));
            }
            Ok(Ok(Plan { writes, outcome: n }))
        },
        |n, _| count(n),
    )
}

/// WEIGHTS and AGGREGATE for `numkeys` sources.
fn combine_options(options: &[Bytes], numkeys: usize) -> Result<(Vec<f64>, Aggregate), Reply> {
    let mut weights = vec![1.0; numkeys];
    let mut aggregate = Aggregate::Sum;
    let mut rest = options;
    while let Some(option) = rest.first() {
        let option = option.to_ascii_lowercase();
        if option == b"weights" && rest.len() > numkeys {
            for (w, arg) in weights.iter_mut().zip(&rest[1..=numkeys]) {
                *w = score_arg(arg)
                    .ok_or_else(|| Reply::error("ERR weight value is not a float"))?;
            }
            rest = &rest[numkeys + 1..];
        } else if option == b"aggregate" && rest.len() > 1 {
            aggregate = match rest[1].to_ascii_lowercase().as_slice() {
                b"sum" => Aggregate::Sum,
                b"min" => Aggregate::Min,
                b"max" => Aggregate::Max,
                _ => return Err(errors::syntax()),
            };
            rest = &rest[2..];
        } else {
            return Err(errors::syntax());
        }
    }
    Ok((weights, aggregate))
}

/// The members of a sorted set with their scores, or of a set each scored 1, as the sources
/// of ZUNIONSTORE and ZINTERSTORE are read; a missing key is empty.
fn members_of(r: &Replica, key: &[u8]) -> Result<Vec<(Bytes, f64)>, Reply> {
    if let Ok(z) = r.keyspace().zset(key) {
        return Ok(z
            .by_rank(0, z.len(), false)
            .map(|(m, s)| (m.clone(), s))
            .collect());
    }
    match r.keyspace().set(key) {
        Ok(s) => Ok(s.iter().map(|m| (m.clone(), 1.0)).collect()),
        Err(_) => Err(errors::wrong_type()),
    }
}

pub(super) fn zunionstore(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    store(server, session, args, Combine::Union)
}

pub(super) fn zinterstore(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    store(server, session, args, Combine::Inter)
}

pub(super) fn zscore(r: &Replica, args: &[Bytes]) -> Reply {
    in_zset(r, &args[1], |z| {
        z.score(&args[2]).map_or(Reply::Null, score_reply)
    })
}

pub(super) fn zmscore(r: &Replica, args: &[Bytes]) -> Reply {
    in_zset(r, &args[1], |z| {
        Reply::Array(
            args[2..]
                .iter()
                .map(|m| z.score(m).map_or(Reply::Null, score_reply))
                .collect(),
        )
    })
}

pub(super) fn zcard(r: &Replica, args: &[Bytes]) -> Reply {
    in_zset(r, &args[1], |z| count(z.len()))
}

pub(super) fn zcount(r: &Replica, args: &[Bytes]) -> Reply {
    let (Some(min), Some(max)) = (score_bound(&args[2]), score_bound(&args[3])) else {
        return Reply::error("ERR min or max is not a float");
    };
    in_zset(r, &args[1], |z| {
        let (from, to) = z.score_ranks(min, max);
        count(to - from)
    })
}

pub(super) fn zlexcount(r: &Replica, args: &[Bytes]) -> Reply {
    let (Some(min), Some(max)) = (lex_bound(&args[2]), lex_bound(&args[3])) else {
        return Reply::error("ERR min or max not valid string range item");
    };
    in_zset(r, &args[1], |z| {
        let (from, to) = z.lex_ranks(&min, &max);
        count(to - from)
    })
}

pub(super) fn zrank(r: &Replica, args: &[Bytes]) -> Reply {
    in_zset(r, &args[1], |z| {
        z.rank(&args[2], false).map_or(Reply::Null, count)
    })
}

pub(super) fn zrevrank(r: &Replica, args: &[Bytes]) -> Reply {
    in_zset(r, &args[1], |z| {
        z.rank(&args[2], true).map_or(Reply::Null, count)
    })
}

/// A sorted set, read in place under the core's read lock.
pub(super) fn with_zset(
    server: &Server,
    key: &[u8],
    f: impl FnOnce(ZSetView<'_>) -> Reply,
) -> Reply {
    read(server, |r| in_zset(r, key, f))
}
