//! Incidents: the life of one vCenter alarm on one object, from the moment vCenter triggered it
//! to the moment it went green, gray or was removed, with each severity change and the
//! acknowledgement in between. The collector derives the transitions; the store keeps them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::alerts::AlertSeverity;

/// The provider every vSphere incident names.
pub const PROVIDER: &str = "vmware";
/// The code of an incident made of a vCenter `AlarmState`.
pub const ALARM_STATE_CODE: &str = "vmware_alarm_state";

/// Which incident a transition belongs to: the alarm, the object it is on and when vCenter
/// triggered it. The same alarm raised again on the same object later is a new incident.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct IncidentKey {
    /// The alarm definition's moId (`alarm-7`).
    pub alarm_moid: String,
    /// The object's moId (`host-12`).
    pub entity_moid: String,
    /// When vCenter triggered it (`AlarmState.time`, or the raising event's `createdTime`).
    pub started_at: DateTime<Utc>,
}

impl IncidentKey {
    /// The native id as vCenter names the pair (`alarm-7.host-12`, the `AlarmState.key`).
    pub fn native_id(&self) -> String {
        format!("{}.{}", self.alarm_moid, self.entity_moid)
    }

    /// Unique per connection: the native id and the start, to the microsecond the store keeps.
    pub fn id(&self) -> String {
        format!(
            "{}@{}",
            self.native_id(),
            self.started_at.timestamp_micros()
        )
    }
}

/// What happened to an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentChange {
    /// vCenter triggered the alarm (yellow or red).
    Opened,
    /// Yellow to red or red to yellow.
    SeverityChanged,
    /// Someone acknowledged it in vCenter.
    Acknowledged,
    /// It went green or gray, or the alarm was removed.
    Closed,
}

impl IncidentChange {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentChange::Opened => "opened",
            IncidentChange::SeverityChanged => "severity_changed",
            IncidentChange::Acknowledged => "acknowledged",
            IncidentChange::Closed => "closed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<IncidentChange> {
        Some(match s {
            "opened" => IncidentChange::Opened,
            "severity_changed" => IncidentChange::SeverityChanged,
            "acknowledged" => IncidentChange::Acknowledged,
            "closed" => IncidentChange::Closed,
            _ => return None,
        })
    }
}

/// One transition of one incident, as vCenter reported it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IncidentTransition {
    pub incident: IncidentKey,
    pub change: IncidentChange,
    /// When it happened: vCenter's time when `exact`, otherwise when the collector saw it (a
    /// clear seen in a snapshot before its event arrived; the event's time replaces it).
    pub at: DateTime<Utc>,
    pub exact: bool,
    /// Restates the time of a close already reported (a snapshot saw it first, the clearing
    /// event now gives vCenter's time): the store corrects it, a log of changes skips it.
    pub restated: bool,
    /// The severity after the transition (before it, for a close).
    pub severity: AlertSeverity,
    /// The `AlarmStatusChangedEvent` behind it, when vCenter named one.
    pub event_key: Option<i64>,
    /// Who acknowledged it.
    pub user: Option<String>,
    /// The canonical resource id of the object.
    pub resource_id: String,
    /// The object's name.
    pub object_name: String,
    /// The alarm's name.
    pub alarm_name: String,
}

impl IncidentTransition {
    /// `"<alarm> on <object>"`, the incident's summary.
    pub fn summary(&self) -> String {
        format!("{} on {}", self.alarm_name, self.object_name)
    }
}

/// An incident as the store reads it back.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IncidentRecord {
    pub connection_id: String,
    pub key: IncidentKey,
    pub resource_id: String,
    pub summary: String,
    pub alarm_name: String,
    /// The worst severity it reached.
    pub severity: AlertSeverity,
    /// Its severity now (at its close, once closed).
    pub current_severity: AlertSeverity,
    pub ended_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    /// The newest `AlarmStatusChangedEvent` key applied to it.
    pub last_event_key: Option<i64>,
}

/// Where a restarted collector continues: the incidents still open, the last event read, and
/// the queue time the task history is read again from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resume {
    pub open: Vec<IncidentRecord>,
    pub last_event_key: Option<i64>,
    pub task_cursor: Option<DateTime<Utc>>,
}

/// What one write to the store carries: incident transitions, events (with the moIds each
/// names) and task states, each written idempotently, so a batch written twice changes nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistoryBatch {
    pub incidents: Vec<IncidentTransition>,
    pub events: Vec<(Vec<String>, super::activity::EventRecord)>,
    pub tasks: Vec<super::activity::TaskRecord>,
}

impl HistoryBatch {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.incidents.is_empty() && self.events.is_empty() && self.tasks.is_empty()
    }
}
