//! VI JSON faults: HTTP 500 with the fault object itself as the body (`_typeName` plus the
//! fault's fields and the `faultstring` real vCenters add).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::simulator::inventory::MoRef;

/// A fault to send.
#[derive(Clone, Debug)]
pub struct VimFault {
    /// HTTP status (500 for every real fault; 503 for an exhausted session limit).
    pub status: StatusCode,
    /// The fault object.
    pub body: Value,
}

impl VimFault {
    /// A fault of `type_name` with its localized message.
    pub fn new(type_name: &str, faultstring: &str) -> Self {
        VimFault {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: json!({"_typeName": type_name, "faultstring": faultstring}),
        }
    }

    /// Adds a field.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        if let Some(o) = self.body.as_object_mut() {
            o.insert(key.to_string(), value);
        }
        self
    }

    /// `NotAuthenticated`: no session or an expired one (vCenter sends it as HTTP 500).
    pub fn not_authenticated(obj: &MoRef) -> Self {
        Self::new("NotAuthenticated", "The session is not authenticated.")
            .with("object", obj.to_json())
            .with("privilegeId", json!("System.View"))
    }

    /// `InvalidLogin`.
    pub fn invalid_login() -> Self {
        Self::new(
            "InvalidLogin",
            "Cannot complete login due to an incorrect user name or password.",
        )
    }

    /// `NoPermission` on `obj` for `privilege`, with `missingPrivileges` as vCenter 7.0.3.2+ sends.
    pub fn no_permission(obj: &MoRef, privilege: &str) -> Self {
        Self::new(
            "NoPermission",
            &format!("Permission to perform this operation was denied. Required privilege '{privilege}' on managed object with id '{}'.", obj.value),
        )
        .with("object", obj.to_json())
        .with("privilegeId", json!(privilege))
        .with(
            "missingPrivileges",
            json!([{"_typeName": "NoPermissionEntityPrivileges", "entity": obj.to_json(), "privilegeIds": [privilege]}]),
        )
    }

    /// `ManagedObjectNotFound`.
    pub fn not_found(obj: &MoRef) -> Self {
        Self::new(
            "ManagedObjectNotFound",
            &format!(
                "The object '{}:{}' has already been deleted or has not been completely created",
                obj.kind, obj.value
            ),
        )
        .with("obj", obj.to_json())
    }

    /// `InvalidArgument` naming the offending property.
    pub fn invalid_argument(property: &str) -> Self {
        Self::new(
            "InvalidArgument",
            &format!("A specified parameter was not correct: {property}"),
        )
        .with("invalidProperty", json!(property))
    }

    /// `InvalidProperty` (a bad path in `pathSet`).
    pub fn invalid_property(name: &str) -> Self {
        Self::new("InvalidProperty", "").with("name", json!(name))
    }

    /// `InvalidCollectorVersion`.
    pub fn invalid_collector_version() -> Self {
        Self::new(
            "InvalidCollectorVersion",
            "The version is invalid or out of date.",
        )
    }

    /// `RequestCanceled`.
    pub fn request_canceled() -> Self {
        Self::new("RequestCanceled", "The task was canceled by a user.")
    }

    /// `InvalidState`.
    pub fn invalid_state(message: &str) -> Self {
        Self::new("InvalidState", message)
    }
}

impl IntoResponse for VimFault {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
