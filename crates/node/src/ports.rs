//! Loopback addresses for clusters run on one machine (demos, tests, benchmarks:
//! [`crate::cluster::launch`]), from ports below the kernel's ephemeral range.
//!
//! Binding port 0 and letting the socket go yields a port of the ephemeral range, and any
//! outgoing connection of the process (a Redis client, a QUIC dial, a test's own socket) may
//! be given that same port before the node binds it: "Address already in use". The kernel
//! never hands out ports below that range on its own, so these are taken from there. A
//! process-wide counter keeps the clusters of one test binary (whose tests run in parallel)
//! apart, a start derived from the process id keeps two processes apart, and every
//! candidate is bound, TCP and UDP, before it is handed out, so one another program holds
//! is skipped.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// How many candidates have been handed out or skipped in this process.
static TAKEN: AtomicU32 = AtomicU32::new(0);

/// The window ports are taken from: the 12,000 ports below the ephemeral range, or a fixed
/// window where that range starts too low to leave room. Read once per process.
fn window() -> (u16, u16) {
    static WINDOW: OnceLock<(u16, u16)> = OnceLock::new();
    *WINDOW.get_or_init(read_window)
}

fn read_window() -> (u16, u16) {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if ephemeral_low >= 10_000 {
        (
            ephemeral_low.saturating_sub(12_000).max(1024),
            ephemeral_low,
        )
    } else {
        (20_000, 30_000)
    }
}

/// No loopback port of the window was free.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no free loopback port in {start}..{end}")]
pub struct NoFreePort {
    /// The window's first port.
    pub start: u16,
    /// Its end.
    pub end: u16,
}

/// A loopback port free for both TCP and UDP, never handed out before in this process.
pub fn free_port() -> Result<u16, NoFreePort> {
    let (start, end) = window();
    let span = u32::from(end - start);
    let first = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let n = TAKEN.fetch_add(1, Ordering::Relaxed);
        let port = start + u16::try_from((first + n) % span).unwrap_or(0);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        if TcpListener::bind(addr).is_ok() && UdpSocket::bind(addr).is_ok() {
            return Ok(port);
        }
    }
    Err(NoFreePort { start, end })
}

/// A free loopback address for QUIC (UDP) and two for TCP (RESP, admin).
pub fn free_addrs() -> Result<(SocketAddr, SocketAddr, SocketAddr), NoFreePort> {
    let addr = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    Ok((addr(free_port()?), addr(free_port()?), addr(free_port()?)))
}
