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
#[derive(Debug, Default)]
pub struct CallStats {
    inner: Mutex<BTreeMap<CallKey, (u64, f64)>>,
}

impl CallStats {
    fn record(&self, family: ApiFamily, call: &str, status: u16, secs: f64) {
        if let Ok(mut m) = self.inner.lock() {
            let e = m
                .entry((family.to_string(), call.to_string(), status))
                .or_default();
            e.0 += 1;
            e.1 += secs;
        }
    }

    /// `(family, call, status) -> (count, seconds)`; status 0 is a transport failure.
    pub fn snapshot(&self) -> BTreeMap<CallKey, (u64, f64)> {
        self.inner.lock().map(|m| m.clone()).unwrap_or_default()
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
        let span = tracing::debug_span!("vcenter_call", family = %family, call, status = tracing::field::Empty, bytes = tracing::field::Empty, ms = tracing::field::Empty);
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
        let secs = started.elapsed().as_secs_f64();
        let status = result.as_ref().map(|r| r.status).unwrap_or(0);
        span.record("status", status);
        span.record("ms", (secs * 1000.0) as u64);
        if let Ok(r) = &result {
            span.record("bytes", r.body.len());
        }
        self.stats.record(family, call, status, secs);
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
