//! The `meridian` binary as an operator runs it: `certs`, `up` until Ctrl-C, `status`, and
//! `node` processes killed with SIGKILL and restarted. Every wait is a bounded poll.

#![allow(clippy::unwrap_used)]

#[path = "../crates/node/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use meridian::node::Status;
use meridian::node::cluster::{self, LocalCluster};

const LIMIT: Duration = Duration::from_secs(30);

fn meridian() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meridian"));
    command.env("RUST_LOG", "warn");
    command
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Polls `condition` every 50 ms until it holds; panics after `LIMIT` saying what was
/// awaited.
fn poll(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < LIMIT, "not within {LIMIT:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A node's status from its admin endpoint, if it answers.
fn status(admin: SocketAddr) -> Option<Status> {
    let (_, body) = support::try_http_get(admin, "/status")?;
    serde_json::from_str(&body).ok()
}

/// A child process killed when the test lets go of it, so that a failing test leaves no
/// node running behind it.
struct Reaped(Child);

impl std::ops::Deref for Reaped {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for `child` to exit, killing it if it does not within `LIMIT`.
fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("the process did not exit within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn certs_init_and_issue_make_a_ca_and_node_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let out = run(meridian()
        .args(["certs", "init"])
        .arg(&certs)
        .args(["--cluster", "east-africa"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("east-africa"), "{text}");
    run(meridian()
        .args(["certs", "issue"])
        .arg(&certs)
        .arg("nairobi"));
    for file in ["ca.pem", "ca-key.pem", "nairobi.pem", "nairobi-key.pem"] {
        assert!(certs.join(file).exists(), "{file} missing");
    }
    // A second init never overwrites the CA: it fails and says why.
    let again = meridian()
        .args(["certs", "init"])
        .arg(&certs)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
}

/// Reads `child`'s stdout lines on a thread, so that reads can time out.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn line_with(rx: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    let start = Instant::now();
    while !seen.iter().any(|l| l.contains(needle)) {
        let left = LIMIT.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no line with {needle:?} within {LIMIT:?}; got {seen:#?}"),
        }
    }
}

/// `meridian up TOPOLOGY --dir DATA`, its stdout piped.
fn start_up(topology: &Path, data: &Path) -> Reaped {
    Reaped(
        meridian()
            .arg("up")
            .arg(topology)
            .arg("--dir")
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn up_runs_a_cluster_until_interrupted_and_resumes_it() {
    let dir = tempfile::tempdir().unwrap();
    let topology = support::topology(dir.path(), "mesh", 3);
    let data = dir.path().join("data");
    let start_up = || start_up(&topology, &data);
    let mut up = start_up();
    let rx = lines(&mut up);
    let mut seen = Vec::new();
    line_with(&rx, "Ctrl-C stops every node", &mut seen);
    let node_lines: Vec<_> = seen.iter().filter(|l| l.contains(" quic ")).collect();
    assert_eq!(node_lines.len(), 3, "{seen:#?}");
    let admin: SocketAddr = node_lines[0]
        .split("admin http://")
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    poll("n1 has both links up", || {
        status(admin).is_some_and(|s| s.links.iter().all(|l| l.state == "up"))
    });
    let table = run(meridian().args(["status", "--admin", &admin.to_string()]));
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("node     n1"), "{table}");
    assert_eq!(
        table.lines().filter(|l| l.contains(" up ")).count(),
        2,
        "{table}"
    );

    let ca = std::fs::read(data.join("certs/ca.pem")).unwrap();
    signal(&up, "INT");
    assert!(wait_exit(&mut up).success());
    line_with(&rx, "cluster stopped", &mut seen);

    // The same directory again: the same CA and stores, the same cluster.
    let mut again = start_up();
    let rx = lines(&mut again);
    line_with(&rx, "Ctrl-C stops every node", &mut Vec::new());
    assert_eq!(std::fs::read(data.join("certs/ca.pem")).unwrap(), ca);
    signal(&again, "TERM");
    assert!(wait_exit(&mut again).success());
}

/// The address after `label` in a node line of `meridian up` (`resp 127.0.0.1:6401`).
fn address_in(line: &str, label: &str) -> SocketAddr {
    line.split(label)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} address in {line:?}"))
}

/// The story of the bug: on a fresh `meridian up` of a four-region mesh, every `/health`
/// answered OK, and the first SET still got `TRYAGAIN ... waiting for the handshake of
/// neighbours`. `up` now says "ready" only once every region takes writes, and a cluster it
/// creates takes them at once; when it resumes a cluster in which one region lost its data
/// directory, that region learns its history back first, and "ready" waits for it.
#[test]
fn up_says_ready_only_when_every_region_takes_writes() {
    let dir = tempfile::tempdir().unwrap();
    let topology = support::topology(dir.path(), "mesh", 4);
    let data = dir.path().join("data");
    let start_up = || start_up(&topology, &data);
    for round in ["new cluster", "n2 on an emptied data directory"] {
        let mut up = start_up();
        let rx = lines(&mut up);
        let mut seen = Vec::new();
        line_with(&rx, "ready: every region takes writes", &mut seen);
        let nodes: Vec<(SocketAddr, SocketAddr)> = seen
            .iter()
            .filter(|l| l.contains(" quic "))
            .map(|l| (address_in(l, "resp "), address_in(l, "admin http://")))
            .collect();
        assert_eq!(nodes.len(), 4, "{seen:#?}");
        for (i, (resp, admin)) in nodes.iter().enumerate() {
            assert_eq!(
                resp_line(*resp, &["SET", &format!("first-{i}"), round]).unwrap(),
                "+OK",
                "{round}: the first SET at n{}",
                i + 1
            );
            assert_eq!(
                support::http_get(*admin, "/ready"),
                (200, "ready: takes writes\n".to_owned()),
                "{round}"
            );
        }
        signal(&up, "INT");
        assert!(wait_exit(&mut up).success());
        line_with(&rx, "cluster stopped", &mut seen);
        std::fs::remove_dir_all(data.join("node-2/data")).unwrap();
    }
}

fn spawn_node(config: &Path) -> Reaped {
    Reaped(
        meridian()
            .arg("node")
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_process_killed_under_load_catches_up_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let topology = support::topology(dir.path(), "mesh", 3);
    let configs =
        cluster::prepare(&topology, &dir.path().join("cluster"), &support::options()).unwrap();
    // n1 and n2 in this process, n3 a child process.
    let cluster = LocalCluster::start(&configs[..2]).await.unwrap();
    let n3_admin = {
        let config = meridian::NodeConfig::load(&configs[2]).unwrap();
        config.topology.node(config.id).unwrap().admin
    };
    let mut n3 = spawn_node(&configs[2]);
    let all_up = || async {
        cluster
            .nodes
            .iter()
            .all(|n| n.status().links.iter().all(|l| l.state == "up"))
    };
    support::eventually("every link up", LIMIT, all_up).await;

    // Writes at n1 and n2 while n3 is killed with SIGKILL, and after.
    let writer = |i: usize| {
        let node = &cluster.nodes[i];
        async move {
            for j in 0..300 {
                node.set(format!("k{i}-{j}"), format!("v{j}"))
                    .await
                    .unwrap();
                node.incr_by("hits", 1).await.unwrap();
            }
        }
    };
    let killer = async {
        support::eventually("n3 applied some writes", LIMIT, || async {
            tokio::task::spawn_blocking(move || status(n3_admin))
                .await
                .unwrap()
                .is_some_and(|s| s.applied.values().sum::<u64>() > 50)
        })
        .await;
        n3.kill().unwrap();
        n3.wait().unwrap();
    };
    futures_util::future::join3(writer(0), writer(1), killer).await;

    let mut n3 = spawn_node(&configs[2]);
    // Digests move after convergence too (counter increments are compacted once every
    // region holds them), so compare the three nodes as they are at each poll.
    support::eventually("n3 caught up after its restart", LIMIT, || async {
        let n3 = tokio::task::spawn_blocking(move || status(n3_admin))
            .await
            .unwrap();
        let (n1, n2) = (cluster.nodes[0].status(), cluster.nodes[1].status());
        n3.is_some_and(|n3| {
            n3.digest == n1.digest
                && n3.applied == n1.applied
                && n2.digest == n1.digest
                && n2.applied == n1.applied
        })
    })
    .await;
    let restarted = tokio::task::spawn_blocking(move || status(n3_admin))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(restarted.counters["protocol_errors"], 0);
    signal(&n3, "TERM");
    assert!(wait_exit(&mut n3).success());
    cluster.shutdown().await.unwrap();
}

/// Sends one RESP command and reads its one-line reply.
fn resp_line(addr: SocketAddr, args: &[&str]) -> std::io::Result<String> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(LIMIT))?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes())?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(line.trim_end().to_owned())
}

/// Under `periodic`, a node killed with SIGKILL loses the writes acknowledged since its last
/// fsync, but none of them had left it (ops are forwarded once synced): restarted with every
/// neighbour down, it takes writes at once instead of waiting to learn its history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_periodic_fsync_takes_writes_at_once_with_its_neighbours_down() {
    let dir = tempfile::tempdir().unwrap();
    let topology = support::topology(dir.path(), "mesh", 3);
    let options = cluster::Options {
        fsync: "periodic".to_owned(),
        ..support::options()
    };
    let configs = cluster::prepare(&topology, &dir.path().join("cluster"), &options).unwrap();
    let cluster = LocalCluster::start(&configs[..2]).await.unwrap();
    let (n3_admin, n3_resp) = {
        let config = meridian::NodeConfig::load(&configs[2]).unwrap();
        let spec = config.topology.node(config.id).unwrap();
        (spec.admin, spec.resp)
    };
    let mut n3 = spawn_node(&configs[2]);
    support::eventually("every link up", LIMIT, || async {
        cluster
            .nodes
            .iter()
            .all(|n| n.status().links.iter().all(|l| l.state == "up"))
    })
    .await;
    let wrote = tokio::task::spawn_blocking(move || {
        (0..200)
            .map(|i| resp_line(n3_resp, &["SET", &format!("k{i}"), "v"]).unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert!(wrote.iter().all(|r| r == "+OK"), "{wrote:?}");
    n3.kill().unwrap();
    n3.wait().unwrap();
    cluster.shutdown().await.unwrap();

    let mut n3 = spawn_node(&configs[2]);
    poll("n3 answers after its restart", || {
        status(n3_admin).is_some()
    });
    let restarted = status(n3_admin).unwrap();
    assert_eq!(restarted.recovering, None, "{restarted:?}");
    assert!(restarted.links.iter().all(|l| l.state != "up"));
    assert_eq!(
        resp_line(n3_resp, &["SET", "after-restart", "v"]).unwrap(),
        "+OK"
    );
    signal(&n3, "TERM");
    assert!(wait_exit(&mut n3).success());
}
