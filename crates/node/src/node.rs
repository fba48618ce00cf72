//! [`Node`]: a whole Meridian node in-process, and its typed API.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::{ActorId, Command, Digest, Dot, KeyType, Stamp, Value, VersionVector};
use meridian_replica::{Replica, Role, WriteError};
use meridian_store::{Batch, FsyncPolicy, GroupCommit, RedbStore, Store, open_identity};
use thiserror::Error;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinSet;

use crate::config::{InitialClusterState, NodeConfig};
use crate::driver::{Change, Shared, wall};
use crate::status::{Readiness, Status};
use crate::tls::TlsIdentity;
use crate::transport;

/// Meta record: `clean` after a clean shutdown, `running` while the node runs.
const META_SHUTDOWN: &str = "shutdown";

/// A node that could not start. Nothing was written but, for a new store, its identity.
#[derive(Debug, Error)]
pub enum StartError {
    /// Certificates missing or not of this cluster.
    #[error("certificates: {0}")]
    Certs(#[from] crate::tls::CertError),
    /// The certificate names another node than the config.
    #[error(
        "the certificate {cert} is for node {found:?}, but the config says this node is \
         {expected:?}: issue one with `meridian certs issue DIR {expected}`"
    )]
    CertForAnotherNode {
        /// The certificate file.
        cert: String,
        /// The config's node.
        expected: String,
        /// The certificate's node.
        found: String,
    },
    /// The store cannot be opened, read, or belongs to another cluster or node.
    #[error("store {path}: {message}")]
    Store {
        /// The store file.
        path: String,
        /// What is wrong, and what to do.
        message: String,
    },
    /// The replica refused what the store held.
    #[error("store {path}: {message}")]
    Restore {
        /// The store file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The QUIC address cannot be bound.
    #[error("cannot listen for links on {addr}: {message}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        message: String,
    },
}

/// A write that was refused, or not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NodeError {
    /// The replica refused it; nothing changed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The node shut down before the write was durable.
    #[error("the node shut down before the write was durable")]
    ShutDown,
}

/// A durable local write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteReceipt {
    /// The op's identity.
    pub dot: Dot,
    /// A causal token: everything this node had applied right after the write.
    pub token: VersionVector,
}

/// An MV register's siblings and the context that resolves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Siblings {
    /// Concurrent values, oldest stamp first.
    pub values: Vec<(Bytes, Stamp)>,
    /// Pass it to [`Node::mvset`] to replace exactly these siblings.
    pub context: VersionVector,
}

/// A change feed subscription: changes to keys with a prefix.
#[derive(Debug)]
pub struct Subscription {
    prefix: Bytes,
    rx: broadcast::Receiver<Arc<Change>>,
}

/// Why a subscription returned no change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FeedError {
    /// The subscriber fell behind and `n` changes (of any key) were skipped: re-read what it
    /// shows.
    #[error("the subscriber fell behind: {0} changes skipped")]
    Lagged(u64),
    /// The node shut down.
    #[error("the node shut down")]
    Closed,
}

impl Subscription {
    /// The next change to a key with the prefix.
    pub async fn recv(&mut self) -> Result<Arc<Change>, FeedError> {
        loop {
            match self.rx.recv().await {
                Ok(change) if change.key.starts_with(&self.prefix) => return Ok(change),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => return Err(FeedError::Lagged(n)),
                Err(broadcast::error::RecvError::Closed) => return Err(FeedError::Closed),
            }
        }
    }
}

/// A running Meridian node: a region's replica, its store and its links.
///
/// Writes resolve once durable under the node's fsync policy; reads see every write this
/// node applied, local or remote. Call [`Node::shutdown`] to stop it cleanly (dropping it
/// stops its tasks, without the final sync's report).
#[derive(Debug)]
pub struct Node {
    pub(crate) shared: Arc<Shared>,
    tasks: JoinSet<()>,
    store_reports: Option<tokio::task::JoinHandle<()>>,
    endpoint: quinn::Endpoint,
    dial_wakers: Vec<(ActorId, Arc<Notify>)>,
}

impl Node {
    /// Opens the store, checks certificates and identity, binds the link endpoint and starts
    /// every task on the current tokio runtime.
    pub async fn start(config: NodeConfig) -> Result<Node, StartError> {
        let identity = TlsIdentity::load(&config.tls.ca, &config.tls.cert, &config.tls.key)?;
        if identity.node_name() != config.node {
            return Err(StartError::CertForAnotherNode {
                cert: config.tls.cert.display().to_string(),
                expected: config.node.clone(),
                found: identity.node_name().to_owned(),
            });
        }
        let cluster_id = identity.cluster_id();
        let opened = {
            let for_open = config.clone();
            tokio::task::spawn_blocking(move || open_store(&for_open, cluster_id))
                .await
                .map_err(|e| StartError::Store {
                    path: config.store_path().display().to_string(),
                    message: format!("the opening task failed: {e}"),
                })??
        };
        let OpenedStore { replica, writer } = opened;

        let bind = config
            .topology
            .node(config.id)
            .map(|n| n.quic)
            .ok_or_else(|| StartError::Bind {
                addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                message: "node not in topology".to_owned(),
            })?;
        let (shared, mut persisted) = Shared::new(replica, writer, config, cluster_id);
        let transport_config = transport::transport_config(&shared);
        let server = identity.server_config(Arc::clone(&transport_config))?;
        let client = identity.client_config(transport_config)?;
        let bind_error = |e: std::io::Error| StartError::Bind {
            addr: bind,
            message: e.to_string(),
        };
        let socket = std::net::UdpSocket::bind(bind).map_err(bind_error)?;
        let mut endpoint = quinn::Endpoint::new(
            identity.endpoint_config(),
            Some(server),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(bind_error)?;
        endpoint.set_default_client_config(client);

        let admin_addr = shared
            .config
            .topology
            .node(shared.config.id)
            .map(|n| n.admin);
        let mut tasks = JoinSet::new();
        if let Some(addr) = admin_addr {
            let listener = crate::admin::bind(addr)
                .await
                .map_err(|e| StartError::Bind {
                    addr,
                    message: format!("admin HTTP: {e}"),
                })?;
            tasks.spawn(crate::admin::serve(Arc::clone(&shared), listener));
        }
        if let Some(addr) = shared
            .config
            .topology
            .node(shared.config.id)
            .map(|n| n.resp)
        {
            let listener =
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| StartError::Bind {
                        addr,
                        message: format!("Redis protocol: {e}"),
                    })?;
            tasks.spawn(crate::resp::serve(Arc::clone(&shared), listener));
        }
        tasks.spawn(transport::accept_loop(
            Arc::clone(&shared),
            endpoint.clone(),
        ));
        let me = shared.config.id;
        let mut dial_wakers = Vec::new();
        let topology = Arc::clone(&shared.config.topology);
        for peer in topology.neighbours(me) {
            let waker = Arc::new(Notify::new());
            dial_wakers.push((peer, Arc::clone(&waker)));
            if peer > me
                && let Some(spec) = topology.node(peer)
            {
                tasks.spawn(transport::dial_loop(
                    Arc::clone(&shared),
                    endpoint.clone(),
                    peer,
                    spec.quic,
                    spec.name.clone(),
                    waker,
                ));
            }
        }
        let timers = Arc::clone(&shared);
        tasks.spawn(async move { run_timers(timers).await });
        let reports = Arc::clone(&shared);
        let store_reports = Some(tokio::spawn(async move {
            while let Some(report) = persisted.recv().await {
                reports.with_core(|core, now| core.persisted(now, report));
            }
        }));
        tracing::info!(node = %shared.config.node, quic = %bind, "node started");
        Ok(Node {
            shared,
            tasks,
            store_reports,
            endpoint,
            dial_wakers,
        })
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.shared.config.node
    }

    /// This node's actor id.
    pub fn id(&self) -> ActorId {
        self.shared.config.id
    }

    /// The address links are accepted on.
    pub fn quic_addr(&self) -> Option<SocketAddr> {
        self.endpoint.local_addr().ok()
    }

    pub(crate) async fn write(
        &self,
        key: impl Into<Bytes>,
        command: Command,
    ) -> Result<WriteReceipt, NodeError> {
        crate::ops::write(&self.shared, key.into(), command).await
    }

    pub(crate) fn read<T>(&self, f: impl FnOnce(&Replica) -> T) -> T {
        let _gate = self.shared.gate();
        f(&self.shared.read().replica)
    }

    /// SET: the key becomes an LWW register holding `value`.
    pub async fn set(
        &self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
    ) -> Result<WriteReceipt, NodeError> {
        self.write(key, Command::Set(value.into())).await
    }

    /// MVSET: adds a sibling, replacing those `context` (from [`Node::mvget`]) covers; with
    /// no context, every sibling this node has applied.
    pub async fn mvset(
        &self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        context: Option<VersionVector>,
    ) -> Result<WriteReceipt, NodeError> {
        let command = Command::MvSet {
            value: value.into(),
            ctx: context,
        };
        self.write(key, command).await
    }

    /// INCRBY (negative for DECRBY): every increment counts, wherever it was made.
    pub async fn incr_by(&self, key: impl Into<Bytes>, by: i64) -> Result<WriteReceipt, NodeError> {
        self.write(key, Command::IncrBy(by)).await
    }

    /// SADD.
    pub async fn sadd(
        &self,
        key: impl Into<Bytes>,
        members: Vec<Bytes>,
    ) -> Result<WriteReceipt, NodeError> {
        self.write(key, Command::SAdd(members)).await
    }

    /// SREM: removes the members as this node observed them (a concurrent add survives).
    pub async fn srem(
        &self,
        key: impl Into<Bytes>,
        members: Vec<Bytes>,
    ) -> Result<WriteReceipt, NodeError> {
        self.write(key, Command::SRem(members)).await
    }

    /// HSET of field/value pairs.
    pub async fn hset(
        &self,
        key: impl Into<Bytes>,
        fields: Vec<(Bytes, Bytes)>,
    ) -> Result<WriteReceipt, NodeError> {
        self.write(key, Command::HSet(fields)).await
    }

    /// HDEL.
    pub async fn hdel(
        &self,
        key: impl Into<Bytes>,
        fields: Vec<Bytes>,
    ) -> Result<WriteReceipt, NodeError> {
        self.write(key, Command::HDel(fields)).await
    }

    /// HINCRBY: the field becomes a counter.
    pub async fn hincr_by(
        &self,
        key: impl Into<Bytes>,
        field: impl Into<Bytes>,
        by: i64,
    ) -> Result<WriteReceipt, NodeError> {
        let command = Command::HIncrBy {
            field: field.into(),
            by,
        };
        self.write(key, command).await
    }

    /// DEL: removes what this node had observed of the key; a concurrent write survives.
    pub async fn del(&self, key: impl Into<Bytes>) -> Result<WriteReceipt, NodeError> {
        self.write(key, Command::Del).await
    }

    /// The key's visible value.
    pub async fn get(&self, key: &[u8]) -> Option<Value> {
        self.read(|r| r.keyspace().get(key))
    }

    /// The key's type.
    pub async fn key_type(&self, key: &[u8]) -> Option<KeyType> {
        self.read(|r| r.keyspace().key_type(key))
    }

    /// Whether the key holds a value.
    pub async fn exists(&self, key: &[u8]) -> bool {
        self.read(|r| r.keyspace().contains(key))
    }

    /// An MV register's siblings and the context to resolve them.
    pub async fn mvget(&self, key: &[u8]) -> Option<Siblings> {
        self.read(|r| {
            r.keyspace().mv_siblings(key).map(|values| Siblings {
                values,
                context: r.applied().clone(),
            })
        })
    }

    /// Keys starting with `prefix`, sorted.
    pub async fn keys(&self, prefix: &[u8]) -> Vec<Bytes> {
        self.read(|r| {
            let mut keys: Vec<Bytes> = r
                .keyspace()
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            keys.sort();
            keys
        })
    }

    /// Number of keys holding a value.
    pub async fn len(&self) -> usize {
        self.read(|r| r.keyspace().len())
    }

    /// Whether no key holds a value.
    pub async fn is_empty(&self) -> bool {
        self.read(|r| r.keyspace().is_empty())
    }

    /// Digest of the canonical state: equal on nodes that applied the same ops.
    pub async fn digest(&self) -> Digest {
        self.read(|r| r.digest())
    }

    /// The key's canonical CRDT state, the bytes its digest hashes: equal at every region
    /// that applied the same ops to it. For inspection and demos of what a merge keeps.
    pub async fn canonical_state(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.read(|r| r.keyspace().canonical_key_bytes(key))
    }

    /// Ops applied here: the causal token of everything a read sees.
    pub async fn applied(&self) -> VersionVector {
        self.read(|r| r.applied().clone())
    }

    /// Waits until this node has applied everything `token` covers.
    pub async fn wait_for(&self, token: &VersionVector) {
        let mut feed = self.shared.lock().feed.subscribe();
        loop {
            if self.read(|r| r.applied().dominates(token)) {
                return;
            }
            // Every applied op or merge is announced on the feed; a lag still means progress.
            if let Err(broadcast::error::RecvError::Closed) = feed.recv().await {
                return;
            }
        }
    }

    /// Waits until the write `dot` (a receipt's) is held durably at `level`: by N regions,
    /// a majority, every region, or a named one, as the matrix clock shows it. On a timeout
    /// the error says which regions hold it; the write is not rolled back either way.
    pub async fn wait_acknowledged(
        &self,
        dot: Dot,
        level: &crate::Acknowledgement,
        timeout: std::time::Duration,
    ) -> Result<(), crate::AckError> {
        crate::ack::wait(&self.shared, dot, level, timeout).await
    }

    /// Subscribes to changes of keys starting with `prefix` (empty: every key), local or
    /// remote, from now on.
    pub fn subscribe(&self, prefix: impl Into<Bytes>) -> Subscription {
        Subscription {
            prefix: prefix.into(),
            rx: self.shared.lock().feed.subscribe(),
        }
    }

    /// The node's status: role, vectors, links.
    pub fn status(&self) -> Status {
        Status::of(&self.shared)
    }

    /// Whether the node serves what its role serves (what the admin port's `/ready` answers):
    /// a leader that takes writes, a replica whose store works.
    pub fn readiness(&self) -> Readiness {
        Readiness::of(&self.shared.read().replica)
    }

    /// Cuts the link to neighbour `peer` (by name) until [`Node::reconnect`]: the connection
    /// is closed, not redialled, and refused when the peer dials. Returns false if `peer` is
    /// not a neighbour.
    pub fn disconnect(&self, peer: &str) -> bool {
        let Some(id) = self.neighbour(peer) else {
            return false;
        };
        let mut core = self.shared.lock();
        if let Some(info) = core.link_info.get_mut(&id) {
            info.disabled = true;
        }
        if let Some(link) = core.links.get(&id) {
            link.conn
                .close(transport::CLOSE_GOING_AWAY, b"link cut by the operator");
        }
        true
    }

    /// Restores a link cut by [`Node::disconnect`].
    pub fn reconnect(&self, peer: &str) -> bool {
        let Some(id) = self.neighbour(peer) else {
            return false;
        };
        if let Some(info) = self.shared.lock().link_info.get_mut(&id) {
            info.disabled = false;
        }
        for (p, waker) in &self.dial_wakers {
            if *p == id {
                waker.notify_one();
            }
        }
        true
    }

    fn neighbour(&self, name: &str) -> Option<ActorId> {
        let topology = &self.shared.config.topology;
        let id = topology.by_name(name)?.id;
        topology.are_linked(self.id(), id).then_some(id)
    }

    /// Stops the node: links closed, every accepted write made durable, the store synced and
    /// marked cleanly shut down. Writes still waiting are answered with the store's verdict.
    pub async fn shutdown(mut self) -> Result<(), String> {
        self.shared.shutdown.cancel();
        self.endpoint
            .close(transport::CLOSE_GOING_AWAY, b"node shutting down");
        // Everything the replica staged goes to the writer before it is told to stop.
        let (writer, reports) = self.shared.with_core(|core, now| {
            core.stopping = true;
            // The state of every key changed since the last checkpoint goes with the last
            // batch, so that the next start re-applies nothing from the log.
            core.replica.checkpoint();
            core.drain(now);
            (core.writer.take(), core.persisted.take())
        });
        drop(reports);
        let failed = self
            .shared
            .lock()
            .replica
            .store_failure()
            .map(str::to_owned);
        let result = match writer {
            Some(writer) => tokio::task::spawn_blocking(move || {
                if failed.is_none() {
                    // Queued after every batch handed over above.
                    writer.submit(clean_marker(true));
                }
                writer.shutdown().map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(format!("the store task failed: {e}"))),
            None => Ok(()),
        };
        // Every store report is queued by now and the channel closed: the report task hands
        // the last ones to the replica (acknowledging their writes) and ends.
        if let Some(reports) = self.store_reports.take() {
            let _ = reports.await;
        }
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        // Until every connection has drained, quinn keeps the UDP socket bound: a node
        // restarted in this process at once would fail to bind it.
        self.endpoint.wait_idle().await;
        tracing::info!(node = %self.shared.config.node, "node stopped");
        result
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        self.endpoint
            .close(transport::CLOSE_GOING_AWAY, b"node dropped");
    }
}

fn clean_marker(clean: bool) -> Batch {
    let value: &'static [u8] = if clean { b"clean" } else { b"running" };
    Batch {
        meta: vec![(META_SHUTDOWN.to_owned(), Bytes::from_static(value))],
        ..Batch::default()
    }
}

struct OpenedStore {
    replica: Replica,
    writer: GroupCommit,
}

fn open_store(config: &NodeConfig, cluster_id: uuid::Uuid) -> Result<OpenedStore, StartError> {
    let path = config.store_path();
    let store_error = |message: String| StartError::Store {
        path: path.display().to_string(),
        message,
    };
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| store_error(format!("cannot create {}: {e}", config.data_dir.display())))?;
    let mut store = RedbStore::open(&path).map_err(|e| store_error(e.to_string()))?;
    let loaded = store.load().map_err(|e| store_error(e.to_string()))?;
    let cluster = &config.topology.cluster;
    let id = cluster_id.hyphenated().to_string();
    let opened = open_identity(
        &mut store,
        &loaded,
        cluster,
        &config.node,
        config.id.0,
        Some(&id),
    )
    .map_err(|e| store_error(e.to_string()))?;
    let clean = loaded
        .meta
        .get(META_SHUTDOWN)
        .is_some_and(|v| v.as_ref() == b"clean");
    if !opened.is_created() && !clean && config.fsync != FsyncPolicy::Always {
        tracing::warn!(node = %config.node, fsync = %config.fsync,
            "the last run did not shut down cleanly: writes acknowledged after its last fsync are lost");
    }
    store
        .commit(&clean_marker(false), true)
        .map_err(|e| store_error(e.to_string()))?;
    // An op leaves this node only once synced, whatever the policy: what a crash took back
    // reached no peer, so the store holds every op of ours that anyone holds.
    let history_complete = true;
    let now = 0;
    let replica =
        if opened.is_created() && config.initial_cluster_state == InitialClusterState::New {
            tracing::info!(node = %config.node,
            "new store in a new cluster (initial_cluster_state = \"new\"): taking writes at once");
            Replica::new_cluster(
                config.id,
                Arc::clone(&config.topology),
                config.replica.clone(),
                wall(),
            )
        } else if opened.is_created() {
            Replica::rejoin(
                config.id,
                Arc::clone(&config.topology),
                config.replica.clone(),
                wall(),
            )
        } else {
            let restored = meridian_sim::disk::restored(loaded, history_complete)
                .map_err(|e| store_error(format!("cannot read it back: {e}")))?;
            Replica::restore(
                config.id,
                Arc::clone(&config.topology),
                config.replica.clone(),
                now,
                wall(),
                restored,
            )
        }
        .map_err(|e| StartError::Restore {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    if replica.role() != Role::Leader {
        tracing::info!(role = %replica.role(), "this node is read-only");
    }
    Ok(OpenedStore {
        replica,
        writer: GroupCommit::start(store, config.fsync),
    })
}

/// Calls the replica's `handle_timeout` whenever its next timer is due.
async fn run_timers(shared: Arc<Shared>) {
    loop {
        let next = shared.read().replica.poll_timeout();
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(shared.instant(at).into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {
                shared.with_core(|core, now| core.replica.handle_timeout(now, crate::driver::wall()));
            }
            () = shared.timer.notified() => {}
            () = shared.shutdown.cancelled() => return,
        }
    }
}

/// A node's three addresses, from the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    /// Replication links.
    pub quic: SocketAddr,
    /// Redis protocol.
    pub resp: SocketAddr,
    /// Admin HTTP.
    pub admin: SocketAddr,
}

impl Node {
    /// This node's addresses, as the topology gives them.
    pub fn addresses(&self) -> Addresses {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        match self.shared.config.topology.node(self.id()) {
            Some(n) => Addresses {
                quic: n.quic,
                resp: n.resp,
                admin: n.admin,
            },
            None => Addresses {
                quic: unspecified,
                resp: unspecified,
                admin: unspecified,
            },
        }
    }
}
