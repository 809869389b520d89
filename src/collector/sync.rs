//! Full sync (ContainerView + paged `RetrievePropertiesEx`) and applying change-feed deltas,
//! both into the collector's raw inventory.

use serde_json::Value;

use crate::model::kinds::{intern, property_paths, slim};
use crate::model::raw::RawObject;
use crate::model::raw_inventory::{ChangeOp, PropertyChange, RawInventory};
use crate::vcenter::issue::missing_fault;
use crate::vcenter::reads::properties::{retrieve_paged, view_filter_spec};
use crate::vcenter::wire::property::{MissingProperty, ObjectContent, PropertyValue, UpdateSet};
use crate::vcenter::{MoRef, VcClient, VcResult};

/// Every collected type, for the view.
pub fn collected_types() -> Vec<&'static str> {
    crate::model::kinds::collected_types().collect()
}

/// The filter spec over `view` with the model's property paths.
pub fn spec(view: &MoRef) -> Value {
    view_filter_spec(view, &property_paths())
}

/// One object as the raw inventory stores it: each (unboxed) property reduced to what projection
/// reads, with the paths vCenter could not return and their fault types.
pub fn raw_object(
    kind: &str,
    props: impl IntoIterator<Item = (String, Value)>,
    missing: impl IntoIterator<Item = (String, String)>,
) -> RawObject {
    let mut r = RawObject::new(kind);
    // Unset and null are the same to projection; storing neither keeps a full sync and the
    // feed's `enter` of the same object equal.
    for (path, val) in props.into_iter().filter(|(_, v)| !v.is_null()) {
        let v = slim(kind, &path, val);
        r.props.insert(intern(kind, &path), v);
    }
    r.missing.extend(missing);
    r
}

/// The fault an object's issue names when vCenter sent a property value that does not parse:
/// the object is kept and the property listed as unreadable, as for `NoPermission`.
pub const MALFORMED_VALUE: &str = "MalformedValue";

/// The values of `props` that parse; the paths of those that do not are added to `missing`.
fn read_values(
    props: impl IntoIterator<Item = (String, PropertyValue)>,
    missing: &mut Vec<(String, String)>,
) -> Vec<(String, Value)> {
    props
        .into_iter()
        .filter_map(|(path, val)| match val.into_value() {
            Ok(v) => Some((path, v)),
            Err(_) => {
                missing.push((path, MALFORMED_VALUE.to_string()));
                None
            }
        })
        .collect()
}

fn missing_paths(set: Vec<MissingProperty>) -> Vec<(String, String)> {
    set.into_iter()
        .map(|m| {
            let fault = missing_fault(&m.fault.fault.type_name, &m.fault.fault.privileges());
            (m.path, fault)
        })
        .collect()
}

fn to_raw(o: ObjectContent) -> (String, RawObject) {
    let mut missing = missing_paths(o.missing_set);
    let props = read_values(
        o.prop_set.into_iter().map(|p| (p.name, p.val)),
        &mut missing,
    );
    (o.obj.value, raw_object(&o.obj.kind, props, missing))
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
            let id = u.obj.value;
            let kind = u.obj.kind;
            let mut missing = missing_paths(u.missing_set);
            match u.kind.as_str() {
                "leave" => {
                    raw.remove(&id);
                }
                // An `enter` carries the whole object: it replaces what was stored.
                "enter" => {
                    let props = u.change_set.into_iter().map(|ch| (ch.name, ch.val));
                    let props = read_values(props, &mut missing);
                    raw.upsert(&id, raw_object(&kind, props, missing));
                }
                _ => {
                    let mut changes = Vec::with_capacity(u.change_set.len());
                    for ch in u.change_set {
                        let mut op = match ch.op.as_str() {
                            "remove" | "indirectRemove" => ChangeOp::Remove,
                            _ => ChangeOp::Assign,
                        };
                        let value = match ch.val.into_value() {
                            Ok(Value::Null) => None,
                            Ok(v) => Some(slim(&kind, &ch.name, v)),
                            Err(_) => {
                                // The old value is no longer true; the path becomes an issue.
                                missing.push((ch.name.clone(), MALFORMED_VALUE.to_string()));
                                op = ChangeOp::Remove;
                                None
                            }
                        };
                        changes.push(PropertyChange {
                            path: ch.name,
                            op,
                            value,
                        });
                    }
                    raw.apply(&id, &kind, changes, missing);
                }
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::project::vm as virtual_machine;
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
        let vm = raw.get("vm-1").expect("vm-1");
        assert_eq!(vm.str(virtual_machine::NAME), Some("web"));
        assert_eq!(vm.str(virtual_machine::POWER_STATE), Some("poweredOff"));
        assert_eq!(
            raw.get("vm-2").expect("vm-2").missing["guest"],
            "NoPermission"
        );
        let leave: UpdateSet = serde_json::from_value(json!({"version": "2", "filterSet": [{"filter": {"type": "PropertyFilter", "value": "f"}, "objectSet": [
            {"kind": "leave", "obj": {"type": "VirtualMachine", "value": "vm-1"}}]}]})).expect("set");
        apply_updates(&mut raw, leave);
        assert!(raw.get("vm-1").is_none());
    }

    #[test]
    fn a_full_sync_row_and_an_enter_of_the_same_object_are_equal() {
        let mut raw = RawInventory::default();
        let row = raw_object(
            "VirtualMachine",
            [
                ("name".to_string(), json!("web")),
                ("snapshot".to_string(), Value::Null),
            ],
            [],
        );
        raw.upsert("vm-1", row);
        raw.take_changed();
        let enter: UpdateSet = serde_json::from_value(json!({"version": "1", "filterSet": [{"filter": {"type": "PropertyFilter", "value": "f"}, "objectSet": [
            {"kind": "enter", "obj": {"type": "VirtualMachine", "value": "vm-1"}, "changeSet": [
                {"name": "name", "op": "assign", "val": {"_typeName": "string", "_value": "web"}},
                {"name": "snapshot", "op": "assign"}]}]}]}))
        .expect("update set");
        apply_updates(&mut raw, enter);
        assert!(raw.take_changed().is_empty(), "nothing changed");
    }

    #[test]
    fn a_modify_whose_value_does_not_parse_unsets_the_path_and_lists_it() {
        let mut raw = RawInventory::default();
        raw.upsert(
            "vm-1",
            raw_object(
                "VirtualMachine",
                [("guest".to_string(), json!({"hostName": "a"}))],
                [],
            ),
        );
        // Nested beyond serde_json's depth limit: the set reads, the value does not.
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let text = format!(
            r#"{{"version":"2","filterSet":[{{"filter":{{"type":"PropertyFilter","value":"f"}},"objectSet":[{{"kind":"modify","obj":{{"type":"VirtualMachine","value":"vm-1"}},"changeSet":[{{"name":"guest","op":"assign","val":{deep}}}]}}]}}]}}"#
        );
        let set: UpdateSet = serde_json::from_str(&text).expect("the set reads");
        apply_updates(&mut raw, set);
        let vm = raw.get("vm-1").expect("kept");
        assert!(
            !vm.props.contains_key("guest"),
            "the old value is no longer true"
        );
        assert_eq!(vm.missing["guest"], MALFORMED_VALUE);
    }
}
