//! The server commands: INFO, CONFIG GET (a read-only view of the node's settings) and TIME.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use meridian_resp::{Reply, command};
use meridian_store::FsyncPolicy;

use super::Server;
use super::exec::{Answer, Session};
use super::glob;

pub(super) fn info(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    Answer::Now(Reply::Verbatim {
        format: *b"txt",
        text: Bytes::from(super::info::render(server, &args[1..])),
    })
}

/// CONFIG GET parameter [parameter ...]; CONFIG SET is refused (a node's settings live in
/// its config file, read at start).
pub(super) fn config(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    let spec = match command::resolve(args) {
        Ok(spec) => spec,
        Err(reply) => return Answer::Now(reply),
    };
    Answer::Now(match spec.name {
        "config|get" => {
            let settings = settings(server);
            let patterns: Vec<Vec<u8>> = args[2..].iter().map(|p| p.to_ascii_lowercase()).collect();
            Reply::Map(
                settings
                    .into_iter()
                    .filter(|(name, _)| patterns.iter().any(|p| glob::matches(p, name.as_bytes())))
                    .map(|(name, value)| {
                        (
                            Reply::bulk(Bytes::from_static(name.as_bytes())),
                            Reply::bulk(Bytes::from(value)),
                        )
                    })
                    .collect(),
            )
        }
        _ => Reply::error(
            "ERR CONFIG SET is not supported: a Meridian node reads its settings from its config file at start; change the file and restart the node",
        ),
    })
}

/// The settings CONFIG GET shows: Redis's name where Redis has the same setting, a
/// `meridian-` name otherwise. The password is not shown.
fn settings(server: &Server) -> Vec<(&'static str, String)> {
    let config = &server.shared.config;
    let resp = config.topology.node(config.id).map(|n| n.resp);
    let appendfsync = match config.fsync {
        FsyncPolicy::Always => "always",
        FsyncPolicy::Periodic(_) => "everysec",
        FsyncPolicy::Never => "no",
    };
    vec![
        (
            "bind",
            resp.map_or_else(String::new, |a| a.ip().to_string()),
        ),
        ("port", resp.map_or(0, |a| a.port()).to_string()),
        ("maxclients", config.clients.max_clients.to_string()),
        ("timeout", config.clients.idle_timeout_s.to_string()),
        ("databases", "1".to_owned()),
        // No snapshots to schedule: every write is in the node's log before it is answered.
        ("save", String::new()),
        ("appendonly", "yes".to_owned()),
        ("appendfsync", appendfsync.to_owned()),
        (
            "proto-max-bulk-len",
            meridian_resp::Limits::authenticated()
                .max_bulk_bytes
                .to_string(),
        ),
        ("dir", config.data_dir.display().to_string()),
        ("meridian-region", config.node.clone()),
        ("meridian-cluster", config.topology.cluster.clone()),
        ("meridian-fsync", config.fsync.to_string()),
        (
            "meridian-max-output-buffer-bytes",
            config.clients.max_output_buffer_bytes.to_string(),
        ),
    ]
}

/// TIME: the node's wall clock as seconds and microseconds since the Unix epoch.
pub(super) fn time(_: &Arc<Server>, _: &mut Session, _: &[Bytes]) -> Answer {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Answer::Now(Reply::Array(vec![
        Reply::bulk(Bytes::from(now.as_secs().to_string())),
        Reply::bulk(Bytes::from(now.subsec_micros().to_string())),
    ]))
}
