//! The incident book: each alarm's life on a host, VM or datastore (or a cluster, datacenter or
//! folder above them), from two sources that see
//! different things. A snapshot shows the triggered `AlarmState`s (severity, vCenter's time,
//! acknowledgement); `AlarmStatusChangedEvent`s show every transition, including an alarm
//! raised and cleared between two snapshots. Both name the same transition by its event key
//! (`AlarmState.eventKey` is the event that set the state), so each is recorded once, however
//! close together or far apart the two reports arrive.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::inventory::incidents::{
    IncidentChange, IncidentKey, IncidentRecord, IncidentTransition,
};
use crate::model::alerts::AlertSeverity;
use crate::model::resources::ActiveAlert;
use crate::model::snapshot::InventorySnapshot;
use crate::model::ResourceId;
use crate::vcenter::wire::events::Event;

/// What the book knows of one alarm on one object: its current (or last) incident.
#[derive(Clone, Debug)]
struct Pair {
    incident: IncidentKey,
    open: bool,
    severity: AlertSeverity,
    acknowledged: bool,
    /// The close has vCenter's time (from the clearing event), not the time a snapshot missed it.
    close_exact: bool,
    /// The newest event key applied; older reports of the pair are already in the book.
    last_key: Option<i64>,
    /// vCenter's time of the newest transition applied, for states that name no event.
    last_at: DateTime<Utc>,
    /// When the book learnt the newest transition: a snapshot read before that cannot close it.
    learnt: DateTime<Utc>,
    resource_id: String,
    object_name: String,
    alarm_name: String,
}

impl Pair {
    /// Whether a report with `key`/`at` is newer than what the pair holds.
    fn older_than(&self, key: Option<i64>, at: Option<DateTime<Utc>>) -> bool {
        match (key, self.last_key) {
            (Some(k), Some(last)) => k > last,
            _ => at.is_some_and(|t| t > self.last_at),
        }
    }

    fn transition(
        &self,
        change: IncidentChange,
        at: DateTime<Utc>,
        exact: bool,
        key: Option<i64>,
    ) -> IncidentTransition {
        IncidentTransition {
            incident: self.incident.clone(),
            change,
            at,
            exact,
            restated: false,
            severity: self.severity,
            event_key: key,
            user: None,
            resource_id: self.resource_id.clone(),
            object_name: self.object_name.clone(),
            alarm_name: self.alarm_name.clone(),
        }
    }
}

/// The open (and last closed) incident of every alarm/object pair of one connection.
#[derive(Debug, Default)]
pub struct IncidentBook {
    pairs: HashMap<(String, String), Pair>,
}

/// What a report says about one pair.
struct Report<'a> {
    alarm: &'a str,
    entity: &'a str,
    resource_id: String,
    object_name: &'a str,
    alarm_name: &'a str,
}

impl IncidentBook {
    /// A book continuing where the store left off: the incidents still open after a restart
    /// are the same incidents, neither opened again nor closed by the first snapshot.
    pub fn resumed(open: &[IncidentRecord]) -> IncidentBook {
        let pairs = open
            .iter()
            .filter(|r| r.ended_at.is_none())
            .map(|r| {
                let pair = Pair {
                    incident: r.key.clone(),
                    open: true,
                    severity: r.current_severity,
                    acknowledged: r.acknowledged_at.is_some(),
                    close_exact: false,
                    last_key: r.last_event_key,
                    last_at: r.key.started_at,
                    learnt: DateTime::<Utc>::MIN_UTC,
                    resource_id: r.resource_id.clone(),
                    object_name: object_of(&r.summary).to_string(),
                    alarm_name: r.alarm_name.clone(),
                };
                ((r.key.alarm_moid.clone(), r.key.entity_moid.clone()), pair)
            })
            .collect();
        IncidentBook { pairs }
    }

    /// Incidents open now.
    pub fn open_count(&self) -> usize {
        self.pairs.values().filter(|p| p.open).count()
    }

    fn open(&mut self, r: &Report, s: Open, now: DateTime<Utc>) -> IncidentTransition {
        let pair = Pair {
            incident: IncidentKey {
                alarm_moid: r.alarm.to_string(),
                entity_moid: r.entity.to_string(),
                started_at: s.at.unwrap_or(now),
            },
            open: true,
            severity: s.severity,
            acknowledged: false,
            close_exact: false,
            last_key: s.key,
            last_at: s.at.unwrap_or(now),
            learnt: now,
            resource_id: r.resource_id.clone(),
            object_name: r.object_name.to_string(),
            alarm_name: r.alarm_name.to_string(),
        };
        let t = pair.transition(IncidentChange::Opened, pair.last_at, s.at.is_some(), s.key);
        self.pairs
            .insert((r.alarm.to_string(), r.entity.to_string()), pair);
        t
    }

    /// The transitions a newly published snapshot shows: alarms triggered, changed or
    /// acknowledged, and open incidents whose alarm is no longer triggered.
    pub fn observe_snapshot(
        &mut self,
        snap: &InventorySnapshot,
        now: DateTime<Utc>,
    ) -> Vec<IncidentTransition> {
        let mut out = Vec::new();
        let mut seen: HashSet<(String, String)> = HashSet::new();
        for (resource_id, name, alert) in triggered(snap) {
            let report = Report {
                alarm: &alert.alarm_moid,
                entity: &alert.source_moid,
                resource_id,
                object_name: name,
                alarm_name: &alert.name,
            };
            let pair_key = (alert.alarm_moid.clone(), alert.source_moid.clone());
            seen.insert(pair_key.clone());
            let state = Open {
                severity: alert.severity,
                at: alert.since,
                key: alert.event_key,
            };
            match self.pairs.get_mut(&pair_key) {
                Some(p) if p.open => {
                    if p.older_than(state.key, state.at) {
                        if p.severity == state.severity {
                            // The same severity with a newer trigger: cleared and raised again
                            // while nobody looked (a restart): the old one ended, a new began.
                            let at = state.at.unwrap_or(now);
                            p.open = false;
                            out.push(p.transition(IncidentChange::Closed, at, false, None));
                            out.push(self.open(&report, state, now));
                        } else {
                            p.severity = state.severity;
                            p.last_key = state.key.or(p.last_key);
                            p.last_at = state.at.unwrap_or(now);
                            p.learnt = now;
                            out.push(p.transition(
                                IncidentChange::SeverityChanged,
                                p.last_at,
                                state.at.is_some(),
                                state.key,
                            ));
                        }
                    }
                }
                // A closed pair whose state is not newer than its close: a snapshot older than
                // the event that closed it.
                Some(p) if !p.older_than(state.key, state.at) => continue,
                _ => out.push(self.open(&report, state, now)),
            }
            if let Some(p) = self.pairs.get_mut(&pair_key) {
                if alert.acknowledged && p.open && !p.acknowledged {
                    p.acknowledged = true;
                    let at = alert.acknowledged_at.unwrap_or(now);
                    let mut t = p.transition(
                        IncidentChange::Acknowledged,
                        at,
                        alert.acknowledged_at.is_some(),
                        None,
                    );
                    t.user.clone_from(&alert.acknowledged_by);
                    out.push(t);
                }
            }
        }
        for (k, p) in self.pairs.iter_mut() {
            // An incident learnt (from an event) after this snapshot was taken is not closed by
            // it; the next snapshot or the clearing event closes it.
            if p.open && !seen.contains(k) && p.learnt <= snap.taken_at {
                p.open = false;
                p.close_exact = false;
                out.push(p.transition(IncidentChange::Closed, now, false, None));
            }
        }
        out
    }

    /// The transitions `AlarmStatusChangedEvent`s report (in key order) that the book does not
    /// hold yet, and the exact time of closes a snapshot saw first.
    pub fn observe_events(
        &mut self,
        events: &[Event],
        instance_uuid: &str,
        alarm_names: &HashMap<String, String>,
        now: DateTime<Utc>,
    ) -> Vec<IncidentTransition> {
        let mut out = Vec::new();
        for e in events
            .iter()
            .filter(|e| e.type_name == "AlarmStatusChangedEvent")
        {
            let Some(c) = AlarmChange::of(e) else {
                continue;
            };
            let pair_key = (c.alarm.clone(), c.entity.clone());
            let report = Report {
                alarm: &c.alarm,
                entity: &c.entity,
                resource_id: ResourceId::new(instance_uuid, &c.entity).to_string(),
                object_name: &c.entity_name,
                alarm_name: alarm_names.get(&c.alarm).unwrap_or(&c.alarm_name),
            };
            let p = self.pairs.get_mut(&pair_key);
            if p.as_ref()
                .is_some_and(|p| !p.older_than(Some(e.key), Some(c.at)))
            {
                continue;
            }
            match (p, c.to) {
                (Some(p), Some(sv)) if p.open => {
                    p.last_key = Some(e.key);
                    p.last_at = c.at;
                    p.learnt = now;
                    if p.severity != sv {
                        p.severity = sv;
                        out.push(p.transition(
                            IncidentChange::SeverityChanged,
                            c.at,
                            true,
                            Some(e.key),
                        ));
                    }
                }
                (_, Some(sv)) => {
                    let open = Open {
                        severity: sv,
                        at: Some(c.at),
                        key: Some(e.key),
                    };
                    out.push(self.open(&report, open, now));
                }
                (Some(p), None) if p.open || !p.close_exact => {
                    let restated = !p.open;
                    p.open = false;
                    p.close_exact = true;
                    p.last_key = Some(e.key);
                    p.last_at = c.at;
                    p.learnt = now;
                    let mut t = p.transition(IncidentChange::Closed, c.at, true, Some(e.key));
                    t.restated = restated;
                    out.push(t);
                }
                (Some(p), None) => p.last_key = Some(e.key),
                // A clear of an alarm the book never saw raised (raised before the first read).
                (None, None) => {}
            }
        }
        out
    }
}

/// A triggered state as the book needs it.
struct Open {
    severity: AlertSeverity,
    at: Option<DateTime<Utc>>,
    key: Option<i64>,
}

/// What one `AlarmStatusChangedEvent` says.
struct AlarmChange {
    alarm: String,
    alarm_name: String,
    entity: String,
    entity_name: String,
    to: Option<AlertSeverity>,
    at: DateTime<Utc>,
}

impl AlarmChange {
    /// Hosts, VMs and datastores carry incidents, and so do the clusters, datacenters and
    /// folders above them (their resources show them as context).
    fn of(e: &Event) -> Option<AlarmChange> {
        let entity_arg = e.entity.as_ref()?;
        let entity = entity_arg.moref()?;
        if !matches!(
            entity.kind.as_str(),
            "HostSystem"
                | "VirtualMachine"
                | "Datastore"
                | "ClusterComputeResource"
                | "Datacenter"
                | "Folder"
        ) {
            return None;
        }
        let alarm_arg = e.alarm.as_ref()?;
        let alarm = alarm_arg.moref()?.value;
        let from = e.from.as_deref().and_then(AlertSeverity::from_vsphere);
        let to = e.to.as_deref().and_then(AlertSeverity::from_vsphere);
        if from.is_none() && to.is_none() {
            return None;
        }
        Some(AlarmChange {
            alarm,
            alarm_name: alarm_arg.name.clone(),
            entity: entity.value,
            entity_name: entity_arg.name.clone(),
            to,
            at: crate::model::utc(&e.created_time)?,
        })
    }
}

/// The object's name in a stored summary (`"<alarm> on <object>"`).
fn object_of(summary: &str) -> &str {
    summary.rsplit_once(" on ").map_or(summary, |(_, o)| o)
}

/// Alarms triggered on hosts, VMs and datastores themselves, and on the clusters, datacenters
/// and folders above them, with the object's canonical id and name.
fn triggered(s: &InventorySnapshot) -> impl Iterator<Item = (String, &str, &ActiveAlert)> {
    let agents = s
        .agents
        .iter()
        .map(|a| (a.id.as_str(), a.name.as_str(), &a.alerts));
    let vms = s
        .vms
        .iter()
        .map(|v| (v.id.as_str(), v.name.as_str(), &v.alerts));
    let storage = s
        .storage
        .iter()
        .map(|d| (d.id.as_str(), d.name.as_str(), &d.alerts));
    let resources = agents
        .chain(vms)
        .chain(storage)
        .flat_map(|(id, name, alerts)| alerts.iter().map(move |a| (id.to_string(), name, a)));
    let topology = s.topology_alerts.iter().map(|t| {
        let id = ResourceId::new(&s.instance_uuid, &t.alert.source_moid).to_string();
        (id, t.alert.source_name.as_str(), &t.alert)
    });
    resources.chain(topology)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: i64, from: &str, to: &str, secs: i64) -> Event {
        let at = DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default();
        serde_json::from_value(serde_json::json!({
            "_typeName": "AlarmStatusChangedEvent",
            "key": key,
            "createdTime": at.to_rfc3339(),
            "alarm": {"name": "Host CPU usage", "alarm": {"_typeName": "ManagedObjectReference", "type": "Alarm", "value": "alarm-1"}},
            "entity": {"name": "esx-01", "entity": {"_typeName": "ManagedObjectReference", "type": "HostSystem", "value": "host-1"}},
            "from": from,
            "to": to,
        }))
        .expect("event")
    }

    fn changes(book: &mut IncidentBook, events: &[Event]) -> Vec<(IncidentChange, i64, bool)> {
        book.observe_events(events, "u", &HashMap::new(), Utc::now())
            .into_iter()
            .map(|t| (t.change, t.at.timestamp() - 1_800_000_000, t.restated))
            .collect()
    }

    #[test]
    fn each_event_is_applied_once_whatever_the_time_between_reports() {
        let mut book = IncidentBook::default();
        let life = [
            change(10, "green", "yellow", 0),
            change(11, "yellow", "red", 1),
            change(12, "red", "green", 2),
            change(13, "green", "red", 3),
        ];
        assert_eq!(
            changes(&mut book, &life),
            vec![
                (IncidentChange::Opened, 0, false),
                (IncidentChange::SeverityChanged, 1, false),
                (IncidentChange::Closed, 2, false),
                (IncidentChange::Opened, 3, false),
            ]
        );
        // The same events read again (a re-read after a failed poll) add nothing, even an hour
        // later: keys, not a time window, say what is known.
        assert!(changes(&mut book, &life).is_empty());
        assert_eq!(book.open_count(), 1);
    }

    #[test]
    fn a_clear_the_store_holds_as_open_closes_the_resumed_incident() {
        let started = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let open = IncidentRecord {
            connection_id: "vc1".into(),
            key: IncidentKey {
                alarm_moid: "alarm-1".into(),
                entity_moid: "host-1".into(),
                started_at: started,
            },
            resource_id: "vsphere:u:host-1".into(),
            summary: "Host CPU usage on esx-01".into(),
            alarm_name: "Host CPU usage".into(),
            severity: AlertSeverity::Critical,
            current_severity: AlertSeverity::Critical,
            ended_at: None,
            acknowledged_at: None,
            acknowledged_by: None,
            last_event_key: Some(10),
        };
        let mut book = IncidentBook::resumed(&[open]);
        let got = book.observe_events(
            &[change(10, "green", "red", 0), change(14, "red", "green", 9)],
            "u",
            &HashMap::new(),
            Utc::now(),
        );
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].change, IncidentChange::Closed);
        assert_eq!(got[0].incident.started_at, started, "the same incident");
        assert_eq!(got[0].incident.native_id(), "alarm-1.host-1");
        assert!(got[0].exact);
        assert_eq!(book.open_count(), 0);
    }
}
