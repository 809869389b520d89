//! The inventory store: per saved connection, the latest immutable snapshot (swapped atomically
//! by its collector) and its health. Readers clone `Arc`s and never wait on a sync.

pub mod activity;
mod health;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::{ArcSwap, ArcSwapOption};

pub use health::{ConnectionHealth, ConnectionState, FamilyHealth, HealthError, VcenterAbout};

use crate::model::snapshot::InventorySnapshot;

/// One connection's slot: written by its collector, read by queries.
#[derive(Debug)]
pub struct ConnectionSlot {
    /// Connection id (stable, chosen at onboarding).
    pub id: String,
    /// Display name.
    pub name: String,
    snapshot: ArcSwapOption<InventorySnapshot>,
    health: ArcSwap<ConnectionHealth>,
    activity: Mutex<activity::ActivityLog>,
}

impl ConnectionSlot {
    /// The latest snapshot (`None` before the first successful sync).
    pub fn snapshot(&self) -> Option<Arc<InventorySnapshot>> {
        self.snapshot.load_full()
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

    /// Updates health (read-copy-update; the collector is the only writer).
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

/// Every connection's slot.
#[derive(Debug, Default)]
pub struct InventoryStore {
    slots: ArcSwap<BTreeMap<String, Arc<ConnectionSlot>>>,
}

impl InventoryStore {
    /// An empty store.
    pub fn new() -> Arc<Self> {
        Arc::new(InventoryStore::default())
    }

    /// Adds (or returns the existing) slot for a connection.
    pub fn register(&self, id: &str, name: &str) -> Arc<ConnectionSlot> {
        if let Some(s) = self.slots.load().get(id) {
            return s.clone();
        }
        let slot = Arc::new(ConnectionSlot {
            id: id.to_string(),
            name: name.to_string(),
            snapshot: ArcSwapOption::empty(),
            health: ArcSwap::from_pointee(ConnectionHealth::default()),
            activity: Mutex::default(),
        });
        self.slots.rcu(|m| {
            let mut next = (**m).clone();
            next.entry(id.to_string()).or_insert_with(|| slot.clone());
            next
        });
        self.slots.load().get(id).cloned().unwrap_or(slot)
    }

    /// Removes a connection (its resources disappear from queries at once).
    pub fn remove(&self, id: &str) {
        self.slots.rcu(|m| {
            let mut next = (**m).clone();
            next.remove(id);
            next
        });
    }

    /// All slots, ordered by connection id.
    pub fn slots(&self) -> Vec<Arc<ConnectionSlot>> {
        self.slots.load().values().cloned().collect()
    }

    /// One slot.
    pub fn slot(&self, id: &str) -> Option<Arc<ConnectionSlot>> {
        self.slots.load().get(id).cloned()
    }

    /// Snapshots queries may read. When two connections reach the same vCenter (same
    /// instanceUuid), only the first by connection id is visible, so nothing is counted twice.
    pub fn visible(&self) -> Vec<Visible> {
        let mut seen: Vec<String> = Vec::new();
        let mut out = Vec::new();
        for slot in self.slots() {
            let Some(snapshot) = slot.snapshot() else {
                continue;
            };
            let uuid = snapshot.instance_uuid.to_ascii_lowercase();
            if seen.contains(&uuid) {
                continue;
            }
            seen.push(uuid);
            out.push(Visible {
                connection: slot,
                snapshot,
            });
        }
        out
    }

    /// The connection serving the vCenter with `instance_uuid`, if any.
    pub fn serving(&self, instance_uuid: &str) -> Option<Visible> {
        self.visible()
            .into_iter()
            .find(|v| v.snapshot.instance_uuid.eq_ignore_ascii_case(instance_uuid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::project::Projection;
    use chrono::Utc;

    #[test]
    fn duplicates_are_not_counted_twice() {
        let store = InventoryStore::new();
        let a = store.register("a", "vc-a");
        let b = store.register("b", "vc-a-again");
        assert!(store.visible().is_empty(), "nothing before a first sync");
        a.publish(InventorySnapshot::build(
            "UUID-1",
            Utc::now(),
            Projection::default(),
        ));
        b.publish(InventorySnapshot::build(
            "uuid-1",
            Utc::now(),
            Projection::default(),
        ));
        let v = store.visible();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].connection.id, "a");
        assert_eq!(
            store.serving("UUID-1").map(|v| v.connection.id.clone()),
            Some("a".into())
        );
        store.remove("a");
        assert_eq!(store.visible()[0].connection.id, "b", "the twin takes over");
        assert!(Arc::ptr_eq(&store.register("b", "x"), &b));
    }
}
