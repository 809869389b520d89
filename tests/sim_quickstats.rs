//! `summary.quickStats` and the performance manager's realtime samples come from one model, over
//! real HTTPS: a running VM's or host's quickStats are its latest 20 s sample, objects that are
//! not running have neither samples nor load, and datastores and clusters have no realtime
//! statistics at all (as on vCenter).

mod common;

use pulse_vsphere::simulator::{SimConfig, Simulator};
use serde_json::{json, Value};

use common::Vim;

fn moref(kind: &str, id: &str) -> Value {
    json!({"_typeName": "ManagedObjectReference", "type": kind, "value": id})
}

/// Counter ids by `group.name`, mapped by name as a client must.
async fn counters(vim: &Vim) -> std::collections::HashMap<String, i64> {
    let (s, list) = vim.get("PerformanceManager/PerfMgr/perfCounter").await;
    assert_eq!(s, 200);
    list.as_array()
        .expect("counters")
        .iter()
        .map(|c| {
            (
                format!(
                    "{}.{}",
                    c["groupInfo"]["key"].as_str().unwrap_or(""),
                    c["nameInfo"]["key"].as_str().unwrap_or("")
                ),
                c["key"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

const LOAD_COUNTERS: [&str; 6] = [
    "cpu.usage",
    "cpu.usagemhz",
    "mem.usage",
    "mem.consumed",
    "mem.active",
    "sys.uptime",
];

/// The latest realtime sample of the load counters: (timestamp, counter -> value), or `None`
/// when vCenter answered no values for the entity.
async fn latest(
    vim: &Vim,
    ids: &std::collections::HashMap<String, i64>,
    kind: &str,
    id: &str,
) -> Option<(String, std::collections::HashMap<String, i64>)> {
    let metrics: Vec<Value> = LOAD_COUNTERS
        .iter()
        .map(|n| json!({"_typeName": "PerfMetricId", "counterId": ids[*n], "instance": ""}))
        .collect();
    let (s, r) = vim
        .post(
            "PerformanceManager/PerfMgr/QueryPerf",
            json!({"querySpec": [{"_typeName": "PerfQuerySpec", "entity": moref(kind, id),
                "intervalId": 20, "maxSample": 1, "metricId": metrics}]}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let m = r.as_array()?.first()?;
    let ts = m["sampleInfo"][0]["timestamp"].as_str()?.to_string();
    let by_id: std::collections::HashMap<i64, i64> = m["value"]
        .as_array()?
        .iter()
        .map(|v| {
            (
                v["id"]["counterId"].as_i64().unwrap(),
                v["value"][0].as_i64().unwrap(),
            )
        })
        .collect();
    let values = LOAD_COUNTERS
        .iter()
        .map(|n| (n.to_string(), by_id[&ids[*n]]))
        .collect();
    Some((ts, values))
}

/// `summary` of an object, through the PropertyCollector as the collector reads it.
async fn summary(vim: &Vim, kind: &str, id: &str, path: &str) -> Value {
    let body = json!({"specSet": [{"_typeName": "PropertyFilterSpec",
        "propSet": [{"_typeName": "PropertySpec", "type": kind, "pathSet": [path]}],
        "objectSet": [{"_typeName": "ObjectSpec", "obj": moref(kind, id)}]}],
        "options": {}});
    let (s, r) = vim
        .post(
            "PropertyCollector/propertyCollector/RetrievePropertiesEx",
            body,
        )
        .await;
    assert_eq!(s, 200, "{r}");
    r["objects"][0]["propSet"][0]["val"].clone()
}

fn pct(part: i64, whole: i64) -> f64 {
    part as f64 * 100.0 / whole as f64
}

/// Reads quickStats and the realtime sample inside one 20 s sample (a read that straddles a
/// sample boundary is repeated).
async fn same_sample(
    vim: &Vim,
    ids: &std::collections::HashMap<String, i64>,
    kind: &str,
    id: &str,
) -> (Value, Option<std::collections::HashMap<String, i64>>) {
    for _ in 0..5 {
        let before = summary(vim, kind, id, "summary").await;
        let perf = latest(vim, ids, kind, id).await;
        let after = summary(vim, kind, id, "summary").await;
        if before["quickStats"] == after["quickStats"] {
            return (after, perf.map(|(_, v)| v));
        }
    }
    panic!("quickStats of {id} changed on every read");
}

#[tokio::test]
async fn quick_stats_are_the_latest_realtime_sample() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let vim = Vim::login(&sim, "admin", "admin").await;
    let ids = counters(&vim).await;
    let (vms, hosts): (Vec<String>, Vec<String>) = {
        let inv = sim.control().state().inv();
        let on = |o: &&pulse_vsphere::simulator::inventory::ManagedObject| {
            o.get_path("runtime.powerState").and_then(Value::as_str) == Some("poweredOn")
        };
        (
            inv.of_type("VirtualMachine")
                .filter(on)
                .map(|o| o.moref.value.clone())
                .collect(),
            inv.ids_of("HostSystem").to_vec(),
        )
    };
    assert!(vms.len() >= 20 && hosts.len() == 4);
    let mut cpu_seen = Vec::new();
    for vm in &vms {
        let (s, perf) = same_sample(&vim, &ids, "VirtualMachine", vm).await;
        let perf = perf.unwrap_or_else(|| panic!("a running VM {vm} has realtime samples"));
        let qs = &s["quickStats"];
        let max_mhz = s["runtime"]["maxCpuUsage"].as_i64().unwrap();
        let mem_mb = s["config"]["memorySizeMB"].as_i64().unwrap();
        let cpu = qs["overallCpuUsage"].as_i64().unwrap();
        let guest = qs["guestMemoryUsage"].as_i64().unwrap();
        let host = qs["hostMemoryUsage"].as_i64().unwrap();
        assert!(cpu > 0 && guest > 0 && host >= guest, "{vm}: {qs}");
        assert_eq!(cpu, perf["cpu.usagemhz"], "{vm}");
        assert!(
            (pct(cpu, max_mhz) - perf["cpu.usage"] as f64 / 100.0).abs() < 1.0,
            "{vm}: {cpu} of {max_mhz} MHz vs cpu.usage {}",
            perf["cpu.usage"]
        );
        assert!(
            (pct(guest, mem_mb) - perf["mem.usage"] as f64 / 100.0).abs() < 1.0,
            "{vm}: {guest} of {mem_mb} MB vs mem.usage {}",
            perf["mem.usage"]
        );
        assert_eq!(host * 1024, perf["mem.consumed"], "{vm}");
        assert_eq!(guest * 1024, perf["mem.active"], "{vm}");
        assert_eq!(qs["uptimeSeconds"].as_i64(), Some(perf["sys.uptime"]));
        assert!(perf["sys.uptime"] > 0);
        cpu_seen.push(pct(cpu, max_mhz));
    }
    // A plausible spread of load, not one constant.
    let lo = cpu_seen.iter().cloned().fold(f64::MAX, f64::min);
    let hi = cpu_seen.iter().cloned().fold(f64::MIN, f64::max);
    assert!(hi - lo > 10.0, "cpu % from {lo} to {hi}");
    for h in &hosts {
        let (s, perf) = same_sample(&vim, &ids, "HostSystem", h).await;
        let perf = perf.expect("a connected host has realtime samples");
        let qs = &s["quickStats"];
        let hw = &s["hardware"];
        let capacity = hw["cpuMhz"].as_i64().unwrap() * hw["numCpuCores"].as_i64().unwrap();
        let mem_mb = hw["memorySize"].as_i64().unwrap() / (1024 * 1024);
        let cpu = qs["overallCpuUsage"].as_i64().unwrap();
        let mem = qs["overallMemoryUsage"].as_i64().unwrap();
        assert_eq!(cpu, perf["cpu.usagemhz"], "{h}");
        assert!((pct(cpu, capacity) - perf["cpu.usage"] as f64 / 100.0).abs() < 1.0);
        assert!((pct(mem, mem_mb) - perf["mem.usage"] as f64 / 100.0).abs() < 1.0);
        assert_eq!(mem * 1024, perf["mem.consumed"]);
        assert_eq!(qs["uptime"].as_i64(), Some(perf["sys.uptime"]));
        // The property GET serves the same live value as the PropertyCollector.
        let (st, direct) = vim.get(&format!("HostSystem/{h}/summary")).await;
        assert_eq!(st, 200);
        assert!(direct["quickStats"]["overallCpuUsage"].as_i64() > Some(0));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn quick_stats_move_with_each_sample_and_the_feed_reports_them() {
    let mut cfg = SimConfig::small();
    // The change engine runs, as on a live vCenter; a tiny rate keeps other changes rare.
    cfg.change_rate = 0.01;
    let sim = Simulator::start(cfg).await.expect("sim");
    let vim = Vim::login(&sim, "admin", "admin").await;
    let ids = counters(&vim).await;
    let host = sim.control().state().inv().ids_of("HostSystem")[0].clone();
    let (s, pc) = vim
        .post(
            "PropertyCollector/propertyCollector/CreatePropertyCollector",
            json!(null),
        )
        .await;
    assert_eq!(s, 200);
    let pc = pc["value"].as_str().unwrap().to_string();
    let (s, _) = vim
        .post(
            &format!("PropertyCollector/{pc}/CreateFilter"),
            json!({"spec": {"_typeName": "PropertyFilterSpec",
                "propSet": [{"_typeName": "PropertySpec", "type": "HostSystem", "pathSet": ["summary.quickStats"]}],
                "objectSet": [{"_typeName": "ObjectSpec", "obj": moref("HostSystem", &host)}]},
                "partialUpdates": false}),
        )
        .await;
    assert_eq!(s, 200);
    let wait = |version: String| {
        let vim = &vim;
        let pc = pc.clone();
        async move {
            let (s, r) = vim
                .post(
                    &format!("PropertyCollector/{pc}/WaitForUpdatesEx"),
                    json!({"version": version, "options": {"maxWaitSeconds": 30}}),
                )
                .await;
            assert_eq!(s, 200, "{r}");
            r
        }
    };
    let first = wait(String::new()).await;
    let qs0 = first["filterSet"][0]["objectSet"][0]["changeSet"][0]["val"].clone();
    let (ts0, perf0) = latest(&vim, &ids, "HostSystem", &host)
        .await
        .expect("samples");
    // The next sample arrives within 20 s and the feed reports the new quickStats.
    let next = wait(first["version"].as_str().unwrap().to_string()).await;
    let qs1 = next["filterSet"][0]["objectSet"][0]["changeSet"][0]["val"].clone();
    let (ts1, perf1) = latest(&vim, &ids, "HostSystem", &host)
        .await
        .expect("samples");
    assert_ne!(ts0, ts1, "a new realtime sample");
    assert_ne!(
        qs0["uptime"], qs1["uptime"],
        "quickStats moved: {qs0} -> {qs1}"
    );
    assert_eq!(qs1["overallCpuUsage"].as_i64(), Some(perf1["cpu.usagemhz"]));
    assert_eq!(qs1["uptime"].as_i64(), Some(perf1["sys.uptime"]));
    assert_eq!(perf1["sys.uptime"] - perf0["sys.uptime"], 20);
    sim.shutdown().await;
}

#[tokio::test]
async fn objects_not_running_have_no_realtime_samples_and_no_load() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let vim = Vim::login(&sim, "admin", "admin").await;
    let ids = counters(&vim).await;
    let (vms, host, ds, cluster) = {
        let inv = sim.control().state().inv();
        (
            inv.ids_of("VirtualMachine")[..2].to_vec(),
            inv.ids_of("HostSystem")[0].clone(),
            inv.ids_of("Datastore")[0].clone(),
            inv.ids_of("ClusterComputeResource")[0].clone(),
        )
    };
    assert!(sim.control().set_vm_power(&vms[0], "poweredOff"));
    assert!(sim.control().set_vm_power(&vms[1], "suspended"));
    assert!(sim.control().disconnect_host(&host));
    for (kind, id) in [
        ("VirtualMachine", vms[0].as_str()),
        ("VirtualMachine", vms[1].as_str()),
        ("HostSystem", host.as_str()),
    ] {
        assert!(
            latest(&vim, &ids, kind, id).await.is_none(),
            "{id} has no realtime values"
        );
        let qs = summary(&vim, kind, id, "summary.quickStats").await;
        for k in [
            "overallCpuUsage",
            "guestMemoryUsage",
            "hostMemoryUsage",
            "overallMemoryUsage",
        ] {
            assert!(qs[k].as_i64().unwrap_or(0) == 0, "{id} {k}: {qs}");
        }
        // Rollups of the past stay readable.
        let (s, hist) = vim
            .post(
                "PerformanceManager/PerfMgr/QueryPerf",
                json!({"querySpec": [{"_typeName": "PerfQuerySpec", "entity": moref(kind, id), "intervalId": 300, "maxSample": 1,
                    "metricId": [{"_typeName": "PerfMetricId", "counterId": ids["cpu.usage"], "instance": ""}]}]}),
            )
            .await;
        assert_eq!((s, hist.as_array().map(Vec::len)), (200, Some(1)));
    }
    // The host's VMs are disconnected with it: no samples either.
    let host_vm = sim
        .control()
        .state()
        .inv()
        .get(&host)
        .unwrap()
        .morefs_at("vm")[0]
        .clone();
    assert!(latest(&vim, &ids, "VirtualMachine", &host_vm.value)
        .await
        .is_none());
    assert!(sim.control().reconnect_host(&host));
    assert!(latest(&vim, &ids, "HostSystem", &host).await.is_some());

    for (kind, id, realtime) in [
        ("Datastore", ds.as_str(), false),
        ("ClusterComputeResource", cluster.as_str(), false),
        ("HostSystem", host.as_str(), true),
        ("VirtualMachine", vms[0].as_str(), true),
    ] {
        let (s, p) = vim
            .post(
                "PerformanceManager/PerfMgr/QueryPerfProviderSummary",
                json!({"entity": moref(kind, id)}),
            )
            .await;
        assert_eq!(s, 200);
        assert_eq!(p["currentSupported"], realtime, "{kind}");
        assert_eq!(p["summarySupported"], true, "{kind}");
        assert_eq!(p["refreshRate"].as_i64(), realtime.then_some(20), "{kind}");
        let query = |interval: i64| json!({"querySpec": [{"_typeName": "PerfQuerySpec", "entity": moref(kind, id), "intervalId": interval, "maxSample": 1}]});
        let (s, f) = vim
            .post("PerformanceManager/PerfMgr/QueryPerf", query(20))
            .await;
        if realtime {
            assert_eq!(s, 200, "{kind}: {f}");
        } else {
            assert_eq!(
                (s, f["_typeName"].as_str(), f["invalidProperty"].as_str()),
                (500, Some("InvalidArgument"), Some("querySpec.interval")),
                "{kind}: {f}"
            );
        }
        let (s, h) = vim
            .post("PerformanceManager/PerfMgr/QueryPerf", query(300))
            .await;
        assert_eq!((s, h.as_array().map(Vec::len)), (200, Some(1)), "{kind}");
    }
    sim.shutdown().await;
}
