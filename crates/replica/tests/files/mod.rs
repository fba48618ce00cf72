//! What the topology tests share: the shipped files and builders of test files.

use meridian_crdt::ActorId;
use meridian_replica::topology::Topology;

macro_rules! shipped {
    ($name:literal) => {
        (
            concat!("topologies/", $name),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../topologies/",
                $name
            )),
        )
    };
}

pub const SHIPPED: [(&str, &str); 8] = [
    shipped!("mesh-3.toml"),
    shipped!("ring-5.toml"),
    shipped!("star-5.toml"),
    shipped!("tree-7.toml"),
    shipped!("chain-4.toml"),
    shipped!("primary-replica.toml"),
    shipped!("mesh-delayed.toml"),
    shipped!("chain-delayed.toml"),
];

pub fn load(name: &str) -> Topology {
    let (file, text) = SHIPPED
        .iter()
        .find(|(f, _)| f.ends_with(name))
        .expect("a shipped file");
    Topology::parse(text, file).unwrap_or_else(|e| panic!("{e}"))
}

pub fn id(name: &str, t: &Topology) -> ActorId {
    t.by_name(name)
        .unwrap_or_else(|| panic!("no node {name}"))
        .id
}

pub const FILE: &str = "topologies/test.toml";

/// A `[[node]]` with its own ports, derived from the id.
pub fn node(name: &str, id: u32) -> String {
    node_with(name, id, "")
}

pub fn node_with(name: &str, id: u32, extra: &str) -> String {
    format!(
        "\n[[node]]\nname = \"{name}\"\nid = {id}\n{extra}\nquic = \"127.0.0.1:{}\"\nresp = \"127.0.0.1:{}\"\nadmin = \"127.0.0.1:{}\"\n",
        17000 + id,
        18000 + id,
        19000 + id
    )
}

pub fn link(a: &str, b: &str) -> String {
    format!("\n[[link]]\na = \"{a}\"\nb = \"{b}\"\n")
}

pub fn file(head: &str, parts: &[String]) -> String {
    format!("cluster = \"test\"\n{head}\n{}", parts.concat())
}
