//! # A tour of the topologies: mesh, ring, star, tree and chain
//!
//! Five regions run the same workload (20 writes at each region, 100 in all) linked five
//! ways. Every region forwards an op only to its children in that op's origin's shortest-path
//! tree, so however the regions are linked, each op crosses exactly one link per region it
//! reaches: four messages per op, and no region receives an op twice. What the shape changes
//! is how far an op travels (hops to the farthest region) and who carries the load (the
//! busiest region's share of the forwarding).
//!
//! Then a link of the ring is cut. The regions at its ends compute new trees over the links
//! that are still up, ops go the long way round, and nothing is lost. Should an op ever
//! reach a region twice (two regions briefly disagreeing about which links are up), the
//! region drops the copy by its `(origin, seq)`: the loop detection that keeps a ring from
//! circulating an op forever. The duplicate counter shows how often that happened.
//!
//! ```sh
//! cargo run --release --example topology_tour
//! ```

mod common;

use std::collections::{BTreeMap, VecDeque};

use anyhow::Result;
use common::{Claims, Regions, table};

const REGIONS: [&str; 5] = ["frankfurt", "singapore", "virginia", "sao-paulo", "sydney"];
const WRITES_PER_REGION: usize = 20;
const OPS: u64 = (REGIONS.len() * WRITES_PER_REGION) as u64;

/// The counters summed over every region, and the ops each region sent.
#[derive(Default, Clone)]
struct Totals {
    ops_sent: u64,
    ops_received: u64,
    duplicates: u64,
    wire_bytes: u64,
    sent_by_region: Vec<u64>,
}

fn totals(regions: &Regions) -> Totals {
    let mut t = Totals::default();
    for node in &regions.cluster.nodes {
        let status = node.status();
        let count = |name: &str| status.counters.get(name).copied().unwrap_or(0);
        t.ops_sent += count("ops_sent");
        t.ops_received += count("ops_received");
        t.duplicates += count("duplicates");
        t.wire_bytes += status.links.iter().map(|l| l.wire_bytes_sent).sum::<u64>();
        t.sent_by_region.push(count("ops_sent"));
    }
    t
}

/// What happened between `before` and `after`.
fn since(before: &Totals, after: &Totals) -> Totals {
    Totals {
        ops_sent: after.ops_sent - before.ops_sent,
        ops_received: after.ops_received - before.ops_received,
        duplicates: after.duplicates - before.duplicates,
        wire_bytes: after.wire_bytes - before.wire_bytes,
        sent_by_region: after
            .sent_by_region
            .iter()
            .zip(&before.sent_by_region)
            .map(|(a, b)| a - b)
            .collect(),
    }
}

/// The most hops an op from any region travels: the longest shortest path over the links
/// that are up, found by a breadth-first search from every region.
fn farthest(regions: &Regions) -> usize {
    let links: BTreeMap<String, Vec<String>> = regions
        .cluster
        .nodes
        .iter()
        .map(|n| {
            let up = n.status().links.into_iter().filter(|l| l.state == "up");
            (n.name().to_owned(), up.map(|l| l.peer).collect())
        })
        .collect();
    let mut longest = 0;
    for start in links.keys() {
        let mut hops = BTreeMap::from([(start.clone(), 0)]);
        let mut queue = VecDeque::from([start.clone()]);
        while let Some(at) = queue.pop_front() {
            let next = hops[&at] + 1;
            for peer in links.get(&at).into_iter().flatten() {
                if !hops.contains_key(peer) {
                    hops.insert(peer.clone(), next);
                    queue.push_back(peer.clone());
                }
            }
        }
        longest = longest.max(hops.values().copied().max().unwrap_or(0));
    }
    longest
}

/// The workload: `WRITES_PER_REGION` writes at every region, each to its own key.
async fn workload(regions: &Regions, round: &str) -> Result<()> {
    for name in REGIONS {
        let node = regions.get(name);
        for i in 0..WRITES_PER_REGION {
            node.set(format!("{round}:{name}:{i}"), format!("{i}"))
                .await?;
        }
    }
    Ok(())
}

/// Whether every region holds every key of the workload's `round`.
async fn every_write_everywhere(regions: &Regions, round: &str) -> bool {
    for node in &regions.cluster.nodes {
        if node.keys(round.as_bytes()).await.len() != OPS as usize {
            return false;
        }
    }
    true
}

fn per_op(n: u64) -> String {
    format!("{:.2}", n as f64 / OPS as f64)
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut claims = Claims::default();
    let mut rows = Vec::new();
    println!("Five regions, {OPS} writes, five shapes.\n");
    for shape in ["mesh", "ring", "star", "tree", "chain"] {
        let regions = Regions::start(shape, &REGIONS).await?;
        let before = totals(&regions);
        workload(&regions, "tour").await?;
        regions.settle().await?;
        let t = since(&before, &totals(&regions));
        let hops = farthest(&regions);
        rows.push(vec![
            shape.to_owned(),
            per_op(t.ops_sent),
            format!("{:.0}", t.wire_bytes as f64 / OPS as f64),
            t.duplicates.to_string(),
            hops.to_string(),
            format!(
                "{:.0}%",
                100.0 * t.sent_by_region.iter().max().copied().unwrap_or(0) as f64
                    / t.ops_sent.max(1) as f64
            ),
        ]);
        claims.check(
            &format!("{shape}: every op reached every region exactly once, nothing twice"),
            every_write_everywhere(&regions, "tour").await
                && t.ops_received == OPS * (REGIONS.len() as u64 - 1)
                && t.ops_sent == t.ops_received
                && t.duplicates == 0,
        );
        regions.stop().await?;
    }
    println!();
    table(
        &[
            "shape",
            "messages/op",
            "wire bytes/op",
            "duplicates",
            "hops to farthest",
            "busiest region's share",
        ],
        &rows,
    );
    println!("\n  wire bytes: every UDP payload the regions sent while the workload ran, QUIC,");
    println!("  TLS, acknowledgements and gossip included, divided by the ops.\n");

    println!("The ring again; the link between Frankfurt and Singapore is cut.");
    let regions = Regions::start("ring", &REGIONS).await?;
    let hops_before = farthest(&regions);
    regions.cut("frankfurt", "singapore");
    let before = totals(&regions);
    workload(&regions, "cut").await?;
    regions.settle().await?;
    let t = since(&before, &totals(&regions));
    let hops_cut = farthest(&regions);
    println!(
        "  {OPS} writes with the link down: {} messages/op, {} duplicates dropped, the",
        per_op(t.ops_sent),
        t.duplicates
    );
    println!(
        "  farthest region {hops_cut} hops away (was {hops_before}): the ring is a chain now."
    );
    claims.check(
        "with a ring link cut, every write still reached every region",
        every_write_everywhere(&regions, "cut").await,
    );
    regions.heal("frankfurt", "singapore");
    regions.settle().await?;
    workload(&regions, "healed").await?;
    regions.settle().await?;
    println!(
        "  the link heals; the trees are rebuilt and the farthest region is {} hops away.",
        farthest(&regions)
    );
    claims.check(
        "after the heal, every write of both rounds is everywhere",
        every_write_everywhere(&regions, "cut").await
            && every_write_everywhere(&regions, "healed").await,
    );
    claims.check(
        "the cut ring routed ops the long way: the farthest region moved from 2 to 4 hops",
        hops_before == 2 && hops_cut == 4,
    );
    println!();
    regions.stop().await?;
    claims.result()
}
