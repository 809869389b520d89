//! The property paths the collector asks vCenter for, per managed object type: exactly what
//! projection reads, so a full sync and the change feed fetch nothing more.

/// (managed object type, property paths).
pub const PROPERTY_PATHS: &[(&str, &[&str])] = &[
    (
        "HostSystem",
        &[
            "name",
            "parent",
            "runtime.connectionState",
            "runtime.powerState",
            "runtime.inMaintenanceMode",
            "runtime.bootTime",
            "summary.hardware",
            "summary.config.product",
            "summary.quickStats",
            "hardware.systemInfo.uuid",
            "vm",
            "datastore",
            "triggeredAlarmState",
            "overallStatus",
        ],
    ),
    (
        "VirtualMachine",
        &[
            "name",
            "parent",
            "resourcePool",
            "runtime.host",
            "runtime.powerState",
            "runtime.connectionState",
            "runtime.bootTime",
            "runtime.maxCpuUsage",
            "runtime.maxMemoryUsage",
            "config.uuid",
            "config.instanceUuid",
            "config.guestId",
            "config.guestFullName",
            "config.template",
            "config.hardware.numCPU",
            "config.hardware.memoryMB",
            "config.hardware.device",
            "guest",
            "storage.perDatastoreUsage",
            "summary.quickStats",
            "datastore",
            "network",
            "snapshot",
            "triggeredAlarmState",
            "overallStatus",
        ],
    ),
    (
        "Datastore",
        &[
            "name",
            "parent",
            "summary",
            "host",
            "vm",
            "triggeredAlarmState",
            "overallStatus",
        ],
    ),
    (
        "ClusterComputeResource",
        &[
            "name",
            "parent",
            "configurationEx.dasConfig.enabled",
            "configurationEx.drsConfig.enabled",
            "triggeredAlarmState",
            "overallStatus",
        ],
    ),
    ("ComputeResource", &["name", "parent"]),
    (
        "Datacenter",
        &["name", "parent", "triggeredAlarmState", "overallStatus"],
    ),
    ("Folder", &["name", "parent"]),
    ("ResourcePool", &["name", "parent"]),
    ("Network", &["name"]),
];

/// The paths for `kind` (empty for types we do not collect).
pub fn paths_for(kind: &str) -> &'static [&'static str] {
    PROPERTY_PATHS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, p)| *p)
        .unwrap_or(&[])
}

/// `path` as the collector's own `'static` string when it is one of `kind`'s paths, so stored
/// objects share their keys instead of allocating them.
pub fn intern(kind: &str, path: &str) -> std::borrow::Cow<'static, str> {
    match paths_for(kind).iter().find(|p| **p == path) {
        Some(p) => std::borrow::Cow::Borrowed(p),
        None => std::borrow::Cow::Owned(path.to_string()),
    }
}

/// `kind` as the collector's own `'static` type name when it is a collected type.
pub fn intern_kind(kind: &str) -> std::borrow::Cow<'static, str> {
    match PROPERTY_PATHS.iter().find(|(k, _)| *k == kind) {
        Some((k, _)) => std::borrow::Cow::Borrowed(k),
        None => std::borrow::Cow::Owned(kind.to_string()),
    }
}

/// Every type the collector watches.
pub fn collected_types() -> impl Iterator<Item = &'static str> {
    PROPERTY_PATHS.iter().map(|(k, _)| *k)
}

/// The parts of large properties projection reads: (path, key an array element must have to be
/// kept, keys kept). A VM's `config.hardware.device` and `guest` are most of what vCenter sends
/// for it; keeping only these keeps the raw inventory of 45,000 VMs in memory budget.
const KEEP: &[(&str, Option<&str>, &[&str])] = &[
    (
        "config.hardware.device",
        Some("macAddress"),
        &["macAddress"],
    ),
    (
        "guest",
        None,
        &[
            "guestFamily",
            "guestFullName",
            "guestId",
            "hostName",
            "ipAddress",
            "toolsStatus",
            "toolsRunningStatus",
            "toolsVersion",
            "net",
            "disk",
        ],
    ),
    ("guest.net", None, &["macAddress", "ipAddress"]),
    (
        "guest.disk",
        None,
        &["diskPath", "capacity", "freeSpace", "filesystemType"],
    ),
    (
        "summary.quickStats",
        None,
        &[
            "overallCpuUsage",
            "overallMemoryUsage",
            "guestMemoryUsage",
            "hostMemoryUsage",
            "uptime",
            "uptimeSeconds",
        ],
    ),
];

/// `value` of property `path` reduced to what projection reads, with MoRefs compacted to
/// `"Type:moId"` strings and `_typeName` tags dropped (`raw::moid_of` reads both forms).
pub fn slim(path: &str, value: serde_json::Value) -> serde_json::Value {
    compact(reduce_to_kept(path, value))
}

/// A MoRef object becomes `"Type:moId"`; other objects lose `_typeName`. Every JSON object is a
/// B-tree node of several hundred bytes, and a VM's properties hold dozens of MoRefs.
fn compact(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(mut m) => {
            m.remove("_typeName");
            if m.len() == 2 {
                if let (Some(Value::String(t)), Some(Value::String(v))) =
                    (m.get("type"), m.get("value"))
                {
                    return Value::String(format!("{t}:{v}"));
                }
            }
            Value::Object(m.into_iter().map(|(k, v)| (k, compact(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(compact).collect()),
        other => other,
    }
}

fn reduce_to_kept(path: &str, value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let Some((_, require, keep)) = KEEP.iter().find(|(p, _, _)| *p == path) else {
        return value;
    };
    let reduce = |v: Value| -> Option<Value> {
        let Value::Object(mut m) = v else {
            return Some(v);
        };
        if require.is_some_and(|r| !m.contains_key(r)) {
            return None;
        }
        m.retain(|k, _| keep.contains(&k.as_str()));
        let m = m
            .into_iter()
            .map(|(k, v)| {
                let child = reduce_to_kept(&format!("{path}.{k}"), v);
                (k, child)
            })
            .collect();
        Some(Value::Object(m))
    };
    match value {
        Value::Array(a) => Value::Array(a.into_iter().filter_map(reduce).collect()),
        other => reduce(other).unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slim_keeps_what_projection_reads() {
        let devices = json!([
            {"_typeName": "VirtualDisk", "key": 2000, "capacityInKB": 1},
            {"_typeName": "VirtualVmxnet3", "key": 4000, "macAddress": "00:50:56:aa:bb:cc", "backing": {"deviceName": "VM Network"}}
        ]);
        assert_eq!(
            slim("config.hardware.device", devices),
            json!([{"macAddress": "00:50:56:aa:bb:cc"}])
        );
        let guest = json!({"hostName": "web01", "screen": {"width": 1}, "net": [{"macAddress": "m", "ipAddress": ["10.0.0.1"], "ipConfig": {"x": 1}}],
                           "disk": [{"diskPath": "/", "capacity": 10, "freeSpace": 5, "mappings": [1]}]});
        let s = slim("guest", guest);
        assert_eq!(
            s,
            json!({"hostName": "web01", "net": [{"macAddress": "m", "ipAddress": ["10.0.0.1"]}], "disk": [{"diskPath": "/", "capacity": 10, "freeSpace": 5}]})
        );
        assert_eq!(slim("name", json!("x")), json!("x"));
        let moref =
            json!({"_typeName": "ManagedObjectReference", "type": "HostSystem", "value": "host-1"});
        assert_eq!(slim("runtime.host", moref), json!("HostSystem:host-1"));
        let states = json!([{"_typeName": "AlarmState", "alarm": {"type": "Alarm", "value": "alarm-1"}, "overallStatus": "red"}]);
        assert_eq!(
            slim("triggeredAlarmState", states),
            json!([{"alarm": "Alarm:alarm-1", "overallStatus": "red"}])
        );
    }
}
