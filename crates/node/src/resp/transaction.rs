//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! After MULTI a connection's commands are checked (name, arity, authentication) and queued.
//! EXEC runs them in order as one unit: it holds the node's transaction gate alone (no other
//! client of this node runs a command meanwhile, so none sees part of it), and the replica
//! sends its writes as one unit, which every other region applies all at once
//! (`Replica::open_unit`). A command that fails at run time (WRONGTYPE) answers its error in
//! EXEC's reply and the others still run, as in Redis; an error while queueing (an unknown
//! command, a wrong arity, a blocking command) discards the whole transaction at EXEC.
//!
//! WATCH notes keys at this region: EXEC runs only if no op touched them here since (a local
//! client's write, a write of another region applied here, a reap of an expired key), as
//! Redis counts a key touched by any write to it. It is not
//! a lock across regions: a write made concurrently at another region and not yet arrived
//! does not stop EXEC; the two then merge like any concurrent writes (docs/resp.md).

use std::sync::Arc;

use bytes::Bytes;
use meridian_resp::{Reply, errors};

use super::Server;
use super::exec::{Answer, Session};
use super::table::{self, Run};

/// A connection's open transaction.
#[derive(Debug, Default)]
pub(crate) struct Transaction {
    /// The commands queued, as sent.
    queued: Vec<Vec<Bytes>>,
    /// A command was refused while queueing: EXEC discards the transaction.
    refused: bool,
}

/// The keys a connection watches, with their change counts (`driver::Watches`) when watched.
pub(crate) type Watched = Vec<(Bytes, u64)>;

/// Whether a command runs at once inside MULTI instead of being queued.
fn runs_inside_multi(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Queues `args` (a known command of the right arity) if the connection is in MULTI, with
/// the reply to send now; gives them back if it is not, or if the command runs at once.
pub(crate) fn queue(
    session: &mut Session,
    name: &str,
    run: Run,
    args: Vec<Bytes>,
) -> Result<Reply, Vec<Bytes>> {
    let Some(tx) = session.transaction.as_mut() else {
        return Err(args);
    };
    if runs_inside_multi(name) {
        return Err(args);
    }
    if matches!(run, Run::Barrier(_)) {
        tx.refused = true;
        return Ok(Reply::error(format!(
            "ERR {} waits, and a transaction cannot: not allowed inside MULTI",
            name.to_uppercase()
        )));
    }
    tx.queued.push(args);
    Ok(Reply::Simple("QUEUED".to_owned()))
}

/// Marks the open transaction, if any, as discarded at EXEC (a command was refused).
pub(crate) fn refuse(session: &mut Session) {
    if let Some(tx) = session.transaction.as_mut() {
        tx.refused = true;
    }
}

pub(super) fn multi(_: &Arc<Server>, session: &mut Session, _: &[Bytes]) -> Answer {
    if session.transaction.is_some() {
        return Answer::Now(Reply::error("ERR MULTI calls can not be nested"));
    }
    session.transaction = Some(Transaction::default());
    Answer::Now(Reply::ok())
}

pub(super) fn discard(server: &Arc<Server>, session: &mut Session, _: &[Bytes]) -> Answer {
    if session.transaction.take().is_none() {
        return Answer::Now(Reply::error("ERR DISCARD without MULTI"));
    }
    forget(server, session);
    Answer::Now(Reply::ok())
}

/// Drops the connection's watches (UNWATCH, EXEC, DISCARD, and when it closes).
pub(crate) fn forget(server: &Server, session: &mut Session) {
    if session.watched.is_empty() {
        return;
    }
    let mut core = server.shared.lock();
    for (key, _) in session.watched.drain(..) {
        core.watches.unwatch(&key);
    }
}

/// Ends the open transaction because EXEC itself was refused while queueing (a wrong arity),
/// as Redis does: EXECABORT, naming why.
pub(crate) fn abort_exec(server: &Server, session: &mut Session, why: &str) -> Option<Reply> {
    session.transaction.take()?;
    forget(server, session);
    Some(Reply::error(format!(
        "EXECABORT Transaction discarded because of: {why}"
    )))
}

pub(super) fn watch(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    if session.transaction.is_some() {
        return Answer::Now(Reply::error("ERR WATCH inside MULTI is not allowed"));
    }
    let mut core = server.shared.lock();
    for key in &args[1..] {
        if !session.watched.iter().any(|(k, _)| k == key) {
            let changes = core.watches.watch(key);
            session.watched.push((key.clone(), changes));
        }
    }
    Answer::Now(Reply::ok())
}

pub(super) fn unwatch(server: &Arc<Server>, session: &mut Session, _: &[Bytes]) -> Answer {
    forget(server, session);
    Answer::Now(Reply::ok())
}

/// EXEC: runs the queued commands as one unit, or replies nil if a watched key changed here.
pub(super) fn exec(server: &Arc<Server>, session: &mut Session, _: &[Bytes]) -> Answer {
    let Some(tx) = session.transaction.take() else {
        return Answer::Now(Reply::error("ERR EXEC without MULTI"));
    };
    if tx.refused {
        forget(server, session);
        return Answer::Now(Reply::error(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let shared = &server.shared;
    let gate = shared.gate_alone();
    let changed = {
        let core = shared.read();
        session
            .watched
            .iter()
            .any(|(key, changes)| core.watches.changes(key) != Some(*changes))
    };
    forget(server, session);
    if changed {
        return Answer::Now(Reply::NullArray);
    }
    shared.with_core(|core, _| core.replica.open_unit());
    let answers: Vec<Answer> = tx
        .queued
        .into_iter()
        .map(|args| match table::lookup(&args[0]).map(|e| e.run) {
            Some(Run::Point(read)) => Answer::Now(read(&shared.read().replica, &args)),
            Some(Run::Call(handler)) => handler(server, session, &args),
            // Refused while queueing.
            Some(Run::Barrier(_)) | None => Answer::Now(errors::syntax()),
        })
        .collect();
    shared.with_core(|core, now| core.replica.close_unit(now));
    drop(gate);
    if answers.iter().all(|a| matches!(a, Answer::Now(_))) {
        return Answer::Now(Reply::Array(
            answers
                .into_iter()
                .map(|a| match a {
                    Answer::Now(reply) => reply,
                    Answer::Later(_) => Reply::Null,
                })
                .collect(),
        ));
    }
    Answer::Later(Box::pin(async move {
        let mut replies = Vec::with_capacity(answers.len());
        for answer in answers {
            replies.push(match answer {
                Answer::Now(reply) => reply,
                Answer::Later(reply) => reply.await,
            });
        }
        Reply::Array(replies)
    }))
}
