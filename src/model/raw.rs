//! One object as vCenter sent it, before projection: its type, moId and the property paths the
//! collector asked for with their (unboxed, reduced) values. Projection reads it only through
//! declared `paths::Field`s; the raw inventory (`raw_inventory`) keeps every object as text and
//! decodes one of these at a time.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

use super::paths::Field;

/// Property values by path, sorted by path. Paths the collector requested are `'static` strings
/// (`kinds::intern`), so 45,000 VMs do not each allocate 25 path keys and a B-tree for them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Props(Vec<(Cow<'static, str>, Value)>);

impl Props {
    /// Values by path in any order, sorted as `Props` keeps them.
    pub(super) fn from_unsorted(mut pairs: Vec<(Cow<'static, str>, Value)>) -> Self {
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        Props(pairs)
    }

    fn find(&self, path: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_ref().cmp(path))
    }

    /// The value stored under exactly `path`.
    pub fn get(&self, path: &str) -> Option<&Value> {
        self.find(path).ok().map(|i| &self.0[i].1)
    }

    /// Stores `value` under `path`, replacing what was there.
    pub fn insert(&mut self, path: impl Into<Cow<'static, str>>, value: Value) {
        let path = path.into();
        match self.find(&path) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (path, value)),
        }
    }

    /// Removes `path`.
    pub fn remove(&mut self, path: &str) -> Option<Value> {
        self.find(path).ok().map(|i| self.0.remove(i).1)
    }

    /// Keeps the entries `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &Value) -> bool) {
        self.0.retain(|(k, v)| keep(k, v));
    }

    pub fn contains_key(&self, path: &str) -> bool {
        self.find(path).is_ok()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Entries in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }
}

/// One retrieved managed object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawObject {
    /// Managed object type (`HostSystem`, `VirtualMachine`, ...).
    pub kind: String,
    /// Property values by the path they were requested with (`runtime.powerState`).
    pub props: Props,
    /// Paths vCenter could not return for this object (e.g. `NoPermission`), with the fault type.
    pub missing: BTreeMap<String, String>,
}

impl RawObject {
    /// A new object of `kind` with no properties.
    pub fn new(kind: &str) -> Self {
        RawObject {
            kind: kind.to_string(),
            ..RawObject::default()
        }
    }

    /// Reads a dotted path: the exact key if it was requested as such, otherwise the nearest
    /// requested ancestor navigated down (so `runtime.powerState` is found whether the collector
    /// asked for `runtime` or for the leaf). `null` counts as unset.
    fn at(&self, path: &str) -> Option<&Value> {
        if let Some(v) = self.props.get(path) {
            return (!v.is_null()).then_some(v);
        }
        let mut cut = path.len();
        while let Some(dot) = path[..cut].rfind('.') {
            if let Some(base) = self.props.get(&path[..dot]) {
                let mut cur = base;
                for seg in path[dot + 1..].split('.') {
                    cur = cur.get(seg)?;
                }
                return (!cur.is_null()).then_some(cur);
            }
            cut = dot;
        }
        None
    }

    /// A declared field's value (the only way to read one: see `paths::field`).
    pub fn get(&self, f: Field) -> Option<&Value> {
        self.at(f.path())
    }

    /// A string property.
    pub fn str(&self, f: Field) -> Option<&str> {
        self.get(f).and_then(Value::as_str)
    }

    /// An integer property.
    pub fn i64(&self, f: Field) -> Option<i64> {
        self.get(f).and_then(Value::as_i64)
    }

    /// A number property (vCenter sends some integers as floats).
    pub fn f64(&self, f: Field) -> Option<f64> {
        self.get(f).and_then(Value::as_f64)
    }

    /// A boolean property.
    pub fn bool(&self, f: Field) -> Option<bool> {
        self.get(f).and_then(Value::as_bool)
    }

    /// The moId of a MoRef property.
    pub fn moid(&self, f: Field) -> Option<&str> {
        self.get(f).and_then(moid_of)
    }

    /// The moIds of a MoRef array property.
    pub fn moids(&self, f: Field) -> Vec<&str> {
        self.get(f)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(moid_of).collect())
            .unwrap_or_default()
    }

    /// An array property (empty when unset).
    pub fn array(&self, f: Field) -> &[Value] {
        self.get(f)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// The moId of a MoRef: compacted (`"HostSystem:host-9"`), flat, or boxed under `_value`.
pub fn moid_of(v: &Value) -> Option<&str> {
    // The collector stores MoRefs compacted to `"Type:moId"` (`kinds::slim`).
    if let Some(s) = v.as_str() {
        return s.split_once(':').map(|(_, id)| id);
    }
    v.get("value")
        .or_else(|| v.get("_value").and_then(|b| b.get("value")))
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn get_reads_exact_and_nested_paths() {
        let mut o = RawObject::new("VirtualMachine");
        o.props.insert(
            "runtime",
            json!({"powerState": "poweredOn", "host": {"type": "HostSystem", "value": "host-9"}}),
        );
        o.props.insert("config.uuid", json!("abc"));
        o.props.insert(
            "summary.quickStats",
            json!({"uptimeSeconds": 5, "guest": null}),
        );
        assert_eq!(
            o.at("runtime.powerState").and_then(Value::as_str),
            Some("poweredOn")
        );
        assert_eq!(o.at("runtime.host").and_then(moid_of), Some("host-9"));
        assert_eq!(o.at("config.uuid").and_then(Value::as_str), Some("abc"));
        assert_eq!(
            o.at("summary.quickStats.uptimeSeconds")
                .and_then(Value::as_i64),
            Some(5)
        );
        assert_eq!(o.at("summary.quickStats.guest"), None);
        assert_eq!(o.at("config.instanceUuid"), None);
        assert_eq!(o.at("nothing"), None);
    }
}
