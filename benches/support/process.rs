//! The processes a benchmark drives (`pulse-vsphere simulate`, `serve`): spawning one and
//! reading the JSON line it prints, and its RSS and CPU from `/proc`.

// Each benchmark that includes this file uses part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Kills a process however the run ends (the driver sends SIGTERM itself when it means to).
pub struct Proc {
    pub child: Child,
    pub pid: u32,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub async fn spawn(bin: &Path, args: &[&str], envs: &[(&str, &str)], log: &Path) -> (Proc, Value) {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log file"))
        .kill_on_drop(true);
    // The variables serve reads instead of its file: the run must use only its own config.
    for var in [
        "PULSE_VSPHERE_CONFIG",
        "PULSE_VSPHERE_DATA_DIR",
        "PULSE_VSPHERE_STORE_URL",
        "PULSE_VSPHERE_SECRET_KEY",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn pulse-vsphere");
    let pid = child.id().expect("pid");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(180), lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("{args:?} printed no line in 180 s; see {}", log.display()))
        .expect("read stdout")
        .unwrap_or_else(|| panic!("{args:?} exited; see {}", log.display()));
    // Keep reading so a later line never blocks the child on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let info = serde_json::from_str(&line).expect("the JSON line");
    (Proc { child, pid }, info)
}

/// `pulse-vsphere simulate --profile PROFILE` on a loopback port with no changes of its own (the
/// benchmark drives them), and its JSON line (`base_url`, `thumbprint`).
pub async fn simulate(bin: &Path, profile: &str, log: &Path) -> (Proc, Value) {
    spawn(
        bin,
        &[
            "simulate",
            "--profile",
            profile,
            "--listen",
            "127.0.0.1:0",
            "--change-rate",
            "0",
        ],
        &[("RUST_LOG", "warn")],
        log,
    )
    .await
}

pub fn clock_ticks_per_sec() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// VmRSS in KiB.
pub fn rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmRSS:")
}

/// VmHWM (the peak RSS) in KiB.
pub fn peak_rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmHWM:")
}

fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse().ok())
        })
        .unwrap_or(0)
}

/// utime + stime in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}
