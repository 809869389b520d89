//! Events (incremental from the last key) and recent tasks into the connection's activity log.

use chrono::{DateTime, Utc};

use crate::inventory::activity::{EventRecord, TaskRecord};
use crate::inventory::ConnectionSlot;
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

/// Reads events newer than the last one seen; the first poll only remembers where vCenter is,
/// so a restart of the service does not replay a day of history as new.
pub async fn poll_events(
    c: &VcClient,
    slot: &ConnectionSlot,
    first: bool,
    alarm_names: &std::collections::HashMap<String, String>,
) -> VcResult<usize> {
    let after = slot.activity().last_event_key;
    // The first read only needs the newest events; later reads continue from the last key.
    let (limit, keep) = if first && after.is_none() {
        (200, Keep::Newest)
    } else {
        (EVENTS_PER_POLL, Keep::Oldest)
    };
    let events = events_since(c, after, None, limit, keep).await?;
    let n = events.len();
    let uuid = slot
        .snapshot()
        .map(|s| s.instance_uuid.clone())
        .unwrap_or_default();
    let transitions = super::alarms::from_events(&events, &uuid, alarm_names);
    let mut log = slot.activity();
    for t in transitions {
        log.add_transition(t);
    }
    for e in events {
        log.add_event(&subjects(&e), event_record(&e));
    }
    Ok(n)
}

/// Replaces the recent task list.
pub async fn poll_tasks(c: &VcClient, slot: &ConnectionSlot) -> VcResult<usize> {
    let tasks = recent_tasks(c).await?;
    let recs: Vec<TaskRecord> = tasks
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
        .collect();
    let n = recs.len();
    slot.activity().recent_tasks = recs;
    Ok(n)
}
