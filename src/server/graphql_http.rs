//! `POST /graphql`, in the order that keeps abuse cheap: media type (CSRF) -> credential (401)
//! -> body -> (in a bounded execution slot) parse -> cost estimate -> execution -> a capped
//! response.
//! Everything refused before execution is a GraphQL error body with a stable code. GraphQL's
//! own request errors (parse, validation, variable coercion) are 400 under
//! `application/graphql-response+json` and 200 under `application/json`, where a legacy client
//! trusts only a 200 body to be a GraphQL response (GraphQL over HTTP; docs/decisions.md).
//! A query whose answer depends only on the connections' state carries an `ETag` and may be
//! answered 304 or from a kept body, one execution shared by identical concurrent requests
//! ([`super::response_cache`]); everything else is `Cache-Control: no-store`.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{ErrorExtensions, ServerError, Variables};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use tracing::Instrument;

use super::documents;
use super::errors::{code, with_type};
use super::gate::{Gate, Overrun};
use super::media;
use super::response_cache::{Key, ResponseCache, NOT_REUSABLE, REUSABLE};
use super::variables;
use super::AppState;
use crate::auth::Role;
use crate::graphql::limits::{CostModel, Refusal};
use crate::graphql::pack;
use crate::graphql::reuse::Volatile;

/// What the handler needs besides [`AppState`]: the execution slots and the response cap.
pub struct Execution {
    /// The execution slots.
    pub gate: Gate,
    /// See [`super::ServerLimits::max_response_bytes`].
    pub max_response_bytes: usize,
    /// The size of the last response written: the next one's buffer starts there instead of
    /// growing by doubling (and copying) to it.
    pub response_size: AtomicUsize,
    /// Reusable responses: keys, kept bodies, learnt documents.
    pub cache: ResponseCache,
}

/// A GraphQL-over-HTTP request body. Batches (a JSON array) are not accepted.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<serde_json::Value>,
    /// Unused, but checked: a request with a non-map `extensions` is not well-formed.
    extensions: Option<serde_json::Value>,
}

/// `POST /graphql`.
pub async fn post(
    State(s): State<AppState>,
    Extension(exec): Extension<Arc<Execution>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = std::time::Instant::now();
    s.counters.graphql_requests.fetch_add(1, Ordering::Relaxed);
    let span = request_span(&headers);
    let (mut resp, errors) = match handle(&s, &exec, &headers, &body)
        .instrument(span.clone())
        .await
    {
        Ok(encoded) => encoded,
        Err(refused) => {
            s.counters.graphql_refused.fetch_add(1, Ordering::Relaxed);
            (refused, true)
        }
    };
    resp.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(NOT_REUSABLE);
    if errors {
        s.counters.graphql_errors.fetch_add(1, Ordering::Relaxed);
    }
    s.counters
        .graphql_latency
        .observe_request(&body, started.elapsed());
    resp
}

/// `extensions.persistedQuery.sha256Hash` (lower-cased) when the request names a persisted
/// query of the version Apollo clients send (1).
fn persisted_id(extensions: Option<&serde_json::Value>) -> Option<String> {
    let p = extensions?.get("persistedQuery")?;
    (p.get("version")?.as_i64()? == 1)
        .then(|| p.get("sha256Hash")?.as_str().map(str::to_ascii_lowercase))
        .flatten()
}

/// The span of one request, named before the body is read (a span's name is fixed when it
/// starts; the operation's name is an attribute): it continues the trace of the gateway's W3C
/// `traceparent` and records the client's name.
fn request_span(headers: &HeaderMap) -> tracing::Span {
    let client = headers
        .get("apollographql-client-name")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let span = tracing::info_span!(
        "graphql.request",
        otel.name = "graphql.request",
        otel.kind = "server",
        graphql.operation.name = tracing::field::Empty,
        apollographql.client.name = client,
    );
    if headers.contains_key("traceparent") {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&opentelemetry_http::HeaderExtractor(headers))
        });
        let _ = span.set_parent(parent);
    }
    span
}

/// The response and whether it carries errors; a refusal is `Err`.
async fn handle(
    s: &AppState,
    exec: &Execution,
    headers: &HeaderMap,
    raw: &[u8],
) -> Result<(Response, bool), Response> {
    let media = media::negotiate(headers)?;
    let refuse = |status, code: &str, message: String| {
        with_type(status, code, message, media.content_type())
    };
    // Before any GraphQL work: an unauthenticated client gets its 401 and nothing else.
    let principal = s.access.principal(headers)?;
    let body: Body = serde_json::from_slice(raw).map_err(|e| {
        refuse(
            StatusCode::BAD_REQUEST,
            code::BAD_REQUEST,
            format!("the body is not a GraphQL request object: {e}"),
        )
    })?;
    if !matches!(
        body.extensions,
        None | Some(serde_json::Value::Null | serde_json::Value::Object(_))
    ) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            code::BAD_REQUEST,
            "`extensions` must be an object".into(),
        ));
    }
    let request_error = media.request_error_status();
    let query = match (
        body.query.filter(|q| !q.trim().is_empty()),
        persisted_id(body.extensions.as_ref()),
    ) {
        (Some(q), None) => q,
        (Some(q), Some(id)) if pack::sha256_hex(&q) == id => q,
        (Some(_), Some(_)) => {
            return Err(refuse(
                request_error,
                code::PERSISTED_QUERY_HASH_MISMATCH,
                "extensions.persistedQuery.sha256Hash is not the SHA-256 of `query`".into(),
            ))
        }
        (None, Some(id)) => match pack::pack().by_hash(&id) {
            Some(op) => op.document.clone(),
            None => {
                return Err(refuse(
                    request_error,
                    code::PERSISTED_QUERY_NOT_FOUND,
                    "PersistedQueryNotFound: only the assistant pack's operations are persisted (vsphereAssistantPack lists them)".into(),
                ))
            }
        },
        (None, None) => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                code::BAD_REQUEST,
                "the body has no `query` string".into(),
            ))
        }
    };
    if principal.role == Role::Assistant && s.access.safelist() && !pack::pack().allows(&query) {
        return Err(refuse(
            request_error,
            code::PERSISTED_QUERY_NOT_IN_LIST,
            "the assistant may run only the operations of its pack (vsphereAssistantPack)".into(),
        ));
    }
    let variables = match body.variables {
        None | Some(serde_json::Value::Null) => Variables::default(),
        Some(v @ serde_json::Value::Object(_)) => Variables::from_json(v),
        Some(_) => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                code::BAD_REQUEST,
                "`variables` must be an object".into(),
            ))
        }
    };
    let cache = &exec.cache;
    // Before anything is run: the caller already holds this very answer.
    let key = cache.key(principal.role, raw, &s.registry);
    if key.matches(headers) {
        ResponseCache::count(&cache.not_modified);
        let resp = (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, key.etag()),
                (header::CACHE_CONTROL, REUSABLE),
            ],
        )
            .into_response();
        return Ok((resp, false));
    }
    let document = cache.document(principal.role, &query, body.operation_name.as_deref());
    let mut req = async_graphql::Request::new(query).variables(variables);
    if let Some(op) = body.operation_name {
        tracing::Span::current().record("graphql.operation.name", op.as_str());
        req = req.operation_name(op);
    }
    let req = req.data(principal.clone());
    let cap = exec.max_response_bytes;
    // Bounded: one large response must not make every later buffer large.
    let size_hint = exec
        .response_size
        .load(Ordering::Relaxed)
        .min(cap)
        .min(MAX_SIZE_HINT);
    let run = run(s, exec, req, principal.role == Role::Assistant, size_hint);
    let again = cache.asked_again(key).await;
    let ran = match (cache.reusable(document), cache.bodies()) {
        // Known reusable and asked for before: answered from a kept body, or computed once for
        // every identical request arriving meanwhile (moka runs one initialiser per key and
        // lets the others wait for it).
        (Some(true), Some(bodies)) if again => {
            let kept = bodies
                .entry(key)
                .or_try_insert_with(async {
                    match run.await {
                        Ok(Ok(done)) if done.reusable => Ok(done.encoded.body),
                        other => Err(other),
                    }
                })
                .await;
            match kept {
                Ok(entry) => {
                    ResponseCache::count(if entry.is_fresh() {
                        &cache.misses
                    } else {
                        &cache.hits
                    });
                    return Ok((reusable(&media, key, entry.into_value()), false));
                }
                Err(shared) => return answer(exec, &media, &shared, key),
            }
        }
        _ => run.await,
    };
    if let Ok(Ok(done)) = &ran {
        cache.learn(document, done.query_of_slots);
        if done.reusable {
            ResponseCache::count(&cache.misses);
            if let Some(bodies) = cache.bodies().filter(|_| again) {
                bodies.insert(key, done.encoded.body.clone()).await;
            }
        }
    }
    answer(exec, &media, &ran, key)
}

/// The outcome of running a request.
type Ran = Result<Result<Executed, Unserved>, Overrun>;

/// A request run to its serialised response.
struct Executed {
    encoded: Encoded,
    /// A query whose fields all read only the slots' state (validation's cache control): the
    /// same for every run of the document.
    query_of_slots: bool,
    /// This response may be reused: such a query, no field marked it volatile, no error.
    reusable: bool,
}

/// Parses, checks, executes and serialises `req` in an execution slot.
async fn run(
    s: &AppState,
    exec: &Execution,
    req: async_graphql::Request,
    assistant: bool,
    size_hint: usize,
) -> Ran {
    let schemas = s.schemas.clone();
    let cap = exec.max_response_bytes;
    let volatile = Arc::new(Volatile::default());
    let req = req.data(volatile.clone());
    // Parsing (up to MAX_BODY_BYTES), the estimate and the library's work all run in a slot,
    // off the threads that answer `/healthz`: a 234 KB document takes a while to parse.
    exec.gate
        .run(
            async move {
                let (req, query) = prepare(req, &schemas.cost)?;
                // The assistant's schema has no mutation type: a mutation is refused in validation.
                let resp = if assistant {
                    schemas.assistant.execute(req).await
                } else {
                    schemas.full.execute(req).await
                };
                // `max_age` -1 is `no_cache` somewhere in the selection; 0 is "unset", the
                // default for fields that read the slots.
                let query_of_slots = query && resp.cache_control.max_age != -1;
                let encoded = encode(with_codes(resp), cap, size_hint)?;
                let reusable = query_of_slots
                    && !volatile.is_set()
                    && !encoded.has_errors
                    && !encoded.request_error;
                Ok(Executed {
                    encoded,
                    query_of_slots,
                    reusable,
                })
            }
            .in_current_span(),
        )
        .await
}

/// A reusable response: its body, `ETag` and `Cache-Control`.
fn reusable(media: &media::Media, key: Key, body: Bytes) -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(media.content_type()),
            ),
            (header::ETAG, key.etag()),
            (header::CACHE_CONTROL, REUSABLE),
        ],
        body,
    )
        .into_response()
}

/// The response to `ran` (the handler's own, or one shared by an identical request).
fn answer(
    exec: &Execution,
    media: &media::Media,
    ran: &Ran,
    key: Key,
) -> Result<(Response, bool), Response> {
    let request_error = media.request_error_status();
    let refuse = |status, code: &str, message: String| {
        with_type(status, code, message, media.content_type())
    };
    let cap = exec.max_response_bytes;
    match ran {
        Ok(Ok(done)) => {
            let encoded = &done.encoded;
            exec.response_size
                .store(encoded.body.len(), Ordering::Relaxed);
            if done.reusable {
                return Ok((reusable(media, key, encoded.body.clone()), false));
            }
            let status = if encoded.request_error {
                request_error
            } else {
                StatusCode::OK
            };
            let resp = (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(media.content_type()),
                )],
                encoded.body.clone(),
            )
                .into_response();
            Ok((resp, encoded.has_errors))
        }
        Ok(Err(Unserved::Parse(message))) => {
            Err(refuse(request_error, code::PARSE_FAILED, message.clone()))
        }
        Ok(Err(Unserved::Coercion(message))) => {
            Err(refuse(request_error, code::BAD_USER_INPUT, message.clone()))
        }
        // A fragment cycle or an `Int` literal outside 32 bits: GraphQL validation rules, found
        // by the estimate first.
        Ok(Err(Unserved::Refused(r))) if r.is_validation() => {
            Err(refuse(request_error, r.code(), r.to_string()))
        }
        Ok(Err(Unserved::Refused(r))) => {
            Err(refuse(StatusCode::BAD_REQUEST, r.code(), r.to_string()))
        }
        Ok(Err(Unserved::TooLarge)) => Err(refuse(
            StatusCode::BAD_REQUEST,
            code::RESPONSE_TOO_LARGE,
            format!(
                "the response is larger than {cap} bytes: ask for smaller pages or fewer fields"
            ),
        )),
        Err(o @ Overrun::Timeout(_)) => Err(refuse(
            StatusCode::GATEWAY_TIMEOUT,
            code::TIMEOUT,
            format!("{o}: ask for less, or retry later"),
        )),
        Err(o @ Overrun::Lost) => Err(refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            o.to_string(),
        )),
    }
}

/// Why a request got no GraphQL response of its own.
enum Unserved {
    /// The document does not parse (the one-line message).
    Parse(String),
    /// A variable does not coerce to its declared type.
    Coercion(String),
    /// Over a limit before execution.
    Refused(Refusal),
    /// The response exceeded the response cap.
    TooLarge,
}

/// Parses `req`'s document and checks its cost; the parsed document goes with the request so
/// the library does not parse it again. Also whether the operation run is a query.
fn prepare(
    mut req: async_graphql::Request,
    cost: &CostModel,
) -> Result<(async_graphql::Request, bool), Unserved> {
    let doc = documents::parse(&req.query).map_err(|e| Unserved::Parse(parse_message(&e)))?;
    match cost.check(&doc, &req.variables) {
        Ok(e) => tracing::debug!(
            cost = e.cost,
            depth = e.depth,
            aliases = e.aliases,
            fragment_spreads = e.fragment_spreads,
            "GraphQL request accepted"
        ),
        Err(r) => {
            // Debug, not info: a client repeating a refused request must not flood the log;
            // `pulse_vsphere_graphql_refused_total` counts them.
            tracing::debug!(code = r.code(), "GraphQL request refused: {r}");
            return Err(Unserved::Refused(r));
        }
    }
    if let Some(message) =
        variables::coercion_error(&doc, req.operation_name.as_deref(), &req.variables)
    {
        return Err(Unserved::Coercion(message));
    }
    let query = is_query(&doc, req.operation_name.as_deref());
    req.set_parsed_query(doc);
    Ok((req, query))
}

/// Whether the operation `name` picks (the only one without a name) is a query; an unknown
/// name fails validation later.
fn is_query(doc: &ExecutableDocument, name: Option<&str>) -> bool {
    let op = match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(_), None) => None,
    };
    op.is_some_and(|op| op.node.ty == OperationType::Query)
}

/// A parse error in one line: where, and what was expected (the parser's own message repeats
/// the source line, which can be the whole 256 KB document).
fn parse_message(e: &async_graphql::parser::Error) -> String {
    use async_graphql::parser::Error;
    match e {
        Error::Syntax { message, start, .. } => {
            let what = message
                .lines()
                .rev()
                .find_map(|l| l.trim().strip_prefix("= "))
                .unwrap_or("syntax error");
            format!(
                "syntax error at line {}, column {}: {what}",
                start.line, start.column
            )
        }
        other => other.to_string(),
    }
}

/// A serialised response.
struct Encoded {
    body: Bytes,
    /// The request failed as a whole (validation): no `data`; see
    /// [`media::Media::request_error_status`].
    request_error: bool,
    has_errors: bool,
}

/// The largest buffer a response starts with (larger ones grow as they are written).
const MAX_SIZE_HINT: usize = 1 << 20;

/// Serialises `resp` into a buffer of `size_hint` bytes to start with, giving up as soon as it
/// passes `cap` bytes.
fn encode(
    resp: async_graphql::Response,
    cap: usize,
    size_hint: usize,
) -> Result<Encoded, Unserved> {
    let request_error = resp.data == async_graphql::Value::Null
        && !resp.errors.is_empty()
        && resp.errors.iter().all(|e| e.path.is_empty());
    // serde_json writes a fragment at a time: the buffer takes them with a copy, and the cap is
    // checked once per 8 KB instead of once per fragment.
    let mut out = std::io::BufWriter::with_capacity(
        8 << 10,
        Capped {
            buf: Vec::with_capacity(size_hint),
            cap,
        },
    );
    let written = if request_error {
        serde_json::to_writer(&mut out, &serde_json::json!({"errors": resp.errors}))
    } else {
        serde_json::to_writer(&mut out, &resp)
    };
    written.map_err(|_| Unserved::TooLarge)?;
    let out = out.into_inner().map_err(|_| Unserved::TooLarge)?;
    Ok(Encoded {
        body: Bytes::from(out.buf),
        request_error,
        has_errors: !resp.errors.is_empty(),
    })
}

struct Capped {
    buf: Vec<u8>,
    cap: usize,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.cap {
            return Err(std::io::Error::other("response cap"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Gives every error a stable `extensions.code`: ours already have one; the engine's own get
/// Apollo's conventional codes (an argument or variable that does not coerce is the client's
/// input, not a server error).
pub fn with_codes(mut resp: async_graphql::Response) -> async_graphql::Response {
    for err in &mut resp.errors {
        let has_code = err
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if !has_code {
            set_code(err);
        }
    }
    resp
}

fn set_code(err: &mut ServerError) {
    let m = err.message.as_str();
    let code = if m.contains("nested too deep") || m.contains("recursion depth") {
        "QUERY_TOO_DEEP"
    } else if m.contains("too complex") {
        "QUERY_TOO_COMPLEX"
    } else if err.path.is_empty() {
        "GRAPHQL_VALIDATION_FAILED"
    } else if m.starts_with("Failed to parse \"") || m.starts_with("Invalid value for argument") {
        // A value that does not coerce at resolution (one the checks before the library do not
        // look at, such as a custom scalar's): the client's input, not a server fault.
        "BAD_USER_INPUT"
    } else {
        "INTERNAL_SERVER_ERROR"
    };
    let e = async_graphql::Error::new(err.message.clone()).extend_with(|_, x| x.set("code", code));
    if let Some(ext) = e.extensions {
        err.extensions = Some(ext);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(bytes: usize) -> async_graphql::Response {
        async_graphql::Response::new(async_graphql::Value::String("x".repeat(bytes)))
    }

    #[test]
    fn a_response_over_the_cap_is_refused_wherever_it_crosses_it() {
        // Under the writer's 8 KB buffer the cap is crossed only at the final flush; over it,
        // while serde_json writes.
        for (len, cap) in [(100, 50), (100, 110), (40_000, 20_000), (40_000, 39_990)] {
            assert!(
                matches!(encode(response(len), cap, 0), Err(Unserved::TooLarge)),
                "{len} bytes under a {cap}-byte cap"
            );
        }
        let Ok(fits) = encode(response(40_000), 40_100, 1 << 20) else {
            panic!("40,000 bytes fit a 40,100-byte cap");
        };
        let body: serde_json::Value = serde_json::from_slice(&fits.body).expect("JSON");
        assert_eq!(body["data"].as_str().map(str::len), Some(40_000));
        assert!(!fits.has_errors && !fits.request_error);
    }
}
