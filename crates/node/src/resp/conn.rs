//! One client connection: read requests, run them in order, write replies in order.
//!
//! Reading and writing go on together, so that a client may pipeline. Replies that wait for
//! durability queue in request order ([`FuturesOrdered`]); at most [`MAX_PENDING`] of them,
//! and the connection reads no more while that many wait. A client that sends but does not
//! read its replies is disconnected once they pass `clients.max_output_buffer_bytes`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::FutureExt;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use meridian_resp::{Decoder, Limits, ProtocolError, Reply, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Server;
use super::exec::{self, Answer, Session};
use super::table::{Entry, Run};

/// Replies waiting for durability, per connection.
const MAX_PENDING: usize = 1024;

/// Most point reads of one pipeline run under one hold of the core's lock: enough to take
/// the lock once per pipeline of `redis-benchmark -P 16`, few enough (a few microseconds)
/// that writes, frames and store reports never wait long behind a client's reads.
const MAX_READ_RUN: usize = 32;

/// What decoding produced: a request, `None` for "need more bytes", or an error.
type Decoded = Result<Option<Request>, ProtocolError>;

type PendingReply = Pin<Box<dyn Future<Output = Reply> + Send>>;

fn limits(session: &Session) -> Limits {
    if session.authenticated {
        Limits::authenticated()
    } else {
        Limits::unauthenticated()
    }
}

/// Serves one client until it leaves or must go.
pub(crate) async fn run(server: &Arc<Server>, socket: TcpStream, remote: SocketAddr, id: u64) {
    let mut session = Session::new(server, id, remote);
    let node = server.shared.config.node.clone();
    let reason = serve(server, &mut session, socket).await;
    super::transaction::forget(server, &mut session);
    super::pubsub::forget(server, &mut session);
    tracing::debug!(%node, client = id, %remote, reason, "client disconnected");
}

async fn serve(server: &Arc<Server>, session: &mut Session, socket: TcpStream) -> &'static str {
    let clients = &server.shared.config.clients;
    let max_output = clients.max_output_buffer_bytes;
    let idle = (clients.idle_timeout_s > 0).then(|| Duration::from_secs(clients.idle_timeout_s));
    let (mut reader, mut writer) = socket.into_split();
    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut output = BytesMut::with_capacity(16 * 1024);
    let mut decoder = Decoder::new(limits(session));
    let mut pending: FuturesOrdered<PendingReply> = FuturesOrdered::new();
    let mut closing = false;
    let mut last_input = tokio::time::Instant::now();
    // One wait for shutdown per connection: a new one per turn of the loop registered and
    // removed a waiter under the token's lock for every batch of requests.
    let shutdown = server.shared.shutdown.cancelled();
    tokio::pin!(shutdown);
    // A request decoded after a run of point reads, not yet run.
    let mut carried: Option<Decoded> = None;

    loop {
        // Run every complete request in the buffer, unless too many replies wait already.
        while !closing && pending.len() < MAX_PENDING {
            let decoded = carried.take().unwrap_or_else(|| decoder.decode(&mut input));
            let request = match decoded {
                Ok(Some(request)) => request,
                Ok(None) => break,
                Err(e) => {
                    // Replies already owed go first, then the error, then the connection ends.
                    while let Some(reply) = pending.next().await {
                        reply.encode(session.protocol, &mut output);
                    }
                    e.reply().encode(session.protocol, &mut output);
                    let _ = writer.write_all(&output).await;
                    return "protocol error";
                }
            };
            if let Some(entry) = exec::point_read(session, &request) {
                let mut run = PointReads {
                    server,
                    session,
                    decoder: &mut decoder,
                    input: &mut input,
                    output: &mut output,
                    pending: &mut pending,
                    max_output,
                };
                carried = run.run(entry, request);
                if output.len() > max_output {
                    return "output buffer over the limit";
                }
                continue;
            }
            let barrier = exec::is_barrier(&request);
            if barrier {
                while let Some(reply) = pending.next().await {
                    reply.encode(session.protocol, &mut output);
                }
            }
            let was_authenticated = session.authenticated;
            let outcome = exec::execute(server, session, request);
            if session.authenticated != was_authenticated {
                decoder.set_limits(limits(session));
            }
            match outcome.answer {
                Answer::Now(reply) if pending.is_empty() => {
                    reply.encode(session.protocol, &mut output)
                }
                Answer::Now(reply) => pending.push_back(Box::pin(async move { reply })),
                Answer::Later(future) => pending.push_back(future),
            }
            if barrier {
                while let Some(reply) = pending.next().await {
                    reply.encode(session.protocol, &mut output);
                }
            }
            closing = outcome.close;
            if output.len() > max_output {
                return "output buffer over the limit";
            }
        }
        if closing && pending.is_empty() {
            let _ = writer.write_all(&output).await;
            let _ = writer.shutdown().await;
            return "quit";
        }
        let idle_deadline = idle.map(|d| last_input + d);
        tokio::select! {
            Some(reply) = pending.next(), if !pending.is_empty() => {
                reply.encode(session.protocol, &mut output);
                // Every reply already resolved joins this one before the next write: a group
                // commit resolves a whole pipeline's writes at once, and taking them one per
                // turn of the loop let a write of one or two replies (a syscall each) win
                // the race with the rest.
                while let Some(Some(reply)) = pending.next().now_or_never() {
                    reply.encode(session.protocol, &mut output);
                }
                if output.len() > max_output {
                    return "output buffer over the limit";
                }
            }
            written = writer.write_buf(&mut output), if !output.is_empty() => {
                if written.is_err() {
                    return "write failed";
                }
            }
            read = reader.read_buf(&mut input), if !closing && pending.len() < MAX_PENDING => {
                match read {
                    Ok(0) => return "closed by the client",
                    Ok(_) => last_input = tokio::time::Instant::now(),
                    Err(_) => return "read failed",
                }
            }
            // A subscriber's messages, between replies (never ahead of one still owed).
            Some(push) = super::pubsub::next_message(session), if pending.is_empty() => {
                push.encode(session.protocol, &mut output);
                if output.len() > max_output {
                    return "output buffer over the limit";
                }
            }
            () = sleep_until(idle_deadline), if pending.is_empty() && session.subscriber.is_none() => return "idle timeout",
            () = &mut shutdown => return "node shutting down",
        }
    }
}

/// A run of consecutive point reads, answered under one hold of the core's lock (a lock per
/// request made the two runtime threads serving GETs contend for it: 11 % of a node's CPU
/// under `redis-benchmark -P 16 -t get`, BENCHMARKS.md 7g).
struct PointReads<'a> {
    server: &'a Arc<Server>,
    session: &'a Session,
    decoder: &'a mut Decoder,
    input: &'a mut BytesMut,
    output: &'a mut BytesMut,
    pending: &'a mut FuturesOrdered<PendingReply>,
    max_output: usize,
}

impl PointReads<'_> {
    /// Answers `first` and every point read after it in the buffer, in order, up to
    /// [`MAX_READ_RUN`], while replies may still queue and the output is under its limit.
    /// Returns what it decoded after them and did not run: the caller runs it next. Never
    /// waits: the lock is held by this synchronous call only.
    fn run(&mut self, entry: &'static Entry, request: Request) -> Option<Decoded> {
        let mut ran = 0;
        let carried = self.run_counted(entry, request, &mut ran);
        // Counted once per run: one shared atomic per GET, on every connection's thread,
        // cost more than the lookup (BENCHMARKS.md 7i).
        self.server
            .commands_processed
            .fetch_add(ran, std::sync::atomic::Ordering::Relaxed);
        carried
    }

    fn run_counted(
        &mut self,
        mut entry: &'static Entry,
        mut request: Request,
        ran: &mut u64,
    ) -> Option<Decoded> {
        let _gate = self.server.shared.gate();
        let core = self.server.shared.read();
        for _ in 0..MAX_READ_RUN {
            *ran += 1;
            if self.pending.is_empty() && entry.spec.name == "get" {
                let key = &request.args[1];
                super::strings::encode_get(&core.replica, key, self.session.protocol, self.output);
            } else if let Run::Point(read) = entry.run {
                let reply = read(&core.replica, &request.args);
                if self.pending.is_empty() {
                    reply.encode(self.session.protocol, self.output);
                } else {
                    self.pending.push_back(Box::pin(async move { reply }));
                }
            }
            if self.pending.len() >= MAX_PENDING || self.output.len() > self.max_output {
                return None;
            }
            match self.decoder.decode(self.input) {
                Ok(Some(next)) => match exec::point_read(self.session, &next) {
                    Some(next_entry) => (entry, request) = (next_entry, next),
                    None => return Some(Ok(Some(next))),
                },
                other => return Some(other),
            }
        }
        None
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
