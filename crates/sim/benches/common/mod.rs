//! What the benchmark programs share: the run header and number formatting.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command as Process;

/// Prints the benchmark's title, mode, machine, commit and profile.
pub fn print_machine(title: &str, quick: bool) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("{title}");
    println!("mode: {}", if quick { "quick (--quick)" } else { "full" });
    println!("cores (nproc): {cores}");
    println!("cpu: {cpu}");
    println!("commit: {}", commit());
    println!(
        "profile: {}",
        if cfg!(debug_assertions) {
            "debug (figures not representative)"
        } else {
            "release"
        }
    );
}

/// The short commit, marked when the code differs from it.
fn commit() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Some(commit) = Process::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(&root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    else {
        return "unknown".to_string();
    };
    let clean = Process::new("git")
        .args([
            "diff",
            "--quiet",
            "HEAD",
            "--",
            "crates",
            "src",
            "Cargo.toml",
            "Cargo.lock",
        ])
        .current_dir(&root)
        .status()
        .is_ok_and(|s| s.success());
    if clean {
        commit
    } else {
        format!("{commit} (with uncommitted changes to the code)")
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
