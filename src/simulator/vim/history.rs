//! What EventHistoryCollector and TaskHistoryCollector share (HistoryCollector on vCenter):
//! a filter fixed at creation, a read position in the matching items (oldest first), reads
//! forwards and backwards, rewind, reset, destroy, and a per-session maximum of open
//! collectors of each kind, so a client that never destroys them runs out as on vCenter.
//!
//! The position is a place in the whole log counted from its first item ever, not an index
//! into what is kept: when the log is full and drops its oldest items, a collector stays on
//! the item it was on instead of sliding onto newer ones. A read copies only its page.

use std::collections::VecDeque;

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
    /// Places in [`Kind::log`] of the items matching a filter spec as sent, ascending.
    pub matching: fn(&Inventory, &Value) -> Result<Vec<usize>, VimFault>,
    /// The log (oldest first) and how many items it has dropped from its front.
    pub log: fn(&Inventory) -> (&VecDeque<Value>, u64),
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
    let (start, end) = {
        let inv = call.state.inv();
        (kind.matching)(&inv, &spec)?;
        let (log, dropped) = (kind.log)(&inv);
        (dropped, dropped + log.len() as u64)
    };
    let mut o = objects(call)?;
    if (kind.book)(&mut o).len() >= MAX_COLLECTORS {
        return Err(VimFault::invalid_state(&format!(
            "The session already has {MAX_COLLECTORS} {}s ({}.maxCollector)",
            kind.collector, kind.manager
        )));
    }
    o.next_id += 1;
    let id = format!("session[{}]{}-{}", session.key, kind.prefix, o.next_id);
    let position = if kind.starts_at_end { end } else { start };
    (kind.book)(&mut o).insert(
        id.clone(),
        HistoryCollectorState {
            filter: spec,
            position,
        },
    );
    Ok(Reply::Json(MoRef::new(kind.collector, id).to_json()))
}

/// Runs `f` on the collector's position (as an index into the log as it is now) and the
/// places of its matching items; `f` returns its answer and the new position, if it moves.
fn with_collector<T>(
    call: &Call,
    kind: Kind,
    f: impl FnOnce(usize, &[usize], &VecDeque<Value>) -> (T, Option<usize>),
) -> Result<T, VimFault> {
    let (spec, position) = (kind.book)(&mut *objects(call)?)
        .get(&call.mo_id)
        .map(|c| (c.filter.clone(), c.position))
        .ok_or_else(|| VimFault::not_found(&call.this()))?;
    let (out, moved) = {
        let inv = call.state.inv();
        let places = (kind.matching)(&inv, &spec)?;
        let (log, dropped) = (kind.log)(&inv);
        let here = position.saturating_sub(dropped).min(log.len() as u64) as usize;
        let (out, to) = f(here, &places, log);
        (out, to.map(|p| dropped + p as u64))
    };
    if let Some(to) = moved {
        if let Some(c) = (kind.book)(&mut *objects(call)?).get_mut(&call.mo_id) {
            c.position = to;
        }
    }
    Ok(out)
}

fn copy(log: &VecDeque<Value>, places: &[usize]) -> Vec<Value> {
    places.iter().filter_map(|&p| log.get(p).cloned()).collect()
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
    let page = with_collector(call, kind, |here, places, log| {
        let from = places.partition_point(|&p| p < here);
        let taken = &places[from..(from + n).min(places.len())];
        let to = taken.last().map(|&p| p + 1);
        (copy(log, taken), to)
    })?;
    Ok(Reply::Json(Value::Array(page)))
}

/// `ReadPrevious* {maxCount}`: older items before the position, newest first.
pub fn read_previous(call: &Call, body: &Value, kind: Kind) -> VimResult {
    let n = max_count(body)?;
    let page = with_collector(call, kind, |here, places, log| {
        let end = places.partition_point(|&p| p < here);
        let taken = &places[end.saturating_sub(n)..end];
        let to = taken.first().copied();
        let mut page = copy(log, taken);
        page.reverse();
        (page, to)
    })?;
    Ok(Reply::Json(Value::Array(page)))
}

/// `RewindCollector` (to the oldest) and `ResetCollector` (after the newest).
pub fn reposition(call: &Call, to_start: bool, kind: Kind) -> VimResult {
    with_collector(call, kind, |_, _, log| {
        ((), Some(if to_start { 0 } else { log.len() }))
    })?;
    Ok(Reply::Empty)
}

/// `GET .../latestPage`.
pub fn latest_page(call: &Call, kind: Kind) -> VimResult {
    let page = with_collector(call, kind, |_, places, log| {
        (
            copy(log, &places[places.len().saturating_sub(LATEST_PAGE)..]),
            None,
        )
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
