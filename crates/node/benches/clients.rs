//! Redis clients against a Meridian node and against redis-server, in the same run:
//! `redis-benchmark -c 50 -t set,get,incr,sadd,hset -P 1` and `-P 16` (`-d 100 -r 100000`)
//! against node n1 of a mesh-3 cluster (so every write is replicated to two peers over QUIC)
//! under fsync `periodic` and `always`, and against `redis-server --appendonly yes` with
//! `--appendfsync everysec` and `always`.
//!
//! `cargo bench -p meridian-node --bench clients [-- --quick] [--tests a,b,...] [--nodes N]`
//!
//! `--tests` picks among `set`, `get`, `incr`, `sadd`, `hset` (the default), `lpush`, `rpop`,
//! `zadd`
//! and `setex` (a custom command: `SET key:__rand_int__ <100 bytes> EX 100`); `--nodes 1`
//! benchmarks one node alone instead of n1 of a mesh-3.
//!
//! The nodes run in this process on one tokio runtime (loopback QUIC with mutual TLS,
//! redb stores in temp dirs, preset `lan`); redis-server and redis-benchmark are child
//! processes on free 127.0.0.1 ports. Every (system, fsync policy, pipeline) gets a fresh
//! cluster or server. Each test is first warmed up (warm-up runs, each longer than the last,
//! whose rate picks N), then timed with N requests so that it lasts about `Plan::seconds`.
//! After each Meridian test the program waits (bounded) until every node holds the same
//! digest and applied vector, and only then starts the next. BENCHMARKS.md (section 7)
//! records a run.

// The run header and number formatting, shared with the simulator's benchmarks.
#[path = "../../sim/benches/common/mod.rs"]
mod common;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::thousands;
use meridian_node::cluster::{self, LocalCluster, Options};
use support::{
    clock_ticks, free_addrs, free_port, installed, machine_ticks, print_table, process_ticks, rate,
};

/// redis-benchmark connections (`-c`).
const CLIENTS: usize = 50;
/// Pipeline depths (`-P`).
const PIPELINES: [usize; 2] = [1, 16];
/// One redis-benchmark test: a `-t` name, or a command of its own.
#[derive(Debug)]
struct Test {
    name: &'static str,
    command: Option<&'static [&'static str]>,
}

impl Test {
    const fn builtin(name: &'static str) -> Test {
        Test {
            name,
            command: None,
        }
    }

    /// The arguments that make redis-benchmark run it.
    fn args(&self) -> Vec<&'static str> {
        match self.command {
            Some(words) => words.to_vec(),
            None => vec!["-t", self.name],
        }
    }

    /// The name of its row in redis-benchmark's CSV.
    fn row(&self) -> String {
        match self.command {
            Some(words) => words.join(" "),
            None => self.name.to_uppercase(),
        }
    }
}

/// A 100-byte value, as `-d 100` makes for the built-in tests.
const VALUE: &str = "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv";

/// Every test this benchmark can run.
const CATALOGUE: &[Test] = &[
    Test::builtin("set"),
    Test::builtin("get"),
    Test::builtin("incr"),
    Test::builtin("sadd"),
    Test::builtin("hset"),
    Test::builtin("lpush"),
    Test::builtin("rpop"),
    Test::builtin("zadd"),
    Test {
        name: "setex",
        command: Some(&["SET", "key:__rand_int__", VALUE, "EX", "100"]),
    },
];

/// The tests run when `--tests` does not say, in the order they run on one server.
const DEFAULT_TESTS: &str = "set,get,incr,sadd,hset";

/// What this run benchmarks (`--tests`, `--nodes`), set once in `main`.
static CHOICE: OnceLock<(Vec<&'static Test>, usize)> = OnceLock::new();

/// The tests chosen, in the order they run on one server.
fn tests() -> &'static [&'static Test] {
    CHOICE.get().map_or(&[], |(t, _)| t.as_slice())
}

/// Nodes of the cluster; the benchmark talks to the first.
fn nodes() -> usize {
    CHOICE.get().map_or(3, |(_, n)| *n)
}

/// The chosen tests' names, as `a/b/c`.
fn test_names() -> String {
    tests().iter().map(|t| t.name).collect::<Vec<_>>().join("/")
}

/// The value of `--flag value` on the command line.
fn flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).cloned()
}
/// `-d`: value size in bytes.
const VALUE_LEN: usize = 100;
/// `-r`: random keys (and set members, hash fields) over this many.
const KEYSPACE: u64 = 100_000;
/// Upper bound on any wait: links up, convergence, a server answering.
const LIMIT: Duration = Duration::from_secs(120);
/// Upper bound on N for one timed test.
const MAX_REQUESTS: u64 = 5_000_000;
/// Upper bound on the warm-up runs of one test.
const CALIBRATION_RUNS: usize = 5;
/// fsync policies paired by what they promise: (Meridian, redis-server `--appendfsync`).
const POLICIES: [(&str, &str); 2] = [("periodic", "everysec"), ("always", "always")];

/// How long each figure runs.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Target duration of one timed test.
    seconds: f64,
    /// A warm-up shorter than this is run again, longer, before its rate is trusted.
    calibrate_for: f64,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                seconds: 1.0,
                calibrate_for: 0.2,
            }
        } else {
            Plan {
                seconds: 3.0,
                calibrate_for: 0.5,
            }
        }
    }

    /// The first warm-up: two pipelines' worth of requests per connection.
    fn first_warmup(&self, pipeline: usize) -> u64 {
        (CLIENTS * pipeline * 2) as u64
    }

    /// N for a run of `seconds` at `rps`: at least the first warm-up, at most `MAX_REQUESTS`.
    fn requests_for(&self, rps: f64, seconds: f64, pipeline: usize) -> u64 {
        ((rps * seconds) as u64).clamp(self.first_warmup(pipeline), MAX_REQUESTS)
    }

    /// A redis-benchmark run is killed after this long.
    fn timeout(&self) -> Duration {
        Duration::from_secs_f64((self.seconds * 20.0).max(60.0))
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let plan = Plan::new(quick);
    let names = flag("--tests").unwrap_or_else(|| DEFAULT_TESTS.to_owned());
    let mut chosen = Vec::new();
    for name in names.split(',') {
        match CATALOGUE.iter().find(|t| t.name == name) {
            Some(t) => chosen.push(t),
            None => {
                let known: Vec<&str> = CATALOGUE.iter().map(|t| t.name).collect();
                eprintln!("unknown test {name:?}: known are {}", known.join(", "));
                std::process::exit(2);
            }
        }
    }
    let node_count = flag("--nodes").map_or(3, |n| n.parse().unwrap_or(3)).max(1);
    CHOICE.get_or_init(|| (chosen, node_count));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let started = Instant::now();
    common::print_machine(
        "Meridian node benchmarks: Redis clients, a node beside redis-server",
        quick,
    );
    if !installed("redis-server") || !installed("redis-benchmark") {
        println!(
            "redis-server or redis-benchmark not installed: apt-get install -y redis-server redis-tools"
        );
        std::process::exit(1);
    }
    let version = Command::new("redis-server")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!("redis: {version}");
    println!(
        "plan: redis-benchmark -c {CLIENTS} -t <test> -P <1|16> -d {VALUE_LEN} -r {KEYSPACE} --csv, \
         tests {} in that order on each fresh server; N per test = warm-up rate x {:.0} s \
         (at least {CLIENTS} x 2 x pipeline, at most {}); Meridian: node n1 of a mesh-{} cluster, preset lan; \
         127.0.0.1 only",
        tests().iter().map(|t| t.name).collect::<Vec<_>>().join(","),
        plan.seconds,
        thousands(MAX_REQUESTS),
        nodes()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut runs = Vec::new();
    for (meridian_fsync, redis_fsync) in POLICIES {
        for pipeline in PIPELINES {
            let ours = meridian_run(&runtime, &plan, meridian_fsync, pipeline);
            report(&ours);
            let theirs = redis_run(&plan, redis_fsync, pipeline);
            report(&theirs);
            runs.push(ours);
            runs.push(theirs);
        }
    }
    runtime.shutdown_timeout(Duration::from_secs(10));

    print_throughput(&runs);
    print_details(&runs);
    println!(
        "\nTotal wall time: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

// ----- one run: a fresh server, every test at one pipeline depth -----

/// One system under one fsync policy at one pipeline depth: every test.
#[derive(Debug)]
struct Run {
    system: &'static str,
    fsync: &'static str,
    pipeline: usize,
    tests: Vec<TestResult>,
    /// What the server holds after the run: DBSIZE, SCARD myset, HLEN myhash, LLEN mylist.
    sizes: String,
    /// Meridian: the digest every node held after the last test, or why they did not agree.
    digest: Option<Result<String, String>>,
    /// Meridian: how long each node took to shut down.
    shutdown: Vec<Duration>,
    /// The server's CPU and the rest of the machine's over the timed tests.
    cpu: CpuUse,
    wall: Duration,
}

#[derive(Debug)]
struct TestResult {
    test: &'static str,
    requests: u64,
    outcome: Result<Figures, String>,
    /// The server's CPU and the rest of the machine's over the timed test.
    cpu: CpuUse,
    /// Meridian: from the end of the timed test until every node held the same digest and
    /// applied vector (the next test starts only then).
    drain: Option<Result<Duration, String>>,
}

/// What redis-benchmark --csv reports for one test.
#[derive(Debug, Clone, Copy)]
struct Figures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    elapsed: Duration,
}

/// Warms each test up (and picks its N from the warm-up's rate), then times it with N
/// requests, against 127.0.0.1:`port`; after each test, `settle` (Meridian: wait until the
/// cluster converged).
fn bench_tests(
    plan: &Plan,
    port: u16,
    pipeline: usize,
    server_pid: u32,
    settle: &mut dyn FnMut() -> Option<Result<Duration, String>>,
) -> (Vec<TestResult>, CpuUse) {
    let mut results = Vec::new();
    let mut cpu = CpuUse::default();
    for &test in tests() {
        tracing::info!(port, test = test.name, pipeline, "bench: warm-up");
        let requests = match calibrate(plan, port, test, pipeline) {
            Ok(n) => n,
            Err(e) => {
                let drain = settle();
                results.push(TestResult {
                    test: test.name,
                    requests: 0,
                    outcome: Err(format!("warm-up: {e}")),
                    cpu: CpuUse::default(),
                    drain,
                });
                continue;
            }
        };
        tracing::info!(port, test = test.name, pipeline, requests, "bench: timed");
        let before = CpuSample::now(server_pid);
        let outcome = redis_benchmark(port, test, requests, pipeline, plan.timeout());
        let used = CpuSample::now(server_pid).since(&before);
        cpu.add(&used);
        let drain = settle();
        results.push(TestResult {
            test: test.name,
            requests,
            outcome,
            cpu: used,
            drain,
        });
    }
    (results, cpu)
}

/// Warm-up runs, each at least 4 times longer than the one before, until one lasts
/// `Plan::calibrate_for` (at most `CALIBRATION_RUNS`); N for the timed run, from the last
/// one's rate. Against Meridian, SADD and HSET slow down as their one key grows, so the
/// timed run may last longer than planned.
fn calibrate(plan: &Plan, port: u16, test: &Test, pipeline: usize) -> Result<u64, String> {
    let mut n = plan.first_warmup(pipeline);
    let mut figures = redis_benchmark(port, test, n, pipeline, plan.timeout())?;
    for _ in 1..CALIBRATION_RUNS {
        if figures.elapsed.as_secs_f64() >= plan.calibrate_for || n >= MAX_REQUESTS {
            break;
        }
        n = plan
            .requests_for(figures.rps, plan.calibrate_for, pipeline)
            .max(n.saturating_mul(4))
            .min(MAX_REQUESTS);
        figures = redis_benchmark(port, test, n, pipeline, plan.timeout())?;
    }
    Ok(plan.requests_for(figures.rps, plan.seconds, pipeline))
}

fn report(run: &Run) {
    let figures: Vec<String> = run
        .tests
        .iter()
        .map(|t| {
            let figure = match &t.outcome {
                Ok(f) => format!("{} {}", t.test, rate(f.rps)),
                Err(e) => format!("{} FAILED ({e})", t.test),
            };
            match &t.drain {
                Some(Ok(d)) => format!("{figure} (converged +{:.2} s)", d.as_secs_f64()),
                Some(Err(e)) => format!("{figure} (NOT CONVERGED: {e})"),
                None => figure,
            }
        })
        .collect();
    let digest = match &run.digest {
        None => String::new(),
        Some(Ok(digest)) => format!("; {} nodes equal, digest {digest}", nodes()),
        Some(Err(e)) => format!("; NOT CONVERGED: {e}"),
    };
    println!(
        "ran {} fsync {} -P {}: {} ops/s; dbsize / myset / myhash / mylist {}{digest}; {:.1} s",
        run.system,
        run.fsync,
        run.pipeline,
        figures.join(", "),
        run.sizes,
        run.wall.as_secs_f64()
    );
}

/// DBSIZE, SCARD myset, HLEN myhash and LLEN mylist at 127.0.0.1:`port`.
fn sizes(port: u16) -> String {
    ["DBSIZE", "SCARD myset", "HLEN myhash", "LLEN mylist"]
        .iter()
        .map(|c| match command(port, c) {
            Ok(reply) => match reply.trim_start_matches(':').parse::<u64>() {
                Ok(n) => thousands(n),
                Err(_) => reply,
            },
            Err(e) => format!("? ({e})"),
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

/// A fresh mesh-3 cluster under `fsync`; redis-benchmark against n1's RESP address.
fn meridian_run(
    runtime: &tokio::runtime::Runtime,
    plan: &Plan,
    fsync: &'static str,
    pipeline: usize,
) -> Run {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = runtime.block_on(start_cluster(dir.path(), fsync));
    let port = cluster.nodes[0].addresses().resp.port();
    tracing::info!(fsync, pipeline, port, "bench: cluster up");
    wait_until("n1 to answer PING", || ping(port)).expect("the node answers PING");
    let mut settle = || {
        let ended = Instant::now();
        tracing::info!(fsync, pipeline, "bench: waiting for convergence");
        Some(
            runtime
                .block_on(converge(&cluster))
                .map(|_| ended.elapsed()),
        )
    };
    let (tests, cpu) = bench_tests(plan, port, pipeline, std::process::id(), &mut settle);
    let digest = Some(runtime.block_on(converge(&cluster)));
    let sizes = sizes(port);
    tracing::info!(fsync, pipeline, "bench: shutdown");
    let mut shutdown = Vec::new();
    for node in cluster.nodes {
        let name = node.name().to_owned();
        let t = Instant::now();
        if let Err(e) = runtime.block_on(node.shutdown()) {
            panic!("node {name} did not shut down cleanly: {e}");
        }
        shutdown.push(t.elapsed());
    }
    Run {
        system: "meridian",
        fsync,
        pipeline,
        tests,
        sizes,
        digest,
        shutdown,
        cpu,
        wall: started.elapsed(),
    }
}

/// A fresh redis-server with `--appendfsync fsync`; redis-benchmark against it.
fn redis_run(plan: &Plan, fsync: &'static str, pipeline: usize) -> Run {
    let started = Instant::now();
    let (tests, cpu, sizes) = match RedisServer::start(fsync) {
        Ok(server) => {
            let (tests, cpu) =
                bench_tests(plan, server.port, pipeline, server.child.id(), &mut || None);
            (tests, cpu, sizes(server.port))
        }
        Err(e) => (
            tests()
                .iter()
                .map(|test| TestResult {
                    test: test.name,
                    requests: 0,
                    outcome: Err(e.clone()),
                    cpu: CpuUse::default(),
                    drain: None,
                })
                .collect(),
            CpuUse::default(),
            "-".to_owned(),
        ),
    };
    Run {
        system: "redis",
        fsync,
        pipeline,
        tests,
        sizes,
        digest: None,
        shutdown: Vec::new(),
        cpu,
        wall: started.elapsed(),
    }
}

// ----- Meridian -----

/// Prepares and starts a mesh of [`nodes`] leaders on free loopback ports under `dir`, and
/// waits until every link is up.
async fn start_cluster(dir: &Path, fsync: &str) -> LocalCluster {
    let mut text = String::from("cluster = \"bench-clients\"\nshape = \"mesh\"\n");
    for i in 1..=nodes() {
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
    let start = Instant::now();
    while !cluster
        .nodes
        .iter()
        .all(|n| n.status().links.iter().all(|l| l.state == "up"))
    {
        assert!(start.elapsed() < LIMIT, "links not up within {LIMIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster
}

/// Polls every 20 ms, for at most `LIMIT`, until every node holds the same digest and
/// applied vector; that digest, or what differed.
async fn converge(cluster: &LocalCluster) -> Result<String, String> {
    let start = Instant::now();
    loop {
        let first = &cluster.nodes[0];
        let digest = first.digest().await;
        let applied = first.applied().await;
        let mut equal = true;
        for node in &cluster.nodes[1..] {
            if node.digest().await != digest || node.applied().await != applied {
                equal = false;
                break;
            }
        }
        if equal {
            return Ok(digest.to_string());
        }
        if start.elapsed() > LIMIT {
            let mut seen = Vec::new();
            for node in &cluster.nodes {
                seen.push(format!(
                    "{}: digest {} applied {:?}",
                    node.name(),
                    node.digest().await,
                    node.applied().await
                ));
            }
            return Err(format!("not within {LIMIT:?}: {}", seen.join("; ")));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ----- redis-server and redis-benchmark -----

/// A redis-server child process with its temp dir; killed on drop.
#[derive(Debug)]
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
    /// On a free loopback port, append-only file in a temp dir, no RDB snapshots.
    fn start(appendfsync: &str) -> Result<RedisServer, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir.path())
            .args(["--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", appendfsync, "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("redis-server: {e}"))?;
        let server = RedisServer {
            child,
            port,
            _dir: dir,
        };
        wait_until("redis-server to answer PING", || ping(port))?;
        Ok(server)
    }
}

/// Sends an inline command and returns the first line of the reply.
fn command(port: u16, line: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    s.write_all(format!("{line}\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    while !reply.windows(2).any(|w| w == b"\r\n") && reply.len() < 4096 {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&reply);
    Ok(text.split("\r\n").next().unwrap_or_default().to_owned())
}

/// Whether 127.0.0.1:`port` answers an inline PING with +PONG.
fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(1))).ok();
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// Polls every 25 ms, for at most `LIMIT`.
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) -> Result<(), String> {
    let start = Instant::now();
    while !condition() {
        if start.elapsed() > LIMIT {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Ok(())
}

/// Runs one redis-benchmark test and parses its CSV line; kills it after `timeout`.
fn redis_benchmark(
    port: u16,
    test: &Test,
    requests: u64,
    pipeline: usize,
    timeout: Duration,
) -> Result<Figures, String> {
    let started = Instant::now();
    let mut child = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-c", &CLIENTS.to_string(), "-n", &requests.to_string()])
        .args(["-P", &pipeline.to_string()])
        .args(["-d", &VALUE_LEN.to_string(), "-r", &KEYSPACE.to_string()])
        .arg("--csv")
        .args(test.args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("redis-benchmark: {e}"))?;
    // The pipes hold a few lines only, so waiting before reading them cannot block.
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > timeout => {
                child.kill().ok();
                child.wait().ok();
                return Err(format!("killed after {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(e.to_string()),
        }
    };
    let elapsed = started.elapsed();
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout).ok();
    }
    if let Some(mut err) = child.stderr.take() {
        err.read_to_string(&mut stderr).ok();
    }
    if !status.success() {
        return Err(format!("exit {status}: {}{}", stdout.trim(), stderr.trim()));
    }
    parse_csv(&stdout, &test.row())
        .map(|(rps, p50_ms, p99_ms)| Figures {
            rps,
            p50_ms,
            p99_ms,
            elapsed,
        })
        .ok_or_else(|| format!("unexpected output: {}{}", stdout.trim(), stderr.trim()))
}

/// From `"test","rps",...,"p50_latency_ms",...` and `"SET","123.45",...`: rps, p50, p99 of
/// the row named `row`.
fn parse_csv(text: &str, row: &str) -> Option<(f64, f64, f64)> {
    let cells = |line: &str| -> Vec<String> {
        line.split(',')
            .map(|c| c.trim().trim_matches('"').to_owned())
            .collect()
    };
    let mut lines = text.lines().filter(|l| l.starts_with('"'));
    let header = cells(lines.next()?);
    let column = |name: &str| header.iter().position(|h| h == name);
    let row = lines
        .map(cells)
        .find(|r| r.first().is_some_and(|c| c == row))?;
    let field = |name: &str| row.get(column(name)?)?.parse().ok();
    Some((
        field("rps")?,
        field("p50_latency_ms")?,
        field("p99_latency_ms")?,
    ))
}

// ----- CPU -----

/// CPU time of the server process and of the whole machine, in clock ticks.
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    server: u64,
    machine: u64,
    at: Instant,
}

/// CPU time used over the timed tests, with their wall time.
#[derive(Debug, Clone, Copy, Default)]
struct CpuUse {
    server_ticks: u64,
    machine_ticks: u64,
    wall: Duration,
}

impl CpuSample {
    /// utime + stime of `pid` (`/proc/PID/stat`), and user, nice, system, irq and softirq of
    /// the machine (`/proc/stat`); zeros where they cannot be read.
    fn now(pid: u32) -> CpuSample {
        let server = process_ticks(&pid.to_string());
        let machine = machine_ticks();
        CpuSample {
            server,
            machine,
            at: Instant::now(),
        }
    }

    fn since(&self, before: &CpuSample) -> CpuUse {
        CpuUse {
            server_ticks: self.server.saturating_sub(before.server),
            machine_ticks: self.machine.saturating_sub(before.machine),
            wall: self.at - before.at,
        }
    }
}

impl CpuUse {
    fn add(&mut self, other: &CpuUse) {
        self.server_ticks += other.server_ticks;
        self.machine_ticks += other.machine_ticks;
        self.wall += other.wall;
    }

    /// Average cores busy: (the server, everything else on the machine).
    fn cores(&self) -> (f64, f64) {
        let per_second = clock_ticks() * self.wall.as_secs_f64().max(1e-9);
        (
            self.server_ticks as f64 / per_second,
            self.machine_ticks.saturating_sub(self.server_ticks) as f64 / per_second,
        )
    }
}

// ----- tables -----

/// The run of `system` under `fsync` at `pipeline`.
fn find<'a>(runs: &'a [Run], system: &str, fsync: &str, pipeline: usize) -> Option<&'a Run> {
    runs.iter()
        .find(|r| r.system == system && r.fsync == fsync && r.pipeline == pipeline)
}

/// The figures of `test` in `run`.
fn figures(run: Option<&Run>, test: &str) -> Option<Figures> {
    run?.tests
        .iter()
        .find(|t| t.test == test)?
        .outcome
        .as_ref()
        .ok()
        .copied()
}

fn print_throughput(runs: &[Run]) {
    let mut rows = Vec::new();
    // Per policy pair: rows where Meridian / redis-server >= 1, and rows compared.
    let mut met = [(0usize, 0usize); POLICIES.len()];
    for pipeline in PIPELINES {
        for test in tests().iter().map(|t| t.name) {
            let mut row = vec![test.to_uppercase(), pipeline.to_string()];
            let mut latency = Vec::new();
            for (i, (ours, theirs)) in POLICIES.iter().enumerate() {
                let m = figures(find(runs, "meridian", ours, pipeline), test);
                let r = figures(find(runs, "redis", theirs, pipeline), test);
                let show = |f: Option<Figures>| f.map_or("failed".to_owned(), |f| rate(f.rps));
                row.push(show(m));
                row.push(show(r));
                row.push(match (m, r) {
                    (Some(m), Some(r)) => {
                        let ratio = m.rps / r.rps;
                        met[i].1 += 1;
                        if ratio >= 1.0 {
                            met[i].0 += 1;
                        }
                        format!("{ratio:.2}")
                    }
                    _ => "-".to_owned(),
                });
                let p50 =
                    |f: Option<Figures>| f.map_or("-".to_owned(), |f| format!("{:.3}", f.p50_ms));
                latency.push(p50(m));
                latency.push(p50(r));
            }
            row.extend(latency);
            rows.push(row);
        }
    }
    let verdict = |(ok, of): (usize, usize)| {
        format!(
            "{} ({ok} of {of} rows)",
            if ok == of && of == tests().len() * PIPELINES.len() {
                "met"
            } else {
                "NOT met"
            }
        )
    };
    let all_met = met
        .iter()
        .all(|&(ok, of)| ok == of && of == tests().len() * PIPELINES.len());
    print_table(
        &format!(
            "7a. Throughput: redis-benchmark -c {CLIENTS} -d {VALUE_LEN} -r {KEYSPACE} against node n1 of a mesh-{} cluster and against redis-server",
            nodes()
        ),
        &[
            "test",
            "pipeline",
            "Meridian periodic ops/s",
            "Redis everysec ops/s",
            "ratio",
            "Meridian always ops/s",
            "Redis always ops/s",
            "ratio",
            "p50 ms: M periodic",
            "R everysec",
            "M always",
            "R always",
        ],
        &rows,
        &[
            "ratio = Meridian / redis-server, same test, same pipeline depth, paired fsync policy"
                .to_owned(),
            format!(
                "goal: ratio >= 1.00 on every row: {}; periodic vs everysec: {}; always vs always: {}",
                if all_met { "met" } else { "NOT met" },
                verdict(met[0]),
                verdict(met[1])
            ),
            format!(
                "Meridian periodic = fsync every 100 ms; a Meridian write is replicated to {} peers (same process, same cores), redis-server has no replica",
                nodes() - 1
            ),
            "p50: redis-benchmark's median latency per request (ms)".to_owned(),
        ],
    );
}

/// "a / b / c" of one cell per test.
fn per_test(run: &Run, cell: impl Fn(&TestResult) -> String) -> String {
    run.tests.iter().map(cell).collect::<Vec<_>>().join(" / ")
}

fn print_details(runs: &[Run]) {
    let mut rows = Vec::new();
    for run in runs {
        let (server, rest) = run.cpu.cores();
        let timed: Duration = run
            .tests
            .iter()
            .filter_map(|t| t.outcome.as_ref().ok().map(|f| f.elapsed))
            .sum();
        let requests: u64 = run.tests.iter().map(|t| t.requests).sum();
        let failures: Vec<String> = run
            .tests
            .iter()
            .filter_map(|t| t.outcome.as_ref().err().map(|e| format!("{}: {e}", t.test)))
            .collect();
        rows.push(vec![
            run.system.to_owned(),
            run.fsync.to_owned(),
            run.pipeline.to_string(),
            per_test(run, |t| thousands(t.requests)),
            thousands(requests),
            format!("{:.1}", timed.as_secs_f64()),
            per_test(run, |t| {
                t.outcome
                    .as_ref()
                    .map_or("-".to_owned(), |f| format!("{:.1}", f.p99_ms))
            }),
            format!("{server:.2}"),
            format!("{rest:.2}"),
            per_test(run, |t| {
                let ticks_per_us = clock_ticks() / 1e6;
                match t.requests {
                    0 => "-".to_owned(),
                    n => format!("{:.1}", t.cpu.server_ticks as f64 / ticks_per_us / n as f64),
                }
            }),
            run.sizes.clone(),
            if failures.is_empty() {
                "-".to_owned()
            } else {
                failures.join("; ")
            },
            format!("{:.1}", run.wall.as_secs_f64()),
        ]);
    }
    let names = test_names();
    let n_header = format!("N {names}");
    let p99_header = format!("p99 ms {names}");
    let cpu_header = format!("server CPU us/request {names}");
    print_table(
        "7b. Per run: requests, latency, CPU, what the server holds",
        &[
            "system",
            "fsync",
            "-P",
            &n_header,
            "N total",
            "timed s",
            &p99_header,
            "server CPU cores",
            "rest of machine",
            &cpu_header,
            "dbsize / myset / myhash / mylist",
            "failures",
            "run wall s",
        ],
        &rows,
        &[
            format!(
                "server CPU: average cores busy over the timed tests (/proc), redis-server or this whole process (all {} nodes: n1 serving RESP, the others applying); rest: every other process (redis-benchmark, other users) of the machine's {} cores",
                nodes(),
                std::thread::available_parallelism().map_or(0, |n| n.get())
            ),
            format!("server CPU us/request: the server's CPU time over one timed test / its N (Meridian: all {} nodes, so every write is paid {} times; the work left when the test ends, see 7c, is not counted)", nodes(), nodes()),
            "p99 3000.3 ms is redis-benchmark's histogram ceiling: latencies of 3 s or more are counted as 3 s".to_owned(),
            "dbsize / myset / myhash / mylist: DBSIZE, SCARD myset, HLEN myhash, LLEN mylist at the end (redis-benchmark's SADD, HSET, LPUSH and RPOP all go to these keys; -r spreads members and fields over 100,000)".to_owned(),
            "run wall s: warm-ups, timed tests and (Meridian) cluster start, convergence waits and shutdown".to_owned(),
        ],
    );

    let rows: Vec<Vec<String>> = runs
        .iter()
        .filter(|r| r.digest.is_some())
        .map(|run| {
            vec![
                run.fsync.to_owned(),
                run.pipeline.to_string(),
                per_test(run, |t| match &t.drain {
                    Some(Ok(d)) => format!("{:.2}", d.as_secs_f64()),
                    Some(Err(_)) => "NO".to_owned(),
                    None => "-".to_owned(),
                }),
                match &run.digest {
                    Some(Ok(digest)) => format!("yes, {digest}"),
                    Some(Err(e)) => format!("NO: {e}"),
                    None => "-".to_owned(),
                },
                run.shutdown
                    .iter()
                    .map(|d| format!("{:.2}", d.as_secs_f64()))
                    .collect::<Vec<_>>()
                    .join(" / "),
            ]
        })
        .collect();
    let names = test_names();
    let title = format!(
        "7c. Meridian: convergence of the {} nodes after each test, and shutdown",
        nodes()
    );
    let converged_header = format!("converged after s: {names}");
    let equal_header = format!("all {} nodes equal at the end, digest", nodes());
    print_table(
        &title,
        &[
            "fsync",
            "-P",
            &converged_header,
            &equal_header,
            "shutdown s per node",
        ],
        &rows,
        &[
            "converged after: from the end of the timed test until every node's digest and applied vector were equal (polled every 20 ms, at most 120 s); the next test starts only then".to_owned(),
        ],
    );
}
