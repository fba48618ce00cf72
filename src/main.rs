//! The `meridian` command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use meridian::replica::Topology;
use meridian::sim::{FaultMix, Report, SimConfig};

mod run;

/// mimalloc, not the system allocator: a node allocates and frees small objects on every
/// request and op across several threads, and glibc's malloc took about a fifth of a node's
/// CPU under `redis-benchmark` (BENCHMARKS.md 7i).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "meridian",
    version,
    about = "A multi-leader, geo-replicated key-value store on CRDTs"
)]
struct Cli {
    /// Log format on stderr (the level comes from RUST_LOG, default info).
    #[arg(long, global = true, value_enum, default_value = "human")]
    log_format: run::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the deterministic simulator: the real replica state machine of every node of a
    /// topology, over virtual time, with seeded faults; then check convergence and that no
    /// acknowledged write was lost.
    Sim(SimArgs),
    /// Run every node of a topology in this process: certificates, configs and data
    /// directories are made under --dir; Ctrl-C stops every node cleanly.
    Up {
        /// Topology file.
        topology: PathBuf,
        /// Where the cluster's files live (default: meridian-data/<topology name>).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// fsync policy of every node: always, periodic, periodic:<n>ms, never.
        #[arg(long, default_value = "always")]
        fsync: String,
    },
    /// Run one node from its config file, until Ctrl-C or SIGTERM.
    Node {
        /// The node's config file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Make a cluster CA and node certificates.
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Print a node's status from its admin endpoint.
    Status {
        /// The admin address (host:port).
        #[arg(long)]
        admin: String,
        /// Print the JSON as served.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum CertsCommand {
    /// Create a cluster CA (and the cluster id) in DIR.
    Init {
        /// Directory for ca.pem and ca-key.pem.
        dir: PathBuf,
        /// The cluster's name, as in the topology file.
        #[arg(long, default_value = "meridian")]
        cluster: String,
    },
    /// Issue a certificate for node NODE, signed by the CA in DIR.
    Issue {
        /// The directory of the CA.
        dir: PathBuf,
        /// The node's name, as in the topology file.
        node: String,
    },
}

#[derive(Debug, clap::Args)]
struct SimArgs {
    /// Topology file.
    #[arg(long)]
    topology: PathBuf,
    /// How many seeds to run (at least one).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Faults to inject: none, lossy, partitions, crashes, disk, away or all.
    #[arg(long, default_value = "all")]
    faults: FaultMix,
    /// Client writes per run.
    #[arg(long, default_value_t = 200)]
    ops: usize,
    /// Print only failing runs and the totals.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(args) => sim(&args),
        Command::Up {
            topology,
            dir,
            fsync,
        } => {
            run::init_logs(cli.log_format);
            run::up(&topology, dir, &fsync)
        }
        Command::Node { config } => {
            run::init_logs(cli.log_format);
            run::node(&config)
        }
        Command::Certs {
            command: CertsCommand::Init { dir, cluster },
        } => run::certs_init(&dir, &cluster),
        Command::Certs {
            command: CertsCommand::Issue { dir, node },
        } => run::certs_issue(&dir, &node),
        Command::Status { admin, json } => run::status(&admin, json),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn sim(args: &SimArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.topology)
        .with_context(|| format!("cannot read topology file {}", args.topology.display()))?;
    let file = args.topology.display().to_string();
    let topology = Arc::new(Topology::parse(&text, &file)?);
    args.faults
        .check(&topology)
        .map_err(|why| anyhow::anyhow!("{file}: {why}"))?;
    let seeds: Vec<u64> = (args.first_seed..args.first_seed.saturating_add(args.seeds)).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = std::time::Instant::now();
    let reports = run_parallel(&seeds, threads, |seed| {
        let mut config = SimConfig::new(Arc::clone(&topology), seed, args.faults);
        config.ops = args.ops;
        meridian::sim::run(&config)
    });
    let elapsed = started.elapsed();
    anyhow::ensure!(
        reports.len() == seeds.len(),
        "only {} of {} seeds reported: a simulator thread died",
        reports.len(),
        seeds.len()
    );

    for report in &reports {
        if !args.quiet || !report.ok() {
            println!("{report}");
        }
        if !report.ok() {
            for v in &report.violations {
                println!("  {v}");
            }
            println!(
                "  replay: cargo run --release -- sim --topology {file} --faults {} --first-seed {} --seeds 1 --ops {}",
                report.faults, report.seed, args.ops
            );
        }
    }
    let n = reports.len().max(1) as f64;
    let sum = |f: &dyn Fn(&Report) -> f64| reports.iter().map(f).sum::<f64>() / n;
    let mut converge: Vec<u64> = reports.iter().filter_map(|r| r.convergence_ms).collect();
    converge.sort_unstable();
    let pct = |p: f64| {
        converge
            .get(((converge.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    let deliveries: u64 = reports
        .iter()
        .map(|r| r.counters.writes * (r.nodes as u64).saturating_sub(1))
        .sum();
    println!(
        "messages/op={:.2} bytes/op={:.0} op_frames/op={:.2} duplicates/op={:.4} max_causal_depth={} convergence_ms p50={} p99={} max={}",
        sum(&|r| r.messages_per_op()),
        sum(&|r| r.bytes_per_op()),
        sum(&|r| ratio(r.counters.op_frames, r.counters.writes)),
        sum(&|r| r.duplicates_per_op()),
        reports
            .iter()
            .map(|r| r.max_causal_depth)
            .max()
            .unwrap_or(0),
        pct(0.5),
        pct(0.99),
        converge.last().copied().unwrap_or(0),
    );
    println!(
        "simulated op deliveries={deliveries} in {:.2}s wall ({:.0}/s on {threads} threads)",
        elapsed.as_secs_f64(),
        deliveries as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    let diverged = reports.iter().filter(|r| r.diverged()).count();
    let lost: u64 = reports.iter().map(|r| r.lost_acked).sum();
    let failed = reports.iter().filter(|r| !r.ok()).count();
    println!(
        "seeds={} failed={failed} diverged={diverged} lost_acked={lost}",
        reports.len()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Runs `job` for every seed on `threads` threads; reports come back in seed order.
fn run_parallel(seeds: &[u64], threads: usize, job: impl Fn(u64) -> Report + Sync) -> Vec<Report> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut reports: Vec<(usize, Report)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(seed) = seeds.get(i) else { break };
                        done.push((i, job(*seed)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, r)| r).collect()
}
