//! A connection's slot: the latest immutable snapshot (swapped atomically by its collector),
//! its health and its activity. Readers clone `Arc`s and never wait on a sync. The set of slots
//! lives in the connection registry (`crate::connections`).

pub mod activity;
mod claims;
mod health;
pub mod incidents;

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::{ArcSwap, ArcSwapOption};

pub use crate::vcenter::issue::{HealthIssue, IssueObject, Stage};
pub use claims::Claims;
pub use health::{ConnectionHealth, ConnectionState, FamilyHealth, HealthError, VcenterAbout};

use crate::model::snapshot::InventorySnapshot;

/// One connection's slot: written by its collector, read by queries.
#[derive(Debug)]
pub struct ConnectionSlot {
    /// Connection id (stable, chosen at onboarding).
    pub id: String,
    /// Display name (changes when an operator renames the connection).
    name: ArcSwap<String>,
    snapshot: ArcSwapOption<InventorySnapshot>,
    health: ArcSwap<ConnectionHealth>,
    activity: Mutex<activity::ActivityLog>,
    /// Bumped after every write a query could see (snapshot, name, health, activity), so a
    /// response computed from the slot can be reused while it holds (`server::response_cache`).
    generation: AtomicU64,
}

impl ConnectionSlot {
    /// An empty slot: no snapshot yet, connecting.
    pub fn new(id: &str, name: &str) -> ConnectionSlot {
        ConnectionSlot {
            id: id.to_string(),
            name: ArcSwap::from_pointee(name.to_string()),
            snapshot: ArcSwapOption::empty(),
            health: ArcSwap::from_pointee(ConnectionHealth::default()),
            activity: Mutex::default(),
            generation: AtomicU64::new(0),
        }
    }

    /// The slot's change counter: equal values mean nothing a query reads from the slot
    /// changed in between. Read before the data (acquire), bumped after it (release), so a
    /// reader that sees a value also sees every write before it.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Display name.
    pub fn name(&self) -> Arc<String> {
        self.name.load_full()
    }

    /// Renames the connection.
    pub fn set_name(&self, name: &str) {
        if self.name.load().as_str() != name {
            self.name.store(Arc::new(name.to_string()));
            self.bump();
        }
    }

    /// Drops the snapshot and the activity: the connection's resources leave the graph at once
    /// (it was disabled, or its endpoint now answers as another vCenter).
    pub fn clear(&self) {
        self.snapshot.store(None);
        *self.activity() = activity::ActivityLog::default();
        self.bump();
    }

    /// The latest snapshot (`None` before the first successful sync).
    pub fn snapshot(&self) -> Option<Arc<InventorySnapshot>> {
        self.snapshot.load_full()
    }

    /// How far the served inventory may lag vCenter: the time since vCenter last confirmed
    /// it (see [`ConnectionHealth::confirmed_at`]); `None` without a snapshot.
    pub fn staleness(&self, now: chrono::DateTime<chrono::Utc>) -> Option<chrono::Duration> {
        let snap = self.snapshot()?;
        let confirmed = self
            .health()
            .confirmed_at
            .map_or(snap.taken_at, |c| c.max(snap.taken_at));
        Some((now - confirmed).max(chrono::Duration::zero()))
    }

    /// Publishes a new snapshot atomically.
    pub fn publish(&self, snapshot: InventorySnapshot) {
        self.snapshot.store(Some(Arc::new(snapshot)));
        self.bump();
    }

    /// Events, tasks, alert transitions and metrics of this connection. Held briefly by the
    /// collector (writes) and by queries (copies out); a poisoned lock is recovered because the
    /// log holds no invariant a panic could break. Taking it mutably bumps the generation when
    /// the guard is dropped, so no write site can forget to.
    pub fn activity(&self) -> ActivityGuard<'_> {
        ActivityGuard {
            log: self.activity.lock().unwrap_or_else(|p| p.into_inner()),
            slot: self,
            written: false,
        }
    }

    /// Current health.
    pub fn health(&self) -> Arc<ConnectionHealth> {
        self.health.load_full()
    }

    /// Updates health (read-copy-update; written by the collector, and by the registry when the
    /// connection starts, stops or is disabled, never at the same time).
    pub fn update_health(&self, f: impl FnOnce(&mut ConnectionHealth)) {
        let current = self.health.load_full();
        let mut next = (*current).clone();
        f(&mut next);
        if next != *current {
            self.health.store(Arc::new(next));
            self.bump();
        }
    }
}

/// The locked activity log of a slot; see [`ConnectionSlot::activity`].
pub struct ActivityGuard<'a> {
    log: MutexGuard<'a, activity::ActivityLog>,
    slot: &'a ConnectionSlot,
    written: bool,
}

impl Deref for ActivityGuard<'_> {
    type Target = activity::ActivityLog;
    fn deref(&self) -> &activity::ActivityLog {
        &self.log
    }
}

impl DerefMut for ActivityGuard<'_> {
    fn deref_mut(&mut self) -> &mut activity::ActivityLog {
        self.written = true;
        &mut self.log
    }
}

impl Drop for ActivityGuard<'_> {
    fn drop(&mut self) {
        // After the write, before the unlock: a reader that sees the new generation finds the
        // new log.
        if self.written {
            self.slot.bump();
        }
    }
}

/// A snapshot visible to queries, with the connection it came from.
#[derive(Clone, Debug)]
pub struct Visible {
    /// The connection.
    pub connection: Arc<ConnectionSlot>,
    /// Its snapshot.
    pub snapshot: Arc<InventorySnapshot>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::project::Projection;

    fn snapshot() -> InventorySnapshot {
        InventorySnapshot::build("u", chrono::Utc::now(), Projection::default())
    }

    #[test]
    fn every_write_a_query_can_see_bumps_the_generation() {
        let slot = ConnectionSlot::new("a", "vc-a");
        let mut seen = slot.generation();
        let mut bumped = |what: &str| {
            let now = slot.generation();
            assert!(now > seen, "{what} bumps the generation");
            seen = now;
        };
        slot.publish(snapshot());
        bumped("publish");
        slot.set_name("vc-renamed");
        bumped("rename");
        slot.update_health(|h| h.consecutive_failures = 3);
        bumped("health");
        slot.activity().metrics_at = Some(chrono::Utc::now());
        bumped("metrics");
        slot.activity().add_transition(activity::AlertTransition {
            at: chrono::Utc::now(),
            kind: activity::TransitionKind::Raised,
            resource_id: "vm-1".into(),
            alarm_moid: "alarm-1".into(),
            name: "x".into(),
            severity: crate::model::alerts::AlertSeverity::Warning,
        });
        bumped("transition");
        slot.clear();
        bumped("clear");
    }

    #[test]
    fn reads_and_writes_that_change_nothing_keep_the_generation() {
        let slot = ConnectionSlot::new("a", "vc-a");
        slot.update_health(|h| h.consecutive_failures = 1);
        let g = slot.generation();
        let _ = slot.activity().events_of("vm-1");
        let _ = slot.activity().transitions();
        slot.set_name("vc-a");
        slot.update_health(|h| h.consecutive_failures = 1);
        let _ = (slot.snapshot(), slot.health(), slot.name());
        assert_eq!(slot.generation(), g);
    }
}
