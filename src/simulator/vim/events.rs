//! EventManager: `QueryEvents` and EventHistoryCollector (`CreateCollectorForEvents`,
//! `ReadNextEvents`, `ReadPreviousEvents`, and the `history` methods every history collector
//! has). Collectors belong to the session and count against a per-session maximum, as on
//! vCenter, so a client that never destroys them runs out.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::fault::VimFault;
use super::history::Kind;
use super::{Call, Reply, VimResult};
use crate::simulator::inventory::{Inventory, MoRef};

/// `QueryEvents` answers at most this many events when `maxCount` is unset.
pub const DEFAULT_QUERY_CAP: usize = 1000;

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

pub(super) fn time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// moIds below `root` in the containment tree, plus the VMs running on hosts below it.
pub(super) fn subtree(inv: &Inventory, root: &str, only_children: bool) -> HashSet<String> {
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

/// The moIds `spec.entity` (`{entity, recursion}` of an event or task filter) selects; `None`
/// when the filter names no entity.
pub(super) fn entity_filter(
    inv: &Inventory,
    spec: &Value,
) -> Result<Option<HashSet<String>>, VimFault> {
    let Some(e) = spec.get("entity").filter(|e| !e.is_null()) else {
        return Ok(None);
    };
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
    Ok(Some(set))
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
        let entities = entity_filter(inv, spec)?;
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
        if self.begin.is_some() || self.end.is_some() {
            let created = time(ev.get("createdTime"));
            if self.begin.is_some_and(|b| created.is_none_or(|c| c < b))
                || self.end.is_some_and(|e| created.is_none_or(|c| c > e))
            {
                return false;
            }
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

/// Places in the event log of the matching events, oldest first.
fn matching(inv: &Inventory, spec: &Value) -> Result<Vec<usize>, VimFault> {
    let f = Filter::new(inv, spec)?;
    Ok((0..inv.events.len())
        .filter(|&i| f.matches(&inv.events[i]))
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
    let inv = call.state.inv();
    let events: Vec<Value> = matching(&inv, &spec)?
        .into_iter()
        .rev()
        .take(cap)
        .map(|i| inv.events[i].clone())
        .collect();
    Ok(Reply::Json(Value::Array(events)))
}

/// The EventHistoryCollector: it starts after the newest event (an incremental reader reads
/// backwards from there).
pub const COLLECTOR: Kind = Kind {
    collector: "EventHistoryCollector",
    manager: "EventManager",
    prefix: "events",
    matching,
    log: |inv| (&inv.events, inv.events_dropped),
    starts_at_end: true,
    book: |o| &mut o.event_collectors,
};
