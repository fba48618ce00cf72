//! HyperLogLog sketches, computed exactly as Redis computes them, so that PFADD's answer and
//! PFCOUNT's estimate are redis-server's for the same elements.
//!
//! An element hashes (MurmurHash64A, Redis's seed) to one of 16,384 registers, its low 14
//! bits, and a rank: one more than the number of zero bits that follow them, at most 51. A
//! register holds the highest rank seen; registers merge by maximum, which is what makes a
//! sketch a CRDT (commutative, associative, idempotent). The estimate is Ertl's improved
//! estimator over the registers' histogram, in the same `f64` operations in the same order
//! as Redis's `hllCount`, so it gives the same integer.
//!
//! A sketch is sparse (sorted `(register, rank)` pairs) while few registers are set, and
//! dense (6-bit registers packed as Redis packs them, 12,288 bytes) past
//! [`SPARSE_MAX_REGISTERS`], where the pairs would take as much room.

use serde::{Deserialize, Serialize};

/// The number of registers (`2^14`, Redis's `HLL_REGISTERS`).
pub const REGISTERS: usize = 1 << P;

/// The highest rank an element can have (Redis's `HLL_Q + 1`).
pub const MAX_RANK: u8 = (Q + 1) as u8;

/// Set registers past which a sketch turns dense.
pub const SPARSE_MAX_REGISTERS: usize = 3_072;

/// Register index bits.
const P: u32 = 14;
/// Hash bits left for the rank.
const Q: u32 = 64 - P;
/// Redis's `HLL_ALPHA_INF`, `0.5 / ln 2`.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
/// Bytes of the dense form: 16,384 registers of 6 bits.
const DENSE_BYTES: usize = REGISTERS * 6 / 8;

/// Where an element lands: its register and rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Observation {
    /// The register, below [`REGISTERS`].
    pub register: u16,
    /// The rank, `1..=MAX_RANK`.
    pub rank: u8,
}

impl Observation {
    /// The register and rank of `element`, as Redis's `hllPatLen` computes them.
    pub fn of(element: &[u8]) -> Observation {
        let hash = murmur_hash_64a(element, 0xadc8_3b19);
        // The low P bits pick the register; a bit set above the Q bits left bounds the rank.
        let register = (hash & (REGISTERS as u64 - 1)) as u16;
        let rest = (hash >> P) | (1 << Q);
        Observation {
            register,
            rank: rest.trailing_zeros() as u8 + 1,
        }
    }
}

/// MurmurHash64A, as Redis's copy of it computes it on a little-endian machine.
fn murmur_hash_64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut words = data.chunks_exact(8);
    for word in &mut words {
        let mut k = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// A HyperLogLog sketch: 16,384 registers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sketch {
    repr: Repr,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Repr {
    /// The set registers, sorted by register, ranks nonzero.
    Sparse(Vec<(u16, u8)>),
    /// Every register, 6 bits each, least significant bits first, as Redis's dense form.
    Dense(Box<[u8; DENSE_BYTES]>),
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch::new()
    }
}

impl Sketch {
    /// A sketch with every register zero.
    pub fn new() -> Sketch {
        Sketch {
            repr: Repr::Sparse(Vec::new()),
        }
    }

    /// The rank register `register` holds (0 for one past the end).
    pub fn get(&self, register: u16) -> u8 {
        match &self.repr {
            Repr::Sparse(pairs) => pairs
                .binary_search_by_key(&register, |&(r, _)| r)
                .map_or(0, |i| pairs[i].1),
            Repr::Dense(bytes) => dense_get(bytes, usize::from(register)),
        }
    }

    /// Raises the observation's register to its rank; whether the register changed. An
    /// observation out of range (only a forged one can be) changes nothing.
    pub fn raise(&mut self, o: Observation) -> bool {
        if usize::from(o.register) >= REGISTERS || o.rank == 0 || o.rank > MAX_RANK {
            return false;
        }
        match &mut self.repr {
            Repr::Sparse(pairs) => {
                match pairs.binary_search_by_key(&o.register, |&(r, _)| r) {
                    Ok(i) if pairs[i].1 >= o.rank => return false,
                    Ok(i) => pairs[i].1 = o.rank,
                    Err(i) => pairs.insert(i, (o.register, o.rank)),
                }
                if pairs.len() > SPARSE_MAX_REGISTERS {
                    self.densify();
                }
                true
            }
            Repr::Dense(bytes) => {
                let at = usize::from(o.register);
                if dense_get(bytes, at) >= o.rank {
                    return false;
                }
                dense_set(bytes, at, o.rank);
                true
            }
        }
    }

    /// Raises every register to `other`'s where it is higher; whether any changed.
    pub fn merge(&mut self, other: &Sketch) -> bool {
        if let (Repr::Dense(mine), Repr::Dense(theirs)) = (&mut self.repr, &other.repr) {
            return dense_merge(mine, theirs);
        }
        let mut changed = false;
        for o in other.observations() {
            changed |= self.raise(o);
        }
        changed
    }

    /// The registers that are set, as observations, by register.
    pub fn observations(&self) -> impl Iterator<Item = Observation> + '_ {
        let (sparse, dense) = match &self.repr {
            Repr::Sparse(pairs) => (Some(pairs.iter()), None),
            Repr::Dense(bytes) => (None, Some(bytes)),
        };
        let sparse = sparse
            .into_iter()
            .flatten()
            .map(|&(register, rank)| Observation { register, rank });
        // Four registers in every three bytes, least significant bits first.
        let dense = dense.into_iter().flat_map(|bytes| {
            bytes.chunks_exact(3).enumerate().flat_map(|(i, b)| {
                let word = u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
                (0..4u32).filter_map(move |j| {
                    let rank = (word >> (6 * j) & 0x3f) as u8;
                    (rank > 0).then_some(Observation {
                        register: (i * 4) as u16 + j as u16,
                        rank,
                    })
                })
            })
        });
        sparse.chain(dense)
    }

    /// How many registers are set.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Sparse(pairs) => pairs.len(),
            Repr::Dense(_) => self.observations().count(),
        }
    }

    /// Whether every register is zero.
    pub fn is_empty(&self) -> bool {
        match &self.repr {
            Repr::Sparse(pairs) => pairs.is_empty(),
            Repr::Dense(bytes) => bytes.iter().all(|&b| b == 0),
        }
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Sparse(pairs) => pairs.capacity() * std::mem::size_of::<(u16, u8)>(),
            Repr::Dense(_) => DENSE_BYTES,
        }
    }

    /// The estimated number of distinct elements observed: Redis's PFCOUNT.
    pub fn estimate(&self) -> u64 {
        let mut histogram = [0u32; 64];
        match &self.repr {
            Repr::Sparse(pairs) => {
                for &(_, rank) in pairs {
                    histogram[usize::from(rank & 0x3f)] += 1;
                }
                histogram[0] = (REGISTERS - pairs.len()) as u32;
            }
            // Four registers in every three bytes, least significant bits first.
            Repr::Dense(bytes) => {
                for b in bytes.chunks_exact(3) {
                    let word = u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
                    for shift in [0, 6, 12, 18] {
                        histogram[(word >> shift & 0x3f) as usize] += 1;
                    }
                }
            }
        }
        estimate(&histogram)
    }

    fn densify(&mut self) {
        let mut bytes = Box::new([0u8; DENSE_BYTES]);
        if let Repr::Sparse(pairs) = &self.repr {
            for &(register, rank) in pairs {
                dense_set(&mut bytes, usize::from(register), rank);
            }
        }
        self.repr = Repr::Dense(bytes);
    }
}

/// Raises every register of `mine` to `theirs`'s where it is higher, four registers (three
/// bytes) at a time; whether any rose.
fn dense_merge(mine: &mut [u8; DENSE_BYTES], theirs: &[u8; DENSE_BYTES]) -> bool {
    let mut changed = false;
    for (m, t) in mine.chunks_exact_mut(3).zip(theirs.chunks_exact(3)) {
        let a = u32::from(m[0]) | u32::from(m[1]) << 8 | u32::from(m[2]) << 16;
        let b = u32::from(t[0]) | u32::from(t[1]) << 8 | u32::from(t[2]) << 16;
        if a == b {
            continue;
        }
        let mut out = 0u32;
        for shift in [0, 6, 12, 18] {
            out |= (a >> shift & 0x3f).max(b >> shift & 0x3f) << shift;
        }
        if out != a {
            changed = true;
            m.copy_from_slice(&out.to_le_bytes()[..3]);
        }
    }
    changed
}

/// Register `at` of a dense sketch: 6 bits starting at bit `6 * at`.
fn dense_get(bytes: &[u8; DENSE_BYTES], at: usize) -> u8 {
    let bit = at * 6;
    let (byte, shift) = (bit / 8, bit % 8);
    let low = u16::from(bytes[byte]);
    let high = bytes.get(byte + 1).map_or(0, |&b| u16::from(b));
    (((low | high << 8) >> shift) & 0x3f) as u8
}

fn dense_set(bytes: &mut [u8; DENSE_BYTES], at: usize, rank: u8) {
    let bit = at * 6;
    let (byte, shift) = (bit / 8, bit % 8);
    let mask = 0x3fu16 << shift;
    let value = u16::from(rank & 0x3f) << shift;
    bytes[byte] = (u16::from(bytes[byte]) & !mask | value) as u8;
    if let Some(next) = bytes.get_mut(byte + 1) {
        *next = ((u16::from(*next) << 8 & !mask | value) >> 8) as u8;
    }
}

/// Ertl's improved estimator over a register histogram (`histogram[r]` registers hold rank
/// `r`), in Redis's `hllCount` order of operations.
fn estimate(histogram: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - f64::from(histogram[q + 1])) / m);
    for j in (1..=q).rev() {
        z += f64::from(histogram[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histogram[0]) / m);
    // `llroundl` of a double: half away from zero, which `f64::round` is.
    (ALPHA_INF * m * m / z).round() as u64
}

/// Ertl's sigma, for the share of registers that are zero.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

/// Ertl's tau, for the share of registers below the highest rank.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        // Redis's `pow(1 - x, 2)`, which compilers fold into this one multiplication.
        let d = 1.0 - x;
        z -= d * d * y;
        if before == z {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_registers_round_trip_at_every_bit_offset() {
        let mut s = Sketch::new();
        s.densify();
        for at in 0..REGISTERS {
            let rank = (at % 63 + 1) as u8;
            if let Repr::Dense(bytes) = &mut s.repr {
                dense_set(bytes, at, rank);
            }
        }
        for at in 0..REGISTERS {
            assert_eq!(s.get(at as u16), (at % 63 + 1) as u8, "register {at}");
        }
    }

    #[test]
    fn dense_sketches_merge_as_register_by_register_raises() {
        let fill = |seed: u64| {
            let mut s = Sketch::new();
            let mut x = seed;
            for _ in 0..12_000 {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                s.raise(Observation {
                    register: (x >> 33) as u16 % REGISTERS as u16,
                    rank: (x >> 20) as u8 % MAX_RANK + 1,
                });
            }
            s
        };
        let (a, b) = (fill(1), fill(2));
        assert!(matches!(a.repr, Repr::Dense(_)) && matches!(b.repr, Repr::Dense(_)));
        let mut fast = a.clone();
        assert!(fast.merge(&b));
        let mut slow = a.clone();
        for o in b.observations() {
            slow.raise(o);
        }
        assert!(fast.observations().eq(slow.observations()));
        assert!(!fast.merge(&b), "a second merge changes nothing");
    }

    #[test]
    fn an_empty_sketch_counts_zero() {
        assert_eq!(Sketch::new().estimate(), 0);
    }
}
