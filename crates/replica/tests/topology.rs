//! Topology files: the shipped files, every validation error, and the forwarding trees.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::Duration;

use meridian_crdt::ActorId;
use meridian_replica::topology::{
    DEFAULT_LATENCY_MS, Link, NodeSpec, Role, Routes, Shape, Topology, TopologyError, Tree,
};
use proptest::prelude::*;

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

const SHIPPED: [(&str, &str); 6] = [
    shipped!("mesh-3.toml"),
    shipped!("ring-5.toml"),
    shipped!("star-5.toml"),
    shipped!("tree-7.toml"),
    shipped!("chain-4.toml"),
    shipped!("primary-replica.toml"),
];

fn load(name: &str) -> Topology {
    let (file, text) = SHIPPED
        .iter()
        .find(|(f, _)| f.ends_with(name))
        .expect("a shipped file");
    Topology::parse(text, file).unwrap_or_else(|e| panic!("{e}"))
}

fn id(name: &str, t: &Topology) -> ActorId {
    t.by_name(name)
        .unwrap_or_else(|| panic!("no node {name}"))
        .id
}

/// The links as sorted pairs of names, each pair sorted by name.
fn named_links(t: &Topology) -> BTreeSet<(String, String)> {
    let name = |id| t.node(id).expect("a node").name.clone();
    t.links
        .iter()
        .map(|l| {
            let (a, b) = (name(l.a), name(l.b));
            if a < b { (a, b) } else { (b, a) }
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter()
        .map(|&(a, b)| if a < b { (a, b) } else { (b, a) })
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
}

#[test]
fn every_shipped_file_parses() {
    for (file, text) in SHIPPED {
        let t = Topology::parse(text, file).unwrap_or_else(|e| panic!("{e}"));
        assert!(!t.nodes.is_empty(), "{file}");
        assert!(
            t.links
                .windows(2)
                .all(|w| (w[0].a, w[0].b) < (w[1].a, w[1].b)),
            "{file}"
        );
        assert!(t.links.iter().all(|l| l.a < l.b), "{file}");
        // The shipped files are for the simulator too: every link has a latency.
        assert!(t.links.iter().all(|l| l.latency_ms.is_some()), "{file}");
    }
}

#[test]
fn shipped_files_never_share_a_port() {
    let mut seen = BTreeMap::new();
    for (file, _) in SHIPPED {
        for node in load(file).nodes {
            for addr in [node.quic, node.resp, node.admin] {
                assert!(addr.ip().is_loopback(), "{file}: {addr}");
                if let Some(other) = seen.insert(addr.port(), file) {
                    panic!("port {} is in {other} and {file}", addr.port());
                }
            }
        }
    }
}

#[test]
fn shipped_shapes_make_the_expected_links() {
    let mesh = load("mesh-3.toml");
    assert_eq!(mesh.shape, Shape::Mesh);
    assert_eq!(
        named_links(&mesh),
        pairs(&[
            ("frankfurt", "virginia"),
            ("frankfurt", "singapore"),
            ("virginia", "singapore")
        ])
    );

    let ring = load("ring-5.toml");
    assert_eq!(ring.shape, Shape::Ring);
    assert_eq!(
        named_links(&ring),
        pairs(&[
            ("nairobi", "mombasa"),
            ("mombasa", "dar-es-salaam"),
            ("dar-es-salaam", "kigali"),
            ("kigali", "kampala"),
            ("kampala", "nairobi"),
        ])
    );
    let nairobi = id("nairobi", &ring);
    assert_eq!(ring.latency_ms(nairobi, id("mombasa", &ring)), Some(8));
    assert_eq!(ring.latency_ms(id("mombasa", &ring), nairobi), Some(8));
    assert!(!ring.are_linked(nairobi, id("kigali", &ring)));
    assert_eq!(
        ring.neighbours(nairobi).collect::<Vec<_>>(),
        vec![id("mombasa", &ring), id("kampala", &ring)]
    );

    let star = load("star-5.toml");
    assert_eq!(star.hub.as_deref(), Some("london"));
    assert_eq!(
        named_links(&star),
        pairs(&[
            ("london", "paris"),
            ("london", "madrid"),
            ("london", "new-york"),
            ("london", "mumbai"),
        ])
    );

    let tree = load("tree-7.toml");
    assert_eq!(
        tree.by_name("busan").and_then(|n| n.parent.as_deref()),
        Some("seoul")
    );
    assert_eq!(
        tree.by_name("tokyo").and_then(|n| n.parent.as_deref()),
        None
    );
    assert_eq!(
        named_links(&tree),
        pairs(&[
            ("tokyo", "osaka"),
            ("tokyo", "seoul"),
            ("tokyo", "sydney"),
            ("seoul", "busan"),
            ("sydney", "melbourne"),
            ("osaka", "fukuoka"),
        ])
    );

    let chain = load("chain-4.toml");
    assert_eq!(
        named_links(&chain),
        pairs(&[
            ("vancouver", "seattle"),
            ("seattle", "san-francisco"),
            ("san-francisco", "los-angeles")
        ])
    );

    let pr = load("primary-replica.toml");
    let roles: Vec<Role> = pr.nodes.iter().map(|n| n.role).collect();
    assert_eq!(
        roles,
        [Role::Leader, Role::Replica, Role::Replica, Role::Delayed]
    );
    assert_eq!(
        pr.by_name("stockholm").and_then(|n| n.delay),
        Some(Duration::from_secs(30))
    );
    assert_eq!(pr.hub.as_deref(), Some("dublin"));
}

#[test]
fn accessors_answer_by_id_and_name() {
    let t = load("tree-7.toml");
    assert_eq!(
        t.ids().collect::<Vec<_>>(),
        (1..=7).map(ActorId).collect::<Vec<_>>()
    );
    assert_eq!(t.node(ActorId(5)).map(|n| n.name.as_str()), Some("busan"));
    assert!(t.node(ActorId(99)).is_none());
    assert!(t.by_name("atlantis").is_none());
    assert_eq!(t.neighbours(ActorId(99)).count(), 0);
    assert!(!t.are_linked(ActorId(1), ActorId(1)));
    assert_eq!(t.latency_ms(ActorId(1), ActorId(5)), None);
}

// ---- inline files -------------------------------------------------------------------------

const FILE: &str = "topologies/test.toml";

/// A `[[node]]` with its own ports, derived from the id.
fn node(name: &str, id: u32) -> String {
    node_with(name, id, "")
}

fn node_with(name: &str, id: u32, extra: &str) -> String {
    format!(
        "\n[[node]]\nname = \"{name}\"\nid = {id}\n{extra}\nquic = \"127.0.0.1:{}\"\nresp = \"127.0.0.1:{}\"\nadmin = \"127.0.0.1:{}\"\n",
        17000 + id,
        18000 + id,
        19000 + id
    )
}

fn link(a: &str, b: &str) -> String {
    format!("\n[[link]]\na = \"{a}\"\nb = \"{b}\"\n")
}

fn file(head: &str, parts: &[String]) -> String {
    format!("cluster = \"test\"\n{head}\n{}", parts.concat())
}

fn three(head: &str) -> String {
    file(
        head,
        &[node("accra", 1), node("lagos", 2), node("dakar", 3)],
    )
}

/// Parses `text`, expects an error, and checks that its message names the file and holds
/// every one of `needles` (the node, the hint).
fn refused(text: &str, needles: &[&str]) -> TopologyError {
    let err = match Topology::parse(text, FILE) {
        Ok(t) => panic!("accepted:\n{text}\n{t:?}"),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert!(msg.starts_with(FILE), "{msg}");
    for needle in needles {
        assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    }
    err
}

#[test]
fn a_minimal_file_parses_with_defaults() {
    let t = Topology::parse(&file("shape = \"mesh\"", &[node("accra", 1)]), FILE).expect("valid");
    assert_eq!(t.cluster, "test");
    assert_eq!(t.nodes[0].role, Role::Leader);
    assert_eq!(t.nodes[0].delay, None);
    assert!(t.links.is_empty());
}

#[test]
fn toml_syntax_errors_keep_the_line() {
    let e = refused("cluster = \"x\"\n[[node]\n", &["line 2"]);
    assert!(matches!(e, TopologyError::Syntax { .. }), "{e:?}");
}

#[test]
fn unknown_fields_are_named() {
    let e = refused(
        &format!("{}colour = \"red\"\n", three("shape = \"mesh\"")),
        &[],
    );
    // `colour` lands in the last [[node]] table.
    assert!(matches!(e, TopologyError::UnknownField { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("node \"dakar\": unknown field `colour`"),
        "{e}"
    );
    assert!(
        e.to_string().contains("`parent`"),
        "lists the allowed fields: {e}"
    );

    let e = refused(
        &format!("region = \"x\"\n{}", three("shape = \"mesh\"")),
        &["the top level", "`region`"],
    );
    assert!(matches!(e, TopologyError::UnknownField { .. }), "{e:?}");

    let text = format!(
        "{}\n[[link]]\na = \"accra\"\nb = \"lagos\"\nlatency = 3\n",
        three("shape = \"mesh\"")
    );
    let e = refused(&text, &["[[link]] #1", "`latency`", "`latency_ms`"]);
    assert!(matches!(e, TopologyError::UnknownField { .. }), "{e:?}");
}

#[test]
fn missing_fields_are_named() {
    let e = refused(
        &node("accra", 1),
        &["missing field `cluster`", "cluster = "],
    );
    assert!(matches!(e, TopologyError::MissingField { .. }), "{e:?}");

    let e = refused(
        &file("", &[node("accra", 1)]),
        &["missing field `shape`", "mesh | ring"],
    );
    assert!(matches!(e, TopologyError::MissingField { .. }), "{e:?}");

    let text = file("shape = \"mesh\"", &[node("accra", 1)]).replace("id = 1\n", "");
    let e = refused(&text, &["node \"accra\"", "missing field `id`", "id = 1"]);
    assert!(matches!(e, TopologyError::MissingField { .. }), "{e:?}");

    let text = file("shape = \"mesh\"", &[node("accra", 1)]).replace("name = \"accra\"\n", "");
    let e = refused(&text, &["[[node]] #1", "missing field `name`"]);
    assert!(matches!(e, TopologyError::MissingField { .. }), "{e:?}");

    for field in ["quic", "resp", "admin"] {
        let text = file("shape = \"mesh\"", &[node("accra", 1)]);
        let text: String = text
            .lines()
            .filter(|l| !l.starts_with(field))
            .map(|l| format!("{l}\n"))
            .collect();
        let e = refused(
            &text,
            &[
                "node \"accra\"",
                &format!("missing field `{field}`"),
                "127.0.0.1:",
            ],
        );
        assert!(matches!(e, TopologyError::MissingField { .. }), "{e:?}");
    }

    let text = format!("{}\n[[link]]\na = \"accra\"\n", three("shape = \"links\""));
    let e = refused(&text, &["[[link]] #1", "missing field `b`"]);
    assert!(matches!(e, TopologyError::MissingField { .. }), "{e:?}");
}

#[test]
fn values_of_the_wrong_type_are_refused() {
    let e = refused(
        "cluster = 3\nshape = \"mesh\"\n",
        &["line 1", "fix the value"],
    );
    assert!(matches!(e, TopologyError::InvalidValue { .. }), "{e:?}");

    let text = three("shape = \"mesh\"").replace("id = 2", "id = \"two\"");
    let e = refused(&text, &["node \"lagos\"", "`id`", "fix the value"]);
    assert!(matches!(e, TopologyError::InvalidValue { .. }), "{e:?}");
}

#[test]
fn an_empty_cluster_name_is_refused() {
    let text = three("shape = \"mesh\"").replace("cluster = \"test\"", "cluster = \" \"");
    let e = refused(&text, &["cluster", "give the cluster a name"]);
    assert!(matches!(e, TopologyError::EmptyCluster { .. }), "{e:?}");
}

#[test]
fn an_unknown_shape_is_refused() {
    let e = refused(
        &three("shape = \"hexagon\""),
        &["\"hexagon\"", "mesh, ring, star"],
    );
    assert!(matches!(e, TopologyError::UnknownShape { .. }), "{e:?}");
}

#[test]
fn a_file_without_nodes_is_refused() {
    let e = refused(
        "cluster = \"x\"\nshape = \"mesh\"\n",
        &["no [[node]]", "at least one node"],
    );
    assert!(matches!(e, TopologyError::NoNodes { .. }), "{e:?}");
}

#[test]
fn names_must_be_given_and_unique() {
    let e = refused(
        &file("shape = \"mesh\"", &[node("", 1)]),
        &["[[node]] #1", "name is empty"],
    );
    assert!(matches!(e, TopologyError::EmptyName { .. }), "{e:?}");

    let e = refused(
        &file("shape = \"mesh\"", &[node("accra", 1), node("accra", 2)]),
        &["node \"accra\"", "#1 and #2", "give each node its own name"],
    );
    assert!(matches!(e, TopologyError::DuplicateName { .. }), "{e:?}");
}

#[test]
fn actor_ids_must_be_unique_and_start_at_one() {
    let lagos = node("lagos", 3)
        .replace(":1700", ":1790")
        .replace(":1800", ":1890")
        .replace(":1900", ":1990");
    let text = file(
        "shape = \"ring\"",
        &[node("accra", 3), node("dakar", 1), lagos],
    );
    let e = refused(&text, &[]);
    assert_eq!(
        e.to_string(),
        "topologies/test.toml: node \"lagos\": actor id 3 is already used by node \"accra\"; give each node its own id"
    );
    assert!(matches!(e, TopologyError::DuplicateId { .. }), "{e:?}");

    let e = refused(
        &file("shape = \"mesh\"", &[node("accra", 0)]),
        &["node \"accra\"", "actor id 0 is reserved", "start at 1"],
    );
    assert!(matches!(e, TopologyError::ZeroActorId { .. }), "{e:?}");

    for bad in ["-1", "4294967296"] {
        let text =
            file("shape = \"mesh\"", &[node("accra", 1)]).replace("id = 1", &format!("id = {bad}"));
        let e = refused(&text, &["node \"accra\"", bad, "from 1 to 4294967295"]);
        assert!(
            matches!(e, TopologyError::ActorIdOutOfRange { .. }),
            "{e:?}"
        );
    }
}

#[test]
fn addresses_must_parse_and_be_unique() {
    let text = three("shape = \"mesh\"").replace("127.0.0.1:18002", "localhost");
    let e = refused(
        &text,
        &[
            "node \"lagos\"",
            "`resp`",
            "\"localhost\"",
            "e.g. \"127.0.0.1:7401\"",
        ],
    );
    assert!(matches!(e, TopologyError::BadAddress { .. }), "{e:?}");

    let text = three("shape = \"mesh\"").replace("127.0.0.1:18003", "127.0.0.1:17001");
    let e = refused(
        &text,
        &[
            "node \"dakar\"",
            "`resp`",
            "127.0.0.1:17001",
            "node \"accra\" (`quic`)",
            "its own address",
        ],
    );
    assert!(matches!(e, TopologyError::DuplicateAddress { .. }), "{e:?}");

    // Two roles of one node on one address.
    let text = three("shape = \"mesh\"").replace("127.0.0.1:19002", "127.0.0.1:17002");
    let e = refused(
        &text,
        &["node \"lagos\": `admin`", "node \"lagos\" (`quic`)"],
    );
    assert!(matches!(e, TopologyError::DuplicateAddress { .. }), "{e:?}");
}

#[test]
fn roles_and_delays_go_together() {
    let e = refused(
        &file(
            "shape = \"mesh\"",
            &[
                node("accra", 1),
                node_with("lagos", 2, "role = \"follower\""),
            ],
        ),
        &[
            "node \"lagos\"",
            "\"follower\"",
            "leader, replica or delayed",
        ],
    );
    assert!(matches!(e, TopologyError::UnknownRole { .. }), "{e:?}");

    let e = refused(
        &file(
            "shape = \"mesh\"",
            &[
                node("accra", 1),
                node_with("lagos", 2, "role = \"delayed\""),
            ],
        ),
        &["node \"lagos\"", "needs a delay", "delay = \"30s\""],
    );
    assert!(matches!(e, TopologyError::DelayMissing { .. }), "{e:?}");

    let e = refused(
        &file(
            "shape = \"mesh\"",
            &[
                node("accra", 1),
                node_with("lagos", 2, "role = \"replica\"\ndelay = \"5s\""),
            ],
        ),
        &[
            "node \"lagos\"",
            "replica",
            "remove the delay or set role = \"delayed\"",
        ],
    );
    assert!(matches!(e, TopologyError::DelayNotDelayed { .. }), "{e:?}");

    let e = refused(
        &file(
            "shape = \"mesh\"",
            &[
                node("accra", 1),
                node_with("lagos", 2, "role = \"delayed\"\ndelay = \"30 seconds\""),
            ],
        ),
        &["node \"lagos\"", "\"30 seconds\"", "\"500ms\""],
    );
    assert!(matches!(e, TopologyError::BadDuration { .. }), "{e:?}");

    let t = Topology::parse(
        &file(
            "shape = \"mesh\"",
            &[
                node("accra", 1),
                node_with("lagos", 2, "role = \"delayed\"\ndelay = \"1m30s\""),
            ],
        ),
        FILE,
    )
    .expect("valid");
    assert_eq!(t.nodes[1].delay, Some(Duration::from_secs(90)));
}

#[test]
fn a_cluster_needs_a_leader() {
    let e = refused(
        &file(
            "shape = \"mesh\"",
            &[
                node_with("accra", 1, "role = \"replica\""),
                node_with("lagos", 2, "role = \"replica\""),
            ],
        ),
        &["no node has role = \"leader\"", "accept writes"],
    );
    assert!(matches!(e, TopologyError::NoLeader { .. }), "{e:?}");
}

#[test]
fn a_star_needs_a_hub_and_only_a_star_has_one() {
    let e = refused(&three("shape = \"star\""), &["needs a hub", "hub = "]);
    assert!(matches!(e, TopologyError::MissingHub { .. }), "{e:?}");

    let e = refused(
        &three("shape = \"star\"\nhub = \"abuja\""),
        &["hub \"abuja\"", "one of the nodes"],
    );
    assert!(matches!(e, TopologyError::UnknownHub { .. }), "{e:?}");

    let e = refused(
        &three("shape = \"ring\"\nhub = \"accra\""),
        &["only for shape = \"star\"", "ring", "remove hub"],
    );
    assert!(matches!(e, TopologyError::HubNotStar { .. }), "{e:?}");

    let t = Topology::parse(&three("shape = \"star\"\nhub = \"lagos\""), FILE).expect("valid");
    assert_eq!(
        named_links(&t),
        pairs(&[("lagos", "accra"), ("lagos", "dakar")])
    );
}

#[test]
fn a_tree_has_one_root_and_no_cycle() {
    let tree = |accra: &str, lagos: &str, dakar: &str| {
        let p = |p: &str| {
            if p.is_empty() {
                String::new()
            } else {
                format!("parent = \"{p}\"")
            }
        };
        file(
            "shape = \"tree\"",
            &[
                node_with("accra", 1, &p(accra)),
                node_with("lagos", 2, &p(lagos)),
                node_with("dakar", 3, &p(dakar)),
            ],
        )
    };
    let t = Topology::parse(&tree("", "accra", "lagos"), FILE).expect("valid");
    assert_eq!(
        named_links(&t),
        pairs(&[("accra", "lagos"), ("lagos", "dakar")])
    );

    let e = refused(
        &tree("", "accra", ""),
        &[
            "node \"dakar\" names no parent",
            "\"accra\" is already the root",
            "give \"dakar\" a parent",
        ],
    );
    assert!(matches!(e, TopologyError::MissingParent { .. }), "{e:?}");

    let e = refused(
        &tree("", "accra", "abuja"),
        &[
            "node \"dakar\"",
            "parent \"abuja\"",
            "name one of the nodes",
        ],
    );
    assert!(matches!(e, TopologyError::UnknownParent { .. }), "{e:?}");

    let e = refused(
        &tree("", "dakar", "lagos"),
        &["node \"lagos\"", "lagos -> dakar -> lagos", "cycle"],
    );
    assert!(matches!(e, TopologyError::ParentCycle { .. }), "{e:?}");

    let e = refused(
        &tree("", "lagos", "accra"),
        &["node \"lagos\"", "lagos -> lagos"],
    );
    assert!(matches!(e, TopologyError::ParentCycle { .. }), "{e:?}");

    let e = refused(
        &tree("dakar", "accra", "lagos"),
        &["no root", "remove `parent`"],
    );
    assert!(matches!(e, TopologyError::NoRoot { .. }), "{e:?}");

    let text = file(
        "shape = \"mesh\"",
        &[
            node("accra", 1),
            node_with("lagos", 2, "parent = \"accra\""),
        ],
    );
    let e = refused(
        &text,
        &[
            "node \"lagos\"",
            "only for shape = \"tree\"",
            "remove parent",
        ],
    );
    assert!(matches!(e, TopologyError::ParentNotTree { .. }), "{e:?}");
}

#[test]
fn shapes_make_their_links() {
    let t = Topology::parse(&three("shape = \"mesh\""), FILE).expect("valid");
    assert_eq!(
        named_links(&t),
        pairs(&[("accra", "lagos"), ("accra", "dakar"), ("lagos", "dakar")])
    );

    // A ring and a chain follow file order, not ids.
    let four = |shape: &str| {
        file(
            shape,
            &[
                node("accra", 4),
                node("lagos", 1),
                node("dakar", 3),
                node("abuja", 2),
            ],
        )
    };
    let t = Topology::parse(&four("shape = \"ring\""), FILE).expect("valid");
    assert_eq!(
        named_links(&t),
        pairs(&[
            ("accra", "lagos"),
            ("lagos", "dakar"),
            ("dakar", "abuja"),
            ("abuja", "accra")
        ])
    );
    let t = Topology::parse(&four("shape = \"chain\""), FILE).expect("valid");
    assert_eq!(
        named_links(&t),
        pairs(&[("accra", "lagos"), ("lagos", "dakar"), ("dakar", "abuja")])
    );

    let t = Topology::parse(
        &format!(
            "{}{}",
            three("shape = \"links\""),
            [link("dakar", "accra"), link("lagos", "dakar")].concat()
        ),
        FILE,
    )
    .expect("valid");
    assert_eq!(
        t.links,
        vec![
            Link {
                a: ActorId(1),
                b: ActorId(3),
                latency_ms: None
            },
            Link {
                a: ActorId(2),
                b: ActorId(3),
                latency_ms: None
            },
        ]
    );
}

#[test]
fn a_ring_of_two_suggests_a_chain() {
    let e = refused(
        &file("shape = \"ring\"", &[node("accra", 1), node("lagos", 2)]),
        &["at least 3 nodes", "has 2", "shape = \"chain\""],
    );
    assert!(matches!(e, TopologyError::RingTooSmall { .. }), "{e:?}");
}

#[test]
fn links_must_join_two_known_nodes_once() {
    let e = refused(
        &format!("{}{}", three("shape = \"links\""), link("accra", "accra")),
        &["[[link]] #1", "node \"accra\" to itself", "remove it"],
    );
    assert!(matches!(e, TopologyError::SelfLink { .. }), "{e:?}");

    let e = refused(
        &format!("{}{}", three("shape = \"links\""), link("accra", "abuja")),
        &["[[link]] #1", "node \"abuja\"", "add the node"],
    );
    assert!(matches!(e, TopologyError::UnknownLinkNode { .. }), "{e:?}");

    let text = format!(
        "{}{}{}",
        three("shape = \"links\""),
        link("accra", "lagos"),
        link("lagos", "accra")
    );
    let e = refused(
        &text,
        &[
            "\"lagos\"",
            "\"accra\"",
            "listed twice",
            "#1 and #2",
            "keep one",
        ],
    );
    assert!(matches!(e, TopologyError::DuplicateLink { .. }), "{e:?}");

    for bad in ["0", "-5", "4294967296"] {
        let text = format!(
            "{}{}latency_ms = {bad}\n",
            three("shape = \"mesh\""),
            link("accra", "lagos")
        );
        let e = refused(&text, &["\"accra\"", "\"lagos\"", bad, "from 1 to"]);
        assert!(
            matches!(e, TopologyError::LatencyOutOfRange { .. }),
            "{e:?}"
        );
    }
}

#[test]
fn a_shape_takes_latencies_only_for_its_own_links() {
    let text = format!(
        "{}{}latency_ms = 80\n",
        three("shape = \"chain\""),
        link("lagos", "accra")
    );
    let t = Topology::parse(&text, FILE).expect("valid");
    assert_eq!(t.latency_ms(ActorId(1), ActorId(2)), Some(80));
    assert_eq!(t.latency_ms(ActorId(2), ActorId(3)), None);

    let text = format!(
        "{}{}latency_ms = 80\n",
        three("shape = \"chain\""),
        link("accra", "dakar")
    );
    let e = refused(
        &text,
        &[
            "\"accra\" and \"dakar\"",
            "shape chain does not link",
            "shape = \"links\"",
        ],
    );
    assert!(matches!(e, TopologyError::LinkNotInShape { .. }), "{e:?}");
}

#[test]
fn a_disconnected_graph_names_the_lost_node() {
    let text = file(
        "shape = \"links\"",
        &[
            node("accra", 1),
            node("lagos", 2),
            node("dakar", 3),
            node("abuja", 4),
            link("accra", "lagos"),
            link("dakar", "abuja"),
        ],
    );
    let e = refused(
        &text,
        &[
            "node \"dakar\" cannot be reached from node \"accra\"",
            "add a [[link]]",
        ],
    );
    assert!(matches!(e, TopologyError::Disconnected { .. }), "{e:?}");

    let e = refused(
        &three("shape = \"links\""),
        &["node \"lagos\" cannot be reached"],
    );
    assert!(matches!(e, TopologyError::Disconnected { .. }), "{e:?}");
}

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

#[test]
fn ring_of_five_delivers_each_op_once() {
    let t = load("ring-5.toml");
    let routes = Routes::new(&t, all_up);
    for origin in t.ids() {
        let received = flood(&routes, &t, origin);
        for (node, times) in received {
            let expected = usize::from(node != origin);
            assert_eq!(times, expected, "origin {origin}, node {node}");
        }
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
            for (node, times) in flood(&routes, &t, origin) {
                assert_eq!(
                    times,
                    usize::from(node != origin),
                    "{file}: origin {origin}, node {node}"
                );
            }
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
        for (node, times) in flood(&routes, &t, origin) {
            assert_eq!(
                times,
                usize::from(node != origin),
                "origin {origin}, node {node}"
            );
        }
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
