//! Every shipped topology under every fault mix, for many seeds: convergence, no acknowledged
//! write lost, values as the data model defines them, causal order, faults that really
//! happened, and no duplicate on a perfect network.
//!
//! `MERIDIAN_SIM_SEEDS=N` runs N seeds per pair instead of 200;
//! `MERIDIAN_SIM_FIRST_SEED=S` starts elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::topology;
use meridian_sim::{FaultMix, SimConfig};

fn run_seeds(name: &str, faults: FaultMix) {
    let (topology, shown) = topology(name);
    let seeds = common::seeds(200);
    let count = seeds.end - seeds.start;
    let mut failures = Vec::new();
    for seed in seeds {
        let config = SimConfig::new(Arc::clone(&topology), seed, faults);
        let report = meridian_sim::run(&config);
        if !report.ok() {
            failures.push(common::failure(
                &report,
                &format!(
                    "cargo run --release -- sim --topology {shown} --faults {faults} --first-seed {seed} --seeds 1 --ops {}",
                    config.ops
                ),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} seeds failed on {shown} with faults {faults}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

macro_rules! matrix {
    ($($test:ident: $topology:literal, $faults:expr;)*) => {
        $(
            #[test]
            fn $test() {
                run_seeds($topology, $faults);
            }
        )*
    };
}

matrix! {
    mesh_3_steady_state: "mesh-3", FaultMix::None;
    mesh_3_lossy: "mesh-3", FaultMix::Lossy;
    mesh_3_partitions: "mesh-3", FaultMix::Partitions;
    mesh_3_crashes: "mesh-3", FaultMix::Crashes;
    mesh_3_store_failures: "mesh-3", FaultMix::Disk;
    mesh_3_away_past_retention: "mesh-3", FaultMix::Away;
    mesh_3_all_faults: "mesh-3", FaultMix::All;
    ring_5_steady_state: "ring-5", FaultMix::None;
    ring_5_lossy: "ring-5", FaultMix::Lossy;
    ring_5_partitions: "ring-5", FaultMix::Partitions;
    ring_5_crashes: "ring-5", FaultMix::Crashes;
    ring_5_store_failures: "ring-5", FaultMix::Disk;
    ring_5_away_past_retention: "ring-5", FaultMix::Away;
    ring_5_all_faults: "ring-5", FaultMix::All;
    star_5_steady_state: "star-5", FaultMix::None;
    star_5_lossy: "star-5", FaultMix::Lossy;
    star_5_partitions: "star-5", FaultMix::Partitions;
    star_5_crashes: "star-5", FaultMix::Crashes;
    star_5_store_failures: "star-5", FaultMix::Disk;
    star_5_away_past_retention: "star-5", FaultMix::Away;
    star_5_all_faults: "star-5", FaultMix::All;
    tree_7_steady_state: "tree-7", FaultMix::None;
    tree_7_lossy: "tree-7", FaultMix::Lossy;
    tree_7_partitions: "tree-7", FaultMix::Partitions;
    tree_7_crashes: "tree-7", FaultMix::Crashes;
    tree_7_store_failures: "tree-7", FaultMix::Disk;
    tree_7_away_past_retention: "tree-7", FaultMix::Away;
    tree_7_all_faults: "tree-7", FaultMix::All;
    chain_4_steady_state: "chain-4", FaultMix::None;
    chain_4_lossy: "chain-4", FaultMix::Lossy;
    chain_4_partitions: "chain-4", FaultMix::Partitions;
    chain_4_crashes: "chain-4", FaultMix::Crashes;
    chain_4_store_failures: "chain-4", FaultMix::Disk;
    chain_4_away_past_retention: "chain-4", FaultMix::Away;
    chain_4_all_faults: "chain-4", FaultMix::All;
    primary_replica_steady_state: "primary-replica", FaultMix::None;
    primary_replica_lossy: "primary-replica", FaultMix::Lossy;
    primary_replica_partitions: "primary-replica", FaultMix::Partitions;
    primary_replica_crashes: "primary-replica", FaultMix::Crashes;
    primary_replica_store_failures: "primary-replica", FaultMix::Disk;
    primary_replica_away_past_retention: "primary-replica", FaultMix::Away;
    primary_replica_all_faults: "primary-replica", FaultMix::All;
}

#[test]
fn a_seed_replays_exactly() {
    let (topology, _) = topology("ring-5");
    let config = SimConfig::new(topology, 7, FaultMix::All);
    let a = meridian_sim::run(&config);
    let b = meridian_sim::run(&config);
    assert_eq!(a.digest, b.digest);
    assert_eq!(a.counters, b.counters);
    assert_eq!(a.convergence_ms, b.convergence_ms);
    assert_eq!(a.duplicates, b.duplicates);
}

#[test]
fn different_seeds_make_different_runs() {
    let (topology, _) = topology("ring-5");
    let a = meridian_sim::run(&SimConfig::new(Arc::clone(&topology), 1, FaultMix::All));
    let b = meridian_sim::run(&SimConfig::new(topology, 2, FaultMix::All));
    assert_ne!(a.digest, b.digest);
}
