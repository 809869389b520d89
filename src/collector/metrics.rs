//! One realtime (20 s) metrics pass for connected hosts and powered-on VMs: counters mapped by
//! name, batches sized to the server's limits, a few batches in flight.

use std::collections::HashMap;

use futures::StreamExt;

use crate::inventory::activity::MetricSample;
use crate::model::snapshot::InventorySnapshot;
use crate::vcenter::reads::perf::{plan_batches, query, PerfRequest, REALTIME};
use crate::vcenter::wire::perf::PerfEntityMetric;
use crate::vcenter::{MoRef, VcClient, VcResult};

/// The counters of a pass and how each maps to the canonical sample.
pub const COUNTERS: &[&str] = &[
    "cpu.usage.average",
    "mem.usage.average",
    "disk.usage.average",
    "net.usage.average",
    "sys.uptime.latest",
];

/// The realtime batches in flight at once.
pub const CONCURRENCY: usize = 4;

fn sample(m: &PerfEntityMetric, names: &HashMap<i64, &str>) -> MetricSample {
    let at = m
        .sample_info
        .last()
        .and_then(|s| crate::model::utc(&s.timestamp));
    let mut s = MetricSample {
        at,
        ..MetricSample::default()
    };
    for series in &m.value {
        let Some(v) = series.values().last().copied().filter(|v| *v >= 0) else {
            continue;
        };
        match names.get(&series.id.counter_id).copied() {
            // Percent counters are hundredths of a percent.
            Some("cpu.usage.average") => s.cpu_percent = Some(v as f64 / 100.0),
            Some("mem.usage.average") => s.memory_percent = Some(v as f64 / 100.0),
            Some("disk.usage.average") => s.disk_bytes_per_second = Some(v as f64 * 1024.0),
            Some("net.usage.average") => s.network_bytes_per_second = Some(v as f64 * 1024.0),
            Some("sys.uptime.latest") => s.uptime_seconds = Some(v),
            _ => {}
        }
    }
    s
}

/// Samples every connected host and powered-on VM of `snap`; returns moId -> sample.
pub async fn realtime_pass(
    c: &VcClient,
    snap: &InventorySnapshot,
    counter_ids: &HashMap<String, i64>,
) -> VcResult<HashMap<String, MetricSample>> {
    let ids: Vec<i64> = COUNTERS
        .iter()
        .filter_map(|n| counter_ids.get(*n).copied())
        .collect();
    let names: HashMap<i64, &str> = COUNTERS
        .iter()
        .filter_map(|n| counter_ids.get(*n).map(|id| (*id, *n)))
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let hosts = snap
        .agents
        .iter()
        .filter(|a| a.connection_state.as_deref() == Some("connected"))
        .map(|a| MoRef::new("HostSystem", &a.moid));
    let vms = snap
        .vms
        .iter()
        .filter(|v| v.power_state.as_deref() == Some("poweredOn"))
        .map(|v| MoRef::new("VirtualMachine", &v.moid));
    let reqs: Vec<PerfRequest> = hosts
        .chain(vms)
        .map(|entity| PerfRequest {
            entity,
            counters: ids.clone(),
        })
        .collect();
    let batches = plan_batches(&reqs, REALTIME, None);
    let mut results = futures::stream::iter(batches)
        .map(|b| async move { query(c, &b, REALTIME, 1, None).await })
        .buffer_unordered(CONCURRENCY);
    let mut out = HashMap::with_capacity(reqs.len());
    while let Some(r) = results.next().await {
        for m in r? {
            out.insert(m.entity.value.clone(), sample(&m, &names));
        }
    }
    Ok(out)
}
