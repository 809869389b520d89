//! Fault injection settings, changeable at run time through `/_sim/faults` (a JSON merge patch)
//! or `SimControl`. Each field is one kind of trouble a real vCenter causes.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Added latency for one API family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    /// Fixed delay per request, milliseconds.
    pub fixed_ms: u64,
    /// Extra uniformly random delay up to this many milliseconds.
    pub jitter_ms: u64,
}

/// A setting per API family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PerFamily<T> {
    /// Automation REST (`/api`).
    pub rest: T,
    /// VI JSON (`/sdk/vim25`).
    pub vim: T,
}

/// Every injectable fault. The defaults are a healthy vCenter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultSettings {
    /// Added latency per family.
    pub latency: PerFamily<Latency>,
    /// Probability (0..=1) that a request fails with HTTP 503 (backend down).
    pub error_rate: PerFamily<f64>,
    /// When set, responses of that family carry a truncated, unparsable JSON body.
    pub malformed: PerFamily<bool>,
    /// Session idle timeout in seconds (vCenter default 1800).
    pub idle_timeout_secs: u64,
    /// Concurrent sessions allowed per family; more logins get 503. `None` = unlimited.
    pub session_limit: Option<usize>,
    /// moIds whose properties no user may read (`NoPermission` / `missingSet`).
    pub no_permission_objects: BTreeSet<String>,
    /// Users who may read nothing, whatever their role.
    pub no_permission_users: BTreeSet<String>,
    /// `config.vpxd.stats.maxQueryMetrics` (-1 = unlimited); enforced on historical `QueryPerf`.
    pub max_query_metrics: i64,
    /// When set, `OptionManager.QueryOptions` for `maxQueryMetrics` fails (clients must assume 256).
    pub max_query_metrics_unreadable: bool,
    /// VI JSON calls (`Type.method` or `Type.property`, e.g. `EventManager.CreateCollectorForEvents`)
    /// that answer vCenter's `SystemError` fault: a service failing behind a healthy API endpoint.
    pub failing_methods: BTreeSet<String>,
    /// Endpoints, named as `/_sim/stats` counts them (`rest:POST /api/session`,
    /// `vim:SessionManager.Login`), that answer HTTP 503 like the error rate does: the service
    /// behind one endpoint is down while the rest of vCenter answers (e.g. REST logins fail while
    /// VI JSON works).
    pub unavailable_endpoints: BTreeSet<String>,
    /// Caps every REST list call (`GET /api/vcenter/vm`, ...) at this many matches, below the
    /// per-list caps of vCenter (4,000 VMs, 2,500 hosts, 1,000 of the rest), so a small
    /// inventory can stand for one above them. `None`: vCenter's caps.
    pub rest_list_cap: Option<usize>,
    /// VI JSON requests with a body longer than this many bytes answer `InvalidRequest`, as
    /// vCenter refuses a request document with more elements than it allows ("XML document
    /// element count exceeds configured maximum 500000"). `None`: no limit.
    pub max_request_bytes: Option<usize>,
    /// The statistics level (1-4) of the history intervals (vCenter's default is 1).
    pub statistics_level: i32,
    /// Counter levels an admin changed (`PerformanceManager.UpdateCounterLevelMapping`), by
    /// full name (`sys.uptime.latest` -> 4): a counter above the statistics level is not kept
    /// in history.
    pub counter_levels: BTreeMap<String, i32>,
}

impl Default for FaultSettings {
    fn default() -> Self {
        FaultSettings {
            latency: PerFamily::default(),
            error_rate: PerFamily::default(),
            malformed: PerFamily::default(),
            idle_timeout_secs: 30 * 60,
            session_limit: None,
            no_permission_objects: BTreeSet::new(),
            no_permission_users: BTreeSet::new(),
            max_query_metrics: 256,
            max_query_metrics_unreadable: false,
            failing_methods: BTreeSet::new(),
            unavailable_endpoints: BTreeSet::new(),
            rest_list_cap: None,
            max_request_bytes: None,
            statistics_level: 1,
            counter_levels: BTreeMap::new(),
        }
    }
}

impl FaultSettings {
    /// Applies a JSON merge patch (RFC 7396) and validates the result.
    ///
    /// # Errors
    /// A message naming what is wrong when the patched settings do not parse or are out of range.
    pub fn patched(&self, patch: &serde_json::Value) -> Result<FaultSettings, String> {
        let mut current = serde_json::to_value(self).map_err(|e| e.to_string())?;
        merge(&mut current, patch);
        let next: FaultSettings =
            serde_json::from_value(current).map_err(|e| format!("invalid fault settings: {e}"))?;
        for (name, rate) in [("rest", next.error_rate.rest), ("vim", next.error_rate.vim)] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("error_rate.{name} must be between 0 and 1"));
            }
        }
        let levels = std::iter::once(("statistics_level", next.statistics_level))
            .chain(next.counter_levels.iter().map(|(k, v)| (k.as_str(), *v)));
        for (name, level) in levels {
            if !(1..=4).contains(&level) {
                return Err(format!("{name}: a statistics level is 1 to 4"));
            }
        }
        if next.max_query_metrics == 0 || next.max_query_metrics < -1 {
            return Err("max_query_metrics must be -1 (unlimited) or positive".into());
        }
        Ok(next)
    }
}

fn merge(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match (target, patch) {
        (serde_json::Value::Object(t), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}
