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
