//! The connection commands: PING, ECHO, HELLO, AUTH, CLIENT, SELECT, QUIT and COMMAND.

use std::sync::Arc;

use bytes::Bytes;
use meridian_resp::{Protocol, Reply, command, errors};

use super::Server;
use super::exec::{Answer, Session, int_arg};

pub(super) fn ping(_: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    Answer::Now(match args {
        [_] => Reply::Simple("PONG".into()),
        [_, message] => Reply::bulk(message.clone()),
        _ => errors::wrong_arity("ping"),
    })
}

pub(super) fn echo(_: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    Answer::Now(Reply::bulk(args[1].clone()))
}

pub(super) fn quit(_: &Arc<Server>, session: &mut Session, _: &[Bytes]) -> Answer {
    session.quit = true;
    Answer::Now(Reply::ok())
}

/// RESET: the connection as it was when it opened, as Redis's RESET leaves it: no
/// transaction, no watched key, no subscription, RESP2, no name, and authenticated only if
/// the node takes clients without a password. Its causal token stays: it names writes made,
/// which a reset does not unmake.
pub(super) fn reset(server: &Arc<Server>, session: &mut Session, _: &[Bytes]) -> Answer {
    session.transaction = None;
    session.watched.clear();
    super::pubsub::forget(server, session);
    session.protocol = Protocol::Resp2;
    session.name = None;
    session.authenticated = server.shared.config.clients.requirepass.is_none();
    Answer::Now(Reply::Simple("RESET".into()))
}

pub(super) fn select(_: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    Answer::Now(match int_arg(&args[1]) {
        Ok(0) => Reply::ok(),
        Ok(_) => errors::db_index_out_of_range(),
        Err(reply) => reply,
    })
}

pub(super) fn auth(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    Answer::Now(auth_reply(server, session, args))
}

pub(super) fn hello(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    Answer::Now(hello_reply(server, session, args))
}

pub(super) fn client(_: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    Answer::Now(client_reply(session, args))
}

pub(super) fn command(_: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    Answer::Now(command_reply(args))
}

fn auth_reply(server: &Server, session: &mut Session, args: &[Bytes]) -> Reply {
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
        errors::wrongpass()
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

fn hello_reply(server: &Server, session: &mut Session, args: &[Bytes]) -> Reply {
    let mut protocol = session.protocol;
    let mut rest = &args[1..];
    if let Some(version) = rest.first() {
        protocol = match int_arg(version) {
            Ok(2) => Protocol::Resp2,
            Ok(3) => Protocol::Resp3,
            _ => return errors::noproto(),
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

fn client_reply(session: &mut Session, args: &[Bytes]) -> Reply {
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

fn command_reply(args: &[Bytes]) -> Reply {
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
