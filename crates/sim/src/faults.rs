//! Fault mixes and the schedule of faults a seed draws.

use std::fmt;
use std::str::FromStr;

use meridian_crdt::ActorId;
use meridian_replica::{Millis, Topology};
use rand::Rng;

/// Which faults a run injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultMix {
    /// A perfect network: the steady state.
    None,
    /// Frames lost, duplicated and reordered.
    Lossy,
    /// Links cut and healed, a region isolated.
    Partitions,
    /// Nodes crash (losing what was not persisted) and restart.
    Crashes,
    /// A leader's store fails (a write, an fsync, a full disk): it must stop acknowledging
    /// and accepting writes, keep serving reads, and come back after a restart.
    Disk,
    /// One region away (all its links cut) for most of the run, longer than the others'
    /// log retention: it must come back by state snapshot.
    Away,
    /// All of the above, and clock skew.
    All,
    /// A leader's disk is replaced: it loses its whole store and comes back on an empty one
    /// (`Replica::rejoin`), so it must learn its own history from its peers before writing
    /// and never reuse a sequence number. Not part of `All`.
    ReplacedDisk,
    /// As `ReplacedDisk`, with one neighbour lagging: it was cut off from everyone for a while
    /// before the disk went, so it lacks the node's last writes, and it is the only neighbour
    /// the node reaches when it comes back; the others follow later.
    ReplacedDiskLaggingPeer,
}

impl FaultMix {
    /// Every mix, in order.
    pub const ALL: [FaultMix; 9] = [
        FaultMix::None,
        FaultMix::Lossy,
        FaultMix::Partitions,
        FaultMix::Crashes,
        FaultMix::Disk,
        FaultMix::Away,
        FaultMix::All,
        FaultMix::ReplacedDisk,
        FaultMix::ReplacedDiskLaggingPeer,
    ];

    pub(crate) fn lossy(self) -> bool {
        matches!(self, FaultMix::Lossy | FaultMix::All)
    }

    pub(crate) fn partitions(self) -> bool {
        matches!(self, FaultMix::Partitions | FaultMix::All)
    }

    pub(crate) fn crashes(self) -> bool {
        matches!(self, FaultMix::Crashes | FaultMix::All)
    }

    pub(crate) fn disk(self) -> bool {
        matches!(self, FaultMix::Disk | FaultMix::All)
    }

    /// Whether a region is away past the retention (`away`, `all`).
    pub(crate) fn away(self) -> bool {
        matches!(self, FaultMix::Away | FaultMix::All)
    }

    pub(crate) fn skew(self) -> bool {
        matches!(self, FaultMix::All)
    }

    pub(crate) fn replaced_disk(self) -> bool {
        matches!(
            self,
            FaultMix::ReplacedDisk | FaultMix::ReplacedDiskLaggingPeer
        )
    }

    /// Whether this mix can happen on `topology`, and if not, why: every mix but `none`,
    /// `crashes` and `disk` acts on links (or, for a replaced disk, on the peers a node learns
    /// its history back from), so it needs two regions or more. A run of a mix whose fault
    /// cannot happen would prove nothing about it.
    pub fn check(self, topology: &Topology) -> Result<(), String> {
        let needs_links = self.lossy() || self.partitions() || self.away() || self.replaced_disk();
        if needs_links && topology.links.is_empty() {
            return Err(format!(
                "the {self} mix acts on the links between regions, and cluster {:?} has {} region{} and no link: run it with --faults none, crashes or disk, or give it two regions or more",
                topology.cluster,
                topology.nodes.len(),
                if topology.nodes.len() == 1 { "" } else { "s" },
            ));
        }
        Ok(())
    }
}

impl fmt::Display for FaultMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultMix::None => "none",
            FaultMix::Lossy => "lossy",
            FaultMix::Partitions => "partitions",
            FaultMix::Crashes => "crashes",
            FaultMix::Disk => "disk",
            FaultMix::Away => "away",
            FaultMix::All => "all",
            FaultMix::ReplacedDisk => "replaced-disk",
            FaultMix::ReplacedDiskLaggingPeer => "replaced-disk-lagging-peer",
        })
    }
}

impl FromStr for FaultMix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultMix::ALL
            .into_iter()
            .find(|m| m.to_string() == s)
            .ok_or_else(|| {
                format!(
                    "unknown fault mix {s:?}: use none, lossy, partitions, crashes, disk, away, all, replaced-disk or replaced-disk-lagging-peer"
                )
            })
    }
}

/// Probabilities for lossy links.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lossy {
    pub(crate) loss: f64,
    pub(crate) duplicate: f64,
    /// Extra latency drawn uniformly up to this fraction of the link's latency: reorders.
    pub(crate) jitter: f64,
}

/// A fault at a moment of virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Cut(ActorId, ActorId),
    Heal(ActorId, ActorId),
    Crash(ActorId),
    Restart(ActorId),
    /// The node's store fails at its next few writes.
    DiskFail(ActorId),
    /// The node dies and its disk is destroyed: its next restart is on an empty store.
    LoseDisk(ActorId),
}

/// Where in the persistence of a batch a crash strikes. A batch goes through every step in
/// this order; under the `periodic` and `never` fsync policies it is reported (and its local
/// writes acknowledged) right after its write, and synced later by the periodic fsync (or
/// never), so `Reported` comes before `Synced` there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashPoint {
    /// An op is accepted (a local write applied, or an op from a peer taken), not yet
    /// written: the crash loses it, and nobody was told about it.
    Accepted,
    /// The batch is written, not synced, not yet reported to the replica: the crash loses
    /// it, and nobody was told about it.
    Committed,
    /// The batch is synced, not yet reported (`always`): durable but never acknowledged.
    /// Under `periodic`: right after a periodic fsync. Never reached under `never`.
    Synced,
    /// The batch was reported to the replica: its local writes are acknowledged and its ops
    /// sent on. Under `always` nothing is lost; under `periodic` and `never` the crash loses
    /// every acknowledged write not yet synced, though peers may hold some of them.
    Reported,
}

impl CrashPoint {
    /// Every point, in pipeline order under `always`.
    pub const ALL: [CrashPoint; 4] = [
        CrashPoint::Accepted,
        CrashPoint::Committed,
        CrashPoint::Synced,
        CrashPoint::Reported,
    ];

    /// The points a crash is drawn from when none is forced: under `always` the three where
    /// something is in flight; otherwise the three before the (later, or absent) fsync.
    pub(crate) fn drawn(always: bool) -> [CrashPoint; 3] {
        if always {
            [
                CrashPoint::Accepted,
                CrashPoint::Committed,
                CrashPoint::Synced,
            ]
        } else {
            [
                CrashPoint::Accepted,
                CrashPoint::Committed,
                CrashPoint::Reported,
            ]
        }
    }
}

impl fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CrashPoint::Accepted => "accepted",
            CrashPoint::Committed => "committed",
            CrashPoint::Synced => "synced",
            CrashPoint::Reported => "reported",
        })
    }
}

/// Draws the faults of one run, all ending by `end`.
pub(crate) fn schedule(
    rng: &mut impl Rng,
    mix: FaultMix,
    nodes: &[ActorId],
    leaders: &[ActorId],
    links: &[(ActorId, ActorId)],
    end: Millis,
) -> Vec<(Millis, Fault)> {
    let mut faults = Vec::new();
    // With clock skew, the first leader's clock is the skewed one and is seen only through its
    // writes: crashes and store failures strike the others, where there are others.
    let spared = |pool: &[ActorId]| -> Vec<ActorId> {
        let others: Vec<ActorId> = pool
            .iter()
            .copied()
            .filter(|n| !mix.skew() || leaders.first() != Some(n))
            .collect();
        if others.is_empty() {
            pool.to_vec()
        } else {
            others
        }
    };
    let (nodes_spared, leaders_spared) = (spared(nodes), spared(leaders));
    if mix.partitions() && !links.is_empty() {
        // A few single links cut and healed.
        for _ in 0..rng.random_range(1..=3) {
            let (a, b) = links[rng.random_range(0..links.len())];
            let at = rng.random_range(0..end / 2);
            let until = at + rng.random_range(200..end / 3);
            faults.push((at, Fault::Cut(a, b)));
            faults.push((until.min(end), Fault::Heal(a, b)));
        }
        // One region cut off from all its neighbours.
        let island = nodes[rng.random_range(0..nodes.len())];
        let at = rng.random_range(0..end / 2);
        let until = (at + rng.random_range(500..end / 2)).min(end);
        for (a, b) in links.iter().filter(|(a, b)| *a == island || *b == island) {
            faults.push((at, Fault::Cut(*a, *b)));
            faults.push((until, Fault::Heal(*a, *b)));
        }
    }
    // A single leader whose store fails takes no writes: alone, that is the scenario; mixed with
    // everything else it would leave too few writes for the other faults to matter.
    let disk = mix == FaultMix::Disk || (mix.disk() && leaders_spared.len() > 1);
    if disk {
        let node = leaders_spared[rng.random_range(0..leaders_spared.len())];
        faults.push((rng.random_range(end / 10..end / 2), Fault::DiskFail(node)));
    }
    if mix.away() {
        // A region away from 20 % to 80 % of the window: far longer than the retention. Not
        // the first leader: its clock is the skewed one, seen only through its ops.
        let pool: Vec<ActorId> = nodes
            .iter()
            .copied()
            .filter(|n| leaders.first() != Some(n))
            .collect();
        let away = pool[rng.random_range(0..pool.len())];
        for (a, b) in links.iter().filter(|(a, b)| *a == away || *b == away) {
            faults.push((end / 5, Fault::Cut(*a, *b)));
            faults.push((end * 4 / 5, Fault::Heal(*a, *b)));
        }
    }
    if mix.crashes() {
        for i in 0..rng.random_range(1..=2) {
            // The first victim takes client writes, so its crash surely loses one in flight.
            let pool = if i == 0 && !leaders_spared.is_empty() {
                &leaders_spared
            } else {
                &nodes_spared
            };
            let node = pool[rng.random_range(0..pool.len())];
            let at = rng.random_range(0..end * 2 / 3);
            let until = (at + rng.random_range(50..3_000)).min(end);
            faults.push((at, Fault::Crash(node)));
            faults.push((until, Fault::Restart(node)));
        }
    }
    if mix.replaced_disk() {
        // One leader, so that it has a history of its own to learn back and writes again
        // after rejoining; after 20 % of the window, so that it wrote. One disk only: with
        // two, an op whose only copies were on both may be gone while ops that depend on it
        // survive, and those can never be applied (see the `never` fsync scenarios).
        let neighbours = |n: ActorId| -> Vec<ActorId> {
            links
                .iter()
                .filter_map(|(a, b)| match (*a == n, *b == n) {
                    (true, _) => Some(*b),
                    (_, true) => Some(*a),
                    _ => None,
                })
                .collect()
        };
        let lagging = mix == FaultMix::ReplacedDiskLaggingPeer;
        let pool: Vec<ActorId> = leaders_spared
            .iter()
            .copied()
            .filter(|n| !lagging || neighbours(*n).len() > 1)
            .collect();
        let pool = if pool.is_empty() {
            &leaders_spared
        } else {
            &pool
        };
        let node = pool[rng.random_range(0..pool.len())];
        let at = rng.random_range(end / 5..end / 2);
        let until = at + rng.random_range(200..2_000);
        faults.push((at, Fault::LoseDisk(node)));
        faults.push((until, Fault::Restart(node)));
        let around = neighbours(node);
        if lagging && around.len() > 1 {
            // The lagging neighbour is cut off from everyone, so that no other path brings it
            // the node's last writes; it comes back as the node does.
            let behind = around[rng.random_range(0..around.len())];
            let from = at - rng.random_range(300..1_500);
            for peer in neighbours(behind) {
                faults.push((from, Fault::Cut(behind, peer)));
                faults.push((until, Fault::Heal(behind, peer)));
            }
            for other in around.into_iter().filter(|n| *n != behind) {
                let back = until + rng.random_range(300..1_500);
                faults.push((at, Fault::Cut(node, other)));
                faults.push((back, Fault::Heal(node, other)));
            }
        }
    }
    faults.sort_by_key(|(t, _)| *t);
    faults
}
