//! Every shipped topology under every fault mix, for many seeds: convergence, no acknowledged
//! write lost, values as the data model defines them, causal order, faults that really
//! happened, and no duplicate on a perfect network. Then what the simulator itself must do
//! with a run that cannot prove anything: a panicking seed, a stuck one and a mix that cannot
//! happen on a one-region cluster all fail with their reason.
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
    mesh_delayed_steady_state: "mesh-delayed", FaultMix::None;
    mesh_delayed_lossy: "mesh-delayed", FaultMix::Lossy;
    mesh_delayed_partitions: "mesh-delayed", FaultMix::Partitions;
    mesh_delayed_crashes: "mesh-delayed", FaultMix::Crashes;
    mesh_delayed_store_failures: "mesh-delayed", FaultMix::Disk;
    mesh_delayed_away_past_retention: "mesh-delayed", FaultMix::Away;
    mesh_delayed_all_faults: "mesh-delayed", FaultMix::All;
    chain_delayed_steady_state: "chain-delayed", FaultMix::None;
    chain_delayed_lossy: "chain-delayed", FaultMix::Lossy;
    chain_delayed_partitions: "chain-delayed", FaultMix::Partitions;
    chain_delayed_crashes: "chain-delayed", FaultMix::Crashes;
    chain_delayed_store_failures: "chain-delayed", FaultMix::Disk;
    chain_delayed_away_past_retention: "chain-delayed", FaultMix::Away;
    chain_delayed_all_faults: "chain-delayed", FaultMix::All;
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

/// The workload's expiring keys do expire: with every fault, clock skew included, regions
/// reap deadlines, and every region reads what the model says (absent where its clock has
/// passed a deadline that survives).
#[test]
fn deadlines_pass_and_are_reaped_under_every_fault() {
    let (topology, _) = topology("mesh-3");
    let mut reaped = 0;
    for seed in 0..10 {
        let report = meridian_sim::run(&SimConfig::new(Arc::clone(&topology), seed, FaultMix::All));
        assert!(report.ok(), "{report}");
        reaped += report.reaped;
    }
    assert!(reaped > 0, "no deadline was reaped");
}

#[test]
fn different_seeds_make_different_runs() {
    let (topology, _) = topology("ring-5");
    let a = meridian_sim::run(&SimConfig::new(Arc::clone(&topology), 1, FaultMix::All));
    let b = meridian_sim::run(&SimConfig::new(topology, 2, FaultMix::All));
    assert_ne!(a.digest, b.digest);
}

/// A one-region topology file.
fn one_region() -> Arc<meridian_replica::Topology> {
    let text = "cluster = \"solo\"\nshape = \"mesh\"\n\n[[node]]\nname = \"alone\"\nid = 1\nquic = \"127.0.0.1:7001\"\nresp = \"127.0.0.1:6001\"\nadmin = \"127.0.0.1:9001\"\n";
    Arc::new(meridian_replica::Topology::parse(text, "solo.toml").unwrap())
}

/// The story of the bug: `meridian sim` on a one-region file panicked in a seed thread (the
/// `away` mix drew a region from an empty list), printed `seeds=0 diverged=0 lost_acked=0`
/// and exited 0. A mix that acts on links is refused on one region, with the reason; the
/// mixes that need no link run and pass there.
#[test]
fn a_one_region_cluster_runs_the_mixes_without_links_and_refuses_the_others() {
    let topology = one_region();
    for faults in FaultMix::ALL {
        let report = meridian_sim::run(&SimConfig::new(Arc::clone(&topology), 1, faults));
        let runs = matches!(faults, FaultMix::None | FaultMix::Crashes | FaultMix::Disk);
        if runs {
            assert!(report.ok(), "{faults}: {report} {:?}", report.violations);
            assert!(report.counters.writes > 0, "{faults}: {report}");
        } else {
            assert!(
                matches!(&report.violations[..], [meridian_sim::Violation::Refused(why)] if why.contains("links")),
                "{faults}: {:?}",
                report.violations
            );
            assert!(faults.check(&topology).is_err());
        }
    }
}

/// A run that panics is a failing report naming the panic, never a missing one: here a
/// replica config that `Replica::new` refuses, on which the world's setup panics.
#[test]
fn a_seed_that_panics_is_a_failure_with_its_message() {
    let (topology, _) = topology("mesh-3");
    let mut config = SimConfig::new(topology, 3, FaultMix::None);
    config.replica.gossip_interval_ms = 0;
    let report = meridian_sim::run(&config);
    assert!(!report.ok());
    assert!(
        matches!(&report.violations[..], [meridian_sim::Violation::Panicked(m)] if !m.is_empty()),
        "{:?}",
        report.violations
    );
    assert_eq!(report.seed, 3);
}
