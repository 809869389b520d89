//! Which vCenter calls are reads. The product promises never to change vCenter; the proof run
//! (`pulse-vsphere proof`) lists every call a run made and checks each one here, so a write
//! that slipped into the code shows up as an unknown method instead of passing silently.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use super::error::ApiFamily;

/// What a call does to vCenter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    /// Reads state; changes nothing.
    Read,
    /// Opens or closes this client's own session.
    Session,
    /// Creates or destroys an object that lives only inside this client's session (a
    /// container view, a property filter or collector, an event or task history collector):
    /// the way vCenter's API reads in bulk. Nothing another session sees changes.
    SessionScoped,
    /// Not known to be a read: a proof run that called one fails.
    Unknown,
}

/// VI JSON methods (`Type.Method`) that only read.
const VI_READS: &[&str] = &[
    "RetrievePropertiesEx",
    "ContinueRetrievePropertiesEx",
    "CancelRetrievePropertiesEx",
    "RetrieveProperties",
    "WaitForUpdatesEx",
    "CancelWaitForUpdates",
    "FetchUserPrivilegeOnEntities",
    "HasPrivilegeOnEntities",
    "HasUserPrivilegeOnEntities",
    "GetAlarm",
    "QueryEvents",
    "ReadNextEvents",
    "ReadPreviousEvents",
    "ReadNextTasks",
    "ReadPreviousTasks",
    "RewindCollector",
    "ResetCollector",
    "QueryPerf",
    "QueryPerfProviderSummary",
    "QueryAvailablePerfMetric",
    "QueryPerfCounter",
    "QueryPerfCounterByLevel",
    "QueryOptions",
    "RetrieveServiceContent",
    "SessionIsActive",
    "CurrentTime",
];

/// VI JSON methods that create or destroy objects scoped to the caller's session.
const VI_SESSION_SCOPED: &[&str] = &[
    "CreateContainerView",
    "CreateListView",
    "DestroyView",
    "CreateFilter",
    "DestroyPropertyFilter",
    "CreatePropertyCollector",
    "DestroyPropertyCollector",
    "CreateCollectorForEvents",
    "CreateCollectorForTasks",
    "DestroyCollector",
];

/// REST calls other than GET that only read (`POST` carrying a query body), and the session.
const REST_POST_READS: &[&str] = &[
    "POST /api/vcenter/system?action=hello",
    "POST /api/cis/tagging/tag-association?action=list-attached-tags-on-objects",
];

/// Classifies one call as `/metrics` names it (`Type.method` or `Type.property` for VI JSON,
/// `VERB /path` with ids as placeholders for REST).
pub fn classify(family: ApiFamily, call: &str) -> MethodKind {
    match family {
        ApiFamily::ViJson => {
            let method = call.rsplit_once('.').map_or(call, |(_, m)| m);
            if method == "Login" || method == "Logout" {
                MethodKind::Session
            } else if method.starts_with(|c: char| c.is_ascii_lowercase()) {
                // `GET Type/moId/property`: VI JSON reads a property with a GET.
                MethodKind::Read
            } else if VI_READS.contains(&method) {
                MethodKind::Read
            } else if VI_SESSION_SCOPED.contains(&method) {
                MethodKind::SessionScoped
            } else {
                MethodKind::Unknown
            }
        }
        ApiFamily::Rest => {
            let (verb, path) = call.split_once(' ').unwrap_or(("", call));
            match verb {
                "GET" | "HEAD" => MethodKind::Read,
                "POST" | "DELETE" if path == "/api/session" => MethodKind::Session,
                "POST" if REST_POST_READS.contains(&call) => MethodKind::Read,
                _ => MethodKind::Unknown,
            }
        }
    }
}

/// Every distinct call this process made since `record_calls` was turned on, when it is.
static JOURNAL: Mutex<Option<BTreeSet<(ApiFamily, String)>>> = Mutex::new(None);
static RECORDING: AtomicBool = AtomicBool::new(false);

/// Starts keeping the set of distinct calls made by every client of this process (the proof
/// run's method list); off by default.
pub fn record_calls() {
    if let Ok(mut j) = JOURNAL.lock() {
        j.get_or_insert_with(BTreeSet::new);
    }
    RECORDING.store(true, Ordering::Relaxed);
}

/// The calls recorded so far.
pub fn recorded_calls() -> Vec<(ApiFamily, String)> {
    JOURNAL
        .lock()
        .ok()
        .and_then(|j| j.as_ref().map(|s| s.iter().cloned().collect()))
        .unwrap_or_default()
}

/// Whether `record_calls` is on: checked before a call's name is built for the journal.
pub(crate) fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

pub(crate) fn note(family: ApiFamily, call: &str) {
    if let Ok(mut j) = JOURNAL.lock() {
        if let Some(set) = j.as_mut() {
            if !set.contains(&(family, call.to_string())) {
                set.insert((family, call.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_session_calls_are_told_from_writes() {
        use ApiFamily::*;
        use MethodKind::*;
        for (family, call, kind) in [
            (ViJson, "PropertyCollector.RetrievePropertiesEx", Read),
            (ViJson, "SessionManager.currentSession", Read),
            (ViJson, "ServiceInstance.content", Read),
            (ViJson, "SessionManager.Login", Session),
            (ViJson, "ViewManager.CreateContainerView", SessionScoped),
            (
                ViJson,
                "EventManager.CreateCollectorForEvents",
                SessionScoped,
            ),
            (ViJson, "VirtualMachine.PowerOffVM_Task", Unknown),
            (ViJson, "VirtualMachine.CreateSnapshot_Task", Unknown),
            (ViJson, "AlarmManager.AcknowledgeAlarm", Unknown),
            (ViJson, "HostSystem.EnterMaintenanceMode_Task", Unknown),
            (Rest, "GET /api/vcenter/vm/{vm}/guest/identity", Read),
            (Rest, "POST /api/session", Session),
            (Rest, "DELETE /api/session", Session),
            (Rest, "POST /api/vcenter/system?action=hello", Read),
            (Rest, "POST /api/vcenter/vm/{vm}/power?action=stop", Unknown),
            (Rest, "DELETE /api/vcenter/vm/{vm}", Unknown),
            (Rest, "PATCH /api/vcenter/vm/{vm}/hardware", Unknown),
        ] {
            assert_eq!(classify(family, call), kind, "{family} {call}");
        }
    }
}
