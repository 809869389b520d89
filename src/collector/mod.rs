//! One collector per connection: full sync, then the change feed keeps a raw inventory current;
//! every change is projected into a new immutable snapshot swapped into the connection's slot.
//! Events, tasks and metrics run on their own cadence beside the feed. A lost session, a
//! vCenter restart or `InvalidCollectorVersion` rebuilds views and filters and resyncs while the
//! last good snapshot stays published (stale, with its age), so queries never see it empty.

pub mod activity;
pub mod alarms;
pub mod live;
pub mod metrics;
pub mod outlet;
pub mod sync;

mod cadence;
mod cycle;
mod feed;
mod issues;
mod tags;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::inventory::{ConnectionSlot, ConnectionState, HealthError};
use crate::model::project::{ProjectionContext, Projector};
use crate::model::raw_inventory::RawInventory;
use crate::model::snapshot::InventorySnapshot;
use crate::vcenter::{FailureClass, VcClient, VcError};

use issues::settle;
pub use issues::ISSUES_LISTED;
pub use tags::CollectorSettings;

/// Cadences and sizes of one collector.
#[derive(Clone, Debug)]
pub struct CollectorConfig {
    /// `maxObjects` per `RetrievePropertiesEx` page.
    pub page_size: u32,
    /// `maxWaitSeconds` of each `WaitForUpdatesEx`.
    pub wait: Duration,
    /// `maxObjectUpdates` per `WaitForUpdatesEx`.
    pub max_updates: u32,
    /// A burst of changes is published at most this often.
    pub publish_every: Duration,
    /// Events and recent tasks.
    pub events_every: Duration,
    /// Realtime metrics (vCenter samples every 20 s).
    pub metrics_every: Duration,
    /// Alarm definitions and the performance counters vCenter keeps.
    pub metadata_every: Duration,
    /// Tag attachments (also read after every full sync, before its publish).
    pub tags_every: Duration,
    /// Both sessions are checked (a cheap call each) so health says whether they exist; an
    /// expired one is found and replaced within this time.
    pub sessions_every: Duration,
    /// The registry's claims on vCenter identities: a connection whose vCenter another one
    /// already reads stops before logging in, as a duplicate. `None`: no such check.
    pub claims: Option<Arc<crate::inventory::Claims>>,
    /// Where incident transitions and status changes go for live clients. `None`: nowhere.
    pub live: Option<live::LiveFeed>,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            page_size: 1000,
            wait: Duration::from_secs(60),
            max_updates: 1000,
            publish_every: Duration::from_secs(1),
            events_every: Duration::from_secs(30),
            metrics_every: Duration::from_secs(20),
            metadata_every: Duration::from_secs(600),
            tags_every: CollectorSettings::default().tags_every(),
            sessions_every: Duration::from_secs(30),
            claims: None,
            live: None,
        }
    }
}

/// Counters a test or `/metrics` reads.
#[derive(Debug, Default)]
pub struct CollectorStats {
    pub full_syncs: AtomicU64,
    pub updates_applied: AtomicU64,
    pub snapshots_published: AtomicU64,
    pub resyncs: AtomicU64,
    pub skipped_ticks: AtomicU64,
    pub metric_passes: AtomicU64,
    /// Reading the whole inventory (not counting its publish).
    pub full_sync_seconds: crate::telemetry::Timing,
    /// Projecting and publishing one snapshot.
    pub publish_seconds: crate::telemetry::Timing,
    /// From a change's arrival on the feed to the publish that serves it (vCenter does not
    /// timestamp property changes, so the lag starts when the update set arrives).
    pub feed_lag_seconds: crate::telemetry::Timing,
    /// The side loop's cycles.
    pub cycle_seconds: crate::telemetry::CycleTimings,
    /// The store writer (zero without a store).
    pub history: Arc<outlet::OutletStats>,
}

/// A running collector; dropping the handle does not stop it, `shutdown` does.
pub struct CollectorHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    pub stats: Arc<CollectorStats>,
    pub client: VcClient,
    /// The connection id of the slot it fills.
    pub connection: String,
}

/// How long stopping one collector may take: its loops, then its logout.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(10);

impl CollectorHandle {
    /// Stops both loops, destroys what they created on vCenter and logs out, within
    /// [`SHUTDOWN_BUDGET`].
    pub async fn shutdown(self) {
        self.shutdown_within(SHUTDOWN_BUDGET).await;
    }

    /// Stops within `budget` however slow or hung vCenter is: the loops get a third of it to
    /// finish their call and clean up, then are cancelled (what they created on vCenter is
    /// session-scoped and goes with the logout); the logout gets the rest. Returns whether the
    /// sessions were logged out; if not, says so in the log (vCenter ends them at its idle
    /// timeout).
    pub async fn shutdown_within(self, budget: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + budget;
        let loops_until = tokio::time::Instant::now() + budget / 3;
        let _ = self.stop.send(true);
        for mut t in self.tasks {
            if tokio::time::timeout_at(loops_until, &mut t).await.is_err() {
                t.abort();
            }
        }
        let logged_out = tokio::time::timeout_at(deadline, self.client.logout())
            .await
            .is_ok();
        if !logged_out {
            tracing::warn!(connection = %self.connection, url = %self.client.config().url, "vCenter did not answer the logout within the shutdown budget; its sessions end at vCenter's idle timeout");
        }
        logged_out
    }
}

/// Starts the collector of `slot` over `client`, keeping its activity in memory only.
pub fn spawn(
    client: VcClient,
    slot: Arc<ConnectionSlot>,
    config: CollectorConfig,
) -> CollectorHandle {
    spawn_with_history(client, slot, config, None)
}

/// Where a collector keeps its history, and for how long.
#[derive(Clone)]
pub struct History {
    pub sink: Arc<dyn outlet::HistorySink>,
    pub retention: outlet::Retention,
}

/// How long a starting collector waits for the store to say where it left off; past this it
/// collects without (and says so in health) rather than wait on a slow store.
const RESUME_WAIT: Duration = Duration::from_secs(10);

/// Starts the collector of `slot` over `client`; with `history`, its incidents, events and
/// tasks are also written to the store, and a restart continues from what the store holds.
pub fn spawn_with_history(
    client: VcClient,
    slot: Arc<ConnectionSlot>,
    config: CollectorConfig,
    history: Option<History>,
) -> CollectorHandle {
    let (stop, stop_rx) = watch::channel(false);
    let connection = slot.id.clone();
    let stats = Arc::new(CollectorStats::default());
    let mut out = outlet::Outlet::default();
    out.subscribe(Arc::new(outlet::ActivityLogSubscriber(slot.clone())));
    if let Some(feed) = &config.live {
        out.subscribe(Arc::new(live::LiveSubscriber::new(
            feed.clone(),
            slot.clone(),
        )));
    }
    let mut tasks = Vec::new();
    if let Some(h) = &history {
        let (writer, task) = outlet::HistoryWriter::spawn(
            h.sink.clone(),
            slot.clone(),
            h.retention,
            stats.history.clone(),
            stop_rx.clone(),
        );
        out.subscribe(Arc::new(writer));
        tasks.push(task);
    }
    let shared = Arc::new(Shared {
        client: client.clone(),
        slot,
        config,
        stats: stats.clone(),
        ctx: std::sync::Mutex::default(),
        projector: std::sync::Mutex::new(Projector::default()),
        counters: std::sync::Mutex::new(HashMap::new()),
        tags_read_at: std::sync::Mutex::new(None),
        metadata_changed: AtomicBool::new(false),
        outlet: out,
        book: std::sync::Mutex::default(),
        history: history.map(|h| h.sink),
        resumed: AtomicBool::new(false),
        realtime: metrics::RealtimeSupport::default(),
        task_cursor: std::sync::Mutex::default(),
        syncing: AtomicBool::new(false),
    });
    tasks.push(tokio::spawn(cycle::feed_loop(
        shared.clone(),
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(cadence::side_loop(shared, stop_rx)));
    CollectorHandle {
        stop,
        tasks,
        stats,
        client,
        connection,
    }
}

struct Shared {
    client: VcClient,
    slot: Arc<ConnectionSlot>,
    config: CollectorConfig,
    stats: Arc<CollectorStats>,
    /// Shared with each publish rather than copied: its tags name every tagged object, and a
    /// copy per publish was a large part of a publish's transient memory at the maximums.
    /// Changed (rarely) through [`Arc::make_mut`].
    ctx: std::sync::Mutex<Arc<ProjectionContext>>,
    /// Kept across resyncs: after one, unchanged resources are still the same `Arc`s.
    projector: std::sync::Mutex<Projector>,
    counters: std::sync::Mutex<HashMap<String, i64>>,
    /// When tags were last read (tried).
    tags_read_at: std::sync::Mutex<Option<Instant>>,
    /// The projection context changed without a change from vCenter (tags read again): the
    /// feed publishes once more so the graph shows it.
    metadata_changed: AtomicBool,
    /// Where every change goes: the activity log, the store writer.
    outlet: outlet::Outlet,
    /// Each alarm's incident; written by the feed loop (snapshots) and the side loop (events).
    book: std::sync::Mutex<alarms::IncidentBook>,
    history: Option<Arc<dyn outlet::HistorySink>>,
    /// The book and the event cursor continue from the store (once per process).
    resumed: AtomicBool,
    realtime: metrics::RealtimeSupport,
    /// Where the task history read stands (only read with a store to keep it).
    task_cursor: std::sync::Mutex<activity::TaskCursor>,
    /// A full sync and its change feed's initial update set (the whole inventory once more)
    /// are being read. The side loop waits meanwhile ([`cadence::SYNC_PAUSE_MAX`] at most): at the
    /// vCenter maximums their transient buffers, a metrics pass over every VM and the first
    /// history reads together made the service's peak memory.
    syncing: AtomicBool,
}

impl Shared {
    /// A poisoned lock is recovered: the book is only ever changed whole, transition by
    /// transition, so a panic cannot leave half of one.
    fn book(&self) -> std::sync::MutexGuard<'_, alarms::IncidentBook> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Continues from the store before the first snapshot is compared: incidents it holds as
    /// open stay the same incidents, and events are read from after the last one stored.
    async fn resume(&self) {
        if self.resumed.load(Ordering::Relaxed) {
            return;
        }
        let Some(sink) = &self.history else {
            self.resumed.store(true, Ordering::Relaxed);
            return;
        };
        let what = "resume";
        match tokio::time::timeout(RESUME_WAIT, sink.resume(&self.slot.id)).await {
            Ok(Ok(r)) => {
                *self.book() = alarms::IncidentBook::resumed(&r.open);
                let mut log = self.slot.activity();
                if log.last_event_key.is_none() {
                    log.last_event_key = r.last_event_key;
                }
                drop(log);
                let mut tasks = self.task_cursor();
                if tasks.at.is_none() {
                    tasks.at = r.task_cursor;
                }
                drop(tasks);
                tracing::info!(connection = %self.slot.id, open_incidents = r.open.len(), last_event_key = ?r.last_event_key, "history resumed from the store");
                self.clear_history_issue(what);
            }
            Ok(Err(e)) => self.history_unavailable(what, &e.to_string()),
            Err(_) => self.history_unavailable(what, "the store did not answer in time"),
        }
        self.resumed.store(true, Ordering::Relaxed);
    }

    fn task_cursor(&self) -> std::sync::MutexGuard<'_, activity::TaskCursor> {
        self.task_cursor.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The task history since the last read, for the store (recent tasks only reach ten
    /// minutes back); nothing to read without a store to keep it.
    async fn poll_task_history(&self) -> Result<(), VcError> {
        if self.history.is_none() {
            return Ok(());
        }
        let mut cursor = self.task_cursor().clone();
        let tasks = activity::poll_task_history(&self.client, &mut cursor).await?;
        *self.task_cursor() = cursor;
        if !tasks.is_empty() {
            self.outlet
                .publish(vec![outlet::Change::TaskHistory(tasks)]);
        }
        Ok(())
    }

    fn history_unavailable(&self, what: &str, why: &str) {
        tracing::warn!(connection = %self.slot.id, why, "collecting without the stored history: incidents open before this start may be recorded again");
        self.record_issue(crate::inventory::HealthIssue::history(
            what,
            format!(
                "history {what}: {why}; incidents open before this start may be recorded again"
            ),
        ));
    }

    fn ctx(&self) -> Arc<ProjectionContext> {
        self.ctx.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn publish(&self, raw: &mut RawInventory) {
        let ctx = self.ctx();
        let now = Utc::now();
        let t = Instant::now();
        let changed = raw.take_changed();
        let projection = self
            .projector
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .project(raw, &changed, &ctx);
        let projected = t.elapsed();
        let reprojected = projection.reprojected;
        let snap = InventorySnapshot::build(&ctx.instance_uuid, now, projection);
        tracing::debug!(
            connection = %self.slot.id,
            objects = raw.len(),
            changed = changed.len(),
            reprojected,
            project_ms = projected.as_millis() as u64,
            build_ms = (t.elapsed() - projected).as_millis() as u64,
            "snapshot projected"
        );
        // Alarms already triggered at the first snapshot open incidents too, with vCenter's
        // time; ones the store holds as open (a restart) continue.
        let incidents = self.book().observe_snapshot(&snap, now);
        let resources = snap.agents.len() + snap.vms.len() + snap.storage.len();
        let unreadable = issues::object_issues(&snap);
        self.slot.publish(snap);
        let before = self.slot.health();
        let mut changes = vec![outlet::Change::Applied { at: now, resources }];
        changes.extend(incidents.into_iter().map(outlet::Change::Incident));
        self.outlet.publish(changes);
        self.stats
            .snapshots_published
            .fetch_add(1, Ordering::Relaxed);
        self.stats.publish_seconds.observe(t.elapsed());
        self.slot.update_health(|h| {
            h.last_success = Some(now);
            h.confirmed_at = Some(now);
            h.last_attempt = Some(now);
            h.consecutive_failures = 0;
            h.last_error = None;
            h.vim.logged_in = true;
            h.vim.last_error_class = None;
            h.state = ConnectionState::Healthy;
            crate::vcenter::issue::replace_stage(
                &mut h.issues,
                issues::is_object_issue,
                unreadable,
            );
            settle(h);
        });
        self.health_changed(&before);
    }

    /// Tells the outlet when what health says changed (state, error, issues); the times that
    /// move on every publish are not a change worth a subscriber's attention.
    fn health_changed(&self, before: &crate::inventory::ConnectionHealth) {
        let now = self.slot.health();
        if now.state != before.state
            || now.issues != before.issues
            || now.last_error != before.last_error
        {
            self.outlet.publish(vec![outlet::Change::Health(now)]);
        }
    }

    fn failed(&self, e: &VcError) {
        tracing::warn!(connection = %self.slot.id, class = %e.class, error = %e, "vCenter collection failed");
        let before = self.slot.health();
        self.slot.update_health(|h| {
            h.state = ConnectionState::Failed;
            h.last_attempt = Some(Utc::now());
            h.consecutive_failures += 1;
            h.last_error = Some(HealthError {
                class: e.class.to_string(),
                message: e.message.clone(),
                at: Utc::now(),
            });
            let fam = match e.family {
                crate::vcenter::ApiFamily::ViJson => &mut h.vim,
                crate::vcenter::ApiFamily::Rest => &mut h.rest,
            };
            fam.logged_in = false;
            // Phase 1 unmet names the connection's failure; the family keeps the class of its
            // own login (recorded before), which is what the operator fixes.
            if e.class != FailureClass::Phase1FloorUnmet || fam.last_error_class.is_none() {
                fam.last_error_class = Some(e.class.to_string());
            }
        });
        self.health_changed(&before);
    }
}

/// Sleeps `d` unless told to stop; returns whether to stop.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}
