//! The shared shape of the `/api/vcenter/{type}` list calls: permission-filtered matching and
//! vCenter's per-list caps (more matches than the cap is HTTP 500 `UNABLE_TO_ALLOCATE_RESOURCE`,
//! not a truncated page).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::{error, RestSession};
use crate::simulator::inventory::{Inventory, ManagedObject};
use crate::simulator::state::SimState;

/// One list call's object types and cap.
pub struct ListKind {
    /// Managed object types listed.
    pub types: &'static [&'static str],
    /// Most matches served before the call fails (swagger: "at most N visible ...").
    pub cap: usize,
    /// vAPI resource name in message ids (`vm` in `com.vmware.api.vcenter.vm.too_many_matches`).
    pub resource: &'static str,
    /// Plural noun for the message text.
    pub noun: &'static str,
}

/// 500 `UNABLE_TO_ALLOCATE_RESOURCE`. The VM message is observed on vCenter; the others follow
/// its pattern.
fn too_many(kind: &ListKind) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "UNABLE_TO_ALLOCATE_RESOURCE",
        &format!("com.vmware.api.vcenter.{}.too_many_matches", kind.resource),
        &format!(
            "Too many {}. Add more filter criteria to reduce the number.",
            kind.noun
        ),
    )
}

/// Lists the objects of `kind` the session may read and `keep` admits, as `summary` renders them.
pub fn list(
    state: &SimState,
    session: &RestSession,
    kind: &ListKind,
    keep: impl Fn(&Inventory, &ManagedObject) -> bool,
    summary: impl Fn(&Inventory, &ManagedObject) -> Value,
) -> Response {
    if let Err(denied) = session.require_any(state) {
        return denied;
    }
    let cap = state
        .faults()
        .rest_list_cap
        .map_or(kind.cap, |c| c.min(kind.cap));
    let inv = state.inv();
    let mut out = Vec::new();
    for ty in kind.types {
        for obj in inv.of_type(ty) {
            if !state.can_read(&session.0, &obj.moref.value) || !keep(&inv, obj) {
                continue;
            }
            if out.len() == cap {
                return too_many(kind);
            }
            out.push(summary(&inv, obj));
        }
    }
    Json(out).into_response()
}
