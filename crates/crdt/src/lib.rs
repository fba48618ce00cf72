//! Meridian's values and merges. Every write is an operation with a globally unique dot
//! `(origin actor, seq)`, an HLC stamp and `deps`, the origin's applied version vector when it
//! wrote; the replica layer delivers each op exactly once and only after everything in its
//! `deps`. A key's state is a set of entries tagged with the dot and HLC of the op that made
//! them, one slot per type (LWW register, MV register, counter, set, hash, list, text, sorted set: list and
//! text a [`seq::Sequence`] whose elements are named by the dots that inserted them). An op removes the
//! entries its `deps` cover (what its writer had observed) and adds its own, so a concurrent
//! write is never lost, no per-key clocks are needed, and metadata per key is bounded by the
//! number of regions, not of clients. Counter increments are entries too, merged per actor once
//! causally stable (`Keyspace::compact`). The same states join state-based (`Keyspace::merge`) given both sides'
//! applied vectors, and hash canonically into an incrementally maintained digest, so replicas
//! that applied the same ops have equal digests. The canonical bytes the digest hashes are
//! also the storage and snapshot encoding of a key (`Keyspace::encode_key`,
//! `Keyspace::load_key`). See `docs/data-model.md` for the rules.

#![warn(missing_docs)]

mod codec;
mod counter;
mod digest;
mod dots;
mod expiry;
pub mod hll;
mod hllslot;
mod ids;
mod index;
mod key;
mod keyspace;
mod long_double;
mod payload;
mod scalar;
pub mod seq;
mod seqslot;
mod spans;
mod table;
mod types;
mod view;
mod vv;
mod zset;

pub use codec::{STATE_FORMAT_VERSION, StateDecodeError};
pub use digest::Digest;
pub use hllslot::HllView;
pub use ids::{ActorId, Dot, Hlc, OpMeta, Stamp, Tag, hlc};
pub use keyspace::Keyspace;
pub use long_double::LongDouble;
pub use payload::{Command, FieldWrite, Payload, ScoreWrite};
pub use seqslot::{SeqEdit, Splice};
pub use types::{Applied, Conflict, ConflictKind, KeyType, PrepareError, StringRef, Value};
pub use view::{HashView, SetView};
pub use vv::{DecodeError, MAX_DECODED_ACTORS, VersionVector};
pub use zset::{LexBound, Score, ScoreBound, ZSetView};
