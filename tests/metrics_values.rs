//! Canonical metrics against the simulator over HTTPS: a running host's or VM's CPU and memory
//! are the realtime values the simulator's `QueryPerf` returns for the sample time the metrics
//! name (read here with the client, apart from the collector); a powered-off VM has none; vCenter
//! is asked once per type whether it keeps realtime statistics.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use async_graphql::Request;
use pulse_vsphere::simulator::config::Role;
use pulse_vsphere::simulator::{SimConfig, Simulator};
use pulse_vsphere::vcenter::reads::perf::{self, PerfRequest, REALTIME};
use pulse_vsphere::vcenter::{MoRef, VcClient};
use serde_json::Value;

fn calls(sim: &Simulator, endpoint: &str) -> u64 {
    sim.stats().requests.get(endpoint).copied().unwrap_or(0)
}

/// moId -> (sample time, cpu %, memory %) from the simulator's last hour of realtime samples.
async fn realtime_of(
    client: &VcClient,
    entities: &[MoRef],
) -> HashMap<String, Vec<(String, f64, f64)>> {
    let ids = perf::counter_ids(client).await.expect("counters");
    let cpu = ids["cpu.usage.average"];
    let mem = ids["mem.usage.average"];
    let reqs: Vec<PerfRequest> = entities
        .iter()
        .map(|e| PerfRequest {
            entity: e.clone(),
            counters: vec![cpu, mem],
        })
        .collect();
    let got = perf::query(client, &reqs, REALTIME, 180, None)
        .await
        .expect("QueryPerf");
    got.into_iter()
        .map(|m| {
            let series = |id: i64| {
                m.value
                    .iter()
                    .find(|s| s.id.counter_id == id)
                    .map(|s| s.values())
                    .unwrap_or_default()
            };
            let (c, r) = (series(cpu), series(mem));
            let points = m
                .sample_info
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    (
                        s.timestamp.clone(),
                        c[i] as f64 / 100.0,
                        r[i] as f64 / 100.0,
                    )
                })
                .collect();
            (m.entity.value.clone(), points)
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= b.abs() * 0.01
}

#[tokio::test]
async fn running_hosts_and_vms_show_realtime_values_and_powered_off_vms_none() {
    let mut cfg = SimConfig::small();
    cfg.size.vms = 40;
    let sim = Simulator::start(cfg).await.expect("sim");
    let (slot, h, schema) = common::collecting(&sim, "admin", Duration::from_millis(500)).await;

    // Power one running VM off; once the snapshot shows it, a later pass must leave it out.
    let snap = slot.snapshot().expect("snapshot");
    let off = snap
        .vms
        .iter()
        .find(|v| v.power_state.as_deref() == Some("poweredOn") && !v.template)
        .expect("a running VM")
        .moid
        .clone();
    assert!(sim.control().set_vm_power(&off, "poweredOff"));
    assert!(
        common::eventually(20, || slot
            .snapshot()
            .is_some_and(|s| s.vms.iter().any(
                |v| v.moid == off && v.power_state.as_deref() == Some("poweredOff")
            )))
        .await
    );
    let seen_off = slot.activity().metrics_at;
    assert!(
        common::eventually(20, || {
            let a = slot.activity();
            a.metrics_at > seen_off && !a.metrics.is_empty() && !a.metrics.contains_key(&off)
        })
        .await,
        "a pass after the power-off samples running entities and not {off}"
    );

    let q = "{ vsphereVms(first: 500) { nodes { vsphere { moid powerState } metrics { cpuPercent memoryPercent uptimeSeconds source sampledAt } } } \
               vsphereHosts(first: 50) { nodes { vsphere { moid } metrics { cpuPercent memoryPercent uptimeSeconds source sampledAt } } } }";
    let resp = serde_json::to_value(schema.execute(Request::new(q)).await).expect("json");
    assert!(resp["errors"].is_null(), "{resp}");
    let vms = resp["data"]["vsphereVms"]["nodes"]
        .as_array()
        .expect("vms")
        .clone();
    let hosts = resp["data"]["vsphereHosts"]["nodes"]
        .as_array()
        .expect("hosts")
        .clone();

    let reader = VcClient::new(common::client_config(&sim, "admin", "admin")).expect("client");
    let mut entities: Vec<MoRef> = hosts
        .iter()
        .map(|n| MoRef::new("HostSystem", n["vsphere"]["moid"].as_str().unwrap()))
        .collect();
    let mut running = 0;
    for v in &vms {
        let moid = v["vsphere"]["moid"].as_str().unwrap();
        let m = &v["metrics"];
        if v["vsphere"]["powerState"] == "poweredOn" {
            entities.push(MoRef::new("VirtualMachine", moid));
            running += 1;
        } else {
            for f in ["cpuPercent", "memoryPercent", "uptimeSeconds", "source"] {
                assert!(m[f].is_null(), "powered-off {moid}: {f} is {}", m[f]);
            }
        }
    }
    assert!(running > 0 && !hosts.is_empty());
    let truth = realtime_of(&reader, &entities).await;
    for node in hosts.iter().chain(vms.iter()) {
        let moid = node["vsphere"]["moid"].as_str().unwrap();
        let Some(points) = truth.get(moid) else {
            continue;
        };
        let m = &node["metrics"];
        assert_eq!(m["source"], "REALTIME", "{moid}: {m}");
        let at = m["sampledAt"].as_str().expect("sampledAt");
        let at = chrono::DateTime::parse_from_rfc3339(at).expect("time");
        let (_, cpu, mem) = points
            .iter()
            .find(|(t, _, _)| chrono::DateTime::parse_from_rfc3339(t).ok() == Some(at))
            .unwrap_or_else(|| panic!("{moid}: no simulator sample at {at}"));
        let (got_cpu, got_mem) = (
            m["cpuPercent"].as_f64().expect("cpu"),
            m["memoryPercent"].as_f64().expect("memory"),
        );
        assert!(got_cpu > 0.0 && got_mem > 0.0, "{moid}: {m}");
        assert!(close(got_cpu, *cpu), "{moid}: cpu {got_cpu} vs {cpu}");
        assert!(close(got_mem, *mem), "{moid}: memory {got_mem} vs {mem}");
        assert!(m["uptimeSeconds"].as_f64().is_some_and(|u| u > 0.0));
    }
    assert_eq!(
        truth.len(),
        entities.len(),
        "every running entity was compared"
    );

    // Asked once per type (hosts, VMs), however many passes ran.
    let passes = slot.activity().metrics_at;
    assert!(passes.is_some());
    assert_eq!(
        calls(&sim, "vim:PerformanceManager.QueryPerfProviderSummary"),
        2
    );
    h.shutdown().await;
}

#[tokio::test]
async fn without_a_realtime_sample_metrics_are_quick_statistics() {
    // A user without the performance privilege: the collector never gets a realtime sample.
    let mut cfg = SimConfig::small().user("np", "np", Role::Noperf);
    cfg.size.vms = 10;
    let sim = Simulator::start(cfg).await.expect("sim");
    let (slot, h, schema) = common::collecting(&sim, "np", Duration::from_millis(500)).await;
    let q = "{ vsphereHosts(first: 50) { nodes { vsphere { moid } metrics { cpuPercent memoryPercent source sampledAt } } } }";
    let resp = serde_json::to_value(schema.execute(Request::new(q)).await).expect("json");
    let hosts = resp["data"]["vsphereHosts"]["nodes"]
        .as_array()
        .expect("hosts");
    let snap = slot.snapshot().expect("snapshot");
    assert!(slot.activity().metrics.is_empty());
    let mut compared = 0;
    for node in hosts {
        let moid = node["vsphere"]["moid"].as_str().unwrap();
        let i = snap
            .agents
            .iter()
            .position(|a| a.moid == moid)
            .expect("host");
        let (a, q) = (&snap.agents[i], snap.agent_quick_stats(i));
        if a.connection_state.as_deref() != Some("connected")
            || a.power_state.as_deref() != Some("poweredOn")
        {
            continue;
        }
        let m: &Value = &node["metrics"];
        assert_eq!(m["source"], "QUICK_STATS", "{m}");
        assert_eq!(m["cpuPercent"].as_f64(), q.cpu_percent);
        assert_eq!(m["memoryPercent"].as_f64(), q.memory_percent);
        compared += 1;
    }
    assert!(compared > 0);
    h.shutdown().await;
}
