//! One request: authentication, arity, and dispatch through the command table
//! ([`super::table`]); what every handler shares: the session, the answer, writes and their
//! durable replies, and reading the replica.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use meridian_crdt::{KeyType, PrepareError};
use meridian_replica::{Replica, WriteError};
use meridian_resp::{Protocol, Reply, Request, command, errors};

use super::Server;
use super::table::{self, Entry, Run};
use super::words;
use super::{pubsub, transaction};
use crate::node::WriteReceipt;
use crate::ops::{self, Plan};

/// A reply now, or once the writes it reports on are durable.
pub(crate) enum Answer {
    /// Ready.
    Now(Reply),
    /// Resolves when the command's writes are durable (or failed).
    Later(Pin<Box<dyn Future<Output = Reply> + Send>>),
}

/// What the connection does after a request.
pub(crate) struct Outcome {
    pub(crate) answer: Answer,
    /// Close the connection once this reply is written (QUIT).
    pub(crate) close: bool,
}

impl From<Reply> for Outcome {
    fn from(reply: Reply) -> Outcome {
        Outcome {
            answer: Answer::Now(reply),
            close: false,
        }
    }
}

impl From<Answer> for Outcome {
    fn from(answer: Answer) -> Outcome {
        Outcome {
            answer,
            close: false,
        }
    }
}

/// One client connection's state.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: u64,
    pub(crate) remote: SocketAddr,
    pub(crate) created: Instant,
    pub(crate) name: Option<Bytes>,
    pub(crate) lib_name: Option<Bytes>,
    pub(crate) lib_ver: Option<Bytes>,
    pub(crate) protocol: Protocol,
    pub(crate) authenticated: bool,
    /// The receipt of this connection's latest write, for WAIT.
    pub(crate) last_write: Option<WriteReceipt>,
    /// Set by QUIT: the connection closes once the reply is written.
    pub(crate) quit: bool,
    /// The open transaction, between MULTI and EXEC or DISCARD.
    pub(crate) transaction: Option<super::transaction::Transaction>,
    /// The keys WATCH noted, until EXEC, DISCARD or UNWATCH.
    pub(crate) watched: super::transaction::Watched,
    /// The channels and patterns this connection subscribes to, if any.
    pub(crate) subscriber: Option<super::pubsub::Subscriber>,
}

impl Session {
    pub(crate) fn new(server: &Server, id: u64, remote: SocketAddr) -> Session {
        Session {
            id,
            remote,
            created: Instant::now(),
            name: None,
            lib_name: None,
            lib_ver: None,
            protocol: Protocol::Resp2,
            authenticated: server.shared.config.clients.requirepass.is_none(),
            last_write: None,
            quit: false,
            transaction: None,
            watched: Vec::new(),
            subscriber: None,
        }
    }
}

/// An argument as an i64, as Redis parses integers.
pub(crate) fn int_arg(arg: &[u8]) -> Result<i64, Reply> {
    // Canonical decimal only, as Redis's string2ll: no '+', no leading zeros, no "-0".
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<i64>().ok().filter(|n| n.to_string() == s))
        .ok_or_else(errors::not_an_integer)
}

/// Whether the request is a [`Run::Barrier`]: every earlier reply goes out before it runs,
/// and what follows it waits for its answer.
pub(crate) fn is_barrier(request: &Request) -> bool {
    request
        .args
        .first()
        .and_then(|name| table::lookup(name))
        .is_some_and(|entry| matches!(entry.run, Run::Barrier(_)))
}

/// The point read ([`Run::Point`]) this request is, if it may run under a hold of the lock
/// the connection already has: a known command, allowed on this connection, of the right
/// arity. Anything else, errors included, goes through [`execute`].
pub(crate) fn point_read(session: &Session, request: &Request) -> Option<&'static Entry> {
    let entry = table::lookup(request.args.first()?)?;
    (session.authenticated
        && session.transaction.is_none()
        && !pubsub::in_subscribed_mode(session)
        && matches!(entry.run, Run::Point(_))
        && entry.spec.arity_fits(request.args.len()))
    .then_some(entry)
}

/// Runs one request.
pub(crate) fn execute(server: &Arc<Server>, session: &mut Session, request: Request) -> Outcome {
    let args = request.args;
    let Some(name) = args.first() else {
        return Reply::error("ERR empty command").into();
    };
    let Some(entry) = table::lookup(name) else {
        transaction::refuse(session);
        return command::unknown_command(&args).into();
    };
    server.commands_processed.fetch_add(1, Ordering::Relaxed);
    if !session.authenticated && !entry.runs_unauthenticated() {
        transaction::refuse(session);
        return errors::noauth().into();
    }
    if let Err(reply) = command::check_arity(entry.spec, args.len()) {
        if entry.spec.name == "exec"
            && let Some(abort) = transaction::abort_exec(
                server,
                session,
                "wrong number of arguments for 'exec' command",
            )
        {
            return abort.into();
        }
        transaction::refuse(session);
        return reply.into();
    }
    // A RESP2 connection that subscribes takes only the pub/sub commands, PING and QUIT.
    if pubsub::in_subscribed_mode(session) {
        if entry.spec.name == "ping" {
            return pubsub::subscribed_ping(&args).into();
        }
        if !pubsub::allowed_while_subscribed(entry.spec.name) {
            // A container's subcommand is named in full, as Redis does (`config|get`).
            let mut name = String::from_utf8_lossy(name).to_lowercase();
            if !entry.spec.subcommands.is_empty()
                && let Some(sub) = args.get(1)
            {
                name = format!("{name}|{}", String::from_utf8_lossy(sub).to_lowercase());
            }
            return pubsub::refused_while_subscribed(&name).into();
        }
    }
    let args = match transaction::queue(session, entry.spec.name, entry.run, args) {
        Ok(queued) => return queued.into(),
        Err(args) => args,
    };
    let answer = match entry.run {
        Run::Point(read) => {
            let _gate = server.shared.gate();
            Answer::Now(read(&server.shared.read().replica, &args))
        }
        // EXEC takes the gate alone itself.
        Run::Call(handler) if entry.spec.name == "exec" => handler(server, session, &args),
        Run::Call(handler) => {
            let _gate = server.shared.gate();
            handler(server, session, &args)
        }
        // A command that waits takes the gate only while it plans (`lists::attempt`).
        Run::Barrier(handler) => handler(server, session, &args),
    };
    Outcome {
        answer,
        close: std::mem::take(&mut session.quit),
    }
}

/// Reads the replica under the core's read lock.
pub(crate) fn read<T>(server: &Server, f: impl FnOnce(&Replica) -> T) -> T {
    f(&server.shared.read().replica)
}

/// A count as a reply.
pub(crate) fn count(n: usize) -> Reply {
    Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A value or nil.
pub(crate) fn bulk_or_null(value: Option<Bytes>) -> Reply {
    value.map_or(Reply::Null, Reply::bulk)
}

/// How many different names `names` holds.
pub(crate) fn distinct<'a>(names: impl Iterator<Item = &'a Bytes>) -> usize {
    names.collect::<std::collections::BTreeSet<_>>().len()
}

/// A stored string as the integer INCRBY or HINCRBY adds to: canonical decimal only, as
/// Redis reads it (`01`, `+1` and `-0` are strings, not integers).
pub(crate) fn stored_int(bytes: &[u8]) -> Result<i64, WriteError> {
    int_arg(bytes).map_err(|_| WriteError::Prepare(PrepareError::NotInteger))
}

/// A write refused because `key` holds another type, naming the type it holds.
pub(crate) fn wrong_type_error(replica: &Replica, key: &[u8]) -> WriteError {
    let found = replica
        .keyspace()
        .key_type(key)
        .unwrap_or(KeyType::Register);
    WriteError::Prepare(PrepareError::WrongType { found })
}

/// A plan's verdict: the writes to make, or a refusal in Redis's words that the plan could
/// only reach after reading the key (an argument Redis checks after the key's type, a field
/// that holds no integer).
pub(crate) type Verdict<T> = Result<Plan<T>, Reply>;

/// [`write`], for a plan that may refuse the command with a reply of its own.
pub(crate) fn write_or_refuse<T: Send + 'static>(
    server: &Server,
    session: &mut Session,
    plan: impl FnOnce(&Replica) -> Result<Verdict<T>, WriteError>,
    reply: impl FnOnce(T, Option<WriteReceipt>) -> Reply + Send + 'static,
) -> Answer {
    let mut refused = None;
    let answer = write(
        server,
        session,
        |r| match plan(r)? {
            Ok(Plan { writes, outcome }) => Ok(Plan {
                writes,
                outcome: Some(outcome),
            }),
            Err(refusal) => {
                refused = Some(refusal);
                Ok(Plan {
                    writes: Vec::new(),
                    outcome: None,
                })
            }
        },
        // A refused plan wrote nothing, and its answer is replaced below.
        |outcome, receipt| outcome.map_or(Reply::Null, |o| reply(o, receipt)),
    );
    refused.map_or(answer, Answer::Now)
}

/// Plans and makes writes; the reply comes once they are durable.
pub(crate) fn write<T: Send + 'static>(
    server: &Server,
    session: &mut Session,
    plan: impl FnOnce(&Replica) -> Result<Plan<T>, WriteError>,
    reply: impl FnOnce(T, Option<WriteReceipt>) -> Reply + Send + 'static,
) -> Answer {
    match ops::start_planned(&server.shared, plan) {
        Err(e) => Answer::Now(words::write_error(&e)),
        Ok((outcome, receipt, pending)) => {
            if receipt.is_some() {
                session.last_write.clone_from(&receipt);
            }
            Answer::Later(Box::pin(async move {
                match pending.durable().await {
                    Ok(()) => reply(outcome, receipt),
                    Err(e) => words::node_error(&e),
                }
            }))
        }
    }
}
