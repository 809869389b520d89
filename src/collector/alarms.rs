//! Alert transitions: alarms that became active or inactive on a resource between two
//! snapshots (raised, cleared), as the alert history needs them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::inventory::activity::{AlertTransition, TransitionKind};
use crate::model::resources::ActiveAlert;
use crate::model::snapshot::InventorySnapshot;

fn active(s: &InventorySnapshot) -> HashMap<(String, String), &ActiveAlert> {
    let agents = s.agents.iter().map(|a| (a.id.as_str(), &a.alerts));
    let vms = s.vms.iter().map(|v| (v.id.as_str(), &v.alerts));
    let storage = s.storage.iter().map(|d| (d.id.as_str(), &d.alerts));
    agents
        .chain(vms)
        .chain(storage)
        .flat_map(|(id, alerts)| {
            alerts
                .iter()
                .map(move |a| ((id.to_string(), a.alarm_moid.clone()), a))
        })
        .collect()
}

/// What changed from `old` to `new`; a severity change is a clear and a raise.
pub fn transitions(
    old: Option<&InventorySnapshot>,
    new: &InventorySnapshot,
    at: DateTime<Utc>,
) -> Vec<AlertTransition> {
    let after = active(new);
    let before = old.map(active).unwrap_or_default();
    let mut out = Vec::new();
    let make = |kind, (id, alarm): &(String, String), a: &ActiveAlert| AlertTransition {
        at,
        kind,
        resource_id: id.clone(),
        alarm_moid: alarm.clone(),
        name: a.name.clone(),
        severity: a.severity,
    };
    for (k, a) in &before {
        if after.get(k).is_none_or(|n| n.severity != a.severity) {
            out.push(make(TransitionKind::Cleared, k, a));
        }
    }
    for (k, a) in &after {
        if before.get(k).is_none_or(|o| o.severity != a.severity) {
            out.push(make(TransitionKind::Raised, k, a));
        }
    }
    out.sort_by(|a, b| (&a.resource_id, &a.alarm_moid).cmp(&(&b.resource_id, &b.alarm_moid)));
    out
}

/// Transitions reported by `AlarmStatusChangedEvent`s on hosts, VMs and datastores: they also
/// catch an alarm raised and cleared between two snapshots, which a diff cannot see.
pub fn from_events(
    events: &[crate::vcenter::wire::events::Event],
    instance_uuid: &str,
    alarm_names: &HashMap<String, String>,
) -> Vec<AlertTransition> {
    use crate::model::alerts::AlertSeverity;
    events
        .iter()
        .filter(|e| e.type_name == "AlarmStatusChangedEvent")
        .filter_map(|e| {
            let entity = e.entity.as_ref()?.moref()?;
            if !matches!(
                entity.kind.as_str(),
                "HostSystem" | "VirtualMachine" | "Datastore"
            ) {
                return None;
            }
            let alarm = e.alarm.as_ref()?;
            let alarm_moid = alarm.moref()?.value;
            let (from, to) = (
                e.from.as_deref().unwrap_or(""),
                e.to.as_deref().unwrap_or(""),
            );
            let (kind, severity) = match (
                AlertSeverity::from_vsphere(from),
                AlertSeverity::from_vsphere(to),
            ) {
                (_, Some(s)) => (TransitionKind::Raised, s),
                (Some(s), None) => (TransitionKind::Cleared, s),
                (None, None) => return None,
            };
            let at = crate::model::utc(&e.created_time)?;
            Some(AlertTransition {
                at,
                kind,
                resource_id: crate::model::ResourceId::new(instance_uuid, &entity.value)
                    .to_string(),
                name: alarm_names
                    .get(&alarm_moid)
                    .cloned()
                    .unwrap_or_else(|| alarm.name.clone()),
                alarm_moid,
                severity,
            })
        })
        .collect()
}
