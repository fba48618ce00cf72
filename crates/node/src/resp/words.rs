//! Redis's words for what the core crates report: type names as TYPE gives them, and the
//! error replies redis-server sends for the same refusals. The crdt and replica crates say
//! what happened in the domain's terms; only this file speaks Redis.

use meridian_crdt::{KeyType, PrepareError};
use meridian_replica::WriteError;
use meridian_resp::Reply;

use crate::NodeError;

/// The name TYPE reports (counters are strings in Redis).
pub(crate) fn type_name(key_type: KeyType) -> &'static str {
    match key_type {
        KeyType::Register | KeyType::Counter | KeyType::Hll => "string",
        KeyType::MvRegister => "mvreg",
        KeyType::Set => "set",
        KeyType::Hash => "hash",
        KeyType::List => "list",
        KeyType::Text => "text",
        KeyType::ZSet => "zset",
    }
}

/// Redis's reply to a refused write.
pub(crate) fn write_error(error: &WriteError) -> Reply {
    // Redis's code, then the domain's words where Redis has none of its own.
    Reply::error(match error {
        WriteError::Recovering(_) => format!("TRYAGAIN {error}"),
        WriteError::StoreFailed(_) => format!("MISCONF {error}"),
        WriteError::ReadOnly => "READONLY You can't write against a read only replica.".into(),
        WriteError::TooLong { .. } => format!("ERR {error}"),
        WriteError::Prepare(refused) => return prepare_error(refused),
    })
}

/// Redis's reply to a command that does not fit the key's value.
pub(crate) fn prepare_error(error: &PrepareError) -> Reply {
    Reply::error(match error {
        PrepareError::WrongType { .. } => {
            "WRONGTYPE Operation against a key holding the wrong kind of value".into()
        }
        PrepareError::Overflow => "ERR increment or decrement would overflow".into(),
        PrepareError::NotInteger => "ERR value is not an integer or out of range".into(),
        PrepareError::OutOfRange => "ERR index out of range".into(),
        PrepareError::TooLong(n) => format!("ERR insert of {n} elements is over the limit"),
        PrepareError::NotANumber => "ERR resulting score is not a number (NaN)".into(),
    })
}

/// Redis's reply to a write that failed before or after it was made.
pub(crate) fn node_error(error: &NodeError) -> Reply {
    match error {
        NodeError::Write(e) => write_error(e),
        NodeError::ShutDown => Reply::error("ERR the node shut down before the write was durable"),
    }
}

#[cfg(test)]
mod tests {
    use meridian_replica::HistoryWait;

    use super::*;

    fn text(reply: Reply) -> String {
        match reply {
            Reply::Error(text) => text,
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn refusals_carry_redis_codes_and_redis_wording() {
        let wait = HistoryWait {
            neighbours: vec![(meridian_crdt::ActorId(2), "virginia".into())],
            known: 0,
            held: 0,
        };
        let cases = [
            (
                WriteError::Recovering(wait),
                "TRYAGAIN this region is recovering",
            ),
            (WriteError::StoreFailed("disk full".into()), "MISCONF "),
            (
                WriteError::ReadOnly,
                "READONLY You can't write against a read only replica.",
            ),
            (
                WriteError::TooLong {
                    what: "key",
                    len: 70_000,
                    limit: 65_536,
                },
                "ERR key of 70000 bytes is over the limit of 65536 bytes",
            ),
            (
                WriteError::Prepare(PrepareError::WrongType {
                    found: KeyType::Set,
                }),
                "WRONGTYPE Operation against a key holding the wrong kind of value",
            ),
            (
                PrepareError::Overflow.into(),
                "ERR increment or decrement would overflow",
            ),
            (
                PrepareError::NotInteger.into(),
                "ERR value is not an integer or out of range",
            ),
            (PrepareError::OutOfRange.into(), "ERR index out of range"),
            (
                PrepareError::NotANumber.into(),
                "ERR resulting score is not a number (NaN)",
            ),
        ];
        for (error, expected) in cases {
            let reply = text(write_error(&error));
            assert!(reply.starts_with(expected), "{error:?}: {reply}");
        }
        assert!(
            text(write_error(&WriteError::StoreFailed("disk full".into()))).ends_with("disk full")
        );
    }

    #[test]
    fn counters_are_strings_to_type() {
        assert_eq!(type_name(KeyType::Counter), "string");
        assert_eq!(type_name(KeyType::Register), "string");
        assert_eq!(type_name(KeyType::ZSet), "zset");
    }
}
