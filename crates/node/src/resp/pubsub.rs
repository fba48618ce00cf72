//! Pub/sub: SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE, PUBLISH and PUBSUB.
//!
//! PUBLISH hands the message to the replica, which delivers it here and sends it once along
//! this region's forwarding tree to every other region (`Replica::publish`); each region
//! gives what it receives to its own subscribers. A subscribed connection holds a receiver
//! of the node's message channel and takes, as they come, the messages its channels and
//! patterns match. Best effort, as in Redis: nothing is stored, a region cut off when a
//! message passes never gets it, and a subscriber too slow to keep up with the channel's
//! buffer loses the messages it fell behind on. PUBLISH counts the subscribers of this
//! region that received the message (Redis counts those of its node).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use meridian_resp::{Protocol, Reply};
use tokio::sync::broadcast;

use super::Server;
use super::exec::{Answer, Session, count};
use super::glob;
use super::words;
use crate::driver::Delivered;

/// How many connections of this node subscribe to each channel and each pattern.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    channels: HashMap<Bytes, usize>,
    patterns: HashMap<Bytes, usize>,
}

impl Registry {
    fn add(map: &mut HashMap<Bytes, usize>, name: &Bytes) {
        *map.entry(name.clone()).or_insert(0) += 1;
    }

    fn remove(map: &mut HashMap<Bytes, usize>, name: &[u8]) {
        if let Some(n) = map.get_mut(name) {
            *n -= 1;
            if *n == 0 {
                map.remove(name);
            }
        }
    }

    /// The subscriptions a message on `channel` reaches here.
    fn receivers(&self, channel: &[u8]) -> usize {
        self.channels.get(channel).copied().unwrap_or(0)
            + self
                .patterns
                .iter()
                .filter(|(p, _)| glob::matches(p, channel))
                .map(|(_, n)| n)
                .sum::<usize>()
    }
}

/// A connection's subscriptions and the receiver its messages come through.
#[derive(Debug)]
pub(crate) struct Subscriber {
    rx: broadcast::Receiver<Arc<Delivered>>,
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
}

impl Subscriber {
    fn len(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// The next message for this connection, as the reply to push; `None` if it fell so far
    /// behind that messages were lost (those are skipped: best effort).
    pub(crate) async fn next(&mut self) -> Option<Reply> {
        loop {
            match self.rx.recv().await {
                Ok(m) => {
                    if let Some(reply) = self.matching(&m) {
                        return Some(reply);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The push for `m` if this connection subscribes to its channel or a pattern of it:
    /// one per subscription that matches, as Redis sends.
    fn matching(&self, m: &Delivered) -> Option<Reply> {
        let mut pushes = Vec::new();
        if self.channels.contains(&m.channel) {
            pushes.push(Reply::Push(vec![
                Reply::bulk(Bytes::from_static(b"message")),
                Reply::bulk(m.channel.clone()),
                Reply::bulk(m.message.clone()),
            ]));
        }
        for p in self
            .patterns
            .iter()
            .filter(|p| glob::matches(p, &m.channel))
        {
            pushes.push(Reply::Push(vec![
                Reply::bulk(Bytes::from_static(b"pmessage")),
                Reply::bulk(p.clone()),
                Reply::bulk(m.channel.clone()),
                Reply::bulk(m.message.clone()),
            ]));
        }
        match pushes.len() {
            0 => None,
            1 => pushes.pop(),
            _ => Some(Reply::Several(pushes)),
        }
    }
}

/// The next message for `session`, if it subscribes to anything; pending for ever if not.
pub(crate) async fn next_message(session: &mut Session) -> Option<Reply> {
    match session.subscriber.as_mut() {
        Some(sub) => sub.next().await,
        None => std::future::pending().await,
    }
}

/// Whether a command may run on a connection in RESP2 subscribed mode.
pub(crate) fn allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe" | "psubscribe" | "unsubscribe" | "punsubscribe" | "ping" | "quit" | "reset"
    )
}

fn registry(server: &Server) -> std::sync::MutexGuard<'_, Registry> {
    server
        .subscriptions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// A (un)subscription confirmation: `[kind, name, count]`, a push in RESP3.
fn confirmation(kind: &'static str, name: Option<Bytes>, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::bulk(Bytes::from_static(kind.as_bytes())),
        name.map_or(Reply::Null, Reply::bulk),
        Reply::Integer(i64::try_from(count).unwrap_or(i64::MAX)),
    ])
}

fn subscribe_to(server: &Server, session: &mut Session, names: &[Bytes], pattern: bool) -> Answer {
    let sub = session.subscriber.get_or_insert_with(|| Subscriber {
        rx: server.shared.lock().messages.subscribe(),
        channels: BTreeSet::new(),
        patterns: BTreeSet::new(),
    });
    let mut replies = Vec::with_capacity(names.len());
    let mut reg = registry(server);
    for name in names {
        let (set, map) = if pattern {
            (&mut sub.patterns, &mut reg.patterns)
        } else {
            (&mut sub.channels, &mut reg.channels)
        };
        if set.insert(name.clone()) {
            Registry::add(map, name);
        }
        let kind = if pattern { "psubscribe" } else { "subscribe" };
        replies.push(confirmation(kind, Some(name.clone()), sub.len()));
    }
    Answer::Now(Reply::Several(replies))
}

fn unsubscribe_from(
    server: &Server,
    session: &mut Session,
    names: &[Bytes],
    pattern: bool,
) -> Answer {
    let kind = if pattern {
        "punsubscribe"
    } else {
        "unsubscribe"
    };
    let Some(sub) = session.subscriber.as_mut() else {
        // Not subscribed to anything: one confirmation per name, or one with no name.
        return Answer::Now(if names.is_empty() {
            confirmation(kind, None, 0)
        } else {
            Reply::Several(
                names
                    .iter()
                    .map(|n| confirmation(kind, Some(n.clone()), 0))
                    .collect(),
            )
        });
    };
    let names: Vec<Bytes> = if names.is_empty() {
        let all = if pattern {
            &sub.patterns
        } else {
            &sub.channels
        };
        all.iter().cloned().collect()
    } else {
        names.to_vec()
    };
    let mut replies = Vec::with_capacity(names.len().max(1));
    let mut reg = registry(server);
    for name in &names {
        let (set, map) = if pattern {
            (&mut sub.patterns, &mut reg.patterns)
        } else {
            (&mut sub.channels, &mut reg.channels)
        };
        if set.remove(name) {
            Registry::remove(map, name);
        }
        replies.push(confirmation(kind, Some(name.clone()), sub.len()));
    }
    if replies.is_empty() {
        replies.push(confirmation(kind, None, sub.len()));
    }
    if sub.len() == 0 {
        session.subscriber = None;
    }
    Answer::Now(Reply::Several(replies))
}

/// Drops the connection's subscriptions (when it closes).
pub(crate) fn forget(server: &Server, session: &mut Session) {
    if let Some(sub) = session.subscriber.take() {
        let mut reg = registry(server);
        for c in &sub.channels {
            Registry::remove(&mut reg.channels, c);
        }
        for p in &sub.patterns {
            Registry::remove(&mut reg.patterns, p);
        }
    }
}

pub(super) fn subscribe(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    subscribe_to(server, session, &args[1..], false)
}

pub(super) fn psubscribe(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    subscribe_to(server, session, &args[1..], true)
}

pub(super) fn unsubscribe(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    unsubscribe_from(server, session, &args[1..], false)
}

pub(super) fn punsubscribe(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    unsubscribe_from(server, session, &args[1..], true)
}

/// PUBLISH channel message: the number of this region's subscriptions it reached.
pub(super) fn publish(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    let (channel, message) = (args[1].clone(), args[2].clone());
    let receivers = registry(server).receivers(&channel);
    let published = server
        .shared
        .with_core(|core, now| core.replica.publish(now, channel, message));
    Answer::Now(match published {
        Ok(()) => count(receivers),
        Err(e) => words::write_error(&e),
    })
}

/// PUBSUB CHANNELS, NUMSUB, NUMPAT.
pub(super) fn pubsub(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let spec = match meridian_resp::command::resolve(args) {
        Ok(spec) => spec,
        Err(reply) => return Answer::Now(reply),
    };
    match spec.name {
        "pubsub|channels" => pubsub_channels(server, session, args),
        "pubsub|numsub" => pubsub_numsub(server, session, args),
        _ => pubsub_numpat(server, session, args),
    }
}

/// PUBSUB CHANNELS [pattern]: the channels this region's clients subscribe to.
fn pubsub_channels(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    if args.len() > 3 {
        return Answer::Now(Reply::error(
            "ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.",
        ));
    }
    let reg = registry(server);
    let mut names: Vec<&Bytes> = reg
        .channels
        .keys()
        .filter(|c| args.get(2).is_none_or(|p| glob::matches(p, c)))
        .collect();
    names.sort();
    Answer::Now(Reply::Array(
        names.into_iter().cloned().map(Reply::bulk).collect(),
    ))
}

/// PUBSUB NUMSUB [channel ...]: each channel with its number of subscribers here.
fn pubsub_numsub(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    // A flat list of channel, count, as Redis sends it in RESP3 too.
    let reg = registry(server);
    Answer::Now(Reply::Array(
        args[2..]
            .iter()
            .flat_map(|c| {
                let n = reg.channels.get(c).copied().unwrap_or(0);
                [Reply::bulk(c.clone()), count(n)]
            })
            .collect(),
    ))
}

/// PUBSUB NUMPAT: the number of patterns this region's clients subscribe to.
fn pubsub_numpat(server: &Arc<Server>, _: &mut Session, _: &[Bytes]) -> Answer {
    Answer::Now(count(registry(server).patterns.len()))
}

/// PING on a RESP2 connection in subscribed mode: `["pong", message]`.
pub(crate) fn subscribed_ping(args: &[Bytes]) -> Reply {
    if args.len() > 2 {
        return meridian_resp::errors::wrong_arity("ping");
    }
    Reply::Array(vec![
        Reply::bulk(Bytes::from_static(b"pong")),
        Reply::bulk(args.get(1).cloned().unwrap_or_default()),
    ])
}

/// The refusal of any other command on a RESP2 connection in subscribed mode.
pub(crate) fn refused_while_subscribed(name: &str) -> Reply {
    Reply::error(format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    ))
}

/// Whether `session` is in RESP2 subscribed mode.
pub(crate) fn in_subscribed_mode(session: &Session) -> bool {
    session.subscriber.is_some() && session.protocol == Protocol::Resp2
}

/// The registry a server starts with.
pub(crate) fn new_registry() -> Mutex<Registry> {
    Mutex::new(Registry::default())
}
