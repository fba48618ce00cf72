//! The `meridian` commands that run nodes: `node`, `up`, `certs` and `status`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use meridian_node::cluster::{self, LocalCluster, Options};
use meridian_node::{Node, NodeConfig, Readiness, Status, tls};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per line.
    Json,
}

/// Logs to stderr, filtered by `RUST_LOG` (default: info).
pub fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `meridian node --config FILE`: one node, until Ctrl-C or SIGTERM.
pub fn node(config: &Path) -> anyhow::Result<ExitCode> {
    let config = NodeConfig::load(config)?;
    runtime()?.block_on(async {
        let node = Node::start(config).await?;
        let spec = node.status();
        print_node_line(&node, &spec);
        wait_for_stop().await;
        node.shutdown()
            .await
            .map_err(|e| anyhow::anyhow!("store: {e}"))?;
        Ok(ExitCode::SUCCESS)
    })
}

/// `meridian up TOPOLOGY [--dir DIR]`: every node of a topology in this process.
pub fn up(topology: &Path, dir: Option<PathBuf>, fsync: &str) -> anyhow::Result<ExitCode> {
    let dir = dir.unwrap_or_else(|| {
        let stem = topology
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "cluster".to_owned());
        PathBuf::from("meridian-data").join(stem)
    });
    let options = Options {
        fsync: fsync.to_owned(),
        ..Options::default()
    };
    let configs = cluster::prepare(topology, &dir, &options)?;
    runtime()?.block_on(async {
        let cluster = LocalCluster::start(&configs).await?;
        println!(
            "cluster of {} nodes up; data, configs and certificates in {}",
            cluster.nodes.len(),
            dir.display()
        );
        for node in &cluster.nodes {
            print_node_line(node, &node.status());
        }
        println!("Ctrl-C stops every node cleanly.");
        tokio::select! {
            () = wait_until_ready(&cluster) => {}
            () = wait_for_stop() => {
                return stop(cluster).await;
            }
        }
        wait_for_stop().await;
        stop(cluster).await
    })
}

async fn stop(cluster: LocalCluster) -> anyhow::Result<ExitCode> {
    cluster
        .shutdown()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("cluster stopped");
    Ok(ExitCode::SUCCESS)
}

/// Polls every node's readiness until all serve what their role serves, then says so; if
/// that takes a while (a node on an emptied data directory learning its history back), says
/// once which nodes wait and why.
async fn wait_until_ready(cluster: &LocalCluster) {
    const POLL: std::time::Duration = std::time::Duration::from_millis(20);
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);
    let started = std::time::Instant::now();
    let mut told = false;
    loop {
        let waiting: Vec<(&str, Readiness)> = cluster
            .nodes
            .iter()
            .map(|n| (n.name(), n.readiness()))
            .filter(|(_, r)| !r.is_ready())
            .collect();
        if waiting.is_empty() {
            let leaders = cluster
                .nodes
                .iter()
                .filter(|n| n.readiness() == Readiness::Writable)
                .count();
            let replicas = cluster.nodes.len() - leaders;
            if replicas == 0 {
                println!("ready: every region takes writes");
            } else {
                let (takes, serve) = match (leaders, replicas) {
                    (1, 1) => ("region takes", "replica serves"),
                    (1, _) => ("region takes", "replicas serve"),
                    (_, 1) => ("regions take", "replica serves"),
                    _ => ("regions take", "replicas serve"),
                };
                println!("ready: {leaders} {takes} writes, {replicas} {serve} reads");
            }
            return;
        }
        if !told && started.elapsed() > PATIENCE {
            told = true;
            for (name, readiness) in &waiting {
                println!("{name}: {readiness}");
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

fn print_node_line(node: &Node, status: &Status) {
    let topology_addrs = node.addresses();
    println!(
        "{:<14} id {:<3} {:<8} quic {}  resp {}  admin http://{}",
        status.node,
        status.id,
        status.role,
        topology_addrs.quic,
        topology_addrs.resp,
        topology_addrs.admin
    );
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// `meridian certs init DIR --cluster NAME`.
pub fn certs_init(dir: &Path, cluster: &str) -> anyhow::Result<ExitCode> {
    let summary = tls::init_ca(dir, cluster)?;
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}

/// `meridian certs issue DIR NODE`.
pub fn certs_issue(dir: &Path, node: &str) -> anyhow::Result<ExitCode> {
    let issued = tls::issue(dir, node)?;
    println!("{issued}");
    Ok(ExitCode::SUCCESS)
}

/// `meridian status --admin ADDR [--json]`.
pub fn status(admin: &str, json: bool) -> anyhow::Result<ExitCode> {
    let body = http_get(admin, "/status")?;
    if json {
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let status: Status = serde_json::from_str(&body)
        .with_context(|| format!("{admin}/status did not answer with a node status"))?;
    print!("{}", status.to_table());
    Ok(ExitCode::SUCCESS)
}

/// A plain HTTP/1.0 GET: the admin endpoint is local and small, not worth an HTTP client.
fn http_get(addr: &str, path: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let addr = addr.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(addr)
        .with_context(|| format!("cannot reach the admin endpoint {addr}"))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = Vec::new();
    stream
        .take(64 << 20)
        .read_to_end(&mut response)
        .with_context(|| format!("reading {addr}{path}"))?;
    let text = String::from_utf8_lossy(&response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("{addr}{path}: not an HTTP response");
    };
    let status_line = head.lines().next().unwrap_or_default();
    if !status_line.contains(" 200 ") {
        bail!("{addr}{path}: {status_line}");
    }
    Ok(body.to_owned())
}
