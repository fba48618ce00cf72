//! Expiry: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, EXPIRETIME, PEXPIRETIME and
//! PERSIST, and the deadline arguments SET, SETEX, PSETEX and GETEX share.
//!
//! A deadline is wall-clock milliseconds since the Unix epoch, set by an op like any write
//! (`meridian_crdt`'s `expiry`): once this region's clock passes it, the key reads as absent
//! here, and a leader reaps it with an op that removes what the deadline's writer had
//! observed, so a write made concurrently in another region survives (docs/resp.md, "Expiry").
//! TTL and its kin read this region's clock: regions whose clocks differ report different
//! times to live for one deadline.

use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::Command;
use meridian_replica::Replica;
use meridian_resp::{Reply, errors};

use super::Server;
use super::exec::{Answer, Session, int_arg, write};
use crate::driver::wall;
use crate::ops::Plan;

/// The unit of a time argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unit {
    Seconds,
    Millis,
}

/// What a time argument measures from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Base {
    /// A time to live, from now.
    Now,
    /// A Unix time.
    Epoch,
}

/// EXPIRE's argument as an absolute deadline in milliseconds, as Redis computes it: any
/// integer whose conversion and sum stay within `i64` (a deadline at or before now deletes
/// the key).
fn expire_deadline(arg: &[u8], unit: Unit, base: Base, command: &str) -> Result<i64, Reply> {
    let when = int_arg(arg)?;
    let when = match unit {
        Unit::Seconds => when.checked_mul(1000),
        Unit::Millis => Some(when),
    }
    .ok_or_else(|| errors::invalid_expire_time(command))?;
    match base {
        Base::Now => when.checked_add(now_ms()),
        Base::Epoch => Some(when),
    }
    .ok_or_else(|| errors::invalid_expire_time(command))
}

/// SET's, SETEX's and GETEX's time argument as an absolute deadline in milliseconds, as Redis
/// checks it: a positive integer, whose conversion and sum stay positive within `i64`.
pub(super) fn set_deadline(
    arg: &[u8],
    unit: Unit,
    base: Base,
    command: &str,
) -> Result<u64, Reply> {
    let n = int_arg(arg)?;
    let invalid = || errors::invalid_expire_time(command);
    if n <= 0 {
        return Err(invalid());
    }
    let ms = match unit {
        Unit::Seconds => n.checked_mul(1000).ok_or_else(invalid)?,
        Unit::Millis => n,
    };
    let at = match base {
        Base::Now => ms.checked_add(now_ms()).ok_or_else(invalid)?,
        Base::Epoch => ms,
    };
    u64::try_from(at).map_err(|_| invalid())
}

/// This node's wall clock, in milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    i64::try_from(wall()).unwrap_or(i64::MAX)
}

/// EXPIRE's conditions.
#[derive(Clone, Copy, Debug, Default)]
struct Condition {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl Condition {
    fn parse(options: &[Bytes]) -> Result<Condition, Reply> {
        let mut c = Condition::default();
        for option in options {
            match option.to_ascii_lowercase().as_slice() {
                b"nx" => c.nx = true,
                b"xx" => c.xx = true,
                b"gt" => c.gt = true,
                b"lt" => c.lt = true,
                _ => return Err(errors::unsupported_option(option)),
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(errors::expire_nx_and_others());
        }
        if c.gt && c.lt {
            return Err(errors::expire_gt_and_lt());
        }
        Ok(c)
    }

    /// Whether a deadline `when` may replace `current` (`None`: the key has none, which GT
    /// and LT take for an infinite time to live).
    fn allows(self, current: Option<u64>, when: i64) -> bool {
        let current = current.map(|c| i64::try_from(c).unwrap_or(i64::MAX));
        !(self.nx && current.is_some()
            || self.xx && current.is_none()
            || self.gt && current.is_none_or(|c| when <= c)
            || self.lt && current.is_some_and(|c| when >= c))
    }
}

fn expire_generic(
    server: &Server,
    session: &mut Session,
    args: &[Bytes],
    unit: Unit,
    base: Base,
) -> Answer {
    let command = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let condition = match Condition::parse(&args[3..]) {
        Ok(c) => c,
        Err(reply) => return Answer::Now(reply),
    };
    let when = match expire_deadline(&args[2], unit, base, &command) {
        Ok(w) => w,
        Err(reply) => return Answer::Now(reply),
    };
    let key = args[1].clone();
    write(
        server,
        session,
        |r| {
            let ks = r.keyspace();
            if !ks.contains(&key) || !condition.allows(ks.expires(&key), when) {
                return Ok(Plan {
                    writes: Vec::new(),
                    outcome: 0,
                });
            }
            // A deadline already passed deletes the key, as Redis does.
            let command = match u64::try_from(when) {
                Ok(at) if at > ks.clock() => Command::Expire(Some(at)),
                _ => Command::Del,
            };
            Ok(Plan::one(key.clone(), command, 1))
        },
        |n, _| Reply::Integer(n),
    )
}

pub(super) fn expire(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    expire_generic(server, session, args, Unit::Seconds, Base::Now)
}

pub(super) fn pexpire(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    expire_generic(server, session, args, Unit::Millis, Base::Now)
}

pub(super) fn expireat(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    expire_generic(server, session, args, Unit::Seconds, Base::Epoch)
}

pub(super) fn pexpireat(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    expire_generic(server, session, args, Unit::Millis, Base::Epoch)
}

/// What TTL and its kin report: -2 for a key absent here, -1 for one without a deadline,
/// else `f` of its earliest deadline.
fn deadline_reply(r: &Replica, key: &[u8], f: impl FnOnce(u64) -> i64) -> Reply {
    let ks = r.keyspace();
    if !ks.contains(key) {
        return Reply::Integer(-2);
    }
    Reply::Integer(ks.expires(key).map_or(-1, f))
}

/// Milliseconds from now to `at`, never below 0 (a deadline just passed, not yet seen by
/// this region's reads).
fn remaining(at: u64) -> i64 {
    i64::try_from(at.saturating_sub(wall())).unwrap_or(i64::MAX)
}

pub(super) fn ttl(r: &Replica, args: &[Bytes]) -> Reply {
    // Rounded to the nearest second, as Redis does.
    deadline_reply(r, &args[1], |at| (remaining(at) + 500) / 1000)
}

pub(super) fn pttl(r: &Replica, args: &[Bytes]) -> Reply {
    deadline_reply(r, &args[1], remaining)
}

pub(super) fn expiretime(r: &Replica, args: &[Bytes]) -> Reply {
    // Rounded to the nearest second, as Redis does.
    deadline_reply(r, &args[1], |at| {
        i64::try_from(at.saturating_add(500) / 1000).unwrap_or(i64::MAX)
    })
}

pub(super) fn pexpiretime(r: &Replica, args: &[Bytes]) -> Reply {
    deadline_reply(r, &args[1], |at| i64::try_from(at).unwrap_or(i64::MAX))
}

pub(super) fn persist(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let key = args[1].clone();
    write(
        server,
        session,
        |r| {
            if r.keyspace().expires(&key).is_none() {
                return Ok(Plan {
                    writes: Vec::new(),
                    outcome: 0,
                });
            }
            Ok(Plan::one(key.clone(), Command::Expire(None), 1))
        },
        |n, _| Reply::Integer(n),
    )
}
