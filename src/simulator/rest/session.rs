//! `/api/session` (log in with Basic auth, info, log out), release negotiation (`hello`) and
//! the appliance version.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde_json::{json, Value};

use super::{error, unauthenticated, RestSession};
use crate::simulator::inventory::objects::ts;
use crate::simulator::sessions::{Family, LoginError};
use crate::simulator::state::SimState;

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// `POST /api/session`: 201 with the token as a JSON string.
pub async fn create(State(state): State<Arc<SimState>>, headers: HeaderMap) -> Response {
    let Some((user, password)) = basic_credentials(&headers) else {
        return unauthenticated();
    };
    let agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let faults = state.faults();
    match state.sessions.login(
        &state.config.users,
        Family::Rest,
        &user,
        &password,
        agent,
        faults.session_limit,
        &state.stats,
    ) {
        Ok(s) => (StatusCode::CREATED, Json(json!(s.token))).into_response(),
        Err(LoginError::InvalidLogin) => unauthenticated(),
        Err(LoginError::SessionLimit(n)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "com.vmware.vapi.endpoint.session.limit",
            &format!("User session count is limited to {n}."),
        ),
    }
}

/// `GET /api/session`.
pub async fn info(session: RestSession) -> Response {
    let s = &session.0;
    Json(json!({
        "user": format!("VSPHERE.LOCAL\\{}", s.user),
        "created_time": ts(s.login_time),
        "last_accessed_time": ts(s.last_active()),
    }))
    .into_response()
}

/// `DELETE /api/session`: 204.
pub async fn delete(State(state): State<Arc<SimState>>, session: RestSession) -> Response {
    state.sessions.logout(&session.0.token, &state.stats);
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /api/vcenter/system?action=hello`: picks the newest VI JSON release both sides speak.
pub async fn system_action(
    State(state): State<Arc<SimState>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if query.as_deref() != Some("action=hello") {
        return super::not_found().await;
    }
    // `hello` arrived with vCenter 8.0U1 alongside VI JSON; 7.0.3 does not have it, and a
    // vCenter can be configured to lack it (`SimConfig::hello`).
    if !state.config.api_release.has_vi_json() || !state.config.hello {
        return super::not_found().await;
    }
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "vapi.bindings.typeconverter.invalid.json",
                "The request body is not valid JSON.",
            )
        }
    };
    let Some(asked) = req.get("api_releases").and_then(Value::as_array) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "vapi.data.structure.field.missing",
            "Field api_releases missing from structure.",
        );
    };
    let served = state.config.api_release.vi_json_releases();
    let chosen = served
        .iter()
        .rev()
        .find(|r| asked.iter().any(|a| a.as_str() == Some(r)))
        .copied()
        .unwrap_or("");
    Json(json!({"api_release": chosen})).into_response()
}

/// `GET /api/appliance/system/version`.
pub async fn appliance_version(
    State(state): State<Arc<SimState>>,
    session: RestSession,
) -> Response {
    let _ = session;
    let r = state.config.api_release;
    let started = state.started.lock().map(|s| *s).unwrap_or_default();
    Json(json!({
        "version": format!("{}.00000", r.product_version()),
        "product": "VMware vCenter Server",
        "build": r.build(),
        "type": "vCenter Server with an embedded Platform Services Controller",
        "summary": "",
        "releasedate": "",
        "install_time": ts(started),
    }))
    .into_response()
}
