//! Who is asking: the `Authorization` header turned into a principal, or a 401. With no
//! credential configured the server is bound to loopback (checked at start) and the local
//! operator acts as admin.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::auth::{AuthError, Authenticator, Principal, Role};

/// The request's credential check.
pub struct Access {
    authenticator: Authenticator,
    /// The assistant may run only its pack's operations.
    safelist: bool,
}

impl Access {
    pub fn new(authenticator: Authenticator) -> Access {
        Access {
            authenticator,
            safelist: false,
        }
    }

    /// With the assistant held to its query pack (`[assistant] safelist = true`).
    pub fn with_assistant_safelist(mut self, on: bool) -> Access {
        self.safelist = on;
        self
    }

    /// Whether the assistant is held to its pack.
    pub fn safelist(&self) -> bool {
        self.safelist
    }

    /// Whether any credential is configured (else the server stays on loopback).
    pub fn is_configured(&self) -> bool {
        self.authenticator.is_configured()
    }

    /// The principal of a request, or the 401 response to send.
    pub fn principal(&self, headers: &HeaderMap) -> Result<Principal, Response> {
        let header = headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("\u{0}"));
        match self.authenticator.authenticate(header) {
            Ok(Some(p)) => Ok(p),
            Ok(None) if !self.authenticator.is_configured() => Ok(Principal {
                name: "local operator".into(),
                role: Role::Admin,
                expires: None,
            }),
            Ok(None) => Err(unauthenticated("a bearer token is required")),
            Err(e) => Err(unauthenticated(&e.to_string())),
        }
    }
}

fn unauthenticated(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(json!({"errors": [{"message": message, "extensions": {"code": AuthError::GRAPHQL_CODE}}]})),
    )
        .into_response()
}
