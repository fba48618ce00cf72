//! Group commit: batching, acknowledgement under each policy, and no success after a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use meridian_crdt::{ActorId, Dot};
use meridian_store::{
    Batch, CommitError, FaultKind, FaultStore, FsyncPolicy, GroupCommit, LoadError, Loaded,
    MemStore, RedbStore, Store,
};

/// Record `i` of writer `w`: log entry `w:i` and state key `k/w/i`.
fn record(w: u32, i: u64) -> Batch {
    Batch {
        log: vec![(Dot::new(ActorId(w), i), Bytes::from(format!("op {w}:{i}")))],
        truncate: None,
        state: vec![(
            Bytes::from(format!("k/{w}/{i}")),
            Some(Bytes::from(format!("v{i}"))),
        )],
        meta: vec![],
    }
}

fn check_all_present(loaded: &Loaded, writers: u32, per_writer: u64) {
    assert_eq!(loaded.log.len() as u64, u64::from(writers) * per_writer);
    assert_eq!(loaded.state.len() as u64, u64::from(writers) * per_writer);
    let mut expected = Vec::new();
    for w in 1..=writers {
        for i in 1..=per_writer {
            expected.push((Dot::new(ActorId(w), i), Bytes::from(format!("op {w}:{i}"))));
        }
    }
    assert_eq!(loaded.log, expected);
}

/// A store whose commits take a while, as an fsync does, so that batches queue up.
struct Slow<S>(S);

impl<S: Store> Store for Slow<S> {
    fn load(&self) -> Result<Loaded, LoadError> {
        self.0.load()
    }
    fn commit(&mut self, batch: &Batch, sync: bool) -> Result<(), CommitError> {
        thread::sleep(Duration::from_millis(2));
        self.0.commit(batch, sync)
    }
    fn sync(&mut self) -> Result<(), CommitError> {
        self.0.sync()
    }
}

fn many_writers(gc: &GroupCommit, writers: u32, per_writer: u64) {
    thread::scope(|s| {
        for w in 1..=writers {
            s.spawn(move || {
                for i in 1..=per_writer {
                    gc.submit(record(w, i)).wait().unwrap();
                }
            });
        }
    });
}

#[test]
fn concurrent_submitters_are_all_acknowledged_and_batched() {
    let store = MemStore::new();
    let gc = GroupCommit::start(Slow(store.clone()), FsyncPolicy::Always);
    many_writers(&gc, 8, 50);
    let stats = gc.stats();
    gc.shutdown().unwrap();
    check_all_present(&store.load().unwrap(), 8, 50);
    assert_eq!(stats.submitted, 400);
    assert_eq!(stats.reported, 400);
    assert!(stats.commits < stats.submitted, "{stats:?}");
    assert!(stats.max_merged > 1, "{stats:?}");
    assert_eq!(stats.fsyncs, stats.commits);
    assert_eq!(stats.records, 800);
}

#[test]
fn redb_group_commit_keeps_every_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    for policy in [
        FsyncPolicy::Always,
        FsyncPolicy::Periodic(Duration::from_millis(5)),
        FsyncPolicy::Never,
    ] {
        std::fs::remove_file(&path).ok();
        let gc = GroupCommit::start(RedbStore::open(&path).unwrap(), policy);
        many_writers(&gc, 6, 40);
        let stats = gc.stats();
        gc.shutdown().unwrap();
        assert!(stats.commits <= stats.submitted, "{policy}: {stats:?}");
        check_all_present(&RedbStore::open(&path).unwrap().load().unwrap(), 6, 40);
    }
}

#[test]
fn queued_batches_merge_into_one_commit() {
    let store = MemStore::new();
    let gc = GroupCommit::start(Slow(store.clone()), FsyncPolicy::Always);
    let tickets: Vec<_> = (1..=100).map(|i| gc.submit(record(1, i))).collect();
    for t in tickets {
        t.wait().unwrap();
    }
    let stats = gc.stats();
    assert!(stats.commits <= 10, "{stats:?}");
    gc.shutdown().unwrap();
    check_all_present(&store.load().unwrap(), 1, 100);
}

#[test]
fn after_a_failed_fsync_nothing_is_acknowledged() {
    let disk = FaultStore::new();
    disk.fail_after(3, FaultKind::Fsync);
    let gc = GroupCommit::start(disk.clone(), FsyncPolicy::Always);
    gc.submit(record(1, 1)).wait().unwrap();
    gc.submit(record(1, 2)).wait().unwrap();
    let err = gc.submit(record(1, 3)).wait().unwrap_err();
    assert!(matches!(err, CommitError::Fsync(_)), "{err}");
    for i in 4..10 {
        match gc.submit(record(1, i)).wait() {
            Err(CommitError::Failed { first }) => assert!(matches!(*first, CommitError::Fsync(_))),
            other => panic!("batch {i} after the failure: {other:?}"),
        }
    }
    assert!(matches!(gc.shutdown(), Err(CommitError::Fsync(_))));
    // Only what was acknowledged survives a crash.
    check_all_present(&disk.crash().load().unwrap(), 1, 2);
}

#[test]
fn outcomes_in_submission_order_never_turn_back_to_success() {
    let disk = FaultStore::new();
    disk.fail_after(3, FaultKind::Write);
    let gc = GroupCommit::start(Slow(disk.clone()), FsyncPolicy::Always);
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let (done_tx, done_rx) = mpsc::channel();
    // Four waves of 50 submissions, each wave merged into at least one commit.
    for wave in 0..4 {
        for i in wave * 50 + 1..=wave * 50 + 50 {
            let outcomes = Arc::clone(&outcomes);
            let done_tx = done_tx.clone();
            gc.submit_with(record(1, i), move |r| {
                outcomes.lock().unwrap().push((i, r.is_ok()));
                done_tx.send(()).unwrap();
            });
        }
        for _ in 0..50 {
            done_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        }
    }
    assert!(gc.shutdown().is_err());
    let outcomes = outcomes.lock().unwrap();
    let order: Vec<u64> = outcomes.iter().map(|&(i, _)| i).collect();
    assert_eq!(order, (1..=200).collect::<Vec<_>>());
    let acked = outcomes.iter().take_while(|&&(_, ok)| ok).count();
    assert!(outcomes[acked..].iter().all(|&(_, ok)| !ok));
    assert!((1..=150).contains(&acked), "{acked}");
    check_all_present(&disk.crash().load().unwrap(), 1, acked as u64);
}

#[test]
fn periodic_policy_syncs_on_its_own() {
    let disk = FaultStore::new();
    let gc = GroupCommit::start(
        disk.clone(),
        FsyncPolicy::Periodic(Duration::from_millis(20)),
    );
    gc.submit(record(1, 1)).wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while gc.stats().fsyncs == 0 {
        assert!(Instant::now() < deadline, "no periodic fsync within 10 s");
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(disk.unsynced_batches(), 0);
    check_all_present(&disk.crash().load().unwrap(), 1, 1);
    drop(gc);
}

#[test]
fn never_policy_loses_acknowledged_writes_at_a_crash_but_not_at_shutdown() {
    let disk = FaultStore::new();
    let gc = GroupCommit::start(disk.clone(), FsyncPolicy::Never);
    gc.submit(record(1, 1)).wait().unwrap();
    assert_eq!(disk.unsynced_batches(), 1);
    let restarted = disk.crash();
    assert_eq!(restarted.load().unwrap(), Loaded::default());
    drop(gc);

    let gc = GroupCommit::start(restarted.clone(), FsyncPolicy::Never);
    gc.submit(record(1, 1)).wait().unwrap();
    gc.shutdown().unwrap();
    check_all_present(&restarted.crash().load().unwrap(), 1, 1);
}

#[test]
fn always_policy_acknowledges_only_durable_batches() {
    let disk = FaultStore::new();
    let gc = GroupCommit::start(disk.clone(), FsyncPolicy::Always);
    let mut ticket = gc.submit(record(1, 1));
    assert!(
        ticket
            .wait_timeout(Duration::from_secs(10))
            .unwrap()
            .is_ok()
    );
    assert!(ticket.try_wait().unwrap().is_ok());
    check_all_present(&disk.crash().load().unwrap(), 1, 1);
}

#[test]
fn fsync_policies_parse_and_print() {
    let cases = [
        ("always", FsyncPolicy::Always),
        ("never", FsyncPolicy::Never),
        (
            "periodic",
            FsyncPolicy::Periodic(Duration::from_millis(100)),
        ),
        (
            "periodic:250ms",
            FsyncPolicy::Periodic(Duration::from_millis(250)),
        ),
        ("periodic:2s", FsyncPolicy::Periodic(Duration::from_secs(2))),
    ];
    for (text, policy) in cases {
        assert_eq!(text.parse::<FsyncPolicy>().unwrap(), policy);
        assert_eq!(policy.to_string().parse::<FsyncPolicy>().unwrap(), policy);
    }
    for bad in [
        "",
        "Always",
        "periodic:",
        "periodic:0ms",
        "periodic:-1s",
        "periodic:5m",
        "sometimes",
    ] {
        let err = bad.parse::<FsyncPolicy>().unwrap_err();
        assert!(err.to_string().contains("invalid fsync policy"), "{err}");
    }
}

/// What `submit_staged` reported, in order: (batch, synced step, ok, unsynced batches then).
type Steps = Arc<Mutex<Vec<(u64, bool, bool, usize)>>>;

fn submit_staged(gc: &GroupCommit, disk: &FaultStore, steps: &Steps, i: u64) {
    let (committed, synced) = (Arc::clone(steps), Arc::clone(steps));
    let (d1, d2) = (disk.clone(), disk.clone());
    gc.submit_staged(
        record(1, i),
        move |r| {
            let unsynced = d1.unsynced_batches();
            committed
                .lock()
                .unwrap()
                .push((i, false, r.is_ok(), unsynced));
        },
        move |r| {
            let unsynced = d2.unsynced_batches();
            synced.lock().unwrap().push((i, true, r.is_ok(), unsynced));
        },
    );
}

fn wait_steps(steps: &Steps, n: usize) -> Vec<(u64, bool, bool, usize)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = steps.lock().unwrap().clone();
        if seen.len() >= n {
            return seen;
        }
        assert!(Instant::now() < deadline, "only {seen:?} within 30 s");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn staged_batches_hear_of_their_commit_then_of_the_fsync_that_covers_them() {
    for policy in [
        FsyncPolicy::Periodic(Duration::from_millis(20)),
        FsyncPolicy::Never,
    ] {
        let disk = FaultStore::new();
        let gc = GroupCommit::start(disk.clone(), policy);
        let steps: Steps = Arc::default();
        for i in 1..=3 {
            submit_staged(&gc, &disk, &steps, i);
        }
        let seen = wait_steps(&steps, 6);
        // Each commit is reported while unsynced; each batch's synced report comes after its
        // commit report and finds nothing unsynced on the disk.
        for i in 1..=3 {
            let at = |synced| {
                seen.iter()
                    .position(|s| s.0 == i && s.1 == synced)
                    .unwrap_or_else(|| panic!("{policy}: batch {i}: {seen:?}"))
            };
            let (c, s) = (at(false), at(true));
            assert!(c < s, "{policy}: {seen:?}");
            assert!(seen[c].2 && seen[c].3 > 0, "{policy}: {seen:?}");
            assert!(seen[s].2 && seen[s].3 == 0, "{policy}: {seen:?}");
        }
        gc.shutdown().unwrap();
    }
}

#[test]
fn under_always_a_staged_batch_is_synced_at_its_commit() {
    let disk = FaultStore::new();
    let gc = GroupCommit::start(disk.clone(), FsyncPolicy::Always);
    let steps: Steps = Arc::default();
    submit_staged(&gc, &disk, &steps, 1);
    assert_eq!(
        wait_steps(&steps, 2),
        [(1, false, true, 0), (1, true, true, 0)]
    );
    gc.shutdown().unwrap();
}

#[test]
fn a_failed_background_fsync_reaches_the_batches_it_was_to_cover() {
    let disk = FaultStore::new();
    // The second call to the store (the fsync after the first commit) fails.
    disk.fail_after(2, FaultKind::Fsync);
    let gc = GroupCommit::start(
        disk.clone(),
        FsyncPolicy::Periodic(Duration::from_millis(20)),
    );
    let steps: Steps = Arc::default();
    submit_staged(&gc, &disk, &steps, 1);
    let seen = wait_steps(&steps, 2);
    assert_eq!(seen[0], (1, false, true, 1), "{seen:?}");
    assert_eq!(
        (seen[1].0, seen[1].1, seen[1].2),
        (1, true, false),
        "{seen:?}"
    );
    // A later batch is refused at its commit, and hears of no fsync.
    submit_staged(&gc, &disk, &steps, 2);
    let seen = wait_steps(&steps, 3);
    assert_eq!(
        (seen[2].0, seen[2].1, seen[2].2),
        (2, false, false),
        "{seen:?}"
    );
    assert!(gc.shutdown().is_err());
    assert_eq!(steps.lock().unwrap().len(), 3);
}
