//! GraphQL page benchmark (issue 5): a page of 100 VMs with host, datastores, guest and alert
//! fields, over real HTTP, under concurrency 32, at `max` (45,000 VMs) and `small` scale, plus
//! the time `serde_json` alone needs to serialize the same response (the floor).
//!
//! Run: `cargo bench --bench graphql_page` (add `-- quick` for a shorter run).
//! The store is filled by projecting the in-process simulator's objects at the collector's
//! property paths, so this measures the query layer alone.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use pulse_vsphere::collector::CollectorConfig;
use pulse_vsphere::connections::Registry;
use pulse_vsphere::model::project::project;
use pulse_vsphere::model::snapshot::InventorySnapshot;
use pulse_vsphere::server::{app, run, AppState, Counters};
use pulse_vsphere::simulator::{Profile, SimConfig, Simulator};
use serde_json::{json, Value};

const QUERY: &str = r#"query($after: String) { vsphereVms(first: 100, after: $after) {
  totalCount pageInfo { endCursor hasNextPage }
  nodes { id name status lastSeen
    host { id name status }
    datastores { nodes { id name } }
    alerts { id name severity since }
    identity { instanceUuid ips macs hostnames }
    vsphere { powerState snapshotCount
      guest { hostname osName toolsRunning ipAddress filesystems { path capacityBytes freeBytes } }
      topology { datacenter { name } cluster { name } folderPath } } } } }"#;

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(profile: Profile, requests: usize) -> (Duration, Duration, f64, Value) {
    let mut cfg = SimConfig::with_profile(profile);
    if profile == Profile::Small {
        // Enough VMs for a full second page of 100 at small scale.
        cfg.size.vms = 300;
    }
    let sim = Simulator::start(cfg).await.expect("sim");
    let store = Registry::new(CollectorConfig::default());
    let slot = store.attach("bench", "bench vCenter");
    let t = Instant::now();
    let (raw, ctx) = common::raw_from(sim.control().state());
    slot.publish(InventorySnapshot::build(
        &sim.instance_uuid(),
        Utc::now(),
        project(&raw, &ctx),
    ));
    println!(
        "  {profile:?}: projected {} VMs in {:?}",
        slot.snapshot().map(|s| s.vms.len()).unwrap_or(0),
        t.elapsed()
    );
    drop(raw);
    let state = AppState {
        schemas: pulse_vsphere::graphql::SchemaDeps::new(store.clone()).schemas(),
        registry: store,
        counters: Arc::new(Counters::default()),
        access: Arc::new(pulse_vsphere::server::Access::new(
            pulse_vsphere::auth::Authenticator::none(),
        )),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/graphql", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, app(state), async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::new();
    // A page in the middle of the list, so the cursor seek is exercised.
    let first: Value = client
        .post(&url)
        .json(&json!({"query": QUERY}))
        .send()
        .await
        .expect("q")
        .json()
        .await
        .expect("json");
    let after = first["data"]["vsphereVms"]["pageInfo"]["endCursor"].clone();
    let body = json!({"query": QUERY, "variables": {"after": after}});
    let sample: Value = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .expect("q")
        .json()
        .await
        .expect("json");
    assert!(sample["errors"].is_null(), "{sample}");
    let per_worker = requests / 32;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let client = client.clone();
        let url = url.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_worker);
            for _ in 0..per_worker {
                let t = Instant::now();
                let r = client.post(&url).json(&body).send().await.expect("send");
                let _ = r.bytes().await.expect("body");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("join"));
    }
    let wall = started.elapsed();
    all.sort();
    let _ = tx.send(());
    let _ = server.await;
    sim.shutdown().await;
    (
        pct(&all, 0.5),
        pct(&all, 0.99),
        all.len() as f64 / wall.as_secs_f64(),
        sample,
    )
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let requests = if quick { 640 } else { 3_200 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        println!("GraphQL page of 100 VMs (host, datastores, guest, alerts, topology), concurrency 32, {requests} requests");
        let (s50, s99, s_tp, _) = measure(Profile::Small, requests).await;
        println!("  small (4 hosts, 300 VMs): p50 {s50:?}  p99 {s99:?}  throughput {s_tp:.0} req/s");
        let (m50, m99, m_tp, sample) = measure(Profile::Max, requests).await;
        println!("  max (2,500 hosts, 45,000 VMs): p50 {m50:?}  p99 {m99:?}  throughput {m_tp:.0} req/s");
        println!("  p50 ratio max/small: {:.2}", m50.as_secs_f64() / s50.as_secs_f64());
        let n = 2_000;
        let t = Instant::now();
        let mut bytes = 0;
        for _ in 0..n {
            bytes = serde_json::to_vec(&sample).expect("serialize").len();
        }
        println!("  serde_json floor: {:?} per response ({bytes} bytes)", t.elapsed() / n);
        println!("  peak RSS of this process: {:.0} MB", rss_mb());
    });
}
