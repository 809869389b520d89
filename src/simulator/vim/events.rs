//! EventManager: `QueryEvents` and EventHistoryCollector (`CreateCollectorForEvents`,
//! `ReadNextEvents`, `ReadPreviousEvents`, `RewindCollector`, `ResetCollector`,
//! `DestroyCollector`, `latestPage`). Collectors belong to the session and count against a
//! per-session maximum, as on vCenter, so a client that never destroys them runs out.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::fault::VimFault;
use super::objects::HistoryCollectorState;
use super::{Call, Reply, VimResult};
use crate::simulator::inventory::{Inventory, MoRef};

/// `EventManager.maxCollector`: open history collectors per session.
pub const MAX_COLLECTORS: usize = 32;
/// `QueryEvents` answers at most this many events when `maxCount` is unset.
pub const DEFAULT_QUERY_CAP: usize = 1000;
/// Page size of `latestPage`.
const LATEST_PAGE: usize = 10;

/// The argument slots through which an event names the objects it is about.
const SLOTS: &[(&str, &str)] = &[
    ("vm", "vm"),
    ("host", "host"),
    ("ds", "datastore"),
    ("computeResource", "computeResource"),
    ("datacenter", "datacenter"),
    ("entity", "entity"),
];

fn entities_of(ev: &Value) -> impl Iterator<Item = &str> {
    SLOTS
        .iter()
        .filter_map(move |(slot, field)| ev.get(*slot)?.get(*field)?.get("value")?.as_str())
}

fn time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// moIds below `root` in the containment tree, plus the VMs running on hosts below it.
fn subtree(inv: &Inventory, root: &str, only_children: bool) -> HashSet<String> {
    let mut out: HashSet<String> = HashSet::new();
    let mut stack: Vec<String> = inv.children(root).into_iter().map(|m| m.value).collect();
    while let Some(id) = stack.pop() {
        if !out.insert(id.clone()) {
            continue;
        }
        if let Some(o) = inv.get(&id) {
            if o.moref.kind == "HostSystem" {
                out.extend(o.morefs_at("vm").into_iter().map(|m| m.value));
            }
        }
        if !only_children {
            stack.extend(inv.children(&id).into_iter().map(|m| m.value));
        }
    }
    out
}

/// A compiled `EventFilterSpec`.
struct Filter {
    entities: Option<HashSet<String>>,
    begin: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    types: Option<HashSet<String>>,
}

impl Filter {
    fn new(inv: &Inventory, spec: &Value) -> Result<Filter, VimFault> {
        let entities = match spec.get("entity") {
            Some(e) if !e.is_null() => {
                let m = e
                    .get("entity")
                    .and_then(MoRef::from_json)
                    .ok_or_else(|| VimFault::invalid_argument("filter.entity.entity"))?;
                if inv.get_ref(&m).is_none() {
                    return Err(VimFault::not_found(&m));
                }
                let mut set = match e.get("recursion").and_then(Value::as_str).unwrap_or("self") {
                    "self" => HashSet::new(),
                    "children" => subtree(inv, &m.value, true),
                    "all" => subtree(inv, &m.value, false),
                    _ => return Err(VimFault::invalid_argument("filter.entity.recursion")),
                };
                set.insert(m.value);
                Some(set)
            }
            _ => None,
        };
        let t = spec.get("time");
        let types: Vec<String> = ["type", "eventTypeId"]
            .iter()
            .filter_map(|k| spec.get(*k).and_then(Value::as_array))
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        Ok(Filter {
            entities,
            begin: time(t.and_then(|t| t.get("beginTime"))),
            end: time(t.and_then(|t| t.get("endTime"))),
            types: (!types.is_empty()).then(|| types.into_iter().collect()),
        })
    }

    fn matches(&self, ev: &Value) -> bool {
        if let Some(set) = &self.entities {
            if !entities_of(ev).any(|id| set.contains(id)) {
                return false;
            }
        }
        let created = time(ev.get("createdTime"));
        if self.begin.is_some_and(|b| created.is_none_or(|c| c < b))
            || self.end.is_some_and(|e| created.is_none_or(|c| c > e))
        {
            return false;
        }
        if let Some(types) = &self.types {
            let t = ev.get("_typeName").and_then(Value::as_str).unwrap_or("");
            let id = ev.get("eventTypeId").and_then(Value::as_str).unwrap_or("");
            if !types.contains(t) && !types.contains(id) {
                return false;
            }
        }
        true
    }
}

/// Matching events, oldest first.
fn matching(inv: &Inventory, spec: &Value) -> Result<Vec<Value>, VimFault> {
    let f = Filter::new(inv, spec)?;
    Ok(inv
        .events
        .iter()
        .filter(|e| f.matches(e))
        .cloned()
        .collect())
}

/// `EventManager.QueryEvents {filter}`: newest first, at most `maxCount` (default 1000).
pub fn query_events(call: &Call, body: &Value) -> VimResult {
    let session = call.session()?;
    if !call.state.can_read_any(session) {
        return Err(VimFault::no_permission(&call.this(), "System.View"));
    }
    let spec = body.get("filter").cloned().unwrap_or(json!({}));
    let cap = spec
        .get("maxCount")
        .and_then(Value::as_i64)
        .map(|n| n.max(0) as usize)
        .unwrap_or(DEFAULT_QUERY_CAP);
    let mut events = matching(&call.state.inv(), &spec)?;
    events.reverse();
    events.truncate(cap);
    Ok(Reply::Json(Value::Array(events)))
}

/// `EventManager.CreateCollectorForEvents {filter}`.
pub fn create_collector(call: &Call, body: &Value) -> VimResult {
    let session = call.session()?;
    let spec = body.get("filter").cloned().unwrap_or(json!({}));
    let end = matching(&call.state.inv(), &spec)?.len();
    let mut o = session
        .objects
        .lock()
        .map_err(|_| VimFault::invalid_state("session busy"))?;
    if o.event_collectors.len() >= MAX_COLLECTORS {
        return Err(VimFault::invalid_state(&format!(
            "The session already has {MAX_COLLECTORS} event history collectors (EventManager.maxCollector)"
        )));
    }
    o.next_id += 1;
    let id = format!("session[{}]events-{}", session.key, o.next_id);
    // A new collector is positioned after the newest event, as vCenter's is.
    o.event_collectors.insert(
        id.clone(),
        HistoryCollectorState {
            filter: spec,
            position: end,
        },
    );
    Ok(Reply::Json(
        MoRef::new("EventHistoryCollector", id).to_json(),
    ))
}

fn with_collector<T>(
    call: &Call,
    f: impl FnOnce(&mut HistoryCollectorState, &[Value]) -> T,
) -> Result<T, VimFault> {
    let session = call.session()?;
    let spec = {
        let o = session
            .objects
            .lock()
            .map_err(|_| VimFault::invalid_state("session busy"))?;
        o.event_collectors
            .get(&call.mo_id)
            .map(|c| c.filter.clone())
            .ok_or_else(|| VimFault::not_found(&call.this()))?
    };
    let events = matching(&call.state.inv(), &spec)?;
    let mut o = session
        .objects
        .lock()
        .map_err(|_| VimFault::invalid_state("session busy"))?;
    let c = o
        .event_collectors
        .get_mut(&call.mo_id)
        .ok_or_else(|| VimFault::not_found(&call.this()))?;
    c.position = c.position.min(events.len());
    Ok(f(c, &events))
}

fn max_count(body: &Value) -> Result<usize, VimFault> {
    match body.get("maxCount").and_then(Value::as_i64) {
        Some(n) if n > 0 => Ok(n as usize),
        _ => Err(VimFault::invalid_argument("maxCount")),
    }
}

/// `EventHistoryCollector.ReadNextEvents {maxCount}`: newer events from the position, oldest first.
pub fn read_next(call: &Call, body: &Value) -> VimResult {
    let n = max_count(body)?;
    let page = with_collector(call, |c, ev| {
        let end = (c.position + n).min(ev.len());
        let page = ev[c.position..end].to_vec();
        c.position = end;
        page
    })?;
    Ok(Reply::Json(Value::Array(page)))
}

/// `EventHistoryCollector.ReadPreviousEvents {maxCount}`: older events before the position.
pub fn read_previous(call: &Call, body: &Value) -> VimResult {
    let n = max_count(body)?;
    let page = with_collector(call, |c, ev| {
        let start = c.position.saturating_sub(n);
        let mut page = ev[start..c.position].to_vec();
        page.reverse();
        c.position = start;
        page
    })?;
    Ok(Reply::Json(Value::Array(page)))
}

/// `RewindCollector` (to the oldest) and `ResetCollector` (after the newest).
pub fn reposition(call: &Call, to_start: bool) -> VimResult {
    with_collector(call, |c, ev| {
        c.position = if to_start { 0 } else { ev.len() }
    })?;
    Ok(Reply::Empty)
}

/// `GET EventHistoryCollector/{id}/latestPage`.
pub fn latest_page(call: &Call) -> VimResult {
    let page = with_collector(call, |_, ev| {
        ev[ev.len().saturating_sub(LATEST_PAGE)..].to_vec()
    })?;
    Ok(Reply::Json(Value::Array(page)))
}

/// `EventHistoryCollector.DestroyCollector`.
pub fn destroy_collector(call: &Call) -> VimResult {
    let session = call.session()?;
    let mut o = session
        .objects
        .lock()
        .map_err(|_| VimFault::invalid_state("session busy"))?;
    o.event_collectors
        .remove(&call.mo_id)
        .map(|_| Reply::Empty)
        .ok_or_else(|| VimFault::not_found(&call.this()))
}
