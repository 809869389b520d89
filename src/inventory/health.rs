//! Connection health as operators and the assistant see it: state, last success and attempt,
//! failures, the last error's class and message, what vCenter is, and what it contributes.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::vcenter::HealthIssue;

/// Lifecycle state of one saved vCenter connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Not yet synced.
    #[default]
    Connecting,
    /// Both API families logged in and the last sync succeeded.
    Healthy,
    /// Working, with optional reads failing (issues listed).
    Degraded,
    /// The last attempt failed with a failure class; the last good inventory is kept, stale.
    Failed,
    /// Disabled by the operator.
    Disabled,
    /// Another connection already reads this vCenter (same instanceUuid): this one holds no
    /// session and contributes nothing.
    Duplicate,
}

/// State of one API family's session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FamilyHealth {
    /// Logged in now.
    pub logged_in: bool,
    /// Failure class of the last error, if any.
    pub last_error_class: Option<String>,
}

/// The last error that left the connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthError {
    /// Failure class (`auth_invalid`, `endpoint_unreachable`, ...).
    pub class: String,
    /// Human message, never a secret.
    pub message: String,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// What vCenter says it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VcenterAbout {
    /// Product version (`8.0.3`).
    pub version: Option<String>,
    /// Build number.
    pub build: Option<String>,
    /// `about.instanceUuid`.
    pub instance_uuid: Option<String>,
    /// The negotiated VI JSON release.
    pub negotiated_release: Option<String>,
}

/// Health of one connection.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ConnectionHealth {
    /// State.
    pub state: ConnectionState,
    /// Last successful sync.
    pub last_success: Option<DateTime<Utc>>,
    /// Last time vCenter confirmed the snapshot is current: a publish, or a change-feed wait
    /// that found nothing new. On a quiet vCenter the snapshot is not republished, so its own
    /// age says nothing about staleness; this does.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Last attempt.
    pub last_attempt: Option<DateTime<Utc>>,
    /// Consecutive failed attempts.
    pub consecutive_failures: u32,
    /// Last error.
    pub last_error: Option<HealthError>,
    /// vCenter identity.
    pub about: VcenterAbout,
    /// REST family.
    pub rest: FamilyHealth,
    /// VI JSON family.
    pub vim: FamilyHealth,
    /// Privileges the user lacks from the phase-1 read bundle.
    pub missing_privileges: Vec<String>,
    /// Degradations (optional reads failing, unreadable objects), each with its stage, class,
    /// object and a hint.
    pub issues: Vec<HealthIssue>,
    /// Another connection already serves this vCenter (same instanceUuid): its resources are
    /// not counted twice.
    pub duplicate_of: Option<String>,
}
