//! The set commands: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD. A set is an
//! observed-remove set: an add survives a concurrent remove that had not seen it
//! (docs/resp.md, "Sets").

use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::{Command, PrepareError, SetView};
use meridian_replica::{Replica, WriteError};
use meridian_resp::{Reply, errors};

use super::Server;
use super::exec::{Answer, Session, count, distinct, read, write};
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
