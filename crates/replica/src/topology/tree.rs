//! Shortest-path trees: who forwards each origin's ops to whom.
//!
//! The rule, which every node applies to the same topology and the same view of which links
//! are up, and so every node computes the same trees:
//! - a link weighs its `latency_ms`, or [`DEFAULT_LATENCY_MS`] when the file gives none (a
//!   weight below 1 counts as 1, so every hop costs something and parents never form a cycle);
//! - each node's distance from the root is the least total weight of a path of up links;
//! - a node's parent is, among its up neighbours `p` with `distance(p) + weight(p, node) ==
//!   distance(node)`, the one with the smallest actor id.
//!
//! The result depends only on the set of nodes, links, weights and the view, never on the
//! order in which the file or the caller lists them.

use meridian_crdt::ActorId;

use super::Topology;

/// The weight of a link whose `latency_ms` the topology does not give.
pub const DEFAULT_LATENCY_MS: u32 = 10;

/// The nodes and the up links, by position in ascending actor id order.
struct Graph {
    ids: Vec<ActorId>,
    adj: Vec<Vec<(u32, u32)>>,
    up: Vec<(ActorId, ActorId)>,
}

impl Graph {
    /// `is_up` is called once per link, with `a < b`.
    fn new(topology: &Topology, is_up: impl Fn(ActorId, ActorId) -> bool) -> Graph {
        let mut ids: Vec<ActorId> = topology.nodes.iter().map(|n| n.id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut adj = vec![Vec::new(); ids.len()];
        let mut up = Vec::new();
        for link in &topology.links {
            let (a, b) = (link.a.min(link.b), link.a.max(link.b));
            let (Ok(i), Ok(j)) = (ids.binary_search(&a), ids.binary_search(&b)) else {
                continue;
            };
            if i == j || !is_up(a, b) {
                continue;
            }
            let w = link.latency_ms.unwrap_or(DEFAULT_LATENCY_MS).max(1);
            // Positions fit in u32: a topology's ids are distinct u32s.
            adj[i].push((j as u32, w));
            adj[j].push((i as u32, w));
            up.push((a, b));
        }
        up.sort_unstable();
        up.dedup();
        Graph { ids, adj, up }
    }

    fn tree(&self, root: ActorId) -> Tree {
        let n = self.ids.len();
        let mut dist = vec![u64::MAX; n];
        let mut parent = vec![None; n];
        if let Ok(r) = self.ids.binary_search(&root) {
            // Dense Dijkstra, O(n² + links): the fastest for the few dozen nodes of a cluster.
            // `open[v]` is `dist[v]` until `v` is settled, then `u64::MAX`.
            let mut open = vec![u64::MAX; n];
            dist[r] = 0;
            open[r] = 0;
            loop {
                let mut u = 0;
                for v in 1..n {
                    if open[v] < open[u] {
                        u = v;
                    }
                }
                if open[u] == u64::MAX {
                    break;
                }
                open[u] = u64::MAX;
                // Every candidate parent of `v` is strictly closer to the root than `v`, so it
                // is settled, and relaxes `v`, before `v` is settled: ties can be broken here.
                for &(v, w) in &self.adj[u] {
                    let (v, d) = (v as usize, dist[u].saturating_add(u64::from(w)));
                    let better = d < dist[v] || (d == dist[v] && parent[v].is_some_and(|p| u < p));
                    if better && v != r {
                        dist[v] = d;
                        open[v] = d;
                        parent[v] = Some(u);
                    }
                }
            }
        }
        // Children, grouped by parent; filled in ascending order, so each group is sorted.
        let mut child_start = vec![0u32; n + 1];
        for p in parent.iter().flatten() {
            child_start[p + 1] += 1;
        }
        for i in 0..n {
            child_start[i + 1] += child_start[i];
        }
        let mut fill = child_start.clone();
        let mut child_list = vec![ActorId(0); fill[n] as usize];
        for (v, p) in parent.iter().enumerate() {
            if let Some(p) = *p {
                child_list[fill[p] as usize] = self.ids[v];
                fill[p] += 1;
            }
        }
        Tree {
            root,
            ids: self.ids.clone(),
            parent,
            dist,
            child_start,
            child_list,
        }
    }
}

/// Shortest-path tree rooted at `root` over the links for which `is_up(a, b)` holds: the
/// root's ops travel from each node to its children. Built by the rule in the module
/// documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    root: ActorId,
    /// Node ids, ascending; the other vectors are indexed alike.
    ids: Vec<ActorId>,
    parent: Vec<Option<usize>>,
    /// `u64::MAX` when unreachable.
    dist: Vec<u64>,
    /// Children of node `i` are `child_list[child_start[i]..child_start[i + 1]]`.
    child_start: Vec<u32>,
    child_list: Vec<ActorId>,
}

impl Tree {
    /// The tree rooted at `root` over the links for which `is_up(a, b)` holds. `is_up` is
    /// called once per link of the topology, with `a < b`. A root that is not in the topology
    /// gives a tree that reaches nothing.
    pub fn shortest_path(
        topology: &Topology,
        root: ActorId,
        is_up: impl Fn(ActorId, ActorId) -> bool,
    ) -> Tree {
        Graph::new(topology, is_up).tree(root)
    }

    /// The origin whose ops this tree carries.
    pub fn root(&self) -> ActorId {
        self.root
    }

    fn index(&self, node: ActorId) -> Option<usize> {
        self.ids.binary_search(&node).ok()
    }

    /// The node that feeds `node` in this tree; `None` for the root and unreachable nodes.
    pub fn parent(&self, node: ActorId) -> Option<ActorId> {
        let p = self.parent[self.index(node)?]?;
        Some(self.ids[p])
    }

    /// The nodes that `node` feeds, ascending.
    pub fn children(&self, node: ActorId) -> impl Iterator<Item = ActorId> + '_ {
        let range = match self.index(node) {
            Some(i) => self.child_start[i] as usize..self.child_start[i + 1] as usize,
            None => 0..0,
        };
        self.child_list[range].iter().copied()
    }

    /// Whether the root's ops reach `node` over up links (true for the root itself).
    pub fn reaches(&self, node: ActorId) -> bool {
        self.distance(node).is_some()
    }

    /// The total weight of the path from the root to `node`; `None` when unreachable.
    pub fn distance(&self, node: ActorId) -> Option<u64> {
        let d = self.dist[self.index(node)?];
        (d != u64::MAX).then_some(d)
    }
}

/// All per-origin trees for one view of which links are up. Build a new one when the view
/// changes; [`Routes::up_links`] tells which view this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    /// Node ids, ascending; `trees` is indexed alike.
    ids: Vec<ActorId>,
    trees: Vec<Tree>,
    up: Vec<(ActorId, ActorId)>,
}

impl Routes {
    /// One [`Tree`] per node as root. `is_up` is called once per link, with `a < b`.
    pub fn new(topology: &Topology, is_up: impl Fn(ActorId, ActorId) -> bool) -> Routes {
        let graph = Graph::new(topology, is_up);
        let trees = graph.ids.iter().map(|&root| graph.tree(root)).collect();
        Routes {
            ids: graph.ids,
            trees,
            up: graph.up,
        }
    }

    /// The tree of `origin`'s ops.
    pub fn tree(&self, origin: ActorId) -> Option<&Tree> {
        let i = self.ids.binary_search(&origin).ok()?;
        Some(&self.trees[i])
    }

    /// Where `me` forwards ops of `origin`, ascending.
    pub fn children(&self, origin: ActorId, me: ActorId) -> impl Iterator<Item = ActorId> + '_ {
        self.tree(origin)
            .into_iter()
            .flat_map(move |t| t.children(me))
    }

    /// Who should feed `me` ops of `origin`; `None` when `me` is the origin or cut off from it.
    pub fn parent(&self, origin: ActorId, me: ActorId) -> Option<ActorId> {
        self.tree(origin)?.parent(me)
    }

    /// The links these routes were computed over, `a < b`, ascending.
    pub fn up_links(&self) -> impl Iterator<Item = (ActorId, ActorId)> + '_ {
        self.up.iter().copied()
    }

    /// Whether the link between `a` and `b` (in either order) was up in this view.
    pub fn is_up(&self, a: ActorId, b: ActorId) -> bool {
        self.up.binary_search(&(a.min(b), a.max(b))).is_ok()
    }
}
