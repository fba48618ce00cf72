//! Meridian's deterministic simulator.
//!
//! A run drives one [`meridian_replica::Replica`] per node of a topology over virtual time:
//! messages take the links' latencies, and a seed decides everything else (the clients'
//! writes at every leader, loss, duplication, reordering, partitions and heals, crashes that
//! lose what was not persisted, clock skew). After the faults end, the network heals and the
//! run waits for quiescence; then the checkers look for divergence (digests and vectors), lost
//! acknowledged writes, values that differ from the data model's definitions applied to the
//! history, causal-order violations, and faults that never happened; then, after a few more
//! rounds of gossip, for logs not truncated at stability. Each node persists under an fsync
//! policy (`always`, `periodic`, `never`), and the no-loss checker holds it to exactly what that
//! policy promises. The same seed replays the same run exactly.

#![warn(missing_docs)]

mod check;
pub mod disk;
mod faults;
pub mod model;
mod report;
mod workload;
mod world;

use std::sync::Arc;

use meridian_replica::{Config, Millis, Topology};

pub use faults::{CrashPoint, FaultMix};
pub use meridian_store::FsyncPolicy;
pub use report::{Counters, Report, Violation};
pub use workload::Family;

use crate::world::World;

/// One run's settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The cluster.
    pub topology: Arc<Topology>,
    /// Decides everything random.
    pub seed: u64,
    /// Which faults to inject.
    pub faults: FaultMix,
    /// Client writes, spread over the write window.
    pub ops: usize,
    /// Replica tuning.
    pub replica: Config,
    /// Virtual ms during which clients write and faults happen.
    pub window_ms: Millis,
    /// Virtual ms allowed after the window for the cluster to converge.
    pub settle_limit_ms: Millis,
    /// Every node's fsync policy. `Always` acknowledges a write after its fsync; `Periodic`
    /// and `Never` after its write, so a crash takes back acknowledged writes (none that left
    /// the node: ops are forwarded once synced).
    pub fsync: FsyncPolicy,
    /// Makes every crash strike at this step of a persistence; `None` draws one per crash.
    pub crash_point: Option<CrashPoint>,
}

impl SimConfig {
    /// Defaults for `topology`: 200 writes over 10 s, 2 minutes to converge.
    pub fn new(topology: Arc<Topology>, seed: u64, faults: FaultMix) -> SimConfig {
        let mut replica = Config::wan();
        // A short log, so that a region away for long needs a snapshot: by op count alone, or
        // with everything else by bytes. Small chunks, so that the snapshot spans several.
        match faults {
            FaultMix::Away => replica.retention_ops = 10,
            FaultMix::All => replica.retention_bytes = 1_500,
            _ => {}
        }
        // Checkpoints every second, whatever the default: the log is cut only below the
        // stored state's vector, and at 5 s a run's 10 s of writes saw two checkpoints, too
        // few for any region to fall behind the log's base.
        if matches!(faults, FaultMix::Away | FaultMix::All) {
            replica.snapshot_chunk_bytes = SNAPSHOT_CHUNK_BYTES;
            replica.checkpoint_interval_ms = 1_000;
        }
        // Frames of two ops under every fault, so that a unit of writes (two or three ops)
        // often arrives in pieces, and a receiver that applied a piece would be caught.
        if faults == FaultMix::All {
            replica.max_batch_ops = std::num::NonZeroUsize::MIN.saturating_add(1);
        }
        SimConfig {
            topology,
            seed,
            faults,
            ops: 200,
            replica,
            window_ms: 10_000,
            settle_limit_ms: 120_000,
            fsync: FsyncPolicy::Always,
            crash_point: None,
        }
    }
}

/// Snapshot chunk size in the `away` and `all` mixes: a snapshot of the workload's keys
/// (a few kB) spans several chunks.
const SNAPSHOT_CHUNK_BYTES: usize = 256;

/// How often the settle phase checks for convergence.
const PROBE_MS: Millis = 20;
/// Gossip rounds run after convergence before the logs must be truncated at stability: rows
/// cross one hop per round, so this covers the diameter of every shipped topology.
const STABILITY_ROUNDS: u64 = 10;
/// Virtual ms allowed after those rounds for the truncation to reach every store.
const STABILITY_LIMIT_MS: Millis = 2_000;

/// Runs one seed and checks it. Whatever happens in the run, the seed gets a report: a mix
/// whose faults cannot happen on the topology ([`FaultMix::check`]), a panic anywhere in the
/// replica, the store or the simulator, and a run that stops making progress in virtual time
/// are each a failing report ([`Violation::Refused`], [`Violation::Panicked`],
/// [`Violation::NoProgress`]), never a missing one.
pub fn run(config: &SimConfig) -> Report {
    if let Err(why) = config.faults.check(&config.topology) {
        return Report::new(config, Counters::default(), vec![Violation::Refused(why)]);
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_world(config))) {
        Ok(report) => report,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            Report::new(
                config,
                Counters::default(),
                vec![Violation::Panicked(message)],
            )
        }
    }
}

fn run_world(config: &SimConfig) -> Report {
    let mut world = World::new(config);
    world.plan(config.ops, config.window_ms);
    world.run_until(config.window_ms);
    world.heal_everything();
    world.calm();
    let settle_start = world.now();
    let mut convergence_ms = None;
    while world.now() < settle_start + config.settle_limit_ms && !world.stalled() {
        world.run_until(world.now() + PROBE_MS);
        if world.converged() {
            convergence_ms = Some(world.now() - settle_start);
            break;
        }
    }
    // A run stopped midway has no end state to check: the stall is its one finding.
    if world.stalled() {
        return Report::new(config, world.counters.clone(), world.violations.clone());
    }
    // The figures are those of the run up to convergence; the stability rounds only check.
    let counters = world.counters.clone();
    if convergence_ms.is_some() {
        world.run_until(world.now() + STABILITY_ROUNDS * config.replica.gossip_interval_ms);
        let limit = world.now() + STABILITY_LIMIT_MS;
        while !world.quiescent() && world.now() < limit {
            world.run_until(world.now() + PROBE_MS);
        }
        check::stability(&mut world);
    }
    check::check(config, world, counters, convergence_ms)
}
