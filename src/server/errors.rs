//! Refusals as GraphQL error bodies: every 4xx and 5xx the server writes itself is
//! `{"errors":[{"message":…,"extensions":{"code":…}}]}` with a stable code, never a plain-text
//! debug string, so a client or the gateway handles them all one way.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The HTTP-level refusals and their codes (the GraphQL ones come from
/// [`crate::graphql::limits::Refusal::code`] and the engine).
pub mod code {
    /// The body is not a GraphQL request (not JSON, no `query`, a batch).
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// The document does not parse.
    pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    /// A variable does not coerce to its declared type (as Apollo Server names it).
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    /// A content type a browser may send without a CORS preflight, or none (CSRF).
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
    /// `Accept` names no media type this endpoint writes.
    pub const NOT_ACCEPTABLE: &str = "NOT_ACCEPTABLE";
    /// An operation sent with GET: only POST executes.
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    /// The body did not arrive within the body read timeout.
    pub const REQUEST_TIMEOUT: &str = "REQUEST_TIMEOUT";
    /// The body is larger than the body limit.
    pub const REQUEST_TOO_LARGE: &str = "REQUEST_TOO_LARGE";
    /// The serialised response would exceed the response cap.
    pub const RESPONSE_TOO_LARGE: &str = "RESPONSE_TOO_LARGE";
    /// Execution (or the whole request) did not finish within its time cap.
    /// A persisted query id that is not one of the assistant pack's (Apollo's code).
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    /// A persisted query id that is not the SHA-256 of the query sent with it.
    pub const PERSISTED_QUERY_HASH_MISMATCH: &str = "PERSISTED_QUERY_HASH_MISMATCH";
    /// The assistant asked for an operation outside the pack while the safelist is on (the
    /// code Apollo Router uses for the same refusal).
    pub const PERSISTED_QUERY_NOT_IN_LIST: &str = "PERSISTED_QUERY_NOT_IN_LIST";
    pub const TIMEOUT: &str = "TIMEOUT";
}

/// A GraphQL error response with `status`, `code` and `message`, as `content_type`.
pub fn with_type(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
    content_type: &'static str,
) -> Response {
    let body = json!({"errors": [{"message": message.into(), "extensions": {"code": code}}]});
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body.to_string(),
    )
        .into_response()
}

/// A GraphQL error response as `application/json`.
pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    with_type(status, code, message, "application/json")
}
