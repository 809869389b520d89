//! The registry of collected types: every managed object type's declaration (`paths::Kind`,
//! each beside its projection in `project`), and what the collector and the raw inventory look
//! up by type name: the property paths to request, the `'static` names to share, and the
//! reduction of a value to what projection reads.

use super::paths::{Keep, Kind};
use super::project::{datastore, host, topology, vm};

/// Every collected type, each declared once beside its projection.
pub const KINDS: &[&Kind] = &[
    &host::KIND,
    &vm::KIND,
    &datastore::KIND,
    &topology::CLUSTER,
    &topology::COMPUTE_RESOURCE,
    &topology::DATACENTER,
    &topology::FOLDER,
    &topology::RESOURCE_POOL,
    &topology::STORAGE_POD,
    &topology::NETWORK,
];

fn kind_of(kind: &str) -> Option<&'static Kind> {
    KINDS.iter().copied().find(|k| k.name == kind)
}

/// (managed object type, property paths) of every collected type, as a property filter wants.
pub fn property_paths() -> Vec<(&'static str, &'static [&'static str])> {
    KINDS.iter().map(|k| (k.name, k.paths)).collect()
}

/// The paths for `kind` (empty for types we do not collect).
pub fn paths_for(kind: &str) -> &'static [&'static str] {
    kind_of(kind).map(|k| k.paths).unwrap_or(&[])
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
    match kind_of(kind) {
        Some(k) => std::borrow::Cow::Borrowed(k.name),
        None => std::borrow::Cow::Owned(kind.to_string()),
    }
}

/// Every type the collector watches.
pub fn collected_types() -> impl Iterator<Item = &'static str> {
    KINDS.iter().map(|k| k.name)
}

/// `value` of `kind`'s property `path` reduced to what projection reads, with MoRefs compacted
/// to `"Type:moId"` strings and `_typeName` tags dropped (`raw::moid_of` reads both forms). A
/// VM's `config.hardware.device` and `guest` are most of what vCenter sends for it; keeping only
/// the declared keys keeps the raw inventory of 45,000 VMs in memory budget.
pub fn slim(kind: &str, path: &str, value: serde_json::Value) -> serde_json::Value {
    let keep = kind_of(kind).and_then(|k| k.keep.iter().find(|(p, _)| *p == path));
    let value = match keep {
        Some((_, keep)) => reduce(keep, value),
        None => value,
    };
    compact(value)
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

fn reduce(keep: &Keep, value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let one = |v: Value| -> Option<Value> {
        let Value::Object(m) = v else {
            return Some(v);
        };
        if let Some((key, values)) = keep.require {
            let v = m.get(key)?;
            if !values.is_empty() && !v.as_str().is_some_and(|v| values.contains(&v)) {
                return None;
            }
        }
        let m = m
            .into_iter()
            .filter_map(|(k, v)| {
                let (_, nested) = keep.keys.iter().find(|(key, _)| *key == k)?;
                let v = match nested {
                    Some(nested) => reduce(nested, v),
                    None => v,
                };
                Some((k, v))
            })
            .collect();
        Some(Value::Object(m))
    };
    match value {
        Value::Array(a) => Value::Array(a.into_iter().filter_map(one).collect()),
        other => one(other).unwrap_or(Value::Null),
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
            slim("VirtualMachine", "config.hardware.device", devices),
            json!([{"macAddress": "00:50:56:aa:bb:cc"}])
        );
        let guest = json!({"hostName": "web01", "screen": {"width": 1}, "net": [{"macAddress": "m", "ipAddress": ["10.0.0.1"], "ipConfig": {"x": 1}}],
                           "disk": [{"diskPath": "/", "capacity": 10, "freeSpace": 5, "mappings": [1]}]});
        let s = slim("VirtualMachine", "guest", guest);
        assert_eq!(
            s,
            json!({"hostName": "web01", "net": [{"macAddress": "m", "ipAddress": ["10.0.0.1"]}], "disk": [{"diskPath": "/", "capacity": 10, "freeSpace": 5}]})
        );
        assert_eq!(slim("VirtualMachine", "name", json!("x")), json!("x"));
        let moref =
            json!({"_typeName": "ManagedObjectReference", "type": "HostSystem", "value": "host-1"});
        assert_eq!(
            slim("VirtualMachine", "runtime.host", moref),
            json!("HostSystem:host-1")
        );
        let files = json!([
            {"_typeName": "VirtualMachineFileLayoutExFileInfo", "key": 0, "name": "[ds] a/a.vmx", "type": "config", "size": 3412},
            {"_typeName": "VirtualMachineFileLayoutExFileInfo", "key": 5, "name": "[ds] a/a-Snapshot1.vmsn", "type": "snapshotData", "size": 17408},
            {"_typeName": "VirtualMachineFileLayoutExFileInfo", "key": 6, "name": "[ds] a/a-Snapshot1.vmem", "type": "snapshotMemory", "size": 4096}
        ]);
        assert_eq!(
            slim("VirtualMachine", "layoutEx.file", files),
            json!([{"key": 5, "size": 17408}, {"key": 6, "size": 4096}]),
            "only the snapshots' files"
        );
        let states = json!([{"_typeName": "AlarmState", "alarm": {"type": "Alarm", "value": "alarm-1"}, "overallStatus": "red"}]);
        assert_eq!(
            slim("Datacenter", "triggeredAlarmState", states),
            json!([{"alarm": "Alarm:alarm-1", "overallStatus": "red"}])
        );
        let vnics = json!([{"_typeName": "HostVirtualNic", "device": "vmk0", "portgroup": "Management Network",
            "spec": {"_typeName": "HostVirtualNicSpec", "mac": "00:50:56:01:02:03", "mtu": 1500,
                     "ip": {"_typeName": "HostIpConfig", "dhcp": false, "ipAddress": "10.0.0.5", "subnetMask": "255.255.255.0"}}}]);
        assert_eq!(
            slim("HostSystem", "config.network.vnic", vnics),
            json!([{"spec": {"mac": "00:50:56:01:02:03", "ip": {"ipAddress": "10.0.0.5"}}}])
        );
    }

    #[test]
    fn every_requested_path_is_read_and_every_reduction_is_requested() {
        let lists = [
            &host::FIELDS,
            &vm::FIELDS,
            &datastore::FIELDS,
            &topology::CONTAINER_FIELDS,
            &topology::CLUSTER_FIELDS,
            &topology::NETWORK_FIELDS,
            &super::super::project::ALARMED_FIELDS,
        ];
        for kind in KINDS {
            let read: Vec<&str> = lists
                .iter()
                .filter(|l| l.kinds.iter().any(|k| k.name == kind.name))
                .flat_map(|l| l.fields.iter().map(|f| f.path()))
                .collect();
            for path in kind.paths {
                let dotted = format!("{path}.");
                assert!(
                    read.iter().any(|r| r == path || r.starts_with(&dotted)),
                    "{}: {path} is requested but never read",
                    kind.name
                );
            }
            for (path, _) in kind.keep {
                assert!(kind.paths.contains(path), "{}: {path}", kind.name);
            }
        }
    }
}
