//! INFO: the sections Redis tools read (server, clients, memory, stats, replication,
//! keyspace) in Redis's `field:value` lines, with the replication section telling the
//! region's role and every peer with its link state and lag.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::Server;

/// The Redis version whose commands and replies Meridian follows, for clients that check.
pub(crate) const REDIS_COMPAT_VERSION: &str = "7.2.0";

const SECTIONS: [&str; 6] = [
    "server",
    "clients",
    "memory",
    "stats",
    "replication",
    "keyspace",
];

/// The INFO text for the sections asked for (none, `default`, `all` or `everything`: all).
pub(crate) fn render(server: &Server, asked: &[Bytes]) -> String {
    let wanted: Vec<String> = asked
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let all = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| matches!(w.as_str(), "default" | "all" | "everything"));
    let mut out = String::new();
    for section in SECTIONS {
        if !all && !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match section {
            "server" => server_section(server, &mut out),
            "clients" => clients_section(server, &mut out),
            "memory" => memory_section(&mut out),
            "stats" => stats_section(server, &mut out),
            "replication" => replication_section(server, &mut out),
            _ => keyspace_section(server, &mut out),
        }
    }
    out
}

fn server_section(server: &Server, out: &mut String) {
    let config = &server.shared.config;
    let addrs = config.topology.node(config.id);
    let _ = write!(
        out,
        "# Server\r\nredis_version:{REDIS_COMPAT_VERSION}\r\nmeridian_version:{}\r\nredis_mode:standalone\r\n\
         os:{}\r\narch_bits:{}\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n\
         cluster:{}\r\ncluster_id:{}\r\nregion:{}\r\nactor_id:{}\r\nfsync:{}\r\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        usize::BITS,
        std::process::id(),
        addrs.map_or(0, |a| a.resp.port()),
        server.started.elapsed().as_secs(),
        config.topology.cluster,
        server.shared.cluster_id(),
        config.node,
        config.id.0,
        config.fsync,
    );
}

fn clients_section(server: &Server, out: &mut String) {
    let _ = write!(
        out,
        "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\n",
        server.connected(),
        server.shared.config.clients.max_clients,
    );
}

/// Resident memory from /proc (Linux); 0 where it cannot be read.
fn resident_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn memory_section(out: &mut String) {
    let rss = resident_bytes();
    let _ = write!(
        out,
        "# Memory\r\nused_memory_rss:{rss}\r\nused_memory:{rss}\r\n"
    );
}

fn stats_section(server: &Server, out: &mut String) {
    let stats = server.shared.read().replica.stats().clone();
    let _ = write!(
        out,
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\nrejected_connections:{}\r\n\
         ops_received:{}\r\nops_duplicates:{}\r\nprotocol_errors:{}\r\n",
        server.connections_received.load(Ordering::Relaxed),
        server.commands_processed.load(Ordering::Relaxed),
        server.rejected_connections.load(Ordering::Relaxed),
        stats.ops_received,
        stats.duplicates,
        stats.protocol_errors,
    );
}

fn replication_section(server: &Server, out: &mut String) {
    let status = crate::status::Status::of(&server.shared);
    // Redis tools look for master/slave; the region's own role follows.
    let redis_role = if status.role == "leader" {
        "master"
    } else {
        "slave"
    };
    let _ = write!(
        out,
        "# Replication\r\nrole:{redis_role}\r\nmeridian_role:{}\r\nconnected_peers:{}\r\n",
        status.role,
        status.links.iter().filter(|l| l.state == "up").count(),
    );
    for (i, link) in status.links.iter().enumerate() {
        let _ = write!(
            out,
            "peer{i}:name={},state={},behind={},in_flight={},connects={}\r\n",
            link.peer, link.state, link.behind, link.in_flight, link.connects
        );
    }
    let applied: u64 = status.applied.values().sum();
    let _ = write!(out, "applied_ops:{applied}\r\n");
    if let Some(failure) = &status.store_failure {
        let _ = write!(
            out,
            "store_failure:{}\r\n",
            failure.replace(['\r', '\n'], " ")
        );
    }
}

fn keyspace_section(server: &Server, out: &mut String) {
    let (keys, expires) = {
        let core = server.shared.read();
        let ks = core.replica.keyspace();
        (ks.len(), ks.expiring_len())
    };
    out.push_str("# Keyspace\r\n");
    if keys > 0 {
        let _ = write!(out, "db0:keys={keys},expires={expires},avg_ttl=0\r\n");
    }
}
