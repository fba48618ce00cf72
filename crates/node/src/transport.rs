//! Links over QUIC: one quinn endpoint per node, one connection per link (the node with the
//! lower actor id dials, the other accepts at once), and on each connection a control stream
//! (bidirectional, opened by the dialer: Hello and gossip) and one data stream per direction
//! (unidirectional: ops and snapshot chunks), so gossip never waits behind a snapshot.
//!
//! A link is up from the moment both sides checked each other's certificate until any of its
//! tasks ends (a stream error, a bad frame, a protocol error, an idle timeout, a full send
//! queue); the replica is told at both edges and catches up from its log at the next
//! handshake. The dialer reconnects with exponential backoff and jitter.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use meridian_crdt::ActorId;
use meridian_replica::Message;
use quinn::VarInt;
use rand::Rng;
use tokio::sync::{mpsc, oneshot};

use crate::driver::{LinkHandle, RefusalRecord, Shared, wall};
use crate::frame;
use crate::tls::{self, Refusal};

/// Close code: the peer broke the replication protocol.
pub(crate) const CLOSE_PROTOCOL: VarInt = VarInt::from_u32(0x100);
/// Close code: the peer did not read its frames fast enough.
pub(crate) const CLOSE_OVERLOAD: VarInt = VarInt::from_u32(0x101);
/// Close code: the link was cut by the operator, or the node is shutting down.
pub(crate) const CLOSE_GOING_AWAY: VarInt = VarInt::from_u32(0x102);
/// Close code: a newer connection to the same peer replaced this one.
const CLOSE_REPLACED: VarInt = VarInt::from_u32(0x103);

/// First wait before redialling, and the longest.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A dial whose handshake has not finished by then is given up and retried: an Initial sent
/// while the peer was down is otherwise retransmitted only at ever longer intervals.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A link that lived this long resets the backoff.
const STABLE_LINK: Duration = Duration::from_secs(10);

/// The transport parameters every connection of the node uses.
pub(crate) fn transport_config(shared: &Shared) -> Arc<quinn::TransportConfig> {
    let limits = shared.config.limits;
    let mut transport = quinn::TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(limits.idle_timeout())
        .unwrap_or_else(|_| quinn::IdleTimeout::from(VarInt::from_u32(10_000)));
    transport.max_idle_timeout(Some(idle));
    transport.keep_alive_interval(Some(limits.keep_alive()));
    // One control stream one way, one data stream each way; nothing else is accepted.
    transport.max_concurrent_bidi_streams(VarInt::from_u32(1));
    transport.max_concurrent_uni_streams(VarInt::from_u32(1));
    Arc::new(transport)
}

/// Accepts connections until the endpoint closes.
pub(crate) async fn accept_loop(shared: Arc<Shared>, endpoint: quinn::Endpoint) {
    while let Some(incoming) = endpoint.accept().await {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            if let Err(refusal) = accept(Arc::clone(&shared), incoming).await {
                refuse(&shared, remote, &refusal);
            }
        });
    }
}

fn refuse(shared: &Shared, remote: SocketAddr, refusal: &Refusal) {
    tracing::warn!(node = %shared.config.node, %remote, kind = refusal.kind(), reason = %refusal,
        "refused a connection");
    shared.lock().note_refusal(RefusalRecord {
        remote,
        kind: refusal.kind(),
        reason: refusal.to_string(),
    });
}

async fn accept(shared: Arc<Shared>, incoming: quinn::Incoming) -> Result<(), Refusal> {
    let conn = incoming
        .await
        .map_err(|e| tls::refusal_from_connection_error(&e))?;
    let cert = tls::peer_cert(&conn).inspect_err(|r| close_refused(&conn, r))?;
    let me = shared.config.id;
    let topology = &shared.config.topology;
    let checked = tls::check_peer(&cert, shared.cluster_id(), None).and_then(|()| {
        match topology.by_name(&cert.node) {
            Some(spec) if topology.are_linked(me, spec.id) && spec.id < me => Ok(spec.id),
            _ => Err(Refusal::NotANeighbour {
                node: cert.node.clone(),
            }),
        }
    });
    let peer = checked.inspect_err(|r| close_refused(&conn, r))?;
    if shared
        .lock()
        .link_info
        .get(&peer)
        .is_some_and(|i| i.disabled)
    {
        conn.close(CLOSE_GOING_AWAY, b"link cut by the operator");
        return Ok(());
    }
    let (send, recv) = match conn.accept_bi().await {
        Ok(streams) => streams,
        Err(e) => {
            shared
                .lock()
                .note_error(peer, format!("no control stream: {e}"));
            return Ok(());
        }
    };
    run_link(shared, peer, conn, send, recv).await;
    Ok(())
}

fn close_refused(conn: &quinn::Connection, refusal: &Refusal) {
    conn.close(refusal.code(), refusal.to_string().as_bytes());
}

/// Dials `peer` (a neighbour with a higher actor id) for as long as the node runs.
pub(crate) async fn dial_loop(
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
    peer: ActorId,
    addr: SocketAddr,
    name: String,
    enabled: Arc<tokio::sync::Notify>,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        while shared
            .lock()
            .link_info
            .get(&peer)
            .is_some_and(|i| i.disabled)
        {
            tokio::select! {
                () = enabled.notified() => {}
                () = shared.shutdown.cancelled() => return,
            }
        }
        let started = Instant::now();
        match dial(&shared, &endpoint, peer, addr, &name).await {
            Ok(Some((conn, send, recv))) => {
                run_link(Arc::clone(&shared), peer, conn, send, recv).await;
            }
            Ok(None) => {}
            Err(Refusal::Handshake(reason)) => {
                tracing::info!(node = %shared.config.node, peer = %name, %addr, %reason,
                    "cannot connect");
                shared.lock().note_error(peer, reason);
            }
            Err(refusal) => {
                // A certificate or protocol refusal, ours or the peer's: listed like the
                // refusals of incoming connections, since it will not heal by redialling.
                refuse(&shared, addr, &refusal);
                shared.lock().note_error(peer, refusal.to_string());
            }
        }
        if started.elapsed() >= STABLE_LINK {
            backoff = BACKOFF_MIN;
        }
        // Full jitter around the backoff, so that many nodes do not redial in step.
        let wait = backoff.mul_f64(rand::rng().random_range(0.5..1.5));
        backoff = (backoff * 2).min(BACKOFF_MAX);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = enabled.notified() => {}
            () = shared.shutdown.cancelled() => return,
        }
    }
}

type Streams = (quinn::Connection, quinn::SendStream, quinn::RecvStream);

async fn dial(
    shared: &Shared,
    endpoint: &quinn::Endpoint,
    peer: ActorId,
    addr: SocketAddr,
    name: &str,
) -> Result<Option<Streams>, Refusal> {
    let connecting = endpoint
        .connect(addr, tls::SERVER_NAME)
        .map_err(|e| Refusal::Handshake(e.to_string()))?;
    let conn = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| Refusal::Handshake(format!("no handshake within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| tls::refusal_from_connection_error(&e))?;
    let cert = tls::peer_cert(&conn).inspect_err(|r| close_refused(&conn, r))?;
    tls::check_peer(&cert, shared.cluster_id(), Some(name))
        .inspect_err(|r| close_refused(&conn, r))?;
    match conn.open_bi().await {
        Ok((send, recv)) => Ok(Some((conn, send, recv))),
        Err(e) => {
            shared
                .lock()
                .note_error(peer, format!("no control stream: {e}"));
            Ok(None)
        }
    }
}

/// Runs one connection as the link to `peer` until it breaks.
async fn run_link(
    shared: Arc<Shared>,
    peer: ActorId,
    conn: quinn::Connection,
    control_send: quinn::SendStream,
    control_recv: quinn::RecvStream,
) {
    let limits = shared.config.limits;
    let (control_tx, control_rx) = mpsc::channel(limits.max_queued_frames);
    // Every ops frame carries at least one op, and the replica keeps at most `send_window`
    // ops in flight to a peer until it reports them held: with room for that many frames
    // beyond the limit, a peer slower than we write holds back our sends (the link shows
    // "catching up") instead of filling the queue and costing a reconnect.
    let window = shared.config.replica.send_window.get();
    let (data_tx, data_rx) = mpsc::channel(limits.max_queued_frames.saturating_add(window));
    let generation = shared.with_core(|core, now| {
        let generation = core.next_generation;
        core.next_generation += 1;
        let handle = LinkHandle {
            generation,
            conn: conn.clone(),
            control: control_tx,
            data: data_tx,
            closing: false,
        };
        if let Some(old) = core.links.insert(peer, handle) {
            old.conn
                .close(CLOSE_REPLACED, b"replaced by a newer connection");
            core.replica.handle_link_down(now, peer);
        }
        if let Some(info) = core.link_info.get_mut(&peer) {
            info.connects += 1;
        }
        core.replica.handle_link_up(now, peer);
        generation
    });
    let peer_name = shared.lock().peer_name(peer);
    tracing::info!(node = %shared.config.node, peer = %peer_name, remote = %conn.remote_address(),
        "link up");

    let max = limits.max_frame_bytes;
    let (hello_tx, hello_rx) = oneshot::channel();
    let outcome = tokio::select! {
        r = write_frames(control_send, control_rx, max) => r.map_err(|e| format!("control stream: {e}")),
        r = write_data(&conn, data_rx, max) => r.map_err(|e| format!("data stream: {e}")),
        r = read_control(&shared, peer, control_recv, max, hello_tx) => r,
        r = read_data(&shared, peer, &conn, max, hello_rx) => r,
        e = conn.closed() => Err(format!("connection closed: {e}")),
        () = shared.shutdown.cancelled() => Ok(()),
    };
    let reason = match outcome {
        Ok(()) => "link closed".to_owned(),
        Err(reason) => reason,
    };
    conn.close(CLOSE_GOING_AWAY, reason.as_bytes());
    shared.with_core(|core, now| {
        let stats = conn.stats();
        if let Some(info) = core.link_info.get_mut(&peer) {
            info.wire_sent += stats.udp_tx.bytes;
            info.wire_received += stats.udp_rx.bytes;
        }
        if core
            .links
            .get(&peer)
            .is_some_and(|l| l.generation == generation)
        {
            core.links.remove(&peer);
            core.replica.handle_link_down(now, peer);
            core.note_error(peer, reason.clone());
        }
    });
    tracing::info!(node = %shared.config.node, peer = %peer_name, %reason, "link down");
}

async fn write_frames(
    mut send: quinn::SendStream,
    mut queue: mpsc::Receiver<Message>,
    max: u32,
) -> Result<(), String> {
    while let Some(msg) = queue.recv().await {
        let bytes = frame::encode(&msg, max).map_err(|e| e.to_string())?;
        send.write_all(&bytes).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Opens the outgoing data stream at the first op to send.
async fn write_data(
    conn: &quinn::Connection,
    mut queue: mpsc::Receiver<Message>,
    max: u32,
) -> Result<(), String> {
    let Some(first) = queue.recv().await else {
        return Ok(());
    };
    let mut send = conn.open_uni().await.map_err(|e| e.to_string())?;
    let bytes = frame::encode(&first, max).map_err(|e| e.to_string())?;
    send.write_all(&bytes).await.map_err(|e| e.to_string())?;
    write_frames(send, queue, max).await
}

async fn read_control(
    shared: &Shared,
    peer: ActorId,
    mut recv: quinn::RecvStream,
    max: u32,
    hello_seen: oneshot::Sender<()>,
) -> Result<(), String> {
    let mut buf = Vec::new();
    let mut hello_seen = Some(hello_seen);
    loop {
        let msg = match frame::read(&mut recv, max, &mut buf).await {
            Ok(Some(msg)) => msg,
            Ok(None) => return Err("control stream ended".to_owned()),
            Err(e) => return Err(format!("control stream: {e}")),
        };
        let hello = matches!(msg, Message::Hello { .. });
        deliver(shared, peer, msg);
        if hello {
            if let Some(tx) = hello_seen.take() {
                let _ = tx.send(());
            }
        }
    }
}

/// Reads the peer's data stream, once its Hello was handled: the replica takes nothing
/// before the handshake, and the two streams are not ordered with each other.
async fn read_data(
    shared: &Shared,
    peer: ActorId,
    conn: &quinn::Connection,
    max: u32,
    hello_seen: oneshot::Receiver<()>,
) -> Result<(), String> {
    if hello_seen.await.is_err() {
        return std::future::pending().await;
    }
    let mut recv = conn
        .accept_uni()
        .await
        .map_err(|e| format!("data stream: {e}"))?;
    let mut buf = Vec::new();
    loop {
        match frame::read(&mut recv, max, &mut buf).await {
            Ok(Some(msg)) => deliver(shared, peer, msg),
            Ok(None) => return Err("data stream ended".to_owned()),
            Err(e) => return Err(format!("data stream: {e}")),
        }
    }
}

fn deliver(shared: &Shared, peer: ActorId, msg: Message) {
    let wall = wall();
    shared.with_core(|core, now| core.replica.handle_message(now, wall, peer, msg));
}
