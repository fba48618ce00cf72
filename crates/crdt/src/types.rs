//! What reads and writes report: key types, visible values, errors, conflicts.

use std::fmt;

use bytes::Bytes;

use crate::Stamp;

/// The type of a key's visible slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyType {
    /// LWW register (SET).
    Register,
    /// Multi-value register (MVSET).
    MvRegister,
    /// Counter (INCRBY).
    Counter,
    /// Set (SADD).
    Set,
    /// Hash (HSET).
    Hash,
    /// List (LPUSH, RPUSH).
    List,
    /// Collaborative text (TEXT.INSERT).
    Text,
    /// Sorted set (ZADD).
    ZSet,
    /// HyperLogLog (PFADD).
    Hll,
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::Register => "register",
            KeyType::MvRegister => "multi-value register",
            KeyType::Counter => "counter",
            KeyType::Set => "set",
            KeyType::Hash => "hash",
            KeyType::List => "list",
            KeyType::Text => "text",
            KeyType::ZSet => "sorted set",
            KeyType::Hll => "HyperLogLog",
        })
    }
}

/// A string key's value read in place, as GET reads it (`Keyspace::string_ref`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringRef<'a> {
    /// A register's bytes.
    Str(&'a Bytes),
    /// A counter's value.
    Int(i64),
}

/// A key's visible value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// LWW register.
    Str(Bytes),
    /// Counter.
    Int(i64),
    /// Set members, sorted.
    Set(Vec<Bytes>),
    /// Hash fields, sorted by field; counter fields rendered as decimal.
    Hash(Vec<(Bytes, Bytes)>),
    /// MV register siblings, sorted by stamp.
    Mv(Vec<Bytes>),
    /// List items, in order.
    List(Vec<Bytes>),
    /// Text.
    Text(String),
    /// Sorted set members with their scores' `f64` bits, in score order.
    ZSet(Vec<(Bytes, u64)>),
    /// A HyperLogLog's registers that are set, by register.
    Hll(Vec<crate::hll::Observation>),
}

/// Why a local write was refused. The state is unchanged after any of them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    /// The key's visible type does not take this command.
    #[error("the key holds a {found}, which this command does not take")]
    WrongType {
        /// The key's visible type.
        found: KeyType,
    },
    /// The result would not fit in a signed 64-bit integer.
    #[error("the increment or decrement would overflow a 64-bit integer")]
    Overflow,
    /// INCRBY/HINCRBY on a value that is not a canonical decimal integer.
    #[error("the value is not a decimal integer of 64 bits")]
    NotInteger,
    /// A list or text position past the end.
    #[error("the position is past the end")]
    OutOfRange,
    /// An insert of more elements than one op may carry.
    #[error("an insert of {0} elements is over the limit of one op")]
    TooLong(usize),
    /// A ZINCRBY whose result would not be a number (`+inf` plus `-inf`).
    #[error("the resulting score is not a number (NaN)")]
    NotANumber,
}

/// The kinds of conflict an op can reveal when applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConflictKind {
    /// An LWW write met entries it had not observed; the highest stamp wins.
    Lww,
    /// An MV register holds several siblings.
    MvSiblings,
    /// Several slots of one key are non-empty (types created concurrently).
    TypeClash,
    /// A hash field holds both a register value and a counter.
    FieldClash,
}

impl ConflictKind {
    /// A short label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictKind::Lww => "lww",
            ConflictKind::MvSiblings => "mv_siblings",
            ConflictKind::TypeClash => "type_clash",
            ConflictKind::FieldClash => "field_clash",
        }
    }
}

/// One conflict found while applying an op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// What kind.
    pub kind: ConflictKind,
    /// The hash field concerned, for field-level conflicts.
    pub field: Option<Bytes>,
    /// Stamps of the concurrent entries involved (for `Lww`: those the op had not observed;
    /// for `MvSiblings`: all siblings; for clashes: the newest of each non-empty slot).
    pub stamps: Vec<Stamp>,
}

/// What applying an op did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Conflicts found, in no particular order.
    pub conflicts: Vec<Conflict>,
    /// For a list or text: what a reader saw change, by position, in order (a DEL or SET
    /// reports the elements it removed). Empty for every other type.
    pub deltas: Vec<crate::seq::Delta>,
}
