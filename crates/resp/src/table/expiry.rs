//! Expiry: the EXPIRE family, TTL and its kin, and PERSIST, with Redis 7's metadata.

use super::{KEY, ONE_KEY, cmd};
use crate::command::{Arg, ArgKind, CommandSpec};

/// EXPIRE's condition.
const CONDITION: Arg = Arg::one_of(
    "condition",
    &[
        Arg::pure_token("nx", "NX"),
        Arg::pure_token("xx", "XX"),
        Arg::pure_token("gt", "GT"),
        Arg::pure_token("lt", "LT"),
    ],
)
.optional();

const KEYSPACE_WRITE: &[&str] = &["keyspace", "write", "fast"];
const KEYSPACE_READ: &[&str] = &["keyspace", "read", "fast"];

pub(super) const COMMANDS: &[CommandSpec] = &[
    cmd(
        "expire",
        -3,
        &["write", "fast"],
        ONE_KEY,
        KEYSPACE_WRITE,
        "generic",
        "1.0.0",
        "Sets a key's time to live in seconds; a write concurrent with it in another region survives it.",
        &[KEY, Arg::integer("seconds"), CONDITION],
    ),
    cmd(
        "pexpire",
        -3,
        &["write", "fast"],
        ONE_KEY,
        KEYSPACE_WRITE,
        "generic",
        "2.6.0",
        "Sets a key's time to live in milliseconds.",
        &[KEY, Arg::integer("milliseconds"), CONDITION],
    ),
    cmd(
        "expireat",
        -3,
        &["write", "fast"],
        ONE_KEY,
        KEYSPACE_WRITE,
        "generic",
        "1.2.0",
        "Sets the expiration time of a key to a Unix timestamp in seconds.",
        &[
            KEY,
            Arg::new("unix-time-seconds", ArgKind::UnixTime),
            CONDITION,
        ],
    ),
    cmd(
        "pexpireat",
        -3,
        &["write", "fast"],
        ONE_KEY,
        KEYSPACE_WRITE,
        "generic",
        "2.6.0",
        "Sets the expiration time of a key to a Unix timestamp in milliseconds.",
        &[
            KEY,
            Arg::new("unix-time-milliseconds", ArgKind::UnixTime),
            CONDITION,
        ],
    ),
    cmd(
        "ttl",
        2,
        &["readonly", "fast"],
        ONE_KEY,
        KEYSPACE_READ,
        "generic",
        "1.0.0",
        "Returns the remaining time to live of a key in seconds, by this region's clock.",
        &[KEY],
    ),
    cmd(
        "pttl",
        2,
        &["readonly", "fast"],
        ONE_KEY,
        KEYSPACE_READ,
        "generic",
        "2.6.0",
        "Returns the remaining time to live of a key in milliseconds, by this region's clock.",
        &[KEY],
    ),
    cmd(
        "expiretime",
        2,
        &["readonly", "fast"],
        ONE_KEY,
        KEYSPACE_READ,
        "generic",
        "7.0.0",
        "Returns the expiration time of a key as a Unix timestamp in seconds.",
        &[KEY],
    ),
    cmd(
        "pexpiretime",
        2,
        &["readonly", "fast"],
        ONE_KEY,
        KEYSPACE_READ,
        "generic",
        "7.0.0",
        "Returns the expiration time of a key as a Unix timestamp in milliseconds.",
        &[KEY],
    ),
    cmd(
        "persist",
        2,
        &["write", "fast"],
        ONE_KEY,
        KEYSPACE_WRITE,
        "generic",
        "2.2.0",
        "Removes a key's time to live; a deadline set concurrently in another region still applies.",
        &[KEY],
    ),
];
