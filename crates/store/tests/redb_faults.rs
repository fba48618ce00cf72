//! `RedbStore` over a disk that fails: a full disk, a failed write or a failed fsync stops the
//! store with an error saying which, acknowledges nothing that is not durable, never retries
//! the fsync, and leaves what was durable before it readable after a restart.
//!
//! The disk ([`faulty_disk`]) is redb's in-memory backend behind a page cache that a power
//! loss empties; the writer is the real `GroupCommit` wherever acknowledgements matter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod faulty_disk;

use std::time::Duration;

use bytes::Bytes;
use faulty_disk::{Disk, enospc, storage_full};
use meridian_crdt::{ActorId, Dot};
use meridian_store::{Batch, CommitError, FsyncPolicy, GroupCommit, Loaded, RedbStore, Store};

const NAME: &str = "disk-under-test";
/// Bound on every wait for the writer thread.
const LIMIT: Duration = Duration::from_secs(30);

fn open(disk: &Disk) -> RedbStore {
    RedbStore::with_backend(disk.backend(), NAME).unwrap()
}

/// Batch `i`: op `1:i` and state key `k/i`.
fn batch(i: u64) -> Batch {
    Batch {
        log: vec![(Dot::new(ActorId(1), i), Bytes::from(format!("op {i}")))],
        state: vec![(
            Bytes::from(format!("k/{i:03}")),
            Some(Bytes::from(format!("v {i}"))),
        )],
        ..Batch::default()
    }
}

/// What a store holds after batches `1..=n`.
fn upto(n: u64) -> Loaded {
    Loaded {
        log: (1..=n)
            .map(|i| (Dot::new(ActorId(1), i), Bytes::from(format!("op {i}"))))
            .collect(),
        state: (1..=n)
            .map(|i| {
                (
                    Bytes::from(format!("k/{i:03}")),
                    Bytes::from(format!("v {i}")),
                )
            })
            .collect(),
        meta: Default::default(),
    }
}

/// What a store opened after a power loss loads.
fn after_power_loss(disk: &Disk) -> Loaded {
    open(&disk.after_power_loss()).load().unwrap()
}

fn assert_failed_after(result: Result<(), CommitError>, first: fn(&CommitError) -> bool) {
    match result {
        Err(CommitError::Failed { first: f }) if first(&f) => {}
        other => panic!("expected Failed after the first failure, got {other:?}"),
    }
}

#[test]
fn a_full_disk_during_a_commit_is_reported_as_disk_full_and_acknowledges_nothing() {
    for error in [enospc, storage_full] {
        let disk = Disk::new();
        let gc = GroupCommit::start(open(&disk), FsyncPolicy::Always);
        gc.submit(batch(1)).wait().unwrap();
        gc.submit(batch(2)).wait().unwrap();
        disk.fail_write_after(1, error);
        let err = gc.submit(batch(3)).wait().unwrap_err();
        assert!(matches!(err, CommitError::DiskFull(_)), "{err:?}");
        let shown = err.to_string();
        assert!(shown.starts_with("disk full: "), "{shown}");
        assert!(shown.contains(&error().to_string()), "{shown}");
        assert_failed_after(gc.submit(batch(4)).wait(), |e| {
            matches!(e, CommitError::DiskFull(_))
        });
        assert!(matches!(gc.shutdown(), Err(CommitError::DiskFull(_))));
        assert_eq!(disk.stats().failed_writes, 1);
        assert_eq!(after_power_loss(&disk), upto(2));
        assert_eq!(open(&disk).load().unwrap(), upto(2));
    }
}

#[test]
fn a_failed_fsync_under_always_acknowledges_nothing_of_its_batch_or_any_later_one() {
    let disk = Disk::new();
    let gc = GroupCommit::start(open(&disk), FsyncPolicy::Always);
    gc.submit(batch(1)).wait().unwrap();
    gc.submit(batch(2)).wait().unwrap();
    disk.fail_sync_after(1);
    let err = gc.submit(batch(3)).wait().unwrap_err();
    assert!(matches!(err, CommitError::Fsync(_)), "{err:?}");
    assert!(err.to_string().starts_with("fsync failed: "), "{err}");
    for i in 4..=6 {
        assert_failed_after(gc.submit(batch(i)).wait(), |e| {
            matches!(e, CommitError::Fsync(_))
        });
    }
    assert!(matches!(gc.shutdown(), Err(CommitError::Fsync(_))));
    // The first of the commit's fsyncs failed, before anything of batch 3 was durable.
    assert_eq!(after_power_loss(&disk), upto(2));
}

#[test]
fn a_failed_fsync_is_never_retried_by_the_store() {
    let disk = Disk::new();
    let mut store = open(&disk);
    store.commit(&batch(1), true).unwrap();
    store.commit(&batch(2), false).unwrap();
    disk.fail_sync_after(1);
    assert!(matches!(store.sync(), Err(CommitError::Fsync(_))));
    let syncs = disk.stats().syncs;
    assert_failed_after(store.sync(), |e| matches!(e, CommitError::Fsync(_)));
    assert_failed_after(store.commit(&batch(3), true), |e| {
        matches!(e, CommitError::Fsync(_))
    });
    assert_failed_after(store.commit(&batch(3), false), |e| {
        matches!(e, CommitError::Fsync(_))
    });
    drop(store);
    assert_eq!(disk.stats().syncs, syncs, "an fsync after the failed one");
    // Batch 2 was committed but never synced: the failed fsync dropped it.
    assert_eq!(after_power_loss(&disk), upto(1));
}

#[test]
fn a_failed_fsync_is_never_retried_by_group_commit() {
    let disk = Disk::new();
    let gc = GroupCommit::start(open(&disk), FsyncPolicy::Always);
    gc.submit(batch(1)).wait().unwrap();
    disk.fail_sync_after(1);
    assert!(gc.submit(batch(2)).wait().is_err());
    let syncs = disk.stats().syncs;
    let tickets: Vec<_> = (3..=20).map(|i| gc.submit(batch(i))).collect();
    for ticket in tickets {
        assert!(ticket.wait().is_err());
    }
    assert!(gc.shutdown().is_err());
    assert_eq!(disk.stats().syncs, syncs, "an fsync after the failed one");

    // Under `never`, the one fsync is the final one at shutdown: it fails once, and is not
    // tried again when the store closes.
    let disk = Disk::new();
    let gc = GroupCommit::start(open(&disk), FsyncPolicy::Never);
    gc.submit(batch(1)).wait().unwrap();
    let before = disk.stats().syncs;
    disk.fail_sync_after(1);
    assert!(matches!(gc.shutdown(), Err(CommitError::Fsync(_))));
    assert_eq!(disk.stats().syncs, before + 1);
    assert_eq!(after_power_loss(&disk), upto(0));
}

#[test]
fn periodic_group_commit_reports_a_failed_background_fsync_to_the_next_submitter() {
    let disk = Disk::new();
    let gc = GroupCommit::start(open(&disk), FsyncPolicy::Periodic(Duration::from_millis(1)));
    let before = disk.stats().syncs;
    disk.fail_sync_after(1);
    // Acknowledged at its commit, before the fsync that will fail.
    gc.submit(batch(1)).wait().unwrap();
    assert!(
        disk.wait_until(LIMIT, |s| s.failed_syncs == 1),
        "no background fsync within {LIMIT:?}"
    );
    assert_eq!(disk.stats().syncs, before + 1);
    assert_failed_after(gc.submit(batch(2)).wait(), |e| {
        matches!(e, CommitError::Fsync(_))
    });
    assert!(matches!(gc.shutdown(), Err(CommitError::Fsync(_))));
    assert_eq!(
        disk.stats().syncs,
        before + 1,
        "an fsync after the failed one"
    );
    // Batch 1 is the acknowledged loss that `periodic` allows: it was never durable.
    assert_eq!(after_power_loss(&disk), upto(0));
}
