//! The list commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LINSERT, LRANGE, LINDEX, LLEN, LSET,
//! LREM, LTRIM, LPOS, LPOP, RPOP, LMOVE, RPOPLPUSH, and the blocking BLPOP, BRPOP, BLMOVE and
//! BRPOPLPUSH.
//!
//! A list write looks at this region's list and names positions in it (`Splice`); the
//! keyspace turns them into element ids, so the op means "these elements" and "between these
//! two elements" wherever it is applied. Two regions that pop the same head at once each get
//! that element: each deletes it, and the deletes agree (docs/resp.md, "Lists").
//!
//! A blocking pop waits on this region's list only: it tries at once, and otherwise wakes at
//! every change to one of its keys (a local write, or another region's op or snapshot applied
//! here) until it pops or times out.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use meridian_crdt::seq::{Items, Sequence};
use meridian_crdt::{Command, PrepareError, Splice};
use meridian_replica::{Replica, WriteError};
use meridian_resp::{Reply, errors};
use tokio::sync::broadcast::error::RecvError;

use super::Server;
use super::exec::{Answer, Session, int_arg, write, write_or_refuse};
use super::words;
use crate::ops::{self, Plan};

type List<'a> = Option<&'a Sequence<Items>>;

pub(super) fn lpush(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    push(server, session, args, End::Left, false)
}

pub(super) fn rpush(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    push(server, session, args, End::Right, false)
}

pub(super) fn lpushx(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    push(server, session, args, End::Left, true)
}

pub(super) fn rpushx(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    push(server, session, args, End::Right, true)
}

pub(super) fn lpop(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    if args.len() > 3 {
        return Answer::Now(errors::wrong_arity("lpop"));
    }
    pop(server, session, args[1].clone(), args, true)
}

pub(super) fn rpop(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    if args.len() > 3 {
        return Answer::Now(errors::wrong_arity("rpop"));
    }
    pop(server, session, args[1].clone(), args, false)
}

pub(super) fn lmove(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    match (end(&args[3]), end(&args[4])) {
        (Some(from), Some(to)) => move_between(server, session, args, from, to),
        _ => Answer::Now(errors::syntax()),
    }
}

pub(super) fn rpoplpush(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    move_between(server, session, args, End::Right, End::Left)
}

pub(super) fn blpop(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    blocking_pop(server, args, true)
}

pub(super) fn brpop(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    blocking_pop(server, args, false)
}

pub(super) fn blmove(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    match (end(&args[3]), end(&args[4])) {
        (Some(from), Some(to)) => blocking_move(server, args, from, to, &args[5]),
        _ => Answer::Now(errors::syntax()),
    }
}

pub(super) fn brpoplpush(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    blocking_move(server, args, End::Right, End::Left, &args[3])
}

pub(super) fn llen(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    with_list(server, &args[1], |_, len| Reply::Integer(as_int(len)))
}

pub(super) fn lindex(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    // As Redis: a missing key is nil and a wrong type an error before the index is read.
    with_list(server, &args[1], |list, len| {
        let Some(list) = list else {
            return Reply::Null;
        };
        match int_arg(&args[2]) {
            Ok(i) => index(i, len)
                .and_then(|i| list.get(i).cloned())
                .map_or(Reply::Null, Reply::bulk),
            Err(reply) => reply,
        }
    })
}

pub(super) fn lrange(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    // As Redis: the range is read before the key.
    let (start, stop) = match (int_arg(&args[2]), int_arg(&args[3])) {
        (Ok(start), Ok(stop)) => (start, stop),
        (Err(reply), _) | (_, Err(reply)) => return Answer::Now(reply),
    };
    with_list(server, &args[1], |list, len| {
        match (list, range(start, stop, len)) {
            (Some(l), Some((from, to))) => {
                Reply::Array(l.slice(from, to).0.into_iter().map(Reply::bulk).collect())
            }
            _ => Reply::Array(Vec::new()),
        }
    })
}

pub(super) fn lpos(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    // As Redis: the options are read before the key.
    match Lpos::parse(&args[3..]) {
        Ok(options) => with_list(server, &args[1], |list, _| options.reply(list, &args[2])),
        Err(reply) => Answer::Now(reply),
    }
}

/// Answers from this region's list at `key` and its length (an absent key is an empty list).
fn with_list(server: &Server, key: &[u8], f: impl FnOnce(List<'_>, u64) -> Reply) -> Answer {
    let core = server.shared.read();
    Answer::Now(match core.replica.keyspace().list(key) {
        Ok(list) => f(list, list.map_or(0, |l| l.len())),
        Err(_) => errors::wrong_type(),
    })
}

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

fn end(arg: &[u8]) -> Option<End> {
    if arg.eq_ignore_ascii_case(b"left") {
        Some(End::Left)
    } else if arg.eq_ignore_ascii_case(b"right") {
        Some(End::Right)
    } else {
        None
    }
}

pub(super) fn as_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A Redis index (negative: from the end) as a position, if it is inside the list.
fn index(i: i64, len: u64) -> Option<u64> {
    let len = i128::from(len);
    let i = i128::from(i);
    let i = if i < 0 { i + len } else { i };
    (0..len).contains(&i).then_some(i as u64)
}

/// A Redis `start stop` range (inclusive, negative from the end, clamped as LRANGE and
/// LTRIM clamp it) as positions `from..to`; `None` when it holds nothing.
pub(super) fn range(start: i64, stop: i64, len: u64) -> Option<(u64, u64)> {
    let len = i128::from(len);
    let mut start = i128::from(start);
    let mut stop = i128::from(stop);
    if start < 0 {
        start += len;
    }
    if stop < 0 {
        stop += len;
    }
    start = start.max(0);
    if start > stop || start >= len {
        return None;
    }
    stop = stop.min(len - 1);
    Some((start as u64, stop as u64 + 1))
}

/// The list at `key` for a write to it; an absent key is an empty list.
fn list_for_write<'a>(r: &'a Replica, key: &[u8]) -> Result<List<'a>, WriteError> {
    r.keyspace()
        .list(key)
        .map_err(|found| WriteError::Prepare(PrepareError::WrongType { found }))
}

fn splice(delete: Vec<(u64, u64)>, insert: Option<(u64, Vec<Bytes>)>) -> Command {
    Command::List(Splice {
        delete,
        insert: insert.map(|(at, items)| (at, Items(items))),
    })
}

fn nothing<T>(outcome: T) -> Plan<T> {
    Plan {
        writes: Vec::new(),
        outcome,
    }
}

/// LPUSH, RPUSH, and with `only_if_present` LPUSHX and RPUSHX: `key item [item ...]`.
fn push(
    server: &Server,
    session: &mut Session,
    args: &[Bytes],
    end: End,
    only_if_present: bool,
) -> Answer {
    let key = args[1].clone();
    let front = end == End::Left;
    let mut items = args[2..].to_vec();
    if front {
        // LPUSH a b c leaves c b a at the head.
        items.reverse();
    }
    write(
        server,
        session,
        |r| {
            let len = list_for_write(r, &key)?.map_or(0, |l| l.len());
            if only_if_present && len == 0 {
                return Ok(nothing(0));
            }
            let at = if front { 0 } else { len };
            let after = len + items.len() as u64;
            Ok(Plan::one(
                key.clone(),
                splice(Vec::new(), Some((at, items.clone()))),
                after,
            ))
        },
        |n, _| Reply::Integer(as_int(n)),
    )
}

pub(super) fn linsert(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let key = args[1].clone();
    let after = if args[2].eq_ignore_ascii_case(b"after") {
        true
    } else if args[2].eq_ignore_ascii_case(b"before") {
        false
    } else {
        return Answer::Now(errors::syntax());
    };
    let (pivot, item) = (args[3].clone(), args[4].clone());
    write(
        server,
        session,
        |r| {
            let Some(list) = list_for_write(r, &key)? else {
                return Ok(nothing(0));
            };
            let Some(at) = list.items().position(|i| *i == pivot) else {
                return Ok(nothing(-1));
            };
            let at = at as u64 + u64::from(after);
            Ok(Plan::one(
                key.clone(),
                splice(Vec::new(), Some((at, vec![item.clone()]))),
                as_int(list.len() + 1),
            ))
        },
        |n, _| Reply::Integer(n),
    )
}

pub(super) fn lset(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let key = args[1].clone();
    let i = int_arg(&args[2]);
    let item = args[3].clone();
    // As Redis: a missing key and a wrong type are reported before the index.
    write_or_refuse(
        server,
        session,
        |r| {
            let Some(list) = list_for_write(r, &key)? else {
                return Ok(Err(errors::no_such_key()));
            };
            let i = match i {
                Ok(i) => i,
                Err(reply) => return Ok(Err(reply)),
            };
            let at = index(i, list.len()).ok_or(WriteError::Prepare(PrepareError::OutOfRange))?;
            // One op deletes the item and inserts its replacement in its place: no region
            // reads the list with neither or both.
            Ok(Ok(Plan::one(
                key.clone(),
                splice(vec![(at, 1)], Some((at, vec![item.clone()]))),
                (),
            )))
        },
        |(), _| Reply::ok(),
    )
}

pub(super) fn lrem(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let key = args[1].clone();
    let count = match int_arg(&args[2]) {
        Ok(n) => n,
        Err(reply) => return Answer::Now(reply),
    };
    let item = args[3].clone();
    write(
        server,
        session,
        |r| {
            let Some(list) = list_for_write(r, &key)? else {
                return Ok(nothing(0));
            };
            let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
            let limit = if count == 0 { usize::MAX } else { limit };
            let matches = list.items().enumerate().filter(|(_, i)| **i == item);
            let mut at: Vec<u64> = if count < 0 {
                let all: Vec<u64> = matches.map(|(p, _)| p as u64).collect();
                all.into_iter().rev().take(limit).collect()
            } else {
                matches.take(limit).map(|(p, _)| p as u64).collect()
            };
            if at.is_empty() {
                return Ok(nothing(0));
            }
            at.sort_unstable();
            let n = at.len();
            Ok(Plan::one(key.clone(), splice(ranges(&at), None), n))
        },
        |n, _| Reply::Integer(as_int(n as u64)),
    )
}

/// Sorted positions as `(pos, len)` ranges, neighbours joined.
fn ranges(at: &[u64]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &p in at {
        match out.last_mut() {
            Some((start, len)) if *start + *len == p => *len += 1,
            _ => out.push((p, 1)),
        }
    }
    out
}

pub(super) fn ltrim(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let key = args[1].clone();
    let (start, stop) = match (int_arg(&args[2]), int_arg(&args[3])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(reply), _) | (_, Err(reply)) => return Answer::Now(reply),
    };
    write(
        server,
        session,
        |r| {
            let Some(list) = list_for_write(r, &key)? else {
                return Ok(nothing(()));
            };
            let len = list.len();
            let delete = match range(start, stop, len) {
                None => vec![(0, len)],
                Some((from, to)) => [(0, from), (to, len - to)]
                    .into_iter()
                    .filter(|&(_, n)| n > 0)
                    .collect(),
            };
            if delete.is_empty() {
                return Ok(nothing(()));
            }
            Ok(Plan::one(key.clone(), splice(delete, None), ()))
        },
        |(), _| Reply::ok(),
    )
}

/// What a pop takes: `count` items from one end, as the delete of one range.
fn take(list: &Sequence<Items>, count: u64, front: bool) -> (Vec<Bytes>, (u64, u64)) {
    let len = list.len();
    let n = count.min(len);
    let from = if front { 0 } else { len - n };
    let mut items = list.slice(from, from + n).0;
    if !front {
        // RPOP with a count answers from the tail inwards.
        items.reverse();
    }
    (items, (from, n))
}

fn pop(server: &Server, session: &mut Session, key: Bytes, args: &[Bytes], front: bool) -> Answer {
    let count = match args.get(2) {
        None => None,
        Some(arg) => match int_arg(arg) {
            Ok(n) if n >= 0 => Some(n as u64),
            _ => {
                return Answer::Now(errors::must_be_positive());
            }
        },
    };
    write(
        server,
        session,
        |r| {
            let list = list_for_write(r, &key)?.filter(|l| !l.is_empty());
            let Some(list) = list else {
                return Ok(nothing(None));
            };
            let (items, range) = take(list, count.unwrap_or(1), front);
            if items.is_empty() {
                return Ok(nothing(Some(items)));
            }
            Ok(Plan::one(
                key.clone(),
                splice(vec![range], None),
                Some(items),
            ))
        },
        move |items, _| match (items, count) {
            (None, None) => Reply::Null,
            (None, Some(_)) => Reply::NullArray,
            (Some(mut items), None) => items.pop().map_or(Reply::Null, Reply::bulk),
            (Some(items), Some(_)) => Reply::Array(items.into_iter().map(Reply::bulk).collect()),
        },
    )
}

/// The writes of LMOVE from `source` to `destination`, if the source has an item: one op
/// when both are one key (the item moves in one step), else a pop and a push.
fn plan_move(
    r: &Replica,
    source: &Bytes,
    destination: &Bytes,
    from: End,
    to: End,
) -> Result<Plan<Option<Bytes>>, WriteError> {
    let Some(list) = list_for_write(r, source)?.filter(|l| !l.is_empty()) else {
        return Ok(nothing(None));
    };
    let dest = list_for_write(r, destination)?;
    let (mut items, taken) = take(list, 1, from == End::Left);
    let item = items.pop().unwrap_or_default();
    let dest_len = dest.map_or(0, |d| d.len());
    let at = match to {
        End::Left => 0,
        End::Right => dest_len,
    };
    let writes = if source == destination {
        vec![(
            source.clone(),
            splice(vec![taken], Some((at, vec![item.clone()]))),
        )]
    } else {
        vec![
            (source.clone(), splice(vec![taken], None)),
            (
                destination.clone(),
                splice(Vec::new(), Some((at, vec![item.clone()]))),
            ),
        ]
    };
    Ok(Plan {
        writes,
        outcome: Some(item),
    })
}

fn move_between(
    server: &Server,
    session: &mut Session,
    args: &[Bytes],
    from: End,
    to: End,
) -> Answer {
    let (source, destination) = (args[1].clone(), args[2].clone());
    write(
        server,
        session,
        |r| plan_move(r, &source, &destination, from, to),
        |item, _| item.map_or(Reply::Null, Reply::bulk),
    )
}

/// A blocking command's timeout in seconds, as Redis parses it; `None`: forever.
fn timeout(arg: &[u8]) -> Result<Option<Duration>, Reply> {
    let seconds: f64 = std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| s.is_finite())
        .ok_or_else(errors::timeout_not_a_float)?;
    if seconds < 0.0 {
        return Err(errors::timeout_negative());
    }
    Ok((seconds > 0.0).then(|| Duration::from_secs_f64(seconds.min(1e9))))
}

/// One attempt of a blocking command: a plan made (its reply once durable), nothing to do
/// yet, or an error.
type Attempt = Result<Option<Answer>, Reply>;

/// Makes `plan`'s writes if it wrote anything; the answer waits until they are durable.
fn attempt<T: Send + 'static>(
    server: &Server,
    plan: impl FnOnce(&Replica) -> Result<Plan<Option<T>>, WriteError>,
    reply: impl FnOnce(T) -> Reply + Send + 'static,
) -> Attempt {
    // A blocking command runs outside the transaction gate (it waits), so it takes it here.
    let planned = {
        let _gate = server.shared.gate();
        ops::start_planned(&server.shared, plan)
    };
    match planned {
        Err(e) => Err(words::write_error(&e)),
        Ok((None, _, _)) => Ok(None),
        Ok((Some(outcome), _, pending)) => Ok(Some(Answer::Later(Box::pin(async move {
            match pending.durable().await {
                Ok(()) => reply(outcome),
                Err(e) => words::node_error(&e),
            }
        })))),
    }
}

/// Tries `try_once` now and then at every change to one of `keys` until it acts or `limit`
/// passes, answering `timed_out` then.
fn block(
    server: &Arc<Server>,
    keys: Vec<Bytes>,
    limit: Option<Duration>,
    timed_out: Reply,
    try_once: impl Fn(&Server) -> Attempt + Send + 'static,
) -> Answer {
    // Subscribed before the first attempt: a change between the two is not missed.
    let mut feed = server.shared.lock().feed.subscribe();
    match try_once(server) {
        Err(reply) => return Answer::Now(reply),
        Ok(Some(answer)) => return answer,
        Ok(None) => {}
    }
    let server = Arc::clone(server);
    let deadline = limit.map(|l| tokio::time::Instant::now() + l);
    Answer::Later(Box::pin(async move {
        loop {
            let change = match deadline {
                Some(d) => match tokio::time::timeout_at(d, feed.recv()).await {
                    Ok(change) => change,
                    Err(_) => return timed_out,
                },
                None => feed.recv().await,
            };
            match change {
                Ok(change) if !keys.contains(&change.key) => continue,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => {
                    return Reply::error("ERR the node shut down");
                }
            }
            match try_once(&server) {
                Err(reply) => return reply,
                Ok(Some(Answer::Later(answer))) => return answer.await,
                Ok(Some(Answer::Now(reply))) => return reply,
                Ok(None) => {}
            }
        }
    }))
}

fn blocking_pop(server: &Arc<Server>, args: &[Bytes], front: bool) -> Answer {
    let limit = match timeout(&args[args.len() - 1]) {
        Ok(limit) => limit,
        Err(reply) => return Answer::Now(reply),
    };
    let keys: Vec<Bytes> = args[1..args.len() - 1].to_vec();
    let watched = keys.clone();
    block(server, watched, limit, Reply::NullArray, move |server| {
        attempt(
            server,
            |r| {
                // The first key holding items, in the order given; a key of another type
                // before it is an error, as in Redis.
                for key in &keys {
                    let Some(list) = list_for_write(r, key)?.filter(|l| !l.is_empty()) else {
                        continue;
                    };
                    let (mut items, taken) = take(list, 1, front);
                    let item = items.pop().unwrap_or_default();
                    return Ok(Plan::one(
                        key.clone(),
                        splice(vec![taken], None),
                        Some((key.clone(), item)),
                    ));
                }
                Ok(nothing(None))
            },
            |(key, item)| Reply::Array(vec![Reply::bulk(key), Reply::bulk(item)]),
        )
    })
}

fn blocking_move(server: &Arc<Server>, args: &[Bytes], from: End, to: End, limit: &[u8]) -> Answer {
    let limit = match timeout(limit) {
        Ok(limit) => limit,
        Err(reply) => return Answer::Now(reply),
    };
    let (source, destination) = (args[1].clone(), args[2].clone());
    block(
        server,
        vec![source.clone()],
        limit,
        Reply::Null,
        move |server| {
            attempt(
                server,
                |r| plan_move(r, &source, &destination, from, to),
                Reply::bulk,
            )
        },
    )
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
/// LPOS's options: `RANK rank`, `COUNT count`, `MAXLEN len`, in any order.
struct Lpos {
    rank: i64,
    count: Option<u64>,
    maxlen: u64,
}

impl Lpos {
    /// Reads the options as Redis does, in Redis's words: an option's name is checked before
    /// its value, and COUNT and MAXLEN that are not non-negative integers are refused with
    /// their own message.
    fn parse(mut rest: &[Bytes]) -> Result<Lpos, Reply> {
        let mut options = Lpos {
            rank: 1,
            count: None,
            maxlen: 0,
        };
        while let [option, value, more @ ..] = rest {
            if option.eq_ignore_ascii_case(b"rank") {
                let n = int_arg(value)?;
                if n == 0 {
                    return Err(Reply::error(
                        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                    ));
                }
                // Redis 7.0 takes the lowest rank for the last match, as it takes -1.
                options.rank = if n == i64::MIN { -1 } else { n };
            } else if option.eq_ignore_ascii_case(b"count") {
                options.count = Some(non_negative(value, "ERR COUNT can't be negative")?);
            } else if option.eq_ignore_ascii_case(b"maxlen") {
                options.maxlen = non_negative(value, "ERR MAXLEN can't be negative")?;
            } else {
                return Err(errors::syntax());
            }
            rest = more;
        }
        if rest.is_empty() {
            Ok(options)
        } else {
            Err(errors::syntax())
        }
    }

    /// The positions of `item` in `list` the options ask for.
    fn reply(&self, list: List<'_>, item: &Bytes) -> Reply {
        let Lpos {
            rank,
            count,
            maxlen,
        } = *self;
        let wanted = match count {
            Some(0) => u64::MAX,
            Some(n) => n,
            None => 1,
        };
        let mut found = Vec::new();
        if let Some(list) = list {
            let len = list.len();
            let scan = if maxlen == 0 { len } else { maxlen.min(len) };
            let skip = rank.unsigned_abs() - 1;
            let positions: Box<dyn Iterator<Item = u64>> = if rank > 0 {
                Box::new(0..scan)
            } else {
                Box::new((len - scan..len).rev())
            };
            let items: Vec<&Bytes> = list.items().collect();
            found = positions
                .filter(|&p| items[p as usize] == item)
                .skip(usize::try_from(skip).unwrap_or(usize::MAX))
                .take(usize::try_from(wanted).unwrap_or(usize::MAX))
                .collect();
        }
        match count {
            None => found
                .first()
                .map_or(Reply::Null, |&p| Reply::Integer(as_int(p))),
            Some(_) => Reply::Array(
                found
                    .into_iter()
                    .map(|p| Reply::Integer(as_int(p)))
                    .collect(),
            ),
        }
    }
}

/// An argument Redis reads as a non-negative integer with its own refusal: `refusal` when it
/// is not an integer or is negative.
fn non_negative(arg: &[u8], refusal: &'static str) -> Result<u64, Reply> {
    int_arg(arg)
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| Reply::error(refusal))
}
