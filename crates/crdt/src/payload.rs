//! Commands (what a client asks) and payloads (the replicated effect of one write on one key).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::hll::Observation;
use crate::seq::{Items, Text};
use crate::seqslot::{SeqEdit, Splice};
use crate::{Dot, Score, VersionVector};

/// What a client asks for; `Keyspace::prepare` turns it into a `Payload` from current state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// SET: overwrite the key, whatever its type.
    Set(Bytes),
    /// MVSET: write a multi-value register, resolving the siblings `ctx` observed (a causal
    /// token from an earlier MVGET); without one, every sibling this replica has applied.
    MvSet {
        /// The value.
        value: Bytes,
        /// The context the client read; clamped to what this replica has applied.
        ctx: Option<VersionVector>,
    },
    /// INCRBY / DECRBY.
    IncrBy(i64),
    /// SADD.
    SAdd(Vec<Bytes>),
    /// SREM.
    SRem(Vec<Bytes>),
    /// HSET of field/value pairs (a repeated field: the last value wins).
    HSet(Vec<(Bytes, Bytes)>),
    /// HDEL.
    HDel(Vec<Bytes>),
    /// HINCRBY.
    HIncrBy {
        /// The field.
        field: Bytes,
        /// The increment.
        by: i64,
    },
    /// DEL.
    Del,
    /// A list edit: LPUSH, RPUSH, LINSERT, LSET, LPOP, LREM, LTRIM … as deletes and an
    /// insert at positions.
    List(Splice<Items>),
    /// A text edit.
    Text(Splice<Text>),
    /// SET with a deadline: `Some(at)` sets it (EX, PX, EXAT, PXAT: wall-clock milliseconds
    /// since the Unix epoch), `None` keeps the key's (KEEPTTL).
    SetTimed {
        /// The value.
        value: Bytes,
        /// The deadline, or `None` to keep the key's.
        at: Option<u64>,
    },
    /// EXPIRE and its kin (`Some(at)`), PERSIST (`None`).
    Expire(Option<u64>),
    /// ZADD: set each member's score (a repeated member: the last score wins).
    ZAdd(Vec<(Bytes, Score)>),
    /// ZINCRBY.
    ZIncrBy {
        /// The member.
        member: Bytes,
        /// The increment.
        by: Score,
    },
    /// ZREM.
    ZRem(Vec<Bytes>),
    /// PFADD and PFMERGE: the registers the elements (or the sketches merged) reach.
    PfAdd(Vec<Observation>),
}

/// One member written by ZADD.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreWrite {
    /// The member.
    pub member: Bytes,
    /// Its new score.
    pub score: Score,
}

/// One field written by HSET.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldWrite {
    /// The field.
    pub field: Bytes,
    /// Its new value.
    pub value: Bytes,
}

/// The replicated effect of one write on one key. Every variant first removes (in the slots
/// it names) the entries whose dots the op's `deps` cover, then adds its own, tagged with the
/// op's dot and HLC.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// SET: clears every slot of the key (counter increments included), then adds an LWW
    /// register entry.
    Set {
        /// The value.
        value: Bytes,
    },
    /// MVSET: removes the MV siblings `ctx` covers (`None`: `deps`; always clamped to `deps`),
    /// then adds a sibling.
    MvSet {
        /// The value.
        value: Bytes,
        /// The resolving context.
        ctx: Option<VersionVector>,
    },
    /// INCRBY: adds the increment `by` as its own counter entry. With `from`, first converts the LWW
    /// register entry `from` (holding an integer) into the counter and removes the register
    /// entries `deps` cover.
    IncrBy {
        /// The increment.
        by: i64,
        /// The register entry converted, if any.
        from: Option<Dot>,
    },
    /// SADD: each member's observed tags are replaced by the op's tag.
    SAdd(Vec<Bytes>),
    /// SREM: each member's observed tags are removed.
    SRem(Vec<Bytes>),
    /// HSET: each field is overwritten like SET overwrites a key.
    HSet(Vec<FieldWrite>),
    /// HDEL: each field's observed register entries and counter increments are removed.
    HDel(Vec<Bytes>),
    /// HINCRBY: INCRBY on one field.
    HIncrBy {
        /// The field.
        field: Bytes,
        /// The increment.
        by: i64,
        /// The field's register entry converted, if any.
        from: Option<Dot>,
    },
    /// DEL: clears every slot of the key (a list's or text's observed elements become
    /// tombstones).
    #[default]
    Del,
    /// A list edit.
    List(SeqEdit<Items>),
    /// A text edit.
    Text(SeqEdit<Text>),
    /// EXPIRE and PERSIST: replaces the deadlines `deps` cover with one at `at` (wall-clock
    /// milliseconds since the Unix epoch), or with one that never passes (PERSIST).
    Expire {
        /// The new deadline.
        at: Option<u64>,
        /// The floor of the deadlines the writer replaced (`None`: it replaced none).
        floor: Option<VersionVector>,
    },
    /// A write that sets or keeps the key's deadline (SET EX, SET KEEPTTL, and every write to
    /// a key with a TTL that keeps it, as INCR or SADD do): applies `write`, then replaces the
    /// deadlines `deps` cover with one at `at`, whose context covers `write` too. A `write`
    /// that is itself `Timed` (only a forged op holds one) changes nothing.
    Timed {
        /// The write.
        write: Box<Payload>,
        /// The deadline.
        at: u64,
        /// The floor of the deadlines the writer replaced (`None`: it replaced none, or the
        /// write is a SET, which removes everything they covered).
        floor: Option<VersionVector>,
    },
    /// The removal of an expired deadline, issued by a region whose clock passed it: removes
    /// from every slot, deadlines included, what `ctx` (the deadline's context) covers, as a
    /// DEL whose `deps` were `ctx` would.
    Reap {
        /// The expired deadline's context.
        ctx: VersionVector,
    },
    /// ZADD: each member's observed score entries are replaced by one holding its score.
    ZAdd(Vec<ScoreWrite>),
    /// ZINCRBY: adds an increment to the member's score (and the member, if absent); it
    /// removes nothing, so concurrent increments all count.
    ZIncrBy {
        /// The member.
        member: Bytes,
        /// The increment.
        by: Score,
    },
    /// ZREM: each member's observed score entries are removed.
    ZRem(Vec<Bytes>),
    /// PFADD and PFMERGE: adds an entry holding the registers its elements (or the sketches
    /// merged) reach, every one of them, and removes nothing (`hllslot`).
    PfAdd(Vec<Observation>),
}
