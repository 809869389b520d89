//! Counters the tests read through `/_sim/stats` to prove that nothing leaks: sessions per
//! family, live session-scoped objects, logins, and requests per endpoint.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use super::faults::PerFamily;

/// Session counts of one family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SessionCounts {
    /// Sessions alive now.
    pub active: u64,
    /// Sessions ever created.
    pub created: u64,
    /// Sessions ended by logout.
    pub deleted: u64,
    /// Sessions ended by idle timeout, "expire now" or restart.
    pub expired: u64,
}

/// A snapshot of the counters.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SimStats {
    /// Sessions per family.
    pub sessions: PerFamily<SessionCounts>,
    /// Login attempts per family, successful or not.
    pub login_attempts: PerFamily<u64>,
    /// Failed login attempts per family (wrong password, session limit).
    pub failed_logins: PerFamily<u64>,
    /// Live ContainerViews.
    pub views: u64,
    /// Live PropertyFilters.
    pub filters: u64,
    /// Live private PropertyCollectors.
    pub property_collectors: u64,
    /// Live EventHistoryCollectors.
    pub event_collectors: u64,
    /// Live TaskHistoryCollectors.
    pub task_collectors: u64,
    /// Live `RetrievePropertiesEx` continuation tokens.
    pub retrieve_tokens: u64,
    /// Simulated restarts so far.
    pub restarts: u64,
    /// Requests per endpoint (`rest:GET /api/vcenter/vm`, `vim:PropertyCollector.RetrievePropertiesEx`).
    pub requests: BTreeMap<String, u64>,
    /// All requests.
    pub requests_total: u64,
}

/// Live counters.
#[derive(Debug, Default)]
pub struct StatsCounters {
    pub(crate) rest_created: AtomicU64,
    pub(crate) rest_deleted: AtomicU64,
    pub(crate) rest_expired: AtomicU64,
    pub(crate) vim_created: AtomicU64,
    pub(crate) vim_deleted: AtomicU64,
    pub(crate) vim_expired: AtomicU64,
    pub(crate) rest_logins: AtomicU64,
    pub(crate) vim_logins: AtomicU64,
    pub(crate) rest_failed_logins: AtomicU64,
    pub(crate) vim_failed_logins: AtomicU64,
    pub(crate) restarts: AtomicU64,
    requests: Mutex<BTreeMap<String, u64>>,
    requests_total: AtomicU64,
}

impl StatsCounters {
    /// Counts one request to `endpoint`.
    pub fn request(&self, endpoint: String) {
        self.requests_total.fetch_add(1, Ordering::Relaxed);
        // A plain mutex: the critical section is one map update and never awaits.
        if let Ok(mut m) = self.requests.lock() {
            *m.entry(endpoint).or_insert(0) += 1;
        }
    }

    pub(crate) fn fill(&self, s: &mut SimStats) {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        s.sessions.rest.created = l(&self.rest_created);
        s.sessions.rest.deleted = l(&self.rest_deleted);
        s.sessions.rest.expired = l(&self.rest_expired);
        s.sessions.vim.created = l(&self.vim_created);
        s.sessions.vim.deleted = l(&self.vim_deleted);
        s.sessions.vim.expired = l(&self.vim_expired);
        s.login_attempts.rest = l(&self.rest_logins);
        s.login_attempts.vim = l(&self.vim_logins);
        s.failed_logins.rest = l(&self.rest_failed_logins);
        s.failed_logins.vim = l(&self.vim_failed_logins);
        s.restarts = l(&self.restarts);
        s.requests_total = l(&self.requests_total);
        if let Ok(m) = self.requests.lock() {
            s.requests = m.clone();
        }
    }
}
