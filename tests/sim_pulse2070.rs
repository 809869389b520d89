//! The `pulse2070` profile over real HTTPS: vCenter 8.0.3 managing one standalone host with six
//! VMs on standard port groups at statistics level 1, and the onboarding connection test
//! (`check`) healthy against it.

mod common;

use pulse_vsphere::simulator::{Profile, SimConfig, Simulator};
use pulse_vsphere::vcenter::check::{run_check, Verdict};
use serde_json::{json, Value};

use common::Vim;

fn moref(kind: &str, id: &str) -> Value {
    json!({"_typeName": "ManagedObjectReference", "type": kind, "value": id})
}

#[tokio::test]
async fn one_standalone_host_six_vms_statistics_level_1() {
    let sim = Simulator::start(SimConfig::with_profile(Profile::Pulse2070))
        .await
        .expect("sim");
    let vim = Vim::login(&sim, "admin", "admin").await;
    let (s, content) = vim.get("ServiceInstance/ServiceInstance/content").await;
    assert_eq!(s, 200);
    assert_eq!(content["about"]["apiVersion"], "8.0.3.0");
    assert_eq!(content["about"]["version"], "8.0.3");

    let counts = sim.control().inventory_counts();
    let n = |k: &str| counts.by_type.get(k).copied().unwrap_or(0);
    assert_eq!(n("HostSystem"), 1);
    assert_eq!(n("VirtualMachine"), 6);
    assert_eq!(n("ClusterComputeResource"), 0);
    assert_eq!(n("ComputeResource"), 1);
    assert_eq!(n("DistributedVirtualPortgroup"), 0);
    assert!(n("Network") >= 1);
    let host = sim.control().state().inv().ids_of("HostSystem")[0].clone();
    let (s, parent) = vim.get(&format!("HostSystem/{host}/parent")).await;
    assert_eq!(s, 200);
    assert_eq!(parent["type"], "ComputeResource", "a standalone host");
    let (s, nets) = vim.get(&format!("HostSystem/{host}/network")).await;
    assert_eq!(s, 200);
    assert!(nets
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["type"] == "Network"));

    // Statistics level 1: every historical interval, and only level-1 counters in rollups.
    let (s, intervals) = vim
        .get("PerformanceManager/PerfMgr/historicalInterval")
        .await;
    assert_eq!(s, 200);
    assert!(intervals
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["level"] == 1));
    let (_, counters) = vim.get("PerformanceManager/PerfMgr/perfCounter").await;
    let id = |g: &str, n: &str| {
        counters
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["groupInfo"]["key"] == g && c["nameInfo"]["key"] == n)
            .map(|c| (c["key"].as_i64().unwrap(), c["level"].as_i64().unwrap()))
            .unwrap()
    };
    let (cpu, cpu_level) = id("cpu", "usage");
    let (active, active_level) = id("mem", "active");
    assert_eq!((cpu_level, active_level), (1, 2));
    let query = |interval: i64| {
        json!({"querySpec": [{"_typeName": "PerfQuerySpec", "entity": moref("HostSystem", &host),
            "intervalId": interval, "maxSample": 1,
            "metricId": [{"_typeName": "PerfMetricId", "counterId": cpu, "instance": ""},
                         {"_typeName": "PerfMetricId", "counterId": active, "instance": ""}]}]})
    };
    let (s, hist) = vim
        .post("PerformanceManager/PerfMgr/QueryPerf", query(300))
        .await;
    assert_eq!(s, 200);
    let kept: Vec<i64> = hist[0]["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"]["counterId"].as_i64().unwrap())
        .collect();
    assert_eq!(
        kept,
        vec![cpu],
        "a level-2 counter has no rollups at level 1"
    );
    // Realtime keeps every counter of the running host.
    let (s, rt) = vim
        .post("PerformanceManager/PerfMgr/QueryPerf", query(20))
        .await;
    assert_eq!(s, 200);
    assert_eq!(rt[0]["value"].as_array().unwrap().len(), 2);

    // The onboarding connection test is healthy.
    let report = run_check(common::client_config(&sim, "admin", "admin")).await;
    assert_eq!(report.verdict, Verdict::Ok, "{}", report.render());
    assert_eq!(report.negotiated_release.as_deref(), Some("8.0.3.0"));
    for step in ["hosts", "vms", "datastores", "alarms", "events", "perf"] {
        let s = report
            .steps
            .iter()
            .find(|s| s.name == step)
            .unwrap_or_else(|| panic!("step {step}"));
        assert!(s.ok, "{step}: {}", report.render());
    }
    let perf = report.steps.iter().find(|s| s.name == "perf").unwrap();
    assert!(
        perf.detail.contains("2 series sampled"),
        "the host is sampled: {}",
        perf.detail
    );
    sim.shutdown().await;
}
