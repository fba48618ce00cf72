//! Whole nodes over loopback QUIC with mutual TLS: sustained replicated throughput with
//! writes at every leader, replication lag at about half of it, and bytes on the wire per
//! replicated op beside the size of the same SET in Redis's replication stream.
//!
//! `cargo bench -p meridian-node --bench links [-- --quick]`
//!
//! Every node runs in this process, on one tokio runtime, over real quinn connections on
//! 127.0.0.1 with redb stores in temp dirs, so all timestamps come from one clock. Writes are
//! `Node::set` of a 16-byte key and a 100-byte value. BENCHMARKS.md (section 6) records a run.

// The run header and number formatting, shared with the simulator's benchmarks.
#[path = "../../sim/benches/common/mod.rs"]
mod common;
mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::thousands;
use meridian_crdt::{ActorId, Dot, VersionVector};
use meridian_node::cluster::{self, LocalCluster, Options};
use meridian_node::{FeedError, Node};
use support::{
    clock_ticks, free_addrs, free_port, installed, machine_ticks, print_table, process_ticks, rate,
};
use tokio::time::MissedTickBehavior;

/// Concurrent writer tasks per node, each awaiting its write before the next.
const WRITERS: usize = 50;
const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;
/// Upper bound on any wait for links, convergence or a subscriber.
const LIMIT: Duration = Duration::from_secs(120);
/// Upper bound on the writes of one writer task in one phase.
const MAX_WRITES_PER_TASK: u64 = 10_000_000;
/// Topologies measured: shape and number of leaders.
const TOPOLOGIES: [(&str, usize); 2] = [("mesh", 3), ("ring", 5)];

/// How long each figure runs.
#[derive(Debug, Clone)]
struct Plan {
    /// Untimed writes before the throughput phase (links warm, stores non-empty).
    warmup: Duration,
    /// Writers run this long in the throughput phase.
    saturate_for: Duration,
    /// Rate-limited writers run this long in the lag phase.
    lag_for: Duration,
    /// fsync policies, in order.
    policies: Vec<&'static str>,
    /// SETs sent to redis-server for the replication-stream size.
    redis_sets: u64,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        let secs = |s: f64| Duration::from_secs_f64(s);
        Plan {
            warmup: secs(if quick { 0.5 } else { 2.0 }),
            saturate_for: secs(if quick { 3.0 } else { 10.0 }),
            lag_for: secs(if quick { 3.0 } else { 10.0 }),
            policies: vec!["periodic", "always"],
            redis_sets: if quick { 20_000 } else { 200_000 },
        }
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let plan = Plan::new(quick);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let started = Instant::now();
    common::print_machine("Meridian node benchmarks: links over loopback QUIC", quick);
    println!(
        "plan: {WRITERS} writer tasks per node, SET of {KEY_LEN}-byte keys and {VALUE_LEN}-byte values; \
         warm-up {:.1} s, saturated {:.1} s, rate-limited {:.1} s per topology and fsync policy; \
         preset lan; 127.0.0.1 only",
        plan.warmup.as_secs_f64(),
        plan.saturate_for.as_secs_f64(),
        plan.lag_for.as_secs_f64()
    );

    let redis = redis_reference(plan.redis_sets);
    match &redis {
        Redis::Missing(hint) => println!("{hint}"),
        Redis::Failed(e) => println!("redis reference failed: {e}"),
        Redis::Measured(r) => println!("redis: {}", r.version),
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut runs = Vec::new();
    for &fsync in &plan.policies {
        let solo = runtime.block_on(scenario(&plan, "mesh", 1, fsync));
        println!(
            "ran 1 node alone, fsync {fsync}: {:.0} ops/s",
            solo.saturated.applied_rate()
        );
        for (shape, n) in TOPOLOGIES {
            let run = runtime.block_on(scenario(&plan, shape, n, fsync));
            println!(
                "ran {shape}-{n}, fsync {fsync}: {:.0} ops/s applied at every node, lag p99 {}",
                run.saturated.applied_rate(),
                run.lag
                    .as_ref()
                    .map_or("-".to_owned(), |l| format!("{} ms", ms(l.to_all.p(0.99))))
            );
            runs.push((solo.saturated, run));
        }
    }
    runtime.shutdown_timeout(Duration::from_secs(10));

    print_throughput(&runs);
    print_lag(&runs);
    print_bytes(&runs, &redis);
    print_checks(&runs);
    println!(
        "\nTotal wall time: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

// ----- a cluster -----

/// One topology under one fsync policy: throughput, then lag on the same cluster.
#[derive(Debug)]
struct Run {
    topology: String,
    nodes: usize,
    fsync: &'static str,
    saturated: Saturated,
    lag: Option<Lag>,
    check: Check,
}

/// Prepares and starts `n` leaders of `shape` on free loopback ports under `dir`.
async fn start(dir: &Path, shape: &str, n: usize, fsync: &str) -> Vec<Arc<Node>> {
    let mut text = format!("cluster = \"bench-{shape}-{n}\"\nshape = \"{shape}\"\n");
    for i in 1..=n {
        let (quic, resp, admin) = free_addrs();
        text.push_str(&format!(
            "\n[[node]]\nname = \"n{i}\"\nid = {i}\nrole = \"leader\"\nquic = \"{quic}\"\nresp = \"{resp}\"\nadmin = \"{admin}\"\n"
        ));
    }
    let topology = dir.join("topology.toml");
    std::fs::write(&topology, text).expect("topology file written");
    let options = Options {
        fsync: fsync.to_owned(),
        preset: "lan".to_owned(),
        ..Options::default()
    };
    let configs =
        cluster::prepare(&topology, &dir.join("cluster"), &options).expect("cluster prepared");
    let cluster = LocalCluster::start(&configs)
        .await
        .expect("cluster started");
    cluster.nodes.into_iter().map(Arc::new).collect()
}

async fn scenario(plan: &Plan, shape: &str, n: usize, fsync: &'static str) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let nodes = start(dir.path(), shape, n, fsync).await;
    poll("every link up", || {
        nodes
            .iter()
            .all(|n| n.status().links.iter().all(|l| l.state == "up"))
    })
    .await;
    tracing::info!(shape, n, fsync, "bench: warm-up");
    saturate(&nodes, b'W', plan.warmup).await;
    tracing::info!(shape, n, fsync, "bench: saturated");
    let saturated = saturate(&nodes, b'T', plan.saturate_for).await;
    let lag = if n > 1 {
        tracing::info!(shape, n, fsync, "bench: rate-limited");
        Some(rate_limited(&nodes, saturated.applied_rate() / 2.0, plan.lag_for).await)
    } else {
        None
    };
    let check = check(&nodes).await;
    tracing::info!(shape, n, fsync, "bench: shutdown");
    let mut stopped = Vec::new();
    for node in nodes {
        let node = Arc::into_inner(node).expect("no task holds the node any more");
        stopped.push(node.shutdown().await);
    }
    for result in stopped {
        result.expect("the node shuts down cleanly");
    }
    Run {
        topology: format!("{shape}-{n}"),
        nodes: n,
        fsync,
        saturated,
        lag,
        check,
    }
}

/// Polls `condition` every 20 ms; panics after `LIMIT`, saying what was awaited.
async fn poll(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < LIMIT, "not within {LIMIT:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Each node's own writes so far (its entry of its own applied vector).
async fn own_writes(nodes: &[Arc<Node>]) -> VersionVector {
    let mut own = VersionVector::new();
    for node in nodes {
        own.set(node.id(), node.applied().await.get(node.id()));
    }
    own
}

/// Polls every 2 ms until every node's applied vector covers `target`; the instant it did.
async fn all_applied(nodes: &[Arc<Node>], target: &VersionVector) -> Instant {
    let start = Instant::now();
    loop {
        let mut covered = true;
        for node in nodes {
            if !node.applied().await.dominates(target) {
                covered = false;
                break;
            }
        }
        if covered {
            return Instant::now();
        }
        if start.elapsed() > LIMIT {
            let vectors: Vec<String> = nodes
                .iter()
                .map(|n| format!("{}: {:?}", n.name(), n.status().applied))
                .collect();
            panic!(
                "not every node applied {target:?} within {LIMIT:?}: {}",
                vectors.join("; ")
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// UDP payload bytes sent on every link of every node so far.
fn wire_sent(nodes: &[Arc<Node>]) -> u64 {
    nodes
        .iter()
        .flat_map(|n| n.status().links)
        .map(|l| l.wire_bytes_sent)
        .sum()
}

/// A 16-byte key: phase, node, writer task, counter.
fn key(phase: u8, node: usize, task: usize, i: u64) -> Bytes {
    let key = format!("{}{node:01}{task:02}{i:012}", phase as char);
    debug_assert_eq!(key.len(), KEY_LEN);
    Bytes::from(key)
}

// ----- throughput -----

#[derive(Debug, Clone, Copy)]
struct Saturated {
    writes: u64,
    /// From the start until the last writer's last write was acknowledged.
    write_time: Duration,
    /// From the start until every node had applied every write.
    all_applied: Duration,
    /// UDP payload bytes sent on all links over `all_applied`.
    wire_bytes: u64,
    /// CPU over `all_applied`.
    cpu: CpuUse,
}

impl Saturated {
    fn applied_rate(&self) -> f64 {
        self.writes as f64 / self.all_applied.as_secs_f64()
    }
}

/// `WRITERS` tasks per node each write, await the acknowledgement and write again, for
/// `run_for`; then waits until every node applied every write.
async fn saturate(nodes: &[Arc<Node>], phase: u8, run_for: Duration) -> Saturated {
    let before = own_writes(nodes).await;
    let bytes_before = wire_sent(nodes);
    let value = Bytes::from(vec![b'v'; VALUE_LEN]);
    let cpu_before = CpuSample::now();
    let start = Instant::now();
    let deadline = start + run_for;
    let mut tasks = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        for task in 0..WRITERS {
            let node = Arc::clone(node);
            let value = value.clone();
            tasks.push(tokio::spawn(async move {
                let mut done = 0u64;
                while done < MAX_WRITES_PER_TASK && Instant::now() < deadline {
                    node.set(key(phase, i, task, done), value.clone())
                        .await
                        .expect("the write is acknowledged");
                    done += 1;
                }
                done
            }));
        }
    }
    let mut acknowledged = 0;
    for task in tasks {
        acknowledged += task.await.expect("a writer task");
    }
    let write_time = start.elapsed();
    let target = own_writes(nodes).await;
    let covered = all_applied(nodes, &target).await;
    let cpu = CpuSample::now().since(&cpu_before, covered - start);
    let wire_bytes = wire_sent(nodes) - bytes_before;
    let writes: u64 = nodes
        .iter()
        .map(|n| target.get(n.id()) - before.get(n.id()))
        .sum();
    assert_eq!(writes, acknowledged, "every acknowledged write has a seq");
    Saturated {
        writes,
        write_time,
        all_applied: covered - start,
        wire_bytes,
        cpu,
    }
}

/// CPU time of this process and of the whole machine, in clock ticks.
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    ours: u64,
    machine: u64,
}

/// Cores busy on average over a phase: this process (every node, every writer) and the
/// rest of the machine.
#[derive(Debug, Clone, Copy, Default)]
struct CpuUse {
    ours: f64,
    others: f64,
}

impl CpuSample {
    /// From `/proc/self/stat` (utime + stime) and `/proc/stat` (user, nice, system, irq,
    /// softirq); zeros where they cannot be read.
    fn now() -> CpuSample {
        let ours = process_ticks("self");
        let machine = machine_ticks();
        CpuSample { ours, machine }
    }

    fn since(&self, before: &CpuSample, elapsed: Duration) -> CpuUse {
        let per_second = clock_ticks() * elapsed.as_secs_f64();
        let ours = self.ours.saturating_sub(before.ours);
        let machine = self.machine.saturating_sub(before.machine);
        CpuUse {
            ours: ours as f64 / per_second,
            others: machine.saturating_sub(ours) as f64 / per_second,
        }
    }
}

// ----- lag -----

/// Sorted durations.
#[derive(Debug, Default)]
struct Distribution(Vec<Duration>);

impl Distribution {
    fn new(mut samples: Vec<Duration>) -> Distribution {
        samples.sort_unstable();
        Distribution(samples)
    }

    /// The `q` quantile (nearest rank).
    fn p(&self, q: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.0.len() as f64 * q).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1]
    }

    fn max(&self) -> Duration {
        self.0.last().copied().unwrap_or_default()
    }
}

#[derive(Debug)]
struct Lag {
    target_rate: f64,
    writes: u64,
    write_time: Duration,
    /// Acknowledged at the origin -> applied at the last of the other nodes.
    to_all: Distribution,
    /// Acknowledged at the origin -> applied at one other node, every copy.
    per_copy: Distribution,
    /// The origin's own latency: `Node::set` called -> acknowledged.
    local_ack: Distribution,
    /// Copies some node's feed never showed (it lagged, or the wait ran out).
    missing: u64,
    /// Changes skipped by lagging subscribers.
    feed_lagged: u64,
    /// Copies applied elsewhere before the origin's writer saw its acknowledgement.
    before_ack: u64,
    wire_bytes: u64,
}

/// What one writer task saw of each write: the dot, when `set` was called, when it returned.
type Sent = Vec<(Dot, Instant, Instant)>;

/// Writers at every node paced to `total_rate` writes/s over the whole cluster for `run_for`,
/// every node's change feed timestamped as it announces each op.
async fn rate_limited(nodes: &[Arc<Node>], total_rate: f64, run_for: Duration) -> Lag {
    let bytes_before = wire_sent(nodes);
    let expected = Arc::new(AtomicU64::new(u64::MAX));
    let feed_deadline = Instant::now() + run_for + LIMIT;
    let mut feeds = Vec::new();
    for node in nodes {
        let mut feed = node.subscribe(Bytes::from_static(b"L"));
        let expected = Arc::clone(&expected);
        feeds.push(tokio::spawn(async move {
            let mut seen: Vec<(Dot, Instant)> = Vec::new();
            let mut lagged = 0u64;
            while (seen.len() as u64) < expected.load(Ordering::Acquire)
                && Instant::now() < feed_deadline
            {
                match tokio::time::timeout(Duration::from_millis(50), feed.recv()).await {
                    Ok(Ok(change)) => {
                        let at = Instant::now();
                        if let Some(dot) = change.dot {
                            seen.push((dot, at));
                        }
                    }
                    Ok(Err(FeedError::Lagged(n))) => lagged += n,
                    Ok(Err(FeedError::Closed)) => break,
                    Err(_) => {}
                }
            }
            (seen, lagged)
        }));
    }

    let period = Duration::from_secs_f64((nodes.len() * WRITERS) as f64 / total_rate);
    let ticks = (run_for.as_secs_f64() / period.as_secs_f64()).ceil() as u64;
    let value = Bytes::from(vec![b'v'; VALUE_LEN]);
    let start = Instant::now();
    let deadline = start + run_for;
    let mut writers = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        for task in 0..WRITERS {
            let node = Arc::clone(node);
            let value = value.clone();
            // Writers of a node start spread over one period, not in step.
            let first = start + period.mul_f64(task as f64 / WRITERS as f64);
            writers.push(tokio::spawn(async move {
                let mut interval = tokio::time::interval_at(first.into(), period);
                interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
                let mut sent: Sent = Vec::new();
                for n in 0..ticks.min(MAX_WRITES_PER_TASK) {
                    interval.tick().await;
                    if Instant::now() >= deadline {
                        break;
                    }
                    let called = Instant::now();
                    let receipt = node
                        .set(key(b'L', i, task, n), value.clone())
                        .await
                        .expect("the write is acknowledged");
                    sent.push((receipt.dot, called, Instant::now()));
                }
                sent
            }));
        }
    }
    let mut acks: HashMap<Dot, Instant> = HashMap::new();
    let mut local_ack = Vec::new();
    for writer in writers {
        for (dot, called, acked) in writer.await.expect("a writer task") {
            acks.insert(dot, acked);
            local_ack.push(acked - called);
        }
    }
    let write_time = start.elapsed();
    let writes = acks.len() as u64;
    expected.store(writes, Ordering::Release);
    let target = own_writes(nodes).await;
    all_applied(nodes, &target).await;
    let wire_bytes = wire_sent(nodes) - bytes_before;

    let mut seen_at: Vec<HashMap<Dot, Instant>> = Vec::new();
    let mut feed_lagged = 0;
    for feed in feeds {
        let (seen, lagged) = feed.await.expect("a feed task");
        feed_lagged += lagged;
        seen_at.push(seen.into_iter().collect());
    }
    let ids: Vec<ActorId> = nodes.iter().map(|n| n.id()).collect();
    let (mut to_all, mut per_copy) = (Vec::new(), Vec::new());
    let (mut missing, mut before_ack) = (0, 0);
    for (dot, acked) in &acks {
        let mut last = Duration::ZERO;
        let mut complete = true;
        for (id, seen) in ids.iter().zip(&seen_at) {
            if *id == dot.actor {
                continue;
            }
            match seen.get(dot) {
                Some(at) => {
                    if at < acked {
                        before_ack += 1;
                    }
                    let lag = at.saturating_duration_since(*acked);
                    per_copy.push(lag);
                    last = last.max(lag);
                }
                None => {
                    missing += 1;
                    complete = false;
                }
            }
        }
        if complete {
            to_all.push(last);
        }
    }
    Lag {
        target_rate: total_rate,
        writes,
        write_time,
        to_all: Distribution::new(to_all),
        per_copy: Distribution::new(per_copy),
        local_ack: Distribution::new(local_ack),
        missing,
        feed_lagged,
        before_ack,
        wire_bytes,
    }
}

// ----- checks -----

#[derive(Debug, Clone, Copy)]
struct Check {
    digests_equal: bool,
    duplicates: u64,
    /// Times a sender rewound a stalled link and resent from its log.
    repairs: u64,
    protocol_errors: u64,
    /// Connections beyond the first of each link.
    reconnects: u64,
}

async fn check(nodes: &[Arc<Node>]) -> Check {
    let digest = nodes[0].digest().await;
    let mut digests_equal = true;
    for node in &nodes[1..] {
        digests_equal &= node.digest().await == digest;
    }
    let (mut duplicates, mut repairs, mut protocol_errors, mut reconnects) = (0, 0, 0, 0);
    for node in nodes {
        let status = node.status();
        duplicates += status.counters.get("duplicates").copied().unwrap_or(0);
        repairs += status.counters.get("repairs").copied().unwrap_or(0);
        protocol_errors += status.counters.get("protocol_errors").copied().unwrap_or(0);
        reconnects += status
            .links
            .iter()
            .map(|l| l.connects.saturating_sub(1))
            .sum::<u64>();
    }
    Check {
        digests_equal,
        duplicates,
        repairs,
        protocol_errors,
        reconnects,
    }
}

// ----- redis reference -----

#[derive(Debug)]
enum Redis {
    Missing(String),
    Failed(String),
    Measured(RedisFigures),
}

#[derive(Debug)]
struct RedisFigures {
    version: String,
    sets: u64,
    stream_bytes: u64,
    sets_per_s: f64,
}

impl RedisFigures {
    fn bytes_per_set(&self) -> f64 {
        self.stream_bytes as f64 / self.sets as f64
    }
}

/// A redis-server on a free loopback port with a temp dir, killed when dropped.
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

impl RedisServer {
    /// Starts one, a replica of `master` if given, and waits for it to answer PING.
    fn start(master: Option<u16>) -> Result<RedisServer, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port();
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir.path())
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"]);
        if let Some(master) = master {
            command.args(["--replicaof", "127.0.0.1", &master.to_string()]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let server = RedisServer {
            child,
            port,
            _dir: dir,
        };
        for _ in 0..200 {
            if server.command("PING").is_ok_and(|r| r == "+PONG") {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(format!(
            "redis-server on port {port} did not answer PING within 5 s"
        ))
    }

    /// Sends an inline command and returns the reply: a simple string with its `+`, or the
    /// body of a bulk string.
    fn command(&self, line: &str) -> Result<String, String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(|e| e.to_string())?;
        s.write_all(format!("{line}\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        // A reply is complete once its first line is, and for a bulk string once its body is.
        for _ in 0..1000 {
            let n = s.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&reply);
            if let Some((head, rest)) = text.split_once("\r\n") {
                match head.strip_prefix('$').map(str::parse::<usize>) {
                    Some(Ok(len)) if rest.len() >= len => return Ok(rest[..len].to_owned()),
                    Some(Ok(_)) => {}
                    _ => return Ok(head.to_owned()),
                }
            }
        }
        Err(format!("incomplete reply to {line}"))
    }

    /// A field of `INFO replication`.
    fn info(&self, field: &str) -> Result<String, String> {
        let info = self.command("INFO replication")?;
        info.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .map(|v| v.trim().to_owned())
            .ok_or_else(|| format!("no {field} in INFO replication"))
    }

    fn offset(&self) -> Result<u64, String> {
        self.info("master_repl_offset")?
            .parse()
            .map_err(|e| format!("master_repl_offset: {e}"))
    }
}

/// A master and one replica; `sets` SETs of 16-byte keys and 100-byte values from
/// redis-benchmark (50 connections); the master's replication offset before and after.
fn redis_reference(sets: u64) -> Redis {
    if !installed("redis-server") {
        return Redis::Missing(
            "redis-server not installed: apt-get install -y redis-server".into(),
        );
    }
    if !installed("redis-benchmark") {
        return Redis::Missing(
            "redis-benchmark not installed: apt-get install -y redis-tools".into(),
        );
    }
    match measure_redis(sets) {
        Ok(figures) => Redis::Measured(figures),
        Err(e) => Redis::Failed(e),
    }
}

fn measure_redis(sets: u64) -> Result<RedisFigures, String> {
    let version = Command::new("redis-server")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .map_err(|e| e.to_string())?;
    let master = RedisServer::start(None)?;
    let replica = RedisServer::start(Some(master.port))?;
    let linked = || {
        replica.info("master_link_status").is_ok_and(|s| s == "up")
            && master.info("connected_slaves").is_ok_and(|s| s == "1")
    };
    wait_for("the redis replica to link up", linked)?;
    let before = master.offset()?;
    let started = Instant::now();
    // `-r`: keys `key:` + 12 digits = 16 bytes; `-d 100`: 100-byte values.
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &master.port.to_string()])
        .args([
            "-t",
            "set",
            "-n",
            &sets.to_string(),
            "-c",
            &WRITERS.to_string(),
        ])
        .args(["-d", &VALUE_LEN.to_string(), "-r", "1000000", "--csv"])
        .output()
        .map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    if !out.status.success() {
        return Err(format!(
            "redis-benchmark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let sets_per_s = text
        .lines()
        .find(|l| l.starts_with("\"SET\""))
        .and_then(|l| l.split(',').nth(1))
        .and_then(|f| f.trim_matches('"').parse().ok())
        .unwrap_or(sets as f64 / elapsed.as_secs_f64());
    let after = master.offset()?;
    wait_for("the redis replica to catch up", || {
        replica.offset().is_ok_and(|o| o >= after)
    })?;
    Ok(RedisFigures {
        version,
        sets,
        stream_bytes: after - before,
        sets_per_s,
    })
}

/// Polls every 25 ms, for at most 10 s.
fn wait_for(what: &str, mut condition: impl FnMut() -> bool) -> Result<(), String> {
    for _ in 0..400 {
        if condition() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(format!("timed out waiting for {what}"))
}

// ----- tables -----

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

fn print_throughput(runs: &[(Saturated, Run)]) {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|(solo, run)| {
            let s = &run.saturated;
            let applied = s.applied_rate();
            vec![
                run.topology.clone(),
                run.fsync.to_owned(),
                thousands(s.writes),
                secs(s.write_time),
                rate(s.writes as f64 / s.write_time.as_secs_f64()),
                secs(s.all_applied),
                rate(applied),
                rate(applied * run.nodes as f64),
                rate(solo.applied_rate()),
                format!("{:.2}x", applied / solo.applied_rate()),
            ]
        })
        .collect();
    print_table(
        &format!(
            "6a. Sustained replicated throughput ({WRITERS} writers at every leader, each awaiting its write)"
        ),
        &[
            "topology",
            "fsync",
            "writes",
            "write s",
            "acked ops/s",
            "all applied s",
            "ops/s applied at every node",
            "applies/s (all nodes)",
            "ref: 1 node alone ops/s",
            "vs 1 node",
        ],
        &rows,
        &[
            "ops/s applied at every node = writes / (start -> every node's applied vector covers every write)".to_owned(),
            "applies/s (all nodes) = that x nodes: every node applies every op, all on the same cores".to_owned(),
            format!("1 node alone: the same {WRITERS} writers on a single node with no links, same fsync policy"),
        ],
    );
}

fn print_checks(runs: &[(Saturated, Run)]) {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|(solo, run)| {
            let c = &run.check;
            let s = &run.saturated;
            let cpu = s.cpu;
            let applies = s.applied_rate() * run.nodes as f64;
            vec![
                run.topology.clone(),
                run.fsync.to_owned(),
                thousands(c.duplicates),
                thousands(c.repairs),
                c.protocol_errors.to_string(),
                c.reconnects.to_string(),
                if c.digests_equal { "yes" } else { "NO" }.to_owned(),
                format!("{:.2}", cpu.ours),
                format!("{:.2}", cpu.others),
                format!("{:.0}", cpu.ours * 1e6 / applies),
                format!("{:.0}", solo.cpu.ours * 1e6 / solo.applied_rate()),
            ]
        })
        .collect();
    print_table(
        "6d. Checks per run (whole run: warm-up, saturated and rate-limited phases)",
        &[
            "topology",
            "fsync",
            "duplicates",
            "goal",
            "repair rewinds",
            "protocol errors",
            "reconnects",
            "digests equal",
            "CPU cores: this process",
            "rest of machine",
            "CPU us / apply",
            "ref: 1 node alone us / write",
        ],
        &rows
            .into_iter()
            .map(|mut r| {
                r.insert(3, "0".to_owned());
                r
            })
            .collect::<Vec<_>>(),
        &[
            "duplicates: op copies a node received that it already had; repair rewinds: a sender resent from its log after a link made no progress for repair_after_ms (200 ms, lan)".to_owned(),
            "CPU: average cores busy during the saturated phase (/proc), this process (every node and writer) and everything else on the machine".to_owned(),
            "CPU us / apply: this process's CPU time over the saturated phase / (writes x nodes); the reference is the same for 1 node alone".to_owned(),
        ],
    );
}

fn print_lag(runs: &[(Saturated, Run)]) {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .filter_map(|(_, run)| {
            let l = run.lag.as_ref()?;
            Some(vec![
                run.topology.clone(),
                run.fsync.to_owned(),
                rate(l.target_rate),
                rate(l.writes as f64 / l.write_time.as_secs_f64()),
                thousands(l.writes),
                ms(l.to_all.p(0.5)),
                ms(l.to_all.p(0.99)),
                ms(l.to_all.max()),
                ms(l.per_copy.p(0.5)),
                ms(l.per_copy.p(0.99)),
                ms(l.local_ack.p(0.5)),
                ms(l.local_ack.p(0.99)),
                if l.feed_lagged > 0 {
                    format!("{} (feed skipped {})", l.missing, l.feed_lagged)
                } else {
                    l.missing.to_string()
                },
                l.before_ack.to_string(),
            ])
        })
        .collect();
    print_table(
        "6b. Replication lag at about half the sustained throughput (acknowledged at the origin -> applied at every node)",
        &[
            "topology",
            "fsync",
            "target ops/s",
            "achieved ops/s",
            "writes",
            "lag p50 ms",
            "p99 ms",
            "max ms",
            "per copy p50 ms",
            "per copy p99 ms",
            "ref: local ack p50 ms",
            "ack p99 ms",
            "missing",
            "before ack",
        ],
        &rows,
        &[
            "lag: from the origin's writer seeing Node::set return to the last other node's change feed showing the op".to_owned(),
            "per copy: the same to each other node separately; local ack: Node::set called -> returned at the origin".to_owned(),
            "missing: copies a feed never showed (lagged subscriber); before ack: copies shown elsewhere before the origin's writer resumed (counted as 0 ms)".to_owned(),
        ],
    );
}

fn print_bytes(runs: &[(Saturated, Run)], redis: &Redis) {
    let reference = match redis {
        Redis::Measured(r) => Some(r.bytes_per_set()),
        _ => None,
    };
    let mut header = vec![
        "topology",
        "fsync",
        "phase",
        "writes",
        "op copies",
        "wire bytes sent",
        "bytes / op copy",
    ];
    if reference.is_some() {
        header.extend(["Redis repl bytes / SET", "vs Redis"]);
    }
    let mut rows = Vec::new();
    for (_, run) in runs {
        let mut phases = vec![("saturated", run.saturated.writes, run.saturated.wire_bytes)];
        if let Some(l) = &run.lag {
            phases.push(("half rate", l.writes, l.wire_bytes));
        }
        for (phase, writes, bytes) in phases {
            let copies = writes * (run.nodes as u64 - 1);
            let per_copy = bytes as f64 / copies.max(1) as f64;
            let mut row = vec![
                run.topology.clone(),
                run.fsync.to_owned(),
                phase.to_owned(),
                thousands(writes),
                thousands(copies),
                thousands(bytes),
                format!("{per_copy:.1}"),
            ];
            if let Some(r) = reference {
                row.push(format!("{r:.1}"));
                row.push(format!("{:.2}x", per_copy / r));
            }
            rows.push(row);
        }
    }
    let resp_set = resp_set_len();
    let mut notes = vec![
        "op copies = writes x (nodes - 1); wire bytes: UDP payloads sent on every link, both directions (QUIC, TLS, acks, gossip included)".to_owned(),
        format!(
            "floor: key + value = {} B; the same SET in RESP = {resp_set} B",
            KEY_LEN + VALUE_LEN
        ),
    ];
    match redis {
        Redis::Measured(r) => notes.push(format!(
            "Redis: {} SETs (redis-benchmark -c {WRITERS} -d {VALUE_LEN} -r 1000000) to a master with one replica, \
             master_repl_offset +{} = {:.1} B/SET; {} SET/s (in memory, --save \"\")",
            thousands(r.sets),
            thousands(r.stream_bytes),
            r.bytes_per_set(),
            rate(r.sets_per_s)
        )),
        Redis::Missing(hint) => notes.push(hint.clone()),
        Redis::Failed(e) => notes.push(format!("Redis reference failed: {e}")),
    }
    print_table(
        "6c. Bytes on the wire per replicated op (16-byte key, 100-byte value)",
        &header,
        &rows,
        &notes,
    );
}

/// `SET <16-byte key> <100-byte value>` as a RESP array, as a replica receives it.
fn resp_set_len() -> usize {
    let bulk = |len: usize| format!("${len}\r\n").len() + len + 2;
    "*3\r\n".len() + bulk(3) + bulk(KEY_LEN) + bulk(VALUE_LEN)
}
