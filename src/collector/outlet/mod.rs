//! The collector's outlet: one stream of typed changes (inventory applied, incident
//! transitions, events, task states, health) that every consumer subscribes to, as a
//! reflector's store and a controller both watch one watcher. The in-memory activity log is
//! one subscriber; the store writer is another. Publishing never waits: a subscriber that
//! needs I/O queues the change and does the work on its own task.
//!
//! The store writer ([`HistoryWriter`], in `writer`) bounds its backlog: a change that finds it
//! full is dropped and counted (connection health and `/metrics` say how many), so a slow or
//! absent store costs history, never collection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::inventory::activity::{AlertTransition, EventRecord, TaskRecord, TransitionKind};
use crate::inventory::incidents::{HistoryBatch, IncidentChange, IncidentTransition, Resume};
use crate::inventory::{ConnectionHealth, ConnectionSlot};

mod writer;
pub use writer::HistoryWriter;

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
    /// The backlog's current bound (20,000 plus two per resource of the latest snapshot; 0
    /// before a writer starts).
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

#[cfg(test)]
mod tests {
    use super::*;

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
