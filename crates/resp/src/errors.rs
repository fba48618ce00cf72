//! Redis's error replies, in Redis's words, for the handlers to share: a client (and
//! redis-py's exception mapping) tells errors apart by their code and text, so each is
//! written once, here.

use crate::Reply;

/// An option or argument the command does not take.
pub fn syntax() -> Reply {
    Reply::error("ERR syntax error")
}

/// An argument that is not a canonical 64-bit integer, or a stored value that is not one.
pub fn not_an_integer() -> Reply {
    Reply::error("ERR value is not an integer or out of range")
}

/// HINCRBY of a field that holds no integer.
pub fn hash_value_not_an_integer() -> Reply {
    Reply::error("ERR hash value is not an integer")
}

/// A command against a key of another type.
pub fn wrong_type() -> Reply {
    Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value")
}

/// A count of arguments the command does not take (beyond its arity, as MSET's odd count).
pub fn wrong_arity(command: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{command}' command"
    ))
}

/// An index outside a list (LSET).
pub fn index_out_of_range() -> Reply {
    Reply::error("ERR index out of range")
}

/// A command on a key that must exist (LSET).
pub fn no_such_key() -> Reply {
    Reply::error("ERR no such key")
}

/// A SCAN cursor that is not a number.
pub fn invalid_cursor() -> Reply {
    Reply::error("ERR invalid cursor")
}

/// A negative timeout (WAIT, the blocking pops).
pub fn timeout_negative() -> Reply {
    Reply::error("ERR timeout is negative")
}

/// A blocking pop's timeout that is not a number of seconds.
pub fn timeout_not_a_float() -> Reply {
    Reply::error("ERR timeout is not a float or out of range")
}

/// A count that must be positive (LPOP's, RPOP's).
pub fn must_be_positive() -> Reply {
    Reply::error("ERR value is out of range, must be positive")
}

/// A command before AUTH on a server with a password.
pub fn noauth() -> Reply {
    Reply::error("NOAUTH Authentication required.")
}

/// AUTH with a wrong password.
pub fn wrongpass() -> Reply {
    Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
}

/// HELLO with a protocol other than 2 or 3.
pub fn noproto() -> Reply {
    Reply::error("NOPROTO unsupported protocol version")
}

/// SELECT of a database other than 0.
pub fn db_index_out_of_range() -> Reply {
    Reply::error("ERR DB index is out of range")
}

/// A time to live or expiry time out of range (`command` in lower case, as Redis names it).
pub fn invalid_expire_time(command: &str) -> Reply {
    Reply::error(format!("ERR invalid expire time in '{command}' command"))
}

/// EXPIRE's conditions that cannot go together.
pub fn expire_nx_and_others() -> Reply {
    Reply::error("ERR NX and XX, GT or LT options at the same time are not compatible")
}

/// EXPIRE with both GT and LT.
pub fn expire_gt_and_lt() -> Reply {
    Reply::error("ERR GT and LT options at the same time are not compatible")
}

/// EXPIRE with an option it does not know.
pub fn unsupported_option(option: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR Unsupported option {}",
        String::from_utf8_lossy(option)
    ))
}
