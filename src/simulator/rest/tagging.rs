//! The cis tagging API (`/api/cis/tagging/...`): categories, tags and the tags attached to
//! objects, shaped per `vcenter-automation-8.0.2.cis.swagger2.json`. Lists hold only what the
//! user may read, so a user without any read privilege sees empty lists rather than 403.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::query::invalid_argument;
use super::{error, not_found, RestSession};
use crate::simulator::inventory::{MoRef, Tag, TagCategory};
use crate::simulator::state::SimState;

fn tag_not_found(what: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "com.vmware.cis.tagging.objectNotFound",
        &format!("The {what} with identifier {id} does not exist."),
    )
}

fn category_json(c: &TagCategory) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "description": c.description,
        "cardinality": c.cardinality,
        "associable_types": c.associable_types,
        "used_by": [],
    })
}

fn tag_json(t: &Tag) -> Value {
    json!({
        "id": t.id,
        "category_id": t.category_id,
        "name": t.name,
        "description": t.description,
        "used_by": [],
    })
}

/// The ids of `items`, or none for a user who may read nothing.
fn readable_ids<'a>(
    state: &SimState,
    session: &RestSession,
    items: impl Iterator<Item = &'a String>,
) -> Response {
    let ids: Vec<&String> = if state.can_read_any(&session.0) {
        items.collect()
    } else {
        Vec::new()
    };
    Json(ids).into_response()
}

/// One item rendered, 404 when absent, 403 for a user who may read nothing.
fn readable_one<T>(
    state: &SimState,
    session: &RestSession,
    (what, id): (&str, &str),
    item: Option<&T>,
    render: impl FnOnce(&T) -> Value,
) -> Response {
    let Some(item) = item else {
        return tag_not_found(what, id);
    };
    match session.require_any(state) {
        Ok(()) => Json(render(item)).into_response(),
        Err(denied) => denied,
    }
}

/// `GET /api/cis/tagging/category`.
pub async fn categories(State(state): State<Arc<SimState>>, session: RestSession) -> Response {
    let inv = state.inv();
    readable_ids(&state, &session, inv.tagging.categories.keys())
}

/// `GET /api/cis/tagging/category/{category_id}`.
pub async fn category(
    State(state): State<Arc<SimState>>,
    session: RestSession,
    Path(id): Path<String>,
) -> Response {
    let inv = state.inv();
    let found = inv.tagging.categories.get(&id);
    readable_one(&state, &session, ("category", &id), found, category_json)
}

/// `GET /api/cis/tagging/tag`.
pub async fn tags(State(state): State<Arc<SimState>>, session: RestSession) -> Response {
    let inv = state.inv();
    readable_ids(&state, &session, inv.tagging.tags.keys())
}

/// `GET /api/cis/tagging/tag/{tag_id}`.
pub async fn tag(
    State(state): State<Arc<SimState>>,
    session: RestSession,
    Path(id): Path<String>,
) -> Response {
    let inv = state.inv();
    let found = inv.tagging.tags.get(&id);
    readable_one(&state, &session, ("tag", &id), found, tag_json)
}

/// `VapiStdDynamicID`.
#[derive(Deserialize)]
struct DynamicId {
    r#type: String,
    id: String,
}

#[derive(Deserialize)]
struct ListAttached {
    object_ids: Vec<DynamicId>,
}

/// `POST /api/cis/tagging/tag-association?action=list-attached-tags-on-objects`: one entry per
/// input object the user may read (the swagger requires read privilege on each).
pub async fn association_action(
    State(state): State<Arc<SimState>>,
    session: RestSession,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if query.as_deref() != Some("action=list-attached-tags-on-objects") {
        return not_found().await;
    }
    let req: ListAttached = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return invalid_argument(&format!("Invalid request body: {e}")),
    };
    let inv = state.inv();
    let out: Vec<Value> = req
        .object_ids
        .iter()
        .filter(|o| state.can_read(&session.0, &o.id))
        .map(|o| {
            let tags = inv.tagging.tags_of(&MoRef::new(&o.r#type, o.id.clone()));
            json!({"object_id": {"type": o.r#type, "id": o.id}, "tag_ids": tags})
        })
        .collect();
    Json(out).into_response()
}
