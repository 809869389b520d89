//! The collector's view of vCenter before projection: every object it retrieved, with the
//! property paths it asked for and their (unboxed) values. Full syncs fill it; the change feed
//! applies `enter`/`modify`/`leave` to it; projection reads it.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// Property values by path, sorted by path. Paths the collector requested are `'static` strings
/// (`paths::intern`), so 45,000 VMs do not each allocate 25 path keys and a B-tree for them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Props(Vec<(Cow<'static, str>, Value)>);

impl Props {
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

    /// Gives back unused capacity once an object is complete.
    pub fn shrink(&mut self) {
        self.0.shrink_to_fit();
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
    pub fn get(&self, path: &str) -> Option<&Value> {
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

    /// A string property.
    pub fn str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    /// An integer property.
    pub fn i64(&self, path: &str) -> Option<i64> {
        self.get(path).and_then(Value::as_i64)
    }

    /// A boolean property.
    pub fn bool(&self, path: &str) -> Option<bool> {
        self.get(path).and_then(Value::as_bool)
    }

    /// The moId of a MoRef property.
    pub fn moid(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(moid_of)
    }

    /// The moIds of a MoRef array property.
    pub fn moids(&self, path: &str) -> Vec<&str> {
        self.get(path)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(moid_of).collect())
            .unwrap_or_default()
    }

    /// An array property (empty when unset).
    pub fn array(&self, path: &str) -> &[Value] {
        self.get(path)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// The moId of a MoRef: compacted (`"HostSystem:host-9"`), flat, or boxed under `_value`.
pub fn moid_of(v: &Value) -> Option<&str> {
    // The collector stores MoRefs compacted to `"Type:moId"` (`paths::slim`).
    if let Some(s) = v.as_str() {
        return s.split_once(':').map(|(_, id)| id);
    }
    v.get("value")
        .or_else(|| v.get("_value").and_then(|b| b.get("value")))
        .and_then(Value::as_str)
}

/// How a property changed, as `PropertyChange.op` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeOp {
    /// `assign` (and `add` for whole-array updates): set the value.
    Assign,
    /// `remove` / `indirectRemove`: unset it.
    Remove,
}

/// Every object of one vCenter, by moId.
#[derive(Clone, Debug, Default)]
pub struct RawInventory {
    /// Objects by moId.
    pub objects: HashMap<String, RawObject>,
}

impl RawInventory {
    /// Adds or replaces an object (`enter`, or a full-sync row).
    pub fn upsert(&mut self, moid: &str, object: RawObject) {
        self.objects.insert(moid.to_string(), object);
    }

    /// Applies one property change to an object (`modify`); unknown objects are created, since a
    /// `modify` can arrive for an object whose `enter` was in a truncated batch we replayed.
    pub fn apply(
        &mut self,
        moid: &str,
        kind: &str,
        path: &str,
        op: ChangeOp,
        value: Option<Value>,
    ) {
        let obj = self
            .objects
            .entry(moid.to_string())
            .or_insert_with(|| RawObject::new(kind));
        // A change to `runtime` supersedes anything stored below it, and vice versa.
        let prefix = format!("{path}.");
        obj.props.retain(|k, _| !k.starts_with(&prefix));
        obj.missing.remove(path);
        match (op, value) {
            (ChangeOp::Assign, Some(v)) => {
                obj.props.insert(super::paths::intern(kind, path), v);
            }
            _ => {
                obj.props.remove(path);
            }
        }
    }

    /// Removes an object (`leave`).
    pub fn remove(&mut self, moid: &str) -> Option<RawObject> {
        self.objects.remove(moid)
    }

    /// moIds of every object of `kind`, sorted (stable order for projection).
    pub fn ids_of(&self, kind: &str) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .objects
            .iter()
            .filter(|(_, o)| o.kind == kind)
            .map(|(k, _)| k.as_str())
            .collect();
        ids.sort_unstable_by(|a, b| natural(a).cmp(&natural(b)));
        ids
    }

    /// Count of objects of `kind`.
    pub fn count(&self, kind: &str) -> usize {
        self.objects.values().filter(|o| o.kind == kind).count()
    }
}

/// Sort key for moIds so `vm-9` comes before `vm-10`.
fn natural(id: &str) -> (&str, u64, &str) {
    let split = id
        .rfind(|c: char| !c.is_ascii_digit())
        .map(|i| i + 1)
        .unwrap_or(0);
    let (head, digits) = id.split_at(split);
    (head, digits.parse().unwrap_or(0), id)
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
        assert_eq!(o.str("runtime.powerState"), Some("poweredOn"));
        assert_eq!(o.moid("runtime.host"), Some("host-9"));
        assert_eq!(o.str("config.uuid"), Some("abc"));
        assert_eq!(o.i64("summary.quickStats.uptimeSeconds"), Some(5));
        assert_eq!(o.get("summary.quickStats.guest"), None);
        assert_eq!(o.get("config.instanceUuid"), None);
        assert_eq!(o.get("nothing"), None);
    }

    #[test]
    fn changes_replace_overlapping_paths() {
        let mut inv = RawInventory::default();
        let mut o = RawObject::new("HostSystem");
        o.props
            .insert("runtime.connectionState", json!("connected"));
        inv.upsert("host-1", o);
        inv.apply(
            "host-1",
            "HostSystem",
            "runtime",
            ChangeOp::Assign,
            Some(json!({"connectionState": "notResponding"})),
        );
        let h = &inv.objects["host-1"];
        assert_eq!(h.str("runtime.connectionState"), Some("notResponding"));
        assert!(!h.props.contains_key("runtime.connectionState"));
        inv.apply("host-1", "HostSystem", "runtime", ChangeOp::Remove, None);
        assert_eq!(inv.objects["host-1"].get("runtime.connectionState"), None);
        inv.apply(
            "vm-7",
            "VirtualMachine",
            "name",
            ChangeOp::Assign,
            Some(json!("late")),
        );
        assert_eq!(inv.objects["vm-7"].str("name"), Some("late"));
        assert!(inv.remove("vm-7").is_some());
    }

    #[test]
    fn ids_sort_naturally() {
        let mut inv = RawInventory::default();
        for id in ["vm-10", "vm-9", "vm-100", "host-1"] {
            let kind = if id.starts_with("vm") {
                "VirtualMachine"
            } else {
                "HostSystem"
            };
            inv.upsert(id, RawObject::new(kind));
        }
        assert_eq!(
            inv.ids_of("VirtualMachine"),
            vec!["vm-9", "vm-10", "vm-100"]
        );
        assert_eq!(inv.count("HostSystem"), 1);
    }
}
