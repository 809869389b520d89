//! A connection to one vCenter: release negotiation, one session per API family, keep-alive,
//! one re-login and retry on an expired session, retries with jitter for idempotent reads, and
//! logout on close or drop. Everything else in `vcenter/` is built on `vim_*` and `rest_*` here.

use std::sync::{Arc, Weak};
use std::time::Duration;

use base64::Engine;
use rand::Rng;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{Notify, OnceCell};

use super::error::{ApiFamily, FailureClass, VcError, VcResult};
use super::session::{Clock, SessionSlot, SystemClock};
use super::tls::TlsMode;
use super::transport::{RawResponse, Timeouts, Transport};
use super::wire::content::ServiceContent;
use super::wire::fault::VimFault;
use super::wire::rest::RestErrorBody;
use super::wire::MoRef;

/// VI JSON releases this client speaks, newest first. 8.0.1.0 is the floor (DESIGN section 3).
pub const SUPPORTED_RELEASES: &[&str] = &["9.1.0.0", "9.0.0.0", "8.0.3.0", "8.0.2.0", "8.0.1.0"];

/// A password that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How to reach and log in to one vCenter.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `https://host[:port]`.
    pub url: String,
    pub username: String,
    pub password: Secret,
    pub tls: TlsMode,
    pub timeouts: Timeouts,
    /// A cheap call on each session this often keeps it from idling out (vCenter: 30 min).
    pub keepalive: Duration,
    /// Retries of an idempotent read after a transient failure.
    pub read_retries: u32,
}

impl ClientConfig {
    pub fn new(url: &str, username: &str, password: Secret, tls: TlsMode) -> ClientConfig {
        ClientConfig {
            url: url.trim_end_matches('/').to_string(),
            username: username.to_string(),
            password,
            tls,
            timeouts: Timeouts::default(),
            keepalive: Duration::from_secs(600),
            read_retries: 2,
        }
    }
}

/// What the vCenter said about itself.
#[derive(Clone, Debug)]
pub struct Negotiated {
    pub release: String,
    pub content: ServiceContent,
}

/// `about.apiType` of vCenter Server; an ESXi host answers `HostAgent`.
pub const VCENTER_API_TYPE: &str = "VirtualCenter";

impl Negotiated {
    /// Phase 1 reads vCenter only. An ESXi host speaks the same VI JSON API and would accept the
    /// login, so this is checked on the anonymous ServiceContent before any credential is sent.
    ///
    /// # Errors
    /// `phase1_floor_unmet` when the endpoint is not vCenter Server.
    pub fn require_vcenter(&self) -> VcResult<()> {
        let about = &self.content.about;
        if about.api_type == VCENTER_API_TYPE {
            return Ok(());
        }
        let what = if about.full_name.is_empty() {
            "an endpoint that is not vCenter Server".to_string()
        } else {
            about.full_name.clone()
        };
        Err(vim_err(
            "ServiceInstance.content",
            FailureClass::Phase1FloorUnmet,
            format!(
                "this endpoint is {what} (about.apiType `{}`), not vCenter Server: phase 1 reads vCenter only and direct ESXi onboarding is excluded; connect the vCenter that manages this host",
                about.api_type
            ),
        ))
    }
}

/// How often a VI JSON call vCenter answered 503 is sent again, whatever its idempotency:
/// vCenter's front end answers 503 without handing the request to the service, so even a
/// single-use token is still unused. Under 50 % failing requests a full sync of many pages
/// failed somewhere nearly every time and started over; with 4 resends a page fails 1 time in
/// 32 and the sync goes on. In a real outage this adds at most ~6 s before the cycle fails.
const UNANSWERED_RETRIES: u32 = 4;

/// Whether a failed call may be sent again as is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idempotency {
    /// A read: retried on transient failures.
    Read,
    /// Creates, single-use tokens, long-polls: sent once (plus one re-login retry, and resends
    /// of a bare 503, which never reached the service).
    Once,
    /// Destroys and cancels through [`VcClient::free`]: sent once, not even resent on a bare
    /// 503; what gets no answer is remembered and sent again later, so an outage does not
    /// hold the caller in resends.
    Cleanup,
}

#[derive(Debug)]
struct Inner {
    cfg: ClientConfig,
    transport: Transport,
    negotiated: OnceCell<Negotiated>,
    vim: SessionSlot,
    rest: SessionSlot,
    closed: Arc<Notify>,
    /// Session objects whose destroy or cancel failed, freed again later (see [`VcClient::free`]).
    unfreed: std::sync::Mutex<Vec<Unfreed>>,
}

/// A view, filter, collector or retrieve token a cleanup call could not free.
#[derive(Debug)]
struct Unfreed {
    obj: MoRef,
    method: &'static str,
    body: Option<Value>,
    /// The VI JSON session it belongs to: gone with that session, so never sent to another.
    epoch: u64,
}

/// One API family's session bookkeeping ([`VcClient::session_stats`]).
#[derive(Clone, Debug)]
pub struct SessionStats {
    pub family: ApiFamily,
    /// A session is held now.
    pub held: bool,
    /// Login attempts so far.
    pub logins: u64,
    /// Failed login attempts by failure class.
    pub failures: Vec<(&'static str, u64)>,
}

/// A vCenter connection's client. Cheap to clone; the last drop logs out.
#[derive(Clone, Debug)]
pub struct VcClient {
    inner: Arc<Inner>,
}

fn vim_err(call: &str, class: FailureClass, msg: impl Into<String>) -> VcError {
    VcError::new(class, ApiFamily::ViJson, call, msg)
}

fn rest_err(call: &str, class: FailureClass, msg: impl Into<String>) -> VcError {
    VcError::new(class, ApiFamily::Rest, call, msg)
}

fn decode<T: DeserializeOwned>(family: ApiFamily, call: &str, body: &[u8]) -> VcResult<Option<T>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|e| {
        VcError::new(
            FailureClass::ProtocolError,
            family,
            call,
            format!("vCenter sent a response that does not parse: {e}"),
        )
    })
}

/// Release strings compare as numbers (`8.0.10.0` > `8.0.2.0`).
fn release_key(r: &str) -> Vec<u32> {
    r.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

impl VcClient {
    pub fn new(cfg: ClientConfig) -> VcResult<VcClient> {
        Self::with_clock(cfg, Arc::new(SystemClock))
    }

    pub fn with_clock(cfg: ClientConfig, clock: Arc<dyn Clock>) -> VcResult<VcClient> {
        let transport = Transport::new(&cfg.url, &cfg.tls, cfg.timeouts)?;
        let pw = cfg.password.expose();
        let vim = SessionSlot::for_credential(clock.clone(), &cfg.url, &cfg.username, pw);
        let rest = SessionSlot::for_credential(clock, &cfg.url, &cfg.username, pw);
        let inner = Arc::new(Inner {
            cfg,
            transport,
            negotiated: OnceCell::new(),
            vim,
            rest,
            closed: Arc::new(Notify::new()),
            unfreed: std::sync::Mutex::default(),
        });
        spawn_keepalive(
            Arc::downgrade(&inner),
            inner.closed.clone(),
            inner.cfg.keepalive,
        );
        Ok(VcClient { inner })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.cfg
    }

    /// Calls made so far, per family, call and status.
    pub fn stats(&self) -> &super::transport::CallStats {
        &self.inner.transport.stats
    }

    /// The call counters, shared (for `/metrics`).
    pub fn stats_handle(&self) -> Arc<super::transport::CallStats> {
        self.inner.transport.stats.clone()
    }

    /// VI JSON login attempts so far and REST login attempts so far.
    pub fn login_attempts(&self) -> (u64, u64) {
        (self.inner.vim.logins(), self.inner.rest.logins())
    }

    /// Each family's session bookkeeping, for `/metrics`.
    pub fn session_stats(&self) -> [SessionStats; 2] {
        [
            (ApiFamily::ViJson, &self.inner.vim),
            (ApiFamily::Rest, &self.inner.rest),
        ]
        .map(|(family, slot)| SessionStats {
            family,
            held: slot.held(),
            logins: slot.logins(),
            failures: slot.login_failures(),
        })
    }

    /// Changes whenever a new VI JSON session replaced an old one: every view, filter,
    /// collector and token created before belongs to a dead session and must be rebuilt.
    pub fn session_epoch(&self) -> u64 {
        self.inner.vim.epoch()
    }

    /// Negotiates the release and reads ServiceContent (anonymous), once per client.
    pub async fn negotiate(&self) -> VcResult<&Negotiated> {
        self.inner
            .negotiated
            .get_or_try_init(|| async {
                let release = self.pick_release().await?;
                let call = "ServiceInstance.content";
                let r = self.anonymous_content(&release).await?;
                let content: ServiceContent = self.vim_body(call, r)?.ok_or_else(|| {
                    vim_err(
                        call,
                        FailureClass::ProtocolError,
                        "vCenter sent no ServiceContent",
                    )
                })?;
                Ok(Negotiated { release, content })
            })
            .await
    }

    /// `GET ServiceInstance/content` of `release` without a session (vCenter allows it).
    async fn anonymous_content(&self, release: &str) -> VcResult<RawResponse> {
        let url = format!(
            "{}/sdk/vim25/{release}/ServiceInstance/ServiceInstance/content",
            self.inner.cfg.url
        );
        let req = self.inner.transport.http.get(url);
        self.inner
            .transport
            .send(
                ApiFamily::ViJson,
                "ServiceInstance.content",
                req,
                Duration::ZERO,
            )
            .await
    }

    async fn pick_release(&self) -> VcResult<String> {
        let call = "POST /api/vcenter/system?action=hello";
        let url = format!("{}/api/vcenter/system?action=hello", self.inner.cfg.url);
        let req = self
            .inner
            .transport
            .http
            .post(url)
            .json(&serde_json::json!({ "api_releases": SUPPORTED_RELEASES }));
        let r = self
            .inner
            .transport
            .send(ApiFamily::Rest, call, req, Duration::ZERO)
            .await?;
        if r.status == 200 {
            if let Ok(Some(v)) = decode::<Value>(ApiFamily::Rest, call, &r.body) {
                let chosen = v.get("api_release").and_then(Value::as_str).unwrap_or("");
                if SUPPORTED_RELEASES.contains(&chosen) {
                    return Ok(chosen.to_string());
                }
                return Err(rest_err(
                    call,
                    FailureClass::UnsupportedVersionFloor,
                    "vCenter speaks no VI JSON release this service supports (8.0.1.0 or later is required)",
                ));
            }
        }
        if r.status == 503 {
            return Err(rest_err(
                call,
                FailureClass::VcenterUnavailable,
                "vCenter answered 503: a service is down or starting",
            ));
        }
        // No `hello`: ask the floor release's ServiceInstance for its apiVersion.
        let call = "ServiceInstance.content";
        let floor = SUPPORTED_RELEASES[SUPPORTED_RELEASES.len() - 1];
        let r = self.anonymous_content(floor).await?;
        let unsupported = || {
            vim_err(
                call,
                FailureClass::UnsupportedVersionFloor,
                "this vCenter does not serve the VI JSON API; vCenter 8.0 Update 1 (API 8.0.1.0) or later is required",
            )
        };
        if r.status == 404 {
            return Err(unsupported());
        }
        let content: ServiceContent = self.vim_body(call, r)?.ok_or_else(unsupported)?;
        let have = release_key(&content.about.api_version);
        SUPPORTED_RELEASES
            .iter()
            .find(|s| release_key(s) <= have)
            .map(|s| s.to_string())
            .ok_or_else(unsupported)
    }

    fn vim_base(&self) -> VcResult<String> {
        let n = self.inner.negotiated.get().ok_or_else(|| {
            vim_err(
                "negotiate",
                FailureClass::Unknown,
                "release not negotiated yet",
            )
        })?;
        Ok(format!("{}/sdk/vim25/{}", self.inner.cfg.url, n.release))
    }

    /// Interprets a VI JSON response: 200 body, 204/empty = None, 500 = fault.
    fn vim_body<T: DeserializeOwned>(&self, call: &str, r: RawResponse) -> VcResult<Option<T>> {
        match r.status {
            200 | 201 => decode(ApiFamily::ViJson, call, &r.body),
            204 => Ok(None),
            // A fault in a 503 is the service's answer (the session limit on a login); a bare
            // 503 is the front end's, and the request never reached the service.
            503 => Err(match VimFault::parse(&r.body) {
                Some(f) => {
                    let text = f.faultstring.clone().unwrap_or_default();
                    vim_err(
                        call,
                        FailureClass::VcenterUnavailable,
                        format!("vCenter answered 503: {text}"),
                    )
                    .with_fault(f.type_name)
                }
                None => vim_err(
                    call,
                    FailureClass::VcenterUnavailable,
                    "vCenter answered 503: a service is down, starting, or out of sessions",
                ),
            }),
            404 => Err(vim_err(
                call,
                FailureClass::ProtocolError,
                format!("vCenter does not know {call} (HTTP 404)"),
            )),
            s => match VimFault::parse(&r.body) {
                Some(f) => Err(classify_fault(call, f)),
                None => Err(vim_err(
                    call,
                    FailureClass::ProtocolError,
                    format!("vCenter answered HTTP {s} without a fault body"),
                )),
            },
        }
    }

    /// A bare 503 never reached SSO: sending the login again cannot count toward a lockout,
    /// and waiting out the session's backoff for it would stall a whole cycle.
    async fn vim_login(&self) -> VcResult<String> {
        resend_unanswered(|| self.vim_login_once(), VcError::is_unanswered).await
    }

    async fn vim_login_once(&self) -> VcResult<String> {
        let n = self.negotiate().await?;
        n.require_vcenter()?;
        let sm = n.content.sessions();
        let call = "SessionManager.Login";
        let url = format!("{}/SessionManager/{}/Login", self.vim_base()?, sm.value);
        let body = serde_json::json!({"userName": self.inner.cfg.username, "password": self.inner.cfg.password.expose()});
        let r = self
            .inner
            .transport
            .send(
                ApiFamily::ViJson,
                call,
                self.inner.transport.http.post(url).json(&body),
                Duration::ZERO,
            )
            .await?;
        if r.status != 200 {
            return Err(match self.vim_body::<Value>(call, r) {
                Err(e) => e,
                Ok(_) => vim_err(
                    call,
                    FailureClass::ProtocolError,
                    "login answered without a session",
                ),
            });
        }
        r.headers
            .get("vmware-api-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| {
                vim_err(
                    call,
                    FailureClass::ProtocolError,
                    "login answered without the vmware-api-session-id header",
                )
            })
    }

    /// A REST login vCenter answers 503 (the service is down or starting, or the session limit)
    /// is sent again: a wrong password is a 401, so this cannot count toward a lockout.
    async fn rest_login(&self) -> VcResult<String> {
        resend_unanswered(
            || self.rest_login_once(),
            |e| e.class == FailureClass::VcenterUnavailable,
        )
        .await
    }

    async fn rest_login_once(&self) -> VcResult<String> {
        // Every path to a login (collector, on-demand reads, re-login) passes here, so no
        // password reaches an ESXi host; negotiation is cached, one request per client at most.
        self.negotiate().await?.require_vcenter()?;
        let call = "POST /api/session";
        let url = format!("{}/api/session", self.inner.cfg.url);
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.inner.cfg.username,
            self.inner.cfg.password.expose()
        ));
        let req = self
            .inner
            .transport
            .http
            .post(url)
            .header("authorization", format!("Basic {basic}"));
        let r = self
            .inner
            .transport
            .send(ApiFamily::Rest, call, req, Duration::ZERO)
            .await?;
        match r.status {
            200 | 201 => decode::<String>(ApiFamily::Rest, call, &r.body)?.ok_or_else(|| {
                rest_err(
                    call,
                    FailureClass::ProtocolError,
                    "login answered without a token",
                )
            }),
            401 => Err(rest_err(
                call,
                FailureClass::AuthInvalid,
                "vCenter rejected the user name or password",
            )
            .with_fault("UNAUTHENTICATED")),
            _ => Err(rest_status_error(call, &r)),
        }
    }

    /// Logs in to both families now (the connection test and the collector's start use this).
    pub async fn login(&self) -> VcResult<()> {
        self.negotiate().await?;
        self.inner.vim.token(|| self.vim_login()).await?;
        self.inner.rest.token(|| self.rest_login()).await?;
        Ok(())
    }

    /// Logs in to VI JSON only.
    pub async fn login_vim(&self) -> VcResult<()> {
        self.inner.vim.token(|| self.vim_login()).await.map(|_| ())
    }

    /// Logs in to REST only.
    pub async fn login_rest(&self) -> VcResult<()> {
        self.inner
            .rest
            .token(|| self.rest_login())
            .await
            .map(|_| ())
    }

    async fn vim_send<T: DeserializeOwned>(
        &self,
        call: &str,
        build: impl Fn(&str, &str) -> reqwest::RequestBuilder,
        idem: Idempotency,
        extra_wait: Duration,
    ) -> VcResult<Option<T>> {
        let base = {
            self.negotiate().await?;
            self.vim_base()?
        };
        self.with_session(ApiFamily::ViJson, idem, |token| {
            let req = build(&base, &token).header("vmware-api-session-id", &*token);
            async move {
                let r = self
                    .inner
                    .transport
                    .send(ApiFamily::ViJson, call, req, extra_wait)
                    .await?;
                self.vim_body(call, r)
            }
        })
        .await
    }

    /// Runs `send` with the family's session: a `NotAuthenticated`/401 answer drops that token,
    /// logs in once more and retries once; transient failures of reads retry with jitter.
    async fn with_session<T, F, Fut>(
        &self,
        family: ApiFamily,
        idem: Idempotency,
        send: F,
    ) -> VcResult<T>
    where
        F: Fn(Arc<str>) -> Fut,
        Fut: std::future::Future<Output = VcResult<T>>,
    {
        let slot = match family {
            ApiFamily::ViJson => &self.inner.vim,
            ApiFamily::Rest => &self.inner.rest,
        };
        let mut relogged = false;
        let mut attempt = 0;
        loop {
            let token = match family {
                ApiFamily::ViJson => slot.token(|| self.vim_login()).await?,
                ApiFamily::Rest => slot.token(|| self.rest_login()).await?,
            };
            match send(token.clone()).await {
                Err(e) if e.is_not_authenticated() && !relogged => {
                    relogged = true;
                    slot.invalidate(&token).await;
                }
                Err(e)
                    if e.is_unanswered()
                        && idem != Idempotency::Cleanup
                        && attempt < UNANSWERED_RETRIES =>
                {
                    attempt += 1;
                    jitter_sleep(attempt).await;
                }
                Err(e)
                    if idem == Idempotency::Read
                        && e.class.is_transient()
                        && e.fault.is_none()
                        && attempt < self.inner.cfg.read_retries =>
                {
                    attempt += 1;
                    jitter_sleep(attempt).await;
                }
                other => return other,
            }
        }
    }

    /// `GET {base}/{Type}/{moId}/{property}`; `None` for an unset property.
    pub async fn vim_get<T: DeserializeOwned>(
        &self,
        obj: &MoRef,
        property: &str,
    ) -> VcResult<Option<T>> {
        let call = format!("{}.{property}", obj.kind);
        let http = self.inner.transport.http.clone();
        let path = format!("{}/{}/{property}", obj.kind, obj.value);
        self.vim_send(
            &call,
            |base, _| http.get(format!("{base}/{path}")),
            Idempotency::Read,
            Duration::ZERO,
        )
        .await
    }

    /// `POST {base}/{Type}/{moId}/{method}` with `body`.
    pub async fn vim_post<T: DeserializeOwned>(
        &self,
        obj: &MoRef,
        method: &str,
        body: Option<Value>,
        idem: Idempotency,
    ) -> VcResult<Option<T>> {
        self.vim_post_waiting(obj, method, body, idem, Duration::ZERO)
            .await
    }

    /// As `vim_post`, for a long-poll that may legitimately take `wait` longer than a request.
    pub async fn vim_post_waiting<T: DeserializeOwned>(
        &self,
        obj: &MoRef,
        method: &str,
        body: Option<Value>,
        idem: Idempotency,
        wait: Duration,
    ) -> VcResult<Option<T>> {
        let call = format!("{}.{method}", obj.kind);
        let http = self.inner.transport.http.clone();
        let path = format!("{}/{}/{method}", obj.kind, obj.value);
        self.vim_send(
            &call,
            |base, _| {
                let r = http.post(format!("{base}/{path}"));
                match &body {
                    Some(b) => r.json(b),
                    None => r,
                }
            },
            idem,
            wait,
        )
        .await
    }

    /// A REST call with the session; 401 re-logs in once, transient failures of GETs retry.
    pub async fn rest<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<Value>,
    ) -> VcResult<Option<T>> {
        // The path names the call, with `action=` when there is one: a POST that reads
        // (`?action=list-attached-tags-on-objects`) differs from one that would not.
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let call = match query.split('&').find(|p| p.starts_with("action=")) {
            Some(action) => format!("{method} {path}?{action}"),
            None => format!("{method} {path}"),
        };
        let url = format!("{}{path_and_query}", self.inner.cfg.url);
        let idem = if method == reqwest::Method::GET {
            Idempotency::Read
        } else {
            Idempotency::Once
        };
        let call = call.as_str();
        self.with_session(ApiFamily::Rest, idem, |token| {
            let mut req = self
                .inner
                .transport
                .http
                .request(method.clone(), &url)
                .header("vmware-api-session-id", &*token);
            if let Some(b) = &body {
                req = req.json(b);
            }
            async move {
                let r = self
                    .inner
                    .transport
                    .send(ApiFamily::Rest, call, req, Duration::ZERO)
                    .await?;
                match r.status {
                    200 | 201 => decode(ApiFamily::Rest, call, &r.body),
                    204 => Ok(None),
                    _ => Err(rest_status_error(call, &r)),
                }
            }
        })
        .await
    }

    /// GET a REST path.
    pub async fn rest_get<T: DeserializeOwned>(&self, path_and_query: &str) -> VcResult<Option<T>> {
        self.rest(reqwest::Method::GET, path_and_query, None).await
    }

    /// `GET {url}{path}` with no session: what the endpoint answers anyone (status, body).
    pub async fn probe(&self, path: &str) -> VcResult<(u16, Vec<u8>)> {
        let call = format!("GET {path}");
        let url = format!("{}{path}", self.inner.cfg.url);
        let t = &self.inner.transport;
        let r = t
            .send(ApiFamily::Rest, &call, t.http.get(url), Duration::ZERO)
            .await?;
        Ok((r.status, r.body.to_vec()))
    }

    /// Sends a cheap call on each live session so neither idles out.
    pub async fn keepalive(&self) {
        self.free_unfreed().await;
        if let Some(token) = self.inner.vim.current().await {
            let r: VcResult<Option<Value>> = match self.inner.negotiated.get() {
                Some(n) => {
                    let sm = n.content.sessions();
                    self.vim_get(&sm, "currentSession").await
                }
                None => Ok(None),
            };
            // `currentSession` is empty when the session is gone: forget it, the next call logs in.
            if matches!(r, Ok(None)) {
                self.inner.vim.invalidate(&token).await;
            }
        }
        if self.inner.rest.current().await.is_some() {
            let _ = self.rest_get::<Value>("/api/session").await;
        }
    }

    /// Frees a session object (`DestroyView`, `DestroyCollector`, `CancelRetrievePropertiesEx`
    /// ...). A failure that leaves it alive (vCenter answered 503, a timeout) keeps it for the
    /// next cleanup or keep-alive: vCenter caps some of these per session and the keep-alive
    /// holds the session open, so on a flaky vCenter they would pile up. Objects of an ended
    /// session are gone with it and forgotten.
    pub async fn free(&self, obj: &MoRef, method: &'static str, body: Option<Value>) {
        self.free_unfreed().await;
        self.free_one(Unfreed {
            obj: obj.clone(),
            method,
            body,
            epoch: self.session_epoch(),
        })
        .await;
    }

    /// Tries every object an earlier cleanup could not free, until one gets no answer again
    /// (vCenter is still not answering: the rest wait for the next time).
    pub async fn free_unfreed(&self) {
        let pending = std::mem::take(&mut *self.unfreed());
        let mut pending = pending.into_iter();
        for u in pending.by_ref() {
            if !self.free_one(u).await {
                break;
            }
        }
        self.unfreed().extend(pending);
    }

    /// Session objects a cleanup could not free yet.
    pub fn unfreed_count(&self) -> usize {
        self.unfreed().len()
    }

    fn unfreed(&self) -> std::sync::MutexGuard<'_, Vec<Unfreed>> {
        self.inner.unfreed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether vCenter answered (freed, or said the object is gone).
    async fn free_one(&self, u: Unfreed) -> bool {
        if u.epoch != self.session_epoch() {
            return true;
        }
        let r = self
            .vim_post::<Value>(&u.obj, u.method, u.body.clone(), Idempotency::Cleanup)
            .await;
        // A fault is vCenter's answer (gone, never existed, session ended): nothing to keep.
        // No answer (503 from the front end, a timeout, a dropped connection) leaves it alive.
        match r {
            Err(e)
                if e.fault.is_none()
                    && e.class.is_transient()
                    && u.epoch == self.session_epoch() =>
            {
                tracing::debug!(object = %u.obj.value, method = u.method, error = %e, "session object not freed yet; retried later");
                self.unfreed().push(u);
                false
            }
            _ => true,
        }
    }

    /// Whether each family holds a session now: (VI JSON, REST). A session vCenter ended is
    /// known once a call (or [`VcClient::keepalive`]) is refused on it.
    pub async fn holds_sessions(&self) -> (bool, bool) {
        (
            self.inner.vim.current().await.is_some(),
            self.inner.rest.current().await.is_some(),
        )
    }

    /// Logs out of both families at once (shutdown, delete, credential change): a slow vCenter
    /// costs one round trip, not two.
    pub async fn logout(&self) {
        self.inner.closed.notify_waiters();
        let vim = async {
            if let Some(t) = self.inner.vim.take().await {
                logout_vim(&self.inner.transport, self.inner.logout_url(), &t).await;
            }
        };
        let rest = async {
            if let Some(t) = self.inner.rest.take().await {
                logout_rest(&self.inner.transport, &t).await;
            }
        };
        tokio::join!(vim, rest);
    }

    /// The last login failure of each family while it has no session.
    pub async fn login_errors(&self) -> (Option<VcError>, Option<VcError>) {
        (
            self.inner.vim.last_error().await,
            self.inner.rest.last_error().await,
        )
    }
}

impl Inner {
    /// `SessionManager.Logout` of the negotiated release, at the moId vCenter named.
    fn logout_url(&self) -> Option<String> {
        self.negotiated.get().map(|n| {
            format!(
                "{}/sdk/vim25/{}/SessionManager/{}/Logout",
                self.cfg.url,
                n.release,
                n.content.sessions().value
            )
        })
    }
}

async fn logout_vim(t: &Transport, url: Option<String>, token: &str) {
    if let Some(url) = url {
        let req = t.http.post(url).header("vmware-api-session-id", token);
        let _ = t
            .send(
                ApiFamily::ViJson,
                "SessionManager.Logout",
                req,
                Duration::ZERO,
            )
            .await;
    }
}

async fn logout_rest(t: &Transport, token: &str) {
    let req = t
        .http
        .delete(format!("{}/api/session", t.base))
        .header("vmware-api-session-id", token);
    let _ = t
        .send(ApiFamily::Rest, "DELETE /api/session", req, Duration::ZERO)
        .await;
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.closed.notify_waiters();
        // Sessions are expensive on vCenter and count against its limit: never leave one behind.
        let vim = self.vim.try_take();
        let rest = self.rest.try_take();
        if vim.is_none() && rest.is_none() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let transport = self.transport.clone();
        let url = self.logout_url();
        handle.spawn(async move {
            if let Some(t) = vim {
                logout_vim(&transport, url, &t).await;
            }
            if let Some(t) = rest {
                logout_rest(&transport, &t).await;
            }
        });
    }
}

fn spawn_keepalive(weak: Weak<Inner>, closed: Arc<Notify>, every: Duration) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    // The task holds no strong reference while it sleeps, so dropping the client ends it.
    handle.spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = closed.notified() => return,
            }
            match weak.upgrade() {
                Some(inner) => VcClient { inner }.keepalive().await,
                None => return,
            }
        }
    });
}

/// Runs `send` again, with jitter, while its error is one `resend` says never reached the
/// service, at most [`UNANSWERED_RETRIES`] times.
async fn resend_unanswered<T, F, Fut>(send: F, resend: impl Fn(&VcError) -> bool) -> VcResult<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = VcResult<T>>,
{
    let mut attempt = 0;
    loop {
        match send().await {
            Err(e) if resend(&e) && attempt < UNANSWERED_RETRIES => {
                attempt += 1;
                jitter_sleep(attempt).await;
            }
            other => return other,
        }
    }
}

async fn jitter_sleep(attempt: u32) {
    let base = 200u64 << attempt.min(5);
    let ms = rand::rng().random_range(base / 2..=base);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Maps a VI JSON fault to its class and an admin-readable message.
pub fn classify_fault(call: &str, f: VimFault) -> VcError {
    let text = f.faultstring.clone().unwrap_or_default();
    let (class, message) = match f.type_name.as_str() {
        "InvalidLogin" => (
            FailureClass::AuthInvalid,
            "vCenter rejected the user name or password".to_string(),
        ),
        "NotAuthenticated" => (
            FailureClass::AuthInvalid,
            "vCenter ended the session (not authenticated)".to_string(),
        ),
        "NoPermission" => {
            let privs = f.privileges();
            let on = f
                .object
                .as_ref()
                .map(|o| format!(" on {} {}", o.kind, o.value))
                .unwrap_or_default();
            (
                FailureClass::PermissionDenied,
                if privs.is_empty() {
                    format!("the vCenter user lacks a privilege{on}")
                } else {
                    format!("the vCenter user lacks {}{on}", privs.join(", "))
                },
            )
        }
        "InvalidState" if text.contains("maxCollector") => (
            FailureClass::VcenterLimit,
            format!("vCenter's limit of history collectors per session (EventManager.maxCollector) is reached: {text}"),
        ),
        _ if text.contains("maxQueryMetrics") => (
            FailureClass::VcenterLimit,
            format!("vCenter refuses performance queries over its limit config.vpxd.stats.maxQueryMetrics: {text}"),
        ),
        t => (
            FailureClass::Unknown,
            if text.is_empty() {
                format!("vCenter fault {t}")
            } else {
                format!("vCenter fault {t}: {text}")
            },
        ),
    };
    let mut e = vim_err(call, class, message).with_fault(f.type_name.clone());
    e.missing_privileges = f.privileges();
    e
}

fn rest_status_error(call: &str, r: &RawResponse) -> VcError {
    let body: RestErrorBody = serde_json::from_slice(&r.body).unwrap_or_default();
    let detail = body
        .messages
        .first()
        .map(|m| m.default_message.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("HTTP {}", r.status));
    let class = match r.status {
        _ if body.error_type == "UNABLE_TO_ALLOCATE_RESOURCE" => FailureClass::VcenterLimit,
        401 => FailureClass::AuthInvalid,
        403 => FailureClass::PermissionDenied,
        503 => FailureClass::VcenterUnavailable,
        _ => FailureClass::Unknown,
    };
    let fault = match (body.error_type.is_empty(), r.status) {
        // A bare 401 (a proxy, or a vCenter that dropped the body) still means "log in again".
        (true, 401) => "UNAUTHENTICATED".to_string(),
        (true, s) => format!("HTTP_{s}"),
        (false, _) => body.error_type,
    };
    rest_err(
        call,
        class,
        format!("vCenter REST answered {}: {detail}", r.status),
    )
    .with_fault(fault)
}
