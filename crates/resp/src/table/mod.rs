//! The commands Meridian answers to.
//!
//! Arities, key positions, flags, ACL categories, groups and `since` versions are Redis 7's
//! for the commands Redis has (from its `src/commands/*.json`, flags in the order `COMMAND`
//! prints them, without `sentinel`, which `COMMAND` hides, and ACL categories with the
//! implicit ones Redis adds: `@read`/`@write` from the flags, `@slow` for what is not
//! `@fast`). The arguments list only what Meridian accepts. MVSET, MVGET and WAITTOKEN are Meridian's own; WAIT counts regions, not replicas.

mod expiry;
mod hashes;
mod hyperloglog;
mod pubsub;
mod sequences;
mod sets;
mod strings;
mod transactions;
mod zsets;

use crate::command::{Arg, ArgKind, CommandSpec};

/// The version of Meridian that added its own commands.
const MERIDIAN: &str = "0.1.0";

/// A plain command. `keys` is first key, last key, step.
#[allow(clippy::too_many_arguments)]
const fn cmd(
    name: &'static str,
    arity: i32,
    flags: &'static [&'static str],
    keys: [i32; 3],
    acl_categories: &'static [&'static str],
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    arguments: &'static [Arg],
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        first_key: keys[0],
        last_key: keys[1],
        step: keys[2],
        group,
        summary,
        since,
        acl_categories,
        arguments,
        subcommands: &[],
    }
}

const fn container(spec: CommandSpec, subcommands: &'static [CommandSpec]) -> CommandSpec {
    CommandSpec {
        subcommands,
        ..spec
    }
}

const NO_KEYS: [i32; 3] = [0, 0, 0];
const ONE_KEY: [i32; 3] = [1, 1, 1];
const ALL_KEYS: [i32; 3] = [1, -1, 1];

const CONNECTION_FLAGS: &[&str] = &[
    "noscript",
    "loading",
    "stale",
    "fast",
    "no_auth",
    "allow_busy",
];
const CLIENT_FLAGS: &[&str] = &["noscript", "loading", "stale"];
const COMMAND_FLAGS: &[&str] = &["loading", "stale"];

const FAST_CONNECTION: &[&str] = &["fast", "connection"];
const SLOW_CONNECTION: &[&str] = &["slow", "connection"];

const KEY: Arg = Arg::key("key");
const KEYS: Arg = Arg::key("key").multiple();
const FIELD: Arg = Arg::string("field");
const FIELDS: Arg = Arg::string("field").multiple();
const MEMBER: Arg = Arg::string("member");
const MEMBERS: Arg = Arg::string("member").multiple();
/// FLUSHALL's and FLUSHDB's mode (both remove at once: a node never frees in the background).
const FLUSH_MODE: Arg = Arg::one_of(
    "flush-type",
    &[
        Arg::pure_token("async", "ASYNC"),
        Arg::pure_token("sync", "SYNC"),
    ],
)
.optional();

/// SSCAN's and HSCAN's arguments.
const SCAN_ARGS: &[Arg] = &[
    KEY,
    Arg::integer("cursor"),
    Arg::new("pattern", ArgKind::Pattern)
        .token("MATCH")
        .optional(),
    Arg::integer("count").token("COUNT").optional(),
];
const COMMAND_NAMES: Arg = Arg::string("command-name").optional().multiple();

const CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    cmd(
        "client|setname",
        3,
        CLIENT_FLAGS,
        NO_KEYS,
        SLOW_CONNECTION,
        "connection",
        "2.6.9",
        "Sets the connection name.",
        &[Arg::string("connection-name")],
    ),
    cmd(
        "client|getname",
        2,
        CLIENT_FLAGS,
        NO_KEYS,
        SLOW_CONNECTION,
        "connection",
        "2.6.9",
        "Returns the name of the connection.",
        &[],
    ),
    cmd(
        "client|id",
        2,
        CLIENT_FLAGS,
        NO_KEYS,
        SLOW_CONNECTION,
        "connection",
        "5.0.0",
        "Returns the unique client ID of the connection.",
        &[],
    ),
    cmd(
        "client|info",
        2,
        CLIENT_FLAGS,
        NO_KEYS,
        SLOW_CONNECTION,
        "connection",
        "6.2.0",
        "Returns information about the connection.",
        &[],
    ),
    cmd(
        "client|setinfo",
        4,
        CLIENT_FLAGS,
        NO_KEYS,
        SLOW_CONNECTION,
        "connection",
        "7.2.0",
        "Sets the client library name or version reported for the connection.",
        &[Arg::one_of(
            "attr",
            &[
                Arg::string("libname").token("LIB-NAME"),
                Arg::string("libver").token("LIB-VER"),
            ],
        )],
    ),
];

/// CONFIG's flags and categories, Redis's for GET and SET.
const CONFIG_FLAGS: &[&str] = &["admin", "noscript", "loading", "stale"];
const CONFIG_CATEGORIES: &[&str] = &["admin", "slow", "dangerous"];

const CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    cmd(
        "config|get",
        -3,
        CONFIG_FLAGS,
        NO_KEYS,
        CONFIG_CATEGORIES,
        "server",
        "2.0.0",
        "Returns the node's settings that match the patterns, under Redis's names where Redis has one.",
        &[Arg::string("parameter").multiple()],
    ),
    cmd(
        "config|set",
        -4,
        CONFIG_FLAGS,
        NO_KEYS,
        CONFIG_CATEGORIES,
        "server",
        "2.0.0",
        "Refused: a node's settings live in its config file, read at start.",
        &[Arg::block("data", &[Arg::string("parameter"), Arg::string("value")]).multiple()],
    ),
];

const COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    cmd(
        "command|count",
        2,
        COMMAND_FLAGS,
        NO_KEYS,
        SLOW_CONNECTION,
        "server",
        "2.8.13",
        "Returns a count of commands.",
        &[],
    ),
    cmd(
        "command|docs",
        -2,
        COMMAND_FLAGS,
        NO_KEYS,
        SLOW_CONNECTION,
        "server",
        "7.0.0",
        "Returns documentary information about one, multiple or all commands.",
        &[COMMAND_NAMES],
    ),
    cmd(
        "command|info",
        -2,
        COMMAND_FLAGS,
        NO_KEYS,
        SLOW_CONNECTION,
        "server",
        "2.8.13",
        "Returns information about one, multiple or all commands.",
        &[COMMAND_NAMES],
    ),
];

/// Every command, in groups, in the order `COMMAND` lists them: connection, server, keyspace,
/// expiry, strings, sets, hashes, sorted sets, HyperLogLog, transactions, pub/sub, then Meridian's
/// own and the sequences.
pub(crate) const GROUPS: &[&[CommandSpec]] = &[
    GENERAL,
    expiry::COMMANDS,
    strings::COMMANDS,
    sets::COMMANDS,
    hashes::COMMANDS,
    zsets::COMMANDS,
    hyperloglog::COMMANDS,
    transactions::COMMANDS,
    pubsub::COMMANDS,
    OWN,
    sequences::COMMANDS,
];

const GENERAL: &[CommandSpec] = &[
    // connection
    cmd(
        "ping",
        -1,
        &["fast"],
        NO_KEYS,
        FAST_CONNECTION,
        "connection",
        "1.0.0",
        "Returns PONG, or the message if one is given.",
        &[Arg::string("message").optional()],
    ),
    cmd(
        "echo",
        2,
        &["loading", "stale", "fast"],
        NO_KEYS,
        FAST_CONNECTION,
        "connection",
        "1.0.0",
        "Returns the given string.",
        &[Arg::string("message")],
    ),
    cmd(
        "hello",
        -1,
        CONNECTION_FLAGS,
        NO_KEYS,
        FAST_CONNECTION,
        "connection",
        "6.0.0",
        "Handshakes with the server: chooses RESP2 or RESP3, and may authenticate and name the connection.",
        &[Arg::block(
            "arguments",
            &[
                Arg::integer("protover"),
                Arg::block(
                    "username-password",
                    &[Arg::string("username"), Arg::string("password")],
                )
                .token("AUTH")
                .optional(),
                Arg::string("clientname").token("SETNAME").optional(),
            ],
        )
        .optional()],
    ),
    cmd(
        "auth",
        -2,
        CONNECTION_FLAGS,
        NO_KEYS,
        FAST_CONNECTION,
        "connection",
        "1.0.0",
        "Authenticates the connection.",
        &[Arg::string("username").optional(), Arg::string("password")],
    ),
    container(
        cmd(
            "client",
            -2,
            &[],
            NO_KEYS,
            &["slow"],
            "connection",
            "2.4.0",
            "A container for client connection commands.",
            &[],
        ),
        CLIENT_SUBCOMMANDS,
    ),
    cmd(
        "select",
        2,
        &["loading", "stale", "fast"],
        NO_KEYS,
        FAST_CONNECTION,
        "connection",
        "1.0.0",
        "Changes the selected database.",
        &[Arg::integer("index")],
    ),
    cmd(
        "quit",
        -1,
        CONNECTION_FLAGS,
        NO_KEYS,
        FAST_CONNECTION,
        "connection",
        "1.0.0",
        "Closes the connection.",
        &[],
    ),
    cmd(
        "reset",
        1,
        CONNECTION_FLAGS,
        NO_KEYS,
        FAST_CONNECTION,
        "connection",
        "6.2.0",
        "Resets the connection: leaves MULTI, WATCH and pub/sub, RESP2, unnamed, and unauthenticated where a password is set.",
        &[],
    ),
    // server
    container(
        cmd(
            "command",
            -1,
            COMMAND_FLAGS,
            NO_KEYS,
            SLOW_CONNECTION,
            "server",
            "2.8.13",
            "Returns detailed information about all commands.",
            &[],
        ),
        COMMAND_SUBCOMMANDS,
    ),
    cmd(
        "info",
        -1,
        COMMAND_FLAGS,
        NO_KEYS,
        &["slow", "dangerous"],
        "server",
        "1.0.0",
        "Returns information and statistics about the node, its replication links included.",
        &[Arg::string("section").optional().multiple()],
    ),
    container(
        cmd(
            "config",
            -2,
            &[],
            NO_KEYS,
            &["slow"],
            "server",
            "2.0.0",
            "A container for server configuration commands.",
            &[],
        ),
        CONFIG_SUBCOMMANDS,
    ),
    cmd(
        "time",
        1,
        &["loading", "stale", "fast"],
        NO_KEYS,
        &["fast"],
        "server",
        "2.6.0",
        "Returns the node's wall-clock time: seconds and microseconds since the Unix epoch.",
        &[],
    ),
    cmd(
        "dbsize",
        1,
        &["readonly", "fast"],
        NO_KEYS,
        &["keyspace", "read", "fast"],
        "server",
        "1.0.0",
        "Returns the number of keys in the database.",
        &[],
    ),
    // keyspace
    cmd(
        "del",
        -2,
        &["write"],
        ALL_KEYS,
        &["keyspace", "write", "slow"],
        "generic",
        "1.0.0",
        "Deletes one or more keys.",
        &[KEYS],
    ),
    cmd(
        "randomkey",
        1,
        &["readonly"],
        NO_KEYS,
        &["keyspace", "read", "slow"],
        "generic",
        "1.0.0",
        "Returns a random key name from the database.",
        &[],
    ),
    cmd(
        "flushall",
        -1,
        &["write"],
        NO_KEYS,
        &["keyspace", "write", "slow", "dangerous"],
        "server",
        "1.0.0",
        "Removes every key this region holds, as a DEL of each: writes made concurrently at other regions survive.",
        &[FLUSH_MODE],
    ),
    cmd(
        "flushdb",
        -1,
        &["write"],
        NO_KEYS,
        &["keyspace", "write", "slow", "dangerous"],
        "server",
        "1.0.0",
        "Removes every key this region holds (Meridian has one database), as FLUSHALL.",
        &[FLUSH_MODE],
    ),
    cmd(
        "unlink",
        -2,
        &["write", "fast"],
        ALL_KEYS,
        &["keyspace", "write", "fast"],
        "generic",
        "4.0.0",
        "Deletes one or more keys, as DEL does (a delete never blocks a Meridian node).",
        &[KEYS],
    ),
    cmd(
        "touch",
        -2,
        &["readonly", "fast"],
        ALL_KEYS,
        &["keyspace", "read", "fast"],
        "generic",
        "3.2.1",
        "Returns the number of existing keys specified (Meridian keeps no access times).",
        &[KEYS],
    ),
    cmd(
        "exists",
        -2,
        &["readonly", "fast"],
        ALL_KEYS,
        &["keyspace", "read", "fast"],
        "generic",
        "1.0.0",
        "Determines whether one or more keys exist.",
        &[KEYS],
    ),
    cmd(
        "type",
        2,
        &["readonly", "fast"],
        ONE_KEY,
        &["keyspace", "read", "fast"],
        "generic",
        "1.0.0",
        "Determines the type of value stored at a key.",
        &[KEY],
    ),
    cmd(
        "keys",
        2,
        &["readonly"],
        NO_KEYS,
        &["keyspace", "read", "slow", "dangerous"],
        "generic",
        "1.0.0",
        "Returns all key names that match a pattern.",
        &[Arg::pattern("pattern")],
    ),
    cmd(
        "scan",
        -2,
        &["readonly"],
        NO_KEYS,
        &["keyspace", "read", "slow"],
        "generic",
        "2.8.0",
        "Iterates over the key names in the database.",
        &[
            Arg::integer("cursor"),
            Arg::pattern("pattern").token("MATCH").optional(),
            Arg::integer("count").token("COUNT").optional(),
            Arg::string("type").token("TYPE").optional(),
        ],
    ),
    cmd(
        "wait",
        3,
        &["noscript"],
        NO_KEYS,
        SLOW_CONNECTION,
        "generic",
        "3.0.0",
        "Blocks until the connection's writes are held by a number of regions, or the timeout (in milliseconds) passes.",
        &[Arg::integer("numregions"), Arg::integer("timeout")],
    ),
];

/// Meridian's own commands beside Redis's: MV registers and the causal wait.
const OWN: &[CommandSpec] = &[
    cmd(
        "mvset",
        -3,
        &["write", "denyoom"],
        ONE_KEY,
        &["write", "string", "slow"],
        "string",
        MERIDIAN,
        "Adds a value to a multi-value register, replacing the siblings its context token (from MVGET) covers; without CTX, every sibling this node has seen.",
        &[
            KEY,
            Arg::string("value"),
            Arg::string("token").token("CTX").optional(),
        ],
    ),
    cmd(
        "mvget",
        2,
        &["readonly"],
        ONE_KEY,
        &["read", "string", "slow"],
        "string",
        MERIDIAN,
        "Returns the concurrent values (siblings) of a multi-value register and the context token that resolves them.",
        &[KEY],
    ),
    cmd(
        "waittoken",
        3,
        &["noscript"],
        NO_KEYS,
        SLOW_CONNECTION,
        "generic",
        MERIDIAN,
        "Blocks until this node has applied everything a causal token covers, or the timeout (in milliseconds) passes: read-your-writes across regions.",
        &[Arg::string("token"), Arg::integer("timeout")],
    ),
];
