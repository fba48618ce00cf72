//! The multi-value register commands, Meridian's own: MVSET writes a value with the causal
//! context it replaces, MVGET reads every concurrent value (the siblings) with the context
//! that resolves them (docs/resp.md, "MV registers").

use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::Command;
use meridian_resp::{Reply, errors};

use super::Server;
use super::exec::{Answer, Session, read, write};
use super::token::{format_token, parse_token};
use crate::ops::Plan;

/// MVSET key value [CTX token]: replies with the causal token right after the write.
pub(super) fn mvset(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let key = args[1].clone();
    let ctx = match &args[3..] {
        [] => None,
        [option, token] if option.eq_ignore_ascii_case(b"ctx") => match parse_token(token) {
            Ok(vv) => Some(vv),
            Err(why) => {
                return Answer::Now(Reply::error(format!("ERR invalid causal token: {why}")));
            }
        },
        _ => return Answer::Now(errors::syntax()),
    };
    let value = args[2].clone();
    write(
        server,
        session,
        |_| Ok(Plan::one(key, Command::MvSet { value, ctx }, ())),
        |(), receipt| match receipt {
            Some(receipt) => Reply::bulk(Bytes::from(format_token(&receipt.token))),
            None => Reply::ok(),
        },
    )
}

/// MVGET key: the siblings and the causal token that resolves them.
pub(super) fn mvget(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    let key = &args[1];
    Answer::Now(read(server, |r| match r.keyspace().mv_siblings(key) {
        Some(siblings) => Reply::Array(vec![
            Reply::Array(siblings.into_iter().map(|(v, _)| Reply::bulk(v)).collect()),
            Reply::bulk(Bytes::from(format_token(r.applied()))),
        ]),
        None if r.keyspace().contains(key) => errors::wrong_type(),
        None => Reply::NullArray,
    }))
}
