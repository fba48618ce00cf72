//! The client workload: writes of every key type at every leader, drawn from the seed.
//!
//! Key families keep one type per key (`r` registers, `c` counters, `s` sets, `h` hashes,
//! `m` MV registers, `l` lists, `t` texts, `e` registers with deadlines, `z` sorted sets, `p`
//! HyperLogLogs, `u` registers written in units) so
//! that the model in
//! [`crate::model`] can predict their values; the key `x` is written with several types on
//! purpose, to exercise type clashes, and is checked by convergence only.
//!
//! List items and text characters are unique to the write that inserts them (`v{n}.{i}`, and
//! one code point per write and offset), so the model can tell every element in a value.

use bytes::Bytes;
use meridian_crdt::hll::Observation;
use meridian_crdt::seq::{Items, Text};
use meridian_crdt::{Command, Keyspace, Score, Splice};
use rand::Rng;

/// Keys per family.
const KEYS: u32 = 4;

/// Family of a key, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// LWW registers.
    Register,
    /// Counters.
    Counter,
    /// Sets.
    Set,
    /// Hashes: LWW fields `f*`, counter fields `n*`.
    Hash,
    /// MV registers.
    Mv,
    /// Lists.
    List,
    /// Texts.
    Text,
    /// Registers written with deadlines (SET EX, EXPIRE, PERSIST, SET KEEPTTL), a second or
    /// two ahead of the writer's clock.
    Expiring,
    /// Sorted sets: ZADD, ZINCRBY (with fractions, whose sums round), ZREM, DEL.
    ZSet,
    /// HyperLogLogs: PFADD (of no element now and then), DEL.
    Hll,
    /// Registers written two or three at a time in one unit (as MSET or a transaction
    /// writes them), which every region must apply together.
    Unit,
    /// Written with several types: convergence only.
    Clash,
}

impl Family {
    /// The family a key belongs to.
    pub fn of(key: &[u8]) -> Family {
        match key.first() {
            Some(b'r') => Family::Register,
            Some(b'c') => Family::Counter,
            Some(b's') => Family::Set,
            Some(b'h') => Family::Hash,
            Some(b'm') => Family::Mv,
            Some(b'l') => Family::List,
            Some(b't') => Family::Text,
            Some(b'e') => Family::Expiring,
            Some(b'z') => Family::ZSet,
            Some(b'p') => Family::Hll,
            Some(b'u') => Family::Unit,
            _ => Family::Clash,
        }
    }
}

/// Write number `n` as a unit of two or three SETs of distinct `u` keys, as an MSET makes.
pub fn unit_write(rng: &mut impl Rng, n: u64) -> Vec<(Bytes, Command)> {
    let count = rng.random_range(2..=3u32);
    let first = rng.random_range(0..KEYS);
    (0..count)
        .map(|i| {
            let key = Bytes::from(format!("u{}", (first + i) % KEYS));
            (key, Command::Set(Bytes::from(format!("v{n}.{i}"))))
        })
        .collect()
}

/// Write number `n` as a SET of a register, valid whatever the key holds.
pub fn set_write(n: u64) -> (Bytes, Command) {
    (
        Bytes::from(format!("r{}", n % u64::from(KEYS))),
        Command::Set(Bytes::from(format!("v{n}"))),
    )
}

/// The character write number `n` inserts at offset `i` (`i < 4`): a CJK ideograph of the
/// supplementary plane, unique among the first 10,000 writes.
pub fn text_char(n: u64, i: u64) -> char {
    let code = 0x2_0000 + ((n * 4 + i) % 0xA6D0) as u32;
    char::from_u32(code).unwrap_or('?')
}

/// The length of the list or text at `key` in `keyspace` (0 for any other key, or none).
fn sequence_len(keyspace: Option<&Keyspace>, key: &[u8]) -> u64 {
    let Some(ks) = keyspace else { return 0 };
    let list = ks.list(key).ok().flatten().map(|l| l.len());
    let text = ks.text(key).ok().flatten().map(|t| t.len());
    list.or(text).unwrap_or(0)
}

/// Draws write number `n`; `keyspace` is the writing node's (`None` when it is down), whose
/// lists and texts the edits name positions in.
pub fn next_write(rng: &mut impl Rng, n: u64, keyspace: Option<&Keyspace>) -> (Bytes, Command) {
    let len_of = |key: &[u8]| sequence_len(keyspace, key);
    let k = rng.random_range(0..KEYS);
    let key = |p: char| Bytes::from(format!("{p}{k}"));
    let value = Bytes::from(format!("v{n}"));
    match rng.random_range(0..100u32) {
        81..=83 => {
            if rng.random_ratio(1, 10) {
                return (key('p'), Command::Del);
            }
            // Few elements of few names, so that ops meet on registers.
            let count = rng.random_range(0..=3u32);
            let elements = (0..count)
                .map(|_| Observation::of(format!("e{}", rng.random_range(0..40u32)).as_bytes()))
                .collect();
            (key('p'), Command::PfAdd(elements))
        }
        70..=80 => {
            let key = key('l');
            let command = list_write(rng, n, len_of(&key));
            (key, command)
        }
        84..=93 => {
            let key = key('t');
            let command = text_write(rng, n, len_of(&key));
            (key, command)
        }
        0..=13 => {
            if rng.random_ratio(1, 10) {
                (key('r'), Command::Del)
            } else {
                (key('r'), Command::Set(value))
            }
        }
        14..=27 => match rng.random_range(0..12i64) {
            0 => (key('c'), Command::Del),
            d => (key('c'), Command::IncrBy(d - 4)),
        },
        28..=43 => {
            let count = rng.random_range(1..=2);
            let members: Vec<Bytes> = (0..count)
                .map(|_| Bytes::from(format!("e{}", rng.random_range(0..6u32))))
                .collect();
            match rng.random_range(0..10u32) {
                0 => (key('s'), Command::Del),
                1..=3 => (key('s'), Command::SRem(members)),
                _ => (key('s'), Command::SAdd(members)),
            }
        }
        // One sorted set key, two members: enough increments meet on one member for the
        // order of their sum to matter.
        54..=59 => (Bytes::from_static(b"z0"), zset_write(rng)),
        44..=53 => {
            let field = Bytes::from(format!("f{}", rng.random_range(0..4u32)));
            match rng.random_range(0..12u32) {
                0 => (key('h'), Command::Del),
                1 | 2 => (key('h'), Command::HDel(vec![field])),
                3..=5 => (
                    key('h'),
                    Command::HIncrBy {
                        field: Bytes::from(format!("n{}", rng.random_range(0..2u32))),
                        by: rng.random_range(-2..5i64),
                    },
                ),
                _ => (key('h'), Command::HSet(vec![(field, value)])),
            }
        }
        60..=69 => {
            if rng.random_ratio(1, 10) {
                (key('m'), Command::Del)
            } else {
                (key('m'), Command::MvSet { value, ctx: None })
            }
        }
        94..=96 => {
            // Deadlines a little ahead of the writer's clock (as it last saw it), so that
            // they pass during the run, at different times at differently skewed nodes.
            let at = keyspace.map_or(0, Keyspace::clock) + rng.random_range(1..2_000u64);
            let command = match rng.random_range(0..10u32) {
                0 => Command::Del,
                1 => Command::Set(value),
                2 => Command::Expire(None),
                3 => Command::SetTimed { value, at: None },
                4..=5 => Command::Expire(Some(at)),
                _ => Command::SetTimed {
                    value,
                    at: Some(at),
                },
            };
            (key('e'), command)
        }
        _ => {
            let x = Bytes::from_static(b"x");
            match rng.random_range(0..6u32) {
                0 => (x, Command::Set(value)),
                1 => (x, Command::IncrBy(1)),
                2 => (x, Command::SAdd(vec![value])),
                3 => (
                    x,
                    list(Vec::new(), Some((0, vec![Bytes::from(format!("v{n}.0"))]))),
                ),
                4 => (x, text(Vec::new(), Some((0, text_char(n, 0).to_string())))),
                _ => (x, Command::Del),
            }
        }
    }
}

/// Increments whose sums round differently in different orders, and scores to set.
const SCORES: [f64; 6] = [0.1, 0.2, 0.7, -0.3, 1.5, 1e16];

/// A sorted set write: mostly increments, so that concurrent ones must all count and sum to the
/// same bits everywhere.
fn zset_write(rng: &mut impl Rng) -> Command {
    let member = Bytes::from(format!("z{}", rng.random_range(0..2u32)));
    let score = Score::new(SCORES[rng.random_range(0..SCORES.len())]);
    match rng.random_range(0..12u32) {
        0 => Command::Del,
        1 | 2 => Command::ZRem(vec![member]),
        3..=5 => Command::ZAdd(vec![(member, score)]),
        _ => Command::ZIncrBy { member, by: score },
    }
}

fn list(delete: Vec<(u64, u64)>, insert: Option<(u64, Vec<Bytes>)>) -> Command {
    Command::List(Splice {
        delete,
        insert: insert.map(|(at, items)| (at, Items(items))),
    })
}

fn text(delete: Vec<(u64, u64)>, insert: Option<(u64, String)>) -> Command {
    Command::Text(Splice {
        delete,
        insert: insert.map(|(at, t)| (at, Text(t))),
    })
}

/// A list write on a list of `len` items: pushes at either end or inside, pops, an LSET, an
/// LREM of scattered items, or a DEL.
fn list_write(rng: &mut impl Rng, n: u64, len: u64) -> Command {
    let items = |count: u64| -> Vec<Bytes> {
        (0..count)
            .map(|i| Bytes::from(format!("v{n}.{i}")))
            .collect()
    };
    let count = rng.random_range(1..=3u64);
    match rng.random_range(0..20u32) {
        0 => Command::Del,
        1..=3 if len > 0 => list(vec![(0, 1)], None),
        4..=5 if len > 0 => list(vec![(len - 1, 1)], None),
        6..=7 if len > 0 => {
            let at = rng.random_range(0..len);
            list(vec![(at, 1)], Some((at, items(1))))
        }
        8 if len > 1 => {
            let a = rng.random_range(0..len);
            let b = rng.random_range(0..len);
            list(vec![(a.min(b), 1), (a.max(b), 1)], None)
        }
        9..=11 => list(Vec::new(), Some((0, items(count)))),
        12..=14 => list(Vec::new(), Some((rng.random_range(0..=len), items(count)))),
        _ => list(Vec::new(), Some((len, items(count)))),
    }
}

/// A text edit on a text of `len` characters: typing, deleting a range, replacing one, or a
/// DEL.
fn text_write(rng: &mut impl Rng, n: u64, len: u64) -> Command {
    let count = rng.random_range(1..=3u64);
    let typed: String = (0..count).map(|i| text_char(n, i)).collect();
    let at = rng.random_range(0..=len);
    match rng.random_range(0..20u32) {
        0 => Command::Del,
        1..=5 if len > 0 => {
            let from = rng.random_range(0..len);
            let span = rng.random_range(1..=(len - from).min(4));
            text(vec![(from, span)], None)
        }
        6..=7 if len > 0 => {
            let from = rng.random_range(0..len);
            text(vec![(from, 1)], Some((from, typed)))
        }
        _ => text(Vec::new(), Some((at, typed))),
    }
}
