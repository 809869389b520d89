//! The store writer: the outlet's subscriber that keeps history. It queues what the store keeps
//! without ever waiting, batches a burst, retries a failing store with backoff, prunes by the
//! retention, and bounds its backlog by the inventory's size: what finds the backlog full is
//! dropped and counted, so a slow or absent store costs history, never collection.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{Change, HistoryError, HistorySink, OutletStats, Retention, Subscriber};
use crate::collector::{issues, settle, sleep_or_stop};
use crate::inventory::activity::TaskRecord;
use crate::inventory::incidents::HistoryBatch;
use crate::inventory::{ConnectionSlot, HealthIssue};

/// Changes waiting for the store at most, before the connection's inventory is known; past the
/// bound they are dropped and counted.
const BACKLOG: usize = 20_000;
/// What each resource of the latest snapshot adds to the bound. The first snapshot reports every
/// alarm already triggered as an opened incident in one publish: at the vCenter maximums that is
/// tens of thousands of changes at once, which a fixed bound sized for steady churn would drop
/// while the store is perfectly healthy. Two per resource holds a CPU and a memory alarm on
/// every VM and host.
const BACKLOG_PER_RESOURCE: usize = 2;

/// The backlog's bound for a connection serving `resources` hosts, VMs and datastores.
fn backlog_bound(resources: usize) -> usize {
    BACKLOG + BACKLOG_PER_RESOURCE * resources
}
/// Changes written in one store transaction at most.
const BATCH: usize = 1_000;
/// How long the writer lets a burst gather before writing it.
const LINGER: Duration = Duration::from_millis(200);
/// Longest pause between attempts on a failing store.
const RETRY_CAP: Duration = Duration::from_secs(30);
/// What a stopping writer may spend flushing its backlog.
const FLUSH_BUDGET: Duration = Duration::from_secs(2);

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
        None => issues::clear_history(slot, ISSUE),
        Some(m) => slot.update_health(|h| {
            let fresh = HealthIssue::history(ISSUE, m);
            crate::vcenter::issue::replace_stage(
                &mut h.issues,
                |i| i.stage == fresh.stage && i.subject == fresh.subject,
                vec![fresh.clone()],
            );
            settle(h);
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
            if pending.len() < BATCH && !sleep_or_stop(LINGER, &mut stop).await {
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
                if sleep_or_stop(wait, &mut stop).await {
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
    use chrono::DateTime;
    use futures::future::BoxFuture;

    use super::super::{ActivityLogSubscriber, Outlet};
    use super::*;
    use crate::inventory::activity::EventRecord;
    use crate::inventory::incidents::Resume;

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
}
