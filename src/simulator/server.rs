//! The HTTPS accept loop and the request pipeline shared by both API families: count the
//! request, apply injected latency, errors and malformed bodies, then route.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rand::Rng;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::config::ApiType;
use super::sessions::Family;
use super::state::SimState;
use super::{control, rest, vim};

/// The whole simulator as one axum router.
pub fn app(state: Arc<SimState>) -> Router {
    // An ESXi host has no Automation REST API: every `/api` path falls through to 404. On
    // vCenter 6.7 `/api` is the vAPI JSON-RPC endpoint.
    let rest = match state.config.api_type {
        ApiType::VirtualCenter if state.config.api_release.has_rest_api() => rest::router(),
        ApiType::VirtualCenter => rest::json_rpc_router(),
        ApiType::HostAgent => Router::new(),
    };
    Router::new()
        .merge(rest)
        .merge(vim::router())
        .merge(control::router())
        .fallback(rest::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), fault_gate))
        .with_state(state)
}

/// Accepts TLS connections until `shutdown` turns true, then drops every open connection.
pub async fn serve(
    listener: TcpListener,
    state: Arc<SimState>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let app = app(state.clone());
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        // Reap finished connection tasks so the set does not grow without bound.
        while conns.try_join_next().is_some() {}
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "simulator accept failed");
                continue;
            }
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(state.tls.server_config());
        let app = app.clone();
        let mut closed = state.connections_tx.subscribe();
        conns.spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(t)) => t,
                    // Clients that reject our certificate end here; that is an expected outcome.
                    _ => return,
                };
            let svc = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(req.map(Body::new))
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(tls), svc);
            tokio::select! {
                _ = conn => {}
                // Dropping the connection closes the socket, requests in flight included.
                _ = closed.changed() => {}
            }
        });
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

/// Whether the request declares a body longer than `max` (clients that stream a body without
/// a length are not checked).
fn too_large(req: &Request, max: Option<usize>) -> bool {
    let Some(max) = max else { return false };
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > max)
}

fn family_of(path: &str) -> Option<Family> {
    if path.starts_with("/api/") || path == "/api" {
        Some(Family::Rest)
    } else if path.starts_with("/sdk/") {
        Some(Family::Vim)
    } else {
        None
    }
}

/// A stable per-endpoint key for request counting.
fn endpoint_key(family: Family, req: &Request) -> String {
    let method = req.method().as_str();
    match family {
        Family::Rest => {
            let path = req
                .extensions()
                .get::<MatchedPath>()
                .map(|m| m.as_str().to_string())
                .unwrap_or_else(|| req.uri().path().to_string());
            let action = req
                .uri()
                .query()
                .and_then(|q| q.split('&').find(|p| p.starts_with("action=")))
                .map(|a| format!("?{a}"))
                .unwrap_or_default();
            format!("rest:{method} {path}{action}")
        }
        Family::Vim => {
            // /sdk/vim25/{release}/{Type}/{moId}/{method-or-property}
            let parts: Vec<&str> = req.uri().path().split('/').collect();
            match (parts.get(4), parts.get(6)) {
                (Some(t), Some(m)) if method == "GET" => format!("vim:GET {t}.{m}"),
                (Some(t), Some(m)) => format!("vim:{t}.{m}"),
                _ => format!("vim:{method} {}", req.uri().path()),
            }
        }
    }
}

async fn fault_gate(State(state): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    let Some(family) = family_of(req.uri().path()) else {
        return next.run(req).await;
    };
    let endpoint = endpoint_key(family, &req);
    let faults = state.faults();
    let down = faults.unavailable_endpoints.contains(&endpoint);
    state.stats.request(endpoint);
    let (latency, error_rate, malformed) = match family {
        Family::Rest => (
            faults.latency.rest,
            faults.error_rate.rest,
            faults.malformed.rest,
        ),
        Family::Vim => (
            faults.latency.vim,
            faults.error_rate.vim,
            faults.malformed.vim,
        ),
    };
    let (delay, fail) = {
        let mut rng = rand::rng();
        let jitter = if latency.jitter_ms > 0 {
            rng.random_range(0..=latency.jitter_ms)
        } else {
            0
        };
        (
            latency.fixed_ms + jitter,
            error_rate > 0.0 && rng.random_bool(error_rate),
        )
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if family == Family::Vim && too_large(&req, faults.max_request_bytes) {
        return vim::fault::VimFault::new(
            "InvalidRequest",
            "The request exceeds the configured maximum size of a request document.",
        )
        .into_response();
    }
    if fail || down {
        return match family {
            Family::Rest => rest::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "com.vmware.vapi.endpoint.service.unavailable",
                "The service is temporarily unavailable.",
            ),
            Family::Vim => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/plain")],
                "503 Service Unavailable (simulated)",
            )
                .into_response(),
        };
    }
    let resp = next.run(req).await;
    if malformed {
        let (mut parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, 64 * 1024 * 1024)
            .await
            .unwrap_or_default();
        let cut = if bytes.len() > 2 {
            bytes.slice(..bytes.len() / 2)
        } else {
            bytes::Bytes::from_static(b"{\"_typeName\":")
        };
        parts.status = if parts.status == StatusCode::NO_CONTENT {
            StatusCode::OK
        } else {
            parts.status
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.insert(
            header::CONTENT_TYPE,
            "application/json".parse().expect("static header"),
        );
        return Response::from_parts(parts, Body::from(cut));
    }
    resp
}
