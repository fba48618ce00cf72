//! What Meridian's benchmarks share: a redis-server started beside the measurement (the
//! reference every figure is printed next to) and the benchmark process's own memory.

#![warn(missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A field of `/proc/self/status` (`VmRSS:`, `VmHWM:`), in KiB; 0 if unreadable.
pub fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A redis-server child process, killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl RedisServer {
    /// Starts one on a free port, without persistence; `None` if it is not installed or does
    /// not answer within 10 s.
    pub fn start() -> Option<RedisServer> {
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = RedisServer { child, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(10) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    /// Sends `commands` pipelined, reading one reply line each.
    pub fn pipeline(&self, commands: impl Iterator<Item = Vec<String>>) -> Option<()> {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        let mut writer = stream.try_clone().ok()?;
        let reader = std::thread::spawn(move || {
            let mut lines = BufReader::new(stream).lines();
            let mut n = 0u64;
            while let Some(Ok(line)) = lines.next() {
                if line == "DONE" {
                    return Some(n);
                }
                n += 1;
            }
            None
        });
        let mut buf = Vec::new();
        for args in commands.chain(std::iter::once(vec!["ECHO".into(), "DONE".into()])) {
            buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for a in &args {
                buf.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
            }
            if buf.len() > 1 << 16 {
                writer.write_all(&buf).ok()?;
                buf.clear();
            }
        }
        writer.write_all(&buf).ok()?;
        let _ = reader.join().ok()?;
        Some(())
    }

    /// `INFO memory`'s `used_memory`, in bytes.
    pub fn used_memory(&self) -> Option<u64> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n")
            .ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut text = String::new();
        let mut buf = [0u8; 8192];
        while !text.contains("used_memory_peak:") {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        text.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
    }
}

/// Runs this benchmark's own executable with `--child` and `args` (so that a measurement
/// starts from a clean heap) and reads the numbers it prints on one line; `None` if it could
/// not run or printed something else.
pub fn child_figures(args: &[&str]) -> Option<Vec<f64>> {
    let out = Command::new(std::env::current_exe().ok()?)
        .arg("--child")
        .args(args)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|v| v.parse().ok())
        .collect()
}

/// Prints the header of a Meridian-against-Redis table: what each column measures.
pub fn ratio_header(ours: &str, theirs: &str) {
    println!("{:<44} {ours:>16} {theirs:>16} {:>8}", "", "ratio");
}

/// Prints a row of a Meridian-against-Redis table: a name, both figures and their ratio
/// (`-` for a figure that is missing).
pub fn ratio_row(name: &str, ours: Option<f64>, theirs: Option<f64>) {
    let show = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
    let ratio = match (ours, theirs) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".to_owned(),
    };
    println!(
        "{name:<44} {:>16} {:>16} {:>8}",
        show(ours),
        show(theirs),
        ratio
    );
}
