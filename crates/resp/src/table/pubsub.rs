//! Pub/sub, with Redis 7's metadata.

use super::{NO_KEYS, cmd, container};
use crate::command::{Arg, CommandSpec};

const SUBSCRIBE_FLAGS: &[&str] = &["pubsub", "noscript", "loading", "stale"];
const SLOW: &[&str] = &["pubsub", "slow"];
const CHANNELS: Arg = Arg::string("channel").multiple();
const PATTERNS: Arg = Arg::pattern("pattern").multiple();

const PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    cmd(
        "pubsub|channels",
        -2,
        &["pubsub", "loading", "stale"],
        NO_KEYS,
        SLOW,
        "pubsub",
        "2.8.0",
        "Returns the channels this region's clients subscribe to.",
        &[Arg::pattern("pattern").optional()],
    ),
    cmd(
        "pubsub|numsub",
        -2,
        &["pubsub", "loading", "stale"],
        NO_KEYS,
        SLOW,
        "pubsub",
        "2.8.0",
        "Returns the number of this region's subscribers of each channel.",
        &[Arg::string("channel").optional().multiple()],
    ),
    cmd(
        "pubsub|numpat",
        2,
        &["pubsub", "loading", "stale"],
        NO_KEYS,
        SLOW,
        "pubsub",
        "2.8.0",
        "Returns the number of patterns this region's clients subscribe to.",
        &[],
    ),
];

pub(super) const COMMANDS: &[CommandSpec] = &[
    cmd(
        "subscribe",
        -2,
        SUBSCRIBE_FLAGS,
        NO_KEYS,
        SLOW,
        "pubsub",
        "2.0.0",
        "Listens for messages published to channels, at any region.",
        &[CHANNELS],
    ),
    cmd(
        "psubscribe",
        -2,
        SUBSCRIBE_FLAGS,
        NO_KEYS,
        SLOW,
        "pubsub",
        "2.0.0",
        "Listens for messages published to channels that match patterns, at any region.",
        &[PATTERNS],
    ),
    cmd(
        "unsubscribe",
        -1,
        SUBSCRIBE_FLAGS,
        NO_KEYS,
        SLOW,
        "pubsub",
        "2.0.0",
        "Stops listening to channels (all of them without an argument).",
        &[Arg::string("channel").optional().multiple()],
    ),
    cmd(
        "punsubscribe",
        -1,
        SUBSCRIBE_FLAGS,
        NO_KEYS,
        SLOW,
        "pubsub",
        "2.0.0",
        "Stops listening to patterns (all of them without an argument).",
        &[Arg::pattern("pattern").optional().multiple()],
    ),
    cmd(
        "publish",
        3,
        &["pubsub", "loading", "stale", "fast"],
        NO_KEYS,
        &["pubsub", "fast"],
        "pubsub",
        "2.0.0",
        "Posts a message to a channel: every region's subscribers get it once, best effort.",
        &[Arg::string("channel"), Arg::string("message")],
    ),
    container(
        cmd(
            "pubsub",
            -2,
            &[],
            NO_KEYS,
            &["slow"],
            "pubsub",
            "2.8.0",
            "A container for pub/sub introspection commands.",
            &[],
        ),
        PUBSUB_SUBCOMMANDS,
    ),
];
