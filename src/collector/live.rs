//! The live feed: incident transitions and resource status changes of every collector, for
//! GraphQL subscriptions. A subscriber of the outlet like the store writer, so a live client
//! sees what the store records, in the same order.
//!
//! The feed is a bounded broadcast: a client that falls more than [`LIVE_CAPACITY`] changes
//! behind loses its place and is told so (its subscription ends), instead of holding memory
//! for it. With no client listening nothing is computed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use super::outlet::{Change, Subscriber};
use crate::inventory::incidents::IncidentTransition;
use crate::inventory::ConnectionSlot;
use crate::model::status::ResourceStatus;

/// Changes a live client may fall behind before it is dropped.
pub const LIVE_CAPACITY: usize = 1024;

/// One change a live client is told about.
#[derive(Clone, Debug)]
pub enum LiveChange {
    Incident {
        connection: String,
        transition: IncidentTransition,
    },
    Status(StatusChange),
}

impl LiveChange {
    pub fn connection(&self) -> &str {
        match self {
            LiveChange::Incident { connection, .. } => connection,
            LiveChange::Status(s) => &s.connection,
        }
    }
}

/// A resource whose status changed between two published snapshots.
#[derive(Clone, Debug)]
pub struct StatusChange {
    pub connection: String,
    pub resource_id: String,
    /// `agent`, `vm` or `storage`.
    pub kind: &'static str,
    pub name: String,
    /// `None` for a resource new in this snapshot.
    pub from: Option<ResourceStatus>,
    pub to: ResourceStatus,
    pub at: DateTime<Utc>,
}

/// The process's live feed; cloning shares it.
#[derive(Clone, Debug)]
pub struct LiveFeed(broadcast::Sender<Arc<LiveChange>>);

impl Default for LiveFeed {
    fn default() -> Self {
        LiveFeed(broadcast::channel(LIVE_CAPACITY).0)
    }
}

impl LiveFeed {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveChange>> {
        self.0.subscribe()
    }

    /// Clients listening now.
    pub fn listeners(&self) -> usize {
        self.0.receiver_count()
    }

    fn send(&self, change: LiveChange) {
        // No receiver is not an error: nobody is listening.
        let _ = self.0.send(Arc::new(change));
    }
}

/// The outlet subscriber of one collector that feeds the live feed.
pub struct LiveSubscriber {
    feed: LiveFeed,
    slot: Arc<ConnectionSlot>,
    /// Each resource's status in the last published snapshot, once a baseline is taken
    /// (`None` until then, and again when nobody listens).
    last: Mutex<Option<HashMap<String, ResourceStatus>>>,
}

impl LiveSubscriber {
    pub fn new(feed: LiveFeed, slot: Arc<ConnectionSlot>) -> LiveSubscriber {
        LiveSubscriber {
            feed,
            slot,
            last: Mutex::default(),
        }
    }

    /// Status changes against the last snapshot seen; the first snapshot seen is a baseline.
    fn statuses(&self) {
        let Some(snap) = self.slot.snapshot() else {
            return;
        };
        let Ok(mut guard) = self.last.lock() else {
            return;
        };
        let last = guard.take();
        let baseline = last.is_none();
        let last = last.unwrap_or_default();
        let mut now = HashMap::with_capacity(last.len());
        let resources = snap
            .agents
            .iter()
            .map(|a| ("agent", &a.id, &a.name, a.status))
            .chain(snap.vms.iter().map(|v| ("vm", &v.id, &v.name, v.status)))
            .chain(
                snap.storage
                    .iter()
                    .map(|s| ("storage", &s.id, &s.name, s.status)),
            );
        for (kind, id, name, status) in resources {
            let id = id.to_string();
            let before = last.get(&id).copied();
            if !baseline && before != Some(status) {
                self.feed.send(LiveChange::Status(StatusChange {
                    connection: self.slot.id.clone(),
                    resource_id: id.clone(),
                    kind,
                    name: name.clone(),
                    from: before,
                    to: status,
                    at: snap.taken_at,
                }));
            }
            now.insert(id, status);
        }
        *guard = Some(now);
    }
}

impl Subscriber for LiveSubscriber {
    fn deliver(&self, batch: &[Arc<Change>]) {
        if self.feed.listeners() == 0 {
            // Nobody listens: forget the baseline, so the next listener starts from a fresh one.
            if let Ok(mut last) = self.last.lock() {
                *last = None;
            }
            return;
        }
        for change in batch {
            match change.as_ref() {
                Change::Incident(t) if !t.restated => self.feed.send(LiveChange::Incident {
                    connection: self.slot.id.clone(),
                    transition: t.clone(),
                }),
                Change::Applied { .. } => self.statuses(),
                _ => {}
            }
        }
    }
}
