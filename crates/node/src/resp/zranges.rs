//! The sorted set range reads: ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES), ZRANGEBYSCORE,
//! ZREVRANGEBYSCORE, ZREVRANGE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZRANDMEMBER and ZSCAN. A range
//! costs O(log n) to find plus what it returns (`ZSetView`).

use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::ZSetView;
use meridian_resp::{Protocol, Reply, errors, format_double};

use super::Server;
use super::exec::{Answer, Session, int_arg, read};
use super::score::{lex_bound, score_bound};
use super::sets;
use super::zsets::{scored_reply, with_zset};

/// What a range is over.
#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// A parsed range command.
struct Range {
    by: By,
    rev: bool,
    with_scores: bool,
    /// LIMIT's offset and count (count -1: no limit).
    offset: i64,
    limit: i64,
    /// The two range arguments, lower end first.
    min: Bytes,
    max: Bytes,
}

/// Parses the options after `key start stop` as Redis 7.0's `zrangeGenericCommand` does:
/// `by` and `rev` fixed by the command name cannot be given again.
fn parse(args: &[Bytes], by: Option<By>, rev: Option<bool>) -> Result<Range, Reply> {
    let (mut by_opt, mut rev_opt) = (by, rev);
    let (mut with_scores, mut offset, mut limit) = (false, 0, -1);
    let mut j = 4;
    while j < args.len() {
        let left = args.len() - j - 1;
        match args[j].to_ascii_lowercase().as_slice() {
            b"withscores" => with_scores = true,
            b"limit" if left >= 2 => {
                offset = int_arg(&args[j + 1])?;
                limit = int_arg(&args[j + 2])?;
                j += 2;
            }
            b"rev" if rev_opt.is_none() => rev_opt = Some(true),
            b"bylex" if by_opt.is_none() => by_opt = Some(By::Lex),
            b"byscore" if by_opt.is_none() => by_opt = Some(By::Score),
            _ => return Err(errors::syntax()),
        }
        j += 1;
    }
    let by = by_opt.unwrap_or(By::Rank);
    let rev = rev_opt.unwrap_or(false);
    if limit != -1 && by == By::Rank {
        return Err(Reply::error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && by == By::Lex {
        return Err(Reply::error(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // A reverse range by score or name is given as max, min.
    let (min, max) = if rev && by != By::Rank {
        (args[3].clone(), args[2].clone())
    } else {
        (args[2].clone(), args[3].clone())
    };
    Ok(Range {
        by,
        rev,
        with_scores,
        offset,
        limit,
        min,
        max,
    })
}

/// The positions `from..to` a range covers in `z`, in score order (its arguments checked).
fn positions(z: ZSetView<'_>, range: &Range) -> (usize, usize) {
    let n = z.len();
    let (from, to) = match range.by {
        By::Rank => {
            // Already parsed as integers by `answer`.
            let (Ok(start), Ok(stop)) = (int_arg(&range.min), int_arg(&range.max)) else {
                return (0, 0);
            };
            let len = i64::try_from(n).unwrap_or(i64::MAX);
            let start = if start < 0 { start + len } else { start }.max(0);
            let stop = if stop < 0 { stop + len } else { stop };
            if start > stop || start >= len {
                return (0, 0);
            }
            let stop = stop.min(len - 1);
            let (start, stop) = (
                usize::try_from(start).unwrap_or(0),
                usize::try_from(stop).unwrap_or(0),
            );
            // Ranks count from the highest score in a reverse range.
            if range.rev {
                (n - 1 - stop, n - start)
            } else {
                (start, stop + 1)
            }
        }
        By::Score => match (score_bound(&range.min), score_bound(&range.max)) {
            (Some(min), Some(max)) => z.score_ranks(min, max),
            _ => (0, 0),
        },
        By::Lex => match (lex_bound(&range.min), lex_bound(&range.max)) {
            (Some(min), Some(max)) => z.lex_ranks(&min, &max),
            _ => (0, 0),
        },
    };
    if range.by == By::Rank {
        return (from, to);
    }
    // LIMIT: a negative offset returns nothing, a negative count everything after it.
    let Ok(offset) = usize::try_from(range.offset) else {
        return (0, 0);
    };
    let span = to - from;
    let skip = offset.min(span);
    let take = usize::try_from(range.limit).map_or(span - skip, |l| l.min(span - skip));
    if range.rev {
        (to - skip - take, to - skip)
    } else {
        (from + skip, from + skip + take)
    }
}

/// Runs a parsed range: the range arguments are checked before the key is read, as Redis
/// does.
fn answer(server: &Server, key: &[u8], range: Range, protocol: Protocol) -> Reply {
    let valid = match range.by {
        By::Rank => {
            if let Err(reply) = int_arg(&range.min).and_then(|_| int_arg(&range.max)) {
                return reply;
            }
            true
        }
        By::Score => score_bound(&range.min).is_some() && score_bound(&range.max).is_some(),
        By::Lex => lex_bound(&range.min).is_some() && lex_bound(&range.max).is_some(),
    };
    if !valid {
        return Reply::error(match range.by {
            By::Lex => "ERR min or max not valid string range item",
            _ => "ERR min or max is not a float",
        });
    }
    with_zset(server, key, |z| {
        let (from, to) = positions(z, &range);
        let items: Vec<(Bytes, f64)> = z
            .slice(from, to, range.rev)
            .map(|(m, s)| (m.clone(), s))
            .collect();
        if range.with_scores {
            scored_reply(items, protocol)
        } else {
            Reply::Array(items.into_iter().map(|(m, _)| Reply::bulk(m)).collect())
        }
    })
}

fn range_command(
    server: &Server,
    session: &Session,
    args: &[Bytes],
    by: Option<By>,
    rev: Option<bool>,
) -> Answer {
    Answer::Now(match parse(args, by, rev) {
        Ok(range) => answer(server, &args[1], range, session.protocol),
        Err(reply) => reply,
    })
}

pub(super) fn zrange(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    range_command(server, session, args, None, None)
}

pub(super) fn zrangebyscore(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    range_command(server, session, args, Some(By::Score), Some(false))
}

pub(super) fn zrevrangebyscore(
    server: &Arc<Server>,
    session: &mut Session,
    args: &[Bytes],
) -> Answer {
    range_command(server, session, args, Some(By::Score), Some(true))
}

pub(super) fn zrevrange(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    range_command(server, session, args, Some(By::Rank), Some(true))
}

pub(super) fn zrangebylex(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    range_command(server, session, args, Some(By::Lex), Some(false))
}

pub(super) fn zrevrangebylex(
    server: &Arc<Server>,
    session: &mut Session,
    args: &[Bytes],
) -> Answer {
    range_command(server, session, args, Some(By::Lex), Some(true))
}

/// ZRANDMEMBER key [count [WITHSCORES]].
pub(super) fn zrandmember(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let count = match args.get(2).map(|c| sets::sample_count(c)).transpose() {
        Ok(count) => count,
        Err(reply) => return Answer::Now(reply),
    };
    let with_scores = match args.get(3..).unwrap_or_default() {
        [] => false,
        [w] if w.eq_ignore_ascii_case(b"withscores") => true,
        _ => return Answer::Now(errors::syntax()),
    };
    // As Redis: a count whose pairs would overflow is refused before the key is read.
    if with_scores && count.is_some_and(|n| n.unsigned_abs() > (i64::MAX / 2).unsigned_abs()) {
        return Answer::Now(Reply::error("ERR value is out of range"));
    }
    let protocol = session.protocol;
    Answer::Now(with_zset(server, &args[1], |z| {
        let at = |i: usize| z.slice(i, i + 1, false).next();
        let Some(count) = count else {
            return sets::sample(z.len(), 1)
                .first()
                .and_then(|&i| at(i))
                .map_or(Reply::Null, |(m, _)| Reply::bulk(m.clone()));
        };
        let picked: Vec<(Bytes, f64)> = sets::sample(z.len(), count)
            .into_iter()
            .filter_map(at)
            .map(|(m, s)| (m.clone(), s))
            .collect();
        if with_scores {
            scored_reply(picked, protocol)
        } else {
            Reply::Array(picked.into_iter().map(|(m, _)| Reply::bulk(m)).collect())
        }
    }))
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]: members and their scores in member order,
/// resumed after the last member the previous call examined (docs/resp.md, SCAN).
pub(super) fn zscan(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    let scan = match server.cursors.parse(&args[2..], false) {
        Ok(scan) => scan,
        Err(reply) => return Answer::Now(reply),
    };
    let walked = read(server, |r| {
        r.keyspace()
            .zset(&args[1])
            .map(|z| scan.walk(z.iter_after(scan.after.as_deref()), |_, _| true))
    });
    Answer::Now(match walked {
        Ok((found, last, done)) => {
            // Scores as text in either protocol, as Redis sends them here.
            let pairs = found
                .into_iter()
                .flat_map(|(m, s)| [Reply::bulk(m), Reply::bulk(Bytes::from(format_double(s)))])
                .collect();
            server.cursors.reply(pairs, last, done)
        }
        Err(_) => errors::wrong_type(),
    })
}
