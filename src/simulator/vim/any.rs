//! Boxing of property values as VI JSON `Any`: data objects travel as themselves (they carry
//! `_typeName`), primitives, enums and arrays are boxed as `{"_typeName": T, "_value": v}`.

use serde_json::{json, Value};

/// The `_typeName` of a string leaf at `path` on `kind`: an enum type or `string`/`dateTime`.
fn string_type(kind: &str, path: &str) -> &'static str {
    let leaf = path.rsplit('.').next().unwrap_or(path);
    match (kind, leaf) {
        ("VirtualMachine", "powerState") => "VirtualMachinePowerState",
        ("HostSystem", "powerState") => "HostSystemPowerState",
        ("VirtualMachine", "connectionState") => "VirtualMachineConnectionState",
        ("HostSystem", "connectionState") => "HostSystemConnectionState",
        (_, "overallStatus" | "configStatus") => "ManagedEntityStatus",
        (_, "toolsStatus") => "VirtualMachineToolsStatus",
        (_, "bootTime" | "createTime" | "time" | "timestamp" | "loginTime" | "lastActiveTime") => {
            "dateTime"
        }
        _ => "string",
    }
}

/// Numeric leaves vCenter declares as `long` (64-bit); the rest are `int`.
fn is_long(leaf: &str) -> bool {
    matches!(
        leaf,
        "capacity"
            | "freeSpace"
            | "uncommitted"
            | "memorySize"
            | "committed"
            | "unshared"
            | "maxFileSize"
            | "maxVirtualDiskCapacity"
            | "hz"
            | "totalMemory"
            | "effectiveMemory"
            | "uptime"
            | "uptimeSeconds"
            | "capacityInBytes"
            | "capacityInKB"
            | "size"
            | "uniqueSize"
    )
}

/// Element type of array properties that may be empty (so the type cannot be read off an element).
fn array_type(kind: &str, leaf: &str) -> &'static str {
    match (kind, leaf) {
        ("Datastore", "host") => "ArrayOfDatastoreHostMount",
        ("VirtualMachine", "snapshot") => "ArrayOfVirtualMachineFileLayoutExSnapshotLayout",
        ("VirtualMachine", "file") => "ArrayOfVirtualMachineFileLayoutExFileInfo",
        (_, "triggeredAlarmState") => "ArrayOfAlarmState",
        (_, "childType") => "ArrayOfString",
        (_, "vm" | "datastore" | "host" | "network" | "childEntity" | "resourcePool") => {
            "ArrayOfManagedObjectReference"
        }
        _ => "ArrayOfAnyType",
    }
}

/// Boxes `value`, read at `path` of an object of type `kind`, as an `Any`.
pub fn boxed(kind: &str, path: &str, value: &Value) -> Value {
    let leaf = path.rsplit('.').next().unwrap_or(path);
    match value {
        Value::Object(o) if o.contains_key("_typeName") => value.clone(),
        Value::Object(_) => json!({"_typeName": "ManagedObjectReference", "_value": value}),
        Value::Array(items) => {
            let elem = items
                .first()
                .and_then(|i| i.get("_typeName"))
                .and_then(Value::as_str)
                .map(|t| format!("ArrayOf{t}"));
            let t = match (elem, items.first()) {
                (Some(t), _) => t,
                (None, Some(Value::String(_))) => "ArrayOfString".to_string(),
                (None, Some(Value::Number(_))) => "ArrayOfLong".to_string(),
                _ => array_type(kind, leaf).to_string(),
            };
            json!({"_typeName": t, "_value": value})
        }
        Value::String(_) => json!({"_typeName": string_type(kind, path), "_value": value}),
        Value::Bool(_) => json!({"_typeName": "boolean", "_value": value}),
        Value::Number(n) if n.is_f64() => json!({"_typeName": "double", "_value": value}),
        Value::Number(_) => {
            let t = if is_long(leaf) { "long" } else { "int" };
            json!({"_typeName": t, "_value": value})
        }
        Value::Null => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxing_follows_the_vi_json_rules() {
        assert_eq!(
            boxed("VirtualMachine", "runtime.powerState", &json!("poweredOn"))["_typeName"],
            "VirtualMachinePowerState"
        );
        assert_eq!(
            boxed("HostSystem", "runtime.connectionState", &json!("connected"))["_typeName"],
            "HostSystemConnectionState"
        );
        assert_eq!(
            boxed("Datastore", "summary.capacity", &json!(5))["_typeName"],
            "long"
        );
        assert_eq!(
            boxed("VirtualMachine", "config.hardware.numCPU", &json!(2))["_typeName"],
            "int"
        );
        assert_eq!(
            boxed("Datastore", "host", &json!([]))["_typeName"],
            "ArrayOfDatastoreHostMount"
        );
        assert_eq!(
            boxed(
                "HostSystem",
                "vm",
                &json!([{"_typeName": "ManagedObjectReference", "type": "VirtualMachine", "value": "vm-1"}])
            )["_typeName"],
            "ArrayOfManagedObjectReference"
        );
        let runtime = json!({"_typeName": "VirtualMachineRuntimeInfo", "powerState": "poweredOn"});
        assert_eq!(boxed("VirtualMachine", "runtime", &runtime), runtime);
        assert_eq!(
            boxed("VirtualMachine", "name", &json!("web"))["_value"],
            "web"
        );
    }
}
