//! One realtime (20 s) metrics pass for connected hosts and powered-on VMs: counters mapped by
//! name, batches sized to the server's limits, a few batches in flight.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::StreamExt;

use crate::inventory::activity::MetricSample;
use crate::model::snapshot::InventorySnapshot;
use crate::vcenter::reads::perf::{plan_batches, query, realtime_supported, PerfRequest, REALTIME};
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

/// Per managed object type, whether its entities have realtime statistics, as vCenter's
/// `QueryPerfProviderSummary` said for the first one asked (a connection's answer does not
/// change while it lives; every entity of a type answers alike).
#[derive(Debug, Default)]
pub struct RealtimeSupport(Mutex<HashMap<&'static str, bool>>);

impl RealtimeSupport {
    fn known(&self, kind: &str) -> Option<bool> {
        self.0.lock().ok().and_then(|m| m.get(kind).copied())
    }

    /// Whether `kind` has realtime statistics, asking vCenter about `first` once.
    async fn supports(&self, c: &VcClient, kind: &'static str, first: &MoRef) -> VcResult<bool> {
        if let Some(known) = self.known(kind) {
            return Ok(known);
        }
        let answer = realtime_supported(c, first).await?;
        if let Ok(mut m) = self.0.lock() {
            m.insert(kind, answer);
        }
        Ok(answer)
    }
}

/// The entities of `kind` to sample, or none when vCenter keeps no realtime statistics for them.
async fn supported(
    c: &VcClient,
    support: &RealtimeSupport,
    kind: &'static str,
    entities: Vec<MoRef>,
) -> VcResult<Vec<MoRef>> {
    match entities.first() {
        Some(first) if support.supports(c, kind, first).await? => Ok(entities),
        _ => Ok(Vec::new()),
    }
}

/// Samples every connected host and powered-on VM of `snap` whose type has realtime
/// statistics; returns moId -> sample. Powered-off VMs and disconnected hosts are never asked:
/// they have no current values, and a sample of one would only be stale.
pub async fn realtime_pass(
    c: &VcClient,
    snap: &InventorySnapshot,
    counter_ids: &HashMap<String, i64>,
    support: &RealtimeSupport,
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
        .map(|a| MoRef::new("HostSystem", &a.moid))
        .collect();
    let vms = snap
        .vms
        .iter()
        .filter(|v| v.power_state.as_deref() == Some("poweredOn"))
        .map(|v| MoRef::new("VirtualMachine", &v.moid))
        .collect();
    let hosts = supported(c, support, "HostSystem", hosts).await?;
    let vms = supported(c, support, "VirtualMachine", vms).await?;
    let reqs: Vec<PerfRequest> = hosts
        .into_iter()
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

/// One pass as the side loop runs it: the counter ids (read once per connection), the samples
/// into the activity log, the outcome into health and the collector's counters.
pub(super) async fn pass(s: &super::Shared, snap: &InventorySnapshot) {
    let c = &s.client;
    let known = s.counters.lock().map(|m| m.clone()).unwrap_or_default();
    let ids = if known.is_empty() {
        match crate::vcenter::reads::perf::counter_ids(c).await {
            Ok(m) => {
                if let Ok(mut k) = s.counters.lock() {
                    k.clone_from(&m);
                }
                m
            }
            Err(e) => return s.optional_issue(crate::inventory::Stage::Performance, &e),
        }
    } else {
        known
    };
    let t = std::time::Instant::now();
    match realtime_pass(c, snap, &ids, &s.realtime).await {
        Ok(samples) => {
            tracing::debug!(
                connection = %s.slot.id,
                entities = samples.len(),
                ms = t.elapsed().as_millis() as u64,
                "realtime metrics pass"
            );
            let mut log = s.slot.activity();
            log.metrics = samples;
            log.metrics_at = Some(chrono::Utc::now());
            drop(log);
            s.stats
                .metric_passes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            s.clear_issue(crate::inventory::Stage::Performance);
        }
        Err(e) => s.optional_issue(crate::inventory::Stage::Performance, &e),
    }
}
