//! One HTTPS client per connection: timeouts, the User-Agent, a tracing span and a counter per
//! call, and the mapping of transport errors to failure classes.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use tracing::Instrument;

use super::error::{ApiFamily, FailureClass, VcError, VcResult};
use super::tls::{client_config, Presented, TlsMode};
use crate::telemetry::{Timing, VCENTER_CALL_BUCKETS};

/// Connect and per-request limits.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    /// Each request; long-polls add their own wait to this.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
        }
    }
}

/// What came back, before any family-specific interpretation.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// `(family, call, status)`; status 0 is a transport failure.
pub type CallKey = (String, String, u16);

/// Calls and time per `(family, call, status)`, for `/metrics` and for tests that count calls.
/// Call names are templates (`GET /api/vcenter/vm/{vm}/guest/identity`), never object ids, so
/// the number of keys stays bounded however many objects are read.
#[derive(Debug, Default)]
pub struct CallStats {
    inner: Mutex<BTreeMap<CallKey, (u64, f64)>>,
    latency: Mutex<BTreeMap<(String, String), Timing>>,
    recent: Mutex<RecentCalls>,
}

/// Calls per second over the last minute, in a ring of one-second slots.
#[derive(Debug)]
struct RecentCalls {
    origin: Instant,
    /// `(second since origin, calls in it)`, indexed by that second modulo 60.
    slots: [(u64, u64); 60],
}

impl Default for RecentCalls {
    fn default() -> Self {
        RecentCalls {
            origin: Instant::now(),
            slots: [(u64::MAX, 0); 60],
        }
    }
}

impl RecentCalls {
    fn note(&mut self) {
        let now = self.origin.elapsed().as_secs();
        let slot = &mut self.slots[(now % 60) as usize];
        if slot.0 != now {
            *slot = (now, 0);
        }
        slot.1 += 1;
    }

    fn last_minute(&self) -> u64 {
        let now = self.origin.elapsed().as_secs();
        self.slots
            .iter()
            .filter(|(sec, _)| *sec != u64::MAX && now - sec < 60)
            .map(|(_, n)| n)
            .sum()
    }
}

impl CallStats {
    fn record(&self, family: ApiFamily, call: &str, status: u16, elapsed: Duration) {
        let call = call_name(family, call);
        if let Ok(mut m) = self.inner.lock() {
            let e = m
                .entry((family.to_string(), call.clone(), status))
                .or_default();
            e.0 += 1;
            e.1 += elapsed.as_secs_f64();
        }
        if let Ok(mut m) = self.latency.lock() {
            m.entry((family.to_string(), call))
                .or_insert_with(|| Timing::new(&VCENTER_CALL_BUCKETS))
                .observe(elapsed);
        }
        if let Ok(mut r) = self.recent.lock() {
            r.note();
        }
    }

    /// `(family, call, status) -> (count, seconds)`; status 0 is a transport failure.
    pub fn snapshot(&self) -> BTreeMap<CallKey, (u64, f64)> {
        self.inner.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Latency of each `(family, call)`, any status.
    pub fn latency(&self) -> Vec<((String, String), Timing)> {
        self.latency
            .lock()
            .map(|m| m.iter().map(|(k, t)| (k.clone(), t.clone())).collect())
            .unwrap_or_default()
    }

    /// Calls sent in the last 60 seconds: what this connection costs its vCenter now.
    pub fn last_minute(&self) -> u64 {
        self.recent.lock().map(|r| r.last_minute()).unwrap_or(0)
    }

    /// All calls whose name starts with `prefix` (any family, any status).
    pub fn count(&self, prefix: &str) -> u64 {
        self.snapshot()
            .iter()
            .filter(|((_, c, _), _)| c.starts_with(prefix))
            .map(|(_, (n, _))| n)
            .sum()
    }
}

/// REST collections whose next path segment is one object's id, and the placeholder naming it
/// (as in the API reference).
const REST_COLLECTIONS: [(&str, &str); 12] = [
    ("vm", "{vm}"),
    ("host", "{host}"),
    ("datastore", "{datastore}"),
    ("cluster", "{cluster}"),
    ("network", "{network}"),
    ("folder", "{folder}"),
    ("datacenter", "{datacenter}"),
    ("resource-pool", "{resource_pool}"),
    ("tag", "{tag_id}"),
    ("category", "{category_id}"),
    ("library", "{library_id}"),
    ("item", "{item_id}"),
];

/// The call's name as `/metrics` labels it: a REST path with its object ids replaced by
/// placeholders, so reading 1,000 VMs adds no series. VI JSON names are already
/// `Type.method` (the managed object id is never part of them).
pub fn call_name(family: ApiFamily, call: &str) -> String {
    if family != ApiFamily::Rest {
        return call.to_string();
    }
    let (method, path) = call.split_once(' ').unwrap_or(("", call));
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    // `action=` names the operation; any other parameter may carry ids.
    let action = query.split('&').find(|p| p.starts_with("action="));
    let mut out = String::with_capacity(call.len());
    out.push_str(method);
    if !method.is_empty() {
        out.push(' ');
    }
    let mut previous = "";
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let placeholder = REST_COLLECTIONS
            .iter()
            .find(|(collection, _)| *collection == previous)
            .map(|(_, p)| *p);
        match placeholder {
            Some(p) if !segment.is_empty() => out.push_str(p),
            // Any other segment that looks like an id (`vm-42`, `urn:vmomi:...`, a UUID) is
            // one too: the API's fixed segments are lowercase words and hyphens.
            _ if looks_like_id(segment) => out.push_str("{id}"),
            _ => out.push_str(segment),
        }
        previous = segment;
    }
    if let Some(action) = action {
        out.push('?');
        out.push_str(action);
    }
    out
}

fn looks_like_id(segment: &str) -> bool {
    segment.len() > 40
        || segment
            .bytes()
            .any(|b| b.is_ascii_digit() || b.is_ascii_uppercase() || b == b':' || b == b'%')
}

/// The HTTPS side of a connection.
#[derive(Clone, Debug)]
pub struct Transport {
    pub http: reqwest::Client,
    pub base: String,
    presented: Presented,
    pub stats: Arc<CallStats>,
    pub timeouts: Timeouts,
}

pub const USER_AGENT: &str = concat!(
    "pulse-vsphere/",
    env!("CARGO_PKG_VERSION"),
    " (Pulse monitoring; read-only)"
);

impl Transport {
    pub fn new(base: &str, tls: &TlsMode, timeouts: Timeouts) -> VcResult<Transport> {
        let (config, presented) = client_config(tls).map_err(|e| {
            VcError::new(
                FailureClass::TlsValidationFailed,
                ApiFamily::Rest,
                "tls",
                e.to_string(),
            )
        })?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(config)
            .connect_timeout(timeouts.connect)
            .user_agent(USER_AGENT)
            .pool_idle_timeout(Duration::from_secs(50))
            .build()
            .map_err(|e| {
                VcError::new(
                    FailureClass::Unknown,
                    ApiFamily::Rest,
                    "client",
                    e.to_string(),
                )
            })?;
        Ok(Transport {
            http,
            base: base.trim_end_matches('/').to_string(),
            presented,
            stats: Arc::default(),
            timeouts,
        })
    }

    /// Sends `req` (already carrying its URL, headers and body) and reads the whole body.
    pub async fn send(
        &self,
        family: ApiFamily,
        call: &str,
        req: reqwest::RequestBuilder,
        extra_wait: Duration,
    ) -> VcResult<RawResponse> {
        // Noted before it is sent: a call cancelled in flight still reached vCenter.
        if super::methods::recording() {
            super::methods::note(family, &call_name(family, call));
        }
        let span = tracing::info_span!("vcenter_call", family = %family, call, status = tracing::field::Empty, bytes = tracing::field::Empty, ms = tracing::field::Empty);
        let started = Instant::now();
        let result = async {
            let resp = req
                .timeout(self.timeouts.request + extra_wait)
                .send()
                .await
                .map_err(|e| self.classify(family, call, &e))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp
                .bytes()
                .await
                .map_err(|e| self.classify(family, call, &e))?;
            Ok(RawResponse {
                status,
                headers,
                body,
            })
        }
        .instrument(span.clone())
        .await;
        let elapsed = started.elapsed();
        let secs = elapsed.as_secs_f64();
        let status = result.as_ref().map(|r| r.status).unwrap_or(0);
        span.record("status", status);
        span.record("ms", (secs * 1000.0) as u64);
        if let Ok(r) = &result {
            span.record("bytes", r.body.len());
        }
        self.stats.record(family, call, status, elapsed);
        result
    }

    fn classify(&self, family: ApiFamily, call: &str, e: &reqwest::Error) -> VcError {
        let chain = error_chain(e);
        let host = self.base.trim_start_matches("https://");
        if e.is_timeout() && e.is_connect() {
            return VcError::new(
                FailureClass::EndpointUnreachable,
                family,
                call,
                format!("cannot reach vCenter at {host}: the connection timed out"),
            );
        }
        if e.is_timeout() {
            return VcError::new(
                FailureClass::Timeout,
                family,
                call,
                format!("vCenter at {host} did not answer in time"),
            );
        }
        // rustls errors hide behind io::Error, whose `source()` skips the payload: fall back to
        // rustls' stable wording when the typed error cannot be reached.
        let tls = find_rustls(e).or_else(|| {
            (chain.contains("invalid peer certificate")
                || chain.contains("does not match the pinned"))
            .then(|| rustls::Error::General(tls_text(&chain)))
        });
        if let Some(tls_err) = tls {
            let presented = self.presented.lock().ok().and_then(|p| p.clone());
            let mut err = VcError::new(
                FailureClass::TlsValidationFailed,
                family,
                call,
                match (&tls_err, &presented) {
                    (rustls::Error::General(m), _) if m.contains("pinned") => m.clone(),
                    (rustls::Error::General(m), Some(t)) => format!("the certificate of {host} is not trusted ({m}); its SHA-256 thumbprint is {t}"),
                    (_, Some(t)) => format!("the certificate of {host} is not trusted ({tls_err}); its SHA-256 thumbprint is {t}"),
                    (_, None) => format!("TLS with {host} failed: {tls_err}"),
                },
            );
            err.presented_thumbprint = presented;
            return err;
        }
        // vCenter going away mid-request (restart, reboot, a load balancer dropping us) is the
        // same operator problem as not reaching it at all.
        let dropped = [
            "peer closed connection",
            "connection closed",
            "connection reset",
            "broken pipe",
            "unexpected eof",
        ]
        .iter()
        .any(|m| chain.to_ascii_lowercase().contains(m));
        if dropped && !e.is_connect() {
            return VcError::new(
                FailureClass::EndpointUnreachable,
                family,
                call,
                format!("vCenter at {host} closed the connection"),
            );
        }
        if e.is_connect() {
            let what = if chain.contains("dns error") || chain.contains("failed to lookup") {
                format!("cannot resolve the vCenter host name {host}")
            } else if chain.contains("refused") {
                format!("vCenter at {host} refused the connection")
            } else {
                format!("cannot reach vCenter at {host}: {chain}")
            };
            return VcError::new(FailureClass::EndpointUnreachable, family, call, what);
        }
        if e.is_decode() || e.is_body() {
            return VcError::new(
                FailureClass::ProtocolError,
                family,
                call,
                format!("the response from {host} broke off: {chain}"),
            );
        }
        VcError::new(
            FailureClass::Unknown,
            family,
            call,
            format!("request to {host} failed: {chain}"),
        )
    }
}

/// The TLS part of an error chain (`invalid peer certificate: UnknownIssuer`).
fn tls_text(chain: &str) -> String {
    chain
        .split(": ")
        .skip_while(|p| !p.contains("certificate") && !p.contains("thumbprint"))
        .collect::<Vec<_>>()
        .join(": ")
}

fn error_chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

fn find_rustls(e: &reqwest::Error) -> Option<rustls::Error> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(s) = src {
        if let Some(r) = s.downcast_ref::<rustls::Error>() {
            return Some(r.clone());
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(r.clone());
            }
        }
        src = s.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_call_names_carry_no_object_id() {
        let cases = [
            (
                "GET /api/vcenter/vm/vm-1042/guest/identity",
                "GET /api/vcenter/vm/{vm}/guest/identity",
            ),
            (
                "GET /api/vcenter/vm/vm-7/guest/local-filesystem",
                "GET /api/vcenter/vm/{vm}/guest/local-filesystem",
            ),
            (
                "GET /api/cis/tagging/tag/urn:vmomi:InventoryServiceTag:6a2c:GLOBAL",
                "GET /api/cis/tagging/tag/{tag_id}",
            ),
            (
                "GET /api/cis/tagging/category/urn:vmomi:InventoryServiceCategory:1:GLOBAL",
                "GET /api/cis/tagging/category/{category_id}",
            ),
            ("GET /api/cis/tagging/tag", "GET /api/cis/tagging/tag"),
            (
                "POST /api/cis/tagging/tag-association?action=list-attached-tags-on-objects",
                "POST /api/cis/tagging/tag-association?action=list-attached-tags-on-objects",
            ),
            (
                "GET /api/vcenter/vm?names=web-01&hosts=host-9",
                "GET /api/vcenter/vm",
            ),
            ("POST /api/session", "POST /api/session"),
            (
                "GET /api/appliance/system/version",
                "GET /api/appliance/system/version",
            ),
            (
                "GET /api/some/thing/4f1c0e55-0000",
                "GET /api/some/thing/{id}",
            ),
        ];
        for (call, name) in cases {
            assert_eq!(call_name(ApiFamily::Rest, call), name, "{call}");
        }
        assert_eq!(
            call_name(ApiFamily::ViJson, "VirtualMachine.info"),
            "VirtualMachine.info"
        );
    }

    #[test]
    fn many_objects_leave_one_key_per_call() {
        let stats = CallStats::default();
        for i in 0..1000 {
            stats.record(
                ApiFamily::Rest,
                &format!("GET /api/vcenter/vm/vm-{i}/guest/identity"),
                200,
                Duration::from_millis(3),
            );
        }
        assert_eq!(stats.snapshot().len(), 1);
        assert_eq!(stats.latency().len(), 1);
        assert_eq!(stats.last_minute(), 1000);
        assert_eq!(stats.count("GET /api/vcenter/vm/{vm}/"), 1000);
    }
}
