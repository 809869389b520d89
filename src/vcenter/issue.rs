//! Health issues as data: which stage of collection met which failure class on which object,
//! how often, and what an admin can do about it. The connection test (`check`), connection
//! health and GraphQL all carry this one type, so a hint written here reads the same everywhere.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::{FailureClass, VcError};

/// Where in collection an issue arose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Reaching vCenter, its version and API type.
    Connect,
    /// Logins and keeping both sessions alive.
    Sessions,
    /// The privileges of the phase-1 read bundle.
    Privileges,
    /// Reading the inventory (and properties vCenter would not return).
    FullSync,
    /// Following `WaitForUpdatesEx`.
    ChangeFeed,
    Events,
    Tasks,
    /// Triggered alarms and alarm definitions.
    Alarms,
    /// Performance counters and samples.
    Performance,
    Tags,
    /// What VMware Tools reports from inside a VM.
    Guest,
    /// Keeping the connection's incidents and events in the service's own store (the class is
    /// `unknown`: no vCenter call failed).
    History,
}

impl Stage {
    /// The snake_case name (`full_sync`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Sessions => "sessions",
            Stage::Privileges => "privileges",
            Stage::FullSync => "full_sync",
            Stage::ChangeFeed => "change_feed",
            Stage::Events => "events",
            Stage::Tasks => "tasks",
            Stage::Alarms => "alarms",
            Stage::Performance => "performance",
            Stage::Tags => "tags",
            Stage::Guest => "guest",
            Stage::History => "history",
        }
    }
}

/// The vCenter object an issue is about.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IssueObject {
    /// Managed object type (`VirtualMachine`).
    pub kind: String,
    /// moId (`vm-42`).
    pub mo_id: String,
    /// The canonical resource id, for hosts, VMs and datastores the graph serves.
    pub id: Option<String>,
    /// Its name, when known.
    pub name: Option<String>,
}

impl IssueObject {
    pub fn new(kind: &str, mo_id: &str) -> Self {
        IssueObject {
            kind: kind.to_string(),
            mo_id: mo_id.to_string(),
            id: None,
            name: None,
        }
    }
}

/// One degradation of a connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthIssue {
    pub stage: Stage,
    pub class: FailureClass,
    pub object: Option<IssueObject>,
    /// What on the object or stage: a property path, a counter name. Issues of one stage are
    /// told apart by object and subject.
    pub subject: Option<String>,
    /// Privilege ids vCenter said the user lacks.
    pub privileges: Vec<String>,
    /// Times seen since it first appeared (it is dropped once the read works again).
    pub occurrences: u32,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// What happened, never a secret.
    pub message: String,
    /// What an admin can do about it.
    pub hint: Option<String>,
}

/// The REST error vCenter answers a guest read with while Tools is not running.
pub const TOOLS_NOT_RUNNING: &str = "VMware Tools not running in the guest: start or install Tools; until then guest identity and filesystems are unknown";

impl HealthIssue {
    /// The service's store cannot keep `subject` (`resume`, `writer`) of the history.
    pub fn history(subject: &str, message: impl Into<String>) -> Self {
        let mut i = HealthIssue::new(Stage::History, FailureClass::Unknown, message);
        i.subject = Some(subject.to_string());
        i.hint = Some(
            "the service's store is unreachable or behind (vsphereStore); collecting and serving go on, history waits or is dropped past its bound"
                .into(),
        );
        i
    }

    /// A new issue seen once, now.
    pub fn new(stage: Stage, class: FailureClass, message: impl Into<String>) -> Self {
        let now = Utc::now();
        HealthIssue {
            stage,
            class,
            object: None,
            subject: None,
            privileges: Vec::new(),
            occurrences: 1,
            first_seen: now,
            last_seen: now,
            message: message.into(),
            hint: None,
        }
    }

    /// The issue a failed call of `stage` leaves, with the hint its fault calls for.
    pub fn from_error(stage: Stage, e: &VcError) -> Self {
        let mut i = HealthIssue::new(stage, e.class, e.to_string());
        i.privileges.clone_from(&e.missing_privileges);
        i.hint = hint(
            stage,
            e.class,
            e.fault.as_deref(),
            &e.message.to_lowercase(),
            &i.privileges,
        );
        i
    }

    /// A property vCenter would not return for one object (`missingSet`), or one whose value
    /// did not parse. `fault` is the fault type, optionally followed by the privilege ids it
    /// named (see [`missing_fault`]).
    pub fn unreadable(object: IssueObject, path: &str, fault: &str) -> Self {
        let (fault, privileges) = split_missing_fault(fault);
        let class = match fault {
            "NoPermission" => FailureClass::PermissionDenied,
            "MalformedValue" => FailureClass::ProtocolError,
            _ => FailureClass::Unknown,
        };
        let mut i = HealthIssue::new(
            Stage::FullSync,
            class,
            format!(
                "{} {}: {path} unreadable ({fault})",
                object.kind, object.mo_id
            ),
        );
        i.privileges = privileges;
        i.hint = hint(Stage::FullSync, class, Some(fault), "", &i.privileges);
        i.subject = Some(path.to_string());
        i.object = Some(object);
        i
    }

    /// A counter the service reads that vCenter's statistics level does not keep in history.
    pub fn counter_not_collected(counter: &str, counter_level: i32, stats_level: i32) -> Self {
        let mut i = HealthIssue::new(
            Stage::Performance,
            FailureClass::VcenterLimit,
            format!("counter {counter} is level {counter_level}; vCenter collects history at statistics level {stats_level}"),
        );
        i.hint = Some(format!(
            "statistics level {stats_level} does not collect {counter}: raise it to {counter_level} or ignore"
        ));
        i.subject = Some(counter.to_string());
        i
    }

    /// A counter the service reads that vCenter does not list at all.
    pub fn counter_missing(counter: &str) -> Self {
        let mut i = HealthIssue::new(
            Stage::Performance,
            FailureClass::VcenterLimit,
            format!("vCenter lists no counter {counter}"),
        );
        i.hint = Some(format!(
            "this vCenter does not provide {counter}; its values stay empty (ignore, or upgrade vCenter)"
        ));
        i.subject = Some(counter.to_string());
        i
    }

    /// A VM whose guest cannot be read because Tools is not running.
    pub fn tools_not_running(object: IssueObject) -> Self {
        let mut i = HealthIssue::new(
            Stage::Guest,
            FailureClass::VcenterUnavailable,
            format!(
                "{} {}: VMware Tools is not running in the guest operating system",
                object.kind, object.mo_id
            ),
        );
        i.hint = Some(TOOLS_NOT_RUNNING.to_string());
        i.object = Some(object);
        i
    }

    /// Issues of one stage about the same object and subject are the same issue seen again.
    pub fn same_as(&self, other: &HealthIssue) -> bool {
        self.stage == other.stage
            && self.object.as_ref().map(|o| &o.mo_id) == other.object.as_ref().map(|o| &o.mo_id)
            && self.subject == other.subject
    }

    /// About the stage as a whole (a failed read), not one object or subject of it.
    pub fn is_stage_wide(&self) -> bool {
        self.object.is_none() && self.subject.is_none()
    }

    /// One line for logs and the `issues` strings: `stage: message`.
    pub fn line(&self) -> String {
        format!("{}: {}", self.stage.as_str(), self.message)
    }
}

/// Adds `issue` to `list`, or counts it on the same issue already there (keeping when it was
/// first seen).
pub fn record(list: &mut Vec<HealthIssue>, issue: HealthIssue) {
    match list.iter_mut().find(|i| i.same_as(&issue)) {
        Some(known) => {
            known.occurrences = known.occurrences.saturating_add(1);
            known.last_seen = issue.last_seen;
            known.class = issue.class;
            known.message = issue.message;
            known.hint = issue.hint;
            known.privileges = issue.privileges;
            if issue.object.is_some() {
                known.object = issue.object;
            }
        }
        None => list.push(issue),
    }
}

/// Replaces the issues of `list` that one producer `owns` with `fresh`: those seen before keep
/// their first sighting and count one more; those not in `fresh` are gone.
pub fn replace_stage(
    list: &mut Vec<HealthIssue>,
    owns: impl Fn(&HealthIssue) -> bool,
    fresh: Vec<HealthIssue>,
) {
    let old: Vec<HealthIssue> = list.iter().filter(|i| owns(i)).cloned().collect();
    list.retain(|i| !owns(i));
    for mut i in fresh {
        if let Some(o) = old.iter().find(|o| o.same_as(&i)) {
            i.first_seen = o.first_seen;
            i.occurrences = o.occurrences.saturating_add(1);
        }
        list.push(i);
    }
}

/// The fault an unreadable property records: its type, then the privilege ids it named
/// (`NoPermission:System.Read`), so the health issue can name what to grant.
pub fn missing_fault(type_name: &str, privileges: &[String]) -> String {
    if privileges.is_empty() {
        type_name.to_string()
    } else {
        format!("{type_name}:{}", privileges.join(","))
    }
}

/// The fault type and privilege ids of a [`missing_fault`] string.
pub fn split_missing_fault(fault: &str) -> (&str, Vec<String>) {
    match fault.split_once(':') {
        Some((t, p)) => (t, p.split(',').map(str::to_string).collect()),
        None => (fault, Vec::new()),
    }
}

/// What an admin can do about a failure, when there is something specific to say.
fn hint(
    stage: Stage,
    class: FailureClass,
    fault: Option<&str>,
    message: &str,
    privileges: &[String],
) -> Option<String> {
    if !privileges.is_empty() {
        return Some(format!(
            "grant {} to the vCenter user's role on this object (or propagate it from a parent)",
            privileges.join(", ")
        ));
    }
    if fault == Some("NoPermission") || class == FailureClass::PermissionDenied {
        return Some(
            "the vCenter user's role lacks a privilege here: give it at least Read-only on this object".into(),
        );
    }
    if stage == Stage::Guest && fault == Some("SERVICE_UNAVAILABLE") {
        return Some(TOOLS_NOT_RUNNING.into());
    }
    if stage == Stage::Sessions && message.contains("session count is limited") {
        return Some(
            "vCenter's session limit is reached: end idle sessions (vSphere Client, Administration > Sessions) or raise the limit; logins are retried with backoff".into(),
        );
    }
    let h = match class {
        FailureClass::AuthInvalid => {
            "check the user name and password (or whether the account is locked)"
        }
        FailureClass::TlsValidationFailed => {
            "pin the presented certificate thumbprint or trust the vCenter CA"
        }
        FailureClass::EndpointUnreachable => "check DNS, routing and firewalls to vCenter port 443",
        FailureClass::VcenterUnavailable => {
            "the vCenter service is down or restarting; collection retries on its own"
        }
        FailureClass::Timeout => "vCenter answers slowly; collection retries on its own",
        FailureClass::VcenterLimit => {
            "a vCenter limit refused the call (named in the message); raise it or ask for less"
        }
        _ => return None,
    };
    Some(h.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcenter::ApiFamily;

    #[test]
    fn a_permission_fault_names_the_privilege_to_grant() {
        let mut e = VcError::new(
            FailureClass::PermissionDenied,
            ApiFamily::ViJson,
            "EventManager.QueryEvents",
            "denied",
        )
        .with_fault("NoPermission");
        e.missing_privileges = vec!["System.View".into()];
        let i = HealthIssue::from_error(Stage::Events, &e);
        assert_eq!(i.privileges, ["System.View"]);
        assert!(i.hint.as_deref().is_some_and(|h| h.contains("System.View")));
    }

    #[test]
    fn the_same_issue_seen_again_is_counted_not_repeated() {
        let mut list = Vec::new();
        let first = HealthIssue::new(Stage::Tags, FailureClass::Timeout, "slow");
        let seen = first.first_seen;
        record(&mut list, first);
        record(
            &mut list,
            HealthIssue::new(Stage::Tags, FailureClass::Timeout, "slower"),
        );
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].occurrences, 2);
        assert_eq!(list[0].first_seen, seen);
        assert_eq!(list[0].message, "slower");
    }

    #[test]
    fn an_unreadable_property_keeps_the_privileges_its_fault_named() {
        let fault = missing_fault("NoPermission", &["System.Read".into()]);
        let i =
            HealthIssue::unreadable(IssueObject::new("VirtualMachine", "vm-7"), "guest", &fault);
        assert_eq!(i.class, FailureClass::PermissionDenied);
        assert_eq!(i.privileges, ["System.Read"]);
        assert!(i.message.contains("(NoPermission)"), "{}", i.message);
        assert_eq!(split_missing_fault("MalformedValue").0, "MalformedValue");
    }
}
