//! The change feed: `CreatePropertyCollector`, `CreateFilter`, `WaitForUpdatesEx`,
//! `CancelWaitForUpdates`, `DestroyPropertyFilter`, `DestroyPropertyCollector`.
//!
//! Versions are the inventory's change-log versions as decimal strings. `""` sends everything
//! as `enter`; a truncated initial pass continues with the one-shot version `init:V:K`. A version
//! older than the change log, newer than the inventory, or unparsable is `InvalidCollectorVersion`
//! (the client resyncs from `""`). A second concurrent wait on one collector is `InvalidState`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};

use super::any::boxed;
use super::fault::VimFault;
use super::objects::{FilterState, PropertyCollectorState};
use super::view_manager::members;
use super::{Call, Reply, VimResult};
use crate::simulator::inventory::{ChangeKind, Inventory, ManagedObject, MoRef};
use crate::simulator::load;
use crate::simulator::sessions::Session;

/// Longest a wait blocks when the client sets no `maxWaitSeconds`.
const DEFAULT_MAX_WAIT: u64 = 300;

fn lock(
    session: &Session,
) -> Result<std::sync::MutexGuard<'_, super::objects::SessionObjects>, VimFault> {
    session
        .objects
        .lock()
        .map_err(|_| VimFault::invalid_state("session busy"))
}

/// `PropertyCollector.CreatePropertyCollector`.
pub fn create_property_collector(call: &Call) -> VimResult {
    let session = call.session()?;
    let mut o = lock(session)?;
    o.next_id += 1;
    let id = format!("session[{}]pc-{}", session.key, o.next_id);
    o.collectors
        .insert(id.clone(), PropertyCollectorState::default());
    Ok(Reply::Json(MoRef::new("PropertyCollector", id).to_json()))
}

/// `PropertyCollector.DestroyPropertyCollector` (its filters go with it).
pub fn destroy_property_collector(call: &Call) -> VimResult {
    let session = call.session()?;
    let mut o = lock(session)?;
    let pc = o
        .collectors
        .remove(&call.mo_id)
        .ok_or_else(|| VimFault::not_found(&call.this()))?;
    pc.cancel.notify_waiters();
    for f in pc.filters {
        o.filters.remove(&f);
    }
    Ok(Reply::Empty)
}

/// `PropertyCollector.CreateFilter {spec, partialUpdates}`.
pub fn create_filter(call: &Call, body: &Value) -> VimResult {
    let session = call.session()?;
    let spec = body
        .get("spec")
        .cloned()
        .ok_or_else(|| VimFault::invalid_argument("spec"))?;
    if spec.get("objectSet").and_then(Value::as_array).is_none() {
        return Err(VimFault::invalid_argument("spec.objectSet"));
    }
    let mut o = lock(session)?;
    if !o.collectors.contains_key(&call.mo_id) {
        if call.mo_id != "propertyCollector" {
            return Err(VimFault::not_found(&call.this()));
        }
        o.collectors
            .insert(call.mo_id.clone(), PropertyCollectorState::default());
    }
    o.next_id += 1;
    let id = format!("session[{}]filter-{}", session.key, o.next_id);
    o.filters.insert(
        id.clone(),
        FilterState {
            collector: call.mo_id.clone(),
            spec,
            partial_updates: body
                .get("partialUpdates")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
    );
    if let Some(pc) = o.collectors.get_mut(&call.mo_id) {
        pc.filters.push(id.clone());
    }
    Ok(Reply::Json(MoRef::new("PropertyFilter", id).to_json()))
}

/// `PropertyFilter.DestroyPropertyFilter`.
pub fn destroy_property_filter(call: &Call) -> VimResult {
    let session = call.session()?;
    let mut o = lock(session)?;
    let f = o
        .filters
        .remove(&call.mo_id)
        .ok_or_else(|| VimFault::not_found(&call.this()))?;
    if let Some(pc) = o.collectors.get_mut(&f.collector) {
        pc.filters.retain(|x| x != &call.mo_id);
    }
    Ok(Reply::Empty)
}

/// `PropertyCollector.CancelWaitForUpdates`.
pub fn cancel_wait_for_updates(call: &Call) -> VimResult {
    let session = call.session()?;
    let o = lock(session)?;
    let pc = o
        .collectors
        .get(&call.mo_id)
        .ok_or_else(|| VimFault::not_found(&call.this()))?;
    pc.cancel.notify_waiters();
    Ok(Reply::Empty)
}

/// What one filter watches, resolved against the inventory now.
struct Watch {
    id: String,
    paths: BTreeMap<String, Vec<String>>,
    all_types: HashSet<String>,
    members: Option<HashSet<String>>,
    ordered: Vec<MoRef>,
}

fn resolve(
    inv: &Inventory,
    session: &Session,
    id: &str,
    f: &FilterState,
) -> Result<Watch, VimFault> {
    let mut paths = BTreeMap::new();
    for p in f
        .spec
        .get("propSet")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(t) = p.get("type").and_then(Value::as_str) else {
            continue;
        };
        let list = p
            .get("pathSet")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        paths.insert(t.to_string(), list);
    }
    let mut ordered = Vec::new();
    let mut root_fast = false;
    for os in f
        .spec
        .get("objectSet")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(obj) = os.get("obj").and_then(MoRef::from_json) else {
            continue;
        };
        if obj.kind == "ContainerView" {
            let view = lock(session)?
                .views
                .get(&obj.value)
                .cloned()
                .ok_or_else(|| VimFault::not_found(&obj))?;
            root_fast |= view.recursive && Some(&view.container) == inv.root_folder.as_ref();
            ordered.extend(members(inv, &view));
        } else {
            ordered.push(obj);
        }
    }
    let members = (!root_fast).then(|| ordered.iter().map(|m| m.value.clone()).collect());
    Ok(Watch {
        id: id.to_string(),
        all_types: paths.keys().cloned().collect(),
        paths,
        members,
        ordered,
    })
}

impl Watch {
    fn watches(&self, m: &MoRef) -> bool {
        self.all_types.contains(&m.kind)
            && self.members.as_ref().is_none_or(|s| s.contains(&m.value))
    }
}

fn changes_for(
    obj: &ManagedObject,
    paths: &[String],
    only: Option<&HashSet<String>>,
) -> Vec<Value> {
    let now = Utc::now();
    paths
        .iter()
        .filter(|p| only.is_none_or(|o| o.contains(*p)))
        .map(|p| match load::live_path(obj, p, now) {
            Some(v) => json!({"_typeName": "PropertyChange", "name": p, "op": "assign", "val": boxed(&obj.moref.kind, p, &v)}),
            None => json!({"_typeName": "PropertyChange", "name": p, "op": "assign"}),
        })
        .collect()
}

fn overlaps(a: &str, b: &str) -> bool {
    a == crate::simulator::inventory::EVERY_PATH
        || a == b
        || a.starts_with(&format!("{b}."))
        || b.starts_with(&format!("{a}."))
}

/// The update of one watched object: its changes, or, for an object the user may not read, the
/// same paths in `missingSet` with a `NoPermission` fault, as vCenter sends them for as long as
/// the permission is missing (the change feed must not leak what RetrievePropertiesEx hides).
fn object_update(
    kind: &str,
    obj: &ManagedObject,
    paths: &[String],
    only: Option<&HashSet<String>>,
    readable: &dyn Fn(&str) -> bool,
) -> Value {
    let m = &obj.moref;
    if readable(&m.value) {
        return update(kind, m, changes_for(obj, paths, only));
    }
    let missing: Vec<Value> = paths
        .iter()
        .filter(|p| only.is_none_or(|o| o.contains(*p)))
        .map(|p| json!({"_typeName": "MissingProperty", "path": p, "fault": super::property_collector::no_permission(m)}))
        .collect();
    let mut u = update(kind, m, Vec::new());
    if let Some(o) = u.as_object_mut() {
        o.insert("missingSet".into(), Value::Array(missing));
    }
    u
}

fn update(kind: &str, m: &MoRef, change_set: Vec<Value>) -> Value {
    let mut u = json!({"_typeName": "ObjectUpdate", "kind": kind, "obj": m.to_json()});
    if !change_set.is_empty() {
        if let Some(o) = u.as_object_mut() {
            o.insert("changeSet".into(), Value::Array(change_set));
        }
    }
    u
}

/// Builds the answer for `version`; `None` when there is nothing new yet.
fn compute(
    inv: &Inventory,
    watches: &[Watch],
    version: &str,
    max: usize,
    readable: &dyn Fn(&str) -> bool,
) -> Result<Option<Value>, VimFault> {
    let mut per_filter: Vec<(String, Vec<Value>)> =
        watches.iter().map(|w| (w.id.clone(), Vec::new())).collect();
    let mut count = 0;
    let (next_version, truncated) = if version.is_empty() || version.starts_with("init:") {
        let (target, skip) = if version.is_empty() {
            (inv.version, 0)
        } else {
            let mut parts = version.splitn(3, ':').skip(1);
            let v = parts.next().and_then(|x| x.parse::<u64>().ok());
            let k = parts.next().and_then(|x| x.parse::<usize>().ok());
            match (v, k) {
                (Some(v), Some(k)) => (v, k),
                _ => return Err(VimFault::invalid_collector_version()),
            }
        };
        let mut index = 0;
        let mut cut = None;
        'outer: for (fi, w) in watches.iter().enumerate() {
            for m in &w.ordered {
                let Some(obj) = inv.get_ref(m) else { continue };
                let Some(paths) = w.paths.get(&m.kind) else {
                    continue;
                };
                index += 1;
                if index <= skip {
                    continue;
                }
                if count >= max {
                    cut = Some(index - 1);
                    break 'outer;
                }
                per_filter[fi]
                    .1
                    .push(object_update("enter", obj, paths, None, readable));
                count += 1;
            }
        }
        match cut {
            Some(k) => (format!("init:{target}:{k}"), true),
            None => (target.to_string(), false),
        }
    } else {
        let since: u64 = version
            .parse()
            .map_err(|_| VimFault::invalid_collector_version())?;
        if since > inv.version {
            return Err(VimFault::invalid_collector_version());
        }
        let records = inv
            .changes_since(since)
            .ok_or_else(VimFault::invalid_collector_version)?;
        let mut last = since;
        let mut truncated = false;
        // One update per (filter, object) carrying every path any of its records touched, at
        // current values: a later record of an object must widen its update, not be dropped.
        let mut order: Vec<(usize, MoRef)> = Vec::new();
        let mut agg: HashMap<(usize, String), (ChangeKind, HashSet<String>)> = HashMap::new();
        for rec in records {
            let mut contrib: Vec<(usize, ChangeKind, HashSet<String>)> = Vec::new();
            for (fi, w) in watches.iter().enumerate() {
                if !w.watches(&rec.moref) {
                    continue;
                }
                let Some(paths) = w.paths.get(&rec.moref.kind) else {
                    continue;
                };
                let hit: HashSet<String> = match rec.kind {
                    ChangeKind::Modify => paths
                        .iter()
                        .filter(|p| rec.paths.iter().any(|c| overlaps(c, p)))
                        .cloned()
                        .collect(),
                    _ => HashSet::new(),
                };
                if rec.kind == ChangeKind::Modify && hit.is_empty() {
                    continue;
                }
                contrib.push((fi, rec.kind, hit));
            }
            let new_objects = contrib
                .iter()
                .filter(|(fi, _, _)| !agg.contains_key(&(*fi, rec.moref.value.clone())))
                .count();
            if new_objects > 0 && count >= max {
                truncated = true;
                break;
            }
            for (fi, kind, hit) in contrib {
                let e = agg.entry((fi, rec.moref.value.clone())).or_insert_with(|| {
                    order.push((fi, rec.moref.clone()));
                    count += 1;
                    (kind, HashSet::new())
                });
                e.0 = match (e.0, kind) {
                    (_, ChangeKind::Leave) => ChangeKind::Leave,
                    (_, ChangeKind::Enter) | (ChangeKind::Enter, _) => ChangeKind::Enter,
                    _ => ChangeKind::Modify,
                };
                e.1.extend(hit);
            }
            last = rec.version;
        }
        for (fi, m) in order {
            let Some((kind, hit)) = agg.get(&(fi, m.value.clone())) else {
                continue;
            };
            let paths = watches[fi]
                .paths
                .get(&m.kind)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let u = match (kind, inv.get_ref(&m)) {
                (ChangeKind::Leave, _) | (_, None) => update("leave", &m, Vec::new()),
                (ChangeKind::Enter, Some(o)) => object_update("enter", o, paths, None, readable),
                (ChangeKind::Modify, Some(o)) => {
                    object_update("modify", o, paths, Some(hit), readable)
                }
            };
            per_filter[fi].1.push(u);
        }
        if count == 0 {
            return Ok(None);
        }
        (last.to_string(), truncated)
    };
    let filter_set: Vec<Value> = per_filter
        .into_iter()
        .filter(|(_, u)| !u.is_empty())
        .map(|(id, u)| json!({"_typeName": "PropertyFilterUpdate", "filter": MoRef::new("PropertyFilter", id).to_json(), "objectSet": u}))
        .collect();
    Ok(Some(
        json!({"_typeName": "UpdateSet", "version": next_version, "filterSet": filter_set, "truncated": truncated}),
    ))
}

/// `WaitForUpdatesEx {version, options{maxWaitSeconds, maxObjectUpdates}}`.
pub async fn wait_for_updates_ex(call: &Call, body: &Value) -> VimResult {
    let session = call.session()?.clone();
    let version = body
        .get("version")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let opts = body.get("options");
    let wait = match opts
        .and_then(|o| o.get("maxWaitSeconds"))
        .and_then(Value::as_i64)
    {
        Some(n) if n < 0 => return Err(VimFault::invalid_argument("options.maxWaitSeconds")),
        Some(n) => n as u64,
        None => DEFAULT_MAX_WAIT,
    };
    let max = match opts
        .and_then(|o| o.get("maxObjectUpdates"))
        .and_then(Value::as_i64)
    {
        Some(n) if n <= 0 => return Err(VimFault::invalid_argument("options.maxObjectUpdates")),
        Some(n) => n as usize,
        None => usize::MAX,
    };
    let cancel = {
        let mut o = lock(&session)?;
        let pc = o
            .collectors
            .get_mut(&call.mo_id)
            .ok_or_else(|| VimFault::not_found(&call.this()))?;
        if pc.waiting {
            return Err(VimFault::invalid_state(
                "a WaitForUpdatesEx is already in progress on this collector",
            ));
        }
        pc.waiting = true;
        pc.cancel.clone()
    };
    let result = wait_loop(call, &session, &version, wait, max, &cancel).await;
    if let Ok(mut o) = session.objects.lock() {
        if let Some(pc) = o.collectors.get_mut(&call.mo_id) {
            pc.waiting = false;
        }
    }
    result
}

async fn wait_loop(
    call: &Call,
    session: &Session,
    version: &str,
    wait: u64,
    max: usize,
    cancel: &tokio::sync::Notify,
) -> VimResult {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let mut rx = call.state.version_tx.subscribe();
    loop {
        let filters: Vec<(String, FilterState)> = {
            let o = lock(session)?;
            let pc = o
                .collectors
                .get(&call.mo_id)
                .ok_or_else(|| VimFault::not_found(&call.this()))?;
            pc.filters
                .iter()
                .filter_map(|f| o.filters.get(f).map(|s| (f.clone(), s.clone())))
                .collect()
        };
        let answer = {
            let inv = call.state.inv();
            let watches = filters
                .iter()
                .map(|(id, f)| resolve(&inv, session, id, f))
                .collect::<Result<Vec<_>, _>>()?;
            let readable = |moid: &str| call.state.can_read(session, moid);
            compute(&inv, &watches, version, max, &readable)?
        };
        if let Some(a) = answer {
            return Ok(Reply::Json(a));
        }
        if wait == 0 {
            return Ok(Reply::Empty);
        }
        tokio::select! {
            changed = rx.changed() => { if changed.is_err() { return Ok(Reply::Empty); } }
            _ = tokio::time::sleep_until(deadline) => return Ok(Reply::Empty),
            _ = session.ended() => return Err(VimFault::request_canceled()),
            _ = cancel.notified() => return Err(VimFault::request_canceled()),
        }
    }
}
