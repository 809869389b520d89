//! Events after a known key, through an EventHistoryCollector that is always destroyed (each
//! session may only hold a few), recent tasks, and the task history from a queue time through a
//! TaskHistoryCollector, destroyed the same way.

use serde_json::{json, Value};

use crate::vcenter::client::{Idempotency, VcClient};
use crate::vcenter::error::VcResult;
use crate::vcenter::wire::events::{Event, TaskInfo};
use crate::vcenter::wire::MoRef;

/// Events newer than `after_key` (all retained ones for `None`), oldest first, at most `limit`.
/// `entity` narrows to one object and its children.
pub async fn events_since(
    c: &VcClient,
    after_key: Option<i64>,
    entity: Option<&MoRef>,
    limit: usize,
    keep: Keep,
) -> VcResult<Vec<Event>> {
    let em = c.negotiate().await?.content.events();
    let mut filter = json!({"_typeName": "EventFilterSpec"});
    if let Some(e) = entity {
        filter["entity"] =
            json!({"_typeName": "EventFilterSpecByEntity", "entity": e, "recursion": "all"});
    }
    let collector: Option<MoRef> = c
        .vim_post(
            &em,
            "CreateCollectorForEvents",
            Some(json!({"filter": filter})),
            Idempotency::Once,
        )
        .await?;
    let Some(collector) = collector else {
        return Ok(Vec::new());
    };
    let result = read_back(c, &collector, after_key, limit, keep).await;
    c.free(&collector, "DestroyCollector", None).await;
    let mut events = result?;
    events.sort_by_key(|e| e.key);
    Ok(events)
}

/// The newest `limit` events of `entity` (and the objects under it), newest first, in one
/// `EventManager.QueryEvents` call: no history collector, so nothing counts against vCenter's
/// collectors per session and nothing is left to destroy. `limit` stays within the 1,000
/// events vCenter answers at most.
pub async fn newest_of(c: &VcClient, entity: &MoRef, limit: usize) -> VcResult<Vec<Event>> {
    let em = c.negotiate().await?.content.events();
    let filter = json!({
        "_typeName": "EventFilterSpec",
        "entity": {"_typeName": "EventFilterSpecByEntity", "entity": entity, "recursion": "all"},
        "maxCount": limit.min(1000),
    });
    let raw: Vec<Value> = c
        .vim_post(
            &em,
            "QueryEvents",
            Some(json!({"filter": filter})),
            Idempotency::Read,
        )
        .await?
        .unwrap_or_default();
    // Events decode one by one: a single malformed event is skipped, not the whole answer.
    let mut out: Vec<Event> = raw
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.key));
    out.truncate(limit);
    Ok(out)
}

/// Which events a read keeps when more than `limit` are newer than `after_key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// The newest (a view of recent history).
    Newest,
    /// The oldest, so the next read continues where this one stopped (an incremental feed
    /// catching up on a burst).
    Oldest,
}

/// How far back a catching-up read goes, in multiples of its `limit`: a burst larger than this
/// between two reads loses its oldest events (logged), rather than reading without end.
const CATCH_UP_PAGES_PER_LIMIT: usize = 50;

/// Reads backwards from the newest event (a fresh collector is positioned after it) until
/// `after_key`, keeping `limit` events as `keep` says.
async fn read_back(
    c: &VcClient,
    collector: &MoRef,
    after_key: Option<i64>,
    limit: usize,
    keep: Keep,
) -> VcResult<Vec<Event>> {
    let mut out: Vec<Event> = Vec::new();
    let reach = match keep {
        Keep::Newest => limit,
        Keep::Oldest => limit.saturating_mul(CATCH_UP_PAGES_PER_LIMIT),
    };
    let mut reached = after_key.is_none();
    loop {
        // Events decode one by one: a single malformed event is skipped, not the whole page.
        let raw: Vec<Value> = c
            .vim_post(
                collector,
                "ReadPreviousEvents",
                Some(json!({"maxCount": 100})),
                Idempotency::Once,
            )
            .await?
            .unwrap_or_default();
        let raw_len = raw.len();
        let page: Vec<Event> = raw
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect();
        if raw_len == 0 {
            reached = true;
            break;
        }
        reached |= after_key.is_some_and(|k| page.iter().any(|e| e.key <= k));
        out.extend(
            page.into_iter()
                .filter(|e| after_key.is_none_or(|k| e.key > k)),
        );
        if raw_len < 100 {
            reached = true;
        }
        if reached || out.len() >= reach {
            break;
        }
    }
    if !reached && keep == Keep::Oldest {
        tracing::warn!(
            read = out.len(),
            after_key,
            "more events since the last read than one catch-up reaches; the oldest are skipped"
        );
    }
    match keep {
        Keep::Newest => out.sort_by_key(|e| std::cmp::Reverse(e.key)),
        Keep::Oldest => out.sort_by_key(|e| e.key),
    }
    out.truncate(limit);
    Ok(out)
}

/// Recent tasks (vCenter keeps the last 10 minutes, at most 200).
pub async fn recent_tasks(c: &VcClient) -> VcResult<Vec<TaskInfo>> {
    let tm = c.negotiate().await?.content.tasks();
    let refs: Vec<MoRef> = c.vim_get(&tm, "recentTask").await?.unwrap_or_default();
    let mut out = Vec::with_capacity(refs.len());
    for t in refs {
        // A task that finished and was purged between the two reads is simply gone.
        if let Ok(Some(info)) = c.vim_get::<TaskInfo>(&t, "info").await {
            out.push(info);
        }
    }
    Ok(out)
}

/// Tasks a history read asks for per `ReadNextTasks`.
const TASK_PAGE: usize = 100;

/// Tasks queued at or after `since`, oldest first, at most `limit` (the oldest, so the next read
/// continues from the last one's queue time). `recentTask` only reaches ten minutes back; the
/// TaskHistoryCollector reads vCenter's whole task history. Every call is a read; the collector
/// is destroyed whatever happens.
pub async fn tasks_since(
    c: &VcClient,
    since: chrono::DateTime<chrono::Utc>,
    limit: usize,
) -> VcResult<Vec<TaskInfo>> {
    let tm = c.negotiate().await?.content.tasks();
    let filter = json!({
        "_typeName": "TaskFilterSpec",
        "time": {
            "_typeName": "TaskFilterSpecByTime",
            "timeType": "queuedTime",
            "beginTime": since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        },
    });
    let collector: Option<MoRef> = c
        .vim_post(
            &tm,
            "CreateCollectorForTasks",
            Some(json!({"filter": filter})),
            Idempotency::Once,
        )
        .await?;
    let Some(collector) = collector else {
        return Ok(Vec::new());
    };
    let mut out: Vec<TaskInfo> = Vec::new();
    let read = async {
        while out.len() < limit {
            let raw: Vec<Value> = c
                .vim_post(
                    &collector,
                    "ReadNextTasks",
                    Some(json!({"maxCount": TASK_PAGE.min(limit - out.len())})),
                    Idempotency::Once,
                )
                .await?
                .unwrap_or_default();
            if raw.is_empty() {
                break;
            }
            // Tasks decode one by one: a single malformed task is skipped, not the page.
            out.extend(
                raw.into_iter()
                    .filter_map(|v| serde_json::from_value(v).ok()),
            );
        }
        VcResult::Ok(())
    }
    .await;
    c.free(&collector, "DestroyCollector", None).await;
    read?;
    Ok(out)
}
