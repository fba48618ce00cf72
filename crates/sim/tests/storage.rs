//! The storage promises under the simulator's harshest disk scenarios.
//!
//! - A crash at every step of a persistence (an op accepted, a batch written, synced, reported),
//!   forced for a sample of seeds: each step must be reached, and nothing acknowledged lost.
//! - The `periodic` and `never` fsync policies: writes are acknowledged before their fsync and
//!   a crash takes back what was not synced, but an op leaves a node only once synced there,
//!   so what a crash takes back no other node holds: the node restarts and writes at once,
//!   reusing the seqs of its lost ops. The checkers hold each policy to what it promises: an
//!   acknowledged write survives if it was ever fsynced on a disk still in place or some node
//!   still holds it; no dot is ever held with two different ops.
//! - A replaced disk: the node comes back on an empty store (`Replica::rejoin`), learns its
//!   own history from its peers, never reuses a sequence number, and the cluster converges.
//!
//! Every run also goes through the checkers of every run: logs truncated at stability once
//! converged, logs within their retention after every gossip round. (Until ops waited for
//! their fsync before leaving a node, the `periodic` and `never` runs failed: matrix rows
//! claimed ops a crash took back, so counter compaction and history gates waited forever, and
//! ops outlived an op they depended on that was lost unsynced everywhere.)
//! `MERIDIAN_SIM_SEEDS=N` and `MERIDIAN_SIM_FIRST_SEED=S` change the seeds, as in `seeds.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use meridian_sim::{Counters, CrashPoint, FaultMix, FsyncPolicy, SimConfig};

const PERIODIC: FsyncPolicy = FsyncPolicy::Periodic(Duration::from_millis(100));

/// Runs `configs` for every seed; fails with every failing run and its replay command.
/// Returns the counters summed over the runs, for the checks that hold over a sample.
fn run_all(what: &str, seeds: u64, configs: impl Fn(u64) -> Vec<SimConfig>) -> Counters {
    let mut failures = Vec::new();
    let mut runs = 0;
    let mut sum = Counters::default();
    for seed in common::seeds(seeds) {
        for config in configs(seed) {
            runs += 1;
            let (report, failure) = common::run_in_test(&config, "storage");
            failures.extend(failure);
            add(&mut sum, &report.counters);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed: {what}\n{}",
        failures.len(),
        failures.join("\n")
    );
    sum
}

fn add(sum: &mut Counters, c: &Counters) {
    sum.crashes += c.crashes;
    sum.acked_lost_at_crash += c.acked_lost_at_crash;
    sum.acked_lost_allowed += c.acked_lost_allowed;
    sum.own_ops_recovered += c.own_ops_recovered;
    sum.own_history_snapshots += c.own_history_snapshots;
    sum.writes_refused_recovering += c.writes_refused_recovering;
    sum.seqs_issued_again += c.seqs_issued_again;
}

/// Every step of a persistence, forced in turn, under crashes alone.
fn crash_at_every_step(topology: &str, fsync: FsyncPolicy) -> Counters {
    let (topology, shown) = common::topology(topology);
    run_all(&format!("{shown}, fsync {fsync}"), 30, |seed| {
        CrashPoint::ALL
            .into_iter()
            .map(|point| {
                let mut config = SimConfig::new(Arc::clone(&topology), seed, FaultMix::Crashes);
                config.fsync = fsync;
                config.crash_point = Some(point);
                config
            })
            .collect()
    })
}

/// Over the sample, the weaker policies must have shown what makes them weaker (acknowledged
/// writes taken back by a crash, their seqs issued again after the restart), and that what a
/// crash took back had reached no other node: no restarted node got an op of its own back
/// from a peer, and none refused a write while it waited to learn its history.
fn check_lossy_restarts(sum: &Counters) {
    assert!(
        sum.acked_lost_at_crash > 0,
        "no crash took back an acknowledged write: {sum:?}"
    );
    assert!(
        sum.seqs_issued_again > 0,
        "no restarted node issued the seq of an op it lost: {sum:?}"
    );
    assert_eq!(
        sum.own_ops_recovered + sum.own_history_snapshots,
        0,
        "a peer held an own op that a crash took back from its origin: {sum:?}"
    );
    assert_eq!(
        sum.writes_refused_recovering, 0,
        "a restarted node refused a write to learn its history: {sum:?}"
    );
}

macro_rules! crash_steps {
    ($($(#[$attr:meta])* $test:ident: $topology:literal, $fsync:expr;)*) => {
        $(
            #[test]
            $(#[$attr])*
            fn $test() {
                let fsync = $fsync;
                let sum = crash_at_every_step($topology, fsync);
                if fsync != FsyncPolicy::Always {
                    check_lossy_restarts(&sum);
                }
            }
        )*
    };
}

crash_steps! {
    crash_at_every_persistence_step_mesh_3: "mesh-3", FsyncPolicy::Always;
    crash_at_every_persistence_step_ring_5: "ring-5", FsyncPolicy::Always;
    periodic_fsync_crash_at_every_step_mesh_3: "mesh-3", PERIODIC;
    periodic_fsync_crash_at_every_step_ring_5: "ring-5", PERIODIC;
    never_fsync_crash_at_every_step_mesh_3: "mesh-3", FsyncPolicy::Never;
    never_fsync_crash_at_every_step_ring_5: "ring-5", FsyncPolicy::Never;
}

/// Crashes at random steps, with `fsync`, on `topology`, and the other faults of `mix`.
fn weak_fsync(topology: &str, fsync: FsyncPolicy, mix: FaultMix) {
    let (topology, shown) = common::topology(topology);
    let sum = run_all(
        &format!("{shown}, faults {mix}, fsync {fsync}"),
        30,
        |seed| {
            let mut config = SimConfig::new(Arc::clone(&topology), seed, mix);
            config.fsync = fsync;
            vec![config]
        },
    );
    check_lossy_restarts(&sum);
}

macro_rules! weak_fsync {
    ($($(#[$attr:meta])* $test:ident: $topology:literal, $fsync:expr, $mix:expr;)*) => {
        $(
            #[test]
            $(#[$attr])*
            fn $test() {
                weak_fsync($topology, $fsync, $mix);
            }
        )*
    };
}

weak_fsync! {
    periodic_fsync_crashes_star_5: "star-5", PERIODIC, FaultMix::Crashes;
    periodic_fsync_crashes_tree_7: "tree-7", PERIODIC, FaultMix::Crashes;
    periodic_fsync_crashes_chain_4: "chain-4", PERIODIC, FaultMix::Crashes;
    periodic_fsync_crashes_primary_replica: "primary-replica", PERIODIC, FaultMix::Crashes;
    never_fsync_crashes_star_5: "star-5", FsyncPolicy::Never, FaultMix::Crashes;
    never_fsync_crashes_tree_7: "tree-7", FsyncPolicy::Never, FaultMix::Crashes;
    never_fsync_crashes_chain_4: "chain-4", FsyncPolicy::Never, FaultMix::Crashes;
    never_fsync_crashes_primary_replica: "primary-replica", FsyncPolicy::Never, FaultMix::Crashes;
    periodic_fsync_all_faults_mesh_3: "mesh-3", PERIODIC, FaultMix::All;
    periodic_fsync_all_faults_ring_5: "ring-5", PERIODIC, FaultMix::All;
    periodic_fsync_all_faults_star_5: "star-5", PERIODIC, FaultMix::All;
    periodic_fsync_all_faults_tree_7: "tree-7", PERIODIC, FaultMix::All;
    periodic_fsync_all_faults_chain_4: "chain-4", PERIODIC, FaultMix::All;
    periodic_fsync_all_faults_primary_replica: "primary-replica", PERIODIC, FaultMix::All;
}

/// A leader's disk is replaced (`mix` says whether a neighbour lags): no seq reused, every
/// write acknowledged and fsynced on a disk still in place kept, convergence.
fn replaced_disk(topology: &str, mix: FaultMix, seeds: u64) {
    let (topology, shown) = common::topology(topology);
    run_all(&format!("{shown}, faults {mix}"), seeds, |seed| {
        vec![SimConfig::new(Arc::clone(&topology), seed, mix)]
    });
}

macro_rules! replaced_disk {
    ($($(#[$attr:meta])* $test:ident: $topology:literal, $mix:expr, $seeds:literal;)*) => {
        $(
            #[test]
            $(#[$attr])*
            fn $test() {
                replaced_disk($topology, $mix, $seeds);
            }
        )*
    };
}

replaced_disk! {
    a_replaced_disk_rejoins_without_reusing_seqs_mesh_3: "mesh-3", FaultMix::ReplacedDisk, 100;
    a_replaced_disk_rejoins_without_reusing_seqs_ring_5: "ring-5", FaultMix::ReplacedDisk, 100;
    a_replaced_disk_rejoins_without_reusing_seqs_star_5: "star-5", FaultMix::ReplacedDisk, 100;
    a_replaced_disk_rejoins_without_reusing_seqs_tree_7: "tree-7", FaultMix::ReplacedDisk, 100;
    a_replaced_disk_rejoins_without_reusing_seqs_chain_4: "chain-4", FaultMix::ReplacedDisk, 100;
    a_replaced_disk_rejoins_without_reusing_seqs_primary_replica: "primary-replica", FaultMix::ReplacedDisk, 100;
    a_replaced_disk_behind_a_lagging_peer_mesh_3: "mesh-3", FaultMix::ReplacedDiskLaggingPeer, 30;
    a_replaced_disk_behind_a_lagging_peer_ring_5: "ring-5", FaultMix::ReplacedDiskLaggingPeer, 30;
    a_replaced_disk_behind_a_lagging_peer_star_5: "star-5", FaultMix::ReplacedDiskLaggingPeer, 30;
    a_replaced_disk_behind_a_lagging_peer_tree_7: "tree-7", FaultMix::ReplacedDiskLaggingPeer, 30;
    a_replaced_disk_behind_a_lagging_peer_chain_4: "chain-4", FaultMix::ReplacedDiskLaggingPeer, 30;
    a_replaced_disk_behind_a_lagging_peer_primary_replica: "primary-replica", FaultMix::ReplacedDiskLaggingPeer, 30;
}

#[test]
fn a_seed_replays_exactly_under_every_new_fault() {
    let (topology, _) = common::topology("ring-5");
    for (mix, fsync, point) in [
        (FaultMix::All, PERIODIC, None),
        (
            FaultMix::Crashes,
            FsyncPolicy::Never,
            Some(CrashPoint::Reported),
        ),
        (FaultMix::ReplacedDiskLaggingPeer, FsyncPolicy::Always, None),
    ] {
        let mut config = SimConfig::new(Arc::clone(&topology), 7, mix);
        config.fsync = fsync;
        config.crash_point = point;
        let a = meridian_sim::run(&config);
        let b = meridian_sim::run(&config);
        assert_eq!(a.digest, b.digest, "{mix} {fsync}");
        assert_eq!(a.counters, b.counters, "{mix} {fsync}");
        assert_eq!(a.violations, b.violations, "{mix} {fsync}");
    }
}
