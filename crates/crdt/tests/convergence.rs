//! Convergence, merge laws and op/state equivalence on random causal histories.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Cluster, KEYS, any_steps, merged, normalized, run, run_with};
use proptest::prelude::*;

fn assert_same(a: &common::Replica, b: &common::Replica) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.ks.digest(), b.ks.digest());
    for k in KEYS {
        prop_assert_eq!(a.ks.get(k.as_bytes()), b.ks.get(k.as_bytes()), "key {}", k);
    }
    prop_assert_eq!(&a.ks, &b.ks);
    Ok(())
}

/// Equal once both are compacted at their applied vectors: the same ops, whatever was
/// compacted when.
fn assert_equiv(a: &common::Replica, b: &common::Replica) -> Result<(), TestCaseError> {
    for k in KEYS {
        prop_assert_eq!(a.ks.get(k.as_bytes()), b.ks.get(k.as_bytes()), "key {}", k);
        prop_assert_eq!(
            a.ks.key_type(k.as_bytes()),
            b.ks.key_type(k.as_bytes()),
            "key {}",
            k
        );
    }
    assert_same(&normalized(a), &normalized(b))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn replicas_that_applied_the_same_ops_converge(
        n in 2usize..5,
        steps in any_steps(),
        choices in proptest::collection::vec(any::<u8>(), 1..16),
    ) {
        let (mut c, _) = run(n, &steps);
        for r in &c.replicas {
            prop_assert_eq!(r.ks.digest(), r.ks.recompute_digest());
        }
        c.deliver_all(&choices);
        // Some replicas compacted along the way, some not: same values, and the same state
        // once each compacts at the final stable vector.
        for r in &c.replicas[1..] {
            assert_equiv(&c.replicas[0], r)?;
        }
        for i in 0..n {
            prop_assert_eq!(c.stable_for(i), c.replicas[i].applied.clone());
            c.compact(i);
        }
        let first = c.replicas[0].clone();
        for r in &c.replicas[1..] {
            prop_assert_eq!(&r.applied, &first.applied);
            prop_assert_eq!(r.ks.digest(), r.ks.recompute_digest());
            assert_same(&first, r)?;
        }
        // Compaction changed no later behaviour: the same history never compacted until the
        // end gives the same state.
        let (mut plain, _) = run_with(n, &steps, false);
        plain.deliver_all(&choices);
        for i in 0..n {
            plain.compact(i);
        }
        assert_same(&plain.replicas[0], &first)?;
        // A key holding a deadline does not compact its counters.
        for k in first.ks.retained_keys().filter(|k| !first.ks.holds_deadlines(k)) {
            prop_assert!(first.ks.counter_entries(k) <= n, "{} entries", first.ks.counter_entries(k));
        }
        prop_assert_eq!(first.ks.len(), first.ks.keys().count());
        for k in first.ks.keys() {
            prop_assert!(first.ks.get(k).is_some());
            prop_assert!(first.ks.key_type(k).is_some());
        }
    }

    #[test]
    fn merge_is_commutative_associative_idempotent(
        n in 2usize..5,
        steps in any_steps(),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 3),
    ) {
        let (_, snaps) = run(n, &steps);
        let a = picks[0].get(&snaps);
        let b = picks[1].get(&snaps);
        let c = picks[2].get(&snaps);
        assert_same(&merged(a, a), a)?;
        let ab = merged(a, b);
        assert_same(&ab, &merged(b, a))?;
        prop_assert_eq!(ab.ks.digest(), ab.ks.recompute_digest());
        assert_same(&merged(&ab, c), &merged(a, &merged(b, c)))?;
    }

    #[test]
    fn merging_states_equals_applying_the_union_of_ops(
        n in 2usize..5,
        steps in any_steps(),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 2),
    ) {
        let (c, snaps) = run(n, &steps);
        let a = picks[0].get(&snaps);
        let b = picks[1].get(&snaps);
        let ab = merged(a, b);
        let replayed = c.replay(&ab.applied);
        prop_assert_eq!(&replayed.applied, &ab.applied);
        assert_equiv(&ab, &replayed)?;
        // A snapshot is itself a replay of its vector, whatever order it applied ops in.
        assert_equiv(a, &c.replay(&a.applied))?;
    }
}

#[test]
fn empty_cluster_has_zero_digest() {
    let c = Cluster::new(2);
    assert_eq!(c.replicas[0].ks.digest(), meridian_crdt::Digest([0; 32]));
    assert_eq!(
        c.replicas[0].ks.recompute_digest(),
        c.replicas[0].ks.digest()
    );
}
