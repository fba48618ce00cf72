//! The forwarding trees of a topology: each op reaches every node once, latencies and links
//! that are down steer the trees, ties go to the smallest actor id.

use std::collections::{BTreeMap, HashSet, VecDeque};

use meridian_crdt::ActorId;
use meridian_replica::topology::{
    DEFAULT_LATENCY_MS, Link, NodeSpec, Role, Routes, Shape, Topology, Tree,
};
use proptest::prelude::*;

mod files;

use files::{FILE, SHIPPED, file, id, link, load, node};

// ---- trees --------------------------------------------------------------------------------

fn all_up(_: ActorId, _: ActorId) -> bool {
    true
}

/// Floods one op of `origin` along its tree; returns how many times each node received it.
fn flood(routes: &Routes, t: &Topology, origin: ActorId) -> BTreeMap<ActorId, usize> {
    let mut received: BTreeMap<ActorId, usize> = t.ids().map(|id| (id, 0)).collect();
    let mut queue = VecDeque::from([origin]);
    while let Some(at) = queue.pop_front() {
        for next in routes.children(origin, at) {
            assert!(
                t.are_linked(at, next),
                "{at} forwards to {next}, which is not a neighbour"
            );
            assert_eq!(routes.parent(origin, next), Some(at));
            *received.get_mut(&next).expect("a node") += 1;
            queue.push_back(next);
        }
    }
    received
}

/// Every node but `origin` receives its op exactly once, `origin` never.
fn assert_delivered_once(routes: &Routes, t: &Topology, origin: ActorId, what: &str) {
    for (node, times) in flood(routes, t, origin) {
        assert_eq!(
            times,
            usize::from(node != origin),
            "{what}: origin {origin}, node {node}"
        );
    }
}

#[test]
fn ring_of_five_delivers_each_op_once() {
    let t = load("ring-5.toml");
    let routes = Routes::new(&t, all_up);
    for origin in t.ids() {
        assert_delivered_once(&routes, &t, origin, "ring-5");
        let tree = routes.tree(origin).expect("a tree");
        assert_eq!(tree.root(), origin);
        assert!(t.ids().all(|n| tree.reaches(n)));
        assert_eq!(
            t.ids()
                .filter(|&n| tree.parent(n).is_none())
                .collect::<Vec<_>>(),
            vec![origin]
        );
    }
}

#[test]
fn every_shipped_topology_delivers_each_op_once() {
    for (file, _) in SHIPPED {
        let t = load(file);
        let routes = Routes::new(&t, all_up);
        for origin in t.ids() {
            assert_delivered_once(&routes, &t, origin, file);
        }
    }
}

#[test]
fn latencies_steer_the_tree() {
    let t = load("ring-5.toml");
    let (nairobi, mombasa, dar, kigali, kampala) = (
        id("nairobi", &t),
        id("mombasa", &t),
        id("dar-es-salaam", &t),
        id("kigali", &t),
        id("kampala", &t),
    );
    let tree = Tree::shortest_path(&t, nairobi, all_up);
    // nairobi -> kampala -> kigali costs 19; nairobi -> mombasa -> dar -> kigali costs 38.
    assert_eq!(tree.parent(kigali), Some(kampala));
    assert_eq!(tree.parent(dar), Some(mombasa));
    assert_eq!(tree.distance(kigali), Some(19));
    assert_eq!(
        tree.children(nairobi).collect::<Vec<_>>(),
        vec![mombasa, kampala]
    );
}

#[test]
fn a_link_down_changes_the_tree_and_it_still_spans() {
    let t = load("ring-5.toml");
    let (nairobi, kampala, kigali) = (id("nairobi", &t), id("kampala", &t), id("kigali", &t));
    let down = (nairobi.min(kampala), nairobi.max(kampala));
    let is_up = |a, b| (a, b) != down;
    let tree = Tree::shortest_path(&t, nairobi, is_up);
    assert_ne!(tree.parent(kampala), Some(nairobi));
    assert_eq!(tree.parent(kampala), Some(kigali));
    assert!(t.ids().all(|n| tree.reaches(n)));
    let routes = Routes::new(&t, is_up);
    assert!(!routes.is_up(kampala, nairobi));
    assert_eq!(routes.up_links().count(), 4);
    for origin in t.ids() {
        assert_delivered_once(&routes, &t, origin, "ring-5, a link down");
    }

    // A second link down cuts kigali and kampala off from nairobi: the tree says so.
    let cut = (
        kigali.min(id("dar-es-salaam", &t)),
        kigali.max(id("dar-es-salaam", &t)),
    );
    let tree = Tree::shortest_path(&t, nairobi, |a, b| (a, b) != down && (a, b) != cut);
    assert!(!tree.reaches(kigali) && !tree.reaches(kampala));
    assert_eq!(tree.parent(kigali), None);
    assert_eq!(tree.children(kigali).count(), 0);
    assert!(tree.reaches(id("dar-es-salaam", &t)));
}

#[test]
fn ties_go_to_the_smallest_actor_id() {
    // A square without latencies: from 1, node 4 is two hops away through 2 or through 3.
    // File order and names put 3 first, so only the id can make 2 win.
    let text = file(
        "shape = \"links\"",
        &[
            node("zanzibar", 4),
            node("accra", 3),
            node("lagos", 1),
            node("bamako", 2),
            link("zanzibar", "accra"),
            link("accra", "lagos"),
            link("lagos", "bamako"),
            link("bamako", "zanzibar"),
        ],
    );
    let t = Topology::parse(&text, FILE).expect("valid");
    let tree = Tree::shortest_path(&t, ActorId(1), all_up);
    assert_eq!(tree.parent(ActorId(4)), Some(ActorId(2)));
    assert_eq!(
        tree.distance(ActorId(4)),
        Some(2 * u64::from(DEFAULT_LATENCY_MS))
    );
    assert_eq!(
        tree.children(ActorId(1)).collect::<Vec<_>>(),
        vec![ActorId(2), ActorId(3)]
    );
    // From 4, node 1 is reached through 2 as well.
    assert_eq!(
        Tree::shortest_path(&t, ActorId(4), all_up).parent(ActorId(1)),
        Some(ActorId(2))
    );
}

#[test]
fn an_unknown_origin_has_no_routes() {
    let t = load("mesh-3.toml");
    let routes = Routes::new(&t, all_up);
    assert!(routes.tree(ActorId(42)).is_none());
    assert_eq!(routes.children(ActorId(42), ActorId(1)).count(), 0);
    assert_eq!(routes.parent(ActorId(42), ActorId(1)), None);
    let tree = Tree::shortest_path(&t, ActorId(42), all_up);
    assert!(!tree.reaches(ActorId(1)) && !tree.reaches(ActorId(42)));
}

#[test]
fn sixty_four_node_mesh_routes() {
    let nodes: Vec<String> = (1..=64).map(|i| node(&format!("n{i}"), i)).collect();
    let t = Topology::parse(&file("shape = \"mesh\"", &nodes), FILE).expect("valid");
    assert_eq!(t.links.len(), 64 * 63 / 2);
    let routes = Routes::new(&t, all_up);
    for origin in t.ids() {
        // Equal weights: every node hears the origin directly.
        assert_eq!(routes.children(origin, origin).count(), 63);
    }
}

// ---- properties ---------------------------------------------------------------------------

/// A random connected graph: a random spanning tree plus extra edges, random ids and latencies,
/// and a random set of links down (which may cut the graph).
#[derive(Debug, Clone)]
struct Case {
    ids: Vec<u32>,
    edges: Vec<(usize, usize, Option<u32>)>,
    down: Vec<bool>,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..12).prop_flat_map(|n| {
        let tree = (1..n)
            .map(|i| (0..i, prop::option::of(1u32..200)))
            .collect::<Vec<_>>();
        let extra = prop::collection::vec((0..n, 0..n, prop::option::of(1u32..200)), 0..2 * n);
        let ids = prop::sample::subsequence((1u32..100).collect::<Vec<_>>(), n).prop_shuffle();
        (
            ids,
            tree,
            extra,
            prop::collection::vec(prop::bool::weighted(0.2), 4 * n),
        )
            .prop_map(move |(ids, tree, extra, down)| {
                let mut seen = HashSet::new();
                let mut edges = Vec::new();
                let spanning = tree
                    .into_iter()
                    .enumerate()
                    .map(|(i, (p, l))| (i + 1, p, l));
                for (i, j, l) in spanning.chain(extra) {
                    if i != j && seen.insert((i.min(j), i.max(j))) {
                        edges.push((i, j, l));
                    }
                }
                let down = down[..edges.len()].to_vec();
                Case { ids, edges, down }
            })
    })
}

impl Case {
    fn topology(&self, reorder: bool) -> Topology {
        let mut nodes: Vec<NodeSpec> = self
            .ids
            .iter()
            .map(|&id| NodeSpec {
                name: format!("n{id}"),
                id: ActorId(id),
                role: Role::Leader,
                delay: None,
                parent: None,
                quic: format!("127.0.0.1:{}", 20000 + id).parse().expect("addr"),
                resp: format!("127.0.0.1:{}", 30000 + id).parse().expect("addr"),
                admin: format!("127.0.0.1:{}", 40000 + id).parse().expect("addr"),
            })
            .collect();
        let mut links: Vec<Link> = self
            .edges
            .iter()
            .map(|&(i, j, latency_ms)| {
                let (a, b) = (ActorId(self.ids[i]), ActorId(self.ids[j]));
                Link {
                    a: a.min(b),
                    b: a.max(b),
                    latency_ms,
                }
            })
            .collect();
        if reorder {
            nodes.reverse();
            links.reverse();
        } else {
            links.sort_by_key(|l| (l.a, l.b));
        }
        Topology {
            cluster: "prop".into(),
            shape: Shape::Links,
            hub: None,
            nodes,
            links,
        }
    }

    fn is_down(&self, a: ActorId, b: ActorId) -> bool {
        self.edges
            .iter()
            .zip(&self.down)
            .any(|(&(i, j, _), &down)| {
                let (x, y) = (ActorId(self.ids[i]), ActorId(self.ids[j]));
                down && (x.min(y), x.max(y)) == (a.min(b), a.max(b))
            })
    }

    /// Bellman-Ford over the up links.
    fn distances(&self, root: ActorId) -> BTreeMap<ActorId, u64> {
        let mut dist = BTreeMap::from([(root, 0u64)]);
        for _ in 0..self.ids.len() {
            for (&(i, j, l), &down) in self.edges.iter().zip(&self.down) {
                if down {
                    continue;
                }
                let w = u64::from(l.unwrap_or(DEFAULT_LATENCY_MS));
                let (a, b) = (ActorId(self.ids[i]), ActorId(self.ids[j]));
                for (x, y) in [(a, b), (b, a)] {
                    let through_x = dist.get(&x).map(|&dx| dx + w);
                    if let Some(d) = through_x.filter(|&d| dist.get(&y).is_none_or(|&dy| d < dy)) {
                        dist.insert(y, d);
                    }
                }
            }
        }
        dist
    }
}

proptest! {
    #[test]
    fn trees_are_shortest_and_deterministic(case in case()) {
        let t = case.topology(false);
        let is_up = |a: ActorId, b: ActorId| !case.is_down(a, b);
        let routes = Routes::new(&t, is_up);
        let shuffled = Routes::new(&case.topology(true), is_up);
        prop_assert_eq!(&routes, &shuffled);
        for root in t.ids() {
            let tree = routes.tree(root).expect("a tree");
            prop_assert_eq!(tree, &Tree::shortest_path(&t, root, is_up));
            let dist = case.distances(root);
            for node in t.ids() {
                prop_assert_eq!(tree.distance(node), dist.get(&node).copied(), "node {}", node);
                prop_assert_eq!(tree.reaches(node), dist.contains_key(&node));
                match tree.parent(node) {
                    None => prop_assert!(node == root || !dist.contains_key(&node)),
                    Some(p) => {
                        prop_assert!(t.are_linked(p, node) && is_up(p.min(node), p.max(node)));
                        let w = u64::from(t.latency_ms(p, node).unwrap_or(DEFAULT_LATENCY_MS));
                        prop_assert_eq!(dist[&p] + w, dist[&node]);
                        // No neighbour with a smaller id would do as well.
                        for q in t.neighbours(node).filter(|&q| q < p && is_up(q.min(node), q.max(node))) {
                            let w = u64::from(t.latency_ms(q, node).unwrap_or(DEFAULT_LATENCY_MS));
                            prop_assert!(dist.get(&q).is_none_or(|&dq| dq + w != dist[&node]));
                        }
                    }
                }
                for c in tree.children(node) {
                    prop_assert_eq!(tree.parent(c), Some(node));
                }
            }
            // Each reachable node but the root is some node's child exactly once.
            let mut fed: Vec<ActorId> = t.ids().flat_map(|n| tree.children(n)).collect();
            fed.sort();
            let expected: Vec<ActorId> = dist.keys().copied().filter(|&n| n != root).collect();
            prop_assert_eq!(fed, expected);
        }
    }

    #[test]
    fn a_links_file_parses_to_its_links_in_any_order(case in case()) {
        let expected = case.topology(false);
        let mut text = String::from("cluster = \"prop\"\nshape = \"links\"\n");
        for n in expected.nodes.iter().rev() {
            text += &node(&n.name, n.id.0);
        }
        for &(i, j, latency) in case.edges.iter().rev() {
            text += &link(&format!("n{}", case.ids[j]), &format!("n{}", case.ids[i]));
            if let Some(ms) = latency {
                text += &format!("latency_ms = {ms}\n");
            }
        }
        let t = Topology::parse(&text, FILE).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&t.links, &expected.links);
        prop_assert_eq!(t.ids().collect::<Vec<_>>(), expected.ids().collect::<Vec<_>>());
    }
}
