//! Topology files: the shipped files and every validation error (the forwarding trees are in
//! `forwarding.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use meridian_crdt::ActorId;
use meridian_replica::topology::{Link, Role, Shape, Topology, TopologyError};

mod files;

use files::{FILE, SHIPPED, file, id, link, load, node, node_with};

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
