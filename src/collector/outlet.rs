//! The collector's outlet: one stream of typed changes (inventory applied, incident
//! transitions, events, task states, health) that every consumer subscribes to, as a
//! reflector's store and a controller both watch one watcher. The in-memory activity log is
//! one subscriber; the store writer is another. Publishing never waits: a subscriber that
//! needs I/O queues the change and does the work on its own task.
//!
//! The store writer batches, retries a failing store, and bounds its backlog: a change that
//! finds the backlog full is dropped and counted (connection health and `/metrics` say how
//! many), so a slow or absent store costs history, never collection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::inventory::activity::{AlertTransition, EventRecord, TaskRecord, TransitionKind};
use crate::inventory::incidents::{HistoryBatch, IncidentChange, IncidentTransition, Resume};
use crate::inventory::{ConnectionHealth, ConnectionSlot, HealthIssue};

/// Changes waiting for the store at most, before the connection's inventory is known; past the
/// bound they are dropped and counted.
pub const BACKLOG: usize = 20_000;
/// What each resource of the latest snapshot adds to the bound. The first snapshot reports every
/// alarm already triggered as an opened incident in one publish: at the vCenter maximums that is
/// tens of thousands of changes at once, which a fixed bound sized for steady churn would drop
/// while the store is perfectly healthy. Two per resource holds a CPU and a memory alarm on
/// every VM and host.
pub const BACKLOG_PER_RESOURCE: usize = 2;

/// The backlog's bound for a connection serving `resources` hosts, VMs and datastores.
pub fn backlog_bound(resources: usize) -> usize {
    BACKLOG + BACKLOG_PER_RESOURCE * resources
}
/// Changes written in one store transaction at most.
pub const BATCH: usize = 1_000;
/// How long the writer lets a burst gather before writing it.
const LINGER: Duration = Duration::from_millis(200);
/// Longest pause between attempts on a failing store.
const RETRY_CAP: Duration = Duration::from_secs(30);
/// What a stopping writer may spend flushing its backlog.
const FLUSH_BUDGET: Duration = Duration::from_secs(2);

/// One change the collector made to what it serves.
#[derive(Clone, Debug)]
pub enum Change {
    /// A new snapshot is published.
    Applied { at: DateTime<Utc>, resources: usize },
    /// An incident opened, changed severity, was acknowledged or closed.
    Incident(IncidentTransition),
    /// A vCenter event, with the moIds it names.
    Event {
        subjects: Vec<String>,
        record: EventRecord,
    },
    /// vCenter's recent tasks as of now.
    Tasks(Vec<TaskRecord>),
    /// Tasks read from vCenter's task history (beyond the ten minutes of the recent tasks).
    TaskHistory(Vec<TaskRecord>),
    /// Connection health changed.
    Health(Arc<ConnectionHealth>),
}

/// A consumer of the change stream.
pub trait Subscriber: Send + Sync {
    /// Takes one published batch. Runs on the collector's task: it must not block or wait.
    fn deliver(&self, batch: &[Arc<Change>]);
}

/// Why the store could not take or give history.
#[derive(Debug, thiserror::Error)]
#[error("history_store_failed: {0}")]
pub struct HistoryError(pub String);

/// Where history is kept (the store); implemented at the composition root.
pub trait HistorySink: Send + Sync {
    /// The incidents still open and the last event stored for `connection`.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn resume<'a>(&'a self, connection: &'a str) -> BoxFuture<'a, Result<Resume, HistoryError>>;

    /// Writes one batch in one transaction; writing the same batch again changes nothing.
    ///
    /// # Errors
    /// When the store cannot be written (the batch is retried).
    fn write<'a>(
        &'a self,
        connection: &'a str,
        batch: &'a HistoryBatch,
    ) -> BoxFuture<'a, Result<(), HistoryError>>;

    /// Deletes up to `limit` events and finished tasks older than `before`; returns how many.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn prune<'a>(
        &'a self,
        connection: &'a str,
        before: DateTime<Utc>,
        limit: usize,
    ) -> BoxFuture<'a, Result<u64, HistoryError>>;
}

/// How long history is kept and how often it is pruned.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// Events and tasks older than this are deleted (incidents are kept).
    pub keep: chrono::Duration,
    /// Pruning runs this often, in small batches so it never holds the store long.
    pub every: Duration,
    /// Rows deleted per statement.
    pub batch: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            keep: chrono::Duration::days(30),
            every: Duration::from_secs(3600),
            batch: 500,
        }
    }
}

/// The store writer's counters, for health and `/metrics`.
#[derive(Debug, Default)]
pub struct OutletStats {
    /// Changes handed to the writer.
    pub queued: AtomicU64,
    /// Changes written to the store.
    pub written: AtomicU64,
    /// Changes dropped because the backlog was full.
    pub dropped: AtomicU64,
    /// The backlog's current bound ([`backlog_bound`] of the latest snapshot; 0 before a writer
    /// starts).
    pub bound: AtomicU64,
    /// Batches the store refused (each is retried).
    pub write_failures: AtomicU64,
    /// Rows deleted by retention.
    pub pruned: AtomicU64,
    /// Each batch's store write, successful or not.
    pub write_seconds: crate::telemetry::Timing,
}

impl OutletStats {
    /// Changes queued and not yet written or dropped.
    pub fn backlog(&self) -> u64 {
        let q = self.queued.load(Ordering::Relaxed);
        let done = self.written.load(Ordering::Relaxed);
        q.saturating_sub(done)
    }
}

/// The stream's head: publishing hands a batch to every subscriber in order.
#[derive(Clone, Default)]
pub struct Outlet {
    subscribers: Vec<Arc<dyn Subscriber>>,
}

impl std::fmt::Debug for Outlet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Outlet({} subscribers)", self.subscribers.len())
    }
}

impl Outlet {
    /// Adds a subscriber; it sees every batch published after this.
    pub fn subscribe(&mut self, s: Arc<dyn Subscriber>) {
        self.subscribers.push(s);
    }

    /// Hands `changes` to every subscriber.
    pub fn publish(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let batch: Vec<Arc<Change>> = changes.into_iter().map(Arc::new).collect();
        for s in &self.subscribers {
            s.deliver(&batch);
        }
    }
}

/// The in-memory activity log of the connection's slot (what the snapshot-era fields read).
pub struct ActivityLogSubscriber(pub Arc<ConnectionSlot>);

impl Subscriber for ActivityLogSubscriber {
    fn deliver(&self, batch: &[Arc<Change>]) {
        let mut log = self.0.activity();
        for c in batch {
            match &**c {
                Change::Event { subjects, record } => log.add_event(subjects, record.clone()),
                // The same list every poll on a quiet vCenter: not a change, so the slot's
                // generation stays (a mutable access bumps it).
                Change::Tasks(tasks) if log.recent_tasks != *tasks => {
                    log.recent_tasks.clone_from(tasks)
                }
                Change::Tasks(_) => {}
                Change::Incident(t) => {
                    for a in alert_transitions(t) {
                        log.add_transition(a);
                    }
                }
                Change::Applied { .. } | Change::Health(_) | Change::TaskHistory(_) => {}
            }
        }
    }
}

/// The raised/cleared view of an incident transition: a severity change is a clear of the old
/// severity and a raise of the new one; an acknowledgement, or the exact time of a close
/// already shown, is none.
fn alert_transitions(t: &IncidentTransition) -> Vec<AlertTransition> {
    let make = |kind, severity| AlertTransition {
        at: t.at,
        kind,
        resource_id: t.resource_id.clone(),
        alarm_moid: t.incident.alarm_moid.clone(),
        name: t.alarm_name.clone(),
        severity,
    };
    use crate::model::alerts::AlertSeverity::{Critical, Warning};
    match t.change {
        IncidentChange::Opened => vec![make(TransitionKind::Raised, t.severity)],
        IncidentChange::SeverityChanged => {
            let old = if t.severity == Critical {
                Warning
            } else {
                Critical
            };
            vec![
                make(TransitionKind::Cleared, old),
                make(TransitionKind::Raised, t.severity),
            ]
        }
        IncidentChange::Closed if !t.restated => vec![make(TransitionKind::Cleared, t.severity)],
        IncidentChange::Closed | IncidentChange::Acknowledged => Vec::new(),
    }
}

/// The store writer's end of the stream: queues what the store keeps, never waiting. The queue
/// is bounded by its count of changes not yet written ([`OutletStats::backlog`]) rather than by
/// a channel's fixed capacity, so the bound can follow the inventory's size.
pub struct HistoryWriter {
    tx: mpsc::UnboundedSender<Arc<Change>>,
    stats: Arc<OutletStats>,
}

impl Subscriber for HistoryWriter {
    fn deliver(&self, batch: &[Arc<Change>]) {
        // The snapshot a batch announces sets the bound before its incidents are queued.
        for c in batch {
            if let Change::Applied { resources, .. } = **c {
                self.stats
                    .bound
                    .store(backlog_bound(resources) as u64, Ordering::Relaxed);
            }
        }
        let bound = self.stats.bound.load(Ordering::Relaxed);
        for c in batch {
            if !matches!(
                **c,
                Change::Incident(_)
                    | Change::Event { .. }
                    | Change::Tasks(_)
                    | Change::TaskHistory(_)
            ) {
                continue;
            }
            if self.stats.backlog() < bound && self.tx.send(c.clone()).is_ok() {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            } else {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl HistoryWriter {
    /// A writer of `connection`'s history into `sink` on its own task, until `stop`.
    pub fn spawn(
        sink: Arc<dyn HistorySink>,
        slot: Arc<ConnectionSlot>,
        retention: Retention,
        stats: Arc<OutletStats>,
        stop: watch::Receiver<bool>,
    ) -> (HistoryWriter, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        stats.bound.store(BACKLOG as u64, Ordering::Relaxed);
        let task = tokio::spawn(write_loop(sink, slot, retention, stats.clone(), rx, stop));
        (HistoryWriter { tx, stats }, task)
    }
}

fn to_batch(changes: &[Arc<Change>]) -> HistoryBatch {
    let mut b = HistoryBatch::default();
    let mut recent: Option<&Vec<TaskRecord>> = None;
    for c in changes {
        match &**c {
            Change::Incident(t) => b.incidents.push(t.clone()),
            Change::Event { subjects, record } => b.events.push((subjects.clone(), record.clone())),
            // Only the newest list matters; older ones in the batch are its past states.
            Change::Tasks(t) => recent = Some(t),
            Change::TaskHistory(t) => b.tasks.extend(t.iter().cloned()),
            Change::Applied { .. } | Change::Health(_) => {}
        }
    }
    // Last, so a task's newest state is written last.
    b.tasks.extend(recent.into_iter().flatten().cloned());
    b
}

/// The subject of the writer's history issue, replaced or removed as its trouble changes.
const ISSUE: &str = "writer";

fn show(slot: &ConnectionSlot, stats: &OutletStats, failing: Option<&HistoryError>) {
    let dropped = stats.dropped.load(Ordering::Relaxed);
    let message = match (failing, dropped) {
        (None, 0) => None,
        (Some(e), _) => Some(format!(
            "history store: writes failing ({e}); {} changes waiting, {dropped} dropped",
            stats.backlog()
        )),
        (None, _) => Some(format!(
            "history store: {dropped} changes dropped while the store was behind (backlog full)"
        )),
    };
    match message {
        None => super::issues::clear_history(slot, ISSUE),
        Some(m) => slot.update_health(|h| {
            let fresh = HealthIssue::history(ISSUE, m);
            crate::vcenter::issue::replace_stage(
                &mut h.issues,
                |i| i.stage == fresh.stage && i.subject == fresh.subject,
                vec![fresh.clone()],
            );
            super::settle(h);
        }),
    }
}

async fn write_loop(
    sink: Arc<dyn HistorySink>,
    slot: Arc<ConnectionSlot>,
    retention: Retention,
    stats: Arc<OutletStats>,
    mut rx: mpsc::UnboundedReceiver<Arc<Change>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut next_prune = tokio::time::Instant::now();
    let mut pending: Vec<Arc<Change>> = Vec::new();
    let mut failures = 0u32;
    loop {
        if pending.is_empty() {
            tokio::select! {
                n = rx.recv_many(&mut pending, BATCH) => if n == 0 { return },
                _ = tokio::time::sleep_until(next_prune) => {
                    prune(&*sink, &slot.id, retention, &stats).await;
                    next_prune = tokio::time::Instant::now() + retention.every;
                    continue;
                }
                _ = stop.changed() => return flush(&*sink, &slot, &stats, &mut rx, pending).await,
            }
            // Let a burst gather into one transaction.
            if pending.len() < BATCH && !super::sleep_or_stop(LINGER, &mut stop).await {
                let room = BATCH - pending.len();
                let mut more = Vec::new();
                if !rx.is_empty() {
                    rx.recv_many(&mut more, room).await;
                }
                pending.extend(more);
            }
        }
        let batch = to_batch(&pending);
        let started = std::time::Instant::now();
        let written = sink.write(&slot.id, &batch).await;
        stats.write_seconds.observe(started.elapsed());
        match written {
            Ok(()) => {
                stats
                    .written
                    .fetch_add(pending.len() as u64, Ordering::Relaxed);
                pending.clear();
                if failures > 0 || stats.dropped.load(Ordering::Relaxed) > 0 {
                    show(&slot, &stats, None);
                }
                failures = 0;
            }
            Err(e) => {
                stats.write_failures.fetch_add(1, Ordering::Relaxed);
                failures += 1;
                tracing::warn!(connection = %slot.id, error = %e, waiting = stats.backlog(), "history not written; retrying");
                show(&slot, &stats, Some(&e));
                let wait = Duration::from_secs(1 << failures.min(5)).min(RETRY_CAP);
                if super::sleep_or_stop(wait, &mut stop).await {
                    return flush(&*sink, &slot, &stats, &mut rx, pending).await;
                }
            }
        }
    }
}

/// On stop: what is queued is written once more within [`FLUSH_BUDGET`]; what is left is
/// counted as dropped.
async fn flush(
    sink: &dyn HistorySink,
    slot: &ConnectionSlot,
    stats: &OutletStats,
    rx: &mut mpsc::UnboundedReceiver<Arc<Change>>,
    mut pending: Vec<Arc<Change>>,
) {
    while let Ok(c) = rx.try_recv() {
        pending.push(c);
    }
    if pending.is_empty() {
        return;
    }
    let n = pending.len() as u64;
    let batch = to_batch(&pending);
    match tokio::time::timeout(FLUSH_BUDGET, sink.write(&slot.id, &batch)).await {
        Ok(Ok(())) => {
            stats.written.fetch_add(n, Ordering::Relaxed);
        }
        _ => {
            stats.dropped.fetch_add(n, Ordering::Relaxed);
            tracing::warn!(connection = %slot.id, dropped = n, "history not written before the collector stopped");
        }
    }
}

async fn prune(sink: &dyn HistorySink, connection: &str, r: Retention, stats: &OutletStats) {
    let before = Utc::now() - r.keep;
    loop {
        match sink.prune(connection, before, r.batch).await {
            Ok(n) => {
                stats.pruned.fetch_add(n, Ordering::Relaxed);
                if (n as usize) < r.batch {
                    return;
                }
                // Other writers get the store between batches.
                tokio::task::yield_now().await;
            }
            Err(e) => {
                tracing::warn!(connection, error = %e, "history retention not applied; retried at the next pass");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that never answers.
    struct Hung;

    impl HistorySink for Hung {
        fn resume<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Resume, HistoryError>> {
            Box::pin(futures::future::pending())
        }
        fn write<'a>(
            &'a self,
            _: &'a str,
            _: &'a HistoryBatch,
        ) -> BoxFuture<'a, Result<(), HistoryError>> {
            Box::pin(futures::future::pending())
        }
        fn prune<'a>(
            &'a self,
            _: &'a str,
            _: DateTime<Utc>,
            _: usize,
        ) -> BoxFuture<'a, Result<u64, HistoryError>> {
            Box::pin(async { Ok(0) })
        }
    }

    fn event(key: i64) -> Change {
        Change::Event {
            subjects: vec!["vm-1".into()],
            record: EventRecord {
                key,
                event_type: "VmPoweredOnEvent".into(),
                created: None,
                message: String::new(),
                user: None,
            },
        }
    }

    /// A writer whose store never answers, with its slot and counters.
    fn hung_writer() -> (
        Arc<ConnectionSlot>,
        Arc<OutletStats>,
        HistoryWriter,
        JoinHandle<()>,
        watch::Sender<bool>,
    ) {
        let slot = Arc::new(ConnectionSlot::new("vc1", "lab"));
        let stats = Arc::new(OutletStats::default());
        let (stop, stop_rx) = watch::channel(false);
        let (writer, task) = HistoryWriter::spawn(
            Arc::new(Hung),
            slot.clone(),
            Retention::default(),
            stats.clone(),
            stop_rx,
        );
        (slot, stats, writer, task, stop)
    }

    #[tokio::test]
    async fn a_hung_store_never_blocks_publishing_and_what_it_cannot_take_is_counted() {
        let (slot, stats, writer, task, _stop) = hung_writer();
        let mut outlet = Outlet::default();
        outlet.subscribe(Arc::new(ActivityLogSubscriber(slot.clone())));
        outlet.subscribe(Arc::new(writer));
        let extra = 25;
        // The writer takes one batch into its hung write; the rest fills the backlog.
        for k in 0..(BACKLOG + BATCH + extra) as i64 {
            outlet.publish(vec![event(k)]);
            if k == 0 {
                tokio::time::sleep(LINGER * 2).await;
            }
        }
        let queued = stats.queued.load(Ordering::Relaxed);
        let dropped = stats.dropped.load(Ordering::Relaxed);
        assert_eq!(queued + dropped, (BACKLOG + BATCH + extra) as u64);
        assert!(dropped >= extra as u64, "{dropped} dropped");
        assert_eq!(stats.written.load(Ordering::Relaxed), 0);
        // The in-memory subscriber saw everything.
        assert_eq!(
            slot.activity().last_event_key,
            Some((BACKLOG + BATCH + extra) as i64 - 1)
        );
        task.abort();
    }

    #[tokio::test]
    async fn the_bound_follows_the_inventory_so_a_first_snapshots_alarms_all_queue() {
        let (_slot, stats, writer, task, _stop) = hung_writer();
        let mut outlet = Outlet::default();
        outlet.subscribe(Arc::new(writer));
        // The vCenter maximums: 45,000 VMs, 2,500 hosts and their datastores; more changes in
        // one publish than the bound before any snapshot.
        let resources = 50_000;
        let opened = BACKLOG + 10_000;
        let mut first = vec![Change::Applied {
            at: Utc::now(),
            resources,
        }];
        first.extend((0..opened as i64).map(event));
        outlet.publish(first);
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
        assert_eq!(stats.queued.load(Ordering::Relaxed), opened as u64);
        assert_eq!(
            stats.bound.load(Ordering::Relaxed),
            backlog_bound(resources) as u64
        );
        // Past the bound, changes are dropped and counted as before.
        let room = backlog_bound(resources) - opened;
        outlet.publish((0..(room + 7) as i64).map(event).collect());
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 7);
        task.abort();
    }

    #[test]
    fn a_severity_change_reads_as_a_clear_and_a_raise_and_a_restated_close_as_nothing() {
        use crate::inventory::incidents::IncidentKey;
        use crate::model::alerts::AlertSeverity;
        let t = |change, restated| IncidentTransition {
            incident: IncidentKey {
                alarm_moid: "alarm-1".into(),
                entity_moid: "host-1".into(),
                started_at: Utc::now(),
            },
            change,
            at: Utc::now(),
            exact: true,
            restated,
            severity: AlertSeverity::Critical,
            event_key: Some(3),
            user: None,
            resource_id: "vsphere:u:host-1".into(),
            object_name: "esx-1".into(),
            alarm_name: "Host CPU".into(),
        };
        let kinds = |t: &IncidentTransition| {
            alert_transitions(t)
                .iter()
                .map(|a| (a.kind, a.severity))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds(&t(IncidentChange::SeverityChanged, false)),
            vec![
                (TransitionKind::Cleared, AlertSeverity::Warning),
                (TransitionKind::Raised, AlertSeverity::Critical)
            ]
        );
        assert!(kinds(&t(IncidentChange::Closed, true)).is_empty());
        assert!(kinds(&t(IncidentChange::Acknowledged, false)).is_empty());
        assert_eq!(kinds(&t(IncidentChange::Closed, false)).len(), 1);
    }
}
