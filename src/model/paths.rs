//! What the collector asks vCenter for, what it keeps of each value and what projection reads,
//! declared once per managed object type beside that type's projection (`project::host`,
//! `project::vm`, `project::datastore`, `project::topology`). A full sync and the change feed
//! fetch exactly the declared paths; ingest reduces large values to the declared keys; and
//! projection can read a raw object only through a [`Field`], which is checked against the
//! declaration when the crate compiles, so a misspelled or undeclared path is a build error
//! instead of a silently empty field.

use super::project::{datastore, host, topology, vm};

/// One managed object type as the collector requests it.
#[derive(Debug)]
pub struct Kind {
    /// vSphere type name (`HostSystem`).
    pub name: &'static str,
    /// The property paths requested.
    pub paths: &'static [&'static str],
    /// Requested properties reduced at ingest to what projection reads (path, what is kept).
    pub keep: &'static [(&'static str, Keep)],
}

/// The keys of an object value (or of each element of an array value) that ingest keeps.
#[derive(Debug)]
pub struct Keep {
    /// A key an array element must have to be kept at all (a VM's devices: only NICs), and the
    /// values it may have there, none listed meaning any (a VM's files: only snapshot files).
    pub require: Option<(&'static str, &'static [&'static str])>,
    /// Kept keys, each with what is kept below it (`None`: the whole value).
    pub keys: &'static [(&'static str, Option<&'static Keep>)],
}

/// A path projection reads from an object of the declaring types: a requested path, or a path
/// below one (and, below a reduced property, through kept keys only). Made only by [`field`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field(&'static str);

impl Field {
    /// The dotted path.
    pub const fn path(self) -> &'static str {
        self.0
    }
}

/// The fields one projection module reads, and the types they are declared for.
#[derive(Debug)]
pub struct Fields {
    pub kinds: &'static [&'static Kind],
    pub fields: &'static [Field],
}

/// Declares `Field` constants checked at compile time against every listed [`Kind`], and the
/// module's [`Fields`] list (which the tests read to prove every requested path is read).
macro_rules! fields {
    ($list:ident for $kinds:tt { $($(#[$m:meta])* $name:ident = $path:literal;)* }) => {
        $($(#[$m])* pub const $name: $crate::model::paths::Field =
            const { $crate::model::paths::field(&$kinds, $path) };)*
        /// Every field this module reads, with the types they are declared for.
        pub const $list: $crate::model::paths::Fields = $crate::model::paths::Fields {
            kinds: &$kinds,
            fields: &[$($name),*],
        };
    };
}
pub(crate) use fields;

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The part of `path` after `prefix` and a dot, when `path` lies below `prefix`.
const fn below<'a>(path: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    if path.len() <= prefix.len() || path[prefix.len()] != b'.' {
        return None;
    }
    let (head, rest) = path.split_at(prefix.len());
    if !same(head, prefix) {
        return None;
    }
    Some(rest.split_at(1).1)
}

/// The first segment of a dotted path and what follows its dot.
const fn first_segment(path: &[u8]) -> (&[u8], Option<&[u8]>) {
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'.' {
            let (seg, rest) = path.split_at(i);
            return (seg, Some(rest.split_at(1).1));
        }
        i += 1;
    }
    (path, None)
}

/// Whether `sub` (a path below a reduced value) survives `keep`.
const fn kept(keep: &Keep, sub: &[u8]) -> bool {
    let (seg, rest) = first_segment(sub);
    let mut i = 0;
    while i < keep.keys.len() {
        let (key, nested) = keep.keys[i];
        if same(key.as_bytes(), seg) {
            return match (rest, nested) {
                (Some(rest), Some(nested)) => kept(nested, rest),
                _ => true,
            };
        }
        i += 1;
    }
    false
}

const fn declares(kind: &Kind, path: &[u8]) -> bool {
    let mut i = 0;
    while i < kind.paths.len() {
        let p = kind.paths[i].as_bytes();
        if same(p, path) {
            return true;
        }
        if let Some(sub) = below(path, p) {
            let mut k = 0;
            while k < kind.keep.len() {
                if same(kind.keep[k].0.as_bytes(), p) {
                    return kept(&kind.keep[k].1, sub);
                }
                k += 1;
            }
            return true;
        }
        i += 1;
    }
    false
}

/// `path` as a [`Field`] of `kinds`; a path one of them does not declare (or whose reduced value
/// does not keep it) stops compilation when called in a constant, as [`fields!`] does.
pub const fn field(kinds: &[&Kind], path: &'static str) -> Field {
    let mut i = 0;
    while i < kinds.len() {
        if !declares(kinds[i], path.as_bytes()) {
            panic!("a field reads a path its managed object type does not declare or keep");
        }
        i += 1;
    }
    Field(path)
}

/// `name` as a key of the elements `keep` reduces to, checked like [`field`].
pub const fn key(keep: &Keep, name: &'static str) -> &'static str {
    if !kept(keep, name.as_bytes()) {
        panic!("a key is read that its reduced property does not keep");
    }
    name
}

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

    #[test]
    fn fields_below_a_reduced_property_must_be_kept() {
        // The checks `fields!` runs at compile time, run here on paths that must fail.
        assert!(declares(&vm::KIND, b"summary.quickStats.overallCpuUsage"));
        assert!(!declares(&vm::KIND, b"summary.quickStats.overalCpuUsage"));
        assert!(!declares(&vm::KIND, b"guest.screen"));
        assert!(declares(&vm::KIND, b"guest.net"));
        assert!(!declares(&vm::KIND, b"runtime.powerstate"));
        assert!(declares(&datastore::KIND, b"summary.capacity"));
        assert!(!declares(&host::KIND, b"summaryx"));
    }
}
