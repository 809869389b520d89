//! What happens to a resource over time: its events and recent tasks (from the collector's
//! bounded activity log), alert history (raised/cleared transitions), the latest realtime
//! sample, and metric series fetched from vCenter on demand through a batching DataLoader.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::enums::AlertSeverity;
use super::errors;
use super::hit::Hit;
use crate::connections::Registry;
use crate::inventory::activity::{self, TransitionKind};
use crate::ondemand::{EventsKey, OnDemand, ReadError, Series, SeriesKey};

/// Most items a list of events, tasks or transitions returns.
pub const MAX_ITEMS: i32 = 500;
/// Most samples a series returns (realtime keeps about an hour: 180 samples).
pub const MAX_SAMPLES: i32 = 360;

/// A vCenter event about a resource.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "VsphereEvent")]
pub struct Event {
    /// vCenter event key (increasing).
    pub key: i64,
    /// Event type, e.g. `VmPoweredOnEvent`, `AlarmStatusChangedEvent` or an `EventEx` type id.
    pub event_type: String,
    /// When vCenter recorded it.
    pub created: Option<DateTime<Utc>>,
    /// vCenter's formatted message.
    pub message: String,
    /// The user who caused it, when there was one.
    pub user: Option<String>,
}

impl From<activity::EventRecord> for Event {
    fn from(e: activity::EventRecord) -> Self {
        Event {
            key: e.key,
            event_type: e.event_type,
            created: e.created,
            message: e.message,
            user: e.user,
        }
    }
}

/// A recent vCenter task on a resource (vCenter keeps about 10 minutes of them).
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "VsphereTask")]
pub struct Task {
    /// Task key.
    pub key: String,
    /// What the task does, e.g. `VirtualMachine.powerOn`.
    pub description_id: String,
    /// queued, running, success or error.
    pub state: String,
    /// Name of the object it ran on.
    pub entity_name: Option<String>,
    /// When it was queued.
    pub queued: Option<DateTime<Utc>>,
    /// When it completed.
    pub completed: Option<DateTime<Utc>>,
    /// vCenter's error message when it failed.
    pub error: Option<String>,
}

/// Whether an alarm became active or inactive.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "VsphereAlertTransitionKind")]
pub enum Kind {
    /// The alarm became active (red or yellow) on the resource.
    Raised,
    /// The alarm stopped being active (green, gray or removed).
    Cleared,
}

/// An alarm turning active or inactive on a resource, as detected between snapshots.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "VsphereAlertTransition")]
pub struct Transition {
    /// When the change was seen.
    pub at: DateTime<Utc>,
    /// Raised or cleared.
    pub kind: Kind,
    /// Pulse id of the resource.
    pub resource_id: String,
    /// Alarm definition moId.
    pub alarm_moid: String,
    /// Alarm definition name.
    pub name: String,
    /// Critical (vSphere red) or warning (yellow).
    pub severity: AlertSeverity,
}

impl From<activity::AlertTransition> for Transition {
    fn from(t: activity::AlertTransition) -> Self {
        Transition {
            at: t.at,
            kind: match t.kind {
                TransitionKind::Raised => Kind::Raised,
                TransitionKind::Cleared => Kind::Cleared,
            },
            resource_id: t.resource_id,
            alarm_moid: t.alarm_moid,
            name: t.name,
            severity: t.severity.into(),
        }
    }
}

/// The latest realtime (20 s) sample from vCenter's performance manager.
#[derive(SimpleObject, Clone, Debug, Default)]
#[graphql(name = "VsphereRealtimeSample")]
pub struct Realtime {
    /// Sample time.
    pub at: Option<DateTime<Utc>>,
    /// `cpu.usage.average` in percent.
    pub cpu_percent: Option<f64>,
    /// `mem.usage.average` in percent.
    pub memory_percent: Option<f64>,
    /// `disk.usage.average` in bytes per second.
    pub disk_bytes_per_second: Option<f64>,
    /// `net.usage.average` in bytes per second.
    pub network_bytes_per_second: Option<f64>,
    /// `sys.uptime.latest` in seconds.
    pub uptime_seconds: Option<i64>,
}

/// A metric of a host or VM.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "VsphereMetric")]
pub enum Metric {
    /// CPU use in percent (`cpu.usage.average`).
    Cpu,
    /// Memory use in percent (`mem.usage.average`).
    Memory,
    /// Disk throughput in bytes per second (`disk.usage.average`).
    Disk,
    /// Network throughput in bytes per second (`net.usage.average`).
    Network,
    /// Uptime in seconds (`sys.uptime.latest`).
    Uptime,
}

impl Metric {
    fn name(self) -> &'static str {
        match self {
            Metric::Cpu => "cpu",
            Metric::Memory => "memory",
            Metric::Disk => "disk",
            Metric::Network => "network",
            Metric::Uptime => "uptime",
        }
    }
}

/// Sampling interval of a series: vCenter's realtime data or one of its historical rollups.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "VsphereMetricInterval")]
pub enum Interval {
    /// 20-second samples, about the last hour (from the host).
    Realtime,
    /// 5-minute rollups, the last day.
    FiveMinutes,
    /// 30-minute rollups, the last week.
    ThirtyMinutes,
    /// 2-hour rollups, the last month.
    TwoHours,
    /// Daily rollups, the last year.
    OneDay,
}

impl Interval {
    fn seconds(self) -> i64 {
        match self {
            Interval::Realtime => 20,
            Interval::FiveMinutes => 300,
            Interval::ThirtyMinutes => 1800,
            Interval::TwoHours => 7200,
            Interval::OneDay => 86_400,
        }
    }
}

/// One point of a series.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "VsphereMetricPoint")]
pub struct Point {
    /// Sample time.
    pub at: DateTime<Utc>,
    /// Value in canonical units (percent, bytes per second, seconds).
    pub value: f64,
}

/// A metric series read from vCenter when asked (cached until the next sample is due).
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "VsphereMetricSeries")]
pub struct MetricSeries {
    /// The metric.
    pub metric: Metric,
    /// Sampling interval in seconds.
    pub interval_seconds: i64,
    /// Points, oldest first.
    pub points: Vec<Point>,
}

/// Runs `read` over each connection's share of `keys`, every connection at once; keys of a
/// connection that is gone or disabled are left out (the caller's "not found").
async fn per_connection<K, V, F, Fut>(
    registry: &Registry,
    keys: &[K],
    connection: impl Fn(&K) -> &str,
    read: F,
) -> std::result::Result<HashMap<K, V>, ReadError>
where
    K: Clone + Eq + std::hash::Hash,
    F: Fn(Arc<OnDemand>, Vec<K>) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<HashMap<K, V>, ReadError>>,
{
    let mut by_connection: HashMap<&str, Vec<K>> = HashMap::new();
    for k in keys {
        by_connection
            .entry(connection(k))
            .or_default()
            .push(k.clone());
    }
    let reads = by_connection
        .into_iter()
        .filter_map(|(conn, keys)| Some(read(registry.ondemand(conn)?, keys)));
    let mut out = HashMap::new();
    for r in futures::future::join_all(reads).await {
        out.extend(r?);
    }
    Ok(out)
}

/// Batches every series a request asks for into as few `QueryPerf` calls as vCenter allows,
/// per connection.
pub struct SeriesLoader(pub Arc<Registry>, pub Arc<super::loader::LoaderStats>);

impl Loader<SeriesKey> for SeriesLoader {
    type Value = Arc<Series>;
    type Error = ReadError;

    #[tracing::instrument(name = "dataloader.batch", skip_all, fields(loader = "series", keys = keys.len()))]
    async fn load(
        &self,
        keys: &[SeriesKey],
    ) -> std::result::Result<HashMap<SeriesKey, Arc<Series>>, Self::Error> {
        self.1.series.observe(keys.len());
        per_connection(
            &self.0,
            keys,
            |k| &k.connection,
            |o, keys| async move { o.series(&keys).await },
        )
        .await
    }
}

fn bounded(first: i32) -> Result<usize> {
    if !(1..=MAX_ITEMS).contains(&first) {
        return Err(errors::bad_user_input(format!(
            "first must be between 1 and {MAX_ITEMS}"
        )));
    }
    Ok(first as usize)
}

/// The activity of one host, VM or datastore.
pub struct ActivityView {
    hit: Hit,
    kind: &'static str,
    moid: String,
    id: String,
}

impl ActivityView {
    pub fn new(hit: &Hit, kind: &'static str, moid: &str, id: &str) -> Self {
        ActivityView {
            hit: hit.clone(),
            kind,
            moid: moid.to_string(),
            id: id.to_string(),
        }
    }
}

/// What happened to a resource over time, as vCenter and the collector saw it.
#[Object(name = "VsphereActivity")]
impl ActivityView {
    /// Newest vCenter events about the resource (the collector keeps the last 50), newest first.
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        #[graphql(
            default = false,
            desc = "Also read vCenter's event history when the retained window holds fewer than `first` (one vCenter read per object, cached 30 s)."
        )]
        include_older: bool,
    ) -> Result<Vec<Event>> {
        events(ctx, &self.hit, self.kind, &self.moid, first, include_older).await
    }
    /// vCenter tasks on the resource from the last few minutes.
    async fn tasks(&self) -> Vec<Task> {
        tasks(&self.hit, &self.moid)
    }
    /// Alarms raised on and cleared from the resource, newest first.
    async fn alert_history(&self, #[graphql(default = 50)] first: i32) -> Result<Vec<Transition>> {
        alert_history(&self.hit, &self.id, first)
    }
}

/// Performance of one host or VM.
pub struct PerformanceView {
    hit: Hit,
    kind: &'static str,
    moid: String,
}

impl PerformanceView {
    pub fn new(hit: &Hit, kind: &'static str, moid: &str) -> Self {
        PerformanceView {
            hit: hit.clone(),
            kind,
            moid: moid.to_string(),
        }
    }
}

/// Performance of a host or VM from vCenter's performance manager.
#[Object(name = "VspherePerformance")]
impl PerformanceView {
    /// The latest realtime (20 s) sample, when the collector has taken one.
    async fn realtime(&self) -> Option<Realtime> {
        realtime(&self.hit, &self.moid)
    }
    /// A metric series read from vCenter on demand (batched with every other series of the
    /// request into as few vCenter calls as its limits allow).
    #[graphql(cache_control(no_cache))]
    async fn series(
        &self,
        ctx: &Context<'_>,
        metric: Metric,
        #[graphql(default_with = "Interval::Realtime")] interval: Interval,
        #[graphql(default = 15)] samples: i32,
    ) -> Result<MetricSeries> {
        series(
            ctx, &self.hit, self.kind, &self.moid, metric, interval, samples,
        )
        .await
    }
}

/// Reads events from vCenter for objects whose retained window is too short for the question.
pub struct EventsLoader(pub Arc<Registry>, pub Arc<super::loader::LoaderStats>);

impl Loader<EventsKey> for EventsLoader {
    type Value = Arc<Vec<activity::EventRecord>>;
    type Error = ReadError;

    #[tracing::instrument(name = "dataloader.batch", skip_all, fields(loader = "events", keys = keys.len()))]
    async fn load(
        &self,
        keys: &[EventsKey],
    ) -> std::result::Result<HashMap<EventsKey, Self::Value>, Self::Error> {
        self.1.events.observe(keys.len());
        per_connection(
            &self.0,
            keys,
            |k| &k.connection,
            |o, keys| async move { o.events(&keys).await },
        )
        .await
    }
}

/// Newest events of the object: the collector's retained window, and with `include_older`
/// also vCenter's own history when the window holds fewer than asked for.
async fn events(
    ctx: &Context<'_>,
    hit: &Hit,
    kind: &str,
    moid: &str,
    first: i32,
    include_older: bool,
) -> Result<Vec<Event>> {
    let n = bounded(first)?;
    let retained = hit.conn.activity().events_of(moid);
    if !include_older || retained.len() >= n {
        return Ok(retained.into_iter().take(n).map(Event::from).collect());
    }
    super::reuse::mark(ctx);
    if ctx
        .data::<Arc<Registry>>()?
        .ondemand(&hit.conn.id)
        .is_none()
    {
        return Err(errors::vcenter(
            "unavailable",
            "older events need a live vCenter connection",
        ));
    }
    let loader = ctx.data::<DataLoader<EventsLoader>>()?;
    let key = EventsKey {
        connection: hit.conn.id.clone(),
        kind: kind.to_string(),
        moid: moid.to_string(),
    };
    let fetched = loader
        .load_one(key)
        .await
        .map_err(|e| errors::on_demand(&e))?
        .unwrap_or_default();
    let mut all: Vec<activity::EventRecord> = retained;
    all.extend(fetched.iter().cloned());
    all.sort_by_key(|e| std::cmp::Reverse(e.key));
    all.dedup_by_key(|e| e.key);
    Ok(all.into_iter().take(n).map(Event::from).collect())
}

/// Recent tasks on the object.
fn tasks(hit: &Hit, moid: &str) -> Vec<Task> {
    hit.conn
        .activity()
        .recent_tasks
        .iter()
        .filter(|t| t.entity_moid.as_deref() == Some(moid))
        .map(|t| Task {
            key: t.key.clone(),
            description_id: t.description_id.clone(),
            state: t.state.clone(),
            entity_name: t.entity_name.clone(),
            queued: t.queued,
            completed: t.completed,
            error: t.error.clone(),
        })
        .collect()
}

/// Newest alert transitions of the resource.
fn alert_history(hit: &Hit, id: &str, first: i32) -> Result<Vec<Transition>> {
    let n = bounded(first)?;
    Ok(hit
        .conn
        .activity()
        .transitions()
        .into_iter()
        .filter(|t| t.resource_id == id)
        .take(n)
        .map(Transition::from)
        .collect())
}

/// The latest realtime sample, when the collector has one.
fn realtime(hit: &Hit, moid: &str) -> Option<Realtime> {
    hit.conn.activity().metrics.get(moid).map(|m| Realtime {
        at: m.at,
        cpu_percent: m.cpu_percent,
        memory_percent: m.memory_percent,
        disk_bytes_per_second: m.disk_bytes_per_second,
        network_bytes_per_second: m.network_bytes_per_second,
        uptime_seconds: m.uptime_seconds,
    })
}

/// A series of the object, through the request's loader (one vCenter call for many objects).
async fn series(
    ctx: &Context<'_>,
    hit: &Hit,
    kind: &str,
    moid: &str,
    metric: Metric,
    interval: Interval,
    samples: i32,
) -> Result<MetricSeries> {
    if !(1..=MAX_SAMPLES).contains(&samples) {
        return Err(errors::bad_user_input(format!(
            "samples must be between 1 and {MAX_SAMPLES}"
        )));
    }
    if ctx
        .data::<Arc<Registry>>()?
        .ondemand(&hit.conn.id)
        .is_none()
    {
        return Err(errors::vcenter(
            "unavailable",
            "metric series need a live vCenter connection",
        ));
    }
    let loader = ctx.data::<DataLoader<SeriesLoader>>()?;
    let key = SeriesKey {
        connection: hit.conn.id.clone(),
        kind: kind.to_string(),
        moid: moid.to_string(),
        metric: metric.name().to_string(),
        interval: interval.seconds(),
        samples: i64::from(samples),
    };
    let s = loader
        .load_one(key)
        .await
        .map_err(|e| errors::on_demand(&e))?
        .unwrap_or_default();
    Ok(MetricSeries {
        metric,
        interval_seconds: interval.seconds(),
        points: s
            .points
            .iter()
            .map(|(at, value)| Point {
                at: *at,
                value: *value,
            })
            .collect(),
    })
}

/// Alert transitions of every visible connection, newest first, narrowed by the filters.
pub fn all_transitions(
    store: &Registry,
    first: i32,
    connection_id: Option<&str>,
    kind: Option<Kind>,
    severity: Option<AlertSeverity>,
) -> Result<Vec<Transition>> {
    let n = bounded(first)?;
    let mut all: Vec<Transition> = store
        .visible()
        .iter()
        .filter(|v| connection_id.is_none_or(|c| c == v.connection.id))
        .flat_map(|v| v.connection.activity().transitions())
        .map(Transition::from)
        .filter(|t| kind.is_none_or(|k| k == t.kind) && severity.is_none_or(|s| s == t.severity))
        .collect();
    all.sort_by_key(|t| std::cmp::Reverse(t.at));
    all.truncate(n);
    Ok(all)
}
