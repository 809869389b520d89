//! Failure classes (DESIGN section 4) and the client's one error type. Every error names its
//! class, the API family and the call, in words a vSphere admin understands, and never carries a
//! password, token or session id.

use std::fmt;

use serde::Serialize;

/// The stable failure classes; their snake_case names are part of the product's API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    EndpointUnreachable,
    TlsValidationFailed,
    AuthInvalid,
    PermissionDenied,
    UnsupportedVersionFloor,
    Phase1FloorUnmet,
    VcenterUnavailable,
    /// A limit vCenter enforces refused the call: history collectors per session
    /// (`EventManager.maxCollector`), `config.vpxd.stats.maxQueryMetrics`, a REST list's cap.
    /// Retrying the same call does not help; asking for less does.
    VcenterLimit,
    Timeout,
    ProtocolError,
    Unknown,
}

impl FailureClass {
    /// The snake_case name (`auth_invalid`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EndpointUnreachable => "endpoint_unreachable",
            Self::TlsValidationFailed => "tls_validation_failed",
            Self::AuthInvalid => "auth_invalid",
            Self::PermissionDenied => "permission_denied",
            Self::UnsupportedVersionFloor => "unsupported_version_floor",
            Self::Phase1FloorUnmet => "phase1_floor_unmet",
            Self::VcenterUnavailable => "vcenter_unavailable",
            Self::VcenterLimit => "vcenter_limit",
            Self::Timeout => "timeout",
            Self::ProtocolError => "protocol_error",
            Self::Unknown => "unknown",
        }
    }

    /// Whether retrying the same read later may succeed without an operator's action.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Self::EndpointUnreachable | Self::VcenterUnavailable | Self::Timeout | Self::Unknown
        )
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two vCenter API families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiFamily {
    /// Automation REST (`/api`).
    Rest,
    /// VI JSON (`/sdk/vim25/{release}`).
    ViJson,
}

impl fmt::Display for ApiFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rest => "REST",
            Self::ViJson => "VI JSON",
        })
    }
}

/// A failed vCenter call.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message} ({family} {call}, {class})")]
pub struct VcError {
    pub class: FailureClass,
    pub family: ApiFamily,
    /// The call, e.g. `PropertyCollector.RetrievePropertiesEx` or `GET /api/session`.
    pub call: String,
    /// A human message without secrets.
    pub message: String,
    /// The VI JSON fault `_typeName` or REST `error_type`, when vCenter sent one.
    pub fault: Option<String>,
    /// The SHA-256 thumbprint the server presented, on TLS failures.
    pub presented_thumbprint: Option<String>,
    /// Privilege ids vCenter said were missing.
    pub missing_privileges: Vec<String>,
}

impl VcError {
    pub fn new(
        class: FailureClass,
        family: ApiFamily,
        call: &str,
        message: impl Into<String>,
    ) -> Self {
        VcError {
            class,
            family,
            call: call.to_string(),
            message: message.into(),
            fault: None,
            presented_thumbprint: None,
            missing_privileges: Vec::new(),
        }
    }

    pub fn with_fault(mut self, fault: impl Into<String>) -> Self {
        self.fault = Some(fault.into());
        self
    }

    /// A session expired or unknown to vCenter: re-login and retry once.
    pub fn is_not_authenticated(&self) -> bool {
        self.fault.as_deref() == Some("NotAuthenticated")
            || (self.family == ApiFamily::Rest && self.fault.as_deref() == Some("UNAUTHENTICATED"))
    }

    /// vCenter's front end answered VI JSON with a bare 503: the request never reached the
    /// service, so resending it is safe even for a create or a single-use token.
    pub fn is_unanswered(&self) -> bool {
        self.family == ApiFamily::ViJson
            && self.class == FailureClass::VcenterUnavailable
            && self.fault.is_none()
    }

    /// The fault means a session-scoped object (view, filter, collector, token) is gone.
    pub fn is_object_gone(&self) -> bool {
        matches!(
            self.fault.as_deref(),
            Some("ManagedObjectNotFound")
                | Some("InvalidCollectorVersion")
                | Some("RequestCanceled")
        )
    }
}

pub type VcResult<T> = Result<T, VcError>;
