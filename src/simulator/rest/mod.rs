//! The vSphere Automation REST API (`/api`): sessions, inventory lists, VM detail and guest,
//! appliance version, release negotiation and tagging. Errors use the REST error body
//! (`error_type`, `messages`) with the status codes of the official swagger files.

mod enums;
mod guest;
mod inventory;
mod lists;
mod query;
mod session;
mod tagging;
mod topology;
mod vm;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::sessions::{Family, Session};
use super::state::SimState;

/// The `/api` routes.
pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route(
            "/api/session",
            post(session::create)
                .get(session::info)
                .delete(session::delete),
        )
        .route("/api/vcenter/system", post(session::system_action))
        .route(
            "/api/appliance/system/version",
            get(session::appliance_version),
        )
        .route("/api/vcenter/vm", get(inventory::vms))
        .route("/api/vcenter/vm/{vm}", get(vm::get))
        .route("/api/vcenter/vm/{vm}/guest/identity", get(guest::identity))
        .route(
            "/api/vcenter/vm/{vm}/guest/local-filesystem",
            get(guest::local_filesystem),
        )
        .route("/api/vcenter/host", get(inventory::hosts))
        .route("/api/vcenter/datastore", get(inventory::datastores))
        .route("/api/vcenter/cluster", get(inventory::clusters))
        .route("/api/vcenter/datacenter", get(inventory::datacenters))
        .route("/api/vcenter/folder", get(inventory::folders))
        .route("/api/vcenter/resource-pool", get(inventory::resource_pools))
        .route("/api/vcenter/network", get(inventory::networks))
        .route("/api/cis/tagging/category", get(tagging::categories))
        .route("/api/cis/tagging/category/{id}", get(tagging::category))
        .route("/api/cis/tagging/tag", get(tagging::tags))
        .route("/api/cis/tagging/tag/{id}", get(tagging::tag))
        .route(
            "/api/cis/tagging/tag-association",
            post(tagging::association_action),
        )
}

/// vCenter 6.7's `/api`: the vAPI JSON-RPC endpoint, which knows no REST paths and answers any
/// request that is not a JSON-RPC call with HTTP 500 and a JSON-RPC error.
pub fn json_rpc_router() -> Router<Arc<SimState>> {
    async fn json_rpc_error() -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": {"code": -32600, "message": "Invalid request: not a JSON-RPC 2.0 request"},
            })),
        )
            .into_response()
    }
    Router::new()
        .route("/api", axum::routing::any(json_rpc_error))
        .route("/api/{*rest}", axum::routing::any(json_rpc_error))
}

/// A REST error response (`{"error_type", "messages": [LocalizableMessage]}`).
pub fn error(status: StatusCode, error_type: &str, id: &str, message: &str) -> Response {
    (
        status,
        Json(json!({
            "error_type": error_type,
            "messages": [{"id": id, "default_message": message, "args": []}],
        })),
    )
        .into_response()
}

/// 404 for unknown paths, as vCenter's API gateway answers them.
pub async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "com.vmware.vapi.rest.httpNotFound",
        "Not found.",
    )
}

/// 401 `UNAUTHENTICATED`.
pub fn unauthenticated() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "com.vmware.vapi.endpoint.method.authentication.required",
        "Authentication required.",
    )
}

/// 403 `UNAUTHORIZED` (logged in but lacking the privilege).
pub fn unauthorized() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "UNAUTHORIZED",
        "vapi.security.authorization.invalid",
        "Unable to authorize user",
    )
}

/// A request's REST session; rejects with 401 when the token is missing, unknown or idle.
pub struct RestSession(pub Arc<Session>);

impl FromRequestParts<Arc<SimState>> for RestSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<SimState>,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get("vmware-api-session-id")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(unauthenticated)?;
        state
            .authenticate(token, Family::Rest)
            .map(RestSession)
            .ok_or_else(unauthenticated)
    }
}

impl RestSession {
    /// 403 unless the user may read `moid`.
    pub fn require_read(&self, state: &SimState, moid: &str) -> Result<(), Response> {
        if state.can_read(&self.0, moid) {
            Ok(())
        } else {
            Err(unauthorized())
        }
    }

    /// 403 unless the user may read anything at all.
    pub fn require_any(&self, state: &SimState) -> Result<(), Response> {
        if state.can_read_any(&self.0) {
            Ok(())
        } else {
            Err(unauthorized())
        }
    }
}
