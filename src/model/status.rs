//! Canonical status rules (DESIGN section 5): power and connection give the base status, an
//! active red or yellow alarm turns `online` into `warning`.

use serde::Serialize;

use super::alerts::AlertSeverity;

/// Canonical lifecycle status shared by every Pulse platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceStatus {
    /// Running and reachable.
    Online,
    /// Powered off, disconnected or inaccessible.
    Offline,
    /// Running with an active alarm, or in maintenance.
    Warning,
    /// vCenter cannot currently tell (e.g. the VM's host is not responding).
    Unknown,
}

/// Raises `online` to `warning` when any active alarm is red or yellow.
fn with_alarms(base: ResourceStatus, worst: Option<AlertSeverity>) -> ResourceStatus {
    match (base, worst) {
        (ResourceStatus::Online, Some(_)) => ResourceStatus::Warning,
        (s, _) => s,
    }
}

/// ESXi host: connected and powered on -> online; disconnected / notResponding -> offline;
/// standby or powered off -> offline; maintenance mode -> warning.
pub fn host_status(
    connection_state: Option<&str>,
    power_state: Option<&str>,
    in_maintenance: bool,
    worst_alarm: Option<AlertSeverity>,
) -> ResourceStatus {
    let base = match (connection_state, power_state) {
        (Some("disconnected") | Some("notResponding"), _) => ResourceStatus::Offline,
        (Some("connected"), Some("poweredOn")) if in_maintenance => ResourceStatus::Warning,
        (Some("connected"), Some("poweredOn")) => ResourceStatus::Online,
        (Some("connected"), Some("poweredOff") | Some("standBy")) => ResourceStatus::Offline,
        _ => ResourceStatus::Unknown,
    };
    with_alarms(base, worst_alarm)
}

/// VM: poweredOn -> online; poweredOff / suspended -> offline. A VM whose connection state is not
/// `connected` (host not responding, orphaned, inaccessible) is `unknown`: vCenter's power state
/// for it is stale.
pub fn vm_status(
    connection_state: Option<&str>,
    power_state: Option<&str>,
    worst_alarm: Option<AlertSeverity>,
) -> ResourceStatus {
    if !matches!(connection_state, Some("connected") | None) {
        return ResourceStatus::Unknown;
    }
    let base = match power_state {
        Some("poweredOn") => ResourceStatus::Online,
        Some("poweredOff") | Some("suspended") => ResourceStatus::Offline,
        _ => ResourceStatus::Unknown,
    };
    with_alarms(base, worst_alarm)
}

/// Datastore: inaccessible -> offline; in (or entering) maintenance -> warning; else online.
pub fn datastore_status(
    accessible: Option<bool>,
    maintenance_mode: Option<&str>,
    worst_alarm: Option<AlertSeverity>,
) -> ResourceStatus {
    let base = match (accessible, maintenance_mode) {
        (Some(false), _) => ResourceStatus::Offline,
        (Some(true), Some("inMaintenance") | Some("enteringMaintenance")) => {
            ResourceStatus::Warning
        }
        (Some(true), _) => ResourceStatus::Online,
        (None, _) => ResourceStatus::Unknown,
    };
    with_alarms(base, worst_alarm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ResourceStatus::*;

    const RED: Option<AlertSeverity> = Some(AlertSeverity::Critical);
    const YELLOW: Option<AlertSeverity> = Some(AlertSeverity::Warning);

    #[test]
    fn host_rules() {
        assert_eq!(
            host_status(Some("connected"), Some("poweredOn"), false, None),
            Online
        );
        assert_eq!(
            host_status(Some("disconnected"), Some("poweredOn"), false, None),
            Offline
        );
        assert_eq!(
            host_status(Some("notResponding"), Some("unknown"), false, RED),
            Offline
        );
        assert_eq!(
            host_status(Some("connected"), Some("standBy"), false, None),
            Offline
        );
        assert_eq!(
            host_status(Some("connected"), Some("poweredOn"), true, None),
            Warning
        );
        assert_eq!(
            host_status(Some("connected"), Some("poweredOn"), false, YELLOW),
            Warning
        );
        assert_eq!(
            host_status(Some("connected"), Some("poweredOn"), false, RED),
            Warning
        );
        assert_eq!(host_status(None, None, false, None), Unknown);
        assert_eq!(
            host_status(Some("somethingNew"), Some("poweredOn"), false, None),
            Unknown
        );
    }

    #[test]
    fn vm_rules() {
        assert_eq!(
            vm_status(Some("connected"), Some("poweredOn"), None),
            Online
        );
        assert_eq!(
            vm_status(Some("connected"), Some("poweredOff"), None),
            Offline
        );
        assert_eq!(
            vm_status(Some("connected"), Some("suspended"), None),
            Offline
        );
        assert_eq!(
            vm_status(Some("connected"), Some("poweredOn"), YELLOW),
            Warning
        );
        // An alarm never makes an offline VM look better or worse than offline.
        assert_eq!(
            vm_status(Some("connected"), Some("poweredOff"), RED),
            Offline
        );
        assert_eq!(
            vm_status(Some("disconnected"), Some("poweredOn"), None),
            Unknown
        );
        assert_eq!(
            vm_status(Some("orphaned"), Some("poweredOn"), None),
            Unknown
        );
        assert_eq!(vm_status(None, Some("poweredOn"), None), Online);
    }

    #[test]
    fn datastore_rules() {
        assert_eq!(datastore_status(Some(true), Some("normal"), None), Online);
        assert_eq!(datastore_status(Some(false), Some("normal"), None), Offline);
        assert_eq!(
            datastore_status(Some(true), Some("inMaintenance"), None),
            Warning
        );
        assert_eq!(
            datastore_status(Some(true), Some("enteringMaintenance"), None),
            Warning
        );
        assert_eq!(datastore_status(Some(true), None, RED), Warning);
        assert_eq!(datastore_status(None, None, None), Unknown);
    }
}
