//! GraphQL enums shared by several types. `ResourceStatus` is the core's enum, value for value.

use async_graphql::Enum;

use crate::model;

/// Canonical lifecycle status shared by every Pulse platform.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "ResourceStatus")]
pub enum ResourceStatus {
    /// Running and reachable (host connected and powered on, VM powered on, datastore accessible).
    Online,
    /// Powered off, suspended, disconnected, not responding or inaccessible.
    Offline,
    /// Running with an active red or yellow vSphere alarm, or in maintenance.
    Warning,
    /// vCenter cannot currently tell (for example the VM's host is not responding).
    Unknown,
}

impl From<model::ResourceStatus> for ResourceStatus {
    fn from(s: model::ResourceStatus) -> Self {
        match s {
            model::ResourceStatus::Online => ResourceStatus::Online,
            model::ResourceStatus::Offline => ResourceStatus::Offline,
            model::ResourceStatus::Warning => ResourceStatus::Warning,
            model::ResourceStatus::Unknown => ResourceStatus::Unknown,
        }
    }
}

impl From<ResourceStatus> for model::ResourceStatus {
    fn from(s: ResourceStatus) -> Self {
        match s {
            ResourceStatus::Online => model::ResourceStatus::Online,
            ResourceStatus::Offline => model::ResourceStatus::Offline,
            ResourceStatus::Warning => model::ResourceStatus::Warning,
            ResourceStatus::Unknown => model::ResourceStatus::Unknown,
        }
    }
}

/// Severity of an alert in Pulse's shared alert shape.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "VsphereAlertSeverity")]
pub enum AlertSeverity {
    /// A vSphere alarm in state red.
    Critical,
    /// A vSphere alarm in state yellow.
    Warning,
}

impl From<model::AlertSeverity> for AlertSeverity {
    fn from(s: model::AlertSeverity) -> Self {
        match s {
            model::AlertSeverity::Critical => AlertSeverity::Critical,
            model::AlertSeverity::Warning => AlertSeverity::Warning,
        }
    }
}

/// A VM's power state as vCenter reports it.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "VspherePowerState")]
pub enum PowerState {
    /// `poweredOn`.
    PoweredOn,
    /// `poweredOff`.
    PoweredOff,
    /// `suspended`.
    Suspended,
}

impl PowerState {
    /// The vSphere spelling.
    pub fn as_vsphere(self) -> &'static str {
        match self {
            PowerState::PoweredOn => "poweredOn",
            PowerState::PoweredOff => "poweredOff",
            PowerState::Suspended => "suspended",
        }
    }
}
