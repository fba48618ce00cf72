//! The keyspace commands: DEL, EXISTS, TYPE, KEYS, SCAN, DBSIZE.

use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::Command;
use meridian_replica::Replica;
use meridian_resp::{Reply, errors};

use super::Server;
use super::exec::{Answer, Session, count, int_arg, write};
use super::glob;
use crate::ops::Plan;

/// SCAN's default and largest COUNT: how many keys one call examines.
const SCAN_DEFAULT_COUNT: usize = 10;
const SCAN_MAX_COUNT: usize = 100_000;

pub(super) fn del(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let keys = args[1..].to_vec();
    write(
        server,
        session,
        |r| {
            let mut present: Vec<Bytes> = keys
                .iter()
                .filter(|k| r.keyspace().contains(k))
                .cloned()
                .collect();
            present.sort();
            present.dedup();
            let n = present.len();
            // A key this region does not see has nothing to remove: no op to send.
            let writes = present.into_iter().map(|k| (k, Command::Del)).collect();
            Ok(Plan { writes, outcome: n })
        },
        |n, _| count(n),
    )
}

/// UNLINK: DEL (a delete never blocks a Meridian node: there is nothing to free later).
pub(super) fn unlink(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    del(server, session, args)
}

/// EXISTS, and TOUCH (Meridian keeps no access times): how many of the keys exist, a key
/// named twice counted twice.
pub(super) fn exists(r: &Replica, args: &[Bytes]) -> Reply {
    let ks = r.keyspace();
    count(args[1..].iter().filter(|k| ks.contains(k)).count())
}

pub(super) fn key_type(r: &Replica, args: &[Bytes]) -> Reply {
    Reply::Simple(
        r.keyspace()
            .key_type(&args[1])
            .map_or("none", |t| t.redis_name())
            .to_owned(),
    )
}

pub(super) fn dbsize(server: &Arc<Server>, _: &mut Session, _: &[Bytes]) -> Answer {
    Answer::Now(read(server, |ks| count(ks.len())))
}

pub(super) fn keys(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    let pattern = &args[1];
    Answer::Now(read(server, |ks| {
        Reply::Array(
            ks.keys()
                .filter(|k| glob::matches(pattern, k))
                .cloned()
                .map(Reply::bulk)
                .collect(),
        )
    }))
}

pub(super) fn scan(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    Answer::Now(scan_reply(server, args))
}

fn read<T>(server: &Server, f: impl FnOnce(&meridian_crdt::Keyspace) -> T) -> T {
    f(server.shared.read().replica.keyspace())
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
fn scan_reply(server: &Server, args: &[Bytes]) -> Reply {
    let cursor = match std::str::from_utf8(&args[1])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(c) => c,
        None => return errors::invalid_cursor(),
    };
    let mut pattern: Option<&Bytes> = None;
    let mut wanted = SCAN_DEFAULT_COUNT;
    let mut type_name: Option<Vec<u8>> = None;
    let mut options = args[2..].chunks(2);
    for pair in options.by_ref() {
        let [option, value] = pair else {
            return errors::syntax();
        };
        match option.to_ascii_lowercase().as_slice() {
            b"match" => pattern = Some(value),
            b"count" => match int_arg(value) {
                Ok(n) if n >= 1 => {
                    wanted = usize::try_from(n)
                        .unwrap_or(SCAN_MAX_COUNT)
                        .min(SCAN_MAX_COUNT)
                }
                Ok(_) => return errors::syntax(),
                Err(reply) => return reply,
            },
            b"type" => type_name = Some(value.to_ascii_lowercase()),
            _ => return errors::syntax(),
        }
    }
    let after = match cursor {
        0 => None,
        c => match server.cursors.resume(c) {
            Some(key) => Some(key),
            None => {
                return Reply::error(
                    "ERR invalid cursor: unknown or expired, start the scan again from 0",
                );
            }
        },
    };
    let (found, last, done) = read(server, |ks| {
        let mut found = Vec::new();
        let mut last = None;
        let mut examined = 0;
        let mut walk = ks.keys_after(after.as_deref());
        for key in walk.by_ref() {
            examined += 1;
            let pattern_ok = pattern.is_none_or(|p| glob::matches(p, key));
            let type_ok = type_name.as_deref().is_none_or(|t| {
                ks.key_type(key)
                    .is_some_and(|kt| kt.redis_name().as_bytes() == t)
            });
            if pattern_ok && type_ok {
                found.push(key.clone());
            }
            last = Some(key.clone());
            if examined == wanted {
                break;
            }
        }
        let done = walk.next().is_none();
        (found, last, done)
    });
    let next = match (done, last) {
        (false, Some(last)) => server.cursors.issue(last),
        _ => 0,
    };
    Reply::Array(vec![
        Reply::bulk(Bytes::from(next.to_string())),
        Reply::Array(found.into_iter().map(Reply::bulk).collect()),
    ])
}
