//! Real Redis clients against a local cluster: the project's redis-py suite (every command,
//! error and limit), a redis-cli session, a redis-benchmark smoke run, and writes at two
//! regions through RESP while their link is cut, read back equal everywhere once it heals.
//!
//! The clients are installed by `.ci/run` (redis-tools, and redis-py with pytest from PyPI),
//! and redis-server, which the redis-py suite runs beside Meridian as the oracle of what a
//! reply should be.
//! Where one is missing these tests fail under CI (`CI` set) and say what to install
//! elsewhere.

#![allow(clippy::unwrap_used)]

#[path = "../crates/node/tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use meridian::node::cluster::{self, LocalCluster};

const LIMIT: Duration = Duration::from_secs(30);
const PASSWORD: &str = "correct horse battery staple";

/// Whether `program` runs; if not, fails under CI and skips elsewhere, saying what to do.
fn have(program: &str, args: &[&str], install: &str) -> bool {
    let ok = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is missing under CI: {install}"
        );
        eprintln!("skipped: {program} is missing ({install})");
    }
    ok
}

/// A mesh-3 cluster: n1 with default client settings, n2 with a password, n3 with tight
/// client limits.
async fn cluster(dir: &Path) -> (LocalCluster, Vec<SocketAddr>) {
    let topology = support::topology(dir, "mesh", 3);
    let options = cluster::Options {
        fsync: "periodic:20ms".to_owned(),
        ..support::options()
    };
    let configs = cluster::prepare(&topology, &dir.join("cluster"), &options).unwrap();
    append(
        &configs[1],
        &format!("\n[clients]\nrequirepass = {PASSWORD:?}\n"),
    );
    append(
        &configs[2],
        "\n[clients]\nmax_clients = 8\nmax_output_buffer_bytes = 262144\nidle_timeout_s = 2\n",
    );
    let cluster = LocalCluster::start(&configs).await.unwrap();
    support::eventually("every link up", LIMIT, || async {
        support::all_links_up(&cluster)
    })
    .await;
    let resp = cluster.nodes.iter().map(|n| n.addresses().resp).collect();
    (cluster, resp)
}

fn append(path: &PathBuf, text: &str) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// Runs one redis-cli command; n2 of these clusters wants the password, the others none.
fn redis_cli(addr: SocketAddr, args: &[&str]) -> String {
    redis_cli_auth(addr, None, args)
}

fn redis_cli_auth(addr: SocketAddr, password: Option<&str>, args: &[&str]) -> String {
    let mut command = Command::new("redis-cli");
    command.args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()]);
    if let Some(password) = password {
        command.args(["--no-auth-warning", "-a", password]);
    }
    let output = command.args(args).output().unwrap();
    assert!(
        output.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned()
}

/// A redis-server of its own, the oracle the suite compares Meridian's replies with; stopped
/// when dropped.
struct Oracle {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Oracle {
    async fn start(dir: &Path) -> Oracle {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        support::eventually("redis-server answers", LIMIT, || async move {
            tokio::net::TcpStream::connect(addr).await.is_ok()
        })
        .await;
        Oracle { child, addr }
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_py_suite_passes() {
    if !have(
        "python3",
        &["-c", "import redis, pytest"],
        "pip install redis pytest",
    ) || !have(
        "redis-server",
        &["--version"],
        "apt-get install redis-server",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let oracle = Oracle::start(dir.path()).await;
    let (cluster, resp) = cluster(dir.path()).await;
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/redis");
    let output = tokio::process::Command::new("python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&suite)
        .env("MERIDIAN_N1", resp[0].to_string())
        .env("MERIDIAN_N2", resp[1].to_string())
        .env("MERIDIAN_N3", resp[2].to_string())
        .env("MERIDIAN_PASSWORD", PASSWORD)
        .env("MERIDIAN_ORACLE", oracle.addr.to_string())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the redis-py suite failed:\n{stdout}"
    );
    assert!(stdout.contains(" passed"), "pytest ran no test:\n{stdout}");
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cli_session_reads_and_writes() {
    if !have("redis-cli", &["--version"], "apt-get install redis-tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cluster, resp) = cluster(dir.path()).await;
    let n1 = resp[0];
    let session = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("redis-cli")
            .args(["-h", &n1.ip().to_string(), "-p", &n1.port().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let script = "PING\nSET greeting hello\nGET greeting\nINCRBY visits 5\nSADD tags a b\nSCARD tags\n\
                      HSET user name ada\nHGET user name\nTYPE tags\nGET nothing\nDEL greeting\nQUIT\n";
        child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    })
    .await
    .unwrap();
    let lines: Vec<&str> = session.lines().collect();
    assert_eq!(
        lines,
        [
            "PONG", "OK", "hello", "5", "2", "2", "1", "ada", "set", "", "1"
        ],
        "{session}"
    );
    let info = tokio::task::spawn_blocking(move || redis_cli(n1, &["INFO", "replication"]))
        .await
        .unwrap();
    assert!(info.contains("connected_peers:2"), "{info}");
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_benchmark_smoke_run_completes() {
    if !have(
        "redis-benchmark",
        &["--version"],
        "apt-get install redis-tools",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cluster, resp) = cluster(dir.path()).await;
    let n1 = resp[0];
    let output = tokio::process::Command::new("redis-benchmark")
        .args(["-h", &n1.ip().to_string(), "-p", &n1.port().to_string()])
        .args([
            "-n",
            "2000",
            "-c",
            "10",
            "-P",
            "4",
            "-t",
            "set,get,incr,sadd,hset",
            "--csv",
        ])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // --csv: a header line, then `"SET","17391.30",...` per test.
    for test in ["SET", "GET", "INCR", "SADD", "HSET"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("\"{test}\",")))
            .unwrap_or_else(|| panic!("no {test} figure in:\n{stdout}"));
        let rps: f64 = line
            .split(',')
            .nth(1)
            .and_then(|v| v.trim_matches('"').parse().ok())
            .unwrap_or(0.0);
        assert!(rps > 0.0, "{line}");
    }
    // Without -r every INCR hits one key: all 2,000 count, here and at the other regions.
    let expected = Some(meridian::crdt::Value::Int(2000));
    assert_eq!(
        cluster.nodes[0].get(b"counter:__rand_int__").await,
        expected
    );
    support::eventually("the benchmark's writes replicated", LIMIT, || {
        support::converged(&cluster)
    })
    .await;
    assert_eq!(
        cluster.nodes[2].get(b"counter:__rand_int__").await,
        expected
    );
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_at_two_regions_during_a_cut_link_read_equal_everywhere_after_it_heals() {
    if !have("redis-cli", &["--version"], "apt-get install redis-tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cluster, resp) = cluster(dir.path()).await;
    let (n1, n3) = (resp[0], resp[2]);
    // A queue and a document every region holds before the cut.
    tokio::task::spawn_blocking(move || {
        redis_cli(n1, &["RPUSH", "jobs", "job1", "job2"]);
        redis_cli(n1, &["TEXT.INSERT", "notes", "0", "shared"]);
    })
    .await
    .unwrap();
    support::eventually("the queue replicated", LIMIT, || {
        support::converged(&cluster)
    })
    .await;
    // Cut n1 from everyone: its writes and n3's are concurrent.
    assert!(cluster.nodes[0].disconnect("n2") && cluster.nodes[0].disconnect("n3"));
    support::eventually("n1 is cut off", LIMIT, || async {
        cluster.nodes[0]
            .status()
            .links
            .iter()
            .all(|l| l.state == "down")
    })
    .await;
    tokio::task::spawn_blocking(move || {
        for (addr, who) in [(n1, "n1"), (n3, "n3")] {
            redis_cli(addr, &["SET", "title", who]);
            redis_cli(addr, &["INCRBY", "likes", "10"]);
            redis_cli(addr, &["SADD", "editors", who]);
            redis_cli(addr, &["HSET", "doc", who, "edited"]);
            redis_cli(addr, &["MVSET", "draft", who]);
            // Both regions pop the same head: each gets it (docs/resp.md, "Lists").
            assert_eq!(redis_cli(addr, &["LPOP", "jobs"]), "job1", "{who}");
            redis_cli(
                addr,
                &["RPUSH", "log", &format!("{who}-1"), &format!("{who}-2")],
            );
            redis_cli(addr, &["TEXT.INSERT", "notes", "6", &format!(" {who}")]);
        }
        assert_eq!(
            redis_cli(n1, &["GET", "likes"]),
            "10",
            "n1 sees only its own likes"
        );
    })
    .await
    .unwrap();
    assert!(cluster.nodes[0].reconnect("n2") && cluster.nodes[0].reconnect("n3"));
    support::eventually("converged", LIMIT, || support::converged(&cluster)).await;

    let reads = tokio::task::spawn_blocking(move || {
        resp.iter()
            .enumerate()
            .map(|(i, &addr)| {
                let password = (i == 1).then_some(PASSWORD);
                let read = |args: &[&str]| redis_cli_auth(addr, password, args);
                [
                    read(&["GET", "title"]),
                    read(&["GET", "likes"]),
                    read(&["SMEMBERS", "editors"]),
                    read(&["HGETALL", "doc"]),
                    read(&["MVGET", "draft"]),
                    read(&["LRANGE", "jobs", "0", "-1"]),
                    read(&["LRANGE", "log", "0", "-1"]),
                    read(&["TEXT.GET", "notes"]),
                ]
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let first = &reads[0];
    for (i, read) in reads.iter().enumerate() {
        assert_eq!(read, first, "region n{} reads differently", i + 1);
    }
    assert_eq!(first[1], "20", "every increment counts");
    assert!(
        first[2].contains("n1") && first[2].contains("n3"),
        "{}",
        first[2]
    );
    assert!(
        first[4].contains("n1") && first[4].contains("n3"),
        "both drafts are siblings: {}",
        first[4]
    );
    let title = &first[0];
    assert!(title == "n1" || title == "n3", "{title}");
    assert_eq!(first[5], "job2", "the popped head is gone once, everywhere");
    // Each region's pushes stay together, in its order.
    let log = first[6].replace('\n', " ");
    assert!(
        log == "n1-1 n1-2 n3-1 n3-2" || log == "n3-1 n3-2 n1-1 n1-2",
        "{log}"
    );
    let notes = &first[7];
    assert!(
        notes == "shared n1 n3" || notes == "shared n3 n1",
        "both regions' text, neither interleaved: {notes}"
    );
    cluster.shutdown().await.unwrap();
}
