//! Reading and validating topology files.
//!
//! Unknown fields are found on the raw TOML table first, so the message can say where they
//! are; the serde structs deny unknown fields as well, as a backstop.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use meridian_crdt::ActorId;
use serde::Deserialize;

use super::{Endpoint, Link, NodeSpec, Role, Shape, Topology, TopologyError};

const TOP_FIELDS: &[&str] = &["cluster", "shape", "hub", "node", "link"];
const NODE_FIELDS: &[&str] = &[
    "name", "id", "role", "delay", "parent", "quic", "resp", "admin",
];
const LINK_FIELDS: &[&str] = &["a", "b", "latency_ms"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    cluster: Option<String>,
    shape: Option<String>,
    hub: Option<String>,
    #[serde(default)]
    node: Vec<toml::Table>,
    #[serde(default)]
    link: Vec<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Option<String>,
    id: Option<i64>,
    role: Option<String>,
    delay: Option<String>,
    parent: Option<String>,
    quic: Option<String>,
    resp: Option<String>,
    admin: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    a: Option<String>,
    b: Option<String>,
    latency_ms: Option<i64>,
}

pub(super) fn parse(text: &str, file: &str) -> Result<Topology, TopologyError> {
    let f = || file.to_owned();
    let table: toml::Table = toml::from_str(text).map_err(|e| TopologyError::Syntax {
        file: f(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    check_fields(&table, TOP_FIELDS, "the top level", file)?;
    for (kind, known) in [("node", NODE_FIELDS), ("link", LINK_FIELDS)] {
        if let Some(toml::Value::Array(items)) = table.get(kind) {
            for (i, item) in items.iter().enumerate() {
                if let toml::Value::Table(t) = item {
                    check_fields(t, known, &item_place(kind, i, t), file)?;
                }
            }
        }
    }
    let raw: RawFile = toml::from_str(text).map_err(|e| TopologyError::InvalidValue {
        file: f(),
        place: "the top level".into(),
        message: e.to_string().trim_end().to_owned(),
    })?;

    let cluster = raw.cluster.ok_or_else(|| TopologyError::MissingField {
        file: f(),
        place: "the top level".into(),
        field: "cluster",
        example: "cluster = \"east-africa\"",
    })?;
    if cluster.trim().is_empty() {
        return Err(TopologyError::EmptyCluster { file: f() });
    }
    let shape = match raw.shape.as_deref() {
        None => {
            return Err(TopologyError::MissingField {
                file: f(),
                place: "the top level".into(),
                field: "shape",
                example: "shape = \"mesh\" (mesh | ring | star | tree | chain | links)",
            });
        }
        Some("mesh") => Shape::Mesh,
        Some("ring") => Shape::Ring,
        Some("star") => Shape::Star,
        Some("tree") => Shape::Tree,
        Some("chain") => Shape::Chain,
        Some("links") => Shape::Links,
        Some(other) => {
            return Err(TopologyError::UnknownShape {
                file: f(),
                shape: other.to_owned(),
            });
        }
    };
    if raw.node.is_empty() {
        return Err(TopologyError::NoNodes { file: f() });
    }

    let mut nodes = Vec::with_capacity(raw.node.len());
    for (i, t) in raw.node.into_iter().enumerate() {
        let place = item_place("node", i, &t);
        let node: RawNode = t.try_into().map_err(|e| TopologyError::InvalidValue {
            file: f(),
            place,
            message: flatten(&e.to_string()),
        })?;
        nodes.push(node_spec(node, i, shape, file)?);
    }
    check_unique(&nodes, file)?;
    if !nodes.iter().any(|n| n.role == Role::Leader) {
        return Err(TopologyError::NoLeader { file: f() });
    }

    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let hub = match (shape, raw.hub) {
        (Shape::Star, None) => return Err(TopologyError::MissingHub { file: f() }),
        (Shape::Star, Some(hub)) if !index.contains_key(hub.as_str()) => {
            return Err(TopologyError::UnknownHub { file: f(), hub });
        }
        (Shape::Star, Some(hub)) => Some(hub),
        (_, None) => None,
        (shape, Some(_)) => return Err(TopologyError::HubNotStar { file: f(), shape }),
    };
    if shape == Shape::Tree {
        check_tree(&nodes, &index, file)?;
    }

    // The links the shape makes, by position in `nodes`, smaller position first.
    let n = nodes.len();
    let implied: Vec<(usize, usize)> = match shape {
        Shape::Mesh => (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .collect(),
        Shape::Ring if n < 3 => {
            let instead = if n == 2 { Shape::Chain } else { Shape::Mesh };
            return Err(TopologyError::RingTooSmall {
                file: f(),
                nodes: n,
                instead,
            });
        }
        Shape::Ring => (0..n).map(|i| pair(i, (i + 1) % n)).collect(),
        Shape::Chain => (1..n).map(|i| (i - 1, i)).collect(),
        Shape::Star => {
            let h = hub.as_deref().and_then(|h| index.get(h)).copied();
            (0..n)
                .filter(|&i| Some(i) != h)
                .filter_map(|i| h.map(|h| pair(h, i)))
                .collect()
        }
        Shape::Tree => nodes
            .iter()
            .enumerate()
            .filter_map(|(i, node)| {
                let p = node.parent.as_deref().and_then(|p| index.get(p))?;
                Some(pair(i, *p))
            })
            .collect(),
        Shape::Links => Vec::new(),
    };

    // [[link]] entries: the graph for `links`, latencies for the other shapes.
    let mut given: BTreeMap<(usize, usize), (usize, Option<u32>)> = BTreeMap::new();
    for (i, t) in raw.link.into_iter().enumerate() {
        let place = item_place("link", i, &t);
        let link: RawLink = t.try_into().map_err(|e| TopologyError::InvalidValue {
            file: f(),
            place: place.clone(),
            message: flatten(&e.to_string()),
        })?;
        let end = |name: Option<String>, field: &'static str, example: &'static str| {
            let name = name.ok_or_else(|| TopologyError::MissingField {
                file: f(),
                place: place.clone(),
                field,
                example,
            })?;
            index
                .get(name.as_str())
                .copied()
                .ok_or(TopologyError::UnknownLinkNode {
                    file: f(),
                    index: i + 1,
                    node: name,
                })
        };
        let a = end(link.a, "a", "a = \"nairobi\"")?;
        let b = end(link.b, "b", "b = \"mombasa\"")?;
        if a == b {
            return Err(TopologyError::SelfLink {
                file: f(),
                index: i + 1,
                node: nodes[a].name.clone(),
            });
        }
        let latency =
            match link.latency_ms {
                None => None,
                Some(ms) => Some(u32::try_from(ms).ok().filter(|&ms| ms >= 1).ok_or_else(
                    || TopologyError::LatencyOutOfRange {
                        file: f(),
                        a: nodes[a].name.clone(),
                        b: nodes[b].name.clone(),
                        latency_ms: ms,
                    },
                )?),
            };
        if let Some(&(first, _)) = given.get(&pair(a, b)) {
            return Err(TopologyError::DuplicateLink {
                file: f(),
                a: nodes[a].name.clone(),
                b: nodes[b].name.clone(),
                first: first + 1,
                second: i + 1,
            });
        }
        if shape != Shape::Links && !implied.contains(&pair(a, b)) {
            return Err(TopologyError::LinkNotInShape {
                file: f(),
                shape,
                a: nodes[a].name.clone(),
                b: nodes[b].name.clone(),
            });
        }
        given.insert(pair(a, b), (i, latency));
    }
    let edges: Vec<(usize, usize)> = if shape == Shape::Links {
        given.keys().copied().collect()
    } else {
        implied
    };
    check_connected(&nodes, &edges, file)?;

    let mut links: Vec<Link> = edges
        .iter()
        .map(|&(i, j)| {
            let (a, b) = (nodes[i].id.min(nodes[j].id), nodes[i].id.max(nodes[j].id));
            let latency_ms = given.get(&(i, j)).and_then(|&(_, l)| l);
            Link { a, b, latency_ms }
        })
        .collect();
    links.sort_unstable_by_key(|l| (l.a, l.b));

    Ok(Topology {
        cluster,
        shape,
        hub,
        nodes,
        links,
    })
}

fn pair(i: usize, j: usize) -> (usize, usize) {
    (i.min(j), i.max(j))
}

/// Names a `[[node]]` or `[[link]]` entry as helpfully as its raw table allows.
fn item_place(kind: &str, i: usize, t: &toml::Table) -> String {
    let s = |k: &str| t.get(k).and_then(toml::Value::as_str);
    match (kind, s("name"), s("a"), s("b")) {
        ("node", Some(name), _, _) if !name.is_empty() => format!("node \"{name}\""),
        ("link", _, Some(a), Some(b)) => format!("[[link]] #{} (\"{a}\" to \"{b}\")", i + 1),
        _ => format!("[[{kind}]] #{}", i + 1),
    }
}

fn check_fields(
    t: &toml::Table,
    known: &[&str],
    place: &str,
    file: &str,
) -> Result<(), TopologyError> {
    match t.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(field) => Err(TopologyError::UnknownField {
            file: file.to_owned(),
            place: place.to_owned(),
            field: field.clone(),
            known: known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// toml's messages from a table end in "\nin `field`": keep them on one line.
fn flatten(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn node_spec(raw: RawNode, i: usize, shape: Shape, file: &str) -> Result<NodeSpec, TopologyError> {
    let f = || file.to_owned();
    let missing =
        |place: String, field: &'static str, example: &'static str| TopologyError::MissingField {
            file: f(),
            place,
            field,
            example,
        };
    let name = raw
        .name
        .ok_or_else(|| missing(format!("[[node]] #{}", i + 1), "name", "name = \"nairobi\""))?;
    if name.trim().is_empty() {
        return Err(TopologyError::EmptyName {
            file: f(),
            index: i + 1,
        });
    }
    let place = format!("node \"{name}\"");
    let id = raw
        .id
        .ok_or_else(|| missing(place.clone(), "id", "id = 1 (actor ids start at 1)"))?;
    let id = match u32::try_from(id) {
        Ok(0) => {
            return Err(TopologyError::ZeroActorId {
                file: f(),
                node: name,
            });
        }
        Ok(id) => ActorId(id),
        Err(_) => {
            return Err(TopologyError::ActorIdOutOfRange {
                file: f(),
                node: name,
                id,
            });
        }
    };
    let role = match raw.role.as_deref() {
        None | Some("leader") => Role::Leader,
        Some("replica") => Role::Replica,
        Some("delayed") => Role::Delayed,
        Some(other) => {
            return Err(TopologyError::UnknownRole {
                file: f(),
                node: name,
                role: other.to_owned(),
            });
        }
    };
    let delay = match (role, raw.delay) {
        (Role::Delayed, None) => {
            return Err(TopologyError::DelayMissing {
                file: f(),
                node: name,
            });
        }
        (Role::Delayed, Some(text)) => match parse_duration(&text) {
            Ok(d) => Some(d),
            Err(reason) => {
                return Err(TopologyError::BadDuration {
                    file: f(),
                    node: name,
                    value: text,
                    reason,
                });
            }
        },
        (_, None) => None,
        (role, Some(_)) => {
            return Err(TopologyError::DelayNotDelayed {
                file: f(),
                node: name,
                role,
            });
        }
    };
    if raw.parent.is_some() && shape != Shape::Tree {
        return Err(TopologyError::ParentNotTree {
            file: f(),
            node: name,
            shape,
        });
    }
    let addr = |value: Option<String>, field: Endpoint, example: &'static str| {
        let value = value.ok_or_else(|| missing(place.clone(), field.as_str(), example))?;
        value
            .trim()
            .parse::<SocketAddr>()
            .map_err(|e| TopologyError::BadAddress {
                file: f(),
                node: name.clone(),
                field,
                reason: e.to_string(),
                value,
            })
    };
    let quic = addr(raw.quic, Endpoint::Quic, "quic = \"127.0.0.1:7401\"")?;
    let resp = addr(raw.resp, Endpoint::Resp, "resp = \"127.0.0.1:6401\"")?;
    let admin = addr(raw.admin, Endpoint::Admin, "admin = \"127.0.0.1:9401\"")?;
    Ok(NodeSpec {
        name,
        id,
        role,
        delay,
        parent: raw.parent,
        quic,
        resp,
        admin,
    })
}

/// Names, actor ids and addresses are unique.
fn check_unique(nodes: &[NodeSpec], file: &str) -> Result<(), TopologyError> {
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut ids: HashMap<ActorId, &str> = HashMap::new();
    let mut addrs: HashMap<SocketAddr, (&str, Endpoint)> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        if let Some(&first) = names.get(node.name.as_str()) {
            return Err(TopologyError::DuplicateName {
                file: file.to_owned(),
                node: node.name.clone(),
                first: first + 1,
                second: i + 1,
            });
        }
        names.insert(&node.name, i);
        if let Some(other) = ids.get(&node.id) {
            return Err(TopologyError::DuplicateId {
                file: file.to_owned(),
                node: node.name.clone(),
                id: node.id.0,
                other: (*other).to_owned(),
            });
        }
        ids.insert(node.id, &node.name);
        for field in [Endpoint::Quic, Endpoint::Resp, Endpoint::Admin] {
            let addr = node.addr(field);
            if let Some(&(other, other_field)) = addrs.get(&addr) {
                return Err(TopologyError::DuplicateAddress {
                    file: file.to_owned(),
                    node: node.name.clone(),
                    field,
                    addr,
                    other: other.to_owned(),
                    other_field,
                });
            }
            addrs.insert(addr, (&node.name, field));
        }
    }
    Ok(())
}

/// Exactly one root; every parent is a node; following parents always reaches the root.
fn check_tree(
    nodes: &[NodeSpec],
    index: &HashMap<&str, usize>,
    file: &str,
) -> Result<(), TopologyError> {
    let mut parent = Vec::with_capacity(nodes.len());
    let mut root: Option<&str> = None;
    for node in nodes {
        match node.parent.as_deref() {
            None => {
                if let Some(root) = root {
                    return Err(TopologyError::MissingParent {
                        file: file.to_owned(),
                        node: node.name.clone(),
                        root: root.to_owned(),
                    });
                }
                root = Some(&node.name);
                parent.push(None);
            }
            Some(p) => match index.get(p) {
                Some(&p) => parent.push(Some(p)),
                None => {
                    return Err(TopologyError::UnknownParent {
                        file: file.to_owned(),
                        node: node.name.clone(),
                        parent: p.to_owned(),
                    });
                }
            },
        }
    }
    if root.is_none() {
        return Err(TopologyError::NoRoot {
            file: file.to_owned(),
        });
    }
    // Walk up from each node; more than n steps means a cycle.
    for start in 0..nodes.len() {
        let mut at = start;
        let mut steps = 0;
        while let Some(p) = parent[at] {
            at = p;
            steps += 1;
            if steps > nodes.len() {
                return Err(cycle_error(nodes, &parent, at, file));
            }
        }
    }
    Ok(())
}

fn cycle_error(
    nodes: &[NodeSpec],
    parent: &[Option<usize>],
    on: usize,
    file: &str,
) -> TopologyError {
    let mut cycle = vec![on];
    let mut at = on;
    while let Some(p) = parent[at] {
        if p == on {
            break;
        }
        cycle.push(p);
        at = p;
    }
    // Start the cycle at its first node in file order, so the message is stable.
    let first = cycle
        .iter()
        .enumerate()
        .min_by_key(|&(_, &n)| n)
        .map_or(0, |(k, _)| k);
    cycle.rotate_left(first);
    let mut path: Vec<&str> = cycle.iter().map(|&n| nodes[n].name.as_str()).collect();
    path.push(&nodes[cycle[0]].name);
    TopologyError::ParentCycle {
        file: file.to_owned(),
        node: nodes[cycle[0]].name.clone(),
        cycle: path.join(" -> "),
    }
}

fn check_connected(
    nodes: &[NodeSpec],
    edges: &[(usize, usize)],
    file: &str,
) -> Result<(), TopologyError> {
    let mut adj = vec![Vec::new(); nodes.len()];
    for &(i, j) in edges {
        adj[i].push(j);
        adj[j].push(i);
    }
    let mut seen = vec![false; nodes.len()];
    let mut stack = vec![0];
    seen[0] = true;
    while let Some(i) = stack.pop() {
        for &j in &adj[i] {
            if !seen[j] {
                seen[j] = true;
                stack.push(j);
            }
        }
    }
    match seen.iter().position(|s| !s) {
        None => Ok(()),
        Some(lost) => Err(TopologyError::Disconnected {
            file: file.to_owned(),
            node: nodes[lost].name.clone(),
            from: nodes[0].name.clone(),
        }),
    }
}

/// Parses a positive duration such as `500ms`, `30s`, `2m`, `1h` or `1m30s`.
pub(super) fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("is empty");
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err("does not start with a number");
        }
        let number: u64 = rest[..digits].parse().map_err(|_| "is too long")?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "" => return Err("has a number without a unit (ms, s, m or h)"),
            _ => return Err("has a unit that is not ms, s, m or h"),
        };
        rest = &rest[unit_len..];
        let part = u32::try_from(number)
            .ok()
            .and_then(|n| unit.checked_mul(n))
            .ok_or("is too long")?;
        total = total.checked_add(part).ok_or("is too long")?;
    }
    if total.is_zero() {
        return Err("is zero (a replica without delay has role = \"replica\")");
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_units_operators_write() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 5s "), Ok(Duration::from_secs(5)));
    }

    #[test]
    fn durations_that_are_refused() {
        for bad in [
            "",
            "30",
            "s",
            "30 s",
            "3x",
            "-1s",
            "0s",
            "1.5s",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn field_lists_match_the_serde_structs() {
        let node: toml::Table = NODE_FIELDS
            .iter()
            .map(|k| ((*k).to_owned(), toml::Value::String("x".into())))
            .filter(|(k, _)| k != "id")
            .collect();
        assert!(node.try_into::<RawNode>().is_ok());
        let link: toml::Table = [("a", "x"), ("b", "y")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), toml::Value::String((*v).into())))
            .chain([("latency_ms".to_owned(), toml::Value::Integer(3))])
            .collect();
        assert_eq!(link.len(), LINK_FIELDS.len());
        assert!(link.try_into::<RawLink>().is_ok());
        let top: toml::Table = TOP_FIELDS
            .iter()
            .map(|k| match *k {
                "node" | "link" => ((*k).to_owned(), toml::Value::Array(Vec::new())),
                _ => ((*k).to_owned(), toml::Value::String("x".into())),
            })
            .collect();
        assert!(top.try_into::<RawFile>().is_ok());
    }
}
