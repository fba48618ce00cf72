//! HyperLogLog, with Redis 7's metadata.

use super::{KEY, KEYS, cmd};
use crate::command::{Arg, CommandSpec};

pub(super) const COMMANDS: &[CommandSpec] = &[
    cmd(
        "pfadd",
        -2,
        &["write", "denyoom", "fast"],
        [1, 1, 1],
        &["write", "hyperloglog", "fast"],
        "hyperloglog",
        "2.8.9",
        "Adds elements to a HyperLogLog; concurrent adds at other regions all count.",
        &[KEY, Arg::string("element").optional().multiple()],
    ),
    cmd(
        "pfcount",
        -2,
        &["readonly"],
        [1, -1, 1],
        &["read", "hyperloglog", "slow"],
        "hyperloglog",
        "2.8.9",
        "Returns the approximate number of distinct elements added to HyperLogLogs.",
        &[KEYS],
    ),
    cmd(
        "pfmerge",
        -2,
        &["write", "denyoom"],
        [1, -1, 1],
        &["write", "hyperloglog", "slow"],
        "hyperloglog",
        "2.8.9",
        "Merges HyperLogLogs into one, as this region holds them.",
        &[Arg::key("destkey"), Arg::key("sourcekey").multiple()],
    ),
];
