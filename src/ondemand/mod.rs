//! On-demand vCenter reads for data that is not in the snapshot (metric series over a range),
//! behind a moka cache: identical concurrent requests share one vCenter call (`try_get_with`),
//! errors are not cached, entries expire with the data's sampling interval, and the cache is
//! bounded in bytes. One per enabled connection, owned by the connection registry, so its caches
//! go with the connection. Every read is paid for from the connection's [`Budget`] before its
//! first call. The GraphQL layer reaches vCenter only through here.

mod budget;

pub use budget::{Budget, BudgetSettings, BudgetStatus, OverBudget};

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::future::Cache;
use moka::Expiry;

use crate::collector::activity::event_record;
use crate::inventory::activity::EventRecord;
use crate::vcenter::reads::perf::{self, PerfRequest};
use crate::vcenter::{MoRef, VcClient, VcError};

/// A failed on-demand read.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ReadError {
    /// vCenter's answer, shared by every caller that waited on the read.
    #[error(transparent)]
    Vcenter(Arc<VcError>),
    /// The connection's budget could not pay for the read; no call was made.
    #[error(transparent)]
    OverBudget(#[from] OverBudget),
}

impl From<Arc<VcError>> for ReadError {
    fn from(e: Arc<VcError>) -> Self {
        ReadError::Vcenter(e)
    }
}

/// Cache budget for metric series, per connection.
pub const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Counters a series can be asked for, by canonical name -> vCenter counter name.
pub const METRICS: &[(&str, &str)] = &[
    ("cpu", "cpu.usage.average"),
    ("memory", "mem.usage.average"),
    ("disk", "disk.usage.average"),
    ("network", "net.usage.average"),
    ("uptime", "sys.uptime.latest"),
];

/// One series request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub connection: String,
    /// `HostSystem` or `VirtualMachine`.
    pub kind: String,
    pub moid: String,
    /// Canonical metric name (`cpu`, `memory`, ...).
    pub metric: String,
    /// Sampling interval in seconds (20 realtime, 300/1800/7200/86400 historical).
    pub interval: i64,
    pub samples: i64,
}

/// Events of one object read from vCenter (beyond what the collector retains). Always the
/// newest [`EVENTS_READ`], whatever a request asks for, so requests (or aliases) that differ
/// only in `first` share one read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventsKey {
    pub connection: String,
    pub kind: String,
    pub moid: String,
}

/// Events read per object on demand: the most any request may ask for.
pub const EVENTS_READ: usize = 500;

/// What one of a connection's caches holds and how it served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStatus {
    pub hits: u64,
    pub misses: u64,
    /// Entries dropped for room (expired ones are not counted).
    pub evictions: u64,
    pub entries: u64,
    /// Bytes by the cache's weigher (series), or entries where it has none.
    pub weight: u64,
}

#[derive(Debug, Default)]
struct CacheCounters {
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
    evictions: Arc<std::sync::atomic::AtomicU64>,
}

impl CacheCounters {
    fn served(&self, hits: usize, misses: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.hits.fetch_add(hits as u64, Relaxed);
        self.misses.fetch_add(misses as u64, Relaxed);
    }

    /// A moka eviction listener counting what was dropped for room.
    fn on_eviction<K, V>(
        &self,
    ) -> impl Fn(Arc<K>, V, moka::notification::RemovalCause) + Send + Sync + 'static {
        let evictions = self.evictions.clone();
        move |_, _, cause| {
            if cause == moka::notification::RemovalCause::Size {
                evictions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    fn status(&self, entries: u64, weight: u64) -> CacheStatus {
        use std::sync::atomic::Ordering::Relaxed;
        CacheStatus {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            entries,
            weight,
        }
    }
}

/// Samples in canonical units (percent, bytes/s, seconds).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub points: Vec<(DateTime<Utc>, f64)>,
}

impl Series {
    fn weight(&self) -> u32 {
        (64 + self.points.len() * 16).min(u32::MAX as usize) as u32
    }
}

struct ByInterval;

impl Expiry<SeriesKey, Arc<Series>> for ByInterval {
    fn expire_after_create(
        &self,
        k: &SeriesKey,
        _: &Arc<Series>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(Duration::from_secs(k.interval.clamp(20, 86_400) as u64))
    }
}

/// One connection's client and the caches over it.
pub struct OnDemand {
    client: VcClient,
    events: Cache<EventsKey, Arc<Vec<EventRecord>>>,
    series: Cache<SeriesKey, Arc<Series>>,
    counters: Cache<String, Arc<HashMap<String, i64>>>,
    limits: Cache<String, Option<usize>>,
    budget: Budget,
    events_served: CacheCounters,
    series_served: CacheCounters,
}

impl std::fmt::Debug for OnDemand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnDemand")
            .field("url", &self.client.config().url)
            .finish()
    }
}

/// Converts a raw vCenter value of `metric` to canonical units.
fn canonical(metric: &str, v: i64) -> f64 {
    match metric {
        "cpu" | "memory" => v as f64 / 100.0,
        "disk" | "network" => v as f64 * 1024.0,
        _ => v as f64,
    }
}

impl OnDemand {
    pub fn new(client: VcClient, budget: BudgetSettings) -> OnDemand {
        let events_served = CacheCounters::default();
        let series_served = CacheCounters::default();
        OnDemand {
            client,
            events: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(30))
                .eviction_listener(events_served.on_eviction())
                .build(),
            series: Cache::builder()
                .weigher(|_k, v: &Arc<Series>| v.weight())
                .max_capacity(CACHE_BYTES)
                .expire_after(ByInterval)
                .eviction_listener(series_served.on_eviction())
                .build(),
            counters: Cache::builder()
                .max_capacity(64)
                .time_to_live(Duration::from_secs(3600))
                .build(),
            limits: Cache::builder()
                .max_capacity(64)
                .time_to_live(Duration::from_secs(600))
                .build(),
            budget: Budget::new(budget),
            events_served,
            series_served,
        }
    }

    pub fn client(&self) -> &VcClient {
        &self.client
    }

    /// What the budget holds and has spent.
    pub fn budget(&self) -> BudgetStatus {
        self.budget.status()
    }

    /// The events and series caches: (events, series).
    pub fn caches(&self) -> (CacheStatus, CacheStatus) {
        (
            self.events_served
                .status(self.events.entry_count(), self.events.entry_count()),
            self.series_served
                .status(self.series.entry_count(), self.series.weighted_size()),
        )
    }

    /// The newest [`EVENTS_READ`] events of each object straight from vCenter (one
    /// `QueryEvents` call per object not cached, no history collector), cached for 30 s.
    ///
    /// # Errors
    /// `OverBudget` before any call when the budget cannot pay for every object not cached;
    /// the first failed read otherwise.
    pub async fn events(
        &self,
        keys: &[EventsKey],
    ) -> Result<HashMap<EventsKey, Arc<Vec<EventRecord>>>, ReadError> {
        let mut keys: Vec<&EventsKey> = keys.iter().collect();
        keys.sort_by(|a, b| (&a.kind, &a.moid).cmp(&(&b.kind, &b.moid)));
        keys.dedup();
        let misses = keys
            .iter()
            .filter(|k| !self.events.contains_key(**k))
            .count();
        self.budget
            .take(u32::try_from(misses).unwrap_or(u32::MAX))?;
        self.events_served.served(keys.len() - misses, misses);
        let reads = keys.into_iter().map(|k| async move {
            let r = self
                .events
                .try_get_with(k.clone(), async {
                    let _slot = self.budget.slot().await;
                    let entity = MoRef::new(&k.kind, &k.moid);
                    let events = crate::vcenter::reads::events::newest_of(
                        &self.client,
                        &entity,
                        EVENTS_READ,
                    )
                    .await?;
                    Ok::<_, VcError>(Arc::new(events.iter().map(event_record).collect()))
                })
                .await;
            (k.clone(), r)
        });
        let mut out = HashMap::new();
        for (k, r) in futures::future::join_all(reads).await {
            out.insert(k, r?);
        }
        Ok(out)
    }

    /// Series for `keys` (all of this connection): cached ones at once, the rest in as few
    /// `QueryPerf` calls as the server's limits allow. Concurrent identical requests share the
    /// calls.
    pub async fn series(
        &self,
        keys: &[SeriesKey],
    ) -> Result<HashMap<SeriesKey, Arc<Series>>, ReadError> {
        let mut out = HashMap::new();
        let mut missing: BTreeMap<(String, i64, i64), Vec<SeriesKey>> = BTreeMap::new();
        for k in keys {
            match self.series.get(k).await {
                Some(s) => {
                    out.insert(k.clone(), s);
                }
                None => missing
                    .entry((k.connection.clone(), k.interval, k.samples))
                    .or_default()
                    .push(k.clone()),
            }
        }
        for group in missing.values_mut() {
            group.sort();
            group.dedup();
        }
        self.budget.take(self.series_calls(&missing).await)?;
        self.series_served
            .served(out.len(), missing.values().map(Vec::len).sum());
        for ((conn, interval, samples), group) in missing {
            let client = &self.client;
            // The first missing key's cache entry fetches the whole group and files every other
            // key before it resolves; a concurrent identical request waits on that same entry
            // (moka's `try_get_with`) and then finds the rest cached. Errors are not cached.
            let mut pending: std::collections::VecDeque<SeriesKey> = group.into();
            while let Some(k) = pending.pop_front() {
                if let Some(s) = self.series.get(&k).await {
                    out.insert(k, s);
                    continue;
                }
                let rest: Vec<SeriesKey> = std::iter::once(k.clone())
                    .chain(pending.iter().cloned())
                    .collect();
                let v = self
                    .series
                    .try_get_with(k.clone(), async {
                        let _slot = self.budget.slot().await;
                        let batch = self.fetch(client, &conn, &rest, interval, samples).await?;
                        let mut mine = Series::default();
                        for (key, s) in batch {
                            if key == k {
                                mine = s;
                            } else {
                                self.series.insert(key, Arc::new(s)).await;
                            }
                        }
                        Ok::<_, VcError>(Arc::new(mine))
                    })
                    .await?;
                out.insert(k, v);
            }
        }
        Ok(out)
    }

    /// The calls reading `missing` takes: the counter map and `maxQueryMetrics` when not
    /// cached, and one `QueryPerf` per batch the server's limit allows (256, vCenter's
    /// default, while the limit is unknown).
    async fn series_calls(&self, missing: &BTreeMap<(String, i64, i64), Vec<SeriesKey>>) -> u32 {
        let mut calls = 0usize;
        for ((conn, interval, _), keys) in missing {
            let limit = match self.limits.get(conn).await {
                Some(l) => l,
                None => {
                    calls += 1;
                    Some(perf::DEFAULT_MAX_QUERY_METRICS)
                }
            };
            if !self.counters.contains_key(conn) {
                calls += 1;
            }
            let mut per_entity: BTreeMap<(&str, &str), Vec<i64>> = BTreeMap::new();
            for k in keys {
                let metric = METRICS.iter().position(|(m, _)| *m == k.metric);
                let counters = per_entity.entry((&k.kind, &k.moid)).or_default();
                counters.extend(metric.map(|i| i as i64));
            }
            let reqs: Vec<PerfRequest> = per_entity
                .into_iter()
                .map(|((kind, moid), counters)| PerfRequest {
                    entity: MoRef::new(kind, moid),
                    counters,
                })
                .collect();
            calls += perf::plan_batches(&reqs, *interval, limit).len();
        }
        u32::try_from(calls).unwrap_or(u32::MAX)
    }

    async fn fetch(
        &self,
        c: &VcClient,
        conn: &str,
        keys: &[SeriesKey],
        interval: i64,
        samples: i64,
    ) -> Result<BTreeMap<SeriesKey, Series>, VcError> {
        let ids = self
            .counters
            .try_get_with(conn.to_string(), async {
                perf::counter_ids(c).await.map(Arc::new)
            })
            .await
            .map_err(|e| (*e).clone())?;
        let limit = self
            .limits
            .get_with(conn.to_string(), perf::max_query_metrics(c))
            .await;
        let mut per_entity: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
        let mut names: HashMap<i64, &str> = HashMap::new();
        for k in keys {
            let Some(counter) = METRICS
                .iter()
                .find(|(m, _)| *m == k.metric)
                .and_then(|(_, n)| ids.get(*n))
            else {
                continue;
            };
            names.insert(
                *counter,
                METRICS
                    .iter()
                    .find(|(m, _)| *m == k.metric)
                    .map_or("", |(m, _)| *m),
            );
            let e = per_entity
                .entry((k.kind.clone(), k.moid.clone()))
                .or_default();
            if !e.contains(counter) {
                e.push(*counter);
            }
        }
        let reqs: Vec<PerfRequest> = per_entity
            .into_iter()
            .map(|((kind, moid), counters)| PerfRequest {
                entity: MoRef::new(&kind, &moid),
                counters,
            })
            .collect();
        let result = perf::query(c, &reqs, interval, samples, limit).await?;
        let mut out: BTreeMap<SeriesKey, Series> = keys
            .iter()
            .map(|k| (k.clone(), Series::default()))
            .collect();
        for m in result {
            let times: Vec<Option<DateTime<Utc>>> = m
                .sample_info
                .iter()
                .map(|s| crate::model::utc(&s.timestamp))
                .collect();
            for series in &m.value {
                let Some(metric) = names.get(&series.id.counter_id) else {
                    continue;
                };
                let key = SeriesKey {
                    connection: conn.to_string(),
                    kind: m.entity.kind.clone(),
                    moid: m.entity.value.clone(),
                    metric: metric.to_string(),
                    interval,
                    samples,
                };
                if let Some(target) = out.get_mut(&key) {
                    target.points.extend(
                        times
                            .iter()
                            .zip(series.values())
                            .filter(|(_, v)| *v >= 0)
                            .filter_map(|(t, v)| t.map(|t| (t, canonical(metric, v)))),
                    );
                }
            }
        }
        Ok(out)
    }
}
