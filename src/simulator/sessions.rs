//! API sessions of both families. Like vCenter, every session-scoped object (views, filters,
//! collectors, continuation tokens) lives inside its session and vanishes with it, so a logout,
//! an idle timeout or a restart takes them all away at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Value};

use super::config::{Role, SimUser};
use super::stats::{SimStats, StatsCounters};
use super::vim::objects::SessionObjects;

/// The API family a session belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Automation REST (`/api`).
    Rest,
    /// VI JSON (`/sdk/vim25`).
    Vim,
}

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    /// Unknown user or wrong password.
    InvalidLogin,
    /// The session limit is reached (vCenter answers 503).
    SessionLimit(usize),
}

/// One logged-in session.
#[derive(Debug)]
pub struct Session {
    /// The `vmware-api-session-id` value.
    pub token: String,
    /// `UserSession.key`.
    pub key: String,
    /// Which API family issued it.
    pub family: Family,
    /// User name as configured.
    pub user: String,
    /// The user's role.
    pub role: Role,
    /// Login time.
    pub login_time: DateTime<Utc>,
    /// The client's User-Agent at login.
    pub user_agent: String,
    last_active: Mutex<(Instant, DateTime<Utc>)>,
    call_count: AtomicI64,
    /// Session-scoped server objects.
    pub objects: Mutex<SessionObjects>,
    ended: tokio::sync::watch::Sender<bool>,
}

impl Session {
    /// Wire form of `UserSession`.
    pub fn user_session(&self) -> Value {
        let last = self
            .last_active
            .lock()
            .map(|l| l.1)
            .unwrap_or(self.login_time);
        json!({
            "_typeName": "UserSession",
            "key": self.key,
            "userName": format!("VSPHERE.LOCAL\\{}", self.user),
            "fullName": self.user,
            "loginTime": super::inventory::objects::ts(self.login_time),
            "lastActiveTime": super::inventory::objects::ts(last),
            "locale": "en",
            "messageLocale": "en",
            "extensionSession": false,
            "ipAddress": "127.0.0.1",
            "userAgent": self.user_agent,
            "callCount": self.call_count.load(Ordering::Relaxed),
        })
    }

    /// Last activity time (wall clock).
    pub fn last_active(&self) -> DateTime<Utc> {
        self.last_active
            .lock()
            .map(|l| l.1)
            .unwrap_or(self.login_time)
    }

    /// Resolves when the session ends (logout, expiry, restart); long polls select on it so
    /// a `WaitForUpdatesEx` in flight is cancelled like vCenter's `RequestCanceled`.
    pub async fn ended(&self) {
        let mut rx = self.ended.subscribe();
        let _ = rx.wait_for(|e| *e).await;
    }

    /// Whether the session has ended.
    pub fn is_ended(&self) -> bool {
        *self.ended.borrow()
    }

    fn touch(&self) {
        if let Ok(mut l) = self.last_active.lock() {
            *l = (Instant::now(), Utc::now());
        }
        self.call_count.fetch_add(1, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        self.last_active
            .lock()
            .map(|l| l.0.elapsed())
            .unwrap_or_default()
    }

    fn end(&self) {
        let _ = self.ended.send(true);
        if let Ok(mut o) = self.objects.lock() {
            *o = SessionObjects::default();
        }
    }
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// All sessions of both families.
#[derive(Debug, Default)]
pub struct Sessions {
    // A plain mutex: every critical section is a map operation and never awaits.
    map: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    /// Logs `user` in on `family`.
    ///
    /// # Errors
    /// [`LoginError::InvalidLogin`] for unknown users or wrong passwords, and
    /// [`LoginError::SessionLimit`] when the family already has `limit` sessions.
    #[allow(clippy::too_many_arguments)]
    pub fn login(
        &self,
        users: &[SimUser],
        family: Family,
        user: &str,
        password: &str,
        user_agent: &str,
        limit: Option<usize>,
        stats: &StatsCounters,
    ) -> Result<Arc<Session>, LoginError> {
        let (attempts, failed) = match family {
            Family::Rest => (&stats.rest_logins, &stats.rest_failed_logins),
            Family::Vim => (&stats.vim_logins, &stats.vim_failed_logins),
        };
        attempts.fetch_add(1, Ordering::Relaxed);
        let found = users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(user) && u.password == password);
        let Some(found) = found else {
            failed.fetch_add(1, Ordering::Relaxed);
            return Err(LoginError::InvalidLogin);
        };
        let mut map = self.map.lock().map_err(|_| LoginError::InvalidLogin)?;
        if let Some(limit) = limit {
            let active = map.values().filter(|s| s.family == family).count();
            if active >= limit {
                failed.fetch_add(1, Ordering::Relaxed);
                return Err(LoginError::SessionLimit(limit));
            }
        }
        let token = random_hex(20);
        let key = uuid::Uuid::new_v4().to_string();
        let now = Utc::now();
        let (ended, _) = tokio::sync::watch::channel(false);
        let session = Arc::new(Session {
            token: token.clone(),
            key,
            family,
            user: found.name.clone(),
            role: found.role,
            login_time: now,
            user_agent: user_agent.to_string(),
            last_active: Mutex::new((Instant::now(), now)),
            call_count: AtomicI64::new(0),
            objects: Mutex::new(SessionObjects::default()),
            ended,
        });
        map.insert(token, session.clone());
        match family {
            Family::Rest => stats.rest_created.fetch_add(1, Ordering::Relaxed),
            Family::Vim => stats.vim_created.fetch_add(1, Ordering::Relaxed),
        };
        Ok(session)
    }

    /// The live session for `token` on `family`, refreshed; `None` when unknown, of the other
    /// family, or idle longer than `idle_timeout` (which ends it).
    pub fn authenticate(
        &self,
        token: &str,
        family: Family,
        idle_timeout: Duration,
        stats: &StatsCounters,
    ) -> Option<Arc<Session>> {
        let mut map = self.map.lock().ok()?;
        let session = map.get(token)?.clone();
        if session.family != family {
            return None;
        }
        if session.idle_for() > idle_timeout {
            map.remove(token);
            session.end();
            count_expired(family, stats);
            return None;
        }
        session.touch();
        Some(session)
    }

    /// Logs a session out; false when the token is unknown.
    pub fn logout(&self, token: &str, stats: &StatsCounters) -> bool {
        let removed = self.map.lock().ok().and_then(|mut m| m.remove(token));
        match removed {
            Some(s) => {
                s.end();
                match s.family {
                    Family::Rest => stats.rest_deleted.fetch_add(1, Ordering::Relaxed),
                    Family::Vim => stats.vim_deleted.fetch_add(1, Ordering::Relaxed),
                };
                true
            }
            None => false,
        }
    }

    /// Ends every session (the "expire all now" fault and restarts).
    pub fn expire_all(&self, stats: &StatsCounters) {
        let drained: Vec<Arc<Session>> = match self.map.lock() {
            Ok(mut m) => m.drain().map(|(_, s)| s).collect(),
            Err(_) => return,
        };
        for s in drained {
            s.end();
            count_expired(s.family, stats);
        }
    }

    /// Ends sessions idle longer than `idle_timeout`.
    pub fn sweep(&self, idle_timeout: Duration, stats: &StatsCounters) {
        let expired: Vec<Arc<Session>> = match self.map.lock() {
            Ok(mut m) => {
                let ids: Vec<String> = m
                    .iter()
                    .filter(|(_, s)| s.idle_for() > idle_timeout)
                    .map(|(k, _)| k.clone())
                    .collect();
                ids.iter().filter_map(|k| m.remove(k)).collect()
            }
            Err(_) => return,
        };
        for s in expired {
            s.end();
            count_expired(s.family, stats);
        }
    }

    /// Adds live session counts and session-scoped object counts to `out`.
    pub fn fill(&self, out: &mut SimStats) {
        let Ok(map) = self.map.lock() else { return };
        for s in map.values() {
            match s.family {
                Family::Rest => out.sessions.rest.active += 1,
                Family::Vim => out.sessions.vim.active += 1,
            }
            if let Ok(o) = s.objects.lock() {
                out.views += o.views.len() as u64;
                out.filters += o.filters.len() as u64;
                out.property_collectors += o.collectors.len() as u64;
                out.event_collectors += o.event_collectors.len() as u64;
                out.task_collectors += o.task_collectors.len() as u64;
                out.retrieve_tokens += o.retrieve_tokens.len() as u64;
            }
        }
    }
}

fn count_expired(family: Family, stats: &StatsCounters) {
    match family {
        Family::Rest => stats.rest_expired.fetch_add(1, Ordering::Relaxed),
        Family::Vim => stats.vim_expired.fetch_add(1, Ordering::Relaxed),
    };
}

/// vCenter privilege ids a role holds on every object.
pub fn privileges_for(role: Role) -> &'static [&'static str] {
    match role {
        Role::Admin => &[
            "System.Anonymous",
            "System.View",
            "System.Read",
            "Global.Diagnostics",
            "Global.Settings",
            "Performance.ModifyIntervals",
            "Sessions.TerminateSession",
            "VirtualMachine.Inventory.Create",
            "VirtualMachine.Interact.PowerOn",
            "VirtualMachine.Interact.PowerOff",
            "VirtualMachine.State.CreateSnapshot",
            "Host.Config.Maintenance",
            "Alarm.Acknowledge",
            "InventoryService.Tagging.AttachTag",
        ],
        Role::Readonly | Role::Noperf => &["System.Anonymous", "System.View", "System.Read"],
        Role::None => &["System.Anonymous"],
    }
}
