//! Alarm states that follow the state they describe, as vCenter's default alarm definitions
//! evaluate them: datastore usage from fill, host connection from the connection state, CPU and
//! memory usage from the load model. Alarms with no state behind them (HA host status, snapshot
//! age) are raised and cleared by the change engine at random.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::inventory::events::{alarm_event, ALARMS};
use super::inventory::objects;
use super::inventory::{Inventory, ManagedObject, MoRef};
use super::load;

/// (systemName, yellow above %, red above %) of the usage alarms, vCenter's defaults.
const USAGE: &[(&str, f64, f64)] = &[
    ("alarm.DatastoreDiskUsageAlarm", 75.0, 85.0),
    ("alarm.HostCPUUsageAlarm", 80.0, 90.0),
    ("alarm.HostMemoryUsageAlarm", 80.0, 90.0),
    ("alarm.VmCPUUsageAlarm", 75.0, 90.0),
    ("alarm.VmMemoryUsageAlarm", 75.0, 90.0),
];

/// The moId of the built-in alarm `system_name` (`alarm.HostConnectionStateAlarm` -> `alarm-1`).
pub fn alarm_id(system_name: &str) -> String {
    let i = ALARMS
        .iter()
        .position(|(s, _, _)| *s == system_name)
        .unwrap_or(0);
    format!("alarm-{}", i + 1)
}

/// The percentage an alarm measures on `obj` at `now` (0 when it is not running).
fn usage(obj: &ManagedObject, system: &str, now: DateTime<Utc>) -> Option<f64> {
    let int = |p: &str| obj.get_path(p).and_then(Value::as_i64).unwrap_or(0);
    if system == "alarm.DatastoreDiskUsageAlarm" {
        let cap = int("summary.capacity").max(1);
        return Some(100.0 - int("summary.freeSpace") as f64 * 100.0 / cap as f64);
    }
    let l = load::sample(obj, now);
    Some(match system {
        "alarm.HostCPUUsageAlarm" | "alarm.VmCPUUsageAlarm" => {
            l.map_or(0, |l| l.cpu_usage()) as f64 / 100.0
        }
        "alarm.HostMemoryUsageAlarm" | "alarm.VmMemoryUsageAlarm" => {
            l.map_or(0, |l| l.mem_usage(&obj.moref.kind)) as f64 / 100.0
        }
        _ => return None,
    })
}

/// The status alarm `system` must have on `obj` at `now`; `None` for alarms with no state
/// behind them.
pub fn expected(obj: &ManagedObject, system: &str, now: DateTime<Utc>) -> Option<&'static str> {
    if system == "alarm.HostConnectionStateAlarm" {
        let state = obj
            .get_path("runtime.connectionState")
            .and_then(Value::as_str);
        return Some(if state == Some("notResponding") {
            "red"
        } else {
            "green"
        });
    }
    let (_, yellow, red) = USAGE.iter().find(|(s, _, _)| *s == system)?;
    let used = usage(obj, system, now)?;
    Some(if used > *red {
        "red"
    } else if used > *yellow {
        "yellow"
    } else {
        "green"
    })
}

/// Whether alarm `system` has state behind it (and so is never raised at random).
pub fn follows_state(system: &str) -> bool {
    system == "alarm.HostConnectionStateAlarm" || USAGE.iter().any(|(s, _, _)| *s == system)
}

/// Brings every state-backed alarm on `moid` in line with its state at `now`.
pub fn settle_object(inv: &mut Inventory, moid: &str, now: DateTime<Utc>) {
    let Some(obj) = inv.get(moid) else { return };
    let kind = obj.moref.kind.clone();
    let wanted: Vec<(MoRef, &'static str)> = ALARMS
        .iter()
        .filter(|(_, _, target)| *target == kind)
        .filter_map(|(system, _, _)| {
            let status = expected(obj, system, now)?;
            Some((MoRef::new("Alarm", alarm_id(system)), status))
        })
        .collect();
    for (alarm, status) in wanted {
        set_alarm_in(inv, moid, &alarm, status, now);
    }
}

/// Brings every state-backed alarm of the inventory in line at `now`.
pub fn settle_all(inv: &mut Inventory, now: DateTime<Utc>) {
    for kind in ["Datastore", "HostSystem", "VirtualMachine"] {
        let ids = inv.ids_of(kind).to_vec();
        for id in ids {
            settle_object(inv, &id, now);
        }
    }
}

/// Raises (`red`/`yellow`) or clears (`green`) `alarm` on `entity`, with the
/// `AlarmStatusChangedEvent` and the entity's `overallStatus`. False when nothing changed.
pub fn set_alarm_in(
    inv: &mut Inventory,
    entity: &str,
    alarm: &MoRef,
    status: &str,
    now: DateTime<Utc>,
) -> bool {
    let Some(obj) = inv.get(entity) else {
        return false;
    };
    let moref = obj.moref.clone();
    let mut states: Vec<Value> = obj
        .get_path("triggeredAlarmState")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let pos = states
        .iter()
        .position(|s| s.get("alarm").and_then(MoRef::from_json).as_ref() == Some(alarm));
    let from = pos
        .and_then(|p| states[p].get("overallStatus").and_then(Value::as_str))
        .unwrap_or("green")
        .to_string();
    if from == status {
        return false;
    }
    let ev = alarm_event(inv, alarm, &moref, &from, status, now);
    let key = inv.push_event(ev);
    match (pos, status) {
        (Some(p), "green" | "gray") => {
            states.remove(p);
        }
        (Some(p), _) => states[p] = objects::alarm_state(alarm, &moref, status, now, key),
        (None, "green" | "gray") => {}
        (None, _) => states.push(objects::alarm_state(alarm, &moref, status, now, key)),
    }
    let overall = objects::worst_status(&states);
    let mut changes = vec![
        ("triggeredAlarmState", Value::Array(states)),
        ("overallStatus", json!(overall)),
    ];
    if inv
        .get(entity)
        .and_then(|o| o.get_path("summary"))
        .is_some()
        // DatastoreSummary and ComputeResourceSummary have no overallStatus.
        && !matches!(moref.kind.as_str(), "ComputeResource" | "Datastore")
    {
        changes.push(("summary.overallStatus", json!(overall)));
    }
    inv.modify(entity, changes);
    true
}
