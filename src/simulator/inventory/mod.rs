//! The simulated vCenter inventory: managed objects keyed by moId, each holding its properties
//! in VI JSON wire form (data objects carry `_typeName`), plus a versioned change log that the
//! property collector turns into `WaitForUpdatesEx` answers.
//!
//! Properties are stored as JSON trees rather than typed structs, so one navigation function
//! serves every property path (`runtime.powerState`, `summary.quickStats.uptime`, ...) for
//! every type, the way govmomi's simulator uses reflection over its typed objects.

pub mod events;
pub mod generate;
pub mod objects;
pub mod pods;
mod tags;

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{json, Map, Value};

pub use generate::generate;
pub use tags::{Tag, TagCategory, Tagging};

/// A managed object reference: `type` is the concrete managed object type, `value` the moId.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MoRef {
    /// Managed object type, e.g. `VirtualMachine`.
    pub kind: String,
    /// moId, e.g. `vm-42`.
    pub value: String,
}

impl MoRef {
    /// A reference to `kind`/`value`.
    pub fn new(kind: &str, value: impl Into<String>) -> Self {
        MoRef {
            kind: kind.to_string(),
            value: value.into(),
        }
    }

    /// The VI JSON wire form.
    pub fn to_json(&self) -> Value {
        json!({"_typeName": "ManagedObjectReference", "type": self.kind, "value": self.value})
    }

    /// Parses the wire form, tolerating a missing `_typeName` and the boxed form
    /// `{"_typeName":"ManagedObjectReference","_value":{...}}`.
    pub fn from_json(v: &Value) -> Option<MoRef> {
        let v = v.get("_value").unwrap_or(v);
        Some(MoRef::new(
            v.get("type")?.as_str()?,
            v.get("value")?.as_str()?,
        ))
    }
}

/// One managed object.
#[derive(Clone, Debug)]
pub struct ManagedObject {
    /// Its reference.
    pub moref: MoRef,
    /// Top-level properties in wire form, keyed by property name (`name`, `runtime`, ...).
    pub props: Map<String, Value>,
}

impl ManagedObject {
    /// Reads a dotted property path; `None` when any segment is unset.
    pub fn get_path(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let mut cur = self.props.get(parts.next()?)?;
        for part in parts {
            cur = cur.get(part)?;
        }
        if cur.is_null() {
            None
        } else {
            Some(cur)
        }
    }

    /// Sets a dotted property path, creating intermediate objects as needed. `null` (here or
    /// nested) unsets: see [`drop_nulls`].
    pub fn set_path(&mut self, path: &str, mut value: Value) {
        drop_nulls(&mut value);
        let mut parts: Vec<&str> = path.split('.').collect();
        let Some(last) = parts.pop() else { return };
        if parts.is_empty() {
            if value.is_null() {
                self.props.remove(last);
            } else {
                self.props.insert(last.to_string(), value);
            }
            return;
        }
        let mut cur = self
            .props
            .entry(parts[0].to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        for part in &parts[1..] {
            if !cur.is_object() {
                *cur = Value::Object(Map::new());
            }
            cur = cur
                .as_object_mut()
                .expect("just made an object")
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        if let Some(obj) = cur.as_object_mut() {
            if value.is_null() {
                obj.remove(last);
            } else {
                obj.insert(last.to_string(), value);
            }
        }
    }

    /// The `name` property, or the moId when unnamed.
    pub fn name(&self) -> &str {
        self.props
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(&self.moref.value)
    }

    /// A property holding one MoRef (`parent`, `runtime.host`, ...).
    pub fn moref_at(&self, path: &str) -> Option<MoRef> {
        self.get_path(path).and_then(MoRef::from_json)
    }

    /// A property holding a MoRef array (`vm`, `datastore`, `childEntity`, ...).
    pub fn morefs_at(&self, path: &str) -> Vec<MoRef> {
        self.get_path(path)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(MoRef::from_json).collect())
            .unwrap_or_default()
    }
}

/// VI JSON has no `null` for data: an unset property or field is absent from the body (the
/// schema declares only arrays nullable). Builders and the change engine write `null` to mean
/// "unset" (a powered-off VM's `bootTime`), so members holding it are removed on the way in.
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// What happened to an object at one version, as `WaitForUpdatesEx` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// The object was created.
    Enter,
    /// Properties changed.
    Modify,
    /// The object was deleted.
    Leave,
}

/// One entry of the change log.
#[derive(Clone, Debug)]
pub struct ChangeRecord {
    /// Inventory version after this change.
    pub version: u64,
    /// The object.
    pub moref: MoRef,
    /// What happened.
    pub kind: ChangeKind,
    /// Top-level or dotted property paths that changed (empty for enter/leave).
    pub paths: Vec<String>,
}

/// A change path standing for every property, set or unset (see [`Inventory::touch`]).
pub const EVERY_PATH: &str = "*";

/// How many change records are kept; older versions make the collector resend everything.
pub const CHANGE_LOG_CAPACITY: usize = 200_000;
/// How many events are kept (vCenter keeps its event history in the database; we bound it).
pub const EVENT_LOG_CAPACITY: usize = 50_000;
/// vCenter's `recentTask` holds at most the last 200 tasks...
pub const RECENT_TASK_CAPACITY: usize = 200;
/// ...of those running or completed in the last ten minutes.
pub const RECENT_TASK_WINDOW: chrono::Duration = chrono::Duration::minutes(10);
/// How many tasks the task history keeps (vCenter keeps it in its database, 30 days by
/// default; we bound it like the events).
pub const TASK_HISTORY_CAPACITY: usize = 50_000;

/// The whole simulated inventory and its histories.
#[derive(Debug, Default)]
pub struct Inventory {
    objects: HashMap<String, ManagedObject>,
    by_type: BTreeMap<String, Vec<String>>,
    /// Current version; bumped by every change.
    pub version: u64,
    /// Recent changes, oldest first.
    pub changes: VecDeque<ChangeRecord>,
    /// Event objects in wire form (`_typeName` = event type), oldest first.
    pub events: VecDeque<Value>,
    /// Next event key.
    pub next_event_key: i64,
    /// Events dropped from the front of `events` (at [`EVENT_LOG_CAPACITY`]).
    pub events_dropped: u64,
    /// The task history: TaskInfo objects in wire form, oldest first (at most
    /// [`TASK_HISTORY_CAPACITY`]); `recentTask` serves the end of it ([`Inventory::recent_tasks`]).
    pub tasks: VecDeque<Value>,
    /// Tasks dropped from the front of `tasks` (at [`TASK_HISTORY_CAPACITY`]).
    pub tasks_dropped: u64,
    /// Next numeric id for new objects (vCenter uses one counter for all moIds).
    pub next_id: u64,
    /// The root folder (`group-d1`).
    pub root_folder: Option<MoRef>,
    /// Tag categories, tags and attachments (REST tagging API).
    pub tagging: Tagging,
    /// The realtime sample the usage alarms were last evaluated in.
    pub alarms_settled_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Inventory {
    /// Adds an object (no change record: used while generating).
    pub fn insert(&mut self, mut obj: ManagedObject) {
        obj.props.retain(|_, v| !v.is_null());
        obj.props.values_mut().for_each(drop_nulls);
        let id = obj.moref.value.clone();
        self.by_type
            .entry(obj.moref.kind.clone())
            .or_default()
            .push(id.clone());
        self.objects.insert(id, obj);
    }

    /// Looks an object up by moId.
    pub fn get(&self, moid: &str) -> Option<&ManagedObject> {
        self.objects.get(moid)
    }

    /// Mutable access without a change record (generation and bulk set-up only).
    pub fn get_mut(&mut self, moid: &str) -> Option<&mut ManagedObject> {
        self.objects.get_mut(moid)
    }

    /// Appends `item` to the array property `prop` of `moid` (generation only: no change record).
    pub fn push_to(&mut self, moid: &str, prop: &str, item: Value) {
        if let Some(obj) = self.objects.get_mut(moid) {
            let slot = obj
                .props
                .entry(prop.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Some(arr) = slot.as_array_mut() {
                arr.push(item);
            }
        }
    }

    /// Looks an object up by reference, checking its type.
    pub fn get_ref(&self, moref: &MoRef) -> Option<&ManagedObject> {
        self.objects
            .get(&moref.value)
            .filter(|o| o.moref.kind == moref.kind)
    }

    /// moIds of every object of `kind`, in creation order (stable for paging).
    pub fn ids_of(&self, kind: &str) -> &[String] {
        self.by_type.get(kind).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every object of `kind`, in creation order.
    pub fn of_type<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a ManagedObject> + 'a {
        self.ids_of(kind)
            .iter()
            .filter_map(move |id| self.objects.get(id))
    }

    /// Number of objects of `kind`.
    pub fn count(&self, kind: &str) -> usize {
        self.ids_of(kind).len()
    }

    /// Every managed object type present.
    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.by_type.keys().map(String::as_str)
    }

    /// A fresh moId with vCenter's prefix for the type (`vm-`, `host-`, ...).
    pub fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    fn record(&mut self, moref: MoRef, kind: ChangeKind, paths: Vec<String>) -> u64 {
        self.version += 1;
        if self.changes.len() >= CHANGE_LOG_CAPACITY {
            self.changes.pop_front();
        }
        self.changes.push_back(ChangeRecord {
            version: self.version,
            moref,
            kind,
            paths,
        });
        self.version
    }

    /// Sets properties of an existing object and records the change. Returns false when the
    /// object does not exist.
    pub fn modify(&mut self, moid: &str, changes: Vec<(&str, Value)>) -> bool {
        let Some(obj) = self.objects.get_mut(moid) else {
            return false;
        };
        let mut paths = Vec::with_capacity(changes.len());
        for (path, value) in changes {
            obj.set_path(path, value);
            paths.push(path.to_string());
        }
        let moref = obj.moref.clone();
        self.record(moref, ChangeKind::Modify, paths);
        true
    }

    /// The nearest ancestor of `obj` (through `parent`) of managed object type `kind`.
    pub fn ancestor<'a>(&'a self, obj: &ManagedObject, kind: &str) -> Option<&'a ManagedObject> {
        // vCenter's hierarchy is a handful of levels deep; the bound only guards against a cycle.
        let mut cur = self.get(&obj.moref_at("parent")?.value)?;
        for _ in 0..64 {
            if cur.moref.kind == kind {
                return Some(cur);
            }
            cur = self.get(&cur.moref_at("parent")?.value)?;
        }
        None
    }

    /// Records a change of `paths` whose served value is derived at read time (the live
    /// quickStats), so `WaitForUpdatesEx` reports them although nothing stored changed.
    pub fn mark(&mut self, moid: &str, paths: &[&str]) -> bool {
        let Some(obj) = self.objects.get(moid) else {
            return false;
        };
        let moref = obj.moref.clone();
        let paths = paths.iter().map(|p| p.to_string()).collect();
        self.record(moref, ChangeKind::Modify, paths);
        true
    }

    /// Records a change of every property of `moid` without changing a value: what a user
    /// may read of it changed, and vCenter's PropertyCollector sends the object again (values
    /// that became readable, `missingSet` for those that no longer are).
    pub fn touch(&mut self, moid: &str) -> bool {
        let Some(obj) = self.objects.get(moid) else {
            return false;
        };
        let moref = obj.moref.clone();
        self.record(moref, ChangeKind::Modify, vec![EVERY_PATH.to_string()]);
        true
    }

    /// Adds an object at run time and records `enter`.
    pub fn create(&mut self, obj: ManagedObject) {
        let moref = obj.moref.clone();
        self.insert(obj);
        self.record(moref, ChangeKind::Enter, Vec::new());
    }

    /// Removes an object at run time and records `leave`.
    pub fn remove(&mut self, moid: &str) -> Option<ManagedObject> {
        let obj = self.objects.remove(moid)?;
        if let Some(ids) = self.by_type.get_mut(&obj.moref.kind) {
            ids.retain(|i| i != moid);
        }
        self.record(obj.moref.clone(), ChangeKind::Leave, Vec::new());
        Some(obj)
    }

    /// Changes recorded after `version`, or `None` when the log no longer reaches back that far
    /// (the caller must then send the whole state again).
    pub fn changes_since(&self, version: u64) -> Option<impl Iterator<Item = &ChangeRecord>> {
        let oldest = self
            .changes
            .front()
            .map(|c| c.version)
            .unwrap_or(self.version + 1);
        if version + 1 < oldest && version < self.version {
            return None;
        }
        let start = self.changes.partition_point(|c| c.version <= version);
        Some(self.changes.range(start..))
    }

    /// Appends an event (wire form without `key`, which is assigned here) and returns its key.
    pub fn push_event(&mut self, mut event: Value) -> i64 {
        self.next_event_key += 1;
        let key = self.next_event_key;
        if let Some(obj) = event.as_object_mut() {
            obj.insert("key".into(), json!(key));
            obj.entry("chainId").or_insert(json!(key));
        }
        if self.events.len() >= EVENT_LOG_CAPACITY {
            self.events.pop_front();
            self.events_dropped += 1;
        }
        self.events.push_back(event);
        key
    }

    /// Appends a TaskInfo (wire form) to the task history.
    pub fn push_task(&mut self, task: Value) {
        if self.tasks.len() >= TASK_HISTORY_CAPACITY {
            self.tasks.pop_front();
            self.tasks_dropped += 1;
        }
        self.tasks.push_back(task);
    }

    /// What `recentTask` holds at `now`: tasks not completed, or completed in the last
    /// [`RECENT_TASK_WINDOW`], the newest [`RECENT_TASK_CAPACITY`] of them, oldest first.
    pub fn recent_tasks(&self, now: chrono::DateTime<chrono::Utc>) -> Vec<&Value> {
        let since = now - RECENT_TASK_WINDOW;
        // Newest first, up to the first one that completed before the window: the change engine's
        // tasks complete as they are recorded, in order, so none older is still running (and a
        // 50,000-task history is not scanned per call).
        let mut recent: Vec<&Value> = self
            .tasks
            .iter()
            .rev()
            .take_while(|t| {
                t.get("completeTime")
                    .and_then(Value::as_str)
                    .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                    .is_none_or(|c| c >= since)
            })
            .take(RECENT_TASK_CAPACITY)
            .collect();
        recent.reverse();
        recent
    }

    /// Moves every task's times `by` into the past, as if that much time had gone by since
    /// each ran (tests of history older than `recentTask` reaches).
    pub fn age_tasks(&mut self, by: chrono::Duration) {
        for t in &mut self.tasks {
            for field in ["queueTime", "startTime", "completeTime"] {
                let aged = t
                    .get(field)
                    .and_then(Value::as_str)
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                    .map(|at| objects::ts(at.with_timezone(&chrono::Utc) - by));
                if let (Some(v), Some(obj)) = (aged, t.as_object_mut()) {
                    obj.insert(field.to_string(), v);
                }
            }
        }
    }

    /// Children an inventory traversal descends into, in vCenter's containment hierarchy:
    /// folders and datastore clusters hold `childEntity`; datacenters their four folders; compute resources their
    /// hosts and root resource pool; resource pools their child pools and VMs.
    pub fn children(&self, moid: &str) -> Vec<MoRef> {
        let Some(obj) = self.objects.get(moid) else {
            return Vec::new();
        };
        match obj.moref.kind.as_str() {
            "Folder" | "StoragePod" => obj.morefs_at("childEntity"),
            "Datacenter" => ["vmFolder", "hostFolder", "datastoreFolder", "networkFolder"]
                .iter()
                .filter_map(|p| obj.moref_at(p))
                .collect(),
            "ClusterComputeResource" | "ComputeResource" => {
                let mut c = obj.morefs_at("host");
                c.extend(obj.moref_at("resourcePool"));
                c
            }
            "ResourcePool" => {
                let mut c = obj.morefs_at("resourcePool");
                c.extend(obj.morefs_at("vm"));
                c
            }
            _ => Vec::new(),
        }
    }
}
