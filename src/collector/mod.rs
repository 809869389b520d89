//! One collector per connection: full sync, then the change feed keeps a raw inventory current;
//! every change is projected into a new immutable snapshot swapped into the connection's slot.
//! Events, tasks and metrics run on their own cadence beside the feed. A lost session, a
//! vCenter restart or `InvalidCollectorVersion` rebuilds views and filters and resyncs while the
//! last good snapshot stays published (stale, with its age), so queries never see it empty.

pub mod activity;
pub mod alarms;
pub mod metrics;
pub mod sync;

mod feed;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::inventory::{ConnectionSlot, ConnectionState, HealthError, VcenterAbout};
use crate::model::project::{ProjectionContext, Projector};
use crate::model::raw::RawInventory;
use crate::model::resources::TagRef;
use crate::model::snapshot::InventorySnapshot;
use crate::vcenter::reads::{alarms as alarm_reads, guest, perf, privileges, properties};
use crate::vcenter::session::login_backoff;
use crate::vcenter::{ApiFamily, FailureClass, Negotiated, VcClient, VcError};

/// Unreadable properties named one by one in connection health.
pub const ISSUES_LISTED: usize = 50;

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
    /// Tags and alarm definitions.
    pub metadata_every: Duration,
    /// Both sessions are checked (a cheap call each) so health says whether they exist; an
    /// expired one is found and replaced within this time.
    pub sessions_every: Duration,
    /// The registry's claims on vCenter identities: a connection whose vCenter another one
    /// already reads stops before logging in, as a duplicate. `None`: no such check.
    pub claims: Option<Arc<crate::inventory::Claims>>,
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
            sessions_every: Duration::from_secs(30),
            claims: None,
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
    /// The side loop's cycles.
    pub cycle_seconds: crate::telemetry::CycleTimings,
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

/// Starts the collector of `slot` over `client`.
pub fn spawn(
    client: VcClient,
    slot: Arc<ConnectionSlot>,
    config: CollectorConfig,
) -> CollectorHandle {
    let (stop, stop_rx) = watch::channel(false);
    let connection = slot.id.clone();
    let stats = Arc::new(CollectorStats::default());
    let shared = Arc::new(Shared {
        client: client.clone(),
        slot,
        config,
        stats: stats.clone(),
        ctx: std::sync::Mutex::new(ProjectionContext::default()),
        projector: std::sync::Mutex::new(Projector::default()),
        counters: std::sync::Mutex::new(HashMap::new()),
        realtime: metrics::RealtimeSupport::default(),
    });
    let feed = tokio::spawn(feed_loop(shared.clone(), stop_rx.clone()));
    let side = tokio::spawn(side_loop(shared, stop_rx));
    CollectorHandle {
        stop,
        tasks: vec![feed, side],
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
    ctx: std::sync::Mutex<ProjectionContext>,
    /// Kept across resyncs: after one, unchanged resources are still the same `Arc`s.
    projector: std::sync::Mutex<Projector>,
    counters: std::sync::Mutex<HashMap<String, i64>>,
    realtime: metrics::RealtimeSupport,
}

impl Shared {
    fn ctx(&self) -> ProjectionContext {
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
        let snap = InventorySnapshot::build(&ctx.instance_uuid, now, projection);
        tracing::debug!(
            connection = %self.slot.id,
            objects = raw.len(),
            changed = changed.len(),
            project_ms = projected.as_millis() as u64,
            build_ms = (t.elapsed() - projected).as_millis() as u64,
            "snapshot projected"
        );
        let previous = self.slot.snapshot();
        let changes = alarms::transitions(previous.as_deref(), &snap, now);
        // The first snapshot of a process is the baseline, not a burst of raises.
        if previous.is_some() {
            let mut log = self.slot.activity();
            for t in changes {
                log.add_transition(t);
            }
        }
        // Health lists a few unreadable objects by name; the snapshot keeps all of them.
        let mut issues: Vec<String> = snap
            .issues
            .iter()
            .take(ISSUES_LISTED)
            .map(|i| format!("{} {}: {} unreadable ({})", i.kind, i.moid, i.path, i.fault))
            .collect();
        if snap.issues.len() > ISSUES_LISTED {
            issues.push(format!(
                "{} more properties unreadable (listed in the snapshot's issues)",
                snap.issues.len() - ISSUES_LISTED
            ));
        }
        self.slot.publish(snap);
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
            h.issues.retain(|i| !i.contains(" unreadable ("));
            h.issues.extend(issues);
            h.state = ConnectionState::Healthy;
            settle(h);
        });
    }

    fn failed(&self, e: &VcError) {
        tracing::warn!(connection = %self.slot.id, class = %e.class, error = %e, "vCenter collection failed");
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
            fam.last_error_class = Some(e.class.to_string());
        });
    }

    fn optional_issue(&self, what: &str, e: &VcError) {
        let line = format!("{what}: {e}");
        self.slot.update_health(|h| {
            h.issues.retain(|i| !i.starts_with(&format!("{what}:")));
            h.issues.push(line);
            settle(h);
        });
    }

    fn clear_issue(&self, what: &str) {
        self.slot.update_health(|h| {
            h.issues.retain(|i| !i.starts_with(&format!("{what}:")));
            settle(h);
        });
    }
}

/// A working connection is healthy without issues and degraded with them; the other states
/// (connecting, failed, disabled) are the feed loop's to change.
fn settle(h: &mut crate::inventory::ConnectionHealth) {
    if matches!(
        h.state,
        ConnectionState::Healthy | ConnectionState::Degraded
    ) {
        h.state = if h.issues.is_empty() && h.missing_privileges.is_empty() {
            ConnectionState::Healthy
        } else {
            ConnectionState::Degraded
        };
    }
}

/// Sleeps `d` unless told to stop; returns whether to stop.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

async fn feed_loop(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        let published = s.stats.snapshots_published.load(Ordering::Relaxed);
        match session_cycle(&s, &mut stop).await {
            Ok(()) => return,
            Err(e) => {
                let progressed = s.stats.snapshots_published.load(Ordering::Relaxed) > published;
                // A feed lost after good work (restart, expired session) is a resync, at once;
                // a cycle that never got anywhere is a failure and backs off.
                let wait = if progressed && e.is_object_gone() {
                    failures = 0;
                    Duration::ZERO
                } else {
                    failures = if progressed { 1 } else { failures + 1 };
                    s.failed(&e);
                    // The session slot backs off logins; this spaces resyncs of a sick vCenter.
                    // A transient trouble (503s, timeouts) is retried within 20 s, so a
                    // vCenter that recovers is collected again within one short wait.
                    let cap = if e.class.is_transient() { 20 } else { 60 };
                    login_backoff(e.class, failures).min(Duration::from_secs(cap))
                };
                if sleep_or_stop(wait, &mut stop).await {
                    return;
                }
            }
        }
    }
}

async fn refresh_metadata(s: &Shared) {
    match alarm_reads::alarm_names(&s.client).await {
        Ok(names) => {
            if let Ok(mut c) = s.ctx.lock() {
                c.alarm_names = names;
            }
            s.clear_issue("alarm definitions");
        }
        Err(e) => s.optional_issue("alarm definitions", &e),
    }
    match read_tags(s).await {
        Ok(tags) => {
            if let Ok(mut c) = s.ctx.lock() {
                c.tags = tags;
            }
            s.clear_issue("tags");
        }
        Err(e) => s.optional_issue("tags", &e),
    }
}

async fn read_tags(s: &Shared) -> Result<HashMap<String, Vec<TagRef>>, VcError> {
    let catalog: HashMap<String, TagRef> = guest::tag_catalog(&s.client)
        .await?
        .into_iter()
        .map(|(t, cat)| {
            (
                t.id.clone(),
                TagRef {
                    category: cat,
                    name: t.name,
                },
            )
        })
        .collect();
    let mut out: HashMap<String, Vec<TagRef>> = HashMap::new();
    if catalog.is_empty() {
        return Ok(out);
    }
    let Some(snap) = s.slot.snapshot() else {
        return Ok(out);
    };
    let kinds: [(&str, Vec<String>); 3] = [
        (
            "HostSystem",
            snap.agents.iter().map(|a| a.moid.clone()).collect(),
        ),
        (
            "VirtualMachine",
            snap.vms.iter().map(|v| v.moid.clone()).collect(),
        ),
        (
            "Datastore",
            snap.storage.iter().map(|d| d.moid.clone()).collect(),
        ),
    ];
    for (kind, ids) in kinds {
        for a in guest::tags_of(&s.client, kind, &ids).await? {
            let tags: Vec<TagRef> = a
                .tag_ids
                .iter()
                .filter_map(|t| catalog.get(t).cloned())
                .collect();
            if !tags.is_empty() {
                out.insert(a.object_id.id, tags);
            }
        }
    }
    Ok(out)
}

/// Another connection reads this vCenter: keep nothing, hold no session (the one login that
/// proved the credentials is logged out), and say whose it is.
fn stand_down_as_duplicate(s: &Shared, n: &Negotiated, uuid: &str, holder: String) {
    tracing::info!(connection = %s.slot.id, duplicate_of = %holder, "another connection already reads this vCenter; standing down");
    s.slot.clear();
    s.slot.update_health(|h| {
        *h = Default::default();
        h.state = ConnectionState::Duplicate;
        h.last_attempt = Some(Utc::now());
        h.about = VcenterAbout {
            version: Some(n.content.about.version.clone()),
            build: Some(n.content.about.build.clone()),
            instance_uuid: Some(uuid.to_string()),
            negotiated_release: Some(n.release.clone()),
        };
        h.duplicate_of = Some(holder);
    });
}

/// Logs in, syncs, and follows the change feed until stopped (Ok) or broken (Err: retry).
async fn session_cycle(s: &Shared, stop: &mut watch::Receiver<bool>) -> Result<(), VcError> {
    let c = &s.client;
    s.slot.update_health(|h| h.last_attempt = Some(Utc::now()));
    let n = c.negotiate().await?.clone();
    refuse_non_vcenter(s, &n)?;
    let uuid = n.content.about.instance_uuid.clone().unwrap_or_default();
    // The endpoint now answers as another vCenter (re-pointed or reinstalled): what the slot
    // holds describes a vCenter this connection no longer reaches, so it leaves the graph now
    // rather than at the end of the next full sync.
    if s.slot
        .snapshot()
        .is_some_and(|prev| !prev.instance_uuid.eq_ignore_ascii_case(&uuid))
    {
        tracing::info!(connection = %s.slot.id, "the endpoint is another vCenter now; its old resources leave the graph");
        s.slot.clear();
    }
    c.login_vim().await?;
    // Only a connection that can log in claims its vCenter: a draft with a wrong password must
    // not push the working connection aside.
    if let Some(holder) = s
        .config
        .claims
        .as_ref()
        .and_then(|cl| cl.claim(&uuid, &s.slot.id).err())
    {
        c.logout().await;
        stand_down_as_duplicate(s, &n, &uuid, holder);
        return Ok(());
    }
    match c.login_rest().await {
        Ok(()) => s.slot.update_health(|h| {
            h.rest.logged_in = true;
            h.rest.last_error_class = None;
            h.issues.retain(|i| !i.starts_with("REST login:"));
        }),
        // Phase 1 needs both families (guest identity, tags and the appliance version are REST
        // only): a vCenter where only VI JSON logs in fails closed instead of serving a graph
        // that silently lacks them. The cycle is retried with backoff like any failure.
        Err(e) => {
            return Err(VcError::new(
                FailureClass::Phase1FloorUnmet,
                ApiFamily::Rest,
                "REST login",
                format!(
                    "only VI JSON logs in; the Automation REST login fails ({}): {}",
                    e.class, e.message
                ),
            ));
        }
    }
    if let Ok(mut ctx) = s.ctx.lock() {
        ctx.instance_uuid = uuid.clone();
    }
    s.slot.update_health(|h| {
        h.about = VcenterAbout {
            version: Some(n.content.about.version.clone()),
            build: Some(n.content.about.build.clone()),
            instance_uuid: Some(uuid.clone()),
            negotiated_release: Some(n.release.clone()),
        };
    });
    // Every optional read clears its own issue when it works again: a cycle that failed during
    // an outage must not leave the connection degraded after vCenter is back.
    match privileges::missing_privileges(c).await {
        Ok(m) => {
            s.slot.update_health(|h| h.missing_privileges = m);
            s.clear_issue("privileges");
        }
        Err(e) => s.optional_issue("privileges", &e),
    }
    if s.slot.snapshot().is_none() || s.ctx().alarm_names.is_empty() {
        refresh_metadata(s).await;
    }
    let types = sync::collected_types();
    let view = properties::create_view(c, &types).await?;
    let result = feed::follow(s, &view, stop).await;
    properties::destroy_view(c, &view).await;
    result
}

/// An endpoint re-pointed at an ESXi host is refused before any login. What the slot holds
/// came from a vCenter this connection no longer reaches, so it leaves the graph now, and with
/// no snapshot the side loop sends nothing either.
fn refuse_non_vcenter(s: &Shared, n: &Negotiated) -> Result<(), VcError> {
    let Err(e) = n.require_vcenter() else {
        return Ok(());
    };
    if s.slot.snapshot().is_some() {
        tracing::info!(connection = %s.slot.id, "the endpoint is not a vCenter now; its old resources leave the graph");
        s.slot.clear();
    }
    // `failed` marks the VI JSON family; REST was never tried either.
    s.slot.update_health(|h| h.rest.logged_in = false);
    Err(e)
}

/// Events, tasks, metrics and metadata on their own cadence; a tick that finds the previous
/// one still running is skipped and counted, never queued.
async fn side_loop(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let c = &s.client;
    let mut next_events = Instant::now();
    let mut next_metrics = Instant::now();
    let mut next_meta = Instant::now() + s.config.metadata_every;
    let mut next_sessions = Instant::now() + s.config.sessions_every;
    let mut first_events = true;
    loop {
        if sleep_or_stop(Duration::from_millis(250), &mut stop).await {
            return;
        }
        if s.slot.health().state == ConnectionState::Duplicate {
            return;
        }
        let Some(snap) = s.slot.snapshot() else {
            continue;
        };
        let now = Instant::now();
        if now >= next_events {
            let t = Instant::now();
            let names = s.ctx().alarm_names;
            match activity::poll_events(c, &s.slot, first_events, &names).await {
                Ok(_) => {
                    first_events = false;
                    s.clear_issue("events");
                }
                Err(e) => s.optional_issue("events", &e),
            }
            match activity::poll_tasks(c, &s.slot).await {
                Ok(_) => s.clear_issue("tasks"),
                Err(e) => s.optional_issue("tasks", &e),
            }
            s.stats.cycle_seconds.events.observe(t.elapsed());
            next_events = advance(next_events, s.config.events_every, &s.stats);
        }
        if now >= next_metrics {
            let t = Instant::now();
            metrics_pass(&s, &snap).await;
            s.stats.cycle_seconds.metrics.observe(t.elapsed());
            next_metrics = advance(next_metrics, s.config.metrics_every, &s.stats);
        }
        if now >= next_meta {
            let t = Instant::now();
            refresh_metadata(&s).await;
            s.stats.cycle_seconds.metadata.observe(t.elapsed());
            next_meta = advance(next_meta, s.config.metadata_every, &s.stats);
        }
        if now >= next_sessions {
            let t = Instant::now();
            check_sessions(&s).await;
            s.stats.cycle_seconds.sessions.observe(t.elapsed());
            next_sessions = advance(next_sessions, s.config.sessions_every, &s.stats);
        }
    }
}

/// Health says `loggedIn` only while the client holds that session: a keep-alive call on each
/// finds a session vCenter ended (expiry, restart) and logs in again, or, when vCenter refuses
/// (session limit, password changed), leaves the family logged out with the login's class.
async fn check_sessions(s: &Shared) {
    s.client.keepalive().await;
    let (vim, rest) = s.client.holds_sessions().await;
    let (vim_err, rest_err) = s.client.login_errors().await;
    s.slot.update_health(|h| {
        h.vim.logged_in = vim;
        h.rest.logged_in = rest;
        if let (false, Some(e)) = (vim, vim_err) {
            h.vim.last_error_class = Some(e.class.to_string());
        }
        if let (false, Some(e)) = (rest, rest_err) {
            h.rest.last_error_class = Some(e.class.to_string());
        }
    });
}

/// The next due time after `due`, skipping (and counting) ticks that already passed.
fn advance(due: Instant, every: Duration, stats: &CollectorStats) -> Instant {
    let mut next = due + every;
    let now = Instant::now();
    while next <= now {
        stats.skipped_ticks.fetch_add(1, Ordering::Relaxed);
        next += every;
    }
    next
}

async fn metrics_pass(s: &Shared, snap: &InventorySnapshot) {
    let c = &s.client;
    let known = s.counters.lock().map(|m| m.clone()).unwrap_or_default();
    let ids = if known.is_empty() {
        match perf::counter_ids(c).await {
            Ok(m) => {
                if let Ok(mut k) = s.counters.lock() {
                    k.clone_from(&m);
                }
                m
            }
            Err(e) => return s.optional_issue("performance", &e),
        }
    } else {
        known
    };
    let t = Instant::now();
    match metrics::realtime_pass(c, snap, &ids, &s.realtime).await {
        Ok(samples) => {
            tracing::debug!(
                connection = %s.slot.id,
                entities = samples.len(),
                ms = t.elapsed().as_millis() as u64,
                "realtime metrics pass"
            );
            let mut log = s.slot.activity();
            log.metrics = samples;
            log.metrics_at = Some(Utc::now());
            drop(log);
            s.stats.metric_passes.fetch_add(1, Ordering::Relaxed);
            s.clear_issue("performance");
        }
        Err(e) => s.optional_issue("performance", &e),
    }
}
