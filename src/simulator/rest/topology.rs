//! Containment questions the REST filters ask of the inventory ("which datacenter holds this
//! datastore", "which folder holds this host"), answered by walking `parent` references.

use crate::simulator::inventory::{Inventory, ManagedObject};

/// The moId of `obj`'s `parent`.
pub fn parent_id(obj: &ManagedObject) -> Option<String> {
    obj.moref_at("parent").map(|p| p.value)
}

/// The nearest ancestor of `obj` of managed object type `kind`.
pub fn ancestor<'a>(
    inv: &'a Inventory,
    obj: &ManagedObject,
    kind: &str,
) -> Option<&'a ManagedObject> {
    inv.ancestor(obj, kind)
}

/// The moId of the datacenter holding `obj`.
pub fn datacenter_of(inv: &Inventory, obj: &ManagedObject) -> Option<String> {
    ancestor(inv, obj, "Datacenter").map(|d| d.moref.value.clone())
}

/// The moId of the nearest folder holding `obj` (a host's is its compute resource's folder).
pub fn folder_of(inv: &Inventory, obj: &ManagedObject) -> Option<String> {
    ancestor(inv, obj, "Folder").map(|f| f.moref.value.clone())
}

/// The moId of the cluster a host belongs to; `None` for a standalone host.
pub fn cluster_of_host(inv: &Inventory, host_id: &str) -> Option<String> {
    let host = inv.get(host_id)?;
    let parent = inv.get(&parent_id(host)?)?;
    (parent.moref.kind == "ClusterComputeResource").then(|| parent.moref.value.clone())
}

/// A string property of `obj`, empty when unset (REST enums map unset VI values to a default).
pub fn str_at<'a>(obj: &'a ManagedObject, path: &str) -> &'a str {
    obj.get_path(path)
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
}
