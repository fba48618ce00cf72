//! What the simulator's test files share: the shipped topologies and the seed loop.

#![allow(dead_code)]

use std::sync::Arc;

use meridian_replica::Topology;
use meridian_sim::{Report, SimConfig};

/// `MERIDIAN_SIM_SEEDS=N` runs N seeds instead of a test's default; `MERIDIAN_SIM_FIRST_SEED=S`
/// starts at S.
pub fn seeds(default: u64) -> std::ops::Range<u64> {
    let first = env_u64("MERIDIAN_SIM_FIRST_SEED", 0);
    first..first + env_u64("MERIDIAN_SIM_SEEDS", default)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A shipped topology file, with the path to show in messages.
pub fn topology(name: &str) -> (Arc<Topology>, String) {
    let path = format!(
        "{}/../../topologies/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("shipped topology file");
    let shown = format!("topologies/{name}.toml");
    (
        Arc::new(Topology::parse(&text, &shown).expect("valid topology")),
        shown,
    )
}

/// A failed run, its first violations and how to replay it.
pub fn failure(report: &Report, replay: &str) -> String {
    let reasons: Vec<String> = report
        .violations
        .iter()
        .take(5)
        .map(|v| v.to_string())
        .collect();
    format!(
        "{report}\n    {}\n    replay: {replay}",
        reasons.join("\n    ")
    )
}

/// Runs `config`: its report, and if it failed, the failure with how to replay it in this
/// test of `test_file`.
pub fn run_in_test(config: &SimConfig, test_file: &str) -> (Report, Option<String>) {
    let report = meridian_sim::run(config);
    if report.ok() {
        return (report, None);
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("TEST")
        .rsplit("::")
        .next()
        .unwrap_or("TEST")
        .to_string();
    let replay = format!(
        "MERIDIAN_SIM_FIRST_SEED={} MERIDIAN_SIM_SEEDS=1 cargo test --release -p meridian-sim --test {test_file} -- --exact {test} --include-ignored",
        config.seed
    );
    let text = failure(&report, &replay);
    (report, Some(text))
}
