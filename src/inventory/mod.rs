//! A connection's slot: the latest immutable snapshot (swapped atomically by its collector),
//! its health and its activity. Readers clone `Arc`s and never wait on a sync. The set of slots
//! lives in the connection registry (`crate::connections`).

pub mod activity;
mod claims;
mod health;
pub mod incidents;

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
        }
    }

    /// Display name.
    pub fn name(&self) -> Arc<String> {
        self.name.load_full()
    }

    /// Renames the connection.
    pub fn set_name(&self, name: &str) {
        if self.name.load().as_str() != name {
            self.name.store(Arc::new(name.to_string()));
        }
    }

    /// Drops the snapshot and the activity: the connection's resources leave the graph at once
    /// (it was disabled, or its endpoint now answers as another vCenter).
    pub fn clear(&self) {
        self.snapshot.store(None);
        *self.activity() = activity::ActivityLog::default();
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
    }

    /// Events, tasks, alert transitions and metrics of this connection. Held briefly by the
    /// collector (writes) and by queries (copies out); a poisoned lock is recovered because the
    /// log holds no invariant a panic could break.
    pub fn activity(&self) -> MutexGuard<'_, activity::ActivityLog> {
        self.activity.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Current health.
    pub fn health(&self) -> Arc<ConnectionHealth> {
        self.health.load_full()
    }

    /// Updates health (read-copy-update; written by the collector, and by the registry when the
    /// connection starts, stops or is disabled, never at the same time).
    pub fn update_health(&self, f: impl FnOnce(&mut ConnectionHealth)) {
        let mut next = (*self.health.load_full()).clone();
        f(&mut next);
        self.health.store(Arc::new(next));
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
