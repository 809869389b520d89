//! The HTTP server: `POST /graphql`, GraphiQL on `GET /graphql`, `/healthz`, `/readyz`,
//! `/metrics`. Shutdown is an injected future (as in mini-redis), so tests bind `127.0.0.1:0`,
//! run it and stop it.

mod access;
mod graphiql;
mod metrics;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_graphql::ErrorExtensions;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::auth::Role;
use crate::connections::Registry;
use crate::graphql::Schemas;

use crate::inventory::ConnectionState;
pub use access::Access;

pub use metrics::render as render_metrics;

/// Largest request body accepted on `/graphql` (a query plus variables; 413 above).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

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
    /// GraphQL responses with at least one error.
    pub graphql_errors: AtomicU64,
}

/// The router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphiql::page).post(graphql))
        .route("/graphiql/assets/{file}", get(graphiql::asset))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .layer(axum::middleware::from_fn(limit_body))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
///
/// # Errors
/// I/O errors of the listener.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Gives every error a stable `extensions.code`: ours already have one; the engine's own
/// (parse, validation, depth and complexity limits) get Apollo's conventional codes.
fn with_codes(mut resp: async_graphql::Response) -> async_graphql::Response {
    for err in &mut resp.errors {
        let has_code = err
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        let code = if err.message.contains("nested too deep") {
            "QUERY_TOO_DEEP"
        } else if err.message.contains("too complex") {
            "QUERY_TOO_COMPLEX"
        } else if err.path.is_empty() {
            "GRAPHQL_VALIDATION_FAILED"
        } else {
            "INTERNAL_SERVER_ERROR"
        };
        let e =
            async_graphql::Error::new(err.message.clone()).extend_with(|_, x| x.set("code", code));
        if let Some(ext) = e.extensions {
            err.extensions = Some(ext);
        }
    }
    resp
}

async fn graphql(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    req: GraphQLRequest,
) -> Response {
    s.counters.graphql_requests.fetch_add(1, Ordering::Relaxed);
    let principal = match s.access.principal(&headers) {
        Ok(p) => p,
        Err(resp) => {
            s.counters.graphql_errors.fetch_add(1, Ordering::Relaxed);
            return resp;
        }
    };
    let role = principal.role;
    let req = req.into_inner().data(principal);
    // The assistant's schema has no mutation type: a mutation is refused before execution.
    let resp = with_codes(if role == Role::Assistant {
        s.schemas.assistant.execute(req).await
    } else {
        s.schemas.full.execute(req).await
    });
    if !resp.errors.is_empty() {
        s.counters.graphql_errors.fetch_add(1, Ordering::Relaxed);
    }
    GraphQLResponse::from(resp).into_response()
}

/// Refuses bodies above [`MAX_BODY_BYTES`] with 413 before anything parses them (the GraphQL
/// extractor reads the body itself, so axum's `DefaultBodyLimit` would not apply).
async fn limit_body(req: Request, next: axum::middleware::Next) -> Response {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await,
        Err(_) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({"errors": [{"message": format!("request body larger than {MAX_BODY_BYTES} bytes"), "extensions": {"code": "REQUEST_TOO_LARGE"}}]})),
        )
            .into_response(),
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

async fn metrics_handler(State(s): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        metrics::render(&s.registry, &s.counters),
    )
        .into_response()
}
