//! Events (incremental from the last key) and recent tasks, read for the outlet.

use chrono::{DateTime, Utc};

use super::outlet::Change;
use crate::inventory::activity::{EventRecord, TaskRecord};
use crate::model::utc;
use crate::vcenter::reads::events::{events_since, recent_tasks, Keep};
use crate::vcenter::wire::events::Event;
use crate::vcenter::{VcClient, VcResult};

/// Events read per poll at most; a burst larger than this is caught up over the next polls.
pub const EVENTS_PER_POLL: usize = 1000;

fn time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(utc)
}

/// A vCenter event as the activity log keeps it (also used for events read on demand).
pub fn event_record(e: &Event) -> EventRecord {
    EventRecord {
        key: e.key,
        // `EventEx` carries its real type in `eventTypeId`.
        event_type: e
            .event_type_id
            .clone()
            .unwrap_or_else(|| e.type_name.clone()),
        created: time(Some(&e.created_time)),
        message: e.full_formatted_message.clone().unwrap_or_default(),
        user: e.user_name.clone().filter(|u| !u.is_empty()),
    }
}

/// The moIds an event is about (VM, host, datastore, alarm entity).
fn subjects(e: &Event) -> Vec<String> {
    [&e.vm, &e.host, &e.ds, &e.entity]
        .into_iter()
        .flatten()
        .filter_map(|a| a.moref().map(|m| m.value))
        .collect()
}

/// Reads events newer than `after` (the last one seen, or stored before a restart); the first
/// poll of a connection that never stored one only remembers where vCenter is, so a first start
/// does not replay a day of history as new.
pub async fn poll_events(c: &VcClient, after: Option<i64>, first: bool) -> VcResult<Vec<Event>> {
    // The first read only needs the newest events; later reads continue from the last key.
    let (limit, keep) = if first && after.is_none() {
        (200, Keep::Newest)
    } else {
        (EVENTS_PER_POLL, Keep::Oldest)
    };
    events_since(c, after, None, limit, keep).await
}

/// Events as changes for the outlet, in key order.
pub fn event_changes(events: &[Event]) -> impl Iterator<Item = Change> + '_ {
    events.iter().map(|e| Change::Event {
        subjects: subjects(e),
        record: event_record(e),
    })
}

/// vCenter's recent tasks.
pub async fn poll_tasks(c: &VcClient) -> VcResult<Vec<TaskRecord>> {
    let tasks = recent_tasks(c).await?;
    Ok(tasks
        .into_iter()
        .map(|t| TaskRecord {
            key: t.key,
            description_id: t.description_id,
            entity_moid: t.entity.map(|e| e.value),
            entity_name: t.entity_name,
            state: t.state,
            queued: time(t.queue_time.as_deref()),
            completed: time(t.complete_time.as_deref()),
            error: t.error.and_then(|e| {
                e.get("localizedMessage")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            }),
        })
        .collect())
}
