//! The keyspace commands: DEL, EXISTS, TYPE, KEYS, SCAN, DBSIZE.

use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::Command;
use meridian_resp::Reply;

use super::Server;
use super::exec::{Answer, Session, int_arg, syntax_error, write};
use super::glob;
use crate::ops::Plan;

/// SCAN's default and largest COUNT: how many keys one call examines.
const SCAN_DEFAULT_COUNT: usize = 10;
const SCAN_MAX_COUNT: usize = 100_000;

/// Runs a keyspace command, or `None` if `name` is not one.
pub(crate) fn execute(
    server: &Arc<Server>,
    session: &mut Session,
    name: &str,
    args: &[Bytes],
) -> Option<Answer> {
    Some(match name {
        "del" => {
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
                |n, _| Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
            )
        }
        "dbsize" => Answer::Now(read(server, |ks| {
            Reply::Integer(i64::try_from(ks.len()).unwrap_or(i64::MAX))
        })),
        "keys" => {
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
        "scan" => Answer::Now(scan(server, args)),
        _ => return None,
    })
}

fn read<T>(server: &Server, f: impl FnOnce(&meridian_crdt::Keyspace) -> T) -> T {
    f(server.shared.read().replica.keyspace())
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
fn scan(server: &Server, args: &[Bytes]) -> Reply {
    let cursor = match std::str::from_utf8(&args[1])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(c) => c,
        None => return Reply::error("ERR invalid cursor"),
    };
    let mut pattern: Option<&Bytes> = None;
    let mut wanted = SCAN_DEFAULT_COUNT;
    let mut type_name: Option<Vec<u8>> = None;
    let mut options = args[2..].chunks(2);
    for pair in options.by_ref() {
        let [option, value] = pair else {
            return syntax_error();
        };
        match option.to_ascii_lowercase().as_slice() {
            b"match" => pattern = Some(value),
            b"count" => match int_arg(value) {
                Ok(n) if n >= 1 => {
                    wanted = usize::try_from(n)
                        .unwrap_or(SCAN_MAX_COUNT)
                        .min(SCAN_MAX_COUNT)
                }
                Ok(_) => return syntax_error(),
                Err(reply) => return reply,
            },
            b"type" => type_name = Some(value.to_ascii_lowercase()),
            _ => return syntax_error(),
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
