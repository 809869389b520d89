//! Performance: counters mapped by name (ids differ per vCenter), the server's
//! `maxQueryMetrics`, and `QueryPerf` batches sized to it, halved and retried when vCenter
//! still refuses (Telegraf's lesson, field lessons 3 and 4).

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::vcenter::any::unbox;
use crate::vcenter::client::{Idempotency, VcClient};
use crate::vcenter::error::VcResult;
use crate::vcenter::issue::HealthIssue;
use crate::vcenter::wire::perf::{PerfCounterInfo, PerfEntityMetric, PerfInterval};
use crate::vcenter::wire::MoRef;

/// The realtime interval of hosts and VMs.
pub const REALTIME: i64 = 20;
/// What vCenter allows when the option cannot be read (its default).
pub const DEFAULT_MAX_QUERY_METRICS: usize = 256;
/// Entities per historical query: database queries slow down sharply beyond this (vic#5849).
pub const MAX_ENTITIES_PER_QUERY: usize = 50;
/// Entities per realtime query: served by the hosts, no `maxQueryMetrics`; this keeps a request
/// far below vCenter's request-size limits (Telegraf goes to 50,000 metrics per call).
pub const MAX_REALTIME_ENTITIES: usize = 250;

/// Counter name (`cpu.usage.average`) -> id.
pub async fn counter_ids(c: &VcClient) -> VcResult<HashMap<String, i64>> {
    let n = c.negotiate().await?;
    let pm = n.content.perf();
    let list: Vec<PerfCounterInfo> = c.vim_get(&pm, "perfCounter").await?.unwrap_or_default();
    Ok(list.into_iter().map(|i| (i.full_name(), i.key)).collect())
}

/// The counters the service reads (realtime samples and history series), by full name.
pub const SERVICE_COUNTERS: &[&str] = &[
    "cpu.usage.average",
    "mem.usage.average",
    "disk.usage.average",
    "net.usage.average",
    "sys.uptime.latest",
];

/// Which of `wanted` vCenter cannot give: counters it does not list, and counters above the
/// statistics level of its first history interval (realtime samples come from the hosts at
/// any level; history keeps only counters at or below the interval's level).
pub async fn counter_coverage(c: &VcClient, wanted: &[&str]) -> VcResult<Vec<HealthIssue>> {
    let n = c.negotiate().await?;
    let pm = n.content.perf();
    let catalog: Vec<PerfCounterInfo> = c.vim_get(&pm, "perfCounter").await?.unwrap_or_default();
    let intervals: Vec<PerfInterval> = c
        .vim_get(&pm, "historicalInterval")
        .await?
        .unwrap_or_default();
    let stats_level = intervals
        .iter()
        .filter(|i| i.enabled != Some(false))
        .min_by_key(|i| i.sampling_period)
        .and_then(|i| i.level);
    let levels: HashMap<String, Option<i32>> =
        catalog.iter().map(|i| (i.full_name(), i.level)).collect();
    Ok(wanted
        .iter()
        .filter_map(|name| match (levels.get(*name), stats_level) {
            (None, _) => Some(HealthIssue::counter_missing(name)),
            (Some(Some(level)), Some(stats)) if *level > stats => {
                Some(HealthIssue::counter_not_collected(name, *level, stats))
            }
            _ => None,
        })
        .collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProviderSummary {
    #[serde(default)]
    current_supported: bool,
}

/// Whether `entity` has realtime (20 s) statistics (`QueryPerfProviderSummary.currentSupported`):
/// hosts and VMs do; clusters, datastores and resource pools only have historical ones.
pub async fn realtime_supported(c: &VcClient, entity: &MoRef) -> VcResult<bool> {
    let n = c.negotiate().await?;
    let pm = n.content.perf();
    let s: Option<ProviderSummary> = c
        .vim_post(
            &pm,
            "QueryPerfProviderSummary",
            Some(json!({"entity": entity})),
            Idempotency::Read,
        )
        .await?;
    Ok(s.is_some_and(|s| s.current_supported))
}

#[derive(Deserialize)]
struct OptionValue {
    #[serde(default)]
    value: Value,
}

/// `config.vpxd.stats.maxQueryMetrics`: `None` = unlimited (-1); unreadable = 256.
pub async fn max_query_metrics(c: &VcClient) -> Option<usize> {
    let Ok(n) = c.negotiate().await else {
        return Some(DEFAULT_MAX_QUERY_METRICS);
    };
    let setting = n.content.settings();
    let r: VcResult<Option<Vec<OptionValue>>> = c
        .vim_post(
            &setting,
            "QueryOptions",
            Some(json!({"name": "config.vpxd.stats.maxQueryMetrics"})),
            Idempotency::Read,
        )
        .await;
    let v = r
        .ok()
        .flatten()
        .and_then(|o| o.into_iter().next())
        .map(|o| unbox(o.value));
    match v.as_ref().and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    }) {
        Some(n) if n < 0 => None,
        Some(0) | None => Some(DEFAULT_MAX_QUERY_METRICS),
        Some(n) => Some(n as usize),
    }
}

/// One entity's request.
#[derive(Clone, Debug)]
pub struct PerfRequest {
    pub entity: MoRef,
    pub counters: Vec<i64>,
}

fn spec(r: &PerfRequest, interval: i64, samples: i64) -> Value {
    let ids: Vec<Value> = r
        .counters
        .iter()
        .map(|id| json!({"_typeName": "PerfMetricId", "counterId": id, "instance": ""}))
        .collect();
    json!({"_typeName": "PerfQuerySpec", "entity": r.entity, "intervalId": interval, "maxSample": samples, "metricId": ids, "format": "normal"})
}

/// Splits requests into batches of at most `MAX_REALTIME_ENTITIES` (realtime) or
/// `MAX_ENTITIES_PER_QUERY` (historical) entities and, for
/// historical intervals, at most `limit` metrics (an entity alone over the limit is split by counter).
pub fn plan_batches(
    reqs: &[PerfRequest],
    interval: i64,
    limit: Option<usize>,
) -> Vec<Vec<PerfRequest>> {
    let metric_cap = if interval == REALTIME { None } else { limit };
    let entity_cap = if interval == REALTIME {
        MAX_REALTIME_ENTITIES
    } else {
        MAX_ENTITIES_PER_QUERY
    };
    let mut out: Vec<Vec<PerfRequest>> = Vec::new();
    let mut cur: Vec<PerfRequest> = Vec::new();
    let mut cur_metrics = 0;
    let pieces = reqs.iter().flat_map(|r| match metric_cap {
        Some(cap) if r.counters.len() > cap => r
            .counters
            .chunks(cap.max(1))
            .map(|c| PerfRequest {
                entity: r.entity.clone(),
                counters: c.to_vec(),
            })
            .collect::<Vec<_>>(),
        _ => vec![r.clone()],
    });
    for p in pieces {
        let m = p.counters.len();
        let over_metrics = metric_cap.is_some_and(|cap| cur_metrics + m > cap);
        if !cur.is_empty() && (cur.len() >= entity_cap || over_metrics) {
            out.push(std::mem::take(&mut cur));
            cur_metrics = 0;
        }
        cur_metrics += m;
        cur.push(p);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn is_metric_limit(e: &crate::vcenter::VcError) -> bool {
    e.class == crate::vcenter::FailureClass::VcenterLimit && e.message.contains("maxQueryMetrics")
}

/// Queries `samples` samples of `interval` for every request, batched to the server's limits.
/// A batch vCenter still refuses for `maxQueryMetrics` is halved and retried.
pub async fn query(
    c: &VcClient,
    reqs: &[PerfRequest],
    interval: i64,
    samples: i64,
    limit: Option<usize>,
) -> VcResult<Vec<PerfEntityMetric>> {
    let n = c.negotiate().await?;
    let pm = n.content.perf();
    let mut todo: Vec<Vec<PerfRequest>> = plan_batches(reqs, interval, limit);
    todo.reverse();
    let mut out = Vec::new();
    while let Some(batch) = todo.pop() {
        let specs: Vec<Value> = batch.iter().map(|r| spec(r, interval, samples)).collect();
        match c
            .vim_post::<Vec<PerfEntityMetric>>(
                &pm,
                "QueryPerf",
                Some(json!({"querySpec": specs})),
                Idempotency::Read,
            )
            .await
        {
            Ok(r) => out.extend(r.unwrap_or_default()),
            Err(e) if is_metric_limit(&e) && (batch.len() > 1 || batch[0].counters.len() > 1) => {
                let (a, b) = halve(batch);
                todo.push(b);
                todo.push(a);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn halve(mut batch: Vec<PerfRequest>) -> (Vec<PerfRequest>, Vec<PerfRequest>) {
    if batch.len() > 1 {
        let b = batch.split_off(batch.len() / 2);
        return (batch, b);
    }
    let r = batch.remove(0);
    let mid = r.counters.len() / 2;
    (
        vec![PerfRequest {
            entity: r.entity.clone(),
            counters: r.counters[..mid].to_vec(),
        }],
        vec![PerfRequest {
            entity: r.entity,
            counters: r.counters[mid..].to_vec(),
        }],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reqs(n: usize, m: usize) -> Vec<PerfRequest> {
        (0..n)
            .map(|i| PerfRequest {
                entity: MoRef::new("VirtualMachine", &format!("vm-{i}")),
                counters: (0..m as i64).collect(),
            })
            .collect()
    }

    #[test]
    fn historical_batches_respect_the_metric_limit() {
        let b = plan_batches(&reqs(100, 5), 300, Some(256));
        assert!(b
            .iter()
            .all(|x| x.iter().map(|r| r.counters.len()).sum::<usize>() <= 256));
        assert_eq!(b.iter().map(Vec::len).sum::<usize>(), 100);
        let b = plan_batches(&reqs(1, 10), 300, Some(3));
        assert_eq!(b.len(), 4);
        assert!(b.iter().all(|x| x[0].counters.len() <= 3));
    }

    #[test]
    fn realtime_batches_only_cap_entities() {
        let b = plan_batches(&reqs(600, 20), REALTIME, Some(8));
        assert_eq!(
            b.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![250, 250, 100]
        );
        let b = plan_batches(&reqs(120, 1), 300, Some(1000));
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![50, 50, 20]);
        let b = plan_batches(&reqs(3, 2), 300, None);
        assert_eq!(b.len(), 1);
    }
}
