//! `orderBy` on the resource lists, over HTTP against a store the real collector filled from the
//! simulator over HTTPS: the top N by CPU are the highest values the simulator's load model
//! holds for the sample served, every order pages every item exactly once in the order its
//! served values give, resources without the value come last both ways, a cursor is refused by
//! any other order, and the default order's cursors are the ones clients always had.

mod common;

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use pulse_vsphere::collector::{self, CollectorConfig};
use pulse_vsphere::connections::Registry;
use pulse_vsphere::simulator::{load, SimConfig, Simulator};
use serde_json::{json, Value};

use common::{codes, run, Api};

/// A simulator with powered-off VMs and VMs with snapshots, collected until a realtime metrics
/// pass has landed; the collector is then stopped so every query reads the same values.
async fn setup() -> (Simulator, Arc<Registry>, Api) {
    let mut cfg = SimConfig::small();
    cfg.size.hosts = 6;
    cfg.size.vms = 80;
    cfg.size.datastores = 6;
    let sim = Simulator::start(cfg).await.expect("sim");
    let vms = sim
        .control()
        .state()
        .inv()
        .ids_of("VirtualMachine")
        .to_vec();
    // Whatever the generator made: powered-off VMs (no CPU) and VMs with snapshots.
    for vm in &vms[..2] {
        sim.control().set_vm_power(vm, "poweredOff");
    }
    for vm in &vms[2..4] {
        assert!(sim.control().take_snapshot(vm, "before-upgrade"));
    }
    let registry = Registry::new(CollectorConfig::default());
    let slot = registry.attach("vc1", "lab vCenter");
    let client =
        pulse_vsphere::vcenter::VcClient::new(common::client_config(&sim, "admin", "admin"))
            .expect("client");
    let config = CollectorConfig {
        wait: Duration::from_secs(1),
        publish_every: Duration::from_millis(50),
        metrics_every: Duration::from_millis(300),
        ..CollectorConfig::default()
    };
    let h = collector::spawn(client, slot.clone(), config);
    let done = common::eventually(60, || {
        slot.snapshot().is_some_and(|s| s.vms.len() == vms.len()) && {
            let a = slot.activity();
            a.metrics_at.is_some() && !a.metrics.is_empty()
        }
    })
    .await;
    assert!(done, "no snapshot with metrics: {:?}", slot.health());
    h.shutdown().await;
    let api = Api::serve(registry.clone()).await;
    (sim, registry, api)
}

const VMS: &str = r#"query($first: Int, $after: String, $orderBy: VsphereVmOrder) {
  vsphereVms(first: $first, after: $after, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id name metrics { cpuPercent memoryPercent sampledAt }
            vsphere { moid powerState oldestSnapshotAt datastoreUsage { committedBytes } } }
  }
}"#;

const HOSTS: &str = r#"query($first: Int, $after: String, $orderBy: VsphereHostOrder) {
  vsphereHosts(first: $first, after: $after, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id name metrics { cpuPercent memoryPercent } }
  }
}"#;

const DATASTORES: &str = r#"query($first: Int, $after: String, $orderBy: VsphereDatastoreOrder) {
  vsphereDatastores(first: $first, after: $after, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id name metrics { storageUsedPercent } vsphere { freeBytes capacityBytes } }
  }
}"#;

/// Every node of `root` in `order`, walking pages of `first` with cursors.
async fn walk(api: &Api, query: &str, root: &str, order: Value, first: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let r = run(
            api,
            query,
            json!({"first": first, "after": after, "orderBy": order}),
        )
        .await;
        assert!(r["errors"].is_null(), "{order}: {r}");
        let c = &r["data"][root];
        let nodes = c["nodes"].as_array().expect("nodes");
        assert!(nodes.len() <= first);
        out.extend(nodes.iter().cloned());
        if c["pageInfo"]["hasNextPage"] == false {
            assert_eq!(c["totalCount"].as_u64(), Some(out.len() as u64));
            return out;
        }
        after = c["pageInfo"]["endCursor"].as_str().map(str::to_string);
        assert!(after.is_some());
    }
}

/// The value a node is ordered by, read from what the graph serves for it.
fn served_value(field: &str, n: &Value) -> Option<f64> {
    match field {
        "CPU" => n["metrics"]["cpuPercent"].as_f64(),
        "MEMORY" => n["metrics"]["memoryPercent"].as_f64(),
        "USED_PERCENT" => n["metrics"]["storageUsedPercent"].as_f64(),
        "FREE" => n["vsphere"]["freeBytes"].as_f64(),
        "CAPACITY" => n["vsphere"]["capacityBytes"].as_f64(),
        "STORAGE_USED" => {
            let usage = n["vsphere"]["datastoreUsage"].as_array()?;
            (!usage.is_empty()).then(|| {
                usage
                    .iter()
                    .filter_map(|u| u["committedBytes"].as_f64())
                    .sum()
            })
        }
        "OLDEST_SNAPSHOT" => n["vsphere"]["oldestSnapshotAt"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis() as f64),
        other => panic!("no value for {other}"),
    }
}

/// The order `field`/`direction` must give, from the default (name) order: values by
/// direction, nodes without one last, ties in name order; the name order itself reversed.
fn expected(by_name: &[Value], field: &str, desc: bool) -> Vec<String> {
    let mut nodes: Vec<&Value> = by_name.iter().collect();
    if field == "NAME" {
        if desc {
            nodes.reverse();
        }
    } else {
        // A stable sort keeps name order among equal values.
        nodes.sort_by(
            |a, b| match (served_value(field, a), served_value(field, b)) {
                (Some(x), Some(y)) if desc => y.total_cmp(&x),
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            },
        );
    }
    nodes.iter().map(|n| id(n)).collect()
}

fn id(n: &Value) -> String {
    n["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn top_five_by_cpu_are_the_highest_values_the_simulator_holds() {
    let (sim, _registry, api) = setup().await;
    let r = run(
        &api,
        VMS,
        json!({"first": 5, "orderBy": {"field": "CPU", "direction": "DESC"}}),
    )
    .await;
    assert!(r["errors"].is_null(), "{r}");
    let top = r["data"]["vsphereVms"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone();
    assert_eq!(top.len(), 5);

    // The simulator's load model: each running VM's CPU in the realtime sample its metrics were
    // read from (a pass may straddle a 20 s sample, so each VM's own).
    let all = walk(&api, VMS, "vsphereVms", Value::Null, 500).await;
    let truth: Vec<(String, f64)> = {
        let inv = sim.control().state().inv();
        let mut cpu: Vec<(String, f64)> = all
            .iter()
            .filter_map(|n| {
                let moid = n["vsphere"]["moid"].as_str()?;
                let at = n["metrics"]["sampledAt"].as_str()?;
                let t = chrono::DateTime::parse_from_rfc3339(at).ok()?;
                let load = load::sample(inv.get(moid)?, t.with_timezone(&chrono::Utc))?;
                Some((moid.to_string(), load.cpu_usage() as f64 / 100.0))
            })
            .collect();
        cpu.sort_by(|a, b| b.1.total_cmp(&a.1));
        cpu
    };
    let running = all
        .iter()
        .filter(|n| n["vsphere"]["powerState"] == "poweredOn")
        .count();
    assert_eq!(truth.len(), running, "every running VM has a sample");
    assert!(running > 5, "{running} running VMs");
    for (i, n) in top.iter().enumerate() {
        let served = n["metrics"]["cpuPercent"].as_f64().expect("cpu");
        assert!(
            (served - truth[i].1).abs() < 1e-6,
            "#{i} {}: served {served}, the simulator's {i}th highest is {}",
            n["vsphere"]["moid"],
            truth[i].1
        );
    }
    // Ties aside, the same VMs.
    let top_moids: HashSet<&str> = top
        .iter()
        .map(|n| n["vsphere"]["moid"].as_str().expect("moid"))
        .collect();
    let cut = truth[4].1;
    for (m, cpu) in &truth {
        if *cpu > cut {
            assert!(
                top_moids.contains(m.as_str()),
                "{m} at {cpu} % is not in the top 5"
            );
        }
    }
}

#[tokio::test]
async fn every_order_pages_every_item_once_with_missing_values_last() {
    let (_sim, _registry, api) = setup().await;
    let lists = [
        (
            VMS,
            "vsphereVms",
            &["NAME", "CPU", "MEMORY", "STORAGE_USED", "OLDEST_SNAPSHOT"][..],
        ),
        (HOSTS, "vsphereHosts", &["NAME", "CPU", "MEMORY"][..]),
        (
            DATASTORES,
            "vsphereDatastores",
            &["NAME", "USED_PERCENT", "FREE", "CAPACITY"][..],
        ),
    ];
    for (query, root, fields) in lists {
        let by_name = walk(&api, query, root, Value::Null, 500).await;
        assert!(by_name.len() > 5, "{root}");
        let all: HashSet<String> = by_name.iter().map(id).collect();
        assert_eq!(all.len(), by_name.len(), "{root}: ids are unique");
        for field in fields {
            for (dir, desc) in [("ASC", false), ("DESC", true)] {
                let order = json!({"field": field, "direction": dir});
                let got: Vec<String> = walk(&api, query, root, order, 4)
                    .await
                    .iter()
                    .map(id)
                    .collect();
                assert_eq!(
                    got,
                    expected(&by_name, field, desc),
                    "{root} by {field} {dir}: each item once, in the order of its served value"
                );
            }
        }
    }

    // The rule on missing values, seen directly: powered-off VMs have no CPU and come after
    // every running VM in both directions; VMs without snapshots after those with one.
    let by_name = walk(&api, VMS, "vsphereVms", Value::Null, 500).await;
    for (field, want_missing) in [("CPU", true), ("OLDEST_SNAPSHOT", true)] {
        let missing = by_name
            .iter()
            .filter(|n| served_value(field, n).is_none())
            .count();
        assert_eq!(missing > 0, want_missing, "{field}: some VMs have no value");
        for dir in ["ASC", "DESC"] {
            let order = json!({"field": field, "direction": dir});
            let got = walk(&api, VMS, "vsphereVms", order, 50).await;
            let first_missing = got
                .iter()
                .position(|n| served_value(field, n).is_none())
                .expect("a missing value");
            assert_eq!(
                first_missing,
                got.len() - missing,
                "{field} {dir}: missing last"
            );
            assert!(got[first_missing..]
                .iter()
                .all(|n| served_value(field, n).is_none()));
        }
    }
    for n in &by_name {
        if n["vsphere"]["powerState"] != "poweredOn" {
            assert!(served_value("CPU", n).is_none(), "{n}");
        }
    }
}

#[tokio::test]
async fn cursors_belong_to_their_order_and_default_cursors_are_unchanged() {
    let (_sim, _registry, api) = setup().await;
    let cpu_desc = json!({"field": "CPU", "direction": "DESC"});
    let r = run(&api, VMS, json!({"first": 3, "orderBy": cpu_desc})).await;
    let cpu_cursor = r["data"]["vsphereVms"]["pageInfo"]["endCursor"].clone();
    assert!(cpu_cursor.is_string(), "{r}");
    let r = run(&api, VMS, json!({"first": 3})).await;
    let name_cursor = r["data"]["vsphereVms"]["pageInfo"]["endCursor"].clone();

    // The default order's cursor is what it always was: base64 of [lowercase name, id].
    let last = &r["data"]["vsphereVms"]["nodes"][2];
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(name_cursor.as_str().expect("cursor"))
        .expect("base64");
    let decoded: Value = serde_json::from_slice(&raw).expect("json");
    assert_eq!(
        decoded,
        json!([
            last["name"].as_str().expect("name").to_lowercase(),
            last["id"]
        ])
    );

    // Each cursor continues its own order.
    let r = run(
        &api,
        VMS,
        json!({"first": 3, "after": cpu_cursor, "orderBy": cpu_desc}),
    )
    .await;
    assert!(r["errors"].is_null(), "{r}");
    let r = run(&api, VMS, json!({"first": 3, "after": name_cursor})).await;
    assert!(r["errors"].is_null(), "{r}");
    let r = run(
        &api,
        VMS,
        json!({"first": 3, "after": name_cursor, "orderBy": {"field": "NAME"}}),
    )
    .await;
    assert!(r["errors"].is_null(), "NAME ASC is the default order: {r}");

    // And no other.
    for (after, order) in [
        (&cpu_cursor, Value::Null),
        (&cpu_cursor, json!({"field": "CPU", "direction": "ASC"})),
        (&cpu_cursor, json!({"field": "MEMORY", "direction": "DESC"})),
        (&name_cursor, cpu_desc.clone()),
        (&name_cursor, json!({"field": "NAME", "direction": "DESC"})),
    ] {
        let r = run(
            &api,
            VMS,
            json!({"first": 3, "after": after, "orderBy": order}),
        )
        .await;
        assert_eq!(codes(&r), vec!["BAD_USER_INPUT"], "{order}: {r}");
        let msg = r["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("made for orderBy"), "{msg}");
        assert!(r["data"].is_null(), "{r}");
    }
    // A host's VM list takes the same orders and refuses the same way.
    let q = r#"query($after: String, $orderBy: VsphereVmOrder) {
      vsphereHosts(first: 50) { nodes { vms(first: 50, after: $after, orderBy: $orderBy) {
        nodes { id metrics { cpuPercent } } } } } }"#;
    let r = run(&api, q, json!({"orderBy": cpu_desc})).await;
    assert!(r["errors"].is_null(), "{r}");
    let mut checked = 0;
    for h in r["data"]["vsphereHosts"]["nodes"]
        .as_array()
        .expect("hosts")
    {
        let cpus: Vec<Option<f64>> = h["vms"]["nodes"]
            .as_array()
            .expect("vms")
            .iter()
            .map(|n| n["metrics"]["cpuPercent"].as_f64())
            .collect();
        let mut sorted = cpus.clone();
        sorted.sort_by(|a, b| match (a, b) {
            (Some(x), Some(y)) => y.total_cmp(x),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        });
        assert_eq!(cpus, sorted, "a host's VMs by CPU, highest first");
        checked += cpus.len();
    }
    assert!(checked > 0);
    let r = run(&api, q, json!({"after": name_cursor, "orderBy": cpu_desc})).await;
    assert!(
        codes(&r).iter().all(|c| c == "BAD_USER_INPUT") && !codes(&r).is_empty(),
        "{r}"
    );
}
