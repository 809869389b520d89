//! What runs beside the change feed on its own cadence: events and tasks, the realtime metrics
//! pass, alarm and counter metadata, tags and the session check. A tick that finds the previous
//! one still running is skipped and counted, never queued.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::watch;

use super::issues::check_sessions;
use super::{activity, metrics, outlet, sleep_or_stop, tags, CollectorStats, Shared};
use crate::inventory::{ConnectionState, Stage};
use crate::vcenter::reads::{alarms as alarm_reads, perf};

pub(super) async fn refresh_metadata(s: &Shared) {
    match alarm_reads::alarm_names(&s.client).await {
        Ok(names) => {
            if let Ok(mut c) = s.ctx.lock() {
                Arc::make_mut(&mut c).alarm_names = names;
            }
            s.clear_issue(Stage::Alarms);
        }
        Err(e) => s.optional_issue(Stage::Alarms, &e),
    }
    // Counters the service reads that this vCenter does not keep: each an issue with the
    // statistics level that would. A failing read is the metrics pass's issue to report.
    if let Ok(missing) = perf::counter_coverage(&s.client, perf::SERVICE_COUNTERS).await {
        s.replace_counter_issues(missing);
    }
}

/// How long the side loop waits for a sync in progress ([`Shared::syncing`]) at most: a slow
/// resync does not hold events and metrics back longer than this.
const SYNC_PAUSE_MAX: Duration = Duration::from_secs(120);

/// Events, tasks, metrics and metadata on their own cadence; a tick that finds the previous
/// one still running is skipped and counted, never queued.
pub(super) async fn side_loop(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let c = &s.client;
    let mut next_events = Instant::now();
    let mut next_metrics = Instant::now();
    let mut next_meta = Instant::now() + s.config.metadata_every;
    let mut next_sessions = Instant::now() + s.config.sessions_every;
    let mut first_events = true;
    let mut paused_since: Option<Instant> = None;
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
        if s.syncing.load(Ordering::Relaxed) {
            let since = *paused_since.get_or_insert_with(Instant::now);
            if since.elapsed() < SYNC_PAUSE_MAX {
                continue;
            }
        } else {
            paused_since = None;
        }
        let now = Instant::now();
        if now >= next_events {
            let t = Instant::now();
            let after = s.slot.activity().last_event_key;
            match activity::poll_events(c, after, first_events, activity::EVENTS_PER_POLL).await {
                Ok(events) => {
                    first_events = false;
                    let ctx = s.ctx();
                    let names = &ctx.alarm_names;
                    let incidents =
                        s.book()
                            .observe_events(&events, &snap.instance_uuid, names, Utc::now());
                    let mut changes: Vec<outlet::Change> = incidents
                        .into_iter()
                        .map(outlet::Change::Incident)
                        .collect();
                    changes.extend(activity::event_changes(&events));
                    s.outlet.publish(changes);
                    s.clear_issue(Stage::Events);
                }
                Err(e) => s.optional_issue(Stage::Events, &e),
            }
            // The history first: the recent list, read after it, holds the newer states.
            let history = s.poll_task_history().await;
            let recent = activity::poll_tasks(c)
                .await
                .map(|tasks| s.outlet.publish(vec![outlet::Change::Tasks(tasks)]));
            match recent.and(history) {
                Ok(()) => s.clear_issue(Stage::Tasks),
                Err(e) => s.optional_issue(Stage::Tasks, &e),
            }
            s.stats.cycle_seconds.events.observe(t.elapsed());
            next_events = advance(next_events, s.config.events_every, &s.stats);
        }
        if now >= next_metrics {
            let t = Instant::now();
            metrics::pass(&s, &snap).await;
            s.stats.cycle_seconds.metrics.observe(t.elapsed());
            next_metrics = advance(next_metrics, s.config.metrics_every, &s.stats);
        }
        if now >= next_meta {
            let t = Instant::now();
            refresh_metadata(&s).await;
            s.stats.cycle_seconds.metadata.observe(t.elapsed());
            next_meta = advance(next_meta, s.config.metadata_every, &s.stats);
        }
        tags::on_interval(&s, &snap).await;
        if now >= next_sessions {
            let t = Instant::now();
            check_sessions(&s).await;
            s.stats.cycle_seconds.sessions.observe(t.elapsed());
            next_sessions = advance(next_sessions, s.config.sessions_every, &s.stats);
        }
    }
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
