//! The client workload: writes of every key type at every leader, drawn from the seed.
//!
//! Key families keep one type per key (`r` registers, `c` counters, `s` sets, `h` hashes,
//! `m` MV registers) so that the model in [`crate::model`] can predict their values; the key
//! `x` is written with several types on purpose, to exercise type clashes, and is checked by
//! convergence only.

use bytes::Bytes;
use meridian_crdt::Command;
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
            _ => Family::Clash,
        }
    }
}

/// Write number `n` as a SET of a register, valid whatever the key holds.
pub fn set_write(n: u64) -> (Bytes, Command) {
    (
        Bytes::from(format!("r{}", n % u64::from(KEYS))),
        Command::Set(Bytes::from(format!("v{n}"))),
    )
}

/// Draws write number `n`.
pub fn next_write(rng: &mut impl Rng, n: u64) -> (Bytes, Command) {
    let k = rng.random_range(0..KEYS);
    let key = |p: char| Bytes::from(format!("{p}{k}"));
    let value = Bytes::from(format!("v{n}"));
    match rng.random_range(0..100u32) {
        0..=17 => {
            if rng.random_ratio(1, 10) {
                (key('r'), Command::Del)
            } else {
                (key('r'), Command::Set(value))
            }
        }
        18..=35 => match rng.random_range(0..12i64) {
            0 => (key('c'), Command::Del),
            d => (key('c'), Command::IncrBy(d - 4)),
        },
        36..=55 => {
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
        56..=77 => {
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
        78..=93 => {
            if rng.random_ratio(1, 10) {
                (key('m'), Command::Del)
            } else {
                (key('m'), Command::MvSet { value, ctx: None })
            }
        }
        _ => {
            let x = Bytes::from_static(b"x");
            match rng.random_range(0..4u32) {
                0 => (x, Command::Set(value)),
                1 => (x, Command::IncrBy(1)),
                2 => (x, Command::SAdd(vec![value])),
                _ => (x, Command::Del),
            }
        }
    }
}
