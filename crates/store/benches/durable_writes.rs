//! Durable local writes through `GroupCommit` + `RedbStore`, beside redis-server with its
//! append-only file, in the same run; then recovery time of a large store.
//!
//! `cargo bench -p meridian-store --bench durable_writes [-- --quick]`
//!
//! A record is one state put (16-byte key, 100-byte value) plus one 150-byte log entry.
//! "Batch size B" means: `CLIENTS` writer threads each submit a batch of B records and wait
//! for its ticket before submitting the next, the way `redis-benchmark -c CLIENTS -P B`
//! keeps B pipelined SETs in flight per connection. The writer thread merges whatever the
//! clients have queued into one commit (and, under `always`, one fsync). Figures are records
//! per second for Meridian and SETs per second (`-d 100`, random keys over 1M) for Redis.
//!
//! The full run also builds a store of 1M log records and 1M state keys (not timed as
//! recovery) and times `RedbStore::open` + `load` after a clean close and after an abort.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use meridian_crdt::{ActorId, Dot};
use meridian_store::{Batch, FsyncPolicy, GroupCommit, GroupCommitStats, RedbStore, Store};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CLIENTS: usize = 50;
const BATCH_SIZES: [usize; 4] = [1, 10, 100, 1000];
const KEYSPACE: u64 = 1_000_000;
const VALUE_LEN: usize = 100;
const OP_LEN: usize = 150;
const RECOVERY_RECORDS: u64 = 1_000_000;
const CRASH_CHILD_ARG: &str = "--crash-child";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == CRASH_CHILD_ARG) {
        crash_child(Path::new(&args[i + 1]));
    }
    let quick = args.iter().any(|a| a == "--quick");
    let run_for = if quick {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(3)
    };

    println!("# durable_writes{}", if quick { " --quick" } else { "" });
    println!("machine: {}", machine());
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!("commit: {commit}");
    let bench_started = Instant::now();
    println!(
        "{CLIENTS} clients; record = state put ({}-byte key, {VALUE_LEN}-byte value) + {OP_LEN}-byte log entry; \
         {} s per Meridian figure",
        16,
        run_for.as_secs_f64()
    );

    let policies = [
        ("always", FsyncPolicy::Always, "always"),
        (
            "periodic:100ms",
            FsyncPolicy::Periodic(FsyncPolicy::DEFAULT_INTERVAL),
            "everysec",
        ),
        ("never", FsyncPolicy::Never, "no"),
    ];
    let redis = RedisTools::find();
    if redis.is_none() {
        println!("redis-server not installed: apt-get install -y redis-server");
    }

    let mut rows = Vec::new();
    for &(name, policy, redis_fsync) in &policies {
        for &batch in &BATCH_SIZES {
            let ours = meridian_run(policy, batch, run_for);
            let theirs = redis
                .as_ref()
                .map(|r| r.set_throughput(redis_fsync, batch, quick));
            println!(
                "{name:>15} batch {batch:>4}: meridian {:>10.0} rec/s  ({} commits, {} fsyncs, {:.1} batches/commit avg, {} max) | redis appendfsync {redis_fsync}: {}",
                ours.rate,
                ours.stats.commits,
                ours.stats.fsyncs,
                ours.stats.submitted as f64 / ours.stats.commits.max(1) as f64,
                ours.stats.max_merged,
                theirs
                    .as_ref()
                    .map(|t| match t {
                        Ok(rps) => format!("{rps:.0} SET/s"),
                        Err(e) => format!("failed: {e}"),
                    })
                    .unwrap_or_else(|| "skipped".into()),
            );
            rows.push((name, redis_fsync, batch, ours, theirs));
        }
    }

    println!();
    println!(
        "| fsync policy (Meridian / Redis) | batch = pipeline | Meridian records/s | merged batches per commit (avg / max) | Redis SET/s | Meridian / Redis |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, redis_fsync, batch, ours, theirs) in &rows {
        let (redis_col, ratio) = match theirs {
            Some(Ok(rps)) => (format!("{rps:.0}"), format!("{:.2}", ours.rate / rps)),
            Some(Err(_)) => ("failed".into(), "-".into()),
            None => ("not installed".into(), "-".into()),
        };
        println!(
            "| {name} / {redis_fsync} | {batch} | {:.0} | {:.1} / {} | {redis_col} | {ratio} |",
            ours.rate,
            ours.stats.submitted as f64 / ours.stats.commits.max(1) as f64,
            ours.stats.max_merged,
        );
    }

    if quick {
        println!("\nrecovery: skipped in --quick (full run only)");
    } else {
        recovery();
    }
    println!("\ntotal wall time: {:.0?}", bench_started.elapsed());
}

struct Run {
    rate: f64,
    stats: GroupCommitStats,
}

/// `CLIENTS` threads each submit batches of `batch` records and wait for each ticket, for
/// `run_for`. Returns records per second.
fn meridian_run(policy: FsyncPolicy, batch: usize, run_for: Duration) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("bench.redb")).unwrap();
    let gc = GroupCommit::start(store, policy);
    let value = Bytes::from(vec![b'v'; VALUE_LEN]);
    let op = Bytes::from(vec![b'o'; OP_LEN]);
    let started = Instant::now();
    let deadline = started + run_for;
    let records: usize = thread::scope(|s| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let (gc, value, op) = (&gc, value.clone(), op.clone());
                s.spawn(move || {
                    let mut rng = ChaCha8Rng::seed_from_u64(client as u64);
                    let actor = ActorId(client as u32 + 1);
                    let mut seq = 0u64;
                    let mut done = 0;
                    while Instant::now() < deadline {
                        let mut b = Batch::default();
                        b.log.reserve(batch);
                        b.state.reserve(batch);
                        for _ in 0..batch {
                            seq += 1;
                            b.log.push((Dot::new(actor, seq), op.clone()));
                            let key = format!("key:{:012}", rng.random_range(0..KEYSPACE));
                            b.state.push((Bytes::from(key), Some(value.clone())));
                        }
                        gc.submit(b).wait().unwrap();
                        done += batch;
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let elapsed = started.elapsed();
    let stats = gc.stats();
    gc.shutdown().unwrap();
    Run {
        rate: records as f64 / elapsed.as_secs_f64(),
        stats,
    }
}

struct RedisTools;

struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl RedisTools {
    fn find() -> Option<RedisTools> {
        let runs = |cmd: &str| {
            Command::new(cmd)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        (runs("redis-server") && runs("redis-benchmark")).then_some(RedisTools)
    }

    fn start(&self, appendfsync: &str) -> Result<RedisServer, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir.path())
            .args(["--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", appendfsync, "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let server = RedisServer {
            child,
            port,
            _dir: dir,
        };
        // Bounded poll until it answers PING.
        for _ in 0..200 {
            if ping(port) {
                return Ok(server);
            }
            thread::sleep(Duration::from_millis(25));
        }
        Err("redis-server did not answer PING within 5 s".into())
    }

    /// SETs per second at pipeline depth `pipeline` with `CLIENTS` connections.
    fn set_throughput(
        &self,
        appendfsync: &str,
        pipeline: usize,
        quick: bool,
    ) -> Result<f64, String> {
        let server = self.start(appendfsync)?;
        let per_round = CLIENTS * pipeline;
        let base = if quick { 20_000 } else { 100_000 };
        let rounds = if quick { 4 } else { 20 };
        let n = (per_round * rounds).max(base);
        let out = Command::new("redis-benchmark")
            .args(["-h", "127.0.0.1", "-p", &server.port.to_string()])
            .args([
                "-t",
                "set",
                "-n",
                &n.to_string(),
                "-c",
                &CLIENTS.to_string(),
            ])
            .args(["-P", &pipeline.to_string(), "-d", &VALUE_LEN.to_string()])
            .args(["-r", &KEYSPACE.to_string(), "--csv"])
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        // "test","rps",...  then  "SET","123.45",...
        text.lines()
            .find(|l| l.starts_with("\"SET\""))
            .and_then(|l| l.split(',').nth(1))
            .and_then(|f| f.trim_matches('"').parse().ok())
            .ok_or_else(|| format!("unexpected redis-benchmark output: {text}"))
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(1))).ok();
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// Builds a store of `RECOVERY_RECORDS` log records and state keys, then times open + load
/// after a clean close and after an abort (redb's repair path, with quick repair).
fn recovery() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recovery.redb");
    let built = Instant::now();
    {
        let mut store = RedbStore::open(&path).unwrap();
        let op = Bytes::from(vec![b'o'; OP_LEN]);
        let value = Bytes::from(vec![b'v'; VALUE_LEN]);
        let chunk = 10_000u64;
        for start in (0..RECOVERY_RECORDS).step_by(chunk as usize) {
            let mut b = Batch::default();
            for i in start..start + chunk {
                let actor = ActorId((i % 8) as u32 + 1);
                b.log.push((Dot::new(actor, i / 8 + 1), op.clone()));
                b.state
                    .push((Bytes::from(format!("key:{i:012}")), Some(value.clone())));
            }
            store.commit(&b, false).unwrap();
        }
        store.sync().unwrap();
    }
    let build = built.elapsed();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "\nrecovery store: {RECOVERY_RECORDS} log records + {RECOVERY_RECORDS} state keys, {:.0} MiB, built in {:.1?} (not timed below)",
        size as f64 / (1 << 20) as f64,
        build
    );

    let clean = time_open_load(&path);
    let status = Command::new(std::env::current_exe().unwrap())
        .arg(CRASH_CHILD_ARG)
        .arg(&path)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the crash child should have aborted");
    let crashed = time_open_load(&path);
    println!();
    println!("| recovery (1M log + 1M state) | open | load | total |");
    println!("|---|---:|---:|---:|");
    for (name, (open, load)) in [
        ("after a clean close", clean),
        ("after an abort (repair)", crashed),
    ] {
        println!(
            "| {name} | {:.2?} | {:.2?} | {:.2?} |",
            open,
            load,
            open + load
        );
    }
}

fn time_open_load(path: &Path) -> (Duration, Duration) {
    let t = Instant::now();
    let store = RedbStore::open(path).unwrap();
    let open = t.elapsed();
    let t = Instant::now();
    let loaded = store.load().unwrap();
    let load = t.elapsed();
    assert_eq!(loaded.log.len() as u64, RECOVERY_RECORDS);
    assert_eq!(loaded.state.len() as u64, RECOVERY_RECORDS);
    (open, load)
}

/// Opens the store, commits one durable batch, and dies without closing it.
fn crash_child(path: &Path) -> ! {
    let mut store = RedbStore::open(PathBuf::from(path)).unwrap();
    let b = Batch {
        meta: vec![("crashed".into(), Bytes::from_static(b"yes"))],
        ..Batch::default()
    };
    store.commit(&b, true).unwrap();
    std::process::abort();
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let fs = Command::new("df")
        .args(["-T", &std::env::temp_dir().to_string_lossy()])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .nth(1)
                .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {kernel}, temp dir on {fs}")
}
