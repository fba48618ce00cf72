//! The driver: the one place the sans-IO replica meets the world.
//!
//! The replica lives in [`Core`] behind a mutex, as quinn keeps quinn-proto's connection:
//! whoever has an input (a client write, a frame from a link, a finished store commit, a
//! timer) locks, calls the replica's `handle_*`, then drains `poll_output` and carries out
//! every output in order before unlocking. Carrying out never blocks: a batch is handed to the
//! store's writer thread, a message is queued for a link's writer task, an acknowledgement is
//! a oneshot send. So outputs leave in exactly the replica's order: a batch is queued for the
//! store before anything the replica sends after it, and the replica sends an op, or
//! acknowledges a local write, only once the store reported the op's batch durable
//! (persist before send, persist before ack).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use meridian_crdt::seq::Delta;
use meridian_crdt::{ActorId, Dot, Payload, Value};
use meridian_replica::{Message, Millis, Output, PeerError, Replica, WriteError};
use meridian_store::{CommitError, FsyncPolicy, GroupCommit};
use tokio::sync::{Notify, broadcast, mpsc, oneshot};

use crate::config::NodeConfig;

/// One change to a key, local or remote, as the change feed delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The key.
    pub key: Bytes,
    /// The op that changed it; `None` when a state snapshot from a peer changed it.
    pub dot: Option<Dot>,
    /// Whether the write was made at this node.
    pub local: bool,
    /// The key's value right after the change; `None` when the key holds nothing, and when
    /// `edits` says what changed instead.
    pub value: Option<Value>,
    /// For a list or text changed by an op: what changed, by position, in order, so that an
    /// editor applies it to its copy without re-reading the document (which would cost its
    /// length at every keystroke). `None` for other keys, and after a snapshot merge, which
    /// carries `value`: re-read then.
    pub edits: Option<Vec<Edit>>,
}

/// One positional change to a list or a text, as an editor applies it to its copy. Positions
/// count elements: Unicode scalar values in a text, items in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// `text` now starts at `pos`.
    InsertText {
        /// Where.
        pos: u64,
        /// What.
        text: String,
    },
    /// `items` now start at `pos`.
    InsertItems {
        /// Where.
        pos: u64,
        /// What.
        items: Vec<Bytes>,
    },
    /// The `len` elements from `pos` are gone.
    Delete {
        /// Where.
        pos: u64,
        /// How many.
        len: u64,
    },
}

impl Edit {
    /// The edits an op made, from its deltas and the content its payload inserted.
    fn of(payload: &Payload, deltas: &[Delta]) -> Vec<Edit> {
        deltas
            .iter()
            .filter_map(|d| match (*d, payload) {
                (Delta::Delete { pos, len }, _) => Some(Edit::Delete { pos, len }),
                // An op inserts one run at most: its payload's.
                (Delta::Insert { pos, .. }, Payload::Text(e)) => {
                    e.insert.as_ref().map(|i| Edit::InsertText {
                        pos,
                        text: i.content.0.clone(),
                    })
                }
                (Delta::Insert { pos, .. }, Payload::List(e)) => {
                    e.insert.as_ref().map(|i| Edit::InsertItems {
                        pos,
                        items: i.content.0.clone(),
                    })
                }
                (Delta::Insert { .. }, _) => None,
            })
            .collect()
    }
}

/// What a link's writer tasks are fed.
#[derive(Debug)]
pub(crate) struct LinkHandle {
    /// Tells this connection from an earlier or later one to the same peer.
    pub(crate) generation: u64,
    pub(crate) conn: quinn::Connection,
    /// Hello and gossip.
    pub(crate) control: mpsc::Sender<Message>,
    /// Ops and snapshot chunks.
    pub(crate) data: mpsc::Sender<Message>,
    /// The connection was closed for a full or stopped queue: nothing more is queued.
    pub(crate) closing: bool,
}

/// What status pages show of a link beyond what the replica knows.
#[derive(Debug, Clone, Default)]
pub(crate) struct LinkInfo {
    /// The newest problem on the link (a refusal, a protocol error, a lost connection).
    pub(crate) last_error: Option<String>,
    /// Cut by the operator: not dialled, refused when the peer dials.
    pub(crate) disabled: bool,
    /// Connections that completed the handshake so far.
    pub(crate) connects: u64,
    /// UDP payload bytes sent and received on this link's earlier connections.
    pub(crate) wire_sent: u64,
    pub(crate) wire_received: u64,
}

/// A refused or failed connection that did not become a link (for status and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalRecord {
    /// The remote address.
    pub remote: std::net::SocketAddr,
    /// A short label ("no_certificate", "other_ca", "wrong_name", ...).
    pub kind: &'static str,
    /// The reason, as logged.
    pub reason: String,
}

/// Refusals kept for the status page.
const REFUSALS_KEPT: usize = 32;

pub(crate) struct Core {
    /// This node's name, for logs.
    pub(crate) name: String,
    topology: Arc<meridian_replica::Topology>,
    pub(crate) replica: Replica,
    /// `None` once shut down.
    pub(crate) writer: Option<GroupCommit>,
    /// The writer's policy: under `always` a commit report means synced too.
    fsync: FsyncPolicy,
    /// The node is shutting down: its link tasks stop, and a send that finds one stopped is
    /// expected, not news.
    pub(crate) stopping: bool,
    /// Where the writer's reports go; `None` once shut down.
    pub(crate) persisted: Option<mpsc::UnboundedSender<StoreReport>>,
    pub(crate) links: BTreeMap<ActorId, LinkHandle>,
    pub(crate) link_info: BTreeMap<ActorId, LinkInfo>,
    pub(crate) refusals: Vec<RefusalRecord>,
    /// Local writes waiting for durability, by seq.
    acks: HashMap<u64, oneshot::Sender<Result<(), WriteError>>>,
    pub(crate) feed: broadcast::Sender<Arc<Change>>,
    pub(crate) next_generation: u64,
    /// The keys client connections WATCH: what a transaction's EXEC checks.
    pub(crate) watches: Watches,
    /// Pub/sub messages for this region's subscribers, as the replica delivers them.
    pub(crate) messages: broadcast::Sender<Arc<Delivered>>,
}

/// A pub/sub message delivered at this region.
#[derive(Debug)]
pub(crate) struct Delivered {
    pub(crate) channel: Bytes,
    pub(crate) message: Bytes,
}

/// The keys some connection WATCHes, each with how many watch it and how many times an op
/// (local, or another region's applied here) or a state merge changed it since it was first
/// watched. A connection notes a key's count when it watches it; EXEC runs only if every
/// count is unchanged.
#[derive(Debug, Default)]
pub(crate) struct Watches {
    keys: HashMap<Bytes, (usize, u64)>,
}

impl Watches {
    /// Watches `key` once more; its change count now.
    pub(crate) fn watch(&mut self, key: &Bytes) -> u64 {
        let entry = self.keys.entry(key.clone()).or_insert((0, 0));
        entry.0 += 1;
        entry.1
    }

    /// Stops one watch of `key`.
    pub(crate) fn unwatch(&mut self, key: &[u8]) {
        if let Some(entry) = self.keys.get_mut(key) {
            entry.0 -= 1;
            if entry.0 == 0 {
                self.keys.remove(key);
            }
        }
    }

    /// `key`'s change count, if watched.
    pub(crate) fn changes(&self, key: &[u8]) -> Option<u64> {
        self.keys.get(key).map(|(_, changes)| *changes)
    }

    /// Counts a change of `key`, if watched: every applied op passes here, and with no
    /// watch anywhere (the common case) it costs no hash of the key.
    fn touch(&mut self, key: &[u8]) {
        if self.keys.is_empty() {
            return;
        }
        if let Some(entry) = self.keys.get_mut(key) {
            entry.1 += 1;
        }
    }
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("node", &self.replica.id())
            .field("links", &self.links.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The store writer's verdict on one submitted batch, at each of its two steps.
pub(crate) struct StoreReport {
    pub(crate) batch: u64,
    /// `false`: the batch was committed (under `always`, also synced); `true`: an fsync
    /// covers it.
    pub(crate) synced: bool,
    pub(crate) result: Result<(), CommitError>,
}

/// Everything the node's tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Read-locked by reads alone, so that connections answering GETs on different threads
    /// do not take turns (a mutex here put them to sleep on each other: a fifth of a node's
    /// CPU under `redis-benchmark -t get -P 16` went to futex wake-ups, BENCHMARKS.md 7i).
    core: RwLock<Core>,
    /// Held shared by every client command and embedded call while it reads or plans, and
    /// exclusively by a transaction (EXEC) for its whole run, so that no client of this node
    /// sees, or writes into, part of one. Taken before `core`, never while holding it.
    pub(crate) gate: RwLock<()>,
    /// The replica's next timer may have moved.
    pub(crate) timer: Notify,
    /// The replica took an input: vectors and the matrix clock may have moved.
    pub(crate) progress: Notify,
    epoch: Instant,
    pub(crate) config: NodeConfig,
    cluster_id: uuid::Uuid,
    pub(crate) shutdown: tokio_util::sync::CancellationToken,
}

/// How many changes a slow subscriber may fall behind before it is told it lagged.
const FEED_CAPACITY: usize = 8192;

impl Shared {
    pub(crate) fn new(
        replica: Replica,
        writer: GroupCommit,
        config: NodeConfig,
        cluster_id: uuid::Uuid,
    ) -> (Arc<Shared>, mpsc::UnboundedReceiver<StoreReport>) {
        let (persisted, persisted_rx) = mpsc::unbounded_channel();
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        let link_info = config
            .topology
            .neighbours(config.id)
            .map(|peer| (peer, LinkInfo::default()))
            .collect();
        let core = Core {
            name: config.node.clone(),
            topology: Arc::clone(&config.topology),
            replica,
            fsync: writer.policy(),
            stopping: false,
            writer: Some(writer),
            persisted: Some(persisted),
            links: BTreeMap::new(),
            link_info,
            refusals: Vec::new(),
            acks: HashMap::new(),
            feed,
            next_generation: 1,
            watches: Watches::default(),
            messages: broadcast::channel(FEED_CAPACITY).0,
        };
        let shared = Arc::new(Shared {
            core: RwLock::new(core),
            gate: RwLock::new(()),
            timer: Notify::new(),
            progress: Notify::new(),
            epoch: Instant::now(),
            config,
            cluster_id,
            shutdown: tokio_util::sync::CancellationToken::new(),
        });
        (shared, persisted_rx)
    }

    /// The cluster id, from the certificates.
    pub(crate) fn cluster_id(&self) -> uuid::Uuid {
        self.cluster_id
    }

    /// Milliseconds on the node's monotonic clock.
    pub(crate) fn now(&self) -> Millis {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The instant of a replica time.
    pub(crate) fn instant(&self, at: Millis) -> Instant {
        self.epoch + std::time::Duration::from_millis(at)
    }

    /// Locks the core to change it. A panic while it was held poisons nothing we rely on:
    /// the replica reports its own internal errors instead of panicking, so take the guard
    /// regardless.
    pub(crate) fn lock(&self) -> RwLockWriteGuard<'_, Core> {
        self.core.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds the transaction gate shared (`gate`): a client command or an embedded call.
    pub(crate) fn gate(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds the transaction gate alone: a transaction runs.
    pub(crate) fn gate_alone(&self) -> RwLockWriteGuard<'_, ()> {
        self.gate.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Locks the core to read it, beside other readers.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Core> {
        self.core.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the core, then carries out every output and wakes the timer task.
    pub(crate) fn with_core<T>(&self, f: impl FnOnce(&mut Core, Millis) -> T) -> T {
        let now = self.now();
        let result = {
            let mut core = self.lock();
            let result = f(&mut core, now);
            core.drain(now);
            result
        };
        self.timer.notify_one();
        self.progress.notify_waiters();
        result
    }
}

/// Wall-clock milliseconds since the Unix epoch.
pub(crate) fn wall() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Core {
    /// Registers a waiter for the acknowledgement of our own op `seq`.
    pub(crate) fn wait_ack(&mut self, seq: u64) -> oneshot::Receiver<Result<(), WriteError>> {
        let (tx, rx) = oneshot::channel();
        if let Some(reason) = self.replica.store_failure() {
            let _ = tx.send(Err(WriteError::StoreFailed(reason.to_owned())));
        } else {
            self.acks.insert(seq, tx);
        }
        rx
    }

    /// The store reported batch `batch`: committed, or synced.
    pub(crate) fn persisted(&mut self, now: Millis, report: StoreReport) {
        let StoreReport {
            batch,
            synced,
            result,
        } = report;
        let always = self.fsync == FsyncPolicy::Always;
        match result {
            // Under `always` the commit report comes after the fsync: durable at once.
            Ok(()) if !synced && always => self.replica.handle_persisted(now, batch),
            Ok(()) if !synced => self.replica.handle_written(now, batch),
            Ok(()) if always => {}
            Ok(()) => self.replica.handle_synced(now, batch),
            Err(e) => {
                let reason = e.to_string();
                tracing::error!(node = %self.name, %reason,
                    "the store failed: this node accepts no more writes");
                self.replica
                    .handle_persist_failed(now, batch, reason.clone());
                // Nothing after a failed batch is ever acknowledged: tell every waiter now.
                for (_, tx) in self.acks.drain() {
                    let _ = tx.send(Err(WriteError::StoreFailed(reason.clone())));
                }
            }
        }
    }

    /// Carries out every pending output, in order.
    pub(crate) fn drain(&mut self, now: Millis) {
        while let Some(output) = self.replica.poll_output() {
            match output {
                Output::Persist {
                    batch,
                    ops,
                    state,
                    applied,
                    truncate,
                } => {
                    match (&self.writer, &self.persisted) {
                        (Some(writer), Some(done)) => {
                            let records =
                                meridian_sim::disk::store_batch(&ops, state, &applied, truncate);
                            let committed = done.clone();
                            let synced = done.clone();
                            // The node may be gone: nobody left to tell.
                            writer.submit_staged(
                                records,
                                move |result| {
                                    let _ = committed.send(StoreReport {
                                        batch,
                                        synced: false,
                                        result,
                                    });
                                },
                                move |result| {
                                    let _ = synced.send(StoreReport {
                                        batch,
                                        synced: true,
                                        result,
                                    });
                                },
                            );
                        }
                        _ => self.replica.handle_persist_failed(
                            now,
                            batch,
                            "the node is shutting down".to_owned(),
                        ),
                    }
                }
                Output::Send { to, msg } => self.send(to, msg),
                Output::Ack(dot) => {
                    if let Some(tx) = self.acks.remove(&dot.seq) {
                        let _ = tx.send(Ok(()));
                    }
                }
                Output::Applied { op, deltas } => {
                    self.watches.touch(&op.key);
                    if self.feed.receiver_count() > 0 {
                        let sequence = matches!(op.payload, Payload::List(_) | Payload::Text(_))
                            || !deltas.is_empty();
                        let change = Change {
                            value: if sequence {
                                None
                            } else {
                                self.replica.keyspace().get(&op.key)
                            },
                            edits: sequence.then(|| Edit::of(&op.payload, &deltas)),
                            key: op.key.clone(),
                            dot: Some(op.dot()),
                            local: op.origin == self.replica.id(),
                        };
                        let _ = self.feed.send(Arc::new(change));
                    }
                }
                Output::Merged { keys, .. } => {
                    for key in &keys {
                        self.watches.touch(key);
                    }
                    if self.feed.receiver_count() > 0 {
                        for key in keys {
                            let change = Change {
                                value: self.replica.keyspace().get(&key),
                                edits: None,
                                key,
                                dot: None,
                                local: false,
                            };
                            let _ = self.feed.send(Arc::new(change));
                        }
                    }
                }
                Output::Published {
                    channel, message, ..
                } => {
                    if self.messages.receiver_count() > 0 {
                        let _ = self.messages.send(Arc::new(Delivered { channel, message }));
                    }
                }
                Output::CloseLink { peer, error } => self.close_link(peer, &error),
            }
        }
    }

    fn send(&mut self, to: ActorId, msg: Message) {
        let Some(link) = self.links.get_mut(&to) else {
            // The link's tasks ended and its link-down is on its way: the handshake of the
            // next connection tells the replica what the peer lacks.
            return;
        };
        if link.closing {
            // Closed once already; its link-down is on its way.
            return;
        }
        let queue = match msg {
            Message::Ops(_) | Message::Snapshot(_) | Message::Publish { .. } => &link.data,
            Message::Hello { .. } | Message::Gossip { .. } => &link.control,
        };
        let best_effort = matches!(msg, Message::Publish { .. });
        if let Err(e) = queue.try_send(msg) {
            // A pub/sub message is best effort: one that finds the queue full is dropped,
            // where an op's would close the link (it is resent from the log).
            if best_effort && matches!(e, mpsc::error::TrySendError::Full(_)) {
                return;
            }
            if self.stopping && matches!(e, mpsc::error::TrySendError::Closed(_)) {
                return;
            }
            let reason = match e {
                mpsc::error::TrySendError::Full(_) => {
                    "send queue full: the peer reads too slowly; it catches up from the log \
                     when it reconnects"
                }
                mpsc::error::TrySendError::Closed(_) => "link writer stopped",
            };
            link.closing = true;
            link.conn
                .close(crate::transport::CLOSE_OVERLOAD, reason.as_bytes());
            let peer = self.peer_name(to);
            tracing::warn!(node = %self.name, %peer, reason, "closing link");
            self.note_error(to, reason.to_owned());
        }
    }

    fn close_link(&mut self, peer: ActorId, error: &PeerError) {
        let reason = format!("protocol error: {error}");
        tracing::warn!(node = %self.name, peer = %self.peer_name(peer), %reason, "closing link");
        if let Some(link) = self.links.get(&peer) {
            link.conn
                .close(crate::transport::CLOSE_PROTOCOL, reason.as_bytes());
        }
        self.note_error(peer, reason);
    }

    /// A neighbour's name from the topology, or its actor id.
    pub(crate) fn peer_name(&self, peer: ActorId) -> String {
        self.topology
            .node(peer)
            .map_or_else(|| peer.to_string(), |n| n.name.clone())
    }

    pub(crate) fn note_error(&mut self, peer: ActorId, reason: String) {
        if let Some(info) = self.link_info.get_mut(&peer) {
            info.last_error = Some(reason);
        }
    }

    pub(crate) fn note_refusal(&mut self, record: RefusalRecord) {
        if self.refusals.len() == REFUSALS_KEPT {
            self.refusals.remove(0);
        }
        self.refusals.push(record);
    }
}
