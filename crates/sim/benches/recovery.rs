//! Recovery benchmark: how long a node takes to come back from its store.
//!
//! `cargo bench -p meridian-sim --bench recovery` builds a redb store holding 1M ops in the
//! log and 1M keys of state (`-- --quick`: 100k), written by a real `Replica` through the same
//! `Output::Persist` → `Batch` mapping the simulator's disk uses, then times each step of a
//! restart: `RedbStore::open`, `Store::load`, decoding the ops and vectors, and
//! `Replica::restore`. Beside it, the reference: reading the same file sequentially with
//! `std::fs::read`. Each is measured with the file evicted from the page cache (cold, when
//! the eviction works) and with it cached (warm). BENCHMARKS.md at the repository root
//! records a run.

mod common;

use common::thousands;
use std::path::Path;
use std::process::Command as Process;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use meridian_crdt::{ActorId, Command, Digest, VersionVector};
use meridian_replica::{Config, Output, Replica, Restored, Topology};
use meridian_store::{RedbStore, Store};

/// Wall clock handed to replicas, in ms since the Unix epoch.
const WALL_EPOCH: u64 = 1_767_225_600_000;

/// Writes per `Output::Persist` batch while building the store: one group commit each.
const BATCH_WRITES: usize = 10_000;

/// Two nodes; only `A` runs (its link never comes up, so nothing is ever truncated).
const PAIR: &str = r#"
cluster = "bench"
shape = "chain"

[[node]]
name = "a"
id = 1
role = "leader"
quic = "127.0.0.1:17401"
resp = "127.0.0.1:16401"
admin = "127.0.0.1:19401"

[[node]]
name = "b"
id = 2
role = "leader"
quic = "127.0.0.1:17402"
resp = "127.0.0.1:16402"
admin = "127.0.0.1:19402"
"#;

const A: ActorId = ActorId(1);

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let count = if quick { 100_000 } else { 1_000_000 };
    let started = Instant::now();
    print_machine(quick);

    let topology = Arc::new(Topology::parse(PAIR, "inline").expect("inline topology parses"));
    let mut config = Config::lan();
    // The log keeps every op: recovery reads all of them back.
    config.retention_ops = 2 * count;

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("node.redb");
    let build = Instant::now();
    let (digest, applied) = build_store(&path, &topology, &config, count);
    let build = build.elapsed();
    let file_bytes = std::fs::metadata(&path).expect("store file").len();
    println!(
        "\nbuilt {} in {:.2} s: {count} SETs on {count} distinct keys (16 B keys, 100 B values), {} writes per commit, one fsync at the end",
        path.display(),
        build.as_secs_f64(),
        BATCH_WRITES
    );

    let mut rows = Vec::new();
    for cold in [true, false] {
        let evicted = cold && evict(&path);
        if cold && !evicted {
            println!("   could not evict the file from the page cache: skipping the cold run");
            continue;
        }
        let label = if cold { "cold" } else { "warm" };
        let read = Instant::now();
        let bytes = std::fs::read(&path).expect("store file reads");
        let read = read.elapsed();
        assert_eq!(bytes.len() as u64, file_bytes);
        drop(bytes);
        if cold {
            evict(&path);
        }
        let timings = recover(&path, &topology, &config, count, &digest, &applied);
        // The reference again, after the recovery: the first read follows the build's fsync
        // closely and may share the device with its writeback.
        if cold {
            evict(&path);
        }
        let again = Instant::now();
        let bytes = std::fs::read(&path).expect("store file reads");
        let again = again.elapsed();
        drop(bytes);
        println!(
            "   {label}: fs::read before the recovery {:.3} s, after it {:.3} s; the table shows the faster",
            read.as_secs_f64(),
            again.as_secs_f64()
        );
        let read = read.min(again);
        rows.push((label, read, timings));
    }

    println!(
        "\nRecovery from a redb store: {} ops in the log, {} keys of state, store file {:.1} MB;\n\
         reference: std::fs::read of the same file (sequential read, the IO floor)\n",
        thousands(count as u64),
        thousands(count as u64),
        file_bytes as f64 / 1e6
    );
    let header = [
        "cache",
        "open s",
        "load s",
        "decode s",
        "restore s",
        "total s",
        "fs::read s",
        "read MB/s",
        "read / total",
        "log replay s",
    ];
    let mut table = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    for (label, read, t) in &rows {
        let total = t.open + t.load + t.decode + t.restore;
        table.push(vec![
            label.to_string(),
            secs(t.open),
            secs(t.load),
            secs(t.decode),
            secs(t.restore),
            secs(total),
            secs(*read),
            format!("{:.0}", file_bytes as f64 / 1e6 / read.as_secs_f64()),
            format!("{:.1}%", 100.0 * read.as_secs_f64() / total.as_secs_f64()),
            secs(t.replay),
        ]);
    }
    print_table(&table);
    println!(
        "   open: RedbStore::open; load: Store::load (every log, state and meta record, envelopes checked);\n   \
         decode: Op::decode of every log record and the two stored vectors; restore: Replica::restore\n   \
         (loads every key state into the keyspace and appends every op to the in-memory log; the stored\n   \
         applied vector covers the whole log, so no op is re-applied). Every restored replica's digest\n   \
         and applied vector were checked equal to the writer's.\n   \
         log replay: Replica::restore from the decoded log alone, no stored state (every op re-applied,\n   \
         as before state was stored); not part of the total."
    );
    println!(
        "\nTotal wall time: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A 16-byte key.
fn key(i: usize) -> Bytes {
    Bytes::from(format!("key:{i:012}"))
}

/// A 100-byte value.
fn value(i: usize) -> Bytes {
    let mut v = format!("value:{i:012}:");
    while v.len() < 100 {
        v.push('x');
    }
    Bytes::from(v)
}

/// Writes `count` SETs on `count` keys at a replica and commits every persist batch into a
/// new redb store at `path`. Returns the writer's digest and applied vector.
fn build_store(
    path: &Path,
    topology: &Arc<Topology>,
    config: &Config,
    count: usize,
) -> (Digest, VersionVector) {
    let mut store = RedbStore::open(path).expect("store opens");
    let mut replica =
        Replica::new(A, Arc::clone(topology), config.clone(), WALL_EPOCH).expect("replica starts");
    let mut written = 0;
    let mut now = 0;
    while written < count {
        let end = (written + BATCH_WRITES).min(count);
        for i in written..end {
            replica
                .write(now, WALL_EPOCH + now, key(i), Command::Set(value(i)))
                .expect("the write is accepted");
        }
        written = end;
        now += 1;
        while let Some(out) = replica.poll_output() {
            if let Output::Persist {
                batch,
                ops,
                state,
                applied,
                truncate,
            } = out
            {
                let batch_record = meridian_sim::disk::store_batch(&ops, state, &applied, truncate);
                store
                    .commit(&batch_record, false)
                    .expect("the batch commits");
                replica.handle_persisted(now, batch);
            }
        }
    }
    store.sync().expect("the store syncs");
    assert_eq!(replica.log().len(), count, "the log kept every op");
    assert_eq!(replica.stats().truncated, 0);
    (replica.digest(), replica.applied().clone())
}

struct Timings {
    open: Duration,
    load: Duration,
    decode: Duration,
    restore: Duration,
    /// `Replica::restore` from the log alone (no stored state): every op re-applied.
    replay: Duration,
}

/// One restart: open, load, decode, restore, each timed; checks the result.
fn recover(
    path: &Path,
    topology: &Arc<Topology>,
    config: &Config,
    count: usize,
    digest: &Digest,
    applied: &VersionVector,
) -> Timings {
    let start = Instant::now();
    let store = RedbStore::open(path).expect("store opens");
    let open = start.elapsed();

    let start = Instant::now();
    let loaded = store.load().expect("store loads");
    let load = start.elapsed();
    drop(store);
    assert_eq!(loaded.log.len(), count);
    assert_eq!(loaded.state.len(), count);

    let start = Instant::now();
    let restored = meridian_sim::disk::restored(loaded, true).expect("the store decodes");
    let decode = start.elapsed();
    let replay_ops = restored.ops.clone();

    let start = Instant::now();
    let replica = Replica::restore(
        A,
        Arc::clone(topology),
        config.clone(),
        0,
        WALL_EPOCH,
        restored,
    )
    .expect("the replica restores");
    let restore = start.elapsed();

    assert_eq!(&replica.digest(), digest, "restored state differs");
    assert_eq!(
        replica.applied(),
        applied,
        "restored applied vector differs"
    );
    assert_eq!(replica.log().len(), count, "restored log differs");
    drop(replica);

    let start = Instant::now();
    let replica = Replica::restore(
        A,
        Arc::clone(topology),
        config.clone(),
        0,
        WALL_EPOCH,
        Restored {
            ops: replay_ops,
            history_complete: true,
            ..Restored::default()
        },
    )
    .expect("the replica replays its log");
    let replay = start.elapsed();
    assert_eq!(&replica.digest(), digest, "replayed state differs");
    assert_eq!(
        replica.applied(),
        applied,
        "replayed applied vector differs"
    );
    Timings {
        open,
        load,
        decode,
        restore,
        replay,
    }
}

/// Drops the file's pages from the page cache (`dd iflag=nocache`, i.e.
/// `posix_fadvise(DONTNEED)`) and checks with `fincore` that they are gone.
fn evict(path: &Path) -> bool {
    let dropped = Process::new("dd")
        .arg(format!("if={}", path.display()))
        .args(["iflag=nocache", "count=0", "status=none"])
        .status()
        .is_ok_and(|s| s.success());
    if !dropped {
        return false;
    }
    Process::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(path)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u64>()
                .ok()
        })
        .is_some_and(|resident| resident == 0)
}

fn print_machine(quick: bool) {
    common::print_machine("Meridian recovery benchmark", quick);
}

fn print_table(rows: &[Vec<String>]) {
    let columns = rows.first().map_or(0, Vec::len);
    let mut widths = vec![0; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i > 0 {
                out.push_str("  ");
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            }
        }
        out.trim_end().to_string()
    };
    for (n, row) in rows.iter().enumerate() {
        println!("{}", line(row));
        if n == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            println!("{}", line(&rule));
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}
