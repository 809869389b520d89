//! The raw inventory: every object the collector retrieved, kept as compact text per object.
//! Full syncs fill it; the change feed applies `enter`/`modify`/`leave` to it; projection
//! decodes one [`RawObject`] at a time from it.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::value::RawValue;
use serde_json::Value;

use super::raw::{Props, RawObject};

/// How a property changed, as `PropertyChange.op` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeOp {
    /// `assign` (and `add` for whole-array updates): set the value.
    Assign,
    /// `remove` / `indirectRemove`: unset it.
    Remove,
}

/// One object as the raw inventory keeps it: its properties as one compact JSON text, a list
/// of `[path, value]` pairs whose path is the index into the type's requested paths
/// (`kinds::paths_for`) or, for a path the collector did not ask for, the path itself. At 45,000
/// VMs a `Value` tree costs ~7.5 KB per VM (every JSON object is a B-tree node); the text costs
/// what it says, and projection decodes one object at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    kind: Cow<'static, str>,
    text: Box<str>,
    missing: BTreeMap<String, String>,
}

impl StoredObject {
    /// Encodes `object`.
    pub fn encode(object: &RawObject) -> Self {
        let paths = super::kinds::paths_for(&object.kind);
        let mut out = Vec::with_capacity(64 * object.props.len() + 2);
        out.push(b'[');
        for (i, (path, value)) in object.props.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'[');
            match paths.iter().position(|p| *p == path) {
                Some(n) => out.extend_from_slice(n.to_string().as_bytes()),
                None => write_json(&mut out, &Value::from(path)),
            }
            out.push(b',');
            write_json(&mut out, value);
            out.push(b']');
        }
        out.push(b']');
        StoredObject {
            kind: super::kinds::intern_kind(&object.kind),
            // serde_json writes UTF-8; the fallback is never taken.
            text: String::from_utf8(out).unwrap_or_default().into_boxed_str(),
            missing: object.missing.clone(),
        }
    }

    /// The object with its properties as `Value`s again.
    pub fn decode(&self) -> RawObject {
        let mut props = Vec::new();
        let paths = super::kinds::paths_for(&self.kind);
        // Each value is parsed on its own, so the pair wrapper adds no nesting: a value that
        // parsed at ingest parses here. A pair that still does not read back is skipped rather
        // than failing the object or the projection.
        let pairs: Vec<(Value, &RawValue)> = serde_json::from_str(&self.text).unwrap_or_default();
        for (key, value) in pairs {
            let Ok(value) = serde_json::from_str::<Value>(value.get()) else {
                continue;
            };
            let path: Option<Cow<'static, str>> = match key {
                Value::Number(n) => n
                    .as_u64()
                    .and_then(|n| paths.get(n as usize))
                    .map(|p| Cow::Borrowed(*p)),
                Value::String(s) => Some(Cow::Owned(s)),
                _ => None,
            };
            if let Some(path) = path {
                props.push((path, value));
            }
        }
        RawObject {
            kind: self.kind.to_string(),
            props: Props::from_unsorted(props),
            missing: self.missing.clone(),
        }
    }

    /// Managed object type.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Paths vCenter could not return, with the fault type.
    pub fn missing(&self) -> &BTreeMap<String, String> {
        &self.missing
    }

    /// Bytes of property text (what the memory budget is made of).
    pub fn text_len(&self) -> usize {
        self.text.len()
    }
}

fn write_json(out: &mut Vec<u8>, value: &Value) {
    // Writing a `Value` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// One property change of an object update.
#[derive(Clone, Debug, PartialEq)]
pub struct PropertyChange {
    /// The path as vCenter names it.
    pub path: String,
    /// Set or unset.
    pub op: ChangeOp,
    /// The new value (already reduced by `kinds::slim`), when set.
    pub value: Option<Value>,
}

/// Every object of one vCenter, by moId, and which of them changed since projection last looked.
#[derive(Clone, Debug)]
pub struct RawInventory {
    objects: HashMap<String, StoredObject>,
    changed: HashSet<String>,
    generation: u64,
}

impl Default for RawInventory {
    fn default() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        RawInventory {
            objects: HashMap::new(),
            changed: HashSet::new(),
            generation: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }
}

impl RawInventory {
    /// Distinguishes this inventory from every other one made by the process (a resync builds a
    /// new one): what was removed in between is in no `changed` set, so a consumer that kept
    /// state from another inventory starts over.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Adds or replaces an object (`enter`, or a full-sync row). An object stored again with
    /// the same content (the change feed's initial update set repeats the full sync) is not
    /// a change.
    pub fn upsert(&mut self, moid: &str, object: RawObject) {
        self.store(moid, StoredObject::encode(&object));
    }

    fn store(&mut self, moid: &str, stored: StoredObject) {
        match self.objects.get_mut(moid) {
            Some(old) if *old == stored => {}
            Some(old) => {
                *old = stored;
                self.changed.insert(moid.to_string());
            }
            None => {
                self.objects.insert(moid.to_string(), stored);
                self.changed.insert(moid.to_string());
            }
        }
    }

    /// Applies the property changes of one `modify` to an object, and the paths vCenter could
    /// not return. Unknown objects are created, since a `modify` can arrive for an object whose
    /// `enter` was in a truncated batch we replayed.
    pub fn apply(
        &mut self,
        moid: &str,
        kind: &str,
        changes: impl IntoIterator<Item = PropertyChange>,
        missing: impl IntoIterator<Item = (String, String)>,
    ) {
        let changes: Vec<PropertyChange> = changes.into_iter().collect();
        let missing: Vec<(String, String)> = missing.into_iter().collect();
        let mut obj = match self.objects.get(moid) {
            Some(stored) => stored.decode(),
            // An empty `modify` of an object we never saw says nothing about it.
            None if changes.is_empty() && missing.is_empty() => return,
            None => RawObject::new(kind),
        };
        for ch in changes {
            // A change to `runtime` supersedes anything stored below it, and vice versa.
            let prefix = format!("{}.", ch.path);
            obj.props.retain(|k, _| !k.starts_with(&prefix));
            obj.missing.remove(&ch.path);
            match (ch.op, ch.value) {
                (ChangeOp::Assign, Some(v)) => {
                    obj.props.insert(super::kinds::intern(kind, &ch.path), v);
                }
                _ => {
                    obj.props.remove(&ch.path);
                }
            }
        }
        obj.missing.extend(missing);
        self.store(moid, StoredObject::encode(&obj));
    }

    /// Removes an object (`leave`).
    pub fn remove(&mut self, moid: &str) -> Option<RawObject> {
        let gone = self.objects.remove(moid)?;
        self.changed.insert(moid.to_string());
        Some(gone.decode())
    }

    /// Keeps only the objects `keep` accepts (by moId).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let changed = &mut self.changed;
        self.objects.retain(|id, _| {
            let kept = keep(id);
            if !kept {
                changed.insert(id.clone());
            }
            kept
        });
    }

    /// The object `moid`, decoded.
    pub fn get(&self, moid: &str) -> Option<RawObject> {
        self.objects.get(moid).map(StoredObject::decode)
    }

    /// The stored form of `moid`.
    pub fn stored(&self, moid: &str) -> Option<&StoredObject> {
        self.objects.get(moid)
    }

    /// Every object, by moId, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &StoredObject)> {
        self.objects.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether there are no objects.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// moIds added, changed or removed since the last call (all of them for a new inventory).
    pub fn take_changed(&mut self) -> HashSet<String> {
        std::mem::take(&mut self.changed)
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
    // Counted in bytes from the end: ASCII digits are single bytes, so the split is always on a
    // character boundary whatever the rest of the moId holds.
    let split = id.len() - id.bytes().rev().take_while(u8::is_ascii_digit).count();
    let (head, digits) = id.split_at(split);
    (head, digits.parse().unwrap_or(0), id)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::project::{host, vm};

    fn set(path: &str, value: Value) -> PropertyChange {
        PropertyChange {
            path: path.into(),
            op: ChangeOp::Assign,
            value: Some(value),
        }
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
            [set("runtime", json!({"connectionState": "notResponding"}))],
            [],
        );
        let h = inv.get("host-1").expect("host");
        assert_eq!(h.str(host::CONNECTION_STATE), Some("notResponding"));
        assert!(!h.props.contains_key("runtime.connectionState"));
        let unset = PropertyChange {
            path: "runtime".into(),
            op: ChangeOp::Remove,
            value: None,
        };
        inv.apply("host-1", "HostSystem", [unset], []);
        assert_eq!(
            inv.get("host-1").expect("host").str(host::CONNECTION_STATE),
            None
        );
        inv.apply("vm-7", "VirtualMachine", [set("name", json!("late"))], []);
        assert_eq!(inv.get("vm-7").expect("vm").str(vm::NAME), Some("late"));
        assert!(inv.remove("vm-7").is_some());
    }

    #[test]
    fn stored_objects_read_back_as_written() {
        let mut o = RawObject::new("VirtualMachine");
        o.props.insert("name", json!("web \"01\" é"));
        o.props.insert("config.hardware.numCPU", json!(4));
        o.props.insert(
            "guest",
            json!({"net": [{"ipAddress": ["10.0.0.1"]}], "hostName": null}),
        );
        // A path the collector never asks for is kept under its own name.
        o.props
            .insert("summary.runtime.question".to_string(), json!({"id": "q-1"}));
        o.missing.insert("snapshot".into(), "NoPermission".into());
        let stored = StoredObject::encode(&o);
        assert_eq!(stored.decode(), o);
        assert_eq!(stored.kind(), "VirtualMachine");
        assert!(stored.text_len() < 200, "{stored:?}");
    }

    #[test]
    fn storing_the_same_content_again_is_not_a_change() {
        let mut inv = RawInventory::default();
        let mut o = RawObject::new("VirtualMachine");
        o.props.insert("name", json!("a"));
        inv.upsert("vm-1", o.clone());
        assert_eq!(inv.take_changed().len(), 1);
        inv.upsert("vm-1", o.clone());
        inv.apply("vm-1", "VirtualMachine", [set("name", json!("a"))], []);
        assert!(inv.take_changed().is_empty());
        inv.apply("vm-1", "VirtualMachine", [set("name", json!("b"))], []);
        inv.retain(|id| id != "vm-2");
        assert_eq!(inv.take_changed().len(), 1);
        inv.retain(|_| false);
        assert!(inv.take_changed().contains("vm-1") && inv.is_empty());
    }

    #[test]
    fn values_as_deep_as_ingest_accepts_read_back() {
        // serde_json parses up to 127 levels; the stored pair must not lose levels to its wrapper.
        let deep: Value = serde_json::from_str(&format!("{}1{}", "[".repeat(126), "]".repeat(126)))
            .expect("126 levels parse");
        let mut o = RawObject::new("VirtualMachine");
        o.props.insert("name", json!("vm"));
        o.props.insert("snapshot", deep);
        assert_eq!(StoredObject::encode(&o).decode(), o);
    }

    #[test]
    fn ids_sort_naturally() {
        let mut inv = RawInventory::default();
        for id in ["vm-10", "vm-9", "vm-100", "host-1", "vm-é1", "é"] {
            let kind = if id.starts_with("vm") {
                "VirtualMachine"
            } else {
                "HostSystem"
            };
            inv.upsert(id, RawObject::new(kind));
        }
        assert_eq!(
            inv.ids_of("VirtualMachine"),
            vec!["vm-9", "vm-10", "vm-100", "vm-é1"]
        );
        assert_eq!(inv.ids_of("HostSystem"), vec!["host-1", "é"]);
    }
}
