//! The keyspace commands: DEL, EXISTS, TYPE, KEYS, SCAN, DBSIZE.

use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::Command;
use meridian_replica::Replica;
use meridian_resp::Reply;

use super::Server;
use super::exec::{Answer, Session, count, write};
use super::glob;
use super::words;
use crate::ops::Plan;

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
            .map_or("none", |t| words::type_name(t))
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
    let scan = match server.cursors.parse(&args[1..], true) {
        Ok(scan) => scan,
        Err(reply) => return reply,
    };
    let (found, last, done) = read(server, |ks| {
        let names = ks.keys_after(scan.after.as_deref()).map(|k| (k, ()));
        scan.walk(names, |key, ()| {
            scan.type_name.as_deref().is_none_or(|t| {
                ks.key_type(key)
                    .is_some_and(|kt| words::type_name(kt).as_bytes() == t)
            })
        })
    });
    let keys = found.into_iter().map(|(k, ())| Reply::bulk(k)).collect();
    server.cursors.reply(keys, last, done)
}

/// RANDOMKEY: a key this region holds, or nil.
pub(super) fn randomkey(server: &Arc<Server>, _: &mut Session, _: &[Bytes]) -> Answer {
    let pick: u64 = rand::random();
    Answer::Now(read(server, |ks| {
        ks.random_key(pick)
            .cloned()
            .map_or(Reply::Null, Reply::bulk)
    }))
}

/// FLUSHALL and FLUSHDB [ASYNC | SYNC]: a DEL of every key this region holds, one op per
/// key (docs/resp.md): what another region wrote concurrently survives.
pub(super) fn flushall(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    match &args[1..] {
        [] => {}
        [mode] if mode.eq_ignore_ascii_case(b"async") || mode.eq_ignore_ascii_case(b"sync") => {}
        _ => return Answer::Now(meridian_resp::errors::syntax()),
    }
    write(
        server,
        session,
        |r| {
            let writes = r
                .keyspace()
                .keys()
                .map(|k| (k.clone(), Command::Del))
                .collect();
            Ok(Plan {
                writes,
                outcome: (),
            })
        },
        |(), _| Reply::ok(),
    )
}
