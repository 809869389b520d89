//! `GET /graphql/ws`: GraphQL subscriptions over WebSocket (`graphql-transport-ws`, and the
//! older `graphql-ws`). Only subscription operations run here; queries and mutations go to
//! `POST /graphql` with its bounds. Any role may subscribe.
//!
//! The credential is the upgrade request's `Authorization` header (a gateway forwards it) or,
//! for a browser that cannot set headers, `Authorization` in the `connection_init` payload.
//! Subscribers are bounded in number ([`super::ServerLimits::max_subscribers`]), and one that
//! stops reading is dropped once a message has waited
//! [`super::ServerLimits::subscriber_send_timeout`], instead of being buffered for. A JWT's
//! expiry ends the subscriptions it admitted.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql::{Data, ErrorExtensions, Executor, Request, Response as GqlResponse};
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::stream::BoxStream;
use futures::{SinkExt, Stream, StreamExt};
use tokio::sync::watch;

use super::{AppState, Counters, ServerLimits};
use crate::auth::Principal;
use crate::graphql::VsphereSchema;

/// How long a socket may take to send `connection_init`: one that never does gives its place
/// back instead of holding it.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the close frame of a dropped subscriber may wait behind what its socket already
/// holds: enough for a client that resumes reading to learn why, bounded so the socket does
/// not outlive it for long. Only what was already queued is held meanwhile.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Close code (RFC 6455 "policy violation") and reason for a subscriber that stopped reading.
const TOO_SLOW: (u16, &str) = (
    1008,
    "SUBSCRIPTION_TOO_SLOW: a message waited longer than the send timeout",
);
/// Close code (`graphql-transport-ws` "unauthorized") and reason once the credential expires.
const EXPIRED: (u16, &str) = (
    4401,
    "UNAUTHENTICATED: the credential expired; reconnect with a fresh one",
);

/// The subscription bounds of [`ServerLimits`].
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    max_subscribers: usize,
    send_timeout: Duration,
}

impl From<&ServerLimits> for Bounds {
    fn from(l: &ServerLimits) -> Bounds {
        Bounds {
            max_subscribers: l.max_subscribers,
            send_timeout: l.subscriber_send_timeout,
        }
    }
}

/// One subscriber's place among [`Bounds::max_subscribers`], given back when it leaves.
struct Place(Arc<Counters>);

impl Place {
    fn take(c: &Arc<Counters>, limit: usize) -> Option<Place> {
        let limit = limit as u64;
        let taken = c
            .graphql_subscribers
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok();
        taken.then(|| Place(c.clone()))
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.graphql_subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The schema, running subscription operations only.
#[derive(Clone)]
struct SubscriptionsOnly(VsphereSchema);

fn only_subscriptions(request: &Request) -> bool {
    use async_graphql::parser::types::OperationType;
    async_graphql::parser::parse_query(&request.query).is_ok_and(|doc| {
        doc.operations
            .iter()
            .all(|(_, op)| op.node.ty == OperationType::Subscription)
    })
}

fn refused() -> GqlResponse {
    let mut e = async_graphql::ServerError::new(
        "only subscriptions run over WebSocket; send queries and mutations to POST /graphql",
        None,
    );
    let mut code = async_graphql::ErrorExtensionValues::default();
    code.set("code", "OPERATION_NOT_ALLOWED");
    e.extensions = Some(code);
    GqlResponse::from_errors(vec![e])
}

impl Executor for SubscriptionsOnly {
    async fn execute(&self, request: Request) -> GqlResponse {
        if only_subscriptions(&request) {
            self.0.execute(request).await
        } else {
            refused()
        }
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, GqlResponse> {
        if only_subscriptions(&request) {
            Executor::execute_stream(&self.0, request, session_data)
        } else {
            futures::stream::once(async { refused() }).boxed()
        }
    }
}

/// The principal a `connection_init` payload's `Authorization` names.
fn from_payload(state: &AppState, payload: &serde_json::Value) -> async_graphql::Result<Principal> {
    let mut headers = HeaderMap::new();
    let value = payload
        .get("Authorization")
        .or_else(|| payload.get("authorization"))
        .and_then(serde_json::Value::as_str);
    if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert(header::AUTHORIZATION, v);
    }
    state.access.principal(&headers).map_err(|_| {
        async_graphql::Error::new("a valid bearer token is required")
            .extend_with(|_, e| e.set("code", "UNAUTHENTICATED"))
    })
}

/// The first subprotocol the client offers that we speak.
fn protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?
        .split(',')
        .find_map(|p| p.trim().parse().ok())
}

/// `GET /graphql/ws`.
pub async fn upgrade(
    State(s): State<AppState>,
    Extension(bounds): Extension<Bounds>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // A browser sends the page's Origin with every WebSocket and no same-origin rule stops a
    // page elsewhere from opening one: refuse it (cross-site WebSocket hijacking), as the
    // media-type rule does for cross-site POSTs.
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://").map(|(_, rest)| rest));
        if origin_host.is_none() || origin_host != host {
            return (StatusCode::FORBIDDEN, "cross-origin WebSocket refused").into_response();
        }
    }
    let Some(protocol) = protocol(&headers) else {
        return (
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Protocol must offer graphql-transport-ws or graphql-ws",
        )
            .into_response();
    };
    let principal = if headers.contains_key(header::AUTHORIZATION) || !s.access.is_configured() {
        match s.access.principal(&headers) {
            Ok(p) => Some(p),
            Err(unauthenticated) => return unauthenticated,
        }
    } else {
        None
    };
    let Some(place) = Place::take(&s.counters, bounds.max_subscribers) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "too many subscribers",
        )
            .into_response();
    };
    ws.protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(socket, s, bounds, protocol, principal, place))
}

/// How a subscriber's socket ended.
enum Ending {
    /// The client closed it, or the stream of messages ended.
    Closed,
    /// No `connection_init` within [`INIT_TIMEOUT`].
    NeverInitialised,
    /// A message waited the send timeout: the client stopped reading.
    TooSlow,
    /// The credential that admitted it expired.
    Expired,
}

async fn serve(
    socket: axum::extract::ws::WebSocket,
    state: AppState,
    bounds: Bounds,
    protocol: WebSocketProtocols,
    principal: Option<Principal>,
    place: Place,
) {
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|m| futures::future::ready(m.is_ok()))
        .filter_map(|m| {
            futures::future::ready(match m {
                Ok(Message::Text(t)) => Some(t.as_bytes().to_vec()),
                Ok(Message::Binary(b)) => Some(b.to_vec()),
                _ => None,
            })
        });
    // When the credential stops being accepted; known at the upgrade or only at init.
    let (expiry_tx, expiry) = watch::channel(principal.as_ref().and_then(|p| p.expires));
    let mut data = Data::default();
    if let Some(p) = principal.clone() {
        data.insert(p);
    }
    let init_state = state.clone();
    let initialised = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let init_seen = initialised.clone();
    let executor = SubscriptionsOnly(state.schemas.full.clone());
    let outgoing = WebSocket::new(executor, input, protocol)
        .connection_data(data)
        .on_connection_init(move |payload| async move {
            init_seen.store(true, Ordering::Relaxed);
            let mut data = Data::default();
            if principal.is_none() {
                let p = from_payload(&init_state, &payload)?;
                expiry_tx.send_replace(p.expires);
                data.insert(p);
            }
            Ok(data)
        })
        .map(|m| match m {
            WsMessage::Text(text) => Message::Text(text.into()),
            WsMessage::Close(code, reason) => Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })),
        });
    // The subscriptions' streams end here, before any close frame waits: a dropped subscriber
    // holds nothing of the live feed.
    let ending = pump(
        outgoing,
        &mut sink,
        &initialised,
        expiry,
        bounds.send_timeout,
    )
    .await;
    let close = match ending {
        Ending::Closed | Ending::NeverInitialised => None,
        Ending::TooSlow => {
            place
                .0
                .graphql_subscribers_dropped
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                timeout_ms = bounds.send_timeout.as_millis() as u64,
                "dropped a subscriber that stopped reading"
            );
            Some((TOO_SLOW, CLOSE_GRACE))
        }
        Ending::Expired => {
            tracing::info!("ended a subscriber whose credential expired");
            Some((EXPIRED, bounds.send_timeout))
        }
    };
    drop(place);
    if let Some(((code, reason), grace)) = close {
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        // Queued behind whatever the socket still holds, so a client that resumes reading gets
        // whole messages and then the reason; given up after `grace`.
        let _ = tokio::time::timeout(grace, sink.send(frame)).await;
    }
}

/// Sends what the subscriptions produce until the socket ends, the client stops reading, or
/// the credential expires.
async fn pump(
    outgoing: impl Stream<Item = Message>,
    sink: &mut futures::stream::SplitSink<axum::extract::ws::WebSocket, Message>,
    initialised: &std::sync::atomic::AtomicBool,
    expiry: watch::Receiver<Option<SystemTime>>,
    send_timeout: Duration,
) -> Ending {
    futures::pin_mut!(outgoing);
    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    futures::pin_mut!(init_deadline);
    let expired = expires(expiry);
    futures::pin_mut!(expired);
    loop {
        let message = tokio::select! {
            m = outgoing.next() => match m {
                Some(m) => m,
                None => return Ending::Closed,
            },
            () = &mut init_deadline, if !initialised.load(Ordering::Relaxed) => {
                return Ending::NeverInitialised
            }
            () = &mut expired => return Ending::Expired,
        };
        match tokio::time::timeout(send_timeout, sink.send(message)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Ending::Closed,
            Err(_) => return Ending::TooSlow,
        }
    }
}

/// Resolves when the credential's expiry, once known, has passed; never for one that does not
/// expire.
async fn expires(mut expiry: watch::Receiver<Option<SystemTime>>) {
    loop {
        let at = *expiry.borrow_and_update();
        if let Some(at) = at {
            let left = at.duration_since(SystemTime::now()).unwrap_or_default();
            tokio::time::sleep(left).await;
            return;
        }
        if expiry.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}
