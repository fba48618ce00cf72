//! The editing traces of `data/editing-traces` (CC BY 4.0; the format is in its README),
//! loaded for the tests and benchmarks of every crate that replays them (each includes this
//! file with `#[path]`; they all sit two folders below the repository's root).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;

/// One patch: at `pos`, delete `del` characters, then insert `ins` (positions in Unicode
/// scalar values).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Patch(pub u64, pub u64, pub String);

/// One transaction: the user who made it, the transactions it saw (indices of earlier ones)
/// and its patches, applied one after the other. A sequential trace names neither user nor
/// parents (one user, each transaction after the one before).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Txn {
    #[serde(default)]
    pub agent: usize,
    #[serde(default)]
    pub parents: Vec<usize>,
    pub patches: Vec<Patch>,
}

/// A whole trace.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Trace {
    #[serde(rename = "endContent")]
    pub end: String,
    #[serde(rename = "numAgents", default = "one")]
    pub agents: usize,
    pub txns: Vec<Txn>,
}

fn one() -> usize {
    1
}

impl Trace {
    /// Every patch, in the order of the transactions.
    pub fn patches(&self) -> impl Iterator<Item = &Patch> + '_ {
        self.txns.iter().flat_map(|t| t.patches.iter())
    }
}

/// Loads `data/editing-traces/{name}.json.gz`.
pub fn load(manifest_dir: &str, name: &str) -> Trace {
    let path = format!("{manifest_dir}/../../data/editing-traces/{name}.json.gz");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .expect("a gzip file");
    serde_json::from_str(&json).expect("a trace")
}
