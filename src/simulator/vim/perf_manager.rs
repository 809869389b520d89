//! PerformanceManager: counters (ids differ per simulator seed, so clients must map by name),
//! intervals, available metrics, provider summary and `QueryPerf` with plausible values that
//! move over time. Historical queries enforce `config.vpxd.stats.maxQueryMetrics` with the fault
//! vCenter sends; the `noperf` role may not query performance at all.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::fault::VimFault;
use super::{Call, Reply, VimResult};
use crate::simulator::config::Role;
use crate::simulator::inventory::MoRef;
use crate::simulator::load::{self, Load};

/// (group, name, rollup, unit, statsType, applies to datastores, level) with vCenter's
/// collection levels.
const COUNTERS: &[(&str, &str, &str, &str, &str, bool, u8)] = &[
    ("cpu", "usage", "average", "percent", "rate", false, 1),
    ("cpu", "usagemhz", "average", "megaHertz", "rate", false, 1),
    ("mem", "usage", "average", "percent", "absolute", false, 1),
    (
        "mem",
        "consumed",
        "average",
        "kiloBytes",
        "absolute",
        false,
        1,
    ),
    (
        "mem",
        "active",
        "average",
        "kiloBytes",
        "absolute",
        false,
        2,
    ),
    (
        "disk",
        "usage",
        "average",
        "kiloBytesPerSecond",
        "rate",
        false,
        1,
    ),
    (
        "disk",
        "read",
        "average",
        "kiloBytesPerSecond",
        "rate",
        false,
        2,
    ),
    (
        "disk",
        "write",
        "average",
        "kiloBytesPerSecond",
        "rate",
        false,
        2,
    ),
    (
        "net",
        "usage",
        "average",
        "kiloBytesPerSecond",
        "rate",
        false,
        1,
    ),
    (
        "net",
        "received",
        "average",
        "kiloBytesPerSecond",
        "rate",
        false,
        2,
    ),
    (
        "net",
        "transmitted",
        "average",
        "kiloBytesPerSecond",
        "rate",
        false,
        2,
    ),
    ("sys", "uptime", "latest", "second", "absolute", false, 1),
    ("sys", "osUptime", "latest", "second", "absolute", false, 4),
    (
        "datastore",
        "read",
        "average",
        "kiloBytesPerSecond",
        "rate",
        true,
        2,
    ),
    (
        "datastore",
        "write",
        "average",
        "kiloBytesPerSecond",
        "rate",
        true,
        2,
    ),
    ("disk", "used", "latest", "kiloBytes", "absolute", true, 1),
];

/// Historical intervals (key, seconds, length) as vCenter ships them.
const INTERVALS: &[(i64, i64, i64)] = &[
    (1, 300, 86_400),
    (2, 1800, 604_800),
    (3, 7200, 2_592_000),
    (4, 86_400, 31_536_000),
];

/// The counter id of catalogue entry `i` for a seed: a permutation with gaps, never 1..n.
fn key_of(i: usize, seed: u64) -> i64 {
    let n = COUNTERS.len() as u64;
    (2 + ((i as u64 * 5 + seed) % n) * 3) as i64
}

fn index_of(key: i64, seed: u64) -> Option<usize> {
    (0..COUNTERS.len()).find(|i| key_of(*i, seed) == key)
}

fn desc(key: &str) -> Value {
    json!({"_typeName": "ElementDescription", "label": key, "summary": key, "key": key})
}

fn require_perf(call: &Call) -> Result<(), VimFault> {
    let s = call.session()?;
    if s.role == Role::Noperf || !call.state.can_read_any(s) {
        return Err(VimFault::no_permission(
            &MoRef::new("PerformanceManager", "PerfMgr"),
            "System.Read",
        ));
    }
    Ok(())
}

/// `GET PerformanceManager/PerfMgr/perfCounter`.
pub fn perf_counter(call: &Call) -> VimResult {
    require_perf(call)?;
    let seed = call.state.config.seed;
    let changed = call.state.faults().counter_levels;
    let list: Vec<Value> = COUNTERS
        .iter()
        .enumerate()
        .map(|(i, (g, n, r, u, st, _, _))| {
            let level = counter_level(i, &changed);
            json!({"_typeName": "PerfCounterInfo", "key": key_of(i, seed), "nameInfo": desc(n), "groupInfo": desc(g),
                   "unitInfo": desc(u), "rollupType": r, "statsType": st, "level": level, "perDeviceLevel": 3})
        })
        .collect();
    Ok(Reply::Json(Value::Array(list)))
}

/// `GET PerformanceManager/PerfMgr/historicalInterval`.
pub fn historical_interval(call: &Call) -> VimResult {
    require_perf(call)?;
    let level = statistics_level(call);
    let list: Vec<Value> = INTERVALS
        .iter()
        .map(|(k, s, l)| json!({"_typeName": "PerfInterval", "key": k, "samplingPeriod": s, "name": format!("Past {}", l / 86_400), "length": l, "level": level, "enabled": true}))
        .collect();
    Ok(Reply::Json(Value::Array(list)))
}

fn entity(call: &Call, v: Option<&Value>) -> Result<MoRef, VimFault> {
    let m = v
        .and_then(MoRef::from_json)
        .ok_or_else(|| VimFault::invalid_argument("entity"))?;
    if call.state.inv().get_ref(&m).is_none() {
        return Err(VimFault::not_found(&m));
    }
    Ok(m)
}

fn applies(kind: &str, i: usize) -> bool {
    let ds = COUNTERS[i].5;
    match kind {
        "Datastore" => ds,
        "HostSystem" | "VirtualMachine" => !ds || COUNTERS[i].0 == "disk",
        "ClusterComputeResource" => COUNTERS[i].0 == "cpu" || COUNTERS[i].0 == "mem",
        _ => false,
    }
}

/// `QueryAvailablePerfMetric {entity, intervalId?}`.
pub fn query_available(call: &Call, body: &Value) -> VimResult {
    require_perf(call)?;
    let e = entity(call, body.get("entity"))?;
    let seed = call.state.config.seed;
    let interval = body.get("intervalId").and_then(Value::as_i64).unwrap_or(20);
    let list: Vec<Value> = (0..COUNTERS.len())
        .filter(|i| applies(&e.kind, *i) && collected(*i, interval, call))
        .map(|i| json!({"_typeName": "PerfMetricId", "counterId": key_of(i, seed), "instance": ""}))
        .collect();
    Ok(Reply::Json(Value::Array(list)))
}

/// `QueryPerfProviderSummary {entity}`.
pub fn provider_summary(call: &Call, body: &Value) -> VimResult {
    require_perf(call)?;
    let e = entity(call, body.get("entity"))?;
    let realtime = has_realtime(&e.kind);
    let mut s = json!({"_typeName": "PerfProviderSummary", "entity": e.to_json(), "currentSupported": realtime, "summarySupported": true});
    if realtime {
        s["refreshRate"] = json!(20);
    }
    Ok(Reply::Json(s))
}

/// A plausible value of counter `i` for `entity` at `t`: a per-entity base plus a slow wave.
/// Counters the load model covers come from it, so they agree with `summary.quickStats`.
fn value(entity: &str, i: usize, t: DateTime<Utc>, load: Option<&Load>, kind: &str) -> i64 {
    if let Some(l) = load {
        match (COUNTERS[i].0, COUNTERS[i].1) {
            ("cpu", "usage") => return l.cpu_usage(),
            ("cpu", "usagemhz") => return l.cpu_mhz,
            ("mem", "usage") => return l.mem_usage(kind),
            ("mem", "consumed") => return l.mem_consumed_mb * 1024,
            ("mem", "active") => return l.mem_active_mb * 1024,
            ("sys", "uptime") | ("sys", "osUptime") => return l.uptime_secs,
            _ => {}
        }
    }
    let mut h = Sha256::new();
    h.update(entity.as_bytes());
    h.update(i.to_le_bytes());
    let d = h.finalize();
    let base = f64::from(u16::from_le_bytes([d[0], d[1]])) / 65_535.0;
    let wave = ((t.timestamp() as f64 / 600.0) + base * std::f64::consts::TAU).sin() * 0.15;
    let x = (base * 0.6 + 0.2 + wave).clamp(0.01, 0.99);
    match COUNTERS[i].3 {
        "percent" => (x * 10_000.0) as i64,
        "megaHertz" => (x * 64_000.0) as i64,
        "kiloBytes" => (x * 16.0 * 1024.0 * 1024.0) as i64,
        "kiloBytesPerSecond" => (x * 200_000.0) as i64,
        "second" => 86_400 + (t.timestamp() % 8_640_000) + (base * 1e6) as i64,
        _ => (x * 1000.0) as i64,
    }
}

/// Whether counter `i` is kept at `interval` under the statistics level.
fn collected(i: usize, interval: i64, call: &Call) -> bool {
    interval == 20
        || counter_level(i, &call.state.faults().counter_levels) <= statistics_level(call)
}

/// The statistics level of the historical intervals: the fault knob when a test moved it from
/// its default (1), else the configured level (`--stats-level`).
fn statistics_level(call: &Call) -> i32 {
    match call.state.faults().statistics_level {
        1 => i32::from(call.state.config.stats_level),
        moved => moved,
    }
}

/// Counter `i`'s level: the fault knob's override (`counter_levels`), else vCenter's default.
fn counter_level(i: usize, overrides: &std::collections::BTreeMap<String, i32>) -> i32 {
    let (g, n, r, ..) = COUNTERS[i];
    overrides
        .get(&format!("{g}.{n}.{r}"))
        .copied()
        .unwrap_or(i32::from(COUNTERS[i].6))
}

/// Whether vCenter keeps realtime (20 s) statistics for this type: hosts and VMs only; the
/// others exist only as rollups in the database (`currentSupported` false).
fn has_realtime(kind: &str) -> bool {
    matches!(kind, "HostSystem" | "VirtualMachine")
}

/// `QueryPerf {querySpec[]}`.
pub fn query_perf(call: &Call, body: &Value) -> VimResult {
    require_perf(call)?;
    let specs = body
        .get("querySpec")
        .and_then(Value::as_array)
        .ok_or_else(|| VimFault::invalid_argument("querySpec"))?;
    let seed = call.state.config.seed;
    let limit = call.state.faults().max_query_metrics;
    // maxQueryMetrics counts entities x metrics of historical (database) queries, as vCenter does.
    let historical: usize = specs
        .iter()
        .filter(|s| s.get("intervalId").and_then(Value::as_i64).unwrap_or(20) != 20)
        .map(|s| {
            s.get("metricId")
                .and_then(Value::as_array)
                .map(Vec::len)
                .unwrap_or(COUNTERS.len())
                .max(1)
        })
        .sum();
    if limit >= 0 && historical > limit as usize {
        return Err(VimFault::invalid_argument("querySpec").with(
            "faultstring",
            json!("This operation is restricted by the administrator - 'vpxd.stats.maxQueryMetrics'. Contact your system administrator."),
        ));
    }
    let now = Utc::now();
    let mut out = Vec::new();
    for spec in specs {
        let e = entity(call, spec.get("entity"))?;
        let interval = spec.get("intervalId").and_then(Value::as_i64).unwrap_or(20);
        if interval != 20 && !INTERVALS.iter().any(|(_, s, _)| *s == interval) {
            return Err(VimFault::invalid_argument("querySpec.intervalId"));
        }
        // vCenter refuses realtime on an entity without realtime statistics (a datastore, a
        // cluster) and answers nothing for one that is not running: a powered-off or suspended
        // VM, a disconnected host.
        if interval == 20 && !has_realtime(&e.kind) {
            return Err(VimFault::invalid_argument("querySpec.interval"));
        }
        let inv = call.state.inv();
        let obj = inv.get_ref(&e);
        if interval == 20 && !obj.is_some_and(load::running) {
            continue;
        }
        let ids: Vec<(usize, String)> = match spec.get("metricId").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .map(|m| {
                    let k = m.get("counterId").and_then(Value::as_i64).unwrap_or(-1);
                    let inst = m
                        .get("instance")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    index_of(k, seed)
                        .map(|i| (i, inst))
                        .ok_or_else(|| VimFault::invalid_argument("querySpec.metricId"))
                })
                .collect::<Result<_, _>>()?,
            None => (0..COUNTERS.len())
                .filter(|i| applies(&e.kind, *i))
                .map(|i| (i, String::new()))
                .collect(),
        };
        // Rollups keep only the counters at or below the statistics level; realtime keeps all.
        let mut ids = ids;
        if interval != 20 {
            ids.retain(|(i, _)| collected(*i, interval, call));
            if ids.is_empty() {
                continue;
            }
        }
        let step = Duration::seconds(interval);
        let end = now.duration_trunc(step).unwrap_or(now);
        let window = if interval == 20 { 180 } else { 12 };
        let max_sample = spec
            .get("maxSample")
            .and_then(Value::as_i64)
            .map(|n| n.clamp(1, window) as usize);
        let n = max_sample.unwrap_or(if spec.get("startTime").is_some() {
            window as usize
        } else {
            1
        });
        let times: Vec<DateTime<Utc>> = (0..n).rev().map(|k| end - step * k as i32).collect();
        let csv = spec.get("format").and_then(Value::as_str) == Some("csv");
        let series: Vec<Value> = ids
            .iter()
            .map(|(i, inst)| {
                let id = json!({"_typeName": "PerfMetricId", "counterId": key_of(*i, seed), "instance": inst});
                let vals: Vec<i64> = times
                    .iter()
                    .map(|t| {
                        let l = obj.and_then(|o| load::sample(o, *t));
                        value(&e.value, *i, *t, l.as_ref(), &e.kind)
                    })
                    .collect();
                if csv {
                    let text = vals.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
                    json!({"_typeName": "PerfMetricSeriesCSV", "id": id, "value": text})
                } else {
                    json!({"_typeName": "PerfMetricIntSeries", "id": id, "value": vals})
                }
            })
            .collect();
        if csv {
            let info = times
                .iter()
                .map(|t| {
                    format!(
                        "{interval},{}",
                        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    )
                })
                .collect::<Vec<_>>()
                .join(",");
            out.push(json!({"_typeName": "PerfEntityMetricCSV", "entity": e.to_json(), "sampleInfoCSV": info, "value": series}));
        } else {
            let info: Vec<Value> = times
                .iter()
                .map(|t| json!({"_typeName": "PerfSampleInfo", "timestamp": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "interval": interval}))
                .collect();
            out.push(json!({"_typeName": "PerfEntityMetric", "entity": e.to_json(), "sampleInfo": info, "value": series}));
        }
    }
    Ok(Reply::Json(Value::Array(out)))
}
