//! Every read of `ZSetView` against a naive sorted vector, however large the set grows: past
//! the size where its order changes representation (128 members) and back below 64
//! (`crates/crdt/src/zset.rs`).

#![allow(clippy::unwrap_used)]

mod common;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use bytes::Bytes;
use common::Cluster;
use meridian_crdt::{Command, Keyspace, LexBound, Score, ScoreBound, ZSetView};
use proptest::prelude::*;

fn b(s: &str) -> Bytes {
    Bytes::from(s.to_owned())
}

fn view<'a>(c: &'a Cluster, i: usize, key: &str) -> ZSetView<'a> {
    c.replicas[i].ks.zset(key.as_bytes()).unwrap()
}

/// Redis's order of scores: by value, -0 equal to 0.
fn score_cmp(a: f64, b: f64) -> Ordering {
    let z = |v: f64| if v == 0.0 { 0.0 } else { v };
    z(a).total_cmp(&z(b))
}

/// The model sorted by (score, member), naively.
fn sorted(model: &BTreeMap<Bytes, f64>) -> Vec<(Bytes, f64)> {
    let mut v: Vec<(Bytes, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| score_cmp(a.1, b.1).then_with(|| a.0.cmp(&b.0)));
    v
}

fn as_bits<'a>(it: impl Iterator<Item = (&'a Bytes, f64)>) -> Vec<(Bytes, u64)> {
    it.map(|(m, s)| (m.clone(), s.to_bits())).collect()
}

/// Checks that a range `(from, to)` names exactly the positions of `sorted` where `hit`.
fn check_range<T>(
    what: &str,
    (from, to): (usize, usize),
    sorted: &[T],
    hit: impl Fn(&T) -> bool,
) -> Result<(), TestCaseError> {
    let hits: Vec<usize> = (0..sorted.len()).filter(|&i| hit(&sorted[i])).collect();
    prop_assert!(
        from <= to && to <= sorted.len(),
        "{}: {:?}",
        what,
        (from, to)
    );
    prop_assert_eq!(to - from, hits.len(), "{}", what);
    if let Some(first) = hits.first() {
        prop_assert_eq!(from, *first, "{}", what);
    }
    Ok(())
}

/// Every read of `z` against the model. `lex`: every score is equal, so name ranges apply.
fn check_view(
    z: ZSetView<'_>,
    model: &BTreeMap<Bytes, f64>,
    lex: bool,
) -> Result<(), TestCaseError> {
    let sorted = sorted(model);
    let n = sorted.len();
    let want: Vec<(Bytes, u64)> = sorted
        .iter()
        .map(|(m, s)| (m.clone(), s.to_bits()))
        .collect();
    prop_assert_eq!(z.len(), n);
    prop_assert_eq!(z.is_empty(), n == 0);
    prop_assert_eq!(&as_bits(z.by_rank(0, n, false)), &want);
    for (i, (m, s)) in sorted.iter().enumerate() {
        prop_assert_eq!(z.score(m).map(f64::to_bits), Some(s.to_bits()));
        prop_assert_eq!(z.rank(m, false), Some(i));
        prop_assert_eq!(z.rank(m, true), Some(n - 1 - i));
    }
    prop_assert_eq!(z.score(b"absent"), None);
    prop_assert_eq!(z.rank(b"absent", true), None);

    // Rank ranges, forward and reverse, clamped.
    let cuts = [0, 1, n / 3, n / 2, n.saturating_sub(1), n, n + 1];
    for from in cuts {
        for len in [0, 1, 17, n] {
            let to = from + len;
            let fwd: Vec<(Bytes, u64)> = want.iter().skip(from).take(len).cloned().collect();
            prop_assert_eq!(&as_bits(z.by_rank(from, to, false)), &fwd);
            let rev: Vec<(Bytes, u64)> = want.iter().rev().skip(from).take(len).cloned().collect();
            prop_assert_eq!(&as_bits(z.by_rank(from, to, true)), &rev);
        }
    }

    // Score ranges, over bounds at, between and beyond the scores held.
    let mut values = vec![f64::NEG_INFINITY, -0.0, 0.0, 1.0, 0.25, f64::INFINITY];
    values.extend(
        [0, n / 2, n.saturating_sub(1)]
            .iter()
            .filter_map(|&i| sorted.get(i).map(|x| x.1)),
    );
    for &lo in &values {
        for &hi in &values {
            for (lo_x, hi_x) in [(false, false), (true, false), (false, true), (true, true)] {
                let min = ScoreBound {
                    value: lo,
                    exclusive: lo_x,
                };
                let max = ScoreBound {
                    value: hi,
                    exclusive: hi_x,
                };
                let inside = |x: &(Bytes, f64)| {
                    let above = match score_cmp(x.1, lo) {
                        Ordering::Greater => true,
                        Ordering::Equal => !lo_x,
                        Ordering::Less => false,
                    };
                    let below = match score_cmp(x.1, hi) {
                        Ordering::Less => true,
                        Ordering::Equal => !hi_x,
                        Ordering::Greater => false,
                    };
                    above && below
                };
                check_range(
                    &format!("{min:?}..{max:?}"),
                    z.score_ranks(min, max),
                    &sorted,
                    inside,
                )?;
            }
        }
    }

    // Name ranges, when they are defined.
    if lex {
        let mut names: Vec<Bytes> = vec![b(""), b("1"), b("150x"), b("9"), b("zz")];
        names.extend(
            [0, n / 2, n.saturating_sub(1)]
                .iter()
                .filter_map(|&i| sorted.get(i).map(|x| x.0.clone())),
        );
        let mut bounds = vec![LexBound::Min, LexBound::Max];
        for m in names {
            bounds.push(LexBound::Included(m.clone()));
            bounds.push(LexBound::Excluded(m));
        }
        for min in &bounds {
            for max in &bounds {
                let inside = |x: &(Bytes, f64)| {
                    let m = &x.0;
                    let above = match min {
                        LexBound::Min => true,
                        LexBound::Max => false,
                        LexBound::Included(b) => m >= b,
                        LexBound::Excluded(b) => m > b,
                    };
                    let below = match max {
                        LexBound::Min => false,
                        LexBound::Max => true,
                        LexBound::Included(b) => m <= b,
                        LexBound::Excluded(b) => m < b,
                    };
                    above && below
                };
                check_range(
                    &format!("{min:?}..{max:?}"),
                    z.lex_ranks(min, max),
                    &sorted,
                    inside,
                )?;
            }
        }
    }

    // Walks by name.
    let by_name: Vec<(Bytes, u64)> = model
        .iter()
        .map(|(m, s)| (m.clone(), s.to_bits()))
        .collect();
    prop_assert_eq!(&as_bits(z.iter_after(None)), &by_name);
    for after in [b(""), b("150"), b("150x"), b("99"), b("zz")] {
        let rest: Vec<(Bytes, u64)> = by_name
            .iter()
            .filter(|(m, _)| *m > after)
            .cloned()
            .collect();
        prop_assert_eq!(&as_bits(z.iter_after(Some(&after))), &rest);
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Write {
    Add(Vec<(u16, Score)>),
    Incr(u16, Score),
    /// Members chosen among those present.
    Rem(Vec<prop::sample::Index>),
}

/// Member names that sort by bytes, not by number ("10" before "9").
fn member(n: u16) -> Bytes {
    Bytes::from(n.to_string())
}

/// Scores with ties, signed zeros, infinities and floats whose sums round.
fn score() -> impl Strategy<Value = Score> + Clone {
    prop_oneof![
        3 => proptest::sample::select(
            &[0.0, -0.0, 1.0, -1.0, 2.5, 0.1, 0.2, 0.3, 1e16, f64::INFINITY, f64::NEG_INFINITY][..]
        ),
        1 => -1e6f64..1e6,
    ]
    .prop_map(Score::new)
}

/// Scores for name ranges: all equal in Redis's order.
fn zero() -> impl Strategy<Value = Score> + Clone {
    proptest::sample::select(&[0.0, -0.0][..]).prop_map(Score::new)
}

fn write(
    score: impl Strategy<Value = Score> + Clone,
    incr: bool,
    grow: bool,
) -> impl Strategy<Value = Write> {
    let adds = if grow { 1..80 } else { 1..8 };
    let rems = if grow { 1..8 } else { 1..60 };
    let incr_weight = if incr { 2 } else { 0 };
    prop_oneof![
        3 => proptest::collection::vec((0u16..400, score.clone()), adds).prop_map(Write::Add),
        incr_weight => (0u16..400, score).prop_map(|(m, s)| Write::Incr(m, s)),
        2 => proptest::collection::vec(any::<prop::sample::Index>(), rems).prop_map(Write::Rem),
    ]
}

/// One region's history: a growing phase, filled up to `peak` members, a shrinking one,
/// drained below 64, and a little more.
#[derive(Clone, Debug)]
struct History {
    grow: Vec<Write>,
    peak: usize,
    shrink: Vec<Write>,
    again: Vec<Write>,
}

fn history(
    score: impl Strategy<Value = Score> + Clone,
    incr: bool,
) -> impl Strategy<Value = History> {
    (
        proptest::collection::vec(write(score.clone(), incr, true), 2..10),
        129usize..=400,
        proptest::collection::vec(write(score.clone(), incr, false), 2..10),
        proptest::collection::vec(write(score, incr, true), 0..4),
    )
        .prop_map(|(grow, peak, shrink, again)| History {
            grow,
            peak,
            shrink,
            again,
        })
}

/// One region writing to key `z`, beside a naive model of the sorted set.
struct ModelRun {
    c: Cluster,
    model: BTreeMap<Bytes, f64>,
    time: u64,
    /// Every score is equal: name ranges are checked too.
    lex: bool,
}

impl ModelRun {
    fn new(lex: bool) -> Self {
        ModelRun {
            c: Cluster::new(1),
            model: BTreeMap::new(),
            time: 0,
            lex,
        }
    }

    /// Issues `cmd` (stamped after every earlier write, as a region's clock does); whether
    /// prepare accepted it.
    fn issue(&mut self, cmd: Command) -> bool {
        self.time += 1;
        self.c.issue(0, b"z", cmd, self.time).is_some()
    }

    fn remove(&mut self, names: Vec<Bytes>) -> Result<(), TestCaseError> {
        if names.is_empty() {
            return Ok(());
        }
        for m in &names {
            self.model.remove(m);
        }
        prop_assert!(self.issue(Command::ZRem(names)));
        self.check()
    }

    /// Applies `w` to both, then checks every read.
    fn write(&mut self, w: &Write) -> Result<(), TestCaseError> {
        match w {
            Write::Add(pairs) => {
                let cmd = Command::ZAdd(pairs.iter().map(|(m, s)| (member(*m), *s)).collect());
                prop_assert!(self.issue(cmd));
                for (m, s) in pairs {
                    self.model.insert(member(*m), s.get());
                }
            }
            Write::Incr(m, by) => {
                let now = self.model.get(&member(*m)).copied();
                let after = now.map_or(by.get(), |s| s + by.get());
                let cmd = Command::ZIncrBy {
                    member: member(*m),
                    by: *by,
                };
                prop_assert_eq!(self.issue(cmd), !after.is_nan());
                if !after.is_nan() {
                    self.model.insert(member(*m), after);
                }
            }
            Write::Rem(picks) => {
                let present: Vec<Bytes> = self.model.keys().cloned().collect();
                if !present.is_empty() {
                    let names = picks.iter().map(|i| i.get(&present).clone()).collect();
                    return self.remove(names);
                }
            }
        }
        self.check()
    }

    fn check(&self) -> Result<(), TestCaseError> {
        check_view(view(&self.c, 0, "z"), &self.model, self.lex)
    }

    /// The key loaded from its encoding (its order built from scratch) reads the same.
    fn check_reloaded(&self) -> Result<(), TestCaseError> {
        let mut fresh = Keyspace::new();
        if let Some(bytes) = self.c.replicas[0].ks.encode_key(b"z") {
            fresh.load_key(b("z"), &bytes).unwrap();
        }
        check_view(fresh.zset(b"z").unwrap(), &self.model, self.lex)
    }
}

/// Runs `h` at one region, checking every read after every write.
fn run_against_model(h: &History, lex: bool) -> Result<(), TestCaseError> {
    let mut run = ModelRun::new(lex);
    for w in &h.grow {
        run.write(w)?;
    }
    let missing: Vec<u16> = (0..400)
        .filter(|m| !run.model.contains_key(&member(*m)))
        .collect();
    let fill = run.model.len().max(h.peak) - run.model.len();
    let pad = |i: usize| if lex { 0.0 } else { (i % 7) as f64 - 3.0 };
    let adds = missing
        .iter()
        .take(fill)
        .enumerate()
        .map(|(i, m)| (*m, Score::new(pad(i))))
        .collect();
    run.write(&Write::Add(adds))?;
    prop_assert!(run.model.len() > 128);
    run.check_reloaded()?;
    for w in &h.shrink {
        run.write(w)?;
    }
    let extra = run.model.len().saturating_sub(40);
    let names = run.model.keys().take(extra).cloned().collect();
    run.remove(names)?;
    prop_assert!(run.model.len() < 64);
    for w in &h.again {
        run.write(w)?;
    }
    run.check_reloaded()?;
    // Compaction at one region folds every member into one entry and changes no read.
    run.c.compact(0);
    prop_assert!(run.c.replicas[0].ks.counter_entries(b"z") <= 1);
    run.check()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn every_read_matches_a_naive_sorted_vec_as_the_set_grows_past_128_and_shrinks_below_64(
        h in history(score(), true),
    ) {
        run_against_model(&h, false)?;
    }

    #[test]
    fn name_ranges_match_a_naive_sorted_vec_when_every_score_is_equal(
        h in history(zero(), false),
    ) {
        run_against_model(&h, true)?;
    }
}
