//! Events (incremental from the last key), recent tasks, and the task history (incremental
//! from the last queue time), read for the outlet.

use chrono::{DateTime, Utc};

use super::outlet::Change;
use crate::inventory::activity::{EventRecord, TaskRecord};
use crate::model::utc;
use crate::vcenter::reads::events::{events_since, recent_tasks, tasks_since, Keep};
use crate::vcenter::wire::events::{Event, TaskInfo};
use crate::vcenter::{VcClient, VcResult};

/// Events read per poll at most; a burst larger than this is caught up over the next polls.
/// At the default 30 s poll this keeps up with 333 events/s; 1,000 a poll (33/s) fell behind a
/// `max` vCenter at 100 changes/s (107 events/s logged, 68 stored: `benches/history_max.rs`).
pub const EVENTS_PER_POLL: usize = 10_000;

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
pub async fn poll_events(
    c: &VcClient,
    after: Option<i64>,
    first: bool,
    per_poll: usize,
) -> VcResult<Vec<Event>> {
    // The first read only needs the newest events; later reads continue from the last key.
    let (limit, keep) = if first && after.is_none() {
        (200, Keep::Newest)
    } else {
        (per_poll, Keep::Oldest)
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

fn task_record(t: TaskInfo) -> TaskRecord {
    TaskRecord {
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
    }
}

/// vCenter's recent tasks.
pub async fn poll_tasks(c: &VcClient) -> VcResult<Vec<TaskRecord>> {
    Ok(recent_tasks(c)
        .await?
        .into_iter()
        .map(task_record)
        .collect())
}

/// Tasks read from the task history per poll at most; a longer history is caught up over the
/// next polls.
pub const TASKS_PER_POLL: usize = 1000;
/// How far back the first read of a connection that never stored a task goes.
pub const FIRST_TASKS_BACK: chrono::Duration = chrono::Duration::hours(24);

/// Where the task history read stands: the newest queue time read, and the tasks read with
/// exactly that time (the next read starts at that time again, so a task queued in the same
/// instant is not lost, and those already read are not sent twice).
#[derive(Clone, Debug, Default)]
pub struct TaskCursor {
    pub at: Option<DateTime<Utc>>,
    pub keys_at: Vec<String>,
}

/// The task history after `cursor` (from [`FIRST_TASKS_BACK`] ago when there is none), oldest
/// first, at most [`TASKS_PER_POLL`]; moves the cursor past what it returns.
pub async fn poll_task_history(c: &VcClient, cursor: &mut TaskCursor) -> VcResult<Vec<TaskRecord>> {
    let since = cursor.at.unwrap_or_else(|| Utc::now() - FIRST_TASKS_BACK);
    let read: Vec<TaskRecord> = tasks_since(c, since, TASKS_PER_POLL)
        .await?
        .into_iter()
        .map(task_record)
        .filter(|t| !(t.queued == cursor.at && cursor.keys_at.contains(&t.key)))
        .collect();
    if let Some(newest) = read.iter().filter_map(|t| t.queued).max() {
        if Some(newest) != cursor.at {
            cursor.keys_at.clear();
        }
        cursor.at = Some(newest);
        let at_newest = read.iter().filter(|t| t.queued == Some(newest));
        cursor.keys_at.extend(at_newest.map(|t| t.key.clone()));
    }
    Ok(read)
}
