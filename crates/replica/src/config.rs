//! Replica tuning: plain public fields, named presets and `validate`.

use std::num::NonZeroUsize;

use meridian_crdt::ActorId;
use thiserror::Error;

/// Tuning for one replica. Times are in milliseconds of the driver's monotonic clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// How often vectors and link state are gossiped to each neighbour.
    pub gossip_interval_ms: u64,
    /// How long a neighbour may stay behind on an origin, with nothing arriving, before its
    /// parent in that origin's tree resends from the log. Any other neighbour steps in after
    /// twice this.
    pub repair_after_ms: u64,
    /// After a handshake, how long a link waits before serving ops, so that the link-state
    /// adverts of other links coming up at the same moment arrive first and the backlog is
    /// served once, by one neighbour per origin.
    pub link_settle_ms: u64,
    /// Most ops in one [`crate::Message::Ops`] frame.
    pub max_batch_ops: NonZeroUsize,
    /// Most ops sent on one link and not yet acknowledged by the peer's gossip. Beyond it the
    /// link is "catching up": the rest is served from the log as acknowledgements arrive,
    /// never dropped.
    pub send_window: NonZeroUsize,
    /// Most ops held that arrived ahead of a gap. Beyond it new ones are discarded (and counted);
    /// anti-entropy fetches them again once the gap is filled.
    pub max_out_of_order: usize,
    /// A peer's HLC stamp further ahead of our wall clock than this is reported and not
    /// allowed to drag our clock forward (its op is still applied).
    pub max_clock_ahead_ms: u64,
    /// Most ops kept in the log. Ops leave the log once every node holds them (stability);
    /// beyond this many, the oldest ops already applied into durable state leave it anyway
    /// until this many remain, so that one dead region cannot fill the disk of the others: a
    /// neighbour that needs them later gets a state snapshot, one behind by fewer ops is
    /// served from the log. (Ops not yet in durable state stay, so the log may hold more.)
    pub retention_ops: usize,
    /// Most bytes of ops (encoded) kept in the log; the same rule as `retention_ops`.
    pub retention_bytes: u64,
    /// How long the state of a key applied to may wait before it is written to the store
    /// (a checkpoint). Every op goes to the log in the batch that accepts it; the state of
    /// the keys it changed is written at most this long after, once for all the ops on them
    /// since the last checkpoint, so a hot key (a large set or hash under many writes) is
    /// encoded once per interval instead of once per batch. A restart re-applies the logged
    /// ops beyond the last checkpoint, and the log keeps them until then. 0: every batch.
    ///
    /// 1 s by default, and a trade: the checkpoint encodes the dirty keys under the core lock
    /// and the writes accepted meanwhile wait for its batch, and counter compaction waits for
    /// it too (a node's row promises only what its stored state reflects), so both run as
    /// one pause per interval that grows with it. At 5 s, SET spread over 100,000 keys ran
    /// 30 % faster (fewer rewrites of the same key), but INCR paused for 250 ms and more
    /// every 5 s and its p99 went from 135 ms to 680 ms (BENCHMARKS.md 7i).
    pub checkpoint_interval_ms: u64,
    /// Largest state snapshot chunk, in bytes of encoded key states.
    pub snapshot_chunk_bytes: usize,
    /// Limits on what a peer may send.
    pub limits: Limits,
    /// Neighbours the history gate does not wait for. A node whose store is new, or may have
    /// lost its latest writes, takes no writes until the handshake of every neighbour has
    /// told it how far its own history goes (every op it ever sent went first to a
    /// neighbour). Name here a neighbour that is gone for good, so the node can write without
    /// it; naming every neighbour opens the gate at once. Empty by default; every entry must
    /// be a neighbour in the topology file.
    ///
    /// Risk: if a node named here holds ops of this node that no other neighbour reports
    /// (they went to it alone), this node reuses their sequence numbers. Its new writes are
    /// then dropped as duplicates wherever the old ones are held: acknowledged, lost there,
    /// and the regions diverge for good. Only name a neighbour whose store is gone too, or one
    /// known to hold nothing of this node that the others lack.
    pub open_history_without: Vec<ActorId>,
}

/// Sizes accepted from peers: anything larger is a protocol error that closes the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest key, in bytes.
    pub max_key_bytes: usize,
    /// Most ops in one frame.
    pub max_ops_per_frame: usize,
    /// Most bytes of key state accepted in one snapshot (all chunks together).
    pub max_snapshot_bytes: u64,
    /// Longest pub/sub message, in bytes (its channel is held to `max_key_bytes`).
    pub max_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_key_bytes: 64 * 1024,
            max_ops_per_frame: 16 * 1024,
            max_snapshot_bytes: 64 << 30,
            max_message_bytes: 64 << 20,
        }
    }
}

impl Config {
    /// Regions on one continent or one machine: short timers.
    pub fn lan() -> Config {
        Config {
            gossip_interval_ms: 50,
            repair_after_ms: 200,
            link_settle_ms: 100,
            max_batch_ops: NonZeroUsize::new(512).expect("non-zero"),
            send_window: NonZeroUsize::new(16 * 1024).expect("non-zero"),
            max_out_of_order: 64 * 1024,
            max_clock_ahead_ms: 60_000,
            retention_ops: 1_000_000,
            retention_bytes: 1 << 30,
            checkpoint_interval_ms: 1_000,
            snapshot_chunk_bytes: 4 << 20,
            limits: Limits::default(),
            open_history_without: Vec::new(),
        }
    }

    /// Regions across oceans: timers well above round-trip times.
    pub fn wan() -> Config {
        Config {
            gossip_interval_ms: 100,
            repair_after_ms: 1_000,
            link_settle_ms: 200,
            ..Config::lan()
        }
    }

    /// Raises `repair_after_ms` to three sync intervals of the cluster's fsync policy (`None`:
    /// every commit synced). A peer reports an op held only once it synced it, up to one
    /// interval after it arrived; a shorter repair timer would resend ops that are merely
    /// waiting for that fsync.
    pub fn allow_for_sync_interval(&mut self, interval: Option<std::time::Duration>) {
        if let Some(every) = interval {
            let ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
            self.repair_after_ms = self.repair_after_ms.max(ms.saturating_mul(3));
        }
    }

    /// Checks that the settings make sense together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.gossip_interval_ms == 0 {
            return Err(ConfigError("gossip_interval_ms must be above 0"));
        }
        if self.repair_after_ms < self.gossip_interval_ms {
            return Err(ConfigError(
                "repair_after_ms must be at least gossip_interval_ms, or every gossip triggers a resend",
            ));
        }
        if self.limits.max_ops_per_frame < self.max_batch_ops.get() {
            return Err(ConfigError(
                "limits.max_ops_per_frame must be at least max_batch_ops, or our own frames are refused",
            ));
        }
        if self.snapshot_chunk_bytes == 0 {
            return Err(ConfigError("snapshot_chunk_bytes must be above 0"));
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::wan()
    }
}

/// A setting that makes no sense; the message names it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid replica config: {0}")]
pub struct ConfigError(&'static str);
