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
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use meridian_resp::{Decoder, Limits, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Server;
use super::exec::{self, Answer, Session};

/// Replies waiting for durability, per connection.
const MAX_PENDING: usize = 1024;

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

    loop {
        // Run every complete request in the buffer, unless too many replies wait already.
        while !closing && pending.len() < MAX_PENDING {
            let request = match decoder.decode(&mut input) {
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
            () = sleep_until(idle_deadline), if pending.is_empty() => return "idle timeout",
            () = server.shared.shutdown.cancelled() => return "node shutting down",
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
