//! TaskManager's task history: TaskHistoryCollector (`CreateCollectorForTasks {filter}`,
//! `ReadNextTasks`, `ReadPreviousTasks`, and the `history` methods every history collector has).
//! `recentTask` only reaches ten minutes back; older tasks are read here. A new collector starts
//! at the oldest matching task, so `ReadNextTasks` pages forward in time.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::events::{entity_filter, time};
use super::fault::VimFault;
use super::history::Kind;
use crate::simulator::inventory::Inventory;

/// The TaskHistoryCollector.
pub const COLLECTOR: Kind = Kind {
    collector: "TaskHistoryCollector",
    manager: "TaskManager",
    prefix: "tasks",
    matching,
    log: |inv| (&inv.tasks, inv.tasks_dropped),
    starts_at_end: false,
    book: |o| &mut o.task_collectors,
};

/// A compiled `TaskFilterSpec` (entity, time, state and user parts).
struct Filter {
    entities: Option<HashSet<String>>,
    /// The `TaskInfo` field `time.timeType` names.
    time_field: &'static str,
    begin: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    states: Option<HashSet<String>>,
    users: Option<HashSet<String>>,
}

impl Filter {
    fn new(inv: &Inventory, spec: &Value) -> Result<Filter, VimFault> {
        let t = spec.get("time").filter(|t| !t.is_null());
        let time_field = match t.map(|t| t.get("timeType").and_then(Value::as_str)) {
            None | Some(Some("queuedTime")) => "queueTime",
            Some(Some("startedTime")) => "startTime",
            Some(Some("completedTime")) => "completeTime",
            Some(_) => return Err(VimFault::invalid_argument("filter.time.timeType")),
        };
        let strings = |v: Option<&Value>| -> Option<HashSet<String>> {
            v.and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
        };
        Ok(Filter {
            entities: entity_filter(inv, spec)?,
            time_field,
            begin: time(t.and_then(|t| t.get("beginTime"))),
            end: time(t.and_then(|t| t.get("endTime"))),
            states: strings(spec.get("state")),
            users: strings(spec.get("userName").and_then(|u| u.get("userList"))),
        })
    }

    fn matches(&self, task: &Value) -> bool {
        if let Some(set) = &self.entities {
            let entity = task
                .get("entity")
                .and_then(|e| e.get("value"))
                .and_then(Value::as_str);
            if !entity.is_some_and(|e| set.contains(e)) {
                return false;
            }
        }
        if self.begin.is_some() || self.end.is_some() {
            let at = time(task.get(self.time_field));
            if self.begin.is_some_and(|b| at.is_none_or(|a| a < b))
                || self.end.is_some_and(|e| at.is_none_or(|a| a > e))
            {
                return false;
            }
        }
        let field = |k: &str, sub: &str| {
            task.get(k)
                .and_then(|v| if sub.is_empty() { Some(v) } else { v.get(sub) })
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        self.states
            .as_ref()
            .is_none_or(|s| s.contains(&field("state", "")))
            && self
                .users
                .as_ref()
                .is_none_or(|u| u.contains(&field("reason", "userName")))
    }
}

/// Places in the task history of the tasks matching `spec`, oldest first.
fn matching(inv: &Inventory, spec: &Value) -> Result<Vec<usize>, VimFault> {
    let f = Filter::new(inv, spec)?;
    Ok((0..inv.tasks.len())
        .filter(|&i| f.matches(&inv.tasks[i]))
        .collect())
}
