//! `ViewManager.CreateContainerView` and `ContainerView` (`DestroyView`, `view`). Views belong to
//! the session that made them, so they vanish with it, as on vCenter.

use std::collections::HashSet;

use serde_json::Value;

use super::fault::VimFault;
use super::objects::ContainerView;
use super::{Call, Reply, VimResult};
use crate::simulator::inventory::{Inventory, MoRef};

/// `ViewManager.CreateContainerView {container, type?, recursive}`.
pub fn create_container_view(call: &Call, body: &Value) -> VimResult {
    let session = call.session()?;
    let container = body
        .get("container")
        .and_then(MoRef::from_json)
        .ok_or_else(|| VimFault::invalid_argument("container"))?;
    if call.state.inv().get_ref(&container).is_none() {
        return Err(VimFault::not_found(&container));
    }
    let types: Vec<String> = body
        .get("type")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let recursive = body
        .get("recursive")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut objects = session
        .objects
        .lock()
        .map_err(|_| VimFault::invalid_state("session busy"))?;
    objects.next_id += 1;
    // vCenter names views after the session key, e.g. `session[52a1...]52b7...`.
    let id = format!("session[{}]{:08x}", session.key, objects.next_id);
    objects.views.insert(
        id.clone(),
        ContainerView {
            container,
            types,
            recursive,
        },
    );
    Ok(Reply::Json(MoRef::new("ContainerView", id).to_json()))
}

/// `ContainerView.DestroyView`.
pub fn destroy_view(call: &Call) -> VimResult {
    let session = call.session()?;
    let mut objects = session
        .objects
        .lock()
        .map_err(|_| VimFault::invalid_state("session busy"))?;
    match objects.views.remove(&call.mo_id) {
        Some(_) => Ok(Reply::Empty),
        None => Err(VimFault::not_found(&call.this())),
    }
}

/// The objects a view shows now, in stable order.
pub fn members(inv: &Inventory, view: &ContainerView) -> Vec<MoRef> {
    let wanted = |kind: &str| view.types.is_empty() || view.types.iter().any(|t| t == kind);
    let root = inv.root_folder.as_ref();
    if view.recursive && Some(&view.container) == root && !view.types.is_empty() {
        // Fast path for the common "everything of these types" view (45,000 VMs at max).
        return view
            .types
            .iter()
            .flat_map(|t| {
                inv.ids_of(t)
                    .iter()
                    .map(move |id| MoRef::new(t, id.clone()))
            })
            .collect();
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = inv.children(&view.container.value);
    stack.reverse();
    while let Some(next) = stack.pop() {
        if !seen.insert(next.value.clone()) {
            continue;
        }
        if wanted(&next.kind) {
            out.push(next.clone());
        }
        if view.recursive {
            let mut kids = inv.children(&next.value);
            kids.reverse();
            stack.extend(kids);
        }
    }
    out
}

/// `GET ContainerView/{id}/view`.
pub fn view_property(call: &Call) -> VimResult {
    let session = call.session()?;
    let view = session
        .objects
        .lock()
        .map_err(|_| VimFault::invalid_state("session busy"))?
        .views
        .get(&call.mo_id)
        .cloned()
        .ok_or_else(|| VimFault::not_found(&call.this()))?;
    let inv = call.state.inv();
    Ok(Reply::Json(Value::Array(
        members(&inv, &view).iter().map(MoRef::to_json).collect(),
    )))
}
