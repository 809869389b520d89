//! `Any` values: primitives and arrays arrive boxed as `{"_typeName": "string", "_value": ...}`;
//! data objects carry their own `_typeName`. A MoRef may come flat or boxed: accept both.

use serde_json::Value;

/// The plain JSON of an `Any`: boxes removed at every depth, data objects kept as objects.
pub fn unbox(v: Value) -> Value {
    match v {
        Value::Object(mut m) => {
            if m.contains_key("_value") && m.contains_key("_typeName") && m.len() == 2 {
                let inner = m.remove("_value").unwrap_or(Value::Null);
                return unbox(inner);
            }
            Value::Object(m.into_iter().map(|(k, v)| (k, unbox(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(unbox).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn boxes_are_removed_at_every_depth() {
        let v = json!({"_typeName": "ArrayOfManagedObjectReference", "_value": [
            {"_typeName": "ManagedObjectReference", "_value": {"type": "HostSystem", "value": "host-1"}},
            {"_typeName": "ManagedObjectReference", "type": "HostSystem", "value": "host-2"}]});
        let u = unbox(v);
        assert_eq!(u[0]["value"], "host-1");
        assert_eq!(u[1]["value"], "host-2");
        assert_eq!(unbox(json!({"_typeName": "int", "_value": 5})), json!(5));
        let obj =
            json!({"_typeName": "GuestInfo", "hostName": {"_typeName": "string", "_value": "a"}});
        assert_eq!(unbox(obj)["hostName"], "a");
    }
}
