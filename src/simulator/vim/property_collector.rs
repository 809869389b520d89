//! `PropertyCollector.RetrievePropertiesEx`, `ContinueRetrievePropertiesEx` and
//! `CancelRetrievePropertiesEx`: paged property retrieval over ContainerViews or single objects.
//! Continuation tokens are single-use and live in the session; a property the user may not read
//! goes to `missingSet` and never fails the call.

use std::collections::VecDeque;

use chrono::Utc;
use serde_json::{json, Value};

use super::any::boxed;
use super::fault::VimFault;
use super::objects::{Pending, RetrieveCursor};
use super::view_manager::members;
use super::{Call, Reply, VimResult};
use crate::simulator::inventory::{Inventory, ManagedObject, MoRef};
use crate::simulator::load;
use crate::simulator::sessions::Session;
use crate::simulator::state::SimState;

/// Properties that may be unset on an object and still be valid paths.
const OPTIONAL: &[&str] = &[
    "snapshot",
    "parent",
    "resourcePool",
    "guest",
    "storage",
    "configurationEx",
    "summary",
    "info",
    "host",
    "vm",
    "datastore",
    "network",
];

pub(super) fn no_permission(obj: &MoRef) -> Value {
    json!({
        "_typeName": "LocalizedMethodFault",
        "fault": {"_typeName": "NoPermission", "object": obj.to_json(), "privilegeId": "System.Read"},
        "localizedMessage": "Permission to perform this operation was denied.",
    })
}

/// The property paths requested for an object of `kind` by a `propSet`, or `None` when the
/// spec does not cover the type. `Some(None)` means all properties.
fn paths_for<'a>(prop_set: &'a [Value], kind: &str) -> Option<Option<Vec<&'a str>>> {
    let spec = prop_set.iter().find(|p| {
        let t = p.get("type").and_then(Value::as_str).unwrap_or("");
        t == kind || t == "ManagedEntity" && kind != "Alarm"
    })?;
    if spec.get("all").and_then(Value::as_bool) == Some(true) {
        return Some(None);
    }
    Some(Some(
        spec.get("pathSet")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default(),
    ))
}

fn content(
    state: &SimState,
    session: &Session,
    obj: &ManagedObject,
    paths: &Option<Vec<String>>,
) -> Result<Value, VimFault> {
    let mut props = Vec::new();
    let mut missing = Vec::new();
    let now = Utc::now();
    let readable = state.can_read(session, &obj.moref.value);
    let paths: Vec<String> = match paths {
        Some(p) => p.clone(),
        None => obj.props.keys().cloned().collect(),
    };
    for path in &paths {
        let first = path.split('.').next().unwrap_or("");
        if !obj.props.contains_key(first) && !OPTIONAL.contains(&first) {
            return Err(VimFault::invalid_property(path));
        }
        if !readable {
            missing.push(json!({"_typeName": "MissingProperty", "path": path, "fault": no_permission(&obj.moref)}));
            continue;
        }
        if let Some(v) = load::live_path(obj, path, now) {
            props.push(json!({"_typeName": "DynamicProperty", "name": path, "val": boxed(&obj.moref.kind, path, &v)}));
        }
    }
    let mut c = json!({"_typeName": "ObjectContent", "obj": obj.moref.to_json()});
    if let Some(o) = c.as_object_mut() {
        if !props.is_empty() {
            o.insert("propSet".into(), Value::Array(props));
        }
        if !missing.is_empty() {
            o.insert("missingSet".into(), Value::Array(missing));
        }
    }
    Ok(c)
}

/// The objects one ObjectSpec selects: the view's members when it traverses a ContainerView's
/// `view`, otherwise the object itself.
fn selected(inv: &Inventory, session: &Session, spec: &Value) -> Result<Vec<MoRef>, VimFault> {
    let obj = spec
        .get("obj")
        .and_then(MoRef::from_json)
        .ok_or_else(|| VimFault::invalid_argument("specSet.objectSet.obj"))?;
    let skip = spec.get("skip").and_then(Value::as_bool).unwrap_or(false);
    let traverses_view = spec
        .get("selectSet")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|t| t.get("path").and_then(Value::as_str) == Some("view"))
        });
    let mut out = Vec::new();
    if obj.kind == "ContainerView" {
        let view = session
            .objects
            .lock()
            .map_err(|_| VimFault::invalid_state("session busy"))?
            .views
            .get(&obj.value)
            .cloned()
            .ok_or_else(|| VimFault::not_found(&obj))?;
        if traverses_view {
            out.extend(members(inv, &view));
        }
        return Ok(out);
    }
    if inv.get_ref(&obj).is_none() {
        return Err(VimFault::not_found(&obj));
    }
    if !skip {
        out.push(obj);
    }
    Ok(out)
}

/// `RetrievePropertiesEx {specSet, options{maxObjects}}`.
pub fn retrieve_properties_ex(call: &Call, body: &Value) -> VimResult {
    let session = call.session()?;
    let max = match body.get("options").and_then(|o| o.get("maxObjects")) {
        None | Some(Value::Null) => usize::MAX,
        Some(v) => match v.as_i64() {
            Some(n) if n > 0 => n as usize,
            _ => return Err(VimFault::invalid_argument("options.maxObjects")),
        },
    };
    let specs = body
        .get("specSet")
        .and_then(Value::as_array)
        .ok_or_else(|| VimFault::invalid_argument("specSet"))?;
    let mut pending: VecDeque<Pending> = VecDeque::new();
    {
        let inv = call.state.inv();
        for spec in specs {
            let prop_set = spec
                .get("propSet")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let object_set = spec
                .get("objectSet")
                .and_then(Value::as_array)
                .ok_or_else(|| VimFault::invalid_argument("specSet.objectSet"))?;
            for os in object_set {
                for moref in selected(&inv, session, os)? {
                    if inv.get_ref(&moref).is_none() {
                        continue;
                    }
                    let Some(paths) = paths_for(prop_set, &moref.kind) else {
                        continue;
                    };
                    let paths = paths.map(|p| p.into_iter().map(str::to_string).collect());
                    pending.push_back(Pending { moref, paths });
                }
            }
        }
    }
    page(&call.state, session, pending, max)
}

/// Builds one page from the pending objects and keeps the rest behind a single-use token.
fn page(
    state: &SimState,
    session: &Session,
    mut pending: VecDeque<Pending>,
    max: usize,
) -> VimResult {
    let rest = if pending.len() > max {
        pending.split_off(max)
    } else {
        VecDeque::new()
    };
    let mut results = Vec::with_capacity(pending.len());
    {
        let inv = state.inv();
        for p in &pending {
            // Objects deleted since the listing began are skipped.
            if let Some(obj) = inv.get_ref(&p.moref) {
                results.push(content(state, session, obj, &p.paths)?);
            }
        }
    }
    if results.is_empty() && rest.is_empty() {
        return Ok(Reply::Empty);
    }
    let mut out = json!({"_typeName": "RetrieveResult", "objects": results});
    if !rest.is_empty() {
        let mut objects = session
            .objects
            .lock()
            .map_err(|_| VimFault::invalid_state("session busy"))?;
        objects.next_id += 1;
        let token = format!("{}-{}", session.key, objects.next_id);
        objects.retrieve_tokens.insert(
            token.clone(),
            RetrieveCursor {
                remaining: rest,
                max_objects: max,
            },
        );
        if let Some(o) = out.as_object_mut() {
            o.insert("token".into(), json!(token));
        }
    }
    Ok(Reply::Json(out))
}

/// `ContinueRetrievePropertiesEx {token}`: the next page; each token works once, in its session.
pub fn continue_retrieve_properties_ex(call: &Call, body: &Value) -> VimResult {
    let session = call.session()?;
    let token = body
        .get("token")
        .and_then(Value::as_str)
        .ok_or_else(|| VimFault::invalid_argument("token"))?;
    let cursor = session
        .objects
        .lock()
        .map_err(|_| VimFault::invalid_state("session busy"))?
        .retrieve_tokens
        .remove(token)
        .ok_or_else(|| VimFault::invalid_argument("token"))?;
    page(&call.state, session, cursor.remaining, cursor.max_objects)
}

/// `CancelRetrievePropertiesEx {token}`.
pub fn cancel_retrieve_properties_ex(call: &Call, body: &Value) -> VimResult {
    let session = call.session()?;
    let token = body
        .get("token")
        .and_then(Value::as_str)
        .ok_or_else(|| VimFault::invalid_argument("token"))?;
    let removed = session
        .objects
        .lock()
        .map_err(|_| VimFault::invalid_state("session busy"))?
        .retrieve_tokens
        .remove(token);
    match removed {
        Some(_) => Ok(Reply::Empty),
        None => Err(VimFault::invalid_argument("token")),
    }
}

/// `GET /{Type}/{moId}/{property}` on an inventory object: the raw value, 204 when unset.
pub fn get_property(call: &Call) -> VimResult {
    let session = call.session()?;
    let inv = call.state.inv();
    let obj = inv
        .get_ref(&call.this())
        .ok_or_else(|| VimFault::not_found(&call.this()))?;
    if !call.state.can_read(session, &obj.moref.value) {
        return Err(VimFault::no_permission(&obj.moref, "System.Read"));
    }
    if !obj.props.contains_key(&call.name) && !OPTIONAL.contains(&call.name.as_str()) {
        return Err(VimFault::invalid_property(&call.name));
    }
    match load::live_path(obj, &call.name, Utc::now()) {
        Some(v) => Ok(Reply::Json(v.into_owned())),
        None => Ok(Reply::Empty),
    }
}
