//! The connection registry: the one place that owns, per vCenter connection, its spec, its
//! vCenter client, its collector, its snapshot slot, its on-demand reads and its call counters.
//! GraphQL, `/metrics`, `/readyz`, shutdown and the onboarding mutations all read it, and
//! connections are added, changed and removed while the process runs.
//!
//! Readers never wait: the set of connections is an immutable map swapped atomically (as a
//! snapshot is), so a query clones `Arc`s. Changes are serialised by one async lock, because a
//! change may log sessions out and must not interleave with another change of the same entry.

pub mod input;
pub mod onboarding;
mod spec;
pub mod store_health;

/// The live feed's items, for the GraphQL subscriptions above this layer.
pub use crate::collector::live::{LiveChange, LiveFeed, StatusChange, LIVE_CAPACITY};

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::Utc;

use crate::collector::{self, CollectorConfig, CollectorHandle, CollectorStats};
use crate::inventory::{Claims, ConnectionSlot, ConnectionState, HealthError, Visible};
use crate::ondemand::{BudgetSettings, OnDemand};
use crate::vcenter::transport::CallStats;
use crate::vcenter::VcClient;
pub use spec::{ConnectionSpec, SavedConnection, Source, TlsSetting, Unusable};

/// Why a registry change was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("connection_exists: a connection with id {0} is already registered")]
    Exists(String),
    #[error("connection_not_found: no connection with id {0}")]
    NotFound(String),
    #[error("client_invalid: connection {0}: {1}")]
    Client(String, String),
}

/// The live part of an enabled connection, readable without a lock.
#[derive(Clone)]
struct Live {
    client: VcClient,
    ondemand: Arc<OnDemand>,
    /// The registry's collector's counters; `None` for an attached slot (the caller collects).
    collector: Option<Arc<CollectorStats>>,
}

/// One registered connection as readers see it; replaced as a whole on every change.
pub struct Connection {
    spec: Arc<ConnectionSpec>,
    slot: Arc<ConnectionSlot>,
    live: Option<Live>,
}

impl Connection {
    /// Its spec.
    pub fn spec(&self) -> &ConnectionSpec {
        &self.spec
    }

    /// Its snapshot slot (snapshot, health, activity).
    pub fn slot(&self) -> &Arc<ConnectionSlot> {
        &self.slot
    }

    /// Reads beyond the snapshot, while the connection is enabled.
    pub fn ondemand(&self) -> Option<&Arc<OnDemand>> {
        self.live.as_ref().map(|l| &l.ondemand)
    }

    /// Its vCenter call counters, while the connection is enabled.
    pub fn call_stats(&self) -> Option<Arc<CallStats>> {
        self.live.as_ref().map(|l| l.client.stats_handle())
    }

    /// Its collector's counters, while the registry runs its collector.
    pub fn collector_stats(&self) -> Option<&Arc<CollectorStats>> {
        self.live.as_ref().and_then(|l| l.collector.as_ref())
    }

    /// Its client, while the connection is enabled.
    pub fn client(&self) -> Option<&VcClient> {
        self.live.as_ref().map(|l| &l.client)
    }
}

/// Every connection of the process.
pub struct Registry {
    entries: ArcSwap<BTreeMap<String, Arc<Connection>>>,
    /// Collectors by connection id; the lock also serialises changes.
    collectors: tokio::sync::Mutex<HashMap<String, CollectorHandle>>,
    collector_config: CollectorConfig,
    /// What each connection's on-demand reads may cost vCenter.
    budget: BudgetSettings,
    /// Which connection reads which vCenter, so a second connection to one stands down.
    claims: Arc<Claims>,
    /// Where collectors keep incidents, events and tasks; `None`: in memory only.
    history: Option<collector::History>,
    /// Bumped after every change of the set of connections or of an entry (added, updated,
    /// enabled or disabled, removed): with the slots' generations, what a query read.
    version: AtomicU64,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field(
                "connections",
                &self.entries.load().keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Registry {
    /// An empty registry whose collectors run with `collector_config`, with the default
    /// on-demand budget.
    pub fn new(collector_config: CollectorConfig) -> Arc<Registry> {
        Registry::with_budget(collector_config, BudgetSettings::default())
    }

    /// An empty registry whose connections' on-demand reads spend at most `budget` each.
    pub fn with_budget(collector_config: CollectorConfig, budget: BudgetSettings) -> Arc<Registry> {
        Registry::with_history(collector_config, budget, None)
    }

    /// An empty registry whose collectors also keep their history in `history`.
    pub fn with_history(
        mut collector_config: CollectorConfig,
        budget: BudgetSettings,
        history: Option<collector::History>,
    ) -> Arc<Registry> {
        collector_config
            .live
            .get_or_insert_with(collector::live::LiveFeed::default);
        Arc::new(Registry {
            entries: ArcSwap::default(),
            collectors: tokio::sync::Mutex::default(),
            collector_config,
            budget,
            claims: Arc::default(),
            history,
            version: AtomicU64::new(0),
        })
    }

    /// Incident transitions and status changes of every collector, as they are published.
    pub fn live(&self) -> LiveFeed {
        self.collector_config.live.clone().unwrap_or_default()
    }

    /// What each connection's on-demand reads may cost vCenter.
    pub fn budget(&self) -> BudgetSettings {
        self.budget
    }

    /// Registers a connection and, when enabled, starts its collector.
    ///
    /// # Errors
    /// `Exists` for a taken id; `Client` when no client can be built from the spec.
    pub async fn add(&self, spec: ConnectionSpec) -> Result<Arc<Connection>, RegistryError> {
        let mut collectors = self.collectors.lock().await;
        if self.entries.load().contains_key(spec.id()) {
            return Err(RegistryError::Exists(spec.saved.id));
        }
        let slot = Arc::new(ConnectionSlot::new(spec.id(), &spec.saved.name));
        let entry = self.start(spec, slot, &mut collectors)?;
        self.put(entry.clone());
        Ok(entry)
    }

    /// Replaces a connection's spec. A name-only change keeps the sessions; any other change
    /// logs the old sessions out and starts anew on the same slot, whose snapshot keeps
    /// serving until the new first sync (the collector drops it at once if the endpoint now
    /// answers as another vCenter). Disabling drops the snapshot: a disabled connection
    /// contributes nothing.
    ///
    /// # Errors
    /// `NotFound`; `Client` when no client can be built (the old connection keeps running).
    pub async fn update(&self, spec: ConnectionSpec) -> Result<Arc<Connection>, RegistryError> {
        let mut collectors = self.collectors.lock().await;
        let Some(old) = self.entries.load().get(spec.id()).cloned() else {
            return Err(RegistryError::NotFound(spec.saved.id));
        };
        old.slot.set_name(&spec.saved.name);
        if !old.spec.needs_new_sessions(&spec) {
            let entry = Arc::new(Connection {
                spec: Arc::new(spec),
                slot: old.slot.clone(),
                live: old.live.clone(),
            });
            self.put(entry.clone());
            return Ok(entry);
        }
        // Built before anything stops, so a spec that cannot make a client changes nothing.
        if let (true, Ok(client)) = (spec.saved.enabled, &spec.client) {
            VcClient::new(client.clone())
                .map_err(|e| RegistryError::Client(spec.saved.id.clone(), e.to_string()))?;
        }
        if let Some(c) = collectors.remove(spec.id()) {
            c.shutdown().await;
        }
        self.claims.release(spec.id());
        if !spec.saved.enabled || spec.client.is_err() {
            old.slot.clear();
        }
        let id = spec.saved.id.clone();
        let entry = self.start(spec, old.slot.clone(), &mut collectors)?;
        self.put(entry.clone());
        self.revive_duplicates_of(&id, &mut collectors).await;
        Ok(entry)
    }

    /// Connections that stood down because `id` read their vCenter start again: `id` stopped,
    /// changed or went away, so one of them may be the connection to that vCenter now.
    async fn revive_duplicates_of(
        &self,
        id: &str,
        collectors: &mut HashMap<String, CollectorHandle>,
    ) {
        let standing_down: Vec<Arc<Connection>> = self
            .connections()
            .into_iter()
            .filter(|c| {
                let h = c.slot.health();
                h.state == ConnectionState::Duplicate && h.duplicate_of.as_deref() == Some(id)
            })
            .collect();
        for c in standing_down {
            if let Some(h) = collectors.remove(c.spec.id()) {
                h.shutdown().await;
            }
            match self.start((*c.spec).clone(), c.slot.clone(), collectors) {
                Ok(entry) => self.put(entry),
                Err(e) => {
                    tracing::warn!(error = %e, "a duplicate connection could not start again")
                }
            }
        }
    }

    /// Stops a connection (logging its sessions out) and removes it: its resources leave the
    /// graph at once.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn remove(&self, id: &str) -> Result<(), RegistryError> {
        let mut collectors = self.collectors.lock().await;
        if !self.entries.load().contains_key(id) {
            return Err(RegistryError::NotFound(id.to_string()));
        }
        self.entries.rcu(|m| {
            let mut next = (**m).clone();
            next.remove(id);
            next
        });
        self.version.fetch_add(1, Ordering::Release);
        if let Some(c) = collectors.remove(id) {
            c.shutdown().await;
        }
        self.claims.release(id);
        self.revive_duplicates_of(id, &mut collectors).await;
        Ok(())
    }

    /// A slot the registry runs no collector for: the caller publishes its snapshots (tests
    /// and benchmarks of the layers above the collector). Returns the existing slot for a
    /// known id.
    pub fn attach(&self, id: &str, name: &str) -> Arc<ConnectionSlot> {
        self.attach_reads(id, name, None)
    }

    /// As [`Registry::attach`], with on-demand reads over `client` when given (a test that
    /// runs its own collector and stops it to count what queries alone cost vCenter).
    pub fn attach_reads(
        &self,
        id: &str,
        name: &str,
        client: Option<VcClient>,
    ) -> Arc<ConnectionSlot> {
        if let Some(e) = self.entries.load().get(id) {
            return e.slot.clone();
        }
        let slot = Arc::new(ConnectionSlot::new(id, name));
        let spec = ConnectionSpec {
            saved: SavedConnection::placeholder(id, name),
            source: Source::Api,
            client: Err(Unusable {
                class: "attached".into(),
                message: "snapshots are published by the caller".into(),
            }),
        };
        let live = client.map(|client| Live {
            ondemand: Arc::new(OnDemand::new(client.clone(), self.budget)),
            client,
            collector: None,
        });
        self.put(Arc::new(Connection {
            spec: Arc::new(spec),
            slot: slot.clone(),
            live,
        }));
        slot
    }

    /// Stops every collector, logging every session out. The entries stay readable.
    pub async fn shutdown(&self) {
        let mut collectors = self.collectors.lock().await;
        let all: Vec<CollectorHandle> = collectors.drain().map(|(_, c)| c).collect();
        futures::future::join_all(all.into_iter().map(CollectorHandle::shutdown)).await;
    }

    /// Every connection, ordered by id.
    pub fn connections(&self) -> Vec<Arc<Connection>> {
        self.entries.load().values().cloned().collect()
    }

    /// One connection.
    pub fn get(&self, id: &str) -> Option<Arc<Connection>> {
        self.entries.load().get(id).cloned()
    }

    /// Every slot, ordered by connection id.
    pub fn slots(&self) -> Vec<Arc<ConnectionSlot>> {
        self.entries
            .load()
            .values()
            .map(|e| e.slot.clone())
            .collect()
    }

    /// One slot.
    pub fn slot(&self, id: &str) -> Option<Arc<ConnectionSlot>> {
        self.get(id).map(|e| e.slot.clone())
    }

    /// On-demand reads of one connection, while it is enabled.
    pub fn ondemand(&self, id: &str) -> Option<Arc<OnDemand>> {
        self.get(id).and_then(|e| e.ondemand().cloned())
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

    fn put(&self, entry: Arc<Connection>) {
        self.entries.rcu(|m| {
            let mut next = (**m).clone();
            next.insert(entry.spec.saved.id.clone(), entry.clone());
            next
        });
        self.version.fetch_add(1, Ordering::Release);
    }

    /// The registry's change counter; see [`Registry::write_state`].
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Writes what queries can read into `h`: the registry's version and every connection's id
    /// and slot generation. Equal writes mean equal answers (for fields that read nothing
    /// else); read before the data, so a change during a query only makes the key older.
    pub fn write_state(&self, h: &mut impl Hasher) {
        h.write_u64(self.version());
        for (id, c) in self.entries.load().iter() {
            h.write(id.as_bytes());
            h.write_u8(0xff);
            h.write_u64(c.slot.generation());
        }
    }

    /// Builds the entry of `spec` over `slot`, starting a collector when enabled.
    fn start(
        &self,
        spec: ConnectionSpec,
        slot: Arc<ConnectionSlot>,
        collectors: &mut HashMap<String, CollectorHandle>,
    ) -> Result<Arc<Connection>, RegistryError> {
        let live = match (&spec.client, spec.saved.enabled) {
            (Ok(config), true) => {
                let client = VcClient::new(config.clone())
                    .map_err(|e| RegistryError::Client(spec.saved.id.clone(), e.to_string()))?;
                slot.update_health(|h| {
                    h.state = ConnectionState::Connecting;
                    h.last_error = None;
                    h.duplicate_of = None;
                });
                // The poll interval paces what the change feed does not push; vCenter samples
                // realtime metrics every 20 s, so they are never asked for more often.
                let poll = Duration::from_secs(u64::from(spec.saved.poll_interval_secs));
                let config = CollectorConfig {
                    events_every: poll,
                    metrics_every: poll.max(self.collector_config.metrics_every),
                    claims: Some(self.claims.clone()),
                    ..self.collector_config.clone()
                };
                let handle = collector::spawn_with_history(
                    client.clone(),
                    slot.clone(),
                    config,
                    self.history.clone(),
                );
                let stats = handle.stats.clone();
                collectors.insert(spec.saved.id.clone(), handle);
                Some(Live {
                    ondemand: Arc::new(OnDemand::new(client.clone(), self.budget)),
                    client,
                    collector: Some(stats),
                })
            }
            (Err(why), true) => {
                let why = why.clone();
                slot.update_health(|h| {
                    *h = Default::default();
                    h.state = ConnectionState::Failed;
                    h.last_attempt = Some(Utc::now());
                    h.consecutive_failures = 1;
                    h.last_error = Some(HealthError {
                        class: why.class,
                        message: why.message,
                        at: Utc::now(),
                    });
                });
                None
            }
            (_, false) => {
                slot.update_health(|h| {
                    *h = Default::default();
                    h.state = ConnectionState::Disabled;
                    h.last_attempt = Some(Utc::now());
                });
                None
            }
        };
        Ok(Arc::new(Connection {
            spec: Arc::new(spec),
            slot,
            live,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::project::Projection;
    use crate::model::snapshot::InventorySnapshot;

    #[test]
    fn duplicates_are_not_counted_twice() {
        let reg = Registry::new(CollectorConfig::default());
        let a = reg.attach("a", "vc-a");
        let b = reg.attach("b", "vc-a-again");
        assert!(reg.visible().is_empty(), "nothing before a first sync");
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
        let v = reg.visible();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].connection.id, "a");
        assert_eq!(
            reg.serving("UUID-1").map(|v| v.connection.id.clone()),
            Some("a".into())
        );
        assert!(Arc::ptr_eq(&reg.attach("b", "x"), &b));
    }

    #[tokio::test]
    async fn removing_a_connection_hands_its_vcenter_to_the_twin() {
        let reg = Registry::new(CollectorConfig::default());
        let a = reg.attach("a", "vc-a");
        let b = reg.attach("b", "vc-a-again");
        a.publish(InventorySnapshot::build(
            "u",
            Utc::now(),
            Projection::default(),
        ));
        b.publish(InventorySnapshot::build(
            "u",
            Utc::now(),
            Projection::default(),
        ));
        reg.remove("a").await.expect("known");
        assert_eq!(reg.visible()[0].connection.id, "b", "the twin takes over");
        assert!(matches!(
            reg.remove("a").await,
            Err(RegistryError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn the_state_changes_with_the_set_of_connections_and_their_slots() {
        fn state(reg: &Registry) -> u64 {
            let mut h = std::hash::DefaultHasher::new();
            reg.write_state(&mut h);
            h.finish()
        }
        let reg = Registry::new(CollectorConfig::default());
        let empty = state(&reg);
        let a = reg.attach("a", "vc-a");
        let one = state(&reg);
        assert_ne!(one, empty, "added");
        assert_eq!(state(&reg), one, "reading changes nothing");
        a.publish(InventorySnapshot::build(
            "u",
            Utc::now(),
            Projection::default(),
        ));
        let published = state(&reg);
        assert_ne!(published, one, "a slot's publish");
        let v = reg.version();
        reg.remove("a").await.expect("known");
        assert!(reg.version() > v);
        reg.attach("a", "vc-a");
        assert_ne!(
            state(&reg),
            one,
            "a new slot under the same id is another state"
        );
    }
}
