//! What EventHistoryCollector and TaskHistoryCollector share (HistoryCollector on vCenter):
//! a filter fixed at creation, a read position in the matching items (oldest first), reads
//! forwards and backwards, rewind, reset, destroy, and a per-session maximum of open
//! collectors of each kind, so a client that never destroys them runs out as on vCenter.

use serde_json::Value;

use super::fault::VimFault;
use super::objects::{HistoryCollectorState, SessionObjects};
use super::{Call, Reply, VimResult};
use crate::simulator::inventory::{Inventory, MoRef};

/// `EventManager.maxCollector` and `TaskManager.maxCollector`: open collectors of each kind
/// per session.
pub const MAX_COLLECTORS: usize = 32;
/// Page size of `latestPage`.
const LATEST_PAGE: usize = 10;

/// Which kind of history a collector reads.
#[derive(Clone, Copy, Debug)]
pub struct Kind {
    /// The collector's managed object type.
    pub collector: &'static str,
    /// The manager whose `maxCollector` bounds it.
    pub manager: &'static str,
    /// Name part of its moIds.
    pub prefix: &'static str,
    /// Matching items, oldest first, for a filter spec as sent.
    pub matching: fn(&Inventory, &Value) -> Result<Vec<Value>, VimFault>,
    /// Where a new collector starts: after the newest item (true) or at the oldest.
    pub starts_at_end: bool,
    /// The session's collectors of this kind.
    pub book:
        fn(&mut SessionObjects) -> &mut std::collections::HashMap<String, HistoryCollectorState>,
}

fn objects(call: &Call) -> Result<std::sync::MutexGuard<'_, SessionObjects>, VimFault> {
    call.session()?
        .objects
        .lock()
        .map_err(|_| VimFault::invalid_state("session busy"))
}

/// `CreateCollectorFor* {filter}`: checks the filter, counts against the session's maximum.
pub fn create(call: &Call, body: &Value, kind: Kind) -> VimResult {
    let session = call.session()?;
    let spec = body
        .get("filter")
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    let end = (kind.matching)(&call.state.inv(), &spec)?.len();
    let mut o = objects(call)?;
    if (kind.book)(&mut o).len() >= MAX_COLLECTORS {
        return Err(VimFault::invalid_state(&format!(
            "The session already has {MAX_COLLECTORS} {}s ({}.maxCollector)",
            kind.collector, kind.manager
        )));
    }
    o.next_id += 1;
    let id = format!("session[{}]{}-{}", session.key, kind.prefix, o.next_id);
    let position = if kind.starts_at_end { end } else { 0 };
    (kind.book)(&mut o).insert(
        id.clone(),
        HistoryCollectorState {
            filter: spec,
            position,
        },
    );
    Ok(Reply::Json(MoRef::new(kind.collector, id).to_json()))
}

fn with_collector<T>(
    call: &Call,
    kind: Kind,
    f: impl FnOnce(&mut HistoryCollectorState, &[Value]) -> T,
) -> Result<T, VimFault> {
    let spec = (kind.book)(&mut *objects(call)?)
        .get(&call.mo_id)
        .map(|c| c.filter.clone())
        .ok_or_else(|| VimFault::not_found(&call.this()))?;
    let items = (kind.matching)(&call.state.inv(), &spec)?;
    let mut o = objects(call)?;
    let c = (kind.book)(&mut o)
        .get_mut(&call.mo_id)
        .ok_or_else(|| VimFault::not_found(&call.this()))?;
    c.position = c.position.min(items.len());
    Ok(f(c, &items))
}

fn max_count(body: &Value) -> Result<usize, VimFault> {
    match body.get("maxCount").and_then(Value::as_i64) {
        Some(n) if n > 0 => Ok(n as usize),
        _ => Err(VimFault::invalid_argument("maxCount")),
    }
}

/// `ReadNext* {maxCount}`: newer items from the position, oldest first.
pub fn read_next(call: &Call, body: &Value, kind: Kind) -> VimResult {
    let n = max_count(body)?;
    let page = with_collector(call, kind, |c, items| {
        let end = (c.position + n).min(items.len());
        let page = items[c.position..end].to_vec();
        c.position = end;
        page
    })?;
    Ok(Reply::Json(Value::Array(page)))
}

/// `ReadPrevious* {maxCount}`: older items before the position, newest first.
pub fn read_previous(call: &Call, body: &Value, kind: Kind) -> VimResult {
    let n = max_count(body)?;
    let page = with_collector(call, kind, |c, items| {
        let start = c.position.saturating_sub(n);
        let mut page = items[start..c.position].to_vec();
        page.reverse();
        c.position = start;
        page
    })?;
    Ok(Reply::Json(Value::Array(page)))
}

/// `RewindCollector` (to the oldest) and `ResetCollector` (after the newest).
pub fn reposition(call: &Call, to_start: bool, kind: Kind) -> VimResult {
    with_collector(call, kind, |c, items| {
        c.position = if to_start { 0 } else { items.len() }
    })?;
    Ok(Reply::Empty)
}

/// `GET .../latestPage`.
pub fn latest_page(call: &Call, kind: Kind) -> VimResult {
    let page = with_collector(call, kind, |_, items| {
        items[items.len().saturating_sub(LATEST_PAGE)..].to_vec()
    })?;
    Ok(Reply::Json(Value::Array(page)))
}

/// `DestroyCollector`.
pub fn destroy(call: &Call, kind: Kind) -> VimResult {
    (kind.book)(&mut *objects(call)?)
        .remove(&call.mo_id)
        .map(|_| Reply::Empty)
        .ok_or_else(|| VimFault::not_found(&call.this()))
}
