//! Alarm severity: vSphere `red` -> critical, `yellow` -> warning, `green`/`gray` -> no alert.

use serde::Serialize;

/// Where alerts of this platform come from, as the shared alert shape names it.
pub const ALERT_SOURCE: &str = "vsphere-alarm";

/// Canonical alert severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertSeverity {
    /// vSphere yellow.
    Warning,
    /// vSphere red.
    Critical,
}

impl AlertSeverity {
    /// Maps a vSphere `ManagedEntityStatus`; `None` for green, gray and unknown values.
    pub fn from_vsphere(status: &str) -> Option<AlertSeverity> {
        match status {
            "red" => Some(AlertSeverity::Critical),
            "yellow" => Some(AlertSeverity::Warning),
            _ => None,
        }
    }
}

/// The worst severity among vSphere statuses (`None` when none is red or yellow).
pub fn worst<'a>(statuses: impl IntoIterator<Item = &'a str>) -> Option<AlertSeverity> {
    statuses
        .into_iter()
        .filter_map(AlertSeverity::from_vsphere)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_mapping() {
        assert_eq!(
            AlertSeverity::from_vsphere("red"),
            Some(AlertSeverity::Critical)
        );
        assert_eq!(
            AlertSeverity::from_vsphere("yellow"),
            Some(AlertSeverity::Warning)
        );
        assert_eq!(AlertSeverity::from_vsphere("green"), None);
        assert_eq!(AlertSeverity::from_vsphere("gray"), None);
        assert_eq!(AlertSeverity::from_vsphere("purple"), None);
        assert_eq!(
            worst(["green", "yellow", "red"]),
            Some(AlertSeverity::Critical)
        );
        assert_eq!(worst(["yellow", "gray"]), Some(AlertSeverity::Warning));
        assert_eq!(worst(["green"]), None);
        assert_eq!(worst([]), None);
    }
}
