//! Meridian's deterministic simulator.
//!
//! A run drives one [`meridian_replica::Replica`] per node of a topology over virtual time:
//! messages take the links' latencies, and a seed decides everything else (the clients'
//! writes at every leader, loss, duplication, reordering, partitions and heals, crashes that
//! lose what was not persisted, clock skew). After the faults end, the network heals and the
//! run waits for quiescence; then the checkers look for divergence (digests and vectors), lost
//! acknowledged writes, values that differ from the data model's definitions applied to the
//! history, causal-order violations, and faults that never happened. The same seed replays
//! the same run exactly.

#![warn(missing_docs)]

pub mod disk;
mod faults;
pub mod model;
mod report;
mod workload;
mod world;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use meridian_replica::{Config, Millis, Topology};

pub use faults::FaultMix;
pub use report::{Counters, Report, Violation};
pub use workload::Family;

use crate::model::Write;
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
}

impl SimConfig {
    /// Defaults for `topology`: 200 writes over 10 s, 2 minutes to converge.
    pub fn new(topology: Arc<Topology>, seed: u64, faults: FaultMix) -> SimConfig {
        let mut replica = Config::wan();
        // A short log, so that a region away for long needs a snapshot: by op count alone, or
        // with everything else by bytes.
        match faults {
            FaultMix::Away => replica.retention_ops = 10,
            FaultMix::All => replica.retention_bytes = 1_500,
            _ => {}
        }
        SimConfig {
            topology,
            seed,
            faults,
            ops: 200,
            replica,
            window_ms: 10_000,
            settle_limit_ms: 120_000,
        }
    }
}

/// How often the settle phase checks for convergence.
const PROBE_MS: Millis = 20;

/// Runs one seed and checks it.
pub fn run(config: &SimConfig) -> Report {
    let mut world = World::new(
        Arc::clone(&config.topology),
        config.replica.clone(),
        config.faults,
        config.seed,
    );
    world.plan(config.ops, config.window_ms);
    world.run_until(config.window_ms);
    world.heal_everything();
    world.calm();
    let settle_start = world.now();
    let mut convergence_ms = None;
    while world.now() < settle_start + config.settle_limit_ms {
        world.run_until(world.now() + PROBE_MS);
        if world.converged() {
            convergence_ms = Some(world.now() - settle_start);
            break;
        }
    }
    check(config, world, convergence_ms)
}

fn check(config: &SimConfig, world: World, convergence_ms: Option<Millis>) -> Report {
    let mut violations = world.violations.clone();
    if convergence_ms.is_none() {
        violations.push(Violation::NotConverged);
    }
    let replicas: Vec<_> = world.replicas().collect();
    let first_digest = replicas
        .first()
        .map(|(_, r)| r.digest().to_string())
        .unwrap_or_default();
    let mut duplicates = 0;
    let mut max_causal_depth = 0;
    let mut repairs = 0;
    let mut clock_ahead_reports = 0;
    let mut snapshots_merged = 0;
    for (id, r) in &replicas {
        let digest = r.digest().to_string();
        if digest != first_digest {
            violations.push(Violation::Diverged {
                first: first_digest.clone(),
                node: *id,
                digest,
            });
        }
        let stats = r.stats();
        duplicates += stats.duplicates;
        max_causal_depth = max_causal_depth.max(stats.max_causal_depth);
        repairs += stats.repairs;
        clock_ahead_reports += stats.clock_ahead_reports;
        snapshots_merged += stats.snapshots_merged;
    }

    // No acknowledged write lost: present at every node, and still the write that was acked.
    let mut lost_acked = 0;
    for (dot, acked) in &world.acked {
        let replaced = world
            .writes
            .get(dot)
            .is_none_or(|w| w.key != acked.key || w.command != acked.command);
        let held = world.history.get(dot).is_some_and(|op| op.key == acked.key);
        for (id, r) in &replicas {
            if replaced || !held || !r.applied().covers(*dot) {
                lost_acked += 1;
                violations.push(Violation::LostAck {
                    dot: *dot,
                    node: *id,
                });
            }
        }
    }

    // Every key's value against the model of its history: every op the nodes applied.
    if let Some((_, reference)) = replicas.first() {
        let mut by_key: BTreeMap<Bytes, Vec<Write<'_>>> = BTreeMap::new();
        for (dot, op) in &world.history {
            if !reference.applied().covers(*dot) {
                continue;
            }
            if let Some(w) = world.writes.get(dot) {
                by_key.entry(op.key.clone()).or_default().push(Write {
                    op,
                    command: &w.command,
                });
            }
        }
        for (key, writes) in &by_key {
            let Some(expected) = model::expected(key, writes) else {
                continue;
            };
            for (id, r) in &replicas {
                let got = r.keyspace().get(key);
                if got != expected {
                    violations.push(Violation::Model {
                        key: String::from_utf8_lossy(key).into_owned(),
                        node: *id,
                        expected: format!("{expected:?}"),
                        got: format!("{got:?}"),
                    });
                }
            }
        }
    }

    // Counter metadata stays bounded: once converged (and so compacted at the full vector),
    // no counter holds more than one entry per node.
    if convergence_ms.is_some() {
        let bound = replicas.len();
        for (id, r) in &replicas {
            for key in r.keyspace().retained_keys() {
                let entries = r.keyspace().counter_entries(key);
                if entries > bound {
                    violations.push(Violation::CounterEntries {
                        key: String::from_utf8_lossy(key).into_owned(),
                        node: *id,
                        entries,
                        bound,
                    });
                }
            }
        }
    }

    let c = &world.counters;
    let f = config.faults;
    if f == FaultMix::None && duplicates > 0 {
        violations.push(Violation::SteadyStateDuplicates(duplicates));
    }
    if matches!(f, FaultMix::Lossy | FaultMix::All) {
        if c.lost == 0 {
            violations.push(Violation::FaultMissing("no message was lost"));
        }
        if c.duplicated == 0 {
            violations.push(Violation::FaultMissing("no message was duplicated"));
        }
        if c.reordered == 0 {
            violations.push(Violation::FaultMissing("no message was reordered"));
        }
    }
    if matches!(f, FaultMix::Partitions | FaultMix::All) && c.cuts == 0 {
        violations.push(Violation::FaultMissing("no link was cut"));
    }
    if matches!(f, FaultMix::Crashes | FaultMix::All) {
        if c.crashes == 0 || c.restarts == 0 {
            violations.push(Violation::FaultMissing("no node crashed and restarted"));
        }
        // With every other fault mixed in, a node may be cut off or its store failed when a
        // crash is due: then it strikes at restart time. Alone, crashes always strike mid-way.
        if f == FaultMix::Crashes && c.crashes_mid_persistence == 0 {
            violations.push(Violation::FaultMissing(
                "no crash struck in the middle of a persistence",
            ));
        }
    }
    // Mixed with everything else, single-leader topologies skip the store failure (their one
    // leader would take no writes); alone, it is always armed.
    if f == FaultMix::Disk || c.disk_faults_armed > 0 {
        if c.store_failures == 0 {
            violations.push(Violation::FaultMissing("no store failed"));
        }
        if c.writes_refused_store_failed == 0 {
            violations.push(Violation::FaultMissing(
                "no write was refused by a node whose store failed",
            ));
        }
    }
    if matches!(f, FaultMix::Away | FaultMix::All) && snapshots_merged == 0 {
        violations.push(Violation::FaultMissing(
            "no region came back by state snapshot",
        ));
    }
    if f == FaultMix::All && clock_ahead_reports == 0 {
        violations.push(Violation::FaultMissing(
            "no clock skew beyond the limit was seen",
        ));
    }

    Report {
        seed: config.seed,
        faults: config.faults,
        nodes: config.topology.nodes.len(),
        counters: world.counters.clone(),
        convergence_ms,
        duplicates,
        max_causal_depth,
        repairs,
        clock_ahead_reports,
        snapshots_merged,
        acked: world.acked.len() as u64,
        lost_acked,
        violations,
        digest: first_digest,
    }
}
