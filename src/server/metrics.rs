//! `/metrics`: the service's own series through `prometheus-client`, in the Prometheus text
//! format (or OpenMetrics when the scraper asks for it).
//!
//! Almost every value already lives where the work happens (a connection's call counters and
//! sessions, its collector's counters, its snapshot, its on-demand budget, the execution
//! slots), so one [`Collector`] reads them at scrape time instead of copying them into a
//! second set of counters. Each server owns its registry: tests run many servers in one
//! process and each scrapes only its own.
//!
//! Cardinality is bounded by construction: labels are connection ids, API families, call
//! templates (never an object id, see [`crate::vcenter::transport::call_name`]), HTTP statuses,
//! failure classes, resource kinds, cycle names and at most [`MAX_OPERATIONS`] GraphQL
//! operation names.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry as MetricRegistry, Unit};
use serde::Deserialize;

use super::graphql_http::Execution;
use super::Counters;
use crate::connections::Registry;
use crate::graphql::loader::LoaderStats;
use crate::inventory::ConnectionState;
use crate::telemetry::{Timing, REQUEST_BUCKETS};

/// Distinct GraphQL operation names given their own series; later ones count as `other`.
pub const MAX_OPERATIONS: usize = 50;

/// Content type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Content type of OpenMetrics text (which also carries `# UNIT` lines).
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// GraphQL request latency by operation name.
#[derive(Debug, Default)]
pub struct OperationLatency {
    ops: Mutex<BTreeMap<String, Timing>>,
}

impl OperationLatency {
    /// Records one `POST /graphql` from its raw body: the operation is the body's
    /// `operationName`, else the name of the document's first operation, else `anonymous`.
    pub fn observe_request(&self, body: &[u8], elapsed: Duration) {
        self.observe(&operation_of(body), elapsed);
    }

    /// Records one request of operation `name`. Names past the first [`MAX_OPERATIONS`] are
    /// grouped as `other`, so a client inventing names cannot grow the series.
    pub fn observe(&self, name: &str, elapsed: Duration) {
        let Ok(mut ops) = self.ops.lock() else {
            return;
        };
        let named = ops
            .keys()
            .filter(|k| !matches!(k.as_str(), "anonymous" | "other"))
            .count();
        let key = if ops.contains_key(name) || name == "anonymous" || named < MAX_OPERATIONS {
            name
        } else {
            "other"
        };
        ops.entry(key.to_string())
            .or_insert_with(|| Timing::new(&REQUEST_BUCKETS))
            .observe(elapsed);
    }

    fn snapshot(&self) -> Vec<(String, Histogram)> {
        self.ops
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(k, t)| (k.clone(), t.histogram().clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The operation a request body names, as a label value.
fn operation_of(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Named<'a> {
        #[serde(rename = "operationName", borrow, default)]
        operation_name: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        query: Option<Cow<'a, str>>,
    }
    let Ok(named) = serde_json::from_slice::<Named>(body) else {
        return "anonymous".into();
    };
    let name = match (&named.operation_name, &named.query) {
        (Some(op), _) => Some(op.as_ref()),
        (None, Some(q)) => first_operation_name(q),
        (None, None) => None,
    };
    match name {
        None => "anonymous".into(),
        Some(n) if is_graphql_name(n) => n.to_string(),
        Some(_) => "other".into(),
    }
}

/// The name of the document's first operation (`query Pages($after: String) {...}` ->
/// `Pages`) from its first tokens; `None` for a shorthand `{ ... }` or an unnamed operation.
fn first_operation_name(query: &str) -> Option<&str> {
    let mut rest = query;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',' || c == '\u{feff}');
        if rest.starts_with('#') {
            rest = rest.split_once('\n').map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    let after = ["query", "mutation", "subscription"]
        .iter()
        .find_map(|k| rest.strip_prefix(k))?;
    let after = after.trim_start();
    let end = after
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(after.len());
    let name = &after[..end];
    is_graphql_name(name).then_some(name)
}

fn is_graphql_name(n: &str) -> bool {
    let mut b = n.bytes();
    n.len() <= 100
        && b.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The server's metric registry.
pub struct Exporter {
    registry: MetricRegistry,
}

impl Exporter {
    /// A registry over the connections, the request counters and the execution slots.
    pub fn new(
        connections: Arc<Registry>,
        counters: Arc<Counters>,
        exec: Arc<Execution>,
        loaders: Arc<LoaderStats>,
    ) -> Self {
        let mut registry = MetricRegistry::with_prefix("pulse_vsphere");
        registry.register_collector(Box::new(Service {
            connections,
            counters,
            exec,
            loaders,
        }));
        Exporter { registry }
    }

    /// Every series: OpenMetrics text when `openmetrics`, else the Prometheus text format.
    pub fn render(&self, openmetrics: bool) -> String {
        let mut out = String::new();
        let encoded = if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        };
        if let Err(e) = encoded {
            tracing::warn!(error = %e, "encoding /metrics failed");
        }
        out
    }
}

/// Reads every value at scrape time.
struct Service {
    connections: Arc<Registry>,
    counters: Arc<Counters>,
    exec: Arc<Execution>,
    loaders: Arc<LoaderStats>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").finish_non_exhaustive()
    }
}

type Labels = Vec<(&'static str, String)>;

fn conn(id: &str) -> Labels {
    vec![("connection", id.to_string())]
}

fn with(mut labels: Labels, more: &[(&'static str, &str)]) -> Labels {
    labels.extend(more.iter().map(|(k, v)| (*k, v.to_string())));
    labels
}

/// Writes one metric family: its descriptor, then each labelled value.
fn family<M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    kind: MetricType,
    rows: Vec<(Labels, M)>,
) -> std::fmt::Result {
    let mut metric = enc.encode_descriptor(name, help, unit.as_ref(), kind)?;
    for (labels, value) in &rows {
        value.encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: Vec<(Labels, u64)>,
) -> std::fmt::Result {
    let rows = rows
        .into_iter()
        .map(|(l, v)| (l, ConstCounter::new(v)))
        .collect();
    family(enc, name, help, None, MetricType::Counter, rows)
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: Vec<(Labels, i64)>,
) -> std::fmt::Result {
    let rows = rows
        .into_iter()
        .map(|(l, v)| (l, ConstGauge::new(v)))
        .collect();
    family(enc, name, help, None, MetricType::Gauge, rows)
}

fn seconds_gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: Vec<(Labels, f64)>,
) -> std::fmt::Result {
    let rows = rows
        .into_iter()
        .map(|(l, v)| (l, ConstGauge::new(v)))
        .collect();
    family(
        enc,
        name,
        help,
        Some(Unit::Seconds),
        MetricType::Gauge,
        rows,
    )
}

fn histogram(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: Vec<(Labels, Histogram)>,
) -> std::fmt::Result {
    family(
        enc,
        name,
        help,
        Some(Unit::Seconds),
        MetricType::Histogram,
        rows,
    )
}

fn n(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Collector for Service {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        self.graphql(&mut enc)?;
        self.vcenter(&mut enc)?;
        self.budgets(&mut enc)?;
        self.caches(&mut enc)?;
        self.connections(&mut enc)?;
        self.collectors(&mut enc)
    }
}

impl Service {
    fn graphql(&self, enc: &mut DescriptorEncoder) -> std::fmt::Result {
        let c = &self.counters;
        let load =
            |a: &std::sync::atomic::AtomicU64| vec![(Labels::new(), a.load(Ordering::Relaxed))];
        counter(
            enc,
            "graphql_requests",
            "GraphQL requests served.",
            load(&c.graphql_requests),
        )?;
        counter(
            enc,
            "graphql_errors",
            "GraphQL responses carrying errors.",
            load(&c.graphql_errors),
        )?;
        counter(
            enc,
            "graphql_refused",
            "GraphQL requests refused before execution or cut by a cap.",
            load(&c.graphql_refused),
        )?;
        family(
            enc,
            "graphql_dataloader_batch_size",
            "Keys per DataLoader batch, by loader (entities for the gateway's _entities, events and series for on-demand vCenter reads).",
            None,
            MetricType::Histogram,
            [
                ("entities", &self.loaders.entities),
                ("events", &self.loaders.events),
                ("series", &self.loaders.series),
            ]
            .into_iter()
            .map(|(loader, s)| (vec![("loader", loader.to_string())], s.histogram().clone()))
            .collect(),
        )?;
        histogram(
            enc,
            "graphql_request_duration",
            "POST /graphql from body to response, by operation name (the first 50 names; later ones are `other`, unnamed ones `anonymous`).",
            c.graphql_latency
                .snapshot()
                .into_iter()
                .map(|(op, h)| (vec![("operation", op)], h))
                .collect(),
        )?;
        gauge(
            enc,
            "graphql_subscribers",
            "WebSocket subscribers connected (GET /graphql/ws).",
            vec![(
                Labels::new(),
                n(c.graphql_subscribers.load(Ordering::Relaxed)),
            )],
        )?;
        counter(
            enc,
            "graphql_subscribers_dropped",
            "WebSocket subscribers dropped because a message waited too long for them to read it.",
            load(&c.graphql_subscribers_dropped),
        )?;
        let cache = &self.exec.cache;
        counter(
            enc,
            "graphql_response_cache",
            "Reusable GraphQL responses by how they were answered: hit (a kept body, or an identical request's execution waited for), miss (computed), not_modified (304 to If-None-Match).",
            [
                ("hit", &cache.hits),
                ("miss", &cache.misses),
                ("not_modified", &cache.not_modified),
            ]
            .into_iter()
            .map(|(result, c)| (vec![("result", result.to_string())], c.load(Ordering::Relaxed)))
            .collect(),
        )?;
        gauge(
            enc,
            "graphql_response_cache_bytes",
            "Bytes of reusable GraphQL response bodies kept.",
            vec![(Labels::new(), n(cache.weighted_bytes()))],
        )?;
        let gate = &self.exec.gate;
        gauge(
            enc,
            "graphql_executions_running",
            "GraphQL executions running on a thread.",
            vec![(Labels::new(), n(gate.running() as u64))],
        )?;
        gauge(
            enc,
            "graphql_execution_slots_free",
            "Execution slots free.",
            vec![(Labels::new(), n(gate.available() as u64))],
        )
    }

    fn vcenter(&self, enc: &mut DescriptorEncoder) -> std::fmt::Result {
        let mut calls = Vec::new();
        let mut latency = Vec::new();
        let mut last_minute = Vec::new();
        let mut held = Vec::new();
        let mut logins = Vec::new();
        let mut failures = Vec::new();
        for c in self.connections.connections() {
            let id = c.spec().id();
            if let Some(stats) = c.call_stats() {
                for ((family, call, status), (count, _)) in stats.snapshot() {
                    let status = status.to_string();
                    let labels = with(
                        conn(id),
                        &[("family", &family), ("call", &call), ("status", &status)],
                    );
                    calls.push((labels, count));
                }
                for ((family, call), t) in stats.latency() {
                    let labels = with(conn(id), &[("family", &family), ("call", &call)]);
                    latency.push((labels, t.histogram().clone()));
                }
                last_minute.push((conn(id), n(stats.last_minute())));
            }
            if let Some(client) = c.client() {
                for s in client.session_stats() {
                    let family = s.family.to_string();
                    let labels = with(conn(id), &[("family", &family)]);
                    held.push((labels.clone(), i64::from(s.held)));
                    logins.push((labels.clone(), s.logins));
                    for (class, count) in s.failures {
                        failures.push((with(labels.clone(), &[("class", class)]), count));
                    }
                }
            }
        }
        counter(
            enc,
            "vcenter_calls",
            "vCenter calls by connection, API family, call and HTTP status (0 = no response).",
            calls,
        )?;
        histogram(
            enc,
            "vcenter_call_duration",
            "vCenter call latency by connection, API family and call (a template, never an object id).",
            latency,
        )?;
        gauge(
            enc,
            "vcenter_calls_last_minute",
            "vCenter calls this service sent in the last 60 seconds: what it costs each vCenter now.",
            last_minute,
        )?;
        gauge(
            enc,
            "vcenter_sessions_held",
            "1 while the connection holds a session of this API family.",
            held,
        )?;
        counter(
            enc,
            "vcenter_logins",
            "Login attempts by connection and API family (each one a session on vCenter when it succeeds).",
            logins,
        )?;
        counter(
            enc,
            "vcenter_login_failures",
            "Failed logins by connection, API family and failure class.",
            failures,
        )
    }

    /// Each connection's on-demand budget: its settings, what it holds, what it spent and
    /// refused.
    fn budgets(&self, enc: &mut DescriptorEncoder) -> std::fmt::Result {
        let budgets: Vec<(String, crate::ondemand::BudgetStatus)> = self
            .connections
            .connections()
            .iter()
            .filter_map(|c| Some((c.spec().id().to_string(), c.ondemand()?.budget())))
            .collect();
        let rows = |value: fn(&crate::ondemand::BudgetStatus) -> i64| {
            budgets
                .iter()
                .map(|(id, b)| (conn(id), value(b)))
                .collect::<Vec<_>>()
        };
        gauge(
            enc,
            "ondemand_budget_calls_per_second",
            "Calls per second the connection's on-demand reads may make (config [ondemand]).",
            rows(|b| i64::from(b.settings.calls_per_second)),
        )?;
        gauge(
            enc,
            "ondemand_budget_burst",
            "Most calls one request may make.",
            rows(|b| i64::from(b.settings.burst)),
        )?;
        gauge(
            enc,
            "ondemand_budget_concurrent_calls",
            "On-demand calls allowed in flight at once.",
            rows(|b| i64::from(b.settings.concurrent_calls)),
        )?;
        gauge(
            enc,
            "ondemand_budget_available_calls",
            "Calls the budget holds now.",
            rows(|b| b.available.floor() as i64),
        )?;
        gauge(
            enc,
            "ondemand_calls_in_flight",
            "On-demand reads running now.",
            rows(|b| n(b.in_flight)),
        )?;
        let totals = |value: fn(&crate::ondemand::BudgetStatus) -> u64| {
            budgets
                .iter()
                .map(|(id, b)| (conn(id), value(b)))
                .collect::<Vec<_>>()
        };
        counter(
            enc,
            "ondemand_calls",
            "vCenter calls on-demand reads paid for.",
            totals(|b| b.calls),
        )?;
        counter(
            enc,
            "ondemand_refused",
            "On-demand reads refused by the budget before any call.",
            totals(|b| b.refused),
        )
    }

    /// Each connection's on-demand caches (events, series): hits, misses, evictions, size.
    fn caches(&self, enc: &mut DescriptorEncoder) -> std::fmt::Result {
        let mut rows: Vec<(Labels, crate::ondemand::CacheStatus)> = Vec::new();
        let mut bytes = Vec::new();
        for c in self.connections.connections() {
            let Some(o) = c.ondemand() else { continue };
            let id = c.spec().id();
            let (events, series) = o.caches();
            rows.push((with(conn(id), &[("cache", "events")]), events));
            rows.push((with(conn(id), &[("cache", "series")]), series));
            bytes.push((conn(id), n(series.weight)));
        }
        let totals = |value: fn(&crate::ondemand::CacheStatus) -> u64| {
            rows.iter()
                .map(|(l, c)| (l.clone(), value(c)))
                .collect::<Vec<_>>()
        };
        counter(
            enc,
            "ondemand_cache_hits",
            "On-demand reads answered from the cache.",
            totals(|c| c.hits),
        )?;
        counter(
            enc,
            "ondemand_cache_misses",
            "On-demand reads that needed vCenter.",
            totals(|c| c.misses),
        )?;
        counter(
            enc,
            "ondemand_cache_evictions",
            "Cache entries dropped for room (expiry not counted).",
            totals(|c| c.evictions),
        )?;
        gauge(
            enc,
            "ondemand_cache_entries",
            "Entries in the cache now.",
            rows.iter()
                .map(|(l, c)| (l.clone(), n(c.entries)))
                .collect(),
        )?;
        gauge(
            enc,
            "ondemand_cache_series_bytes",
            "Bytes the metric-series cache holds (its budget is 64 MiB per connection).",
            bytes,
        )
    }

    fn connections(&self, enc: &mut DescriptorEncoder) -> std::fmt::Result {
        let slots = self.connections.slots();
        let mut up = Vec::new();
        let mut failing = Vec::new();
        let mut resources = Vec::new();
        let mut age = Vec::new();
        for slot in &slots {
            let h = slot.health();
            let healthy = matches!(
                h.state,
                ConnectionState::Healthy | ConnectionState::Degraded
            );
            up.push((conn(&slot.id), i64::from(healthy)));
            failing.push((conn(&slot.id), i64::from(h.consecutive_failures)));
            let Some(s) = slot.snapshot() else { continue };
            for (kind, count) in [
                ("agent", s.agents.len()),
                ("vm", s.vms.len()),
                ("storage", s.storage.len()),
            ] {
                resources.push((with(conn(&slot.id), &[("kind", kind)]), n(count as u64)));
            }
            let secs = slot
                .staleness(Utc::now())
                .map_or(0.0, |d| d.num_milliseconds() as f64 / 1000.0);
            age.push((conn(&slot.id), secs));
        }
        gauge(
            enc,
            "connection_up",
            "1 when the connection is healthy or degraded.",
            up,
        )?;
        gauge(
            enc,
            "connection_consecutive_failures",
            "Consecutive failed sync attempts (0 while healthy).",
            failing,
        )?;
        gauge(
            enc,
            "resources",
            "Resources in the latest snapshot, by kind.",
            resources,
        )?;
        seconds_gauge(
            enc,
            "snapshot_age",
            "Seconds since vCenter last confirmed the snapshot current (health's staleSeconds).",
            age,
        )
    }

    fn collectors(&self, enc: &mut DescriptorEncoder) -> std::fmt::Result {
        let stats: Vec<(String, Arc<crate::collector::CollectorStats>)> = self
            .connections
            .connections()
            .iter()
            .filter_map(|c| Some((c.spec().id().to_string(), c.collector_stats()?.clone())))
            .collect();
        type Field = fn(&crate::collector::CollectorStats) -> &std::sync::atomic::AtomicU64;
        let counters: [(&str, &str, Field); 10] = [
            (
                "collector_full_syncs",
                "Full inventory reads (the first sync and every resync).",
                |s| &s.full_syncs,
            ),
            (
                "collector_resyncs",
                "Change feeds abandoned for a full resync (vCenter restart, lost collector).",
                |s| &s.resyncs,
            ),
            (
                "collector_updates_applied",
                "Object changes applied from the change feed.",
                |s| &s.updates_applied,
            ),
            (
                "collector_snapshots_published",
                "Snapshots published to queries.",
                |s| &s.snapshots_published,
            ),
            (
                "collector_skipped_ticks",
                "Periodic ticks skipped because the previous one was still running.",
                |s| &s.skipped_ticks,
            ),
            (
                "collector_metric_passes",
                "Realtime metric passes completed.",
                |s| &s.metric_passes,
            ),
            (
                "history_changes_written",
                "Incident transitions, events and task lists written to the store.",
                |s| &s.history.written,
            ),
            (
                "history_changes_dropped",
                "Changes not stored because the store's backlog was full (history lost).",
                |s| &s.history.dropped,
            ),
            (
                "history_write_failures",
                "Store writes of history that failed (each batch is retried).",
                |s| &s.history.write_failures,
            ),
            (
                "history_rows_pruned",
                "Events and tasks deleted by retention.",
                |s| &s.history.pruned,
            ),
        ];
        for (name, help, field) in counters {
            let rows = stats
                .iter()
                .map(|(id, s)| (conn(id), field(s).load(Ordering::Relaxed)))
                .collect();
            counter(enc, name, help, rows)?;
        }
        histogram(
            enc,
            "collector_full_sync_duration",
            "Reading the whole inventory, by connection.",
            stats
                .iter()
                .map(|(id, s)| (conn(id), s.full_sync_seconds.histogram().clone()))
                .collect(),
        )?;
        histogram(
            enc,
            "collector_publish_duration",
            "Projecting and publishing one snapshot, by connection.",
            stats
                .iter()
                .map(|(id, s)| (conn(id), s.publish_seconds.histogram().clone()))
                .collect(),
        )?;
        histogram(
            enc,
            "collector_feed_lag",
            "From a change's arrival on the change feed to the publish that serves it, by connection (vCenter does not timestamp property changes).",
            stats
                .iter()
                .map(|(id, s)| (conn(id), s.feed_lag_seconds.histogram().clone()))
                .collect(),
        )?;
        histogram(
            enc,
            "history_write_duration",
            "One batch of history written to the store, by connection.",
            stats
                .iter()
                .map(|(id, s)| (conn(id), s.history.write_seconds.histogram().clone()))
                .collect(),
        )?;
        gauge(
            enc,
            "history_backlog",
            "History changes waiting for the store, by connection (bounded; past the bound they are dropped and counted).",
            stats
                .iter()
                .map(|(id, s)| (conn(id), n(s.history.backlog())))
                .collect(),
        )?;
        gauge(
            enc,
            "history_backlog_bound",
            "The most history changes that may wait for the store, by connection: 20,000 plus two per host, VM and datastore served; past it changes are dropped and counted.",
            stats
                .iter()
                .map(|(id, s)| (conn(id), n(s.history.bound.load(Ordering::Relaxed))))
                .collect(),
        )?;
        histogram(
            enc,
            "collector_cycle_duration",
            "The collector's periodic cycles (events, metrics, metadata, sessions), by connection.",
            stats
                .iter()
                .flat_map(|(id, s)| {
                    s.cycle_seconds.all().map(|(cycle, t)| {
                        (with(conn(id), &[("cycle", cycle)]), t.histogram().clone())
                    })
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_come_from_the_body_or_the_document() {
        let cases: [(&str, &str); 7] = [
            (r#"{"query":"{ a }","operationName":"Pages"}"#, "Pages"),
            (r#"{"query":"query Pages($a: Int) { a }"}"#, "Pages"),
            (r#"{"query":"\n# c\n  mutation Add { a }"}"#, "Add"),
            (r#"{"query":"{ a }"}"#, "anonymous"),
            (r#"{"query":"query { a }"}"#, "anonymous"),
            (
                r#"{"query":"{ a }","operationName":"no spaces allowed"}"#,
                "other",
            ),
            ("not json", "anonymous"),
        ];
        for (body, op) in cases {
            assert_eq!(operation_of(body.as_bytes()), op, "{body}");
        }
    }

    #[test]
    fn operation_names_are_bounded() {
        let l = OperationLatency::default();
        for i in 0..500 {
            l.observe(&format!("Op{i}"), Duration::from_millis(1));
        }
        l.observe("anonymous", Duration::from_millis(1));
        l.observe("Op3", Duration::from_millis(1));
        let ops = l.snapshot();
        assert_eq!(ops.len(), MAX_OPERATIONS + 2, "50 names, other, anonymous");
        assert!(ops.iter().any(|(k, _)| k == "other"));
    }
}
