//! What every demo does around its story: start regions in this process on loopback (real
//! QUIC with mutual TLS, a redb store each, all under a temporary folder removed at the end),
//! print tables, and check claims (a demo whose claim fails exits non-zero).

#![allow(dead_code)]

use std::time::Duration;

use anyhow::{Context, Result, bail};
use meridian::Node;
use meridian::node::cluster::{self, LocalCluster, Options};

/// How long a demo waits for links to come up or regions to converge before it gives up.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Regions running in this process; their folder goes when this is dropped.
pub struct Regions {
    pub cluster: LocalCluster,
    _dir: tempfile::TempDir,
}

impl Regions {
    /// One leader per name, linked as `shape` says (`mesh`, `ring`, `star`, `tree`,
    /// `chain`), every link up.
    pub async fn start(shape: &str, names: &[&str]) -> Result<Regions> {
        let dir = tempfile::tempdir().context("a temporary folder")?;
        // An op leaves its region only once it is synced to disk (a crash must never take
        // back an op other regions hold), so the sync period bounds each hop's delay: a few
        // milliseconds keeps a demo quick without an fsync per write.
        let options = Options {
            fsync: "periodic:5ms".to_owned(),
            ..Options::default()
        };
        let cluster = cluster::launch(dir.path(), "demo", shape, names, &options).await?;
        if !cluster.connected(LIMIT).await {
            bail!("the links did not come up within {LIMIT:?}");
        }
        Ok(Regions { cluster, _dir: dir })
    }

    /// The region named `name`.
    pub fn get(&self, name: &str) -> &Node {
        self.cluster.node(name).expect("a region the demo started")
    }

    /// Cuts the link between two regions, as an operator would (`Node::disconnect`).
    pub fn cut(&self, a: &str, b: &str) {
        self.get(a).disconnect(b);
        self.get(b).disconnect(a);
    }

    /// Restores a link cut by [`Regions::cut`]; [`Regions::settle`] waits for what follows.
    pub fn heal(&self, a: &str, b: &str) {
        self.get(a).reconnect(b);
        self.get(b).reconnect(a);
    }

    /// Waits until every link is up and every region holds the same state.
    pub async fn settle(&self) -> Result<()> {
        if !self.cluster.connected(LIMIT).await {
            bail!("the links did not come back within {LIMIT:?}");
        }
        if !self.cluster.converged(LIMIT).await {
            bail!("the regions did not converge within {LIMIT:?}");
        }
        Ok(())
    }

    /// Takes region `name` down: its node stops, and its neighbours see their links to it
    /// go down.
    pub async fn fail(&mut self, name: &str) -> Result<()> {
        let i = self
            .cluster
            .nodes
            .iter()
            .position(|n| n.name() == name)
            .context("a region the demo started")?;
        let node = self.cluster.nodes.remove(i);
        node.shutdown().await.map_err(anyhow::Error::msg)
    }

    /// Stops every region cleanly.
    pub async fn stop(self) -> Result<()> {
        self.cluster.shutdown().await.map_err(anyhow::Error::msg)
    }
}

/// Prints a table: a header row, a rule, then the rows, every column as wide as its widest
/// cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("  {}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    line(widths.iter().map(|w| "-".repeat(*w)).collect());
    for row in rows {
        line(row.clone());
    }
}

/// The claims a demo makes, checked as it goes: each prints `ok` or `FAILED`, and the demo
/// fails at the end if any did.
#[derive(Default)]
pub struct Claims {
    failed: Vec<String>,
}

impl Claims {
    pub fn check(&mut self, claim: &str, holds: bool) {
        println!("  [{}] {claim}", if holds { "ok" } else { "FAILED" });
        if !holds {
            self.failed.push(claim.to_owned());
        }
    }

    pub fn result(self) -> Result<()> {
        if self.failed.is_empty() {
            Ok(())
        } else {
            bail!("claims that did not hold: {}", self.failed.join("; "))
        }
    }
}
