//! Run-time control of a simulator: the `SimControl` handle for in-process tests and the
//! loopback-only `/_sim/` HTTP API for everything else (see `docs/simulator.md`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::change;
use super::faults::{FaultSettings, Latency};
use super::sessions::Family;
use super::state::SimState;
use super::stats::SimStats;

/// Object counts by managed object type, as the simulator sees them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct InventoryCounts {
    /// `about.instanceUuid`.
    pub instance_uuid: String,
    /// Current change version.
    pub version: u64,
    /// Count per type (`HostSystem`, `VirtualMachine`, `Datastore`, ...).
    pub by_type: BTreeMap<String, usize>,
}

/// In-process control of one simulator (cheap to clone).
#[derive(Clone)]
pub struct SimControl {
    state: Arc<SimState>,
}

impl SimControl {
    pub(crate) fn new(state: Arc<SimState>) -> Self {
        SimControl { state }
    }

    /// The shared state, for tests that inspect the inventory directly.
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// Counters.
    pub fn stats(&self) -> SimStats {
        self.state.stats()
    }

    /// Current faults.
    pub fn faults(&self) -> FaultSettings {
        self.state.faults()
    }

    /// Applies a JSON merge patch to the faults.
    ///
    /// # Errors
    /// A message when the patched settings are invalid; nothing changes then.
    pub fn patch_faults(&self, patch: &Value) -> Result<FaultSettings, String> {
        let next = self.state.faults().patched(patch)?;
        self.state.set_faults(next.clone());
        Ok(next)
    }

    fn edit(&self, f: impl FnOnce(&mut FaultSettings)) {
        let mut next = self.state.faults();
        f(&mut next);
        self.state.set_faults(next);
    }

    /// Ends every session now, as an idle timeout would.
    pub fn expire_sessions(&self) {
        self.state.sessions.expire_all(&self.state.stats);
    }

    /// Simulates a vCenter restart: sessions, views, filters, collectors and tokens are gone.
    pub fn restart(&self) {
        self.state.restart();
    }

    /// Limits concurrent sessions per family (`None` = unlimited).
    pub fn set_session_limit(&self, limit: Option<usize>) {
        self.edit(|f| f.session_limit = limit);
    }

    /// Sets the session idle timeout.
    pub fn set_idle_timeout(&self, idle: Duration) {
        self.edit(|f| f.idle_timeout_secs = idle.as_secs().max(1));
    }

    /// Adds latency to one family.
    pub fn set_latency(&self, family: Family, latency: Latency) {
        self.edit(|f| match family {
            Family::Rest => f.latency.rest = latency,
            Family::Vim => f.latency.vim = latency,
        });
    }

    /// Makes a share of one family's requests fail with 503.
    pub fn set_error_rate(&self, family: Family, rate: f64) {
        self.edit(|f| match family {
            Family::Rest => f.error_rate.rest = rate.clamp(0.0, 1.0),
            Family::Vim => f.error_rate.vim = rate.clamp(0.0, 1.0),
        });
    }

    /// Makes one family answer with truncated JSON.
    pub fn set_malformed(&self, family: Family, on: bool) {
        self.edit(|f| match family {
            Family::Rest => f.malformed.rest = on,
            Family::Vim => f.malformed.vim = on,
        });
    }

    /// Denies every user read access to object `moid`.
    pub fn deny_object(&self, moid: &str) {
        self.edit(|f| {
            f.no_permission_objects.insert(moid.to_string());
        });
    }

    /// Denies `user` read access to everything.
    pub fn deny_user(&self, user: &str) {
        self.edit(|f| {
            f.no_permission_users.insert(user.to_string());
        });
    }

    /// Sets `config.vpxd.stats.maxQueryMetrics` (-1 = unlimited).
    pub fn set_max_query_metrics(&self, value: i64) {
        self.edit(|f| f.max_query_metrics = value);
    }

    /// Replaces the certificate with a new self-signed one and returns its thumbprint. As on
    /// vCenter, the services restart with it: open connections close and sessions end.
    ///
    /// # Errors
    /// When a certificate cannot be generated.
    pub fn rotate_certificate(&self) -> Result<String, super::tls::TlsError> {
        self.state.rotate_certificate()
    }

    /// Makes `count` random inventory changes now (power, moves, datastore fill, alarms,
    /// host connection, snapshots), each visible in the change feed, events and tasks.
    pub fn apply_changes(&self, count: usize) -> usize {
        change::apply_random(&self.state, count)
    }

    /// Powers a VM on or off (`poweredOn`, `poweredOff`, `suspended`).
    pub fn set_vm_power(&self, vm: &str, power: &str) -> bool {
        change::set_vm_power(&self.state, vm, power)
    }

    /// vMotions a VM to `host`.
    pub fn migrate_vm(&self, vm: &str, host: &str) -> bool {
        change::migrate_vm(&self.state, vm, host)
    }

    /// Marks a host not responding (its VMs disconnected) and raises the connection alarm.
    pub fn disconnect_host(&self, host: &str) -> bool {
        change::disconnect_host(&self.state, host)
    }

    /// Reconnects a host.
    pub fn reconnect_host(&self, host: &str) -> bool {
        change::reconnect_host(&self.state, host)
    }

    /// Raises (`red`, `yellow`) or clears (`green`) alarm `alarm` (e.g. `alarm-2`) on `entity`.
    pub fn set_alarm(&self, entity: &str, alarm: &str, status: &str) -> bool {
        change::set_alarm(&self.state, entity, alarm, status)
    }

    /// Acknowledges the triggered alarm `alarm` on `entity` as `user`.
    pub fn acknowledge_alarm(&self, entity: &str, alarm: &str, user: &str) -> bool {
        change::acknowledge_alarm(&self.state, entity, alarm, user)
    }

    /// Sets a datastore's free bytes.
    pub fn set_datastore_free(&self, ds: &str, free: i64) -> bool {
        change::set_datastore_free(&self.state, ds, free)
    }

    /// Takes a snapshot of a VM.
    pub fn take_snapshot(&self, vm: &str, name: &str) -> bool {
        change::take_snapshot(&self.state, vm, name)
    }

    /// Renames an object.
    pub fn rename(&self, moid: &str, name: &str) -> bool {
        change::rename(&self.state, moid, name)
    }

    /// Moves every task `by` into the past, as if that much time had gone by since each ran:
    /// tasks older than ten minutes leave `recentTask` and stay in the task history.
    pub fn age_tasks(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
        self.state.inv_mut().age_tasks(by);
    }

    /// Object counts by type.
    pub fn inventory_counts(&self) -> InventoryCounts {
        let inv = self.state.inv();
        InventoryCounts {
            instance_uuid: self.state.instance_uuid.clone(),
            version: inv.version,
            by_type: inv.types().map(|t| (t.to_string(), inv.count(t))).collect(),
        }
    }
}

/// The `/_sim/` routes.
pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/_sim/stats", get(stats))
        .route("/_sim/inventory", get(inventory))
        .route("/_sim/faults", get(get_faults).post(post_faults))
        .route("/_sim/expire-sessions", post(expire))
        .route("/_sim/restart", post(restart))
        .route("/_sim/rotate-certificate", post(rotate))
        .route("/_sim/changes", post(changes))
        .route_layer(axum::middleware::from_fn(loopback_only))
}

/// Only loopback peers may drive the simulator.
async fn loopback_only(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    if peer.is_some_and(|p| p.ip().is_loopback()) {
        next.run(req).await
    } else {
        (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "the /_sim/ API is loopback-only"})),
        )
            .into_response()
    }
}

async fn stats(State(s): State<Arc<SimState>>) -> Response {
    Json(s.stats()).into_response()
}

async fn inventory(State(s): State<Arc<SimState>>) -> Response {
    Json(SimControl::new(s).inventory_counts()).into_response()
}

async fn get_faults(State(s): State<Arc<SimState>>) -> Response {
    Json(s.faults()).into_response()
}

async fn post_faults(State(s): State<Arc<SimState>>, body: axum::body::Bytes) -> Response {
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("body is not JSON: {e}")})),
            )
                .into_response()
        }
    };
    match SimControl::new(s).patch_faults(&patch) {
        Ok(f) => Json(f).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
    }
}

async fn expire(State(s): State<Arc<SimState>>) -> Response {
    SimControl::new(s).expire_sessions();
    StatusCode::NO_CONTENT.into_response()
}

async fn restart(State(s): State<Arc<SimState>>) -> Response {
    s.restart();
    StatusCode::NO_CONTENT.into_response()
}

async fn rotate(State(s): State<Arc<SimState>>) -> Response {
    match s.rotate_certificate() {
        Ok(t) => Json(json!({"thumbprint": t})).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct ChangesBody {
    count: usize,
}

async fn changes(State(s): State<Arc<SimState>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<ChangesBody>(&body) {
        Ok(b) if b.count <= 100_000 => {
            let applied = change::apply_random(&s, b.count);
            let inv = s.inv();
            // The newest event's key: events are keyed in order, so a driver can tell how
            // many its changes logged.
            let newest_event = inv.events.back().and_then(|e| e["key"].as_i64());
            Json(json!({"applied": applied, "version": inv.version, "newest_event": newest_event}))
                .into_response()
        }
        Ok(_) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "count must be at most 100000"})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("expected {{\"count\": N}}: {e}")})),
        )
            .into_response(),
    }
}
