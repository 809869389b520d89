//! Collector benchmark (issue 4) at the vCenter maximums (2,500 hosts, 45,000 VMs): the raw
//! floor (the same pages read and dropped), cold sync to a complete snapshot and its ratio to
//! the floor, the same plus one full realtime metrics pass, steady-state vCenter
//! requests per minute with no change, time from a change to the snapshot, the peak RSS of
//! the service, and its memory under sustained change (churn).
//!
//! The simulator runs as a separate process (`pulse-vsphere simulate --profile max
//! --change-rate 0`) so that the RSS read from this process is the collector's alone; both
//! share the same 2 cores, as they would on a lab machine.
//!
//! Run: `cargo bench --bench collector_max` (`BENCH_STEADY_SECS` changes the 60 s steady window,
//! `BENCH_CHURN_SECS` the 60 s churn phase, `BENCH_FLOOR_RUNS` the 2 floor reads,
//! `BENCH_SIMULATOR_BIN` the simulator's binary).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pulse_vsphere::collector::{self, sync, CollectorConfig, CollectorStats};
use pulse_vsphere::inventory::ConnectionSlot;
use pulse_vsphere::vcenter::reads::properties;
use pulse_vsphere::vcenter::{ClientConfig, Secret, TlsMode, VcClient};
use serde_json::{json, Value};

const VMS: usize = 45_000;

// The same allocator as the `pulse-vsphere` binary (mimalloc, with a count of live heap bytes),
// so the RSS measured is the service's.
#[path = "support/counting_alloc.rs"]
mod counting_alloc;

fn status_kb(path: &str, field: &str) -> f64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

fn mb(kb: f64) -> f64 {
    kb / 1024.0
}

/// Kills the simulator however the bench ends, so a panic never leaves 2 GB running.
struct SimProcess(Child);

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_simulator() -> (SimProcess, Value) {
    let t = Instant::now();
    // `BENCH_SIMULATOR_BIN` runs a copy of the binary (two builds compared side by side).
    let bin = std::env::var("BENCH_SIMULATOR_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_pulse-vsphere").to_string());
    let mut child = Command::new(bin)
        .args([
            "simulate",
            "--profile",
            "max",
            "--listen",
            "127.0.0.1:0",
            "--change-rate",
            "0",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the simulator");
    let out = child.stdout.take().expect("stdout");
    let sim = SimProcess(child);
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).expect("read");
    let info: Value = serde_json::from_str(&line).expect("the simulator's JSON line");
    println!(
        "simulator (separate process, pid {}) at max up in {:.1} s: {}",
        sim.0.id(),
        t.elapsed().as_secs_f64(),
        info["inventory"]
    );
    (sim, info)
}

/// Which part of the collector an endpoint of `/_sim/stats` belongs to.
fn class_of(endpoint: &str) -> &'static str {
    let call = endpoint
        .trim_start_matches("vim:")
        .trim_start_matches("GET ");
    if call.starts_with("PropertyCollector.")
        || call.starts_with("ViewManager.")
        || call.starts_with("ContainerView.")
    {
        "inventory"
    } else if call.starts_with("PerformanceManager.") || call.starts_with("OptionManager.") {
        "metrics"
    } else if call.starts_with("EventManager.")
        || call.starts_with("EventHistoryCollector.")
        || call.starts_with("TaskManager.")
        || call.starts_with("Task.")
    {
        "events+tasks"
    } else {
        "other"
    }
}

/// Asks the simulator for `count` random changes; how many it applied.
async fn sim_changes(http: &reqwest::Client, base: &str, count: u64) -> u64 {
    let r: Value = http
        .post(format!("{base}/_sim/changes"))
        .json(&json!({ "count": count }))
        .send()
        .await
        .expect("changes")
        .json()
        .await
        .expect("changes json");
    r["applied"].as_u64().unwrap_or(0)
}

async fn sim_requests(http: &reqwest::Client, base: &str) -> BTreeMap<String, u64> {
    let v: Value = http
        .get(format!("{base}/_sim/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats json");
    serde_json::from_value(v["requests"].clone()).expect("requests")
}

fn diff(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    b.iter()
        .map(|(k, n)| (k.clone(), n - a.get(k).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

async fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return Some(t.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

fn sim_client(base: &str, thumbprint: &str) -> VcClient {
    VcClient::new(ClientConfig::new(
        base,
        "admin",
        Secret::new("admin"),
        TlsMode::Thumbprint(thumbprint.to_string()),
    ))
    .expect("client")
}

/// The raw floor: the collector's property set read from the same simulator at the same page
/// size by a session of its own (login, view, every page), each page decoded and dropped, with
/// no projection and no storing. Cold sync over this is what the collector adds to reading
/// vCenter. Seconds, objects read, and seconds in the paging calls themselves.
async fn raw_floor(base: &str, thumbprint: &str, page_size: u32) -> (f64, usize, f64) {
    let t = Instant::now();
    let c = sim_client(base, thumbprint);
    c.login().await.expect("login");
    let view = properties::create_view(&c, &sync::collected_types())
        .await
        .expect("view");
    let n = properties::retrieve_paged(&c, sync::spec(&view), page_size, drop)
        .await
        .expect("pages");
    let secs = t.elapsed().as_secs_f64();
    let calls: f64 = c
        .stats()
        .snapshot()
        .iter()
        .filter(|((_, call, _), _)| call.ends_with("RetrievePropertiesEx"))
        .map(|(_, (_, secs))| secs)
        .sum();
    properties::destroy_view(&c, &view).await;
    c.logout().await;
    (secs, n, calls)
}

fn expected_metric_entities(slot: &ConnectionSlot) -> usize {
    let snap = slot.snapshot().expect("snapshot");
    let hosts = snap
        .agents
        .iter()
        .filter(|a| a.connection_state.as_deref() == Some("connected"))
        .count();
    let vms = snap
        .vms
        .iter()
        .filter(|v| v.power_state.as_deref() == Some("poweredOn"))
        .count();
    hosts + vms
}

fn counters(s: &CollectorStats) -> String {
    format!(
        "full_syncs {}, updates_applied {}, snapshots_published {}, metric_passes {}, skipped_ticks {}",
        s.full_syncs.load(Ordering::Relaxed),
        s.updates_applied.load(Ordering::Relaxed),
        s.snapshots_published.load(Ordering::Relaxed),
        s.metric_passes.load(Ordering::Relaxed),
        s.skipped_ticks.load(Ordering::Relaxed),
    )
}

fn main() {
    // The collector's phase timings (full sync read, projection, build, initial update set,
    // metrics pass) go to stderr; RUST_LOG overrides.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,pulse_vsphere::collector=debug")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let (sim, info) = start_simulator();
    let base = info["base_url"].as_str().expect("base_url").to_string();
    let thumbprint = info["thumbprint"].as_str().expect("thumbprint").to_string();
    let sim_status = format!("/proc/{}/status", sim.0.id());
    let steady_secs: u64 = std::env::var("BENCH_STEADY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // Only the loopback control API is read with this client; the collector pins the thumbprint.
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .expect("client");
        let rss_before = status_kb("/proc/self/status", "VmHWM:");
        let config = CollectorConfig::default();
        println!("collector config: default {config:?}");

        // 0: the raw floor, before the collector so nothing else competes for the cores. The
        // first read also warms the simulator; the ratio is taken to the fastest read.
        let floor_runs: usize = std::env::var("BENCH_FLOOR_RUNS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2);
        let mut floor = f64::INFINITY;
        for i in 1..=floor_runs.max(1) {
            let (secs, n, calls) = raw_floor(&base, &thumbprint, config.page_size).await;
            println!(
                "0. raw floor, read {i}: {secs:.2} s ({n} objects in pages of {}, decoded and dropped; {calls:.2} s in the paging calls)",
                config.page_size
            );
            floor = floor.min(secs);
        }

        let slot = Arc::new(ConnectionSlot::new("vc1", "simulator at max"));
        let client = sim_client(&base, &thumbprint);

        // 1 + 2: cold sync, then the first complete metrics pass.
        let t0 = Instant::now();
        let h = collector::spawn(client, slot.clone(), config);
        let stats = h.stats.clone();
        let first = wait_for(Duration::from_secs(300), || {
            slot.snapshot().is_some_and(|s| s.vms.len() == VMS)
        })
        .await
        .map(|_| t0.elapsed());
        let Some(first) = first else {
            println!("no complete snapshot in 300 s; health {:?}", slot.health());
            return;
        };
        let snap = slot.snapshot().expect("snapshot");
        println!(
            "1. cold sync to a complete snapshot: {:.2} s ({} hosts, {} VMs, {} datastores; RSS now {:.0} MB)",
            first.as_secs_f64(),
            snap.agents.len(),
            snap.vms.len(),
            snap.storage.len(),
            mb(status_kb("/proc/self/status", "VmRSS:"))
        );
        drop(snap);
        println!(
            "1. cold sync / raw floor: {:.2} ({:.2} s / {floor:.2} s)",
            first.as_secs_f64() / floor,
            first.as_secs_f64()
        );
        let metrics = wait_for(Duration::from_secs(300), || {
            stats.metric_passes.load(Ordering::Relaxed) >= 1
        })
        .await
        .map(|_| t0.elapsed());
        match metrics {
            Some(m) => println!(
                "2. cold sync + one full realtime metrics pass: {:.2} s ({} entities sampled of {} connected hosts + powered-on VMs)",
                m.as_secs_f64(),
                slot.activity().metrics.len(),
                expected_metric_entities(&slot)
            ),
            None => println!("2. no metrics pass in 300 s; health {:?}", slot.health()),
        }

        // The change feed's initial update set repeats the whole inventory; steady state starts
        // once it has been applied and published.
        let settled = wait_for(Duration::from_secs(300), || {
            stats.snapshots_published.load(Ordering::Relaxed) >= 2
        })
        .await
        .map(|_| t0.elapsed());
        println!(
            "   initial WaitForUpdatesEx pass applied and published at {:.2} s; {}",
            settled.map(|d| d.as_secs_f64()).unwrap_or(f64::NAN),
            counters(&stats)
        );
        tokio::time::sleep(Duration::from_secs(5)).await;

        // 3: steady state, no change.
        let a = sim_requests(&http, &base).await;
        let published = stats.snapshots_published.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(steady_secs)).await;
        let b = sim_requests(&http, &base).await;
        let per_min = 60.0 / steady_secs as f64;
        let d = diff(&a, &b);
        let mut by_class: BTreeMap<&str, u64> = BTreeMap::new();
        for (k, n) in &d {
            *by_class.entry(class_of(k)).or_default() += n;
        }
        println!(
            "3. steady state over {steady_secs} s with --change-rate 0 (requests per minute, counted by the simulator; {} snapshots published meanwhile):",
            stats.snapshots_published.load(Ordering::Relaxed) - published
        );
        for (class, n) in &by_class {
            println!("   {class}: {:.1}/min", *n as f64 * per_min);
        }
        for (k, n) in &d {
            println!("     {k}: {:.1}/min", *n as f64 * per_min);
        }

        // 4: a change in the simulator until the snapshot that shows it is published.
        let mut lat = Vec::new();
        let mut missed = 0;
        for _ in 0..10 {
            // More than `publish_every` since the last publish, so no trial waits on the previous.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            let before = slot.snapshot().expect("snapshot");
            let n = stats.snapshots_published.load(Ordering::Relaxed);
            let t = Instant::now();
            // A random change can be a no-op (a migration to the VM's own host); ask again.
            let mut applied = 0;
            for _ in 0..20 {
                applied = sim_changes(&http, &base, 1).await;
                if applied > 0 {
                    break;
                }
            }
            assert_eq!(applied, 1, "the simulator applied no change in 20 attempts");
            let seen = wait_for(Duration::from_secs(90), || {
                stats.snapshots_published.load(Ordering::Relaxed) > n
                    && slot.snapshot().is_some_and(|s| !Arc::ptr_eq(&s, &before))
            })
            .await;
            match seen {
                Some(_) => lat.push(t.elapsed().as_secs_f64()),
                None => missed += 1,
            }
        }
        lat.sort_by(f64::total_cmp);
        if lat.is_empty() {
            println!("4. no change reached the snapshot within 90 s");
        } else {
            println!(
                "4. change to snapshot (one random /_sim/changes change, {} trials{}): median {:.2} s, min {:.2} s, max {:.2} s",
                lat.len(),
                if missed > 0 { format!(", {missed} missed") } else { String::new() },
                lat[lat.len() / 2],
                lat[0],
                lat[lat.len() - 1]
            );
        }

        // 6 (reported after 5): churn. A busy vCenter: 100 random changes every second for
        // `BENCH_CHURN_SECS` (60 s); the service's memory must stay flat, not grow with changes.
        let peak_before_churn = status_kb("/proc/self/status", "VmHWM:");
        let rss_churn_start = status_kb("/proc/self/status", "VmRSS:");
        let published_before = stats.snapshots_published.load(Ordering::Relaxed);
        let churn_secs: u64 = std::env::var("BENCH_CHURN_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60);
        let mut applied_total = 0;
        let mut rss_samples = Vec::new();
        let heap_start = counting_alloc::live();
        let mut heap_samples = Vec::new();
        for _ in 0..churn_secs {
            applied_total += sim_changes(&http, &base, 100).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            rss_samples.push(status_kb("/proc/self/status", "VmRSS:"));
            heap_samples.push(counting_alloc::live() as f64 / 1048576.0);
        }
        let churn_published = stats.snapshots_published.load(Ordering::Relaxed) - published_before;
        let (first_half, second_half) = rss_samples.split_at(rss_samples.len() / 2);
        let (heap_first, heap_second) = heap_samples.split_at(heap_samples.len() / 2);
        let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;

        // 5: peak RSS of the service (this process; the simulator is apart).
        println!(
            "5. peak RSS before the churn phase: {:.0} MB",
            mb(peak_before_churn)
        );
        println!(
            "5. peak RSS of the service (VmHWM of this process): {:.0} MB (before the collector: {:.0} MB; now {:.0} MB)",
            mb(status_kb("/proc/self/status", "VmHWM:")),
            mb(rss_before),
            mb(status_kb("/proc/self/status", "VmRSS:"))
        );
        println!(
            "   simulator process peak RSS: {:.0} MB",
            mb(status_kb(&sim_status, "VmHWM:"))
        );
        println!(
            "6. churn: {applied_total} changes applied over {churn_secs} s (100 requested per second), {churn_published} snapshots published; RSS {:.0} MB at the start, mean {:.0} MB in the first half, {:.0} MB in the second half, {:.0} MB at the end; live heap {:.0} MB at the start, mean {:.0} / {:.0} MB in the halves, {:.0} MB at the end",
            mb(rss_churn_start),
            mb(avg(first_half)),
            mb(avg(second_half)),
            mb(status_kb("/proc/self/status", "VmRSS:")),
            heap_start as f64 / 1048576.0,
            avg(heap_first),
            avg(heap_second),
            counting_alloc::live() as f64 / 1048576.0,
        );
        println!("   {}", counters(&stats));
        let mut calls: Vec<_> = h.client.stats().snapshot().into_iter().collect();
        calls.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
        println!("   client calls by total time (family, call, status: count, seconds):");
        for ((fam, call, status), (n, secs)) in calls.iter().take(12) {
            println!("     {fam} {call} {status}: {n}, {secs:.2} s");
        }
        h.shutdown().await;
    });
    drop(sim);
}
