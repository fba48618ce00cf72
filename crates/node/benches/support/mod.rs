//! What the node benchmarks share: free loopback ports (`meridian_node::ports`), tool
//! checks, CPU clock ticks, tables and number formatting.

use std::process::{Command, Stdio};

use crate::common::thousands;

/// A free loopback address for QUIC and two for TCP.
pub fn free_addrs() -> (
    std::net::SocketAddr,
    std::net::SocketAddr,
    std::net::SocketAddr,
) {
    meridian_node::ports::free_addrs().expect("free loopback ports")
}

/// A free loopback port.
pub fn free_port() -> u16 {
    meridian_node::ports::free_port().expect("a free loopback port")
}

/// The nodes under test allocate as the `meridian` binary does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Prints a plain text table: first column left-aligned, the others right-aligned.
pub fn print_table(title: &str, header: &[&str], rows: &[Vec<String>], notes: &[String]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(widths.len()) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i].saturating_sub(cell.chars().count()));
            if i == 0 {
                out.push_str(cell);
                out.push_str(&pad);
            } else {
                out.push_str("  ");
                out.push_str(&pad);
                out.push_str(cell);
            }
        }
        out.trim_end().to_owned()
    };
    println!("\n{title}\n");
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    println!("{}", line(&header));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    println!("{}", line(&rule));
    for row in rows {
        println!("{}", line(row));
    }
    for note in notes {
        println!("   {note}");
    }
}

pub fn rate(r: f64) -> String {
    thousands(r.round() as u64)
}

/// `USER_HZ`, the unit of `/proc/stat`: 100 on Linux unless `getconf` says otherwise.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

pub fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// utime + stime of a process, in clock ticks, from its `/proc/<pid>/stat` (`"self"` for this
/// one); 0 where it cannot be read.
pub fn process_ticks(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let fields: Vec<u64> = s
                .rsplit_once(") ")?
                .1
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse().ok())
                .collect();
            Some(fields.iter().sum())
        })
        .unwrap_or(0)
}

/// The machine's busy clock ticks (user, nice, system, irq, softirq) from `/proc/stat`; 0
/// where it cannot be read.
pub fn machine_ticks() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let line = s.lines().next()?;
            let v: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|f| f.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq ...
            Some([0, 1, 2, 5, 6].iter().filter_map(|&i| v.get(i)).sum())
        })
        .unwrap_or(0)
}
