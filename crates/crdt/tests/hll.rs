//! HyperLogLog sketches against redis-server's own replies (`data/hll_oracle.txt`, made by
//! `data/hll_oracle.py`): PFADD's answer element by element, PFCOUNT of one sketch and of
//! two, from a handful of elements (the exact range) to 300,000 (past the dense switch).

use meridian_crdt::hll::{Observation, REGISTERS, Sketch};
use proptest::prelude::*;

fn text(case: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("{case}:{i}").into_bytes()).collect()
}

fn raw(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut e: Vec<u8> = (0..i % 20).map(|j| ((i * 7 + j) % 256) as u8).collect();
            for _ in 0..i % 3 {
                e.extend_from_slice(&(i as u32).to_le_bytes());
            }
            e
        })
        .collect()
}

fn elements(case: &str, n: usize) -> Vec<Vec<u8>> {
    if case == "raw" { raw(n) } else { text(case, n) }
}

fn sketch_of(case: &str, n: usize) -> Sketch {
    let mut s = Sketch::new();
    for e in elements(case, n) {
        s.raise(Observation::of(&e));
    }
    s
}

#[test]
fn pfadd_and_pfcount_answer_as_redis_server_does() {
    let oracle = include_str!("data/hll_oracle.txt");
    let mut checked = 0;
    for line in oracle.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split(' ').collect();
        let n = |i: usize| f[i].parse::<usize>().expect("a number in the oracle file");
        match f[0] {
            "adds" => {
                let mut s = Sketch::new();
                let ours: String = elements(f[1], n(2))
                    .iter()
                    .map(|e| {
                        if s.raise(Observation::of(e)) {
                            '1'
                        } else {
                            '0'
                        }
                    })
                    .collect();
                assert_eq!(ours, f[3], "{}", &line[..30]);
            }
            "count" => {
                assert_eq!(sketch_of(f[1], n(2)).estimate(), n(3) as u64, "{line}");
            }
            "union" => {
                let mut s = sketch_of(f[1], n(2));
                s.merge(&sketch_of(f[3], n(4)));
                assert_eq!(s.estimate(), n(5) as u64, "{line}");
            }
            other => panic!("unknown oracle line kind {other}"),
        }
        checked += 1;
    }
    assert!(checked >= 40, "the oracle file holds {checked} cases");
}

#[test]
fn a_full_sketch_counts_once_every_register_is_set() {
    let mut s = Sketch::new();
    for register in 0..REGISTERS as u16 {
        s.raise(Observation { register, rank: 1 });
    }
    assert_eq!(s.len(), REGISTERS);
    assert!(s.estimate() > 0);
}

fn observation() -> impl Strategy<Value = Observation> {
    (0..REGISTERS as u16, 1u8..=51).prop_map(|(register, rank)| Observation { register, rank })
}

proptest! {
    #[test]
    fn merge_is_a_join(
        a in prop::collection::vec(observation(), 0..4000),
        b in prop::collection::vec(observation(), 0..200),
        c in prop::collection::vec(observation(), 0..200),
    ) {
        let sketch = |os: &[Observation]| {
            let mut s = Sketch::new();
            for &o in os {
                s.raise(o);
            }
            s
        };
        let (a, b, c) = (sketch(&a), sketch(&b), sketch(&c));
        let join = |x: &Sketch, y: &Sketch| {
            let mut z = x.clone();
            z.merge(y);
            z
        };
        let same = |x: &Sketch, y: &Sketch| {
            x.observations().eq(y.observations()) && x.estimate() == y.estimate()
        };
        prop_assert!(same(&join(&a, &b), &join(&b, &a)), "commutative");
        prop_assert!(same(&join(&join(&a, &b), &c), &join(&a, &join(&b, &c))), "associative");
        prop_assert!(same(&join(&a, &a), &a), "idempotent");
        let mut twice = join(&a, &b);
        prop_assert!(!twice.merge(&b), "a second merge changes nothing");
    }
}
