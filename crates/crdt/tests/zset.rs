//! The sorted set: how ZADD, ZINCRBY and ZREM merge across regions, that floats sum to the
//! same bits everywhere, that compaction changes no score, and what `ZSetView` reads
//! (`crates/crdt/src/zset.rs`; `zset_model.rs` checks every read against a naive model).

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{Cluster, KEYS, Replica, merged, normalized, run_causal, steps, zset_history_command};
use meridian_crdt::{
    Command, KeyType, Keyspace, LexBound, Payload, PrepareError, Score, ScoreBound, Value, ZSetView,
};
use proptest::prelude::*;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn zadd(pairs: &[(&str, f64)]) -> Command {
    Command::ZAdd(pairs.iter().map(|(m, s)| (b(m), Score::new(*s))).collect())
}

fn zincrby(member: &str, by: f64) -> Command {
    Command::ZIncrBy {
        member: b(member),
        by: Score::new(by),
    }
}

fn zrem(members: &[&str]) -> Command {
    Command::ZRem(members.iter().map(|m| b(m)).collect())
}

fn view<'a>(c: &'a Cluster, i: usize, key: &str) -> ZSetView<'a> {
    c.replicas[i].ks.zset(key.as_bytes()).unwrap()
}

/// The member's score's bits at region `i` (`None`: absent).
fn bits(c: &Cluster, i: usize, key: &str, member: &str) -> Option<u64> {
    view(c, i, key).score(member.as_bytes()).map(f64::to_bits)
}

/// The whole sorted set in rank order, scores as bits.
fn ranked(z: ZSetView<'_>) -> Vec<(Bytes, u64)> {
    z.by_rank(0, z.len(), false)
        .map(|(m, s)| (m.clone(), s.to_bits()))
        .collect()
}

fn incl(value: f64) -> ScoreBound {
    ScoreBound {
        value,
        exclusive: false,
    }
}

fn excl(value: f64) -> ScoreBound {
    ScoreBound {
        value,
        exclusive: true,
    }
}

// ---------------------------------------------------------------------------------------------
// Merges across regions.

#[test]
fn concurrent_increments_at_two_regions_both_count() {
    let mut c = Cluster::new(2);
    c.write(0, "z", zincrby("m", 1.5), 1);
    c.write(1, "z", zincrby("m", 2.5), 1);
    assert_eq!(bits(&c, 0, "z", "m"), Some(1.5f64.to_bits()));
    c.deliver_all(&[0]);
    for i in 0..2 {
        assert_eq!(view(&c, i, "z").score(b"m"), Some(4.0));
        assert_eq!(view(&c, i, "z").len(), 1);
    }
    c.assert_converged();
}

#[test]
fn a_zadd_removes_the_increments_it_observed_and_a_concurrent_increment_counts_on_top() {
    // Once with the concurrent increment stamped before the ZADD, once after: the ZADD's base
    // takes it either way, since it did not observe it.
    for concurrent_at in [2, 4] {
        let mut c = Cluster::new(2);
        c.write(0, "z", zincrby("m", 5.0), 1);
        c.deliver_all(&[0]);
        c.write(0, "z", zadd(&[("m", 100.0)]), 3);
        c.write(1, "z", zincrby("m", 7.0), concurrent_at);
        assert_eq!(view(&c, 0, "z").score(b"m"), Some(100.0));
        assert_eq!(view(&c, 1, "z").score(b"m"), Some(12.0));
        c.deliver_all(&[1, 0]);
        for i in 0..2 {
            assert_eq!(
                view(&c, i, "z").score(b"m"),
                Some(107.0),
                "at {concurrent_at}"
            );
        }
        c.assert_converged();
        // A ZADD that observed everything replaces everything.
        c.write(1, "z", zadd(&[("m", 1.0)]), 5);
        c.deliver_all(&[0]);
        for i in 0..2 {
            assert_eq!(view(&c, i, "z").score(b"m"), Some(1.0));
        }
        c.assert_converged();
    }
}

#[test]
fn concurrent_zadds_keep_the_newest_base_and_both_regions_agree() {
    let mut c = Cluster::new(2);
    c.write(0, "z", zadd(&[("m", 1.0)]), 2);
    c.write(1, "z", zadd(&[("m", 2.0)]), 1);
    c.deliver_all(&[0]);
    for i in 0..2 {
        assert_eq!(view(&c, i, "z").score(b"m"), Some(1.0));
    }
    c.assert_converged();
}

#[test]
fn zrem_concurrent_with_an_increment_leaves_the_unobserved_increment_only() {
    let mut c = Cluster::new(2);
    c.write(0, "z", zadd(&[("m", 10.0), ("gone", 1.0)]), 1);
    c.deliver_all(&[0]);
    c.write(0, "z", zrem(&["m", "gone"]), 2);
    c.write(1, "z", zincrby("m", 3.0), 2);
    c.deliver_all(&[0, 1]);
    for i in 0..2 {
        let z = view(&c, i, "z");
        // Add wins, with the increment alone: the base it was added to was removed.
        assert_eq!(z.score(b"m"), Some(3.0));
        assert_eq!(z.score(b"gone"), None);
        assert_eq!(z.len(), 1);
    }
    c.assert_converged();
}

#[test]
fn del_concurrent_with_an_increment_leaves_the_unobserved_increment_only() {
    let mut c = Cluster::new(2);
    c.write(0, "z", zadd(&[("m", 10.0), ("n", 1.0)]), 1);
    c.deliver_all(&[0]);
    c.write(0, "z", Command::Del, 2);
    c.write(1, "z", zincrby("m", 3.0), 2);
    c.deliver_all(&[1, 0]);
    for i in 0..2 {
        assert_eq!(ranked(view(&c, i, "z")), [(b("m"), 3.0f64.to_bits())]);
    }
    c.assert_converged();
}

#[test]
fn floats_sum_to_the_same_bits_at_every_region_whatever_the_arrival_order() {
    // Summed in different orders, 0.1, 0.2 and 0.3 give two different doubles. The three are
    // concurrent (each writer had applied nothing), so the causal order falls to their dots:
    // the regions' ids, whatever their clocks (which here run the other way).
    let causal_order = (0.1 + 0.2) + 0.3;
    assert_ne!(causal_order, (0.3 + 0.2) + 0.1);
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let mut seen = Vec::new();
    for order in orders {
        // Three regions increment concurrently; a fourth receives them in `order`.
        let mut c = Cluster::new(4);
        for (i, by) in [0.1, 0.2, 0.3].into_iter().enumerate() {
            c.write(i, "z", zincrby("m", by), 3 - i as u64);
        }
        for from in order {
            c.deliver(3, from).unwrap();
        }
        let z = view(&c, 3, "z");
        assert_eq!(
            z.score(b"m").map(f64::to_bits),
            Some(f64::to_bits(causal_order)),
            "{order:?}"
        );
        assert_eq!(ranked(z), [(b("m"), f64::to_bits(causal_order))]);
        seen.push((c.replicas[3].ks.digest(), c.replicas[3].ks.clone()));
        c.deliver_all(&order.map(|x| x as u8));
        for i in 0..4 {
            assert_eq!(bits(&c, i, "z", "m"), Some(f64::to_bits(causal_order)));
        }
        c.assert_converged();
    }
    for (digest, ks) in &seen[1..] {
        assert_eq!(*digest, seen[0].0);
        assert_eq!(*ks, seen[0].1);
    }
}

#[test]
fn a_single_writers_increments_give_redis_sums() {
    // Redis adds each increment to the score it holds: (1.1 + 2.2) + 3.3. Summed in the
    // other order, the increments would give another double.
    let redis = (1.1 + 2.2) + 3.3;
    assert_ne!(f64::to_bits(redis), f64::to_bits((1.1 + 3.3) + 2.2));
    let mut c = Cluster::new(2);
    c.write(0, "z", zadd(&[("m", 1.1)]), 1);
    c.write(0, "z", zincrby("m", 2.2), 2);
    assert_eq!(bits(&c, 0, "z", "m"), Some(f64::to_bits(1.1 + 2.2)));
    c.write(0, "z", zincrby("m", 3.3), 3);
    assert_eq!(bits(&c, 0, "z", "m"), Some(f64::to_bits(redis)));
    // The same increments the other way round: the writer's order, not the values, decides.
    c.write(0, "z", zadd(&[("o", 1.1)]), 1);
    c.write(0, "z", zincrby("o", 3.3), 2);
    c.write(0, "z", zincrby("o", 2.2), 3);
    assert_eq!(bits(&c, 0, "z", "o"), Some(f64::to_bits((1.1 + 3.3) + 2.2)));
    c.deliver_all(&[0]);
    assert_eq!(bits(&c, 1, "z", "m"), Some(f64::to_bits(redis)));
    assert_eq!(bits(&c, 1, "z", "o"), Some(f64::to_bits((1.1 + 3.3) + 2.2)));
    // Without a ZADD the first increment is the score itself.
    c.write(1, "z", zincrby("n", 0.1), 4);
    c.write(1, "z", zincrby("n", 0.2), 5);
    c.write(1, "z", zincrby("n", 0.3), 6);
    c.deliver_all(&[0]);
    for i in 0..2 {
        assert_eq!(bits(&c, i, "z", "n"), Some(f64::to_bits((0.1 + 0.2) + 0.3)));
    }
    c.assert_converged();
}

#[test]
fn opposite_infinite_increments_never_give_nan() {
    // At one region, the second infinity is refused; at two regions concurrently, both are
    // accepted and the fold skips the one that would make NaN: the earlier by stamp stays.
    for (first, second) in [
        (f64::INFINITY, f64::NEG_INFINITY),
        (f64::NEG_INFINITY, f64::INFINITY),
    ] {
        let mut c = Cluster::new(2);
        c.write(0, "z", zincrby("m", first), 1);
        c.write(1, "z", zincrby("m", second), 2);
        c.write(1, "z", zadd(&[("base", first)]), 3);
        c.write(0, "z", zincrby("base", second), 4);
        c.deliver_all(&[1, 0]);
        for i in 0..2 {
            let z = view(&c, i, "z");
            assert_eq!(z.score(b"m"), Some(first));
            assert_eq!(z.score(b"base"), Some(first));
            assert!(ranked(z).iter().all(|(_, s)| !f64::from_bits(*s).is_nan()));
        }
        c.assert_converged();
        // Later increments still count on top of what the fold kept.
        c.write(1, "z", zincrby("m", 1.0), 5);
        assert_eq!(view(&c, 1, "z").score(b"m"), Some(first));
        let r = &c.replicas[0];
        assert_eq!(
            r.ks.prepare(b"z", zincrby("m", second), &r.applied),
            Err(PrepareError::NotANumber)
        );
    }
}

#[test]
fn forged_nan_scores_are_never_stored() {
    let mut c = Cluster::new(1);
    c.write(0, "z", zadd(&[("m", 2.0)]), 1);
    let before = c.replicas[0].ks.clone();
    for nan in [f64::NAN, -f64::NAN, f64::from_bits(0x7ff0_0000_0000_0001)] {
        let score = Score::new(nan);
        for payload in [
            Payload::ZAdd(vec![meridian_crdt::ScoreWrite {
                member: b("m"),
                score,
            }]),
            Payload::ZAdd(vec![meridian_crdt::ScoreWrite {
                member: b("new"),
                score,
            }]),
            Payload::ZIncrBy {
                member: b("m"),
                by: score,
            },
            Payload::ZIncrBy {
                member: b("new"),
                by: score,
            },
        ] {
            c.issue_payload(0, b"z", payload, 2);
            let ks = &c.replicas[0].ks;
            assert_eq!(ks.get(b"z"), before.get(b"z"));
            assert_eq!(ks.digest(), ks.recompute_digest());
            let bytes = ks.encode_key(b"z").unwrap();
            Keyspace::new().load_key(b("z"), &bytes).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Compaction.

#[test]
fn compaction_after_everything_is_delivered_leaves_one_entry_per_member_and_changes_no_score() {
    let key = "k0";
    let mut c = Cluster::new(3);
    for (i, by) in [0.1, 0.2, 0.3].into_iter().enumerate() {
        c.write(i, key, zincrby("a", by), 1);
        c.write(i, key, zincrby("a", by * 3.0), 2);
    }
    c.write(0, key, zadd(&[("b", 1.0)]), 3);
    c.write(1, key, zadd(&[("b", 2.0)]), 3);
    c.write(2, key, zincrby("b", 0.5), 3);
    c.write(1, key, zadd(&[("c", -0.0)]), 4);
    for t in 5..9 {
        c.write(1, key, zincrby("c", 1e16 / t as f64), t);
    }
    c.deliver_all(&[0, 1, 2]);
    let before = ranked(view(&c, 0, key));
    assert_eq!(before.len(), 3);
    assert!(c.replicas[0].ks.counter_entries(key.as_bytes()) > 1);
    let twin = c.clone();
    for i in 0..3 {
        assert!(c.compact(i) > 0);
        let ks = &c.replicas[i].ks;
        assert_eq!(ks.counter_entries(key.as_bytes()), 1);
        assert_eq!(ranked(view(&c, i, key)), before);
        assert_eq!(
            ks.pending_compaction(),
            0,
            "nothing left waiting at region {i}"
        );
    }
    c.assert_converged();
    // Compaction changed no later op's effect: the same ops on the uncompacted twin give the
    // same scores.
    let mut twin = twin;
    for cl in [&mut c, &mut twin] {
        cl.write(2, key, zincrby("a", 0.7), 10);
        cl.write(0, key, zadd(&[("b", 5.0)]), 11);
        cl.write(1, key, zincrby("b", 0.25), 11);
        cl.write(1, key, zrem(&["c"]), 12);
        cl.write(0, key, zincrby("c", 0.1), 12);
        cl.deliver_all(&[2, 1, 0]);
        cl.assert_converged();
    }
    for i in 0..3 {
        assert_eq!(ranked(view(&c, i, key)), ranked(view(&twin, i, key)));
    }
    assert_eq!(view(&c, 0, key).score(b"b"), Some(5.25));
    assert_eq!(view(&c, 0, key).score(b"c"), Some(0.1));
}

#[test]
fn compaction_waits_while_a_newer_concurrent_zadd_is_not_stable() {
    // Two increments are stable, but a ZADD that did not observe them, stamped after them,
    // has reached only some regions: folding the increments into a base would let the ZADD's
    // newer base hide them, where they must count on top of it.
    let key = "k0";
    let mut c = Cluster::new(3);
    c.write(0, key, zincrby("m", 1.0), 1);
    c.write(1, key, zincrby("m", 2.0), 2);
    c.write(2, key, zadd(&[("m", 10.0)]), 5);
    for (to, from) in [(1, 0), (2, 0), (0, 1), (2, 1), (0, 2)] {
        c.deliver(to, from).unwrap();
    }
    assert_eq!(view(&c, 0, key).score(b"m"), Some(13.0));
    c.compact(0);
    assert_eq!(view(&c, 0, key).score(b"m"), Some(13.0));
    c.deliver_all(&[0]);
    for i in 0..3 {
        c.compact(i);
        assert_eq!(view(&c, i, key).score(b"m"), Some(13.0));
        assert_eq!(c.replicas[i].ks.counter_entries(key.as_bytes()), 1);
    }
    c.assert_converged();
}

#[test]
fn compaction_with_an_increment_in_flight_folds_what_is_stable_and_keeps_the_score() {
    let key = "k0";
    let mut c = Cluster::new(2);
    for (t, by) in [0.1, 0.2, 0.3].into_iter().enumerate() {
        c.write(0, key, zincrby("m", by), t as u64 + 1);
    }
    c.deliver_all(&[0]);
    // Not yet delivered to region 0; it observed the three increments.
    c.write(1, key, zincrby("m", 0.4), 5);
    let mut twin = c.clone();
    assert_eq!(c.compact(0), 2);
    assert_eq!(c.replicas[0].ks.counter_entries(key.as_bytes()), 1);
    // A state join with the uncompacted region, either way round, keeps the folded sum (which
    // wins over the increment of the same dot) and the unseen increment.
    let joined = merged(&c.replicas[0], &twin.replicas[1]);
    let expected = f64::to_bits(((0.1 + 0.2) + 0.3) + 0.4);
    let score = |r: &Replica| {
        r.ks.zset(key.as_bytes())
            .unwrap()
            .score(b"m")
            .map(f64::to_bits)
    };
    assert_eq!(score(&joined), Some(expected));
    assert_eq!(joined.ks.counter_entries(key.as_bytes()), 2);
    let other_way = merged(&twin.replicas[1], &c.replicas[0]);
    assert_eq!(score(&other_way), Some(expected));
    assert_eq!(other_way.ks, joined.ks);
    assert_eq!(joined.ks.digest(), joined.ks.recompute_digest());
    c.deliver_all(&[1]);
    twin.deliver_all(&[1]);
    for i in 0..2 {
        assert_eq!(bits(&c, i, key, "m"), Some(expected));
        assert_eq!(ranked(view(&c, i, key)), ranked(view(&twin, i, key)));
    }
    for i in 0..2 {
        c.compact(i);
        assert_eq!(c.replicas[i].ks.counter_entries(key.as_bytes()), 1);
        assert_eq!(bits(&c, i, key, "m"), Some(expected));
    }
    c.assert_converged();
    // The joined state, compacted in turn, is the same state.
    let mut joined = merged(&joined, &c.replicas[1]);
    joined.ks.compact(&joined.applied.clone());
    assert_eq!(joined.ks, c.replicas[0].ks);
}

#[test]
fn compaction_keeps_regions_equal_when_an_op_is_stamped_before_a_stable_entry_it_observed() {
    // The story of the bug: region 1's clock runs far ahead, so its increment is stamped 100
    // while region 0's clock reads 10. `meridian-replica` accepts such an op but leaves its
    // own clock alone when a stamp is further ahead than `max_ahead_ms`, so region 0's next
    // increment, which observed the first two, is stamped 20: below an entry it observed.
    // When increments were summed in stamp order, region 0 (which had folded the two stable
    // ones) summed (1.1 + 2.2) + 3.3 and region 1 (which had not) (1.1 + 3.3) + 2.2, and the
    // regions never converged. Summed in causal order, both sum (1.1 + 2.2) + 3.3.
    let key = "k0";
    let mut c = Cluster::new(2);
    c.write(0, key, zincrby("m", 1.1), 10);
    c.write(1, key, zincrby("m", 2.2), 100);
    c.deliver_all(&[0]);
    assert_eq!(c.compact(0), 1);
    c.write(0, key, zincrby("m", 3.3), 20);
    c.deliver_all(&[0]);
    for i in 0..2 {
        c.compact(i);
    }
    assert_eq!(
        bits(&c, 0, key, "m"),
        bits(&c, 1, key, "m"),
        "region 0 reads {:?}, region 1 reads {:?}",
        view(&c, 0, key).score(b"m"),
        view(&c, 1, key).score(b"m"),
    );
    c.assert_converged();
}

/// `a` and `b` read alike, and hold the same canonical state but for keys holding deadlines:
/// there entries merge only below the deadlines' floors, so a region that compacted before a
/// deadline was re-set (by a write that kept the TTL) keeps a merged entry the others cannot
/// make until that deadline is reaped; for counters as for scores.
fn assert_same(what: &str, a: &Replica, b: &Replica) -> Result<(), TestCaseError> {
    let mut deadlines = false;
    for k in KEYS {
        let k = k.as_bytes();
        prop_assert_eq!(a.ks.get(k), b.ks.get(k), "{}: key {:?}", what, k);
        if a.ks.holds_deadlines(k) || b.ks.holds_deadlines(k) {
            deadlines = true;
            continue;
        }
        prop_assert_eq!(
            a.ks.encode_key(k),
            b.ks.encode_key(k),
            "{}: state of {:?}",
            what,
            k
        );
    }
    if !deadlines {
        prop_assert_eq!(a.ks.digest(), b.ks.digest(), "{}", what);
        prop_assert_eq!(&a.ks, &b.ks, "{}", what);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The convergence properties of `convergence.rs`, on sorted set histories whose stamps a
    /// hybrid logical clock could give (each op after every op it observed), which is what
    /// compaction assumes (see the test above for what happens otherwise).
    #[test]
    fn sorted_set_histories_converge_when_every_op_is_stamped_after_what_it_observed(
        n in 2usize..5,
        history in steps(zset_history_command()),
        choices in proptest::collection::vec(any::<u8>(), 1..16),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 2),
    ) {
        let (mut c, snaps) = run_causal(n, &history, true);
        // A state join equals applying the union of the ops.
        let a = picks[0].get(&snaps);
        let b = picks[1].get(&snaps);
        let ab = merged(a, b);
        let replayed = c.replay(&ab.applied);
        for k in KEYS {
            prop_assert_eq!(ab.ks.get(k.as_bytes()), replayed.ks.get(k.as_bytes()), "key {}", k);
        }
        assert_same("a join and a replay", &normalized(&ab), &normalized(&replayed))?;
        c.deliver_all(&choices);
        for r in &c.replicas[1..] {
            for k in KEYS {
                prop_assert_eq!(r.ks.get(k.as_bytes()), c.replicas[0].ks.get(k.as_bytes()), "key {}", k);
            }
            assert_same("regions that applied the same ops", &normalized(&c.replicas[0]), &normalized(r))?;
        }
        for i in 0..n {
            c.compact(i);
        }
        for r in &c.replicas[1..] {
            assert_same("regions compacted at the end", &c.replicas[0], r)?;
        }
        // Compaction changed no later op's effect.
        let (mut plain, _) = run_causal(n, &history, false);
        plain.deliver_all(&choices);
        for i in 0..n {
            plain.compact(i);
        }
        assert_same("compacted along the way or only at the end", &plain.replicas[0], &c.replicas[0])?;
    }
}

// ---------------------------------------------------------------------------------------------
// Reads.

/// e(-inf) a(1) b(2) bb(2) c(2) d(3) f(+inf), written in a scrambled order.
fn ladder() -> Cluster {
    let mut c = Cluster::new(1);
    c.write(
        0,
        "z",
        zadd(&[
            ("d", 3.0),
            ("c", 2.0),
            ("f", f64::INFINITY),
            ("a", 1.0),
            ("bb", 2.0),
            ("e", f64::NEG_INFINITY),
        ]),
        1,
    );
    c.write(0, "z", zincrby("b", 2.0), 2);
    c
}

#[test]
fn ranks_count_from_the_lowest_score_or_from_the_highest() {
    let c = ladder();
    let z = view(&c, 0, "z");
    assert_eq!(z.len(), 7);
    for (i, m) in ["e", "a", "b", "bb", "c", "d", "f"].into_iter().enumerate() {
        assert_eq!(z.rank(m.as_bytes(), false), Some(i), "{m}");
        assert_eq!(z.rank(m.as_bytes(), true), Some(6 - i), "{m}");
    }
    assert_eq!(z.rank(b"absent", false), None);
    assert_eq!(z.rank(b"absent", true), None);
}

#[test]
fn by_rank_walks_forward_and_reverse_and_clamps_its_range() {
    let c = ladder();
    let z = view(&c, 0, "z");
    assert_eq!(
        ranked(z),
        [
            (b("e"), f64::NEG_INFINITY.to_bits()),
            (b("a"), 1.0f64.to_bits()),
            (b("b"), 2.0f64.to_bits()),
            (b("bb"), 2.0f64.to_bits()),
            (b("c"), 2.0f64.to_bits()),
            (b("d"), 3.0f64.to_bits()),
            (b("f"), f64::INFINITY.to_bits()),
        ]
    );
    let fwd =
        |from, to| -> Vec<Bytes> { z.by_rank(from, to, false).map(|(m, _)| m.clone()).collect() };
    let rev =
        |from, to| -> Vec<Bytes> { z.by_rank(from, to, true).map(|(m, _)| m.clone()).collect() };
    assert_eq!(fwd(0, 3), [b("e"), b("a"), b("b")]);
    assert_eq!(rev(0, 3), [b("f"), b("d"), b("c")]);
    assert_eq!(fwd(2, 5), [b("b"), b("bb"), b("c")]);
    assert_eq!(rev(2, 5), [b("c"), b("bb"), b("b")]);
    assert_eq!(fwd(5, 100), [b("d"), b("f")]);
    assert_eq!(rev(5, 100), [b("a"), b("e")]);
    assert_eq!(rev(0, 7).len(), 7);
    assert!(fwd(7, 9).is_empty());
    assert!(rev(7, 9).is_empty());
    assert!(fwd(3, 1).is_empty());
    assert!(rev(3, 1).is_empty());
    assert!(fwd(usize::MAX, usize::MAX).is_empty());
    let with_scores: Vec<(Bytes, f64)> =
        z.by_rank(0, 2, true).map(|(m, s)| (m.clone(), s)).collect();
    assert_eq!(with_scores, [(b("f"), f64::INFINITY), (b("d"), 3.0)]);
}

#[test]
fn score_ranges_take_inclusive_and_exclusive_bounds_and_infinities() {
    let c = ladder();
    let z = view(&c, 0, "z");
    let (inf, ninf) = (f64::INFINITY, f64::NEG_INFINITY);
    let cases = [
        (incl(2.0), incl(2.0), (2, 5)),
        (excl(2.0), incl(2.0), (5, 5)),
        (incl(2.0), excl(2.0), (2, 2)),
        (incl(1.0), excl(3.0), (1, 5)),
        (excl(1.0), incl(3.0), (2, 6)),
        (incl(1.5), incl(2.5), (2, 5)),
        (incl(ninf), incl(inf), (0, 7)),
        (excl(ninf), excl(inf), (1, 6)),
        (incl(inf), incl(inf), (6, 7)),
        (excl(inf), incl(inf), (7, 7)),
        (incl(ninf), incl(ninf), (0, 1)),
        (incl(ninf), excl(ninf), (0, 0)),
        (incl(f64::MAX), incl(inf), (6, 7)),
        (incl(ninf), incl(-f64::MAX), (0, 1)),
        (incl(4.0), incl(1e300), (6, 6)),
    ];
    for (min, max, want) in cases {
        assert_eq!(z.score_ranks(min, max), want, "{min:?} {max:?}");
    }
    // A range whose minimum lies above its maximum is empty.
    let (from, to) = z.score_ranks(incl(3.0), incl(1.0));
    assert_eq!(from, to);
    let (from, to) = z.score_ranks(incl(inf), incl(ninf));
    assert_eq!(from, to);
}

#[test]
fn lex_ranges_take_every_kind_of_bound() {
    let mut c = Cluster::new(1);
    c.write(
        0,
        "z",
        zadd(&[("d", 0.0), ("b", 0.0), ("a", -0.0), ("c", 0.0), ("", 0.0)]),
        1,
    );
    let z = view(&c, 0, "z");
    use LexBound::{Excluded as X, Included as I, Max, Min};
    let cases = [
        (Min, Max, (0, 5)),
        (I(b("b")), I(b("c")), (2, 4)),
        (X(b("b")), I(b("c")), (3, 4)),
        (I(b("b")), X(b("c")), (2, 3)),
        (X(b("b")), X(b("c")), (3, 3)),
        (I(b("bb")), Max, (3, 5)),
        (X(b("bb")), Max, (3, 5)),
        (Min, I(b("bb")), (0, 3)),
        (Min, X(b("a")), (0, 1)),
        (I(b("")), I(b("")), (0, 1)),
        (X(b("")), Max, (1, 5)),
        (I(b("a")), I(b("a")), (1, 2)),
        (X(b("a")), X(b("a")), (2, 2)),
        (I(b("e")), Max, (5, 5)),
    ];
    for (min, max, want) in &cases {
        assert_eq!(z.lex_ranks(min, max), *want, "{min:?} {max:?}");
    }
    // Inverted ranges are empty.
    for (min, max) in [(Max, Min), (I(b("c")), I(b("a"))), (Max, Max), (Min, Min)] {
        let (from, to) = z.lex_ranks(&min, &max);
        assert_eq!(from, to, "{min:?} {max:?}");
    }
}

#[test]
fn iter_after_walks_members_by_name_from_any_point() {
    let c = ladder();
    let z = view(&c, 0, "z");
    let all: Vec<(Bytes, f64)> = z.iter_after(None).map(|(m, s)| (m.clone(), s)).collect();
    assert_eq!(
        all,
        [
            (b("a"), 1.0),
            (b("b"), 2.0),
            (b("bb"), 2.0),
            (b("c"), 2.0),
            (b("d"), 3.0),
            (b("e"), f64::NEG_INFINITY),
            (b("f"), f64::INFINITY),
        ]
    );
    let after = |m: &str| -> Vec<Bytes> {
        z.iter_after(Some(m.as_bytes()))
            .map(|(m, _)| m.clone())
            .collect()
    };
    assert_eq!(after("b"), [b("bb"), b("c"), b("d"), b("e"), b("f")]);
    assert_eq!(after("bz"), [b("c"), b("d"), b("e"), b("f")]);
    assert_eq!(after(""), ["a", "b", "bb", "c", "d", "e", "f"].map(b));
    assert!(after("f").is_empty());
    assert!(after("zz").is_empty());
}

#[test]
fn negative_zero_is_kept_as_negative_zero_and_ties_with_zero_by_name() {
    let mut c = Cluster::new(1);
    c.write(
        0,
        "z",
        zadd(&[("z", -0.0), ("n", 0.0), ("m", -0.0), ("a", 0.0)]),
        1,
    );
    // ZINCRBY of an absent member by -0 makes it -0, as in Redis.
    c.write(0, "z", zincrby("w", -0.0), 2);
    let (neg, pos) = ((-0.0f64).to_bits(), 0.0f64.to_bits());
    let z = view(&c, 0, "z");
    assert_eq!(z.score(b"m").map(f64::to_bits), Some(neg));
    assert_eq!(z.score(b"n").map(f64::to_bits), Some(pos));
    assert_eq!(z.score(b"w").map(f64::to_bits), Some(neg));
    let want = [
        (b("a"), pos),
        (b("m"), neg),
        (b("n"), pos),
        (b("w"), neg),
        (b("z"), neg),
    ];
    assert_eq!(ranked(z), want);
    let rev: Vec<(Bytes, u64)> = z
        .by_rank(0, 5, true)
        .map(|(m, s)| (m.clone(), s.to_bits()))
        .collect();
    assert_eq!(rev, want.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(c.replicas[0].ks.get(b"z"), Some(Value::ZSet(want.to_vec())));
    assert_eq!(z.rank(b"w", false), Some(3));
    assert_eq!(z.score_ranks(incl(0.0), incl(0.0)), (0, 5));
    assert_eq!(z.score_ranks(incl(-0.0), incl(-0.0)), (0, 5));
    assert_eq!(z.score_ranks(excl(-0.0), incl(f64::INFINITY)), (5, 5));
    assert_eq!(z.score_ranks(incl(-1.0), excl(0.0)), (0, 0));
    assert_eq!(
        z.score_ranks(incl(-f64::MIN_POSITIVE), incl(f64::MIN_POSITIVE)),
        (0, 5)
    );
    assert_eq!(
        z.lex_ranks(&LexBound::Included(b("m")), &LexBound::Excluded(b("w"))),
        (1, 3)
    );
    // -0 plus 0 is 0, as in Redis.
    c.write(0, "z", zincrby("m", 0.0), 3);
    assert_eq!(bits(&c, 0, "z", "m"), Some(pos));
}

#[test]
fn an_absent_key_reads_as_an_empty_sorted_set_and_another_type_as_its_type() {
    let mut c = Cluster::new(1);
    c.write(0, "s", Command::SAdd(vec![b("x")]), 1);
    let ks = &c.replicas[0].ks;
    let z = ks.zset(b"none").unwrap();
    assert!(z.is_empty());
    assert_eq!(z.len(), 0);
    assert_eq!(z.score(b"x"), None);
    assert_eq!(z.rank(b"x", true), None);
    assert_eq!(z.by_rank(0, 10, false).count(), 0);
    assert_eq!(z.by_rank(0, 10, true).count(), 0);
    assert_eq!(
        z.score_ranks(incl(f64::NEG_INFINITY), incl(f64::INFINITY)),
        (0, 0)
    );
    assert_eq!(z.lex_ranks(&LexBound::Min, &LexBound::Max), (0, 0));
    assert_eq!(z.iter_after(None).count(), 0);
    assert_eq!(ks.zset(b"s").unwrap_err(), KeyType::Set);
    // A sorted set emptied by ZREM is gone.
    c.write(0, "z", zadd(&[("m", 1.0)]), 2);
    assert_eq!(c.replicas[0].ks.key_type(b"z"), Some(KeyType::ZSet));
    c.write(0, "z", zrem(&["m"]), 3);
    let ks = &c.replicas[0].ks;
    assert_eq!(ks.key_type(b"z"), None);
    assert_eq!(ks.get(b"z"), None);
    assert_eq!(ks.encode_key(b"z"), None);
}

// ---------------------------------------------------------------------------------------------
// Refusals.

#[test]
fn sorted_set_commands_on_another_type_are_refused_with_wrongtype() {
    let mut c = Cluster::new(1);
    c.write(0, "s", Command::SAdd(vec![b("x")]), 1);
    c.write(0, "z", zadd(&[("m", 1.0)]), 2);
    let r = &c.replicas[0];
    let wrong = |found| Err(PrepareError::WrongType { found });
    for cmd in [zadd(&[("m", 1.0)]), zincrby("m", 1.0), zrem(&["m"])] {
        assert_eq!(r.ks.prepare(b"s", cmd, &r.applied), wrong(KeyType::Set));
    }
    for cmd in [
        Command::SAdd(vec![b("m")]),
        Command::HSet(vec![(b("f"), b("v"))]),
        Command::IncrBy(1),
        Command::MvSet {
            value: b("v"),
            ctx: None,
        },
    ] {
        assert_eq!(r.ks.prepare(b"z", cmd, &r.applied), wrong(KeyType::ZSet));
    }
    // SET and DEL overwrite whatever the key holds.
    assert!(r.ks.prepare(b"z", Command::Set(b("v")), &r.applied).is_ok());
    assert!(r.ks.prepare(b"z", Command::Del, &r.applied).is_ok());
}

#[test]
fn a_score_that_would_not_be_a_number_is_refused() {
    let mut c = Cluster::new(1);
    c.write(
        0,
        "z",
        zadd(&[("hi", f64::INFINITY), ("lo", f64::NEG_INFINITY)]),
        1,
    );
    let r = &c.replicas[0];
    let prepare = |cmd| r.ks.prepare(b"z", cmd, &r.applied);
    assert_eq!(
        prepare(zincrby("hi", f64::NEG_INFINITY)),
        Err(PrepareError::NotANumber)
    );
    assert_eq!(
        prepare(zincrby("lo", f64::INFINITY)),
        Err(PrepareError::NotANumber)
    );
    assert_eq!(
        prepare(zincrby("new", f64::NAN)),
        Err(PrepareError::NotANumber)
    );
    assert_eq!(
        prepare(zincrby("hi", f64::NAN)),
        Err(PrepareError::NotANumber)
    );
    assert_eq!(
        prepare(zadd(&[("a", 1.0), ("b", f64::NAN)])),
        Err(PrepareError::NotANumber)
    );
    assert!(prepare(zincrby("hi", f64::INFINITY)).is_ok());
    assert!(prepare(zincrby("lo", -1.0)).is_ok());
    // A repeated member: the last score wins, and only it is checked.
    assert_eq!(
        prepare(zadd(&[("a", f64::NAN), ("a", 1.0)])),
        Ok(Payload::ZAdd(vec![meridian_crdt::ScoreWrite {
            member: b("a"),
            score: Score::new(1.0),
        }]))
    );
}
