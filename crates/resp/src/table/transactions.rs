//! Transactions, with Redis 7's metadata.

use super::{ALL_KEYS, KEYS, NO_KEYS, cmd};
use crate::command::CommandSpec;

const TX_FLAGS: &[&str] = &["noscript", "loading", "stale", "fast", "allow_busy"];
const TX_FAST: &[&str] = &["fast", "transaction"];

pub(super) const COMMANDS: &[CommandSpec] = &[
    cmd(
        "multi",
        1,
        TX_FLAGS,
        NO_KEYS,
        TX_FAST,
        "transactions",
        "1.2.0",
        "Starts a transaction: the commands that follow are queued until EXEC.",
        &[],
    ),
    cmd(
        "exec",
        1,
        &["noscript", "loading", "stale", "skip_slowlog"],
        NO_KEYS,
        &["slow", "transaction"],
        "transactions",
        "1.2.0",
        "Runs the queued commands as one unit, which every region applies all at once.",
        &[],
    ),
    cmd(
        "discard",
        1,
        TX_FLAGS,
        NO_KEYS,
        TX_FAST,
        "transactions",
        "2.0.0",
        "Discards the queued commands.",
        &[],
    ),
    cmd(
        "watch",
        -2,
        TX_FLAGS,
        ALL_KEYS,
        TX_FAST,
        "transactions",
        "2.2.0",
        "Makes the next EXEC run only if these keys have not changed at this region.",
        &[KEYS],
    ),
    cmd(
        "unwatch",
        1,
        TX_FLAGS,
        NO_KEYS,
        TX_FAST,
        "transactions",
        "2.2.0",
        "Forgets the watched keys.",
        &[],
    ),
];
