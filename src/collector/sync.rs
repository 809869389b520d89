//! Full sync (ContainerView + paged `RetrievePropertiesEx`) and applying change-feed deltas,
//! both into the collector's raw inventory.

use serde_json::Value;

use crate::model::paths::{intern, slim, PROPERTY_PATHS};
use crate::model::raw::{ChangeOp, RawInventory, RawObject};
use crate::vcenter::any::unbox;
use crate::vcenter::reads::properties::{retrieve_paged, view_filter_spec};
use crate::vcenter::wire::property::{ObjectContent, UpdateSet};
use crate::vcenter::{MoRef, VcClient, VcResult};

/// Every collected type, for the view.
pub fn collected_types() -> Vec<&'static str> {
    PROPERTY_PATHS.iter().map(|(k, _)| *k).collect()
}

/// The filter spec over `view` with the model's property paths.
pub fn spec(view: &MoRef) -> Value {
    view_filter_spec(view, PROPERTY_PATHS)
}

fn to_raw(o: ObjectContent) -> (String, RawObject) {
    let mut r = RawObject::new(&o.obj.kind);
    for p in o.prop_set {
        let v = slim(&p.name, unbox(p.val));
        r.props.insert(intern(&o.obj.kind, &p.name), v);
    }
    for m in o.missing_set {
        r.missing.insert(m.path, m.fault.fault.type_name);
    }
    r.props.shrink();
    (o.obj.value, r)
}

/// Reads every object in `view` into a new raw inventory, page by page.
pub async fn full_sync(c: &VcClient, view: &MoRef, page_size: u32) -> VcResult<RawInventory> {
    let mut raw = RawInventory::default();
    retrieve_paged(c, spec(view), page_size, |page| {
        for o in page {
            let (id, obj) = to_raw(o);
            raw.upsert(&id, obj);
        }
    })
    .await?;
    Ok(raw)
}

/// Applies one `UpdateSet`; returns how many object updates it held.
pub fn apply_updates(raw: &mut RawInventory, set: UpdateSet) -> usize {
    let mut n = 0;
    for f in set.filter_set {
        for u in f.object_set {
            n += 1;
            let id = u.obj.value.clone();
            match u.kind.as_str() {
                "leave" => {
                    raw.remove(&id);
                }
                kind => {
                    if kind == "enter" {
                        raw.upsert(&id, RawObject::new(&u.obj.kind));
                    }
                    for ch in u.change_set {
                        let op = match ch.op.as_str() {
                            "remove" | "indirectRemove" => ChangeOp::Remove,
                            _ => ChangeOp::Assign,
                        };
                        let val = (!ch.val.is_null()).then(|| slim(&ch.name, unbox(ch.val)));
                        raw.apply(&id, &u.obj.kind, &ch.name, op, val);
                    }
                    if let Some(obj) = raw.objects.get_mut(&id) {
                        for m in u.missing_set {
                            obj.missing.insert(m.path, m.fault.fault.type_name);
                        }
                        if kind == "enter" {
                            obj.props.shrink();
                        }
                    }
                }
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enter_modify_leave_apply_in_order() {
        let mut raw = RawInventory::default();
        let set: UpdateSet = serde_json::from_value(json!({"version": "1", "filterSet": [{"filter": {"type": "PropertyFilter", "value": "f"}, "objectSet": [
            {"kind": "enter", "obj": {"type": "VirtualMachine", "value": "vm-1"}, "changeSet": [
                {"name": "name", "op": "assign", "val": {"_typeName": "string", "_value": "web"}},
                {"name": "runtime.powerState", "op": "assign", "val": {"_typeName": "VirtualMachinePowerState", "_value": "poweredOn"}}]},
            {"kind": "enter", "obj": {"type": "VirtualMachine", "value": "vm-2"}, "changeSet": [],
             "missingSet": [{"path": "guest", "fault": {"fault": {"_typeName": "NoPermission"}}}]},
            {"kind": "modify", "obj": {"type": "VirtualMachine", "value": "vm-1"}, "changeSet": [
                {"name": "runtime.powerState", "op": "assign", "val": {"_typeName": "VirtualMachinePowerState", "_value": "poweredOff"}}]},
            {"kind": "leave", "obj": {"type": "VirtualMachine", "value": "vm-3"}}
        ]}]})).expect("update set");
        assert_eq!(apply_updates(&mut raw, set), 4);
        let vm = &raw.objects["vm-1"];
        assert_eq!(vm.str("name"), Some("web"));
        assert_eq!(vm.str("runtime.powerState"), Some("poweredOff"));
        assert_eq!(raw.objects["vm-2"].missing["guest"], "NoPermission");
        let leave: UpdateSet = serde_json::from_value(json!({"version": "2", "filterSet": [{"filter": {"type": "PropertyFilter", "value": "f"}, "objectSet": [
            {"kind": "leave", "obj": {"type": "VirtualMachine", "value": "vm-1"}}]}]})).expect("set");
        apply_updates(&mut raw, leave);
        assert!(!raw.objects.contains_key("vm-1"));
    }
}
