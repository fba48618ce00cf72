//! The `automerge-paper` editing trace (259,778 patches; `data/editing-traces`, CC BY 4.0)
//! typed at one region of a two-region cluster through the embedded API, until the other
//! region holds the trace's `endContent`: the end-to-end figure of BENCHMARKS.md section 8.
//!
//! Each patch is one op (`Node::text_splice_now`: applied at once, durable in the
//! background), as an editor makes a keystroke; the clock stops when the second region's text
//! equals `endContent`. Both nodes run in this process on real QUIC with mutual TLS, with
//! fsync `never` (durable writes synced once a second) and then `always` (every group commit
//! fsynced). Peak RSS is the process's, both nodes together.
//!
//! ```sh
//! cargo bench -p meridian-node --bench text_replay
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../sim/benches/common/mod.rs"]
mod common;
#[allow(dead_code, unused_imports)]
mod support;
#[path = "../../crdt/tests/support/traces.rs"]
mod traces;

use std::path::Path;
use std::time::{Duration, Instant};

use meridian_node::cluster::{self, LocalCluster, Options};
use support::{free_addrs, print_table};

const LIMIT: Duration = Duration::from_secs(300);

fn load() -> (Vec<(u64, u64, String)>, String) {
    let trace = traces::load(env!("CARGO_MANIFEST_DIR"), "automerge-paper");
    let patches = trace
        .patches()
        .map(|traces::Patch(pos, del, ins)| (*pos, *del, ins.clone()))
        .collect();
    (patches, trace.end)
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn start(dir: &Path, fsync: &str) -> LocalCluster {
    let mut text = String::from("cluster = \"bench-text\"\nshape = \"mesh\"\n");
    for i in 1..=2 {
        let (quic, resp, admin) = free_addrs();
        text.push_str(&format!(
            "\n[[node]]\nname = \"n{i}\"\nid = {i}\nrole = \"leader\"\nquic = \"{quic}\"\nresp = \"{resp}\"\nadmin = \"{admin}\"\n"
        ));
    }
    let topology = dir.join("topology.toml");
    std::fs::write(&topology, text).unwrap();
    let options = Options {
        fsync: fsync.to_owned(),
        preset: "lan".to_owned(),
        ..Options::default()
    };
    let configs = cluster::prepare(&topology, &dir.join("cluster"), &options).unwrap();
    let cluster = LocalCluster::start(&configs).await.unwrap();
    let start = Instant::now();
    while !cluster
        .nodes
        .iter()
        .all(|n| n.status().links.iter().all(|l| l.state == "up"))
    {
        assert!(start.elapsed() < LIMIT, "links not up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster
}

/// One replay: (time until the second region reads `end`, time until the last local write
/// was durable, canonical state bytes, peak RSS KiB).
async fn replay(
    patches: &[(u64, u64, String)],
    end: &str,
    fsync: &str,
) -> (Duration, Duration, usize, u64) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(dir.path(), fsync).await;
    let (n1, n2) = (&cluster.nodes[0], &cluster.nodes[1]);
    let chars = end.chars().count() as u64;
    let began = Instant::now();
    let mut last = None;
    for (pos, del, ins) in patches {
        last = Some(n1.text_splice_now("paper", *pos, *del, ins).unwrap());
    }
    let typed = began.elapsed();
    last.unwrap().durable().await.unwrap();
    let durable = began.elapsed();
    loop {
        if n2.text_len(b"paper").await == chars && n2.text(b"paper").await.as_deref() == Some(end) {
            break;
        }
        assert!(began.elapsed() < LIMIT, "the other region never caught up");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let replicated = began.elapsed();
    assert_eq!(n1.text(b"paper").await.as_deref(), Some(end));
    let encoded = n2.canonical_state(b"paper").await.unwrap().len();
    let peak = status_kib("VmHWM:");
    eprintln!("{fsync}: typed in {typed:?}, durable at {durable:?}, replicated at {replicated:?}");
    cluster.shutdown().await.unwrap();
    (replicated, durable, encoded, peak)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (patches, end) = load();
    println!(
        "automerge-paper: {} patches, {} characters at the end; goal: the other region holds it in under 2 s",
        patches.len(),
        end.chars().count()
    );
    // `cargo bench ... -- always` runs one policy (for a profiler).
    let asked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a == "never" || a == "always")
        .collect();
    let policies: Vec<&str> = if asked.is_empty() {
        vec!["never", "always"]
    } else {
        asked.iter().map(String::as_str).collect()
    };
    let mut rows = Vec::new();
    for fsync in policies {
        let (replicated, durable, encoded, peak) = replay(&patches, &end, fsync).await;
        rows.push(vec![
            format!("2 regions, fsync {fsync}"),
            format!("{:.0}", replicated.as_secs_f64() * 1e3),
            format!("{:.0}", durable.as_secs_f64() * 1e3),
            common::thousands(encoded as u64),
            common::thousands(peak),
        ]);
    }
    print_table(
        "text replay end to end",
        &[
            "",
            "other region has it ms",
            "last write durable ms",
            "state bytes",
            "peak RSS KiB",
        ],
        &rows,
        &["peak RSS: the whole process, both nodes, after both runs so far".to_owned()],
    );
}
