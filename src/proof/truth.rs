//! What vCenter itself says, read directly with the proof's own session, for the scenarios to
//! reconcile the served graph against. Reads only; one property-collector pass per question.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::vcenter::reads::properties;
use crate::vcenter::wire::property::ObjectContent;
use crate::vcenter::{VcClient, VcResult};

/// The REST list caps of vCenter's `/api/vcenter/{host,vm,datastore}` (beyond them the list
/// answers an error, so the property collector is the count).
pub const REST_CAPS: [(&str, usize); 3] = [("host", 2500), ("vm", 4000), ("datastore", 2500)];

fn prop(o: &ObjectContent, name: &str) -> Value {
    o.prop_set
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| p.val.clone().into_value().ok())
        .unwrap_or(Value::Null)
}

/// Object counts by managed-object type.
pub async fn counts(c: &VcClient) -> VcResult<BTreeMap<&'static str, usize>> {
    let mut out = BTreeMap::new();
    for kind in ["HostSystem", "VirtualMachine", "Datastore"] {
        let objects = properties::retrieve_all(c, &[(kind, &["name"])], 1000).await?;
        out.insert(kind, objects.len());
    }
    Ok(out)
}

/// How many objects REST lists of `collection`; `None` where the list is over its cap or
/// the call fails.
pub async fn rest_count(c: &VcClient, collection: &str) -> Option<usize> {
    let list: Vec<Value> = c
        .rest_get(&format!("/api/vcenter/{collection}"))
        .await
        .ok()
        .flatten()?;
    Some(list.len())
}

/// `(alarm moId, entity moId)` of every red or yellow triggered alarm on hosts, VMs and
/// datastores.
pub async fn triggered_alarms(c: &VcClient) -> VcResult<BTreeSet<(String, String)>> {
    let objects = properties::retrieve_all(
        c,
        &[
            ("HostSystem", &["triggeredAlarmState"]),
            ("VirtualMachine", &["triggeredAlarmState"]),
            ("Datastore", &["triggeredAlarmState"]),
        ],
        1000,
    )
    .await?;
    let mut out = BTreeSet::new();
    for o in &objects {
        for state in prop(o, "triggeredAlarmState")
            .as_array()
            .into_iter()
            .flatten()
        {
            let status = state["overallStatus"].as_str().unwrap_or("");
            if status != "red" && status != "yellow" {
                continue;
            }
            let alarm = state["alarm"]["value"].as_str().unwrap_or("");
            let entity = state["entity"]["value"].as_str().unwrap_or(&o.obj.value);
            if entity == o.obj.value {
                out.insert((alarm.to_string(), entity.to_string()));
            }
        }
    }
    Ok(out)
}

/// A datastore's summary as vCenter reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct DatastoreSummary {
    pub capacity: f64,
    pub free: f64,
    pub accessible: bool,
    pub hosts: usize,
}

pub async fn datastores(c: &VcClient) -> VcResult<BTreeMap<String, DatastoreSummary>> {
    let objects = properties::retrieve_all(
        c,
        &[(
            "Datastore",
            &[
                "summary.capacity",
                "summary.freeSpace",
                "summary.accessible",
                "host",
            ],
        )],
        1000,
    )
    .await?;
    Ok(objects
        .iter()
        .map(|o| {
            let n = |name| prop(o, name).as_f64().unwrap_or(0.0);
            (
                o.obj.value.clone(),
                DatastoreSummary {
                    capacity: n("summary.capacity"),
                    free: n("summary.freeSpace"),
                    accessible: prop(o, "summary.accessible").as_bool().unwrap_or(false),
                    hosts: prop(o, "host").as_array().map_or(0, Vec::len),
                },
            )
        })
        .collect())
}

/// Each VM with snapshots and the number of snapshots in its tree.
pub async fn snapshot_trees(c: &VcClient) -> VcResult<BTreeMap<String, usize>> {
    fn count(list: &Value) -> usize {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|n| 1 + count(&n["childSnapshotList"]))
            .sum()
    }
    let objects = properties::retrieve_all(c, &[("VirtualMachine", &["snapshot"])], 1000).await?;
    Ok(objects
        .iter()
        .filter_map(|o| {
            let tree = prop(o, "snapshot");
            let n = count(&tree["rootSnapshotList"]);
            (n > 0).then(|| (o.obj.value.clone(), n))
        })
        .collect())
}
