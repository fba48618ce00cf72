//! The checkers run on a world after its run: convergence, no acknowledged write lost (at
//! the fsync policy's level), values as the model defines them, bounded counters, logs
//! truncated at stability, and faults that really happened.

use std::collections::BTreeMap;

use bytes::Bytes;
use meridian_replica::Millis;
use meridian_store::FsyncPolicy;

use crate::SimConfig;
use crate::faults::{CrashPoint, FaultMix};
use crate::model::{self, Write};
use crate::report::{Counters, Report, Violation};
use crate::workload::Family;
use crate::world::{World, same_op};

/// After convergence and rounds of gossip with no fault: every op is held by every node, so
/// every log must be empty, in memory and in the store.
pub(crate) fn stability(world: &mut World) {
    for (node, in_memory, on_disk) in world.logs() {
        match on_disk {
            Ok(on_disk) if in_memory == 0 && on_disk == 0 => {}
            Ok(on_disk) => world.violations.push(Violation::LogNotTruncated {
                node,
                in_memory,
                on_disk,
            }),
            Err(error) => world.violations.push(Violation::Recovery { node, error }),
        }
    }
}

/// A key that `node` reads as `got` where the model says `expected`.
fn model_violation(
    key: &[u8],
    node: meridian_crdt::ActorId,
    expected: String,
    got: &Option<meridian_crdt::Value>,
) -> Violation {
    Violation::Model {
        key: String::from_utf8_lossy(key).into_owned(),
        node,
        expected,
        got: format!("{got:?}"),
    }
}

pub(crate) fn check(
    config: &SimConfig,
    world: World,
    mut counters: Counters,
    convergence_ms: Option<Millis>,
) -> Report {
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
    let mut collected = 0;
    let mut reaped = 0;
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
        collected += stats.collected;
        reaped += stats.reaped;
    }

    // No acknowledged write lost, at the fsync policy's level: an acknowledged write that was
    // fsynced on a disk still in place, or that some node still holds, is at every node, and
    // still the write that was acknowledged. Under `always` that is every acknowledged write
    // but those whose only copy was on a replaced disk; under `periodic` those a periodic
    // fsync (here or at a peer) covered or that a peer kept; under `never` those a peer kept.
    let mut lost_acked = 0;
    for acked in &world.acked {
        if !world.durable_somewhere(&acked.op) && !world.held_somewhere(&acked.op) {
            counters.acked_lost_allowed += 1;
            continue;
        }
        for (id, r) in &replicas {
            let replaced = world
                .held(*id, acked.dot)
                .is_some_and(|op| !same_op(op, &acked.op));
            if replaced || !r.applied().covers(acked.dot) {
                lost_acked += 1;
                violations.push(Violation::LostAck {
                    dot: acked.dot,
                    node: *id,
                });
            }
        }
    }

    // Every key's value against the model of its history: every op the nodes applied.
    if let Some((_, reference)) = replicas.first() {
        let mut by_key: BTreeMap<Bytes, Vec<Write<'_>>> = BTreeMap::new();
        for (dot, op) in &world.contents {
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
        // Expiring registers, whose model needs the reaps too: every op on the key.
        let mut expiring: BTreeMap<Bytes, Vec<&meridian_replica::Op>> = BTreeMap::new();
        for (dot, op) in &world.contents {
            if Family::of(&op.key) == Family::Expiring && reference.applied().covers(*dot) {
                expiring.entry(op.key.clone()).or_default().push(&**op);
            }
        }
        for (key, ops) in &expiring {
            for (id, r) in &replicas {
                let expected = model::expiring(ops, r.keyspace().clock());
                let got = r.keyspace().get(key);
                if got != expected {
                    violations.push(model_violation(key, *id, format!("{expected:?}"), &got));
                }
            }
        }
        for (key, writes) in &by_key {
            if matches!(Family::of(key), Family::List | Family::Text) {
                for (id, r) in &replicas {
                    let got = r.keyspace().get(key);
                    if let Some(expected) = model::sequence_mismatch(writes, &got) {
                        violations.push(model_violation(key, *id, expected, &got));
                    }
                }
                continue;
            }
            let Some(expected) = model::expected(key, writes) else {
                continue;
            };
            for (id, r) in &replicas {
                let got = r.keyspace().get(key);
                if got != expected {
                    violations.push(model_violation(key, *id, format!("{expected:?}"), &got));
                }
            }
        }
    }

    // Counter metadata stays bounded: once converged (and so compacted at the full vector),
    // no counter holds more than one entry per node, and no list or text a tombstone that
    // another follows.
    if convergence_ms.is_some() {
        let bound = replicas.len();
        for (id, r) in &replicas {
            for key in r.keyspace().retained_keys() {
                let left = r.keyspace().collectable_tombstones(key);
                if left > 0 {
                    violations.push(Violation::TombstonesLeft {
                        key: String::from_utf8_lossy(key).into_owned(),
                        node: *id,
                        left,
                    });
                }
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

    let c = &counters;
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
        if f == FaultMix::Crashes && config.crash_point.is_none() && c.crashes_mid_persistence == 0
        {
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
    if f.away() {
        if c.multi_chunk_snapshots_merged == 0 {
            violations.push(Violation::FaultMissing(
                "no snapshot of several chunks was merged",
            ));
        }
        if c.rounds_truncated_past_stability == 0 {
            violations.push(Violation::FaultMissing(
                "no log was cut to its retention below what every node holds",
            ));
        }
    }
    if f == FaultMix::All && c.snapshot_chunks_lost == 0 {
        violations.push(Violation::FaultMissing("no snapshot chunk was lost"));
    }
    // Crashes alone always strike mid-way, so a forced point is always reached there.
    if f == FaultMix::Crashes
        && let Some(point) = config.crash_point
    {
        if c.crashes_at(point) == 0 {
            violations.push(Violation::FaultMissing(
                "no crash struck at the forced crash point",
            ));
        }
        if point == CrashPoint::Reported
            && config.fsync != FsyncPolicy::Always
            && c.acked_lost_at_crash == 0
        {
            violations.push(Violation::FaultMissing(
                "no crash took an acknowledged write back from its disk",
            ));
        }
    }
    if f.replaced_disk() {
        if c.disks_replaced == 0 || c.rejoins == 0 {
            violations.push(Violation::FaultMissing(
                "no node came back on a replaced disk",
            ));
        }
        if c.own_ops_recovered + c.own_history_snapshots == 0 {
            violations.push(Violation::FaultMissing(
                "no node on a new disk learned its own history from its peers",
            ));
        }
        if c.writes_refused_recovering == 0 {
            violations.push(Violation::FaultMissing(
                "no write was refused while a node learned its own history",
            ));
        }
        if f == FaultMix::ReplacedDiskLaggingPeer && c.cuts == 0 {
            violations.push(Violation::FaultMissing(
                "no neighbour of the node on a new disk lagged",
            ));
        }
        if c.writes_after_rejoin == 0 {
            violations.push(Violation::FaultMissing(
                "no node wrote again after coming back on a new disk",
            ));
        }
    }

    Report {
        convergence_ms,
        duplicates,
        max_causal_depth,
        repairs,
        clock_ahead_reports,
        snapshots_merged,
        collected,
        reaped,
        acked: world.acked.len() as u64,
        lost_acked,
        digest: first_digest,
        ..Report::new(config, counters, violations)
    }
}
