//! Replays the `automerge-paper` editing trace (259,778 keystrokes and deletes by one writer)
//! through Meridian's sequence CRDT and, in the same run, through `yrs` (the Rust port of Yjs)
//! and `diamond-types`: time (best of five, in this process), memory (the growth of peak RSS
//! during one replay, each library in a child process of its own, with the peak reset through
//! `/proc/self/clear_refs` once the trace is loaded), and the final document checked against
//! `endContent`.
//!
//! `cargo bench -p meridian-crdt --bench text_trace`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use meridian_bench::status_kib;
use meridian_crdt::seq::{Sequence, Text};
use meridian_crdt::{ActorId, Dot};

#[path = "../tests/support/traces.rs"]
mod traces;

use traces::Patch;

fn load() -> (Vec<Patch>, String) {
    let trace = traces::load(env!("CARGO_MANIFEST_DIR"), "automerge-paper");
    let patches = trace.patches().cloned().collect();
    (patches, trace.end)
}

/// Best time of five replays; each must end at `end`.
fn best_time(replay: Replay, patches: &[Patch], end: &str) -> (Duration, Option<usize>) {
    let mut best = Duration::MAX;
    let mut encoded = None;
    for _ in 0..5 {
        let start = Instant::now();
        let replayed = replay(patches);
        best = best.min(start.elapsed());
        let (text, size) = replayed();
        assert_eq!(text, end, "the replay must end at endContent");
        encoded = size;
    }
    (best, encoded)
}

/// In a child process: the peak RSS growth of one replay by `name`, in KiB. The child reads
/// the patches from `patches` (written by [`save`]) into allocations it keeps, so the replay
/// cannot grow into memory the loading freed.
fn peak_growth_kib(name: &str, patches: &std::path::Path) -> Option<u64> {
    let out = std::process::Command::new(std::env::current_exe().ok()?)
        .arg("--memory")
        .arg(name)
        .arg(patches)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// The patches, one per line: `pos del ins` with `ins` escaped as JSON.
fn save(patches: &[Patch], path: &std::path::Path) {
    let mut out = String::new();
    for Patch(pos, del, ins) in patches {
        out.push_str(&format!(
            "{pos} {del} {}\n",
            serde_json::to_string(ins).unwrap()
        ));
    }
    std::fs::write(path, out).unwrap();
}

fn read_saved(path: &str) -> Vec<Patch> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut patches = Vec::with_capacity(text.lines().count());
    for line in text.lines() {
        let mut parts = line.splitn(3, ' ');
        let pos = parts.next().unwrap().parse().unwrap();
        let del = parts.next().unwrap().parse().unwrap();
        let ins: String = serde_json::from_str(parts.next().unwrap()).unwrap();
        patches.push(Patch(pos, del, ins));
    }
    patches
}

fn meridian(patches: &[Patch]) -> Replayed {
    let mut seq = Sequence::<Text>::new();
    let actor = ActorId(1);
    let mut next = 1;
    for Patch(pos, del, ins) in patches {
        if *del > 0 {
            let d = seq.prepare_delete(*pos, *del).unwrap();
            seq.apply_delete(&d).unwrap();
            next += 1;
        }
        if !ins.is_empty() {
            let ins = seq.prepare_insert(*pos, Text(ins.clone())).unwrap();
            seq.apply_insert(Dot::new(actor, next), &ins).unwrap();
            next += 1;
        }
    }
    Box::new(move || (seq.text(), None))
}

/// The same patches as text-key ops through a `Keyspace`: one op per patch (its delete and
/// insert together, as `Node::text_splice` makes it), prepared from the state, applied with
/// the digest kept up to date; the encoded size is the key's canonical (stored) state.
/// The trace as one writer's ops on a text key: the keyspace, its applied vector, the key.
fn replay_key(
    patches: &[Patch],
) -> (
    meridian_crdt::Keyspace,
    meridian_crdt::VersionVector,
    bytes::Bytes,
) {
    use meridian_crdt::{Command, Keyspace, OpMeta, Splice, VersionVector, hlc};
    let mut ks = Keyspace::new();
    let mut applied = VersionVector::new();
    let actor = ActorId(1);
    let key = bytes::Bytes::from_static(b"paper");
    for (i, Patch(pos, del, ins)) in patches.iter().enumerate() {
        let command = Command::Text(Splice::replace(*pos, *del, Text(ins.clone())));
        let payload = ks.prepare(&key, command, &applied).unwrap();
        let seq = i as u64 + 1;
        let meta = OpMeta {
            dot: Dot::new(actor, seq),
            hlc: hlc(seq, 0),
            deps: &applied,
        };
        ks.apply(&key, meta, &payload);
        applied.set(actor, seq);
    }
    (ks, applied, key)
}

fn meridian_key(patches: &[Patch]) -> Replayed {
    let (ks, _, key) = replay_key(patches);
    Box::new(move || {
        let text = ks.text(&key).unwrap().unwrap().text();
        (text, ks.encode_key(&key).map(|b| b.len()))
    })
}

/// `meridian key`, then the tombstones collected as every region of a quiet cluster does
/// once every op is everywhere: what the document costs at rest.
fn meridian_collected(patches: &[Patch]) -> Replayed {
    let (mut ks, applied, key) = replay_key(patches);
    let epoch = ks.next_epoch();
    ks.collect_tombstones(&applied, epoch, |_| {});
    Box::new(move || {
        let text = ks.text(&key).unwrap().unwrap().text();
        (text, ks.encode_key(&key).map(|b| b.len()))
    })
}

/// yrs, one transaction per patch, as an editor commits keystrokes. (One transaction for the
/// whole trace was slower still here: five replays did not finish in 13 minutes.)
fn yrs(patches: &[Patch]) -> Replayed {
    use yrs::{GetString, ReadTxn, StateVector, Text as _, Transact};
    let doc = yrs::Doc::new();
    let text = doc.get_or_insert_text("text");
    let apply = |txn: &mut yrs::TransactionMut<'_>, Patch(pos, del, ins): &Patch| {
        if *del > 0 {
            text.remove_range(txn, *pos as u32, *del as u32);
        }
        if !ins.is_empty() {
            text.insert(txn, *pos as u32, ins);
        }
    };
    for p in patches {
        apply(&mut doc.transact_mut(), p);
    }
    Box::new(move || {
        let txn = doc.transact();
        let encoded = txn.encode_state_as_update_v1(&StateVector::default()).len();
        (text.get_string(&txn), Some(encoded))
    })
}

fn diamond(patches: &[Patch]) -> Replayed {
    let mut doc = diamond_types::list::ListCRDT::new();
    let agent = doc.get_or_create_agent_id("seph");
    for Patch(pos, del, ins) in patches {
        if *del > 0 {
            doc.delete(agent, *pos as usize..(*pos + *del) as usize);
        }
        if !ins.is_empty() {
            doc.insert(agent, *pos as usize, ins);
        }
    }
    Box::new(move || {
        let encoded = doc
            .oplog
            .encode(diamond_types::list::encoding::EncodeOptions::default())
            .len();
        (doc.branch.content().to_string(), Some(encoded))
    })
}

/// A replayed document: read back (its text and encoded size) after the replay is measured.
type Replayed = Box<dyn FnOnce() -> (String, Option<usize>)>;

type Replay = fn(&[Patch]) -> Replayed;

const REPLAYS: [(&str, Replay); 5] = [
    ("meridian seq", meridian),
    ("meridian key", meridian_key),
    ("yrs", yrs),
    ("diamond-types", diamond),
    ("meridian at rest", meridian_collected),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--memory") {
        let (name, path) = (&args[i + 1], &args[i + 2]);
        let patches = read_saved(path);
        let replay = REPLAYS.iter().find(|(n, _)| n == name).expect("a replay").1;
        // The patches are loaded: from here, the peak grows only with the replay.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let base = status_kib("VmRSS:");
        let kept = replay(&patches);
        println!("{}", status_kib("VmHWM:").saturating_sub(base));
        drop(kept);
        return;
    }
    let (patches, end) = load();
    println!(
        "automerge-paper: {} patches, {} characters at the end",
        patches.len(),
        end.chars().count()
    );
    let saved = std::env::temp_dir().join(format!("text_trace_{}.patches", std::process::id()));
    save(&patches, &saved);
    println!(
        "{:<16} {:>10} {:>16} {:>12}",
        "", "time ms", "peak RSS +KiB", "encoded B"
    );
    let mut figures = Vec::new();
    for (name, replay) in REPLAYS {
        let (best, encoded) = best_time(replay, &patches, &end);
        let peak = peak_growth_kib(name, &saved);
        println!(
            "{name:<16} {:>10.1} {:>16} {:>12}",
            best.as_secs_f64() * 1e3,
            peak.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            encoded.map_or_else(|| "-".to_owned(), |e| e.to_string())
        );
        figures.push((best, peak));
    }
    let _ = std::fs::remove_file(&saved);
    let (yrs_t, yrs_m) = figures[2];
    for (name, (ours_t, ours_m)) in [("seq", figures[0]), ("key", figures[1])] {
        println!(
            "meridian {name} / yrs: time {:.2}x, peak RSS growth {}",
            ours_t.as_secs_f64() / yrs_t.as_secs_f64(),
            match (ours_m, yrs_m) {
                (Some(o), Some(y)) if y > 0 => format!("{:.2}x", o as f64 / y as f64),
                _ => "-".to_owned(),
            }
        );
    }
}
