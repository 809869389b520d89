//! What vCenter writes about its inventory in wire form: events (`event_about` and the alarm
//! status change) and the built-in alarm definitions they name. Generation, the alarm model and
//! the change engine all write events, so this sits below the three.

use chrono::Utc;
use serde_json::{json, Value};

use super::objects;
use super::{Inventory, MoRef};

/// Alarm definitions present on every vCenter (a subset of the built-in ones), with the type of
/// entity they fire on.
pub const ALARMS: &[(&str, &str, &str)] = &[
    (
        "alarm.HostConnectionStateAlarm",
        "Host connection and power state",
        "HostSystem",
    ),
    ("alarm.HostCPUUsageAlarm", "Host CPU usage", "HostSystem"),
    (
        "alarm.HostMemoryUsageAlarm",
        "Host memory usage",
        "HostSystem",
    ),
    (
        "alarm.VmCPUUsageAlarm",
        "Virtual machine CPU usage",
        "VirtualMachine",
    ),
    (
        "alarm.VmMemoryUsageAlarm",
        "Virtual machine memory usage",
        "VirtualMachine",
    ),
    (
        "alarm.DatastoreDiskUsageAlarm",
        "Datastore usage on disk",
        "Datastore",
    ),
    (
        "alarm.ClusterHAErrorAlarm",
        "vSphere HA host status",
        "ClusterComputeResource",
    ),
    (
        "alarm.VmSnapshotAgeAlarm",
        "Virtual machine snapshot age",
        "VirtualMachine",
    ),
    // Raised by an event (a host error), so no state tells whether it should be on.
    ("alarm.HostErrorAlarm", "Host error", "HostSystem"),
];

/// The name of built-in alarm `alarm` (`alarm-1` -> "Host connection and power state").
pub fn alarm_name(alarm: &MoRef) -> &'static str {
    alarm
        .value
        .strip_prefix("alarm-")
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| ALARMS.get(n.wrapping_sub(1)))
        .map_or("", |a| a.1)
}

/// An event of `type_name` about `entity` with vCenter's arguments: the entity's slot, a VM's
/// host, and the datacenter, each carrying the object's name (key assigned by
/// `Inventory::push_event`).
pub fn event_about(
    inv: &Inventory,
    type_name: &str,
    entity: &MoRef,
    when: chrono::DateTime<Utc>,
    user: &str,
    message: String,
) -> Value {
    let name_of = |m: &MoRef| {
        inv.get(&m.value)
            .map(|o| o.name().to_string())
            .unwrap_or_default()
    };
    let mut ev = json!({
        "_typeName": type_name,
        "chainId": 0,
        "createdTime": objects::ts(when),
        "userName": user,
        "fullFormattedMessage": message,
    });
    let Some(o) = ev.as_object_mut() else {
        return ev;
    };
    if let Some((k, v)) = entity_arg(entity, &name_of(entity)) {
        o.insert(k.into(), v);
    }
    let obj = inv.get(&entity.value);
    if entity.kind == "VirtualMachine" {
        if let Some(h) = obj.and_then(|v| v.moref_at("runtime.host")) {
            if let Some((k, v)) = entity_arg(&h, &name_of(&h)) {
                o.insert(k.into(), v);
            }
        }
        o.insert("template".into(), json!(false));
    }
    let dc = obj.and_then(|x| inv.ancestor(x, "Datacenter"));
    if let Some((k, v)) = dc.and_then(|d| entity_arg(&d.moref, d.name())) {
        o.insert(k.into(), v);
    }
    ev
}

/// The names vCenter puts in a VM event's message: VM, host, datacenter.
pub fn vm_context(inv: &Inventory, vm: &str) -> (String, String, String) {
    let Some(obj) = inv.get(vm) else {
        return Default::default();
    };
    let host = obj
        .moref_at("runtime.host")
        .and_then(|h| inv.get(&h.value))
        .map(|h| h.name().to_string())
        .unwrap_or_default();
    let dc = inv
        .ancestor(obj, "Datacenter")
        .map(|d| d.name().to_string())
        .unwrap_or_default();
    (obj.name().to_string(), host, dc)
}

/// An `AlarmStatusChangedEvent` in wire form: "Alarm 'NAME' on ENTITY changed from X to Y".
pub fn alarm_event(
    inv: &Inventory,
    alarm: &MoRef,
    entity: &MoRef,
    from: &str,
    to: &str,
    when: chrono::DateTime<Utc>,
) -> Value {
    let entity_name = inv
        .get(&entity.value)
        .map(|o| o.name().to_string())
        .unwrap_or_default();
    let name = alarm_name(alarm);
    let message = format!(
        "Alarm '{name}' on {entity_name} changed from {} to {}",
        status_word(from),
        status_word(to)
    );
    let mut ev = event_about(inv, "AlarmStatusChangedEvent", entity, when, "", message);
    if let Some(o) = ev.as_object_mut() {
        o.insert(
            "alarm".into(),
            json!({"_typeName": "AlarmEventArgument", "name": name, "alarm": alarm.to_json()}),
        );
        let arg = json!({"_typeName": "ManagedEntityEventArgument", "name": entity_name, "entity": entity.to_json()});
        o.insert("source".into(), arg.clone());
        o.insert("entity".into(), arg);
        o.insert("from".into(), json!(from));
        o.insert("to".into(), json!(to));
    }
    ev
}

/// The event argument slot (`vm`, `host`, `ds`, `computeResource`) for an entity.
pub fn entity_arg(entity: &MoRef, name: &str) -> Option<(&'static str, Value)> {
    let (slot, ty, field) = match entity.kind.as_str() {
        "VirtualMachine" => ("vm", "VmEventArgument", "vm"),
        "HostSystem" => ("host", "HostEventArgument", "host"),
        "Datastore" => ("ds", "DatastoreEventArgument", "datastore"),
        "ClusterComputeResource" | "ComputeResource" => (
            "computeResource",
            "ComputeResourceEventArgument",
            "computeResource",
        ),
        "Datacenter" => ("datacenter", "DatacenterEventArgument", "datacenter"),
        _ => return None,
    };
    Some((
        slot,
        json!({"_typeName": ty, "name": name, field: entity.to_json()}),
    ))
}

fn status_word(s: &str) -> &'static str {
    match s {
        "red" => "Red",
        "yellow" => "Yellow",
        "green" => "Green",
        _ => "Gray",
    }
}
