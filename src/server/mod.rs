//! The HTTP server: `POST /graphql`, GraphiQL on `GET /graphql`, `/healthz`, `/readyz`,
//! `/metrics`. Shutdown is an injected future (as in mini-redis), so tests bind `127.0.0.1:0`,
//! run it and stop it. What a client may hold of it (connections, time, execution slots,
//! bytes) is bounded: [`ServerLimits`], docs/reliability.md.

mod access;
mod documents;
mod errors;
mod gate;
mod graphiql;
mod graphql_http;
mod limits;
mod listen;
mod media;
mod metrics;
mod response_cache;
mod subscriptions;
mod variables;

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::json;

use crate::connections::Registry;
use crate::graphql::Schemas;

use crate::inventory::ConnectionState;
pub use access::Access;
pub use errors::code;
pub use gate::{Gate, Overrun};
pub use graphql_http::with_codes;
pub use limits::{
    ServerLimits, BODY_READ_TIMEOUT, DRAIN_TIMEOUT, EXECUTION_TIMEOUT, HEADER_READ_TIMEOUT,
    MAX_BODY_BYTES, MAX_RESPONSE_BYTES, MAX_SUBSCRIBERS, REQUEST_TIMEOUT, SUBSCRIBER_SEND_TIMEOUT,
};

pub use metrics::{OperationLatency, MAX_OPERATIONS};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The GraphQL schemas (the assistant's has no mutation type).
    pub schemas: Schemas,
    /// Who may ask what.
    pub access: std::sync::Arc<Access>,
    /// The connections (readiness, metrics).
    pub registry: Arc<Registry>,
    /// Request counters.
    pub counters: Arc<Counters>,
}

/// Service request counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// GraphQL requests.
    pub graphql_requests: AtomicU64,
    /// GraphQL responses with at least one error (refusals included).
    pub graphql_errors: AtomicU64,
    /// GraphQL requests refused before execution (media type, credential, body, parse, cost)
    /// or cut by a cap (response size, time).
    pub graphql_refused: AtomicU64,
    /// GraphQL request latency by operation name.
    pub graphql_latency: OperationLatency,
    /// WebSocket subscribers connected now.
    pub graphql_subscribers: AtomicU64,
    /// Subscribers dropped because they stopped reading (a message waited the send timeout).
    pub graphql_subscribers_dropped: AtomicU64,
}

/// The router with the default [`ServerLimits`].
pub fn app(state: AppState) -> Router {
    app_with(state, &ServerLimits::default())
}

/// The router with `limits` (its body, execution and request bounds; the connection bounds
/// are [`run_with`]'s).
pub fn app_with(state: AppState, limits: &ServerLimits) -> Router {
    let exec = Arc::new(graphql_http::Execution {
        gate: Gate::new(limits.max_executions, limits.execution_timeout),
        max_response_bytes: limits.max_response_bytes,
        response_size: AtomicUsize::new(0),
        cache: response_cache::ResponseCache::new(limits.response_cache_bytes),
    });
    let exporter = Arc::new(metrics::Exporter::new(
        state.registry.clone(),
        state.counters.clone(),
        exec.clone(),
        state.schemas.loaders.clone(),
    ));
    let (body_limit, body_timeout, request_timeout) = (
        limits.max_body_bytes,
        limits.body_read_timeout,
        limits.request_timeout,
    );
    Router::new()
        .route("/graphql", get(graphiql::page).post(graphql_http::post))
        .route("/graphql/ws", get(subscriptions::upgrade))
        .route("/graphiql/assets/{file}", get(graphiql::asset))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .layer(Extension(exec))
        .layer(Extension(subscriptions::Bounds::from(limits)))
        .layer(Extension(exporter))
        .layer(axum::middleware::from_fn(move |req, next| {
            read_body(req, next, body_limit, body_timeout)
        }))
        .layer(axum::middleware::from_fn(move |req, next| {
            bound_time(req, next, request_timeout)
        }))
        .with_state(state)
}

/// Serves `app` on `listener` with the default [`ServerLimits`] until `shutdown` resolves,
/// then lets in-flight requests finish within the drain time.
///
/// # Errors
/// I/O errors of the listener.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, app, shutdown, ServerLimits::default()).await
}

/// [`run`] with `limits` (header timeout, connection cap and reserve, drain time).
///
/// # Errors
/// I/O errors of the listener.
pub async fn run_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServerLimits,
) -> std::io::Result<()> {
    listen::serve(listener, app, shutdown, limits).await
}

/// Reads the whole body before any handler: 413 above `limit` bytes, 408 when it does not
/// arrive within `timeout` (a client that sends headers and then trickles or stops). Handlers
/// then see a complete body (the GraphQL handler parses it itself, so axum's
/// `DefaultBodyLimit` would not apply).
async fn read_body(
    req: Request,
    next: axum::middleware::Next,
    limit: usize,
    timeout: std::time::Duration,
) -> Response {
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Ok(Err(_)) => errors::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::REQUEST_TOO_LARGE,
            format!("request body larger than {limit} bytes"),
        ),
        Err(_) => errors::error(
            StatusCode::REQUEST_TIMEOUT,
            code::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {timeout:?}"),
        ),
    }
}

/// Bounds any request from its headers to its response head.
async fn bound_time(
    req: Request,
    next: axum::middleware::Next,
    timeout: std::time::Duration,
) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => errors::error(
            StatusCode::GATEWAY_TIMEOUT,
            code::TIMEOUT,
            format!("the request did not finish within {timeout:?}"),
        ),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when every enabled connection has completed a first sync or failed with a class.
async fn readyz(State(s): State<AppState>) -> Response {
    let pending: Vec<String> = s
        .registry
        .slots()
        .iter()
        .filter(|slot| {
            let h = slot.health();
            h.state == ConnectionState::Connecting && slot.snapshot().is_none()
        })
        .map(|slot| slot.id.clone())
        .collect();
    if pending.is_empty() {
        (StatusCode::OK, Json(json!({"ready": true}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "waiting_for_first_sync": pending})),
        )
            .into_response()
    }
}

/// The Prometheus text format, or OpenMetrics text (with `# UNIT` lines) when the scraper
/// lists it in `Accept`, as Prometheus itself does.
async fn metrics_handler(
    Extension(exporter): Extension<Arc<metrics::Exporter>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let openmetrics = headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let content_type = if openmetrics {
        metrics::OPENMETRICS_TEXT
    } else {
        metrics::PROMETHEUS_TEXT
    };
    (
        [(axum::http::header::CONTENT_TYPE, content_type)],
        exporter.render(openmetrics),
    )
        .into_response()
}
