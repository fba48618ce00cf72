//! The command table: what Meridian answers to, and the `COMMAND` family's replies.
//!
//! Each command has a [`CommandSpec`] in Redis's own terms (arity, flags, key positions,
//! ACL categories, group, docs), so that the table doubles as the reply to `COMMAND` and
//! `COMMAND DOCS`, which redis-cli reads for its hints and cluster-aware clients read for key
//! positions. A container (`CLIENT`, `COMMAND`) lists its subcommands, named
//! `container|sub` as in Redis 7. [`resolve`] takes a request's arguments to its spec and
//! checks its arity, giving Redis's errors for unknown commands, unknown subcommands and
//! wrong arities.

use bytes::Bytes;

use crate::reply::Reply;
use crate::table::GROUPS;

/// One command (or subcommand) as Redis 7 describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// Lower case; a subcommand's is `container|sub` (`client|setname`), as in Redis 7.
    pub name: &'static str,
    /// The number of arguments, the name (and a subcommand's name) included; negative means
    /// at least that many (`-2`: two or more).
    pub arity: i32,
    /// Redis's command flags: `write`, `readonly`, `denyoom`, `fast`, `no_auth`, `loading`,
    /// `stale`, `noscript`, `allow_busy`.
    pub flags: &'static [&'static str],
    /// Index of the first key argument; 0 if the command takes no key.
    pub first_key: i32,
    /// Index of the last key argument; negative counts from the end (-1: the last argument).
    pub last_key: i32,
    /// Distance between key arguments (2 for `MSET key value key value`).
    pub step: i32,
    /// The group `COMMAND DOCS` and redis-cli's `HELP @group` show: `connection`, `server`,
    /// `generic`, `string`, `set`, `hash`.
    pub group: &'static str,
    /// One sentence, as `COMMAND DOCS` gives it.
    pub summary: &'static str,
    /// The version that added the command: Redis's, or Meridian's for its own commands.
    pub since: &'static str,
    /// ACL categories without their `@` (`read`, `string`, `fast`), implicit ones included,
    /// in Redis's order.
    pub acl_categories: &'static [&'static str],
    /// The arguments after the name, as `COMMAND DOCS` describes them (redis-cli's hints).
    pub arguments: &'static [Arg],
    /// A container's subcommands; empty for a plain command.
    pub subcommands: &'static [CommandSpec],
}

/// One argument of a command, as `COMMAND DOCS` describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arg {
    /// Its name (`key`, `value`, `condition`).
    pub name: &'static str,
    /// What it is.
    pub kind: ArgKind,
    /// The word that introduces it (`MATCH` before a SCAN pattern), if any.
    pub token: Option<&'static str>,
    /// Whether it may be left out.
    pub optional: bool,
    /// Whether it may repeat.
    pub multiple: bool,
    /// The choices of a [`ArgKind::OneOf`], the parts of a [`ArgKind::Block`].
    pub arguments: &'static [Arg],
}

/// The type of an [`Arg`], named as in Redis's command docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// A key name.
    Key,
    /// Any string.
    String,
    /// An integer.
    Integer,
    /// A floating-point number.
    Double,
    /// A glob-style pattern.
    Pattern,
    /// A Unix timestamp.
    UnixTime,
    /// Its token alone (`NX`).
    PureToken,
    /// One of its arguments.
    OneOf,
    /// All of its arguments, in order.
    Block,
}

impl ArgKind {
    /// Redis's name for it in `COMMAND DOCS`.
    pub fn as_str(self) -> &'static str {
        match self {
            ArgKind::Key => "key",
            ArgKind::String => "string",
            ArgKind::Integer => "integer",
            ArgKind::Double => "double",
            ArgKind::Pattern => "pattern",
            ArgKind::UnixTime => "unix-time",
            ArgKind::PureToken => "pure-token",
            ArgKind::OneOf => "oneof",
            ArgKind::Block => "block",
        }
    }
}

impl Arg {
    pub(crate) const fn new(name: &'static str, kind: ArgKind) -> Arg {
        Arg {
            name,
            kind,
            token: None,
            optional: false,
            multiple: false,
            arguments: &[],
        }
    }

    pub(crate) const fn key(name: &'static str) -> Arg {
        Arg::new(name, ArgKind::Key)
    }

    pub(crate) const fn string(name: &'static str) -> Arg {
        Arg::new(name, ArgKind::String)
    }

    pub(crate) const fn integer(name: &'static str) -> Arg {
        Arg::new(name, ArgKind::Integer)
    }

    pub(crate) const fn pattern(name: &'static str) -> Arg {
        Arg::new(name, ArgKind::Pattern)
    }

    pub(crate) const fn pure_token(name: &'static str, token: &'static str) -> Arg {
        Arg::new(name, ArgKind::PureToken).token(token)
    }

    pub(crate) const fn one_of(name: &'static str, arguments: &'static [Arg]) -> Arg {
        Arg {
            arguments,
            ..Arg::new(name, ArgKind::OneOf)
        }
    }

    pub(crate) const fn block(name: &'static str, arguments: &'static [Arg]) -> Arg {
        Arg {
            arguments,
            ..Arg::new(name, ArgKind::Block)
        }
    }

    pub(crate) const fn token(self, token: &'static str) -> Arg {
        Arg {
            token: Some(token),
            ..self
        }
    }

    pub(crate) const fn optional(self) -> Arg {
        Arg {
            optional: true,
            ..self
        }
    }

    pub(crate) const fn multiple(self) -> Arg {
        Arg {
            multiple: true,
            ..self
        }
    }
}

impl CommandSpec {
    /// Whether the command has this flag (`"write"`, `"no_auth"`, …).
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }

    /// The subcommand of a container by its name as sent (`setname`, any case).
    pub fn subcommand(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        self.subcommands
            .iter()
            .find(|sub| sub.short_name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// The name after the container's: `setname` for `client|setname`, the name itself for
    /// a plain command.
    pub fn short_name(&self) -> &'static str {
        match self.name.split_once('|') {
            Some((_, sub)) => sub,
            None => self.name,
        }
    }

    /// Whether `argc` arguments (the name included) fit the arity.
    pub fn arity_fits(&self, argc: usize) -> bool {
        let wanted = usize::try_from(self.arity.unsigned_abs()).unwrap_or(usize::MAX);
        if self.arity >= 0 {
            argc == wanted
        } else {
            argc >= wanted
        }
    }
}

/// Every command, in the order `COMMAND` lists them.
pub fn all() -> impl Iterator<Item = &'static CommandSpec> + Clone {
    GROUPS.iter().flat_map(|group| group.iter())
}

/// The command of this name as sent (any case); `None` for names outside the table. A
/// container's spec is returned for its name alone: see [`resolve`] for its subcommands.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    all().find(|spec| spec.name.as_bytes().eq_ignore_ascii_case(name))
}

/// A command or subcommand by its full name, `get` or `client|setname` (any case), as
/// `COMMAND INFO` and `COMMAND DOCS` take them.
pub fn lookup_full_name(name: &[u8]) -> Option<&'static CommandSpec> {
    match name.iter().position(|&b| b == b'|') {
        None => lookup(name),
        Some(bar) => lookup(&name[..bar])?.subcommand(&name[bar + 1..]),
    }
}

/// Checks a request's argument count (`argc`, the name included) against the arity:
/// `ERR wrong number of arguments for 'get' command` when it does not fit.
pub fn check_arity(spec: &CommandSpec, argc: usize) -> Result<(), Reply> {
    if spec.arity_fits(argc) {
        Ok(())
    } else {
        Err(crate::errors::wrong_arity(spec.name))
    }
}

/// The spec a request runs: its command, or for a container with a second argument the
/// subcommand it names, with the arity checked. Errors, in Redis's words: an unknown command
/// ([`unknown_command`]), an unknown subcommand, a wrong number of arguments
/// ([`check_arity`]; `CLIENT` alone is `wrong number of arguments for 'client' command`).
pub fn resolve(args: &[Bytes]) -> Result<&'static CommandSpec, Reply> {
    let Some(spec) = args.first().and_then(|name| lookup(name)) else {
        return Err(unknown_command(args));
    };
    let spec = match args.get(1) {
        Some(sub) if !spec.subcommands.is_empty() => spec
            .subcommand(sub)
            .ok_or_else(|| unknown_subcommand(spec, sub))?,
        _ => spec,
    };
    check_arity(spec, args.len())?;
    Ok(spec)
}

/// Redis's reply to a command outside the table:
/// `ERR unknown command 'foo', with args beginning with: 'a' 'b' `, the name cut at 128
/// bytes and the arguments shown while their text is under 128 bytes.
pub fn unknown_command(args: &[Bytes]) -> Reply {
    let name = args.first().map_or(&[][..], |name| &name[..]);
    let mut shown: Vec<u8> = Vec::new();
    for arg in args.iter().skip(1) {
        if shown.len() >= 128 {
            break;
        }
        let room = 128 - shown.len();
        shown.push(b'\'');
        shown.extend_from_slice(&arg[..arg.len().min(room)]);
        shown.extend_from_slice(b"' ");
    }
    Reply::Error(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        String::from_utf8_lossy(&name[..name.len().min(128)]),
        String::from_utf8_lossy(&shown)
    ))
}

/// The reply to a container's subcommand outside the table:
/// `ERR unknown subcommand 'foo'. Try CLIENT SETNAME, GETNAME, ID, INFO or SETINFO.`
/// (Redis ends with `Try CLIENT HELP.`; Meridian has no HELP subcommands, so it names the
/// ones it has.)
pub fn unknown_subcommand(container: &CommandSpec, sub: &[u8]) -> Reply {
    let names: Vec<String> = container
        .subcommands
        .iter()
        .map(|s| s.short_name().to_ascii_uppercase())
        .collect();
    let choices = match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Reply::Error(format!(
        "ERR unknown subcommand '{}'. Try {} {choices}.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)]),
        container.name.to_ascii_uppercase(),
    ))
}

/// The reply to a `COMMAND` request, any of its subcommands: `COMMAND` (every command's
/// info), `COMMAND COUNT`, `COMMAND INFO [name …]`, `COMMAND DOCS [name …]`; an error reply
/// for anything else, as [`resolve`] words it.
pub fn reply_to_command(args: &[Bytes]) -> Reply {
    let spec = match resolve(args) {
        Ok(spec) => spec,
        Err(error) => return error,
    };
    let names = args.get(2..).unwrap_or_default();
    match spec.name {
        "command" => command_reply(),
        "command|count" => command_count_reply(),
        "command|info" => command_info_reply(names),
        "command|docs" => command_docs_reply(names),
        _ => Reply::error(format!(
            "ERR '{}' is not a COMMAND request",
            spec.name.to_ascii_uppercase()
        )),
    }
}

/// `COMMAND`: the info of every command, as [`command_info`] lays it out.
pub fn command_reply() -> Reply {
    Reply::Array(all().map(command_info).collect())
}

/// `COMMAND COUNT`: the number of commands (subcommands not counted, as in Redis).
pub fn command_count_reply() -> Reply {
    Reply::Integer(i64::try_from(all().count()).unwrap_or(i64::MAX))
}

/// `COMMAND INFO name …`: one entry per name, in order (`client|setname` names a
/// subcommand), a null for a name outside the table; every command when `names` is empty.
pub fn command_info_reply(names: &[Bytes]) -> Reply {
    if names.is_empty() {
        return command_reply();
    }
    Reply::Array(
        names
            .iter()
            .map(|name| lookup_full_name(name).map_or(Reply::Null, command_info))
            .collect(),
    )
}

/// `COMMAND DOCS [name …]`: a map from each command's name to its docs
/// ([`command_docs`]); names outside the table are left out; every command when `names` is
/// empty.
pub fn command_docs_reply(names: &[Bytes]) -> Reply {
    let specs: Vec<&CommandSpec> = if names.is_empty() {
        all().collect()
    } else {
        names.iter().filter_map(|n| lookup_full_name(n)).collect()
    };
    Reply::Map(
        specs
            .into_iter()
            .map(|spec| (static_bulk(spec.name), command_docs(spec)))
            .collect(),
    )
}

/// One command's entry in `COMMAND` and `COMMAND INFO`, as Redis 7 lays it out: name,
/// arity, flags (a set), first key, last key, step, ACL categories (a set of `@category`),
/// tips (an empty set), key specs (an empty array: clients fall back on the three key
/// positions) and subcommands (an array of their entries).
pub fn command_info(spec: &CommandSpec) -> Reply {
    Reply::Array(vec![
        static_bulk(spec.name),
        Reply::Integer(spec.arity.into()),
        Reply::Set(
            spec.flags
                .iter()
                .map(|flag| Reply::Simple((*flag).to_owned()))
                .collect(),
        ),
        Reply::Integer(spec.first_key.into()),
        Reply::Integer(spec.last_key.into()),
        Reply::Integer(spec.step.into()),
        Reply::Set(
            spec.acl_categories
                .iter()
                .map(|category| Reply::Simple(format!("@{category}")))
                .collect(),
        ),
        Reply::Set(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(spec.subcommands.iter().map(command_info).collect()),
    ])
}

/// One command's docs in `COMMAND DOCS`: a map of `summary`, `since`, `group`, then
/// `arguments` (if it takes any) and `subcommands` (a map from their names to their docs).
pub fn command_docs(spec: &CommandSpec) -> Reply {
    let mut fields = vec![
        (static_bulk("summary"), static_bulk(spec.summary)),
        (static_bulk("since"), static_bulk(spec.since)),
        (static_bulk("group"), static_bulk(spec.group)),
    ];
    if !spec.arguments.is_empty() {
        fields.push((static_bulk("arguments"), arguments_docs(spec.arguments)));
    }
    if !spec.subcommands.is_empty() {
        fields.push((
            static_bulk("subcommands"),
            Reply::Map(
                spec.subcommands
                    .iter()
                    .map(|sub| (static_bulk(sub.name), command_docs(sub)))
                    .collect(),
            ),
        ));
    }
    Reply::Map(fields)
}

/// Arguments as Redis's `COMMAND DOCS` lists them: `name`, `type`, `token`, `flags` (a set
/// of `optional`, `multiple`), `arguments` for a oneof or a block, else `display_text`.
fn arguments_docs(arguments: &[Arg]) -> Reply {
    Reply::Array(
        arguments
            .iter()
            .map(|arg| {
                let mut fields = vec![
                    (static_bulk("name"), static_bulk(arg.name)),
                    (static_bulk("type"), static_bulk(arg.kind.as_str())),
                ];
                if let Some(token) = arg.token {
                    fields.push((static_bulk("token"), static_bulk(token)));
                }
                let flags: Vec<Reply> = [(arg.optional, "optional"), (arg.multiple, "multiple")]
                    .into_iter()
                    .filter(|(set, _)| *set)
                    .map(|(_, flag)| Reply::Simple(flag.to_owned()))
                    .collect();
                if !flags.is_empty() {
                    fields.push((static_bulk("flags"), Reply::Set(flags)));
                }
                match arg.kind {
                    ArgKind::OneOf | ArgKind::Block => {
                        fields.push((static_bulk("arguments"), arguments_docs(arg.arguments)));
                    }
                    _ => fields.push((static_bulk("display_text"), static_bulk(arg.name))),
                }
                Reply::Map(fields)
            })
            .collect(),
    )
}

fn static_bulk(text: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(text.as_bytes()))
}
