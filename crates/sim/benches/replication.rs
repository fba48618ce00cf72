//! Replication benchmarks: simulator throughput, steady-state cost per op on every shipped
//! topology, and the cost of catching up after a partition.
//!
//! `cargo bench -p meridian-sim --bench replication` runs everything (a few minutes on two
//! cores); `-- --quick` runs fewer seeds and smaller data sets (well under a minute). Every
//! figure is printed beside its reference or goal; BENCHMARKS.md at the repository root
//! records a run.

mod common;

use common::thousands;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use meridian_crdt::{ActorId, Command};
use meridian_replica::{Config, Message, Millis, Output, Replica, Topology};
use meridian_sim::{FaultMix, SimConfig};

/// Wall clock handed to replicas at virtual time 0, in ms since the Unix epoch.
const WALL_EPOCH: u64 = 1_767_225_600_000;

/// How much work each section does.
#[derive(Debug, Clone)]
struct Plan {
    quick: bool,
    /// Seeds per topology and fault mix in the throughput section.
    throughput_seeds: u64,
    /// Client writes per throughput run.
    throughput_ops: usize,
    /// Seeds per topology in the steady-state section.
    steady_seeds: u64,
    /// Client writes per steady-state run.
    steady_ops: usize,
    /// Ops written while the peer is cut off.
    missed: Vec<usize>,
    /// Keys written and replicated before the cut.
    dataset: Vec<usize>,
    /// Ops written while cut off, for the data-set series.
    dataset_missed: usize,
    /// Ops written while cut off in the snapshot section (past the log's retention).
    snapshot_missed: usize,
    /// Distinct keys those ops write.
    snapshot_keys: usize,
    /// `Config::retention_ops` in the snapshot section.
    snapshot_retention: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                quick,
                throughput_seeds: 3,
                throughput_ops: 1_000,
                steady_seeds: 4,
                steady_ops: 1_000,
                missed: vec![1_000, 10_000, 100_000],
                dataset: vec![10_000, 100_000, 1_000_000],
                dataset_missed: 1_000,
                // Scaled down with the retention, so that the log still truncates 10 times over.
                snapshot_missed: 100_000,
                snapshot_keys: 10_000,
                snapshot_retention: 10_000,
            }
        } else {
            Plan {
                quick,
                throughput_seeds: 50,
                throughput_ops: 1_000,
                steady_seeds: 20,
                steady_ops: 1_000,
                missed: vec![1_000, 10_000, 100_000],
                dataset: vec![10_000, 100_000, 1_000_000],
                dataset_missed: 1_000,
                snapshot_missed: 1_000_000,
                snapshot_keys: 100_000,
                snapshot_retention: 100_000,
            }
        }
    }
}

fn main() {
    // `cargo bench` also passes `--bench`; only `--quick` means anything here.
    let quick = std::env::args().any(|a| a == "--quick");
    let plan = Plan::new(quick);
    let started = Instant::now();
    print_machine(&plan);
    let topologies = shipped_topologies();
    throughput(&plan, &topologies);
    steady_state(&plan, &topologies);
    catch_up_missed(&plan);
    catch_up_dataset(&plan);
    catch_up_mesh(&plan);
    catch_up_snapshot(&plan);
    println!(
        "\nTotal wall time: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

// ----- machine -----

fn print_machine(plan: &Plan) {
    common::print_machine("Meridian replication benchmarks", plan.quick);
}

// ----- tables -----

/// A plain text table: first column left-aligned, the others right-aligned.
struct Table {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(title: &str, header: &[&str]) -> Table {
        Table {
            title: title.to_string(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn print(&self) {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                if i > 0 {
                    out.push_str("  ");
                }
                if i == 0 {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                } else {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                }
            }
            out.trim_end().to_string()
        };
        println!("\n{}\n", self.title);
        println!("{}", line(&self.header));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        println!("{}", line(&rule));
        for row in &self.rows {
            println!("{}", line(row));
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

// ----- topologies -----

fn topologies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../topologies")
}

fn shipped_topologies() -> Vec<(String, Arc<Topology>)> {
    let dir = topologies_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let shown = path.display().to_string();
            let topology = Topology::parse(&text, &shown)
                .unwrap_or_else(|e| panic!("{shown} does not parse: {e}"));
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or(shown);
            (name, Arc::new(topology))
        })
        .collect()
}

// ----- 1. simulator throughput -----

fn throughput(plan: &Plan, topologies: &[(String, Arc<Topology>)]) {
    let mut table = Table::new(
        &format!(
            "1. Simulated op deliveries per wall second (single thread; {} seeds x {} writes per row;\n   deliveries = writes x (nodes - 1); no goal is set, the fault-free run is the reference)",
            plan.throughput_seeds, plan.throughput_ops
        ),
        &[
            "topology",
            "nodes",
            "faults",
            "runs ok",
            "writes",
            "deliveries",
            "wall s",
            "deliveries/s",
            "vs none",
        ],
    );
    let mut failures = Vec::new();
    for (name, topology) in topologies {
        let mut reference = None;
        for faults in [FaultMix::None, FaultMix::All] {
            let mut writes = 0;
            let mut ok = 0;
            let start = Instant::now();
            for seed in 0..plan.throughput_seeds {
                let mut config = SimConfig::new(Arc::clone(topology), seed, faults);
                config.ops = plan.throughput_ops;
                let report = meridian_sim::run(&config);
                writes += report.counters.writes;
                ok += u64::from(report.ok());
                note_failure(&mut failures, name, &report);
            }
            let wall = start.elapsed();
            let nodes = topology.nodes.len() as u64;
            let deliveries = writes * (nodes - 1);
            let rate = deliveries as f64 / wall.as_secs_f64();
            let versus = match reference {
                None => {
                    reference = Some(rate);
                    "1.00x".to_string()
                }
                Some(r) => format!("{:.2}x", rate / r),
            };
            table.row(vec![
                name.clone(),
                nodes.to_string(),
                faults.to_string(),
                format!("{ok}/{}", plan.throughput_seeds),
                thousands(writes),
                thousands(deliveries),
                secs(wall),
                thousands(rate as u64),
                versus,
            ]);
        }
    }
    table.print();
    print_failures(&failures);
}

/// Remembers the first violation of a run whose checkers failed.
fn note_failure(failures: &mut Vec<String>, topology: &str, report: &meridian_sim::Report) {
    if let Some(v) = report.violations.first() {
        failures.push(format!(
            "{topology} faults={} seed={}: {v} ({} violations)",
            report.faults,
            report.seed,
            report.violations.len()
        ));
    }
}

fn print_failures(failures: &[String]) {
    for f in failures {
        println!("   checker failure: {f}");
    }
}

// ----- 2. steady state per topology -----

fn steady_state(plan: &Plan, topologies: &[(String, Arc<Topology>)]) {
    let mut table = Table::new(
        &format!(
            "2. Steady state, no faults ({} seeds x {} writes per topology; per accepted write)",
            plan.steady_seeds, plan.steady_ops
        ),
        &[
            "topology",
            "nodes",
            "runs ok",
            "msgs/op",
            "bytes/op",
            "Ops-frame bytes/op",
            "bytes/carried op",
            "ops carried/op",
            "goal",
            "dup/op",
            "goal",
            "max causal depth",
        ],
    );
    let mut failures = Vec::new();
    for (name, topology) in topologies {
        let mut writes = 0;
        let mut messages = 0;
        let mut bytes = 0;
        let mut op_frame_bytes = 0;
        let mut ops_carried = 0;
        let mut duplicates = 0;
        let mut depth = 0;
        let mut ok = 0;
        for seed in 0..plan.steady_seeds {
            let mut config = SimConfig::new(Arc::clone(topology), seed, FaultMix::None);
            config.ops = plan.steady_ops;
            let report = meridian_sim::run(&config);
            let c = &report.counters;
            writes += c.writes;
            messages += c.messages;
            bytes += c.bytes;
            op_frame_bytes += c.op_frame_bytes;
            ops_carried += c.ops_carried;
            duplicates += report.duplicates;
            depth = depth.max(report.max_causal_depth);
            ok += u64::from(report.ok());
            note_failure(&mut failures, name, &report);
        }
        let nodes = topology.nodes.len();
        table.row(vec![
            name.clone(),
            nodes.to_string(),
            format!("{ok}/{}", plan.steady_seeds),
            format!("{:.2}", ratio(messages, writes)),
            format!("{:.0}", ratio(bytes, writes)),
            format!("{:.0}", ratio(op_frame_bytes, writes)),
            format!("{:.1}", ratio(op_frame_bytes, ops_carried)),
            format!("{:.3}", ratio(ops_carried, writes)),
            format!("{}", nodes - 1),
            format!("{:.4}", ratio(duplicates, writes)),
            "0".to_string(),
            depth.to_string(),
        ]);
    }
    table.print();
    print_failures(&failures);
    println!(
        "   ops carried/op: op copies put on the wire per write; tree forwarding needs exactly nodes - 1."
    );
}

// ----- 3. catch-up, driven through the Replica API -----

/// Replicas driven synchronously: zero latency, every persist completed at once, messages
/// delivered in send order. Counts what is sent while `counting`.
struct Driver {
    topology: Arc<Topology>,
    replicas: BTreeMap<ActorId, Replica>,
    wire: VecDeque<(ActorId, ActorId, Message)>,
    now: Millis,
    gossip_ms: Millis,
    /// Links down (both directions), as `(lower, higher)`.
    down: Vec<(ActorId, ActorId)>,
    counting: bool,
    tally: Tally,
    /// Encode every message and deliver the decoded copy, as a transport would.
    roundtrip: bool,
    /// While set, the encoded size of every op handed out for persistence at `A` is summed.
    sizing: bool,
    sized_ops: u64,
    sized_op_bytes: u64,
}

#[derive(Debug, Default, Clone)]
struct Tally {
    messages: u64,
    bytes: u64,
    op_frames: u64,
    op_frame_bytes: u64,
    ops_carried: u64,
    snapshot_chunks: u64,
    snapshot_bytes: u64,
    /// Wall time spent encoding (and, with `roundtrip`, decoding) messages in the driver.
    wire: Duration,
    /// Wall time the receivers spent handling Snapshot messages (the merge is in the last).
    snapshot_handling: Duration,
}

/// Two nodes on one machine; `A` takes the writes, `B` is the one cut off.
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

/// Three nodes, every pair linked; `C` is the one cut off.
const MESH: &str = r#"
cluster = "bench"
shape = "mesh"

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

[[node]]
name = "c"
id = 3
role = "leader"
quic = "127.0.0.1:17403"
resp = "127.0.0.1:16403"
admin = "127.0.0.1:19403"
"#;

const A: ActorId = ActorId(1);
const B: ActorId = ActorId(2);
const C: ActorId = ActorId(3);

/// Ops written between two deliveries and gossip rounds while writing in bulk.
const CHUNK: usize = 4_096;

fn pair(a: ActorId, b: ActorId) -> (ActorId, ActorId) {
    if a < b { (a, b) } else { (b, a) }
}

impl Driver {
    fn new(text: &str) -> Driver {
        Driver::with_config(text, Config::lan())
    }

    fn with_config(text: &str, config: Config) -> Driver {
        let topology = Arc::new(Topology::parse(text, "inline").expect("inline topology parses"));
        let settle_ms = config.link_settle_ms;
        let gossip_ms = config.gossip_interval_ms;
        let replicas = topology
            .ids()
            .map(|id| {
                let r = Replica::new(id, Arc::clone(&topology), config.clone(), WALL_EPOCH)
                    .expect("replica starts");
                (id, r)
            })
            .collect();
        let mut d = Driver {
            topology: Arc::clone(&topology),
            replicas,
            wire: VecDeque::new(),
            now: 0,
            gossip_ms,
            down: Vec::new(),
            counting: false,
            tally: Tally::default(),
            roundtrip: false,
            sizing: false,
            sized_ops: 0,
            sized_op_bytes: 0,
        };
        for link in &topology.links {
            d.link_up(link.a, link.b);
        }
        // Past the links' settle time (and one gossip round): ops flow.
        while d.now <= settle_ms {
            d.tick();
        }
        d.settle();
        d
    }

    fn peers(&self, id: ActorId) -> Vec<ActorId> {
        self.topology
            .links
            .iter()
            .filter_map(|l| {
                if l.a == id {
                    Some(l.b)
                } else if l.b == id {
                    Some(l.a)
                } else {
                    None
                }
            })
            .collect()
    }

    fn replica(&mut self, id: ActorId) -> &mut Replica {
        self.replicas.get_mut(&id).expect("node exists")
    }

    fn link_up(&mut self, a: ActorId, b: ActorId) {
        self.down.retain(|l| *l != pair(a, b));
        let now = self.now;
        self.replica(a).handle_link_up(now, b);
        self.replica(b).handle_link_up(now, a);
        self.drain(a);
        self.drain(b);
    }

    fn link_down(&mut self, a: ActorId, b: ActorId) {
        self.down.push(pair(a, b));
        // The connection is gone, and what was in flight on it with it.
        self.wire
            .retain(|(from, to, _)| pair(*from, *to) != pair(a, b));
        let now = self.now;
        self.replica(a).handle_link_down(now, b);
        self.replica(b).handle_link_down(now, a);
        self.drain(a);
        self.drain(b);
    }

    fn drain(&mut self, id: ActorId) {
        let now = self.now;
        loop {
            let Some(out) = self.replica(id).poll_output() else {
                break;
            };
            match out {
                Output::Persist { batch, ops, .. } => {
                    if self.sizing && id == A {
                        for op in &ops {
                            self.sized_ops += 1;
                            self.sized_op_bytes +=
                                rmp_serde::to_vec(op.as_ref()).expect("ops encode").len() as u64;
                        }
                    }
                    self.replica(id).handle_persisted(now, batch);
                }
                Output::Send { to, mut msg } => {
                    if self.down.contains(&pair(id, to)) {
                        continue;
                    }
                    if self.counting || self.roundtrip {
                        let started = Instant::now();
                        let bytes = rmp_serde::to_vec(&msg).expect("messages encode");
                        let len = bytes.len() as u64;
                        if self.counting {
                            self.tally.messages += 1;
                            self.tally.bytes += len;
                            match &msg {
                                Message::Ops(ops) => {
                                    self.tally.op_frames += 1;
                                    self.tally.op_frame_bytes += len;
                                    self.tally.ops_carried += ops.len() as u64;
                                }
                                Message::Snapshot(_) => {
                                    self.tally.snapshot_chunks += 1;
                                    self.tally.snapshot_bytes += len;
                                }
                                _ => {}
                            }
                        }
                        if self.roundtrip {
                            msg = rmp_serde::from_slice(&bytes).expect("messages decode");
                        }
                        if self.counting {
                            self.tally.wire += started.elapsed();
                        }
                    }
                    self.wire.push_back((id, to, msg));
                }
                Output::Ack(_)
                | Output::Applied { .. }
                | Output::Merged { .. }
                | Output::Published { .. } => {}
                Output::CloseLink { peer, error } => {
                    panic!("node {id} closed its link to {peer}: {error}")
                }
            }
        }
    }

    /// Delivers messages until the wire is empty.
    fn settle(&mut self) {
        while let Some((from, to, msg)) = self.wire.pop_front() {
            let now = self.now;
            let snapshot = self.counting && matches!(msg, Message::Snapshot(_));
            let started = Instant::now();
            self.replica(to)
                .handle_message(now, WALL_EPOCH + now, from, msg);
            if snapshot {
                self.tally.snapshot_handling += started.elapsed();
            }
            self.drain(to);
        }
    }

    /// Advances time by one gossip interval, fires due timers and settles.
    fn tick(&mut self) {
        self.now += self.gossip_ms;
        let now = self.now;
        let ids: Vec<ActorId> = self.replicas.keys().copied().collect();
        for id in ids {
            let r = self.replica(id);
            if r.poll_timeout().is_some_and(|t| t <= now) {
                r.handle_timeout(now, 0);
            }
            self.drain(id);
        }
        self.settle();
    }

    fn write(&mut self, at: ActorId, key: Bytes, value: Bytes) {
        let now = self.now;
        self.replica(at)
            .write(now, WALL_EPOCH + now, key, Command::Set(value))
            .expect("the write is accepted");
        self.drain(at);
    }

    /// Whether `b` has received and applied everything `a` has.
    fn caught_up(&self, a: ActorId, b: ActorId) -> bool {
        let (ra, rb) = (&self.replicas[&a], &self.replicas[&b]);
        ra.received() == rb.received() && ra.applied() == rb.applied()
    }

    /// Ticks until `b` holds what `a` holds; returns the ticks taken.
    fn tick_until_caught_up(&mut self, a: ActorId, b: ActorId) -> u64 {
        self.settle();
        let mut ticks = 0;
        while !self.caught_up(a, b) {
            ticks += 1;
            assert!(ticks < 1_000_000, "node {b} never caught up with node {a}");
            self.tick();
        }
        ticks
    }
}

/// A 16-byte key.
fn key(i: usize) -> Bytes {
    Bytes::from(format!("key:{i:012}"))
}

/// A 100-byte value.
fn value(i: usize) -> Bytes {
    let mut v = String::with_capacity(100);
    let _ = write!(v, "value:{i:012}:");
    while v.len() < 100 {
        v.push('x');
    }
    Bytes::from(v)
}

/// Writes keys `0..count` at `A` while connected to `B`, ticking so that acks open the window.
fn prepopulate(d: &mut Driver, count: usize) {
    let mut i = 0;
    while i < count {
        let end = (i + CHUNK).min(count);
        for k in i..end {
            d.write(A, key(k), value(k));
        }
        d.settle();
        d.tick();
        i = end;
    }
    d.tick_until_caught_up(A, B);
}

/// What one catch-up measured.
struct CatchUp {
    tally: Tally,
    /// Encoded size of the missed ops themselves, summed: the floor for catch-up bytes.
    floor: u64,
    ticks: u64,
    duplicates: u64,
    wall: Duration,
}

/// Cuts `lagging` off from all its neighbours, lets `write` run, heals and measures until
/// `lagging` has received and applied what `A` holds.
fn measure_catch_up(d: &mut Driver, lagging: ActorId, write: impl FnOnce(&mut Driver)) -> CatchUp {
    measure_catch_up_with(d, lagging, Heal::AtOnce, write)
}

/// How the cut node's links come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heal {
    /// Every link up at the same instant, as when a partition heals.
    AtOnce,
    /// One link up and its traffic delivered before the next comes up.
    OneByOne,
}

fn measure_catch_up_with(
    d: &mut Driver,
    lagging: ActorId,
    heal: Heal,
    write: impl FnOnce(&mut Driver),
) -> CatchUp {
    let peers: Vec<ActorId> = d.peers(lagging);
    for &p in &peers {
        d.link_down(lagging, p);
    }
    write(d);
    d.settle();
    let floor = missed_bytes(&d.replicas[&A], &d.replicas[&lagging]);
    let duplicates_before = d.replicas[&lagging].stats().duplicates;
    d.tally = Tally::default();
    d.counting = true;
    let start = Instant::now();
    for &p in &peers {
        d.link_up(lagging, p);
        if heal == Heal::OneByOne {
            d.settle();
        }
    }
    let ticks = d.tick_until_caught_up(A, lagging);
    let wall = start.elapsed();
    d.counting = false;
    CatchUp {
        tally: d.tally.clone(),
        floor,
        ticks,
        duplicates: d.replicas[&lagging].stats().duplicates - duplicates_before,
        wall,
    }
}

/// Encoded size of the ops `ahead` holds and `behind` lacks.
fn missed_bytes(ahead: &Replica, behind: &Replica) -> u64 {
    let mut total = 0;
    for (origin, last) in ahead.received().iter() {
        for op in ahead
            .log()
            .range(origin, behind.received().get(origin) + 1, last)
        {
            total += rmp_serde::to_vec(op.as_ref()).expect("ops encode").len() as u64;
        }
    }
    total
}

fn catch_up_missed(plan: &Plan) {
    let mut table = Table::new(
        "3a. Catch-up after missing M ops (2-node chain, zero latency, 16 B keys, 100 B values, distinct keys;\n    goal: bytes proportional to M, i.e. bytes/missed op flat;\n    floor = mean encoded size of the missed ops themselves)",
        &[
            "missed ops M",
            "messages",
            "bytes",
            "bytes/missed op",
            "Ops-frame bytes/op",
            "floor/op",
            "overhead",
            "gossip rounds",
            "dups",
            "catch-up wall s",
        ],
    );
    for &missed in &plan.missed {
        let mut d = Driver::new(PAIR);
        let result = measure_catch_up(&mut d, B, |d| {
            for i in 0..missed {
                d.write(A, key(i), value(i));
            }
        });
        let floor = ratio(result.floor, missed as u64);
        let t = &result.tally;
        let per_op = ratio(t.bytes, missed as u64);
        table.row(vec![
            thousands(missed as u64),
            thousands(t.messages),
            thousands(t.bytes),
            format!("{per_op:.1}"),
            format!("{:.1}", ratio(t.op_frame_bytes, missed as u64)),
            format!("{floor:.1}"),
            format!("{:+.1}%", (per_op / floor - 1.0) * 100.0),
            result.ticks.to_string(),
            result.duplicates.to_string(),
            secs(result.wall),
        ]);
    }
    table.print();
}

fn catch_up_dataset(plan: &Plan) {
    let missed = plan.dataset_missed;
    let mut table = Table::new(
        &format!(
            "3b. Catch-up after missing {missed} ops, by data-set size D (keys written and replicated before the cut;\n    the missed ops overwrite {missed} of them; goal: catch-up bytes flat in D)"
        ),
        &[
            "data set D",
            "messages",
            "bytes",
            "bytes/missed op",
            "floor/op",
            "overhead",
            "vs smallest D",
            "gossip rounds",
            "dups",
            "setup wall s",
            "catch-up wall s",
        ],
    );
    let mut reference = None;
    for &size in &plan.dataset {
        let setup = Instant::now();
        let mut d = Driver::new(PAIR);
        prepopulate(&mut d, size);
        let setup = setup.elapsed();
        let stride = (size / missed).max(1);
        let result = measure_catch_up(&mut d, B, |d| {
            for i in 0..missed {
                let k = (i * stride) % size;
                d.write(A, key(k), value(size + i));
            }
        });
        let t = &result.tally;
        let versus = match reference {
            None => {
                reference = Some(t.bytes);
                "1.00x".to_string()
            }
            Some(r) => format!("{:.2}x", ratio(t.bytes, r)),
        };
        table.row(vec![
            thousands(size as u64),
            thousands(t.messages),
            thousands(t.bytes),
            format!("{:.1}", ratio(t.bytes, missed as u64)),
            format!("{:.1}", ratio(result.floor, missed as u64)),
            format!("{:+.1}%", (ratio(t.bytes, result.floor) - 1.0) * 100.0),
            versus,
            result.ticks.to_string(),
            result.duplicates.to_string(),
            secs(setup),
            secs(result.wall),
        ]);
    }
    table.print();
}

fn catch_up_mesh(plan: &Plan) {
    let mut table = Table::new(
        "3c. Catch-up in a 3-node mesh: C cut off from A and B, which write M ops between them (alternately,\n    so each op depends on the other's last); goal as in 3a, and no duplicates though C has two sources;\n    heal \"at once\": both links up at one instant; \"one by one\": C-A up and settled before C-B)",
        &[
            "missed ops M",
            "heal",
            "messages",
            "bytes",
            "bytes/missed op",
            "floor/op",
            "overhead",
            "gossip rounds",
            "dups",
            "catch-up wall s",
        ],
    );
    for (&missed, heal) in plan
        .missed
        .iter()
        .flat_map(|m| [(m, Heal::AtOnce), (m, Heal::OneByOne)])
    {
        let mut d = Driver::new(MESH);
        let result = measure_catch_up_with(&mut d, C, heal, |d| {
            for i in 0..missed {
                let at = if i % 2 == 0 { A } else { B };
                d.write(at, key(i), value(i));
                // Deliver at once, so the next write at the other node depends on this one.
                d.settle();
                if (i + 1) % CHUNK == 0 {
                    d.tick();
                }
            }
        });
        let floor = ratio(result.floor, missed as u64);
        let t = &result.tally;
        let per_op = ratio(t.bytes, missed as u64);
        table.row(vec![
            thousands(missed as u64),
            match heal {
                Heal::AtOnce => "at once",
                Heal::OneByOne => "one by one",
            }
            .to_string(),
            thousands(t.messages),
            thousands(t.bytes),
            format!("{per_op:.1}"),
            format!("{floor:.1}"),
            format!("{:+.1}%", (per_op / floor - 1.0) * 100.0),
            result.ticks.to_string(),
            result.duplicates.to_string(),
            secs(result.wall),
        ]);
    }
    table.print();
}

fn catch_up_snapshot(plan: &Plan) {
    let missed = plan.snapshot_missed;
    let keys = plan.snapshot_keys;
    let mut config = Config::lan();
    config.retention_ops = plan.snapshot_retention;
    let chunk_bytes = config.snapshot_chunk_bytes;
    let mut d = Driver::with_config(PAIR, config);
    // Every message is encoded and the decoded copy delivered, as over a transport.
    d.roundtrip = true;
    let setup = Instant::now();
    let result = measure_catch_up(&mut d, B, |d| {
        d.sizing = true;
        let mut i = 0;
        while i < missed {
            let end = (i + CHUNK).min(missed);
            for n in i..end {
                d.write(A, key(n % keys), value(n));
            }
            // Timers run: past the retention, A's log drops what its durable state covers.
            d.tick();
            i = end;
        }
        d.sizing = false;
    });
    let setup = setup.elapsed().saturating_sub(result.wall);
    let (a, b) = (&d.replicas[&A], &d.replicas[&B]);
    let state_bytes: u64 = a
        .keyspace()
        .retained_keys()
        .filter_map(|k| {
            a.keyspace()
                .encode_key(k)
                .map(|s| (k.len() + s.len()) as u64)
        })
        .sum();
    let converged = a.digest() == b.digest() && a.applied() == b.applied();
    let t = &result.tally;
    let floor = d.sized_op_bytes;
    let mb = |bytes: u64| bytes as f64 / 1e6;
    let rate = mb(t.snapshot_bytes) / result.wall.as_secs_f64();
    let mut table = Table::new(
        &format!(
            "3d. Snapshot catch-up (2-node chain, Config::lan() with retention_ops = {}, chunks of at most {} MiB;\n    B cut off while A writes {} ops over {} distinct keys, 16 B keys, 100 B values, ticking every {} writes;\n    references: the log floor (the missed ops' encoded size, as in 3a) and the state's encoded size)",
            thousands(plan.snapshot_retention as u64),
            chunk_bytes >> 20,
            thousands(missed as u64),
            thousands(keys as u64),
            CHUNK
        ),
        &["figure", "value", "reference", "ref value", "ratio"],
    );
    let mean_op = ratio(floor, d.sized_ops);
    table.row(vec![
        "snapshot bytes".to_string(),
        thousands(t.snapshot_bytes),
        "log floor (missed ops x mean op)".to_string(),
        format!(
            "{} ({} x {mean_op:.1} B)",
            thousands(floor),
            thousands(d.sized_ops)
        ),
        format!("{:.3}x", ratio(t.snapshot_bytes, floor)),
    ]);
    table.row(vec![
        "total catch-up bytes".to_string(),
        thousands(t.bytes),
        "state size (keys + encoded states)".to_string(),
        thousands(state_bytes),
        format!("{:.3}x", ratio(t.bytes, state_bytes)),
    ]);
    table.row(vec![
        "snapshot chunks".to_string(),
        t.snapshot_chunks.to_string(),
        "state size / chunk limit".to_string(),
        format!("{:.2}", state_bytes as f64 / chunk_bytes as f64),
        String::new(),
    ]);
    table.row(vec![
        "messages / Ops-frame ops".to_string(),
        format!("{} / {}", t.messages, thousands(t.ops_carried)),
        String::new(),
        String::new(),
        String::new(),
    ]);
    table.row(vec![
        "catch-up wall s (link-up to equal vectors)".to_string(),
        format!("{:.3}", result.wall.as_secs_f64()),
        "gossip rounds".to_string(),
        result.ticks.to_string(),
        String::new(),
    ]);
    table.row(vec![
        "snapshot rate MB/s (in-process)".to_string(),
        format!("{rate:.0}"),
        String::new(),
        String::new(),
        String::new(),
    ]);
    let wall_s = result.wall.as_secs_f64();
    table.row(vec![
        "  of which: wire encode + decode s".to_string(),
        format!("{:.3}", t.wire.as_secs_f64()),
        "share of catch-up wall".to_string(),
        format!("{:.0}%", 100.0 * t.wire.as_secs_f64() / wall_s),
        String::new(),
    ]);
    table.row(vec![
        "  of which: B handling chunks + merge s".to_string(),
        format!("{:.3}", t.snapshot_handling.as_secs_f64()),
        "share of catch-up wall".to_string(),
        format!("{:.0}%", 100.0 * t.snapshot_handling.as_secs_f64() / wall_s),
        String::new(),
    ]);
    let rest = result.wall.saturating_sub(t.wire + t.snapshot_handling);
    table.row(vec![
        "  of which: the rest (A builds, B persists, gossip) s".to_string(),
        format!("{:.3}", rest.as_secs_f64()),
        "share of catch-up wall".to_string(),
        format!("{:.0}%", 100.0 * rest.as_secs_f64() / wall_s),
        String::new(),
    ]);
    table.row(vec![
        "A: truncated / log held / snapshots sent".to_string(),
        format!(
            "{} / {} / {}",
            thousands(a.stats().truncated),
            thousands(a.log().len() as u64),
            a.stats().snapshots_sent
        ),
        "B: snapshots merged / dups".to_string(),
        format!("{} / {}", b.stats().snapshots_merged, result.duplicates),
        String::new(),
    ]);
    table.row(vec![
        "digests and applied vectors equal".to_string(),
        if converged { "yes" } else { "NO" }.to_string(),
        "write phase wall s".to_string(),
        secs(setup),
        String::new(),
    ]);
    table.print();
    println!(
        "   in-process: the wall time covers A encoding key states and messages, B decoding and merging them\n   and persisting (instantly) the merged state; no network, no disk."
    );
    assert!(converged, "B's state differs from A's after the snapshot");
}
