//! State shared by every request handler of one simulator.

use std::sync::atomic::Ordering;
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::config::SimConfig;
use super::faults::FaultSettings;
use super::inventory::{self, Inventory};
use super::sessions::{Family, Session, Sessions};
use super::stats::{SimStats, StatsCounters};
use super::tls::TlsState;

/// Everything one simulator instance knows.
pub struct SimState {
    /// The configuration it started with.
    pub config: SimConfig,
    /// The inventory. A std lock: handlers never hold it across an await.
    pub inventory: RwLock<Inventory>,
    /// Sessions of both families.
    pub sessions: Sessions,
    /// Current faults.
    pub faults: Mutex<FaultSettings>,
    /// Counters.
    pub stats: StatsCounters,
    /// The presented certificate.
    pub tls: TlsState,
    /// `about.instanceUuid`, stable per seed.
    pub instance_uuid: String,
    /// When this simulator (re)started.
    pub started: Mutex<DateTime<Utc>>,
    /// Signals a new inventory version to long-polling `WaitForUpdatesEx` calls.
    pub version_tx: tokio::sync::watch::Sender<u64>,
    /// Bumped to close every open client connection (a certificate replacement restarts
    /// vCenter's reverse proxy).
    pub connections_tx: tokio::sync::watch::Sender<u64>,
}

impl SimState {
    /// Builds the state and generates the inventory.
    pub fn new(config: SimConfig, tls: TlsState) -> Self {
        let mut inv = inventory::generate(config.seed, config.size, config.api_release);
        if config.storage_pods {
            inventory::pods::group(&mut inv);
        }
        let faults = FaultSettings {
            idle_timeout_secs: config.idle_timeout.as_secs().max(1),
            session_limit: config.session_limit,
            max_query_metrics: config.max_query_metrics,
            ..FaultSettings::default()
        };
        let (version_tx, _) = tokio::sync::watch::channel(inv.version);
        let (connections_tx, _) = tokio::sync::watch::channel(0);
        SimState {
            instance_uuid: inventory::objects::uuid_from(config.seed, 0, 0),
            config,
            inventory: RwLock::new(inv),
            sessions: Sessions::default(),
            faults: Mutex::new(faults),
            stats: StatsCounters::default(),
            tls,
            started: Mutex::new(Utc::now()),
            version_tx,
            connections_tx,
        }
    }

    /// Read access to the inventory (a poisoned lock is recovered: the data stays usable).
    pub fn inv(&self) -> RwLockReadGuard<'_, Inventory> {
        self.inventory.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Write access to the inventory. Call [`SimState::publish`] after changing it.
    pub fn inv_mut(&self) -> RwLockWriteGuard<'_, Inventory> {
        self.inventory.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes long polls after inventory changes.
    pub fn publish(&self) {
        let v = self.inv().version;
        self.version_tx.send_replace(v);
    }

    /// A copy of the current faults.
    pub fn faults(&self) -> FaultSettings {
        self.faults.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Replaces the faults.
    pub fn set_faults(&self, next: FaultSettings) {
        let before = match self.faults.lock() {
            Ok(mut f) => std::mem::replace(&mut *f, next.clone()),
            Err(_) => return,
        };
        // A permission granted or taken away reaches change feeds as vCenter sends it: the
        // object again, readable or in `missingSet`. Without this a restored permission would
        // only show at the object's next change, property by property.
        let flipped: Vec<&String> = before
            .no_permission_objects
            .symmetric_difference(&next.no_permission_objects)
            .collect();
        if !flipped.is_empty() {
            let mut inv = self.inv_mut();
            for moid in flipped {
                inv.touch(moid);
            }
            drop(inv);
            self.publish();
        }
    }

    /// The idle timeout now in force.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.faults().idle_timeout_secs)
    }

    /// The live session of `family` for `token`.
    pub fn authenticate(&self, token: &str, family: Family) -> Option<std::sync::Arc<Session>> {
        self.sessions
            .authenticate(token, family, self.idle_timeout(), &self.stats)
    }

    /// Whether `user` may read object `moid` (role and injected `NoPermission` faults).
    pub fn can_read(&self, session: &Session, moid: &str) -> bool {
        if session.role == super::config::Role::None {
            return false;
        }
        let f = self.faults.lock();
        match f {
            Ok(f) => {
                !f.no_permission_objects.contains(moid)
                    && !f
                        .no_permission_users
                        .iter()
                        .any(|u| u.eq_ignore_ascii_case(&session.user))
            }
            Err(_) => true,
        }
    }

    /// Whether the session's user may read anything at all.
    pub fn can_read_any(&self, session: &Session) -> bool {
        session.role != super::config::Role::None
            && !self
                .faults()
                .no_permission_users
                .iter()
                .any(|u| u.eq_ignore_ascii_case(&session.user))
    }

    /// A consistent snapshot of the counters.
    pub fn stats(&self) -> SimStats {
        self.sessions.sweep(self.idle_timeout(), &self.stats);
        let mut s = SimStats::default();
        self.stats.fill(&mut s);
        self.sessions.fill(&mut s);
        s
    }

    /// Simulates a vCenter restart: every session and with it every view, filter, collector
    /// and continuation token is gone.
    /// Replaces the certificate as an administrator does on vCenter: the services restart with
    /// it, so open connections are closed and every session ends (a client keeping a pooled
    /// connection would otherwise never see the new certificate). Returns the new thumbprint.
    ///
    /// # Errors
    /// When a certificate cannot be generated; nothing changes then.
    pub fn rotate_certificate(&self) -> Result<String, super::tls::TlsError> {
        let thumbprint = self.tls.rotate()?;
        self.restart();
        self.connections_tx.send_modify(|g| *g += 1);
        Ok(thumbprint)
    }

    pub fn restart(&self) {
        self.sessions.expire_all(&self.stats);
        self.stats.restarts.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut s) = self.started.lock() {
            *s = Utc::now();
        }
    }
}
