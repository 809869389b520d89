//! What happens to resources between snapshots: events, recent tasks, alert transitions and
//! the latest realtime metric sample, each bounded so memory stays flat however long vCenter
//! talks (or stays silent).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::alerts::AlertSeverity;

/// Events kept per object.
pub const EVENTS_PER_OBJECT: usize = 50;
/// Events kept per connection, the oldest dropped first (older ones are read from vCenter on
/// demand). An event names up to five objects and is stored once. Estimated at ~300 bytes per
/// event with its references: ~30 MB at the bound, where 50 copies for each of 60,000 objects
/// would be about a gigabyte.
pub const EVENTS_KEPT: usize = 100_000;
/// Alert transitions kept in memory per connection; the store keeps every incident.
pub const TRANSITIONS_KEPT: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventRecord {
    pub key: i64,
    /// vCenter event type (`VmPoweredOnEvent`, `EventEx` id for extended events).
    pub event_type: String,
    pub created: Option<DateTime<Utc>>,
    pub message: String,
    pub user: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskRecord {
    pub key: String,
    pub description_id: String,
    pub entity_moid: Option<String>,
    pub entity_name: Option<String>,
    pub state: String,
    pub queued: Option<DateTime<Utc>>,
    pub completed: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    Raised,
    Cleared,
}

/// An alarm turning active or inactive on a resource.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertTransition {
    pub at: DateTime<Utc>,
    pub kind: TransitionKind,
    /// The canonical resource id.
    pub resource_id: String,
    pub alarm_moid: String,
    pub name: String,
    pub severity: AlertSeverity,
}

/// The latest realtime sample of a host or VM (canonical units).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MetricSample {
    pub at: Option<DateTime<Utc>>,
    pub cpu_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    pub disk_bytes_per_second: Option<f64>,
    pub network_bytes_per_second: Option<f64>,
    pub uptime_seconds: Option<i64>,
}

/// The bounded activity of one connection.
#[derive(Debug, Default)]
pub struct ActivityLog {
    /// Per object, oldest first; a record naming several objects is shared.
    events: HashMap<String, VecDeque<Arc<EventRecord>>>,
    /// Every kept event in the order it was added, with the objects it was filed under.
    order: VecDeque<(i64, Vec<String>)>,
    /// The newest event key read, so the next read starts after it.
    pub last_event_key: Option<i64>,
    pub recent_tasks: Vec<TaskRecord>,
    transitions: VecDeque<AlertTransition>,
    pub metrics: HashMap<String, MetricSample>,
    pub metrics_at: Option<DateTime<Utc>>,
}

impl ActivityLog {
    /// Records an event against every object it names.
    pub fn add_event(&mut self, moids: &[String], e: EventRecord) {
        self.last_event_key = Some(self.last_event_key.map_or(e.key, |k| k.max(e.key)));
        let key = e.key;
        let record = Arc::new(e);
        let mut filed = Vec::with_capacity(moids.len());
        for m in moids {
            let q = self.events.entry(m.clone()).or_default();
            if q.back().is_some_and(|last| last.key >= key) {
                continue;
            }
            q.push_back(record.clone());
            while q.len() > EVENTS_PER_OBJECT {
                q.pop_front();
            }
            filed.push(m.clone());
        }
        if filed.is_empty() {
            return;
        }
        self.order.push_back((key, filed));
        while self.order.len() > EVENTS_KEPT {
            self.drop_oldest();
        }
    }

    /// Forgets the oldest kept event, and objects left without events.
    fn drop_oldest(&mut self) {
        let Some((key, moids)) = self.order.pop_front() else {
            return;
        };
        for m in moids {
            let Some(q) = self.events.get_mut(&m) else {
                continue;
            };
            // Per-object queues are in key order, so the oldest event is at the front (unless
            // the per-object bound dropped it already).
            if q.front().is_some_and(|f| f.key == key) {
                q.pop_front();
            }
            if q.is_empty() {
                self.events.remove(&m);
            }
        }
    }

    /// Events of an object, newest first.
    pub fn events_of(&self, moid: &str) -> Vec<EventRecord> {
        self.events
            .get(moid)
            .map(|q| q.iter().rev().map(|e| (**e).clone()).collect())
            .unwrap_or_default()
    }

    /// Records a transition. Each arrives once: the collector's incident book already merged
    /// what snapshots and `AlarmStatusChangedEvent`s both report, by vCenter's event keys.
    pub fn add_transition(&mut self, t: AlertTransition) {
        self.transitions.push_back(t);
        while self.transitions.len() > TRANSITIONS_KEPT {
            self.transitions.pop_front();
        }
    }

    /// Alert transitions, newest first (by when they happened, not when they were learnt).
    pub fn transitions(&self) -> Vec<AlertTransition> {
        let mut all: Vec<AlertTransition> = self.transitions.iter().rev().cloned().collect();
        all.sort_by_key(|t| std::cmp::Reverse(t.at));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(key: i64) -> EventRecord {
        EventRecord {
            key,
            event_type: "E".into(),
            created: None,
            message: String::new(),
            user: None,
        }
    }

    #[test]
    fn histories_are_bounded_and_ordered() {
        let mut a = ActivityLog::default();
        for k in 0..(EVENTS_PER_OBJECT as i64 + 10) {
            a.add_event(&["vm-1".into()], ev(k));
        }
        a.add_event(&["vm-1".into()], ev(3));
        let e = a.events_of("vm-1");
        assert_eq!(e.len(), EVENTS_PER_OBJECT);
        assert_eq!(e[0].key, EVENTS_PER_OBJECT as i64 + 9);
        assert_eq!(a.last_event_key, Some(EVENTS_PER_OBJECT as i64 + 9));
        // Across objects: at most EVENTS_KEPT events, the oldest go first, and an object left
        // with none is forgotten.
        let mut b = ActivityLog::default();
        for k in 0..(EVENTS_KEPT as i64 + 3) {
            let vm = format!("vm-{k}");
            b.add_event(&[vm, "datacenter-1".into()], ev(k));
        }
        assert_eq!(b.order.len(), EVENTS_KEPT);
        assert!(b.events_of("vm-0").is_empty() && b.events_of("vm-2").is_empty());
        assert_eq!(b.events_of("vm-3").len(), 1);
        assert_eq!(
            b.events.len(),
            EVENTS_KEPT + 1,
            "each kept VM and the datacenter"
        );
        assert_eq!(b.events_of("datacenter-1").len(), EVENTS_PER_OBJECT);
        for i in 0..(TRANSITIONS_KEPT + 5) {
            a.add_transition(AlertTransition {
                at: Utc::now(),
                kind: TransitionKind::Raised,
                resource_id: i.to_string(),
                alarm_moid: "alarm-1".into(),
                name: "x".into(),
                severity: AlertSeverity::Warning,
            });
        }
        assert_eq!(a.transitions().len(), TRANSITIONS_KEPT);
    }
}
