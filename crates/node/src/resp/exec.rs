//! One request: authentication, arity, dispatch, and the connection commands (PING, ECHO,
//! HELLO, AUTH, CLIENT, COMMAND, SELECT, QUIT). Data commands live in
//! `values` and `keys`, the INFO text in `info`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use meridian_replica::{Replica, WriteError};
use meridian_resp::{Protocol, Reply, Request, command};

use super::Server;
use crate::node::{NodeError, WriteReceipt};
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
        }
    }
}

/// Redis's reply to a command it does not know.
fn unknown_command(args: &[Bytes]) -> Reply {
    let name = String::from_utf8_lossy(&args[0]);
    let mut text = format!("ERR unknown command '{name}', with args beginning with: ");
    for arg in args.iter().skip(1).take(8) {
        text.push_str(&format!("'{}' ", String::from_utf8_lossy(arg)));
    }
    Reply::error(text.trim_end().to_owned())
}

pub(crate) fn syntax_error() -> Reply {
    Reply::error("ERR syntax error")
}

pub(crate) fn not_an_integer() -> Reply {
    Reply::error("ERR value is not an integer or out of range")
}

/// An argument as an i64, as Redis parses integers.
pub(crate) fn int_arg(arg: &[u8]) -> Result<i64, Reply> {
    // Canonical decimal only, as Redis's string2ll: no '+', no leading zeros, no "-0".
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<i64>().ok().filter(|n| n.to_string() == s))
        .ok_or_else(not_an_integer)
}

/// Whether the request must wait for every earlier reply before it runs, and what follows it
/// in the pipeline for its own: it waits (a causal wait, a blocking pop), and what follows
/// it must see what it waited for, as in Redis, where a blocked client's next command runs
/// once it is unblocked.
pub(crate) fn is_barrier(request: &Request) -> bool {
    request.args.first().is_some_and(|name| {
        [
            &b"waittoken"[..],
            b"blpop",
            b"brpop",
            b"blmove",
            b"brpoplpush",
        ]
        .iter()
        .any(|b| name.eq_ignore_ascii_case(b))
    })
}

/// The name of the point read (`values::is_point_read`) this request is, if it may run
/// under a hold of the lock the connection already has: a known command, allowed on this
/// connection, of the right arity. Anything else, errors included, goes through [`execute`].
pub(crate) fn point_read_name(session: &Session, request: &Request) -> Option<&'static str> {
    let spec = command::lookup(request.args.first()?)?;
    (session.authenticated
        && super::values::is_point_read(spec.name)
        && spec.arity_fits(request.args.len()))
    .then_some(spec.name)
}

/// Runs one request.
pub(crate) fn execute(server: &Arc<Server>, session: &mut Session, request: Request) -> Outcome {
    let args = request.args;
    let Some(name) = args.first() else {
        return Reply::error("ERR empty command").into();
    };
    let Some(spec) = command::lookup(name) else {
        return unknown_command(&args).into();
    };
    server.commands_processed.fetch_add(1, Ordering::Relaxed);
    if !session.authenticated && !matches!(spec.name, "auth" | "hello" | "quit") {
        return Reply::error("NOAUTH Authentication required.").into();
    }
    if let Err(reply) = command::check_arity(spec, args.len()) {
        return reply.into();
    }
    match spec.name {
        "ping" => match args.get(1) {
            None => Reply::Simple("PONG".into()).into(),
            Some(message) => Reply::bulk(message.clone()).into(),
        },
        "echo" => Reply::bulk(args[1].clone()).into(),
        "quit" => Outcome {
            answer: Answer::Now(Reply::ok()),
            close: true,
        },
        "select" => match int_arg(&args[1]) {
            Ok(0) => Reply::ok().into(),
            Ok(_) => Reply::error("ERR DB index is out of range").into(),
            Err(reply) => reply.into(),
        },
        "auth" => auth(server, session, &args).into(),
        "hello" => hello(server, session, &args).into(),
        "client" => client(session, &args).into(),
        "command" => command_command(&args).into(),
        "info" => Reply::Verbatim {
            format: *b"txt",
            text: Bytes::from(super::info::render(server, &args[1..])),
        }
        .into(),
        "wait" => super::values::wait(server, session, &args).into(),
        "waittoken" => super::values::wait_token(server, &args).into(),
        _ => super::keys::execute(server, session, spec.name, &args)
            .or_else(|| super::values::execute(server, session, spec.name, &args))
            .or_else(|| super::lists::execute(server, session, spec.name, &args))
            .or_else(|| super::text::execute(server, session, spec.name, &args))
            .unwrap_or_else(|| Answer::Now(unknown_command(&args)))
            .into(),
    }
}

fn auth(server: &Server, session: &mut Session, args: &[Bytes]) -> Reply {
    let (user, password) = match args.len() {
        2 => (&b"default"[..], &args[1]),
        _ => (&args[1][..], &args[2]),
    };
    check_password(server, session, user, password)
}

fn check_password(server: &Server, session: &mut Session, user: &[u8], password: &[u8]) -> Reply {
    let Some(expected) = &server.shared.config.clients.requirepass else {
        return Reply::error(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        );
    };
    if user == b"default" && same_secret(expected.as_bytes(), password) {
        session.authenticated = true;
        Reply::ok()
    } else {
        Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
    }
}

/// Compares a password in time that depends on its length only: the password is the one
/// secret of the protocol.
fn same_secret(expected: &[u8], given: &[u8]) -> bool {
    expected.len() == given.len()
        && expected
            .iter()
            .zip(given)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn hello(server: &Server, session: &mut Session, args: &[Bytes]) -> Reply {
    let mut protocol = session.protocol;
    let mut rest = &args[1..];
    if let Some(version) = rest.first() {
        protocol = match int_arg(version) {
            Ok(2) => Protocol::Resp2,
            Ok(3) => Protocol::Resp3,
            _ => return Reply::error("NOPROTO unsupported protocol version"),
        };
        rest = &rest[1..];
    }
    let mut name = None;
    while let Some(option) = rest.first() {
        if option.eq_ignore_ascii_case(b"auth") && rest.len() >= 3 {
            let reply = check_password(server, session, &rest[1], &rest[2]);
            if matches!(reply, Reply::Error(_)) {
                return reply;
            }
            rest = &rest[3..];
        } else if option.eq_ignore_ascii_case(b"setname") && rest.len() >= 2 {
            name = Some(rest[1].clone());
            rest = &rest[2..];
        } else {
            return Reply::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(option)
            ));
        }
    }
    if !session.authenticated {
        return Reply::error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
    }
    session.protocol = protocol;
    if name.is_some() {
        session.name = name;
    }
    let role = match server.shared.config.role() {
        meridian_replica::Role::Leader => "master",
        _ => "replica",
    };
    let field = |k: &str| Reply::bulk(Bytes::copy_from_slice(k.as_bytes()));
    Reply::Map(vec![
        (field("server"), field("redis")),
        (field("version"), field(super::info::REDIS_COMPAT_VERSION)),
        (
            field("proto"),
            Reply::Integer(if protocol == Protocol::Resp3 { 3 } else { 2 }),
        ),
        (
            field("id"),
            Reply::Integer(i64::try_from(session.id).unwrap_or(i64::MAX)),
        ),
        (field("mode"), field("standalone")),
        (field("role"), field(role)),
        (field("modules"), Reply::Array(Vec::new())),
        (field("meridian"), field(env!("CARGO_PKG_VERSION"))),
    ])
}

fn client(session: &mut Session, args: &[Bytes]) -> Reply {
    let sub = args[1].to_ascii_lowercase();
    match (sub.as_slice(), args.len()) {
        (b"setname", 3) => {
            if args[2].iter().any(|&c| c <= b' ' || c > b'~') {
                return Reply::error(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
            }
            session.name = (!args[2].is_empty()).then(|| args[2].clone());
            Reply::ok()
        }
        (b"getname", 2) => session.name.clone().map_or(Reply::Null, Reply::bulk),
        (b"id", 2) => Reply::Integer(i64::try_from(session.id).unwrap_or(i64::MAX)),
        (b"info", 2) => Reply::Verbatim {
            format: *b"txt",
            text: Bytes::from(client_line(session)),
        },
        (b"list", 2) => Reply::Verbatim {
            format: *b"txt",
            text: Bytes::from(client_line(session)),
        },
        (b"setinfo", 4) => {
            let attr = args[2].to_ascii_lowercase();
            match attr.as_slice() {
                b"lib-name" => session.lib_name = Some(args[3].clone()),
                b"lib-ver" => session.lib_ver = Some(args[3].clone()),
                _ => {
                    return Reply::error(format!(
                        "ERR Unrecognized option '{}'",
                        String::from_utf8_lossy(&args[2])
                    ));
                }
            }
            Reply::ok()
        }
        _ => Reply::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

/// The line of CLIENT INFO / CLIENT LIST for this connection.
fn client_line(session: &Session) -> String {
    let text = |b: &Option<Bytes>| {
        b.as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    format!(
        "id={} addr={} name={} age={} db=0 resp={} lib-name={} lib-ver={}\n",
        session.id,
        session.remote,
        text(&session.name),
        session.created.elapsed().as_secs(),
        if session.protocol == Protocol::Resp3 {
            3
        } else {
            2
        },
        text(&session.lib_name),
        text(&session.lib_ver),
    )
}

fn command_command(args: &[Bytes]) -> Reply {
    let Some(sub) = args.get(1) else {
        return command::command_reply();
    };
    let sub = sub.to_ascii_lowercase();
    match sub.as_slice() {
        b"count" => command::command_count_reply(),
        b"info" => command::command_info_reply(&args[2..]),
        b"docs" => command::command_docs_reply(&args[2..]),
        _ => Reply::error(format!(
            "ERR unknown subcommand '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

/// The text of a failed write's reply, with Redis's error code first.
pub(crate) fn write_error_reply(error: &NodeError) -> Reply {
    match error {
        NodeError::Write(e) => Reply::error(e.to_string()),
        NodeError::ShutDown => Reply::error("ERR the node shut down before the write was durable"),
    }
}

/// Plans and makes writes; the reply comes once they are durable.
pub(crate) fn write<T: Send + 'static>(
    server: &Server,
    session: &mut Session,
    plan: impl FnOnce(&Replica) -> Result<Plan<T>, WriteError>,
    reply: impl FnOnce(T, Option<WriteReceipt>) -> Reply + Send + 'static,
) -> Answer {
    match ops::start_planned(&server.shared, plan) {
        Err(e) => Answer::Now(Reply::error(e.to_string())),
        Ok((outcome, receipt, pending)) => {
            if receipt.is_some() {
                session.last_write.clone_from(&receipt);
            }
            Answer::Later(Box::pin(async move {
                match pending.durable().await {
                    Ok(()) => reply(outcome, receipt),
                    Err(e) => write_error_reply(&e),
                }
            }))
        }
    }
}
