//! The log tables of a [`super::RedbStore`]: `log_runs`, `(origin, first seq) -> run`, where
//! every batch's ops go; and `log`, `(origin, seq) -> op`, the one-record-per-op layout of
//! earlier builds, still read and truncated (never written), so that a store made by them
//! opens with its log intact.
//!
//! Invariant: for each origin, the stored runs cover disjoint seq ranges, and together with
//! the legacy records they hold every entry appended and not truncated, each once.

use std::collections::BTreeMap;
use std::ops::Range;

use bytes::Bytes;
use meridian_crdt::{ActorId, Dot};
use redb::{ReadTransaction, ReadableTable, Table as RedbTable, TableDefinition};

use crate::{LoadError, Table, record, run};

pub(super) const RUNS: TableDefinition<'_, (u32, u64), &[u8]> = TableDefinition::new("log_runs");
pub(super) const LEGACY: TableDefinition<'_, (u32, u64), &[u8]> = TableDefinition::new("log");

type Runs<'t> = RedbTable<'t, (u32, u64), &'static [u8]>;

/// An entry's seq and its bytes' range in its run's payload.
type Numbered = (u64, Range<usize>);

/// Appends `entries` (any order; a later entry for the same dot wins) as runs.
pub(super) fn append(
    runs: &mut Runs<'_>,
    entries: &[(Dot, Bytes)],
    buf: &mut Vec<u8>,
) -> Result<(), redb::Error> {
    let mut sorted: Vec<&(Dot, Bytes)> = entries.iter().collect();
    sorted.sort_by_key(|e| e.0); // stable: of equal dots, the later stays later
    for one_origin in sorted.chunk_by(|a, b| a.0.actor == b.0.actor) {
        let origin = one_origin[0].0.actor.0;
        // Later wins among equal dots.
        let mut fresh: Vec<(u64, &[u8])> = Vec::with_capacity(one_origin.len());
        for (dot, op) in one_origin.iter().map(|e| (e.0, &e.1)) {
            match fresh.last_mut() {
                Some(last) if last.0 == dot.seq => last.1 = op,
                _ => fresh.push((dot.seq, op)),
            }
        }
        let (first, last) = (fresh[0].0, fresh[fresh.len() - 1].0);
        let overlapping = overlapping(runs, origin, first, last)?;
        if overlapping.is_empty() {
            write_runs(runs, origin, fresh.into_iter(), buf)?;
        } else {
            // Re-appending entries already stored (no caller does): rewrite the runs they
            // fall in, the new entries replacing the old.
            let mut merged: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
            for start in overlapping {
                let stored = runs
                    .remove((origin, start))?
                    .map(|v| v.value().to_vec())
                    .unwrap_or_default();
                let (payload, entries) = decoded(&stored, origin, start)?;
                for (seq, range) in entries {
                    merged.insert(seq, payload[range].to_vec());
                }
            }
            for (seq, op) in fresh {
                merged.insert(seq, op.to_vec());
            }
            write_runs(
                runs,
                origin,
                merged.iter().map(|(s, op)| (*s, &op[..])),
                buf,
            )?;
        }
    }
    Ok(())
}

/// Drops every entry of `origin` with seq `<= upto`, keeping the tail of a run that reaches
/// past it.
pub(super) fn truncate(
    runs: &mut Runs<'_>,
    legacy: &mut Runs<'_>,
    origin: u32,
    upto: u64,
    buf: &mut Vec<u8>,
) -> Result<(), redb::Error> {
    legacy.retain_in((origin, 0u64)..=(origin, upto), |_, _| false)?;
    let Some((last_start, stored)) = runs
        .range((origin, 0u64)..=(origin, upto))?
        .next_back()
        .transpose()?
        .map(|(k, v)| (k.value().1, v.value().to_vec()))
    else {
        return Ok(());
    };
    // Checked even when the run ends within the truncation: a damaged run is an error,
    // never dropped with entries past `upto` in it.
    let (payload, entries) = decoded(&stored, origin, last_start)?;
    runs.retain_in((origin, 0u64)..=(origin, upto), |_, _| false)?;
    let kept = entries
        .into_iter()
        .filter(|(seq, _)| *seq > upto)
        .map(|(seq, range)| (seq, &payload[range]));
    write_runs(runs, origin, kept, buf)
}

/// Every entry, sorted by dot.
pub(super) fn load(txn: &ReadTransaction, out: &mut Vec<(Dot, Bytes)>) -> Result<(), LoadError> {
    let legacy = txn.open_table(LEGACY).map_err(super::read_error)?;
    let mut old = Vec::new();
    for item in legacy.iter().map_err(super::read_error)? {
        let (k, v) = item.map_err(super::read_error)?;
        let (origin, seq) = k.value();
        let op = record::decode(v.value())
            .map_err(super::corrupt(Table::Log, format!("{origin}:{seq}")))?;
        old.push((Dot::new(ActorId(origin), seq), Bytes::copy_from_slice(op)));
    }

    let runs = txn.open_table(RUNS).map_err(super::read_error)?;
    for item in runs.iter().map_err(super::read_error)? {
        let (k, v) = item.map_err(super::read_error)?;
        let (origin, start) = k.value();
        let (payload, entries) = numbered_entries(v.value(), start)
            .map_err(super::corrupt(Table::Log, format!("{origin}:{start}")))?;
        // One copy per run; the entries share it.
        let payload = Bytes::copy_from_slice(payload);
        for (seq, range) in entries {
            out.push((Dot::new(ActorId(origin), seq), payload.slice(range)));
        }
    }

    if !old.is_empty() {
        // A store from an earlier build: both tables may hold entries of one origin (runs
        // were written after the legacy records, so a run wins a tie).
        let mut all: BTreeMap<Dot, Bytes> = old.into_iter().collect();
        all.extend(out.drain(..));
        out.extend(all);
    }
    Ok(())
}

/// The starts of the runs of `origin` that hold any seq in `first..=last`.
fn overlapping(
    runs: &Runs<'_>,
    origin: u32,
    first: u64,
    last: u64,
) -> Result<Vec<u64>, redb::Error> {
    let mut starts = Vec::new();
    if let Some(item) = runs.range((origin, 0u64)..=(origin, first))?.next_back() {
        let (k, v) = item?;
        let start = k.value().1;
        // The count is read unchecked here; a run that claims to overlap is decoded, and
        // checked, before anything is rewritten.
        let count = count_of(v.value());
        // Its last seq, `start + count - 1`, reaches `first` (saturating: a run that ends
        // at the largest seq cannot be written past it).
        if count > 0 && start.saturating_add(count - 1) >= first {
            starts.push(start);
        }
    }
    if let Some(after) = first.checked_add(1).filter(|a| *a <= last) {
        for item in runs.range((origin, after)..=(origin, last))? {
            starts.push(item?.0.value().1);
        }
    }
    Ok(starts)
}

/// The entry count a stored run's payload begins with, without checking the record.
fn count_of(stored: &[u8]) -> u64 {
    stored
        .get(record::HEADER_LEN..)
        .and_then(|p| p.first_chunk::<4>())
        .map_or(0, |c| u64::from(u32::from_le_bytes(*c)))
}

/// A stored run's payload and its entries' ranges; damage is a corruption error, so that a
/// commit that would have to rewrite a damaged run fails instead of dropping it.
fn decoded(stored: &[u8], origin: u32, start: u64) -> Result<(&[u8], Vec<Numbered>), redb::Error> {
    let (payload, entries) = numbered_entries(stored, start)
        .map_err(|e| redb::Error::Corrupted(format!("log run {origin}:{start}: {e}")))?;
    Ok((payload, entries.collect()))
}

/// A stored run's payload, once its envelope is checked, and its entries numbered from
/// `start`: what both the load and a rewrite read.
fn numbered_entries(
    stored: &[u8],
    start: u64,
) -> Result<(&[u8], impl Iterator<Item = Numbered>), record::RecordError> {
    let payload = record::decode(stored)?;
    let entries = run::decode(payload).and_then(|ranges| run::numbered(start, ranges))?;
    Ok((payload, entries))
}

/// Writes `entries` (seqs strictly ascending) as runs: a new run at every gap in the seqs
/// and wherever one would pass [`run::MAX_ENTRIES`] or [`run::MAX_BYTES`].
fn write_runs<'a>(
    runs: &mut Runs<'_>,
    origin: u32,
    entries: impl Iterator<Item = (u64, &'a [u8])>,
    buf: &mut Vec<u8>,
) -> Result<(), redb::Error> {
    let mut pending: Vec<&[u8]> = Vec::new();
    let mut start: u64 = 0;
    let mut bytes = 0;
    for (seq, op) in entries {
        // `None` past the largest seq: nothing can follow there.
        let next = start.checked_add(pending.len() as u64);
        let full = pending.len() >= run::MAX_ENTRIES || bytes + op.len() > run::MAX_BYTES;
        if !pending.is_empty() && (Some(seq) != next || full) {
            put_run(runs, origin, start, &pending, buf)?;
            pending.clear();
        }
        if pending.is_empty() {
            start = seq;
            bytes = 0;
        }
        pending.push(op);
        bytes += op.len();
    }
    if !pending.is_empty() {
        put_run(runs, origin, start, &pending, buf)?;
    }
    Ok(())
}

fn put_run(
    runs: &mut Runs<'_>,
    origin: u32,
    start: u64,
    entries: &[&[u8]],
    buf: &mut Vec<u8>,
) -> Result<(), redb::Error> {
    buf.clear();
    buf.reserve(record::HEADER_LEN + 4 + entries.iter().map(|e| 4 + e.len()).sum::<usize>());
    record::encode_with(buf, |out| run::encode_into(entries.iter().copied(), out));
    runs.insert((origin, start), &buf[..])?;
    Ok(())
}
