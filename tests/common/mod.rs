//! Helpers shared by integration tests: an HTTPS client for the self-signed simulator.
#![allow(dead_code)]

pub mod backends;
pub mod proxy;
pub mod serve;

use std::time::Duration;

/// A client that accepts the simulator's self-signed certificate (tests only).
pub fn insecure_client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

use std::collections::HashMap;

use pulse_vsphere::collector::sync::raw_object;
use pulse_vsphere::model::kinds::{collected_types, paths_for};
use pulse_vsphere::model::project::ProjectionContext;
use pulse_vsphere::model::raw_inventory::RawInventory;
use pulse_vsphere::simulator::inventory::Inventory;
use pulse_vsphere::simulator::state::SimState;
use serde_json::Value;

/// Reads a simulator's objects at the collector's property paths, as `RetrievePropertiesEx`
/// returns them, for tests of the layers above the collector (model, GraphQL) in isolation.
pub fn raw_from(state: &SimState) -> (RawInventory, ProjectionContext) {
    let inv = state.inv();
    let raw = raw_of(&inv);
    let ctx = context_of(&inv, &state.instance_uuid);
    (raw, ctx)
}

/// What projection needs besides the objects: the simulator's alarm names, no tags.
pub fn context_of(inv: &Inventory, instance_uuid: &str) -> ProjectionContext {
    let alarm_names = inv
        .of_type("Alarm")
        .map(|a| {
            let name = a
                .get_path("info.name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            (a.moref.value.clone(), name)
        })
        .collect();
    ProjectionContext {
        instance_uuid: instance_uuid.to_string(),
        alarm_names,
        tags: HashMap::new(),
    }
}

/// The simulator's objects as the collector stores them: the model's property paths, through
/// the collector's own ingest.
pub fn raw_of(inv: &Inventory) -> RawInventory {
    let mut raw = RawInventory::default();
    for kind in collected_types() {
        for obj in inv.of_type(kind) {
            let props = paths_for(kind)
                .iter()
                .filter_map(|p| obj.get_path(p).map(|v| (p.to_string(), v.clone())));
            raw.upsert(&obj.moref.value, raw_object(kind, props, []));
        }
    }
    raw
}

/// A raw VI JSON session against the simulator: the wire as a client sees it, no client code.
pub struct Vim {
    pub c: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Vim {
    pub async fn login(sim: &pulse_vsphere::simulator::Simulator, user: &str, pw: &str) -> Vim {
        let c = insecure_client();
        let base = format!("{}/sdk/vim25/8.0.3.0", sim.base_url());
        let r = c
            .post(format!("{base}/SessionManager/SessionManager/Login"))
            .json(&serde_json::json!({"userName": user, "password": pw}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 200, "login as {user}");
        let token = r.headers()["vmware-api-session-id"]
            .to_str()
            .expect("hdr")
            .to_string();
        Vim { c, base, token }
    }

    /// POST `{base}/{path}` with the session; (status, JSON body or Null when empty/not JSON).
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let req = self.c.post(format!("{}/{path}", self.base)).json(&body);
        send(req, &self.token).await
    }

    /// GET `{base}/{path}` with the session.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        send(self.c.get(format!("{}/{path}", self.base)), &self.token).await
    }
}

/// Sends a request with a VI JSON session; (status, JSON body or Null when empty/not JSON).
pub async fn send(req: reqwest::RequestBuilder, token: &str) -> (u16, Value) {
    let (status, body) = send_raw(req, token).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Sends a request with a session; (status, the body's bytes as they came).
pub async fn send_raw(req: reqwest::RequestBuilder, token: &str) -> (u16, Vec<u8>) {
    let r = req
        .header("vmware-api-session-id", token)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.bytes().await.expect("body").to_vec())
}
/// POST `url` with `body`, or GET it when there is none, with a VI JSON session.
pub async fn call(
    c: &reqwest::Client,
    token: &str,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, body) = call_raw(c, token, url, body).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// As `call`, returning the body's bytes as they came.
pub async fn call_raw(
    c: &reqwest::Client,
    token: &str,
    url: String,
    body: Option<Value>,
) -> (u16, Vec<u8>) {
    match body {
        Some(b) => send_raw(c.post(url).json(&b), token).await,
        None => send_raw(c.get(url), token).await,
    }
}

/// A client config for a simulator, trusting its certificate by thumbprint (as an operator would).
pub fn client_config(
    sim: &pulse_vsphere::simulator::Simulator,
    user: &str,
    pw: &str,
) -> pulse_vsphere::vcenter::ClientConfig {
    use pulse_vsphere::vcenter::{ClientConfig, Secret, TlsMode};
    let mut cfg = ClientConfig::new(
        &sim.base_url(),
        user,
        Secret::new(pw),
        TlsMode::Thumbprint(sim.thumbprint()),
    );
    cfg.timeouts.request = Duration::from_secs(20);
    cfg
}

/// Polls `f` until it is true or `secs` pass; returns whether it became true.
pub async fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < until {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

/// A raw Automation REST session against the simulator: the wire as a client sees it.
pub struct Rest {
    pub c: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Rest {
    /// `POST /api/session` with Basic auth; panics unless it answers 201.
    pub async fn login(sim: &pulse_vsphere::simulator::Simulator, user: &str, pw: &str) -> Rest {
        let c = insecure_client();
        let base = sim.base_url();
        let r = c
            .post(format!("{base}/api/session"))
            .basic_auth(user, Some(pw))
            .send()
            .await
            .expect("rest login");
        assert_eq!(r.status(), 201, "rest login as {user}");
        let token = r.json::<String>().await.expect("token string");
        Rest { c, base, token }
    }

    /// GET `{base}{path}` with the session; (status, JSON body or Null).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        send(self.c.get(format!("{}{path}", self.base)), &self.token).await
    }

    /// POST `{base}{path}` with a JSON body and the session.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let req = self.c.post(format!("{}{path}", self.base)).json(&body);
        send(req, &self.token).await
    }
}

/// A VM whose VMware Tools runs (`true`) or does not (`false`); the generator makes both kinds.
pub fn vm_by_tools(sim: &pulse_vsphere::simulator::Simulator, running: bool) -> String {
    let inv = sim.control().state().inv();
    let found = inv
        .of_type("VirtualMachine")
        .find(|vm| {
            let status = vm.get_path("guest.toolsRunningStatus");
            (status.and_then(Value::as_str) == Some("guestToolsRunning")) == running
        })
        .map(|vm| vm.moref.value.clone());
    found.expect("a VM with and one without running Tools")
}

/// A registry filled the way production fills it: a collector syncs the simulator over HTTPS
/// until every VM is in the snapshot, then stops (so later tests see a quiet vCenter).
pub async fn collected_store(
    sim: &pulse_vsphere::simulator::Simulator,
) -> std::sync::Arc<pulse_vsphere::connections::Registry> {
    use pulse_vsphere::collector::{self, CollectorConfig};
    let store = pulse_vsphere::connections::Registry::new(CollectorConfig::default());
    let slot = store.attach("vc1", "lab vCenter");
    let client = pulse_vsphere::vcenter::VcClient::new(client_config(sim, "admin", "admin"))
        .expect("client");
    let config = CollectorConfig {
        wait: Duration::from_secs(1),
        publish_every: Duration::from_millis(50),
        ..CollectorConfig::default()
    };
    let h = collector::spawn(client, slot.clone(), config);
    let vms = sim.control().inventory_counts().by_type["VirtualMachine"];
    assert!(
        eventually(60, || slot.snapshot().is_some_and(|s| s.vms.len() == vms)).await,
        "collector never completed: {:?}",
        slot.health()
    );
    h.shutdown().await;
    store
}

/// The HTTP server over `store` on an ephemeral port: (base URL, stop sender, task).
pub async fn serve_http(
    store: std::sync::Arc<pulse_vsphere::connections::Registry>,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    serve_http_with(store, pulse_vsphere::server::ServerLimits::default()).await
}

/// [`serve_http`] with `limits` (short timeouts, small caps) for the abuse tests.
pub async fn serve_http_with(
    store: std::sync::Arc<pulse_vsphere::connections::Registry>,
    limits: pulse_vsphere::server::ServerLimits,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    use pulse_vsphere::server::{app_with, run_with, AppState, Counters};
    let state = AppState {
        schemas: pulse_vsphere::graphql::SchemaDeps::new(store.clone()).schemas(),
        registry: store,
        counters: std::sync::Arc::new(Counters::default()),
        access: std::sync::Arc::new(pulse_vsphere::server::Access::new(
            pulse_vsphere::auth::Authenticator::none(),
        )),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run_with(
        listener,
        app_with(state, &limits),
        async move {
            let _ = rx.await;
        },
        limits,
    ));
    (url, tx, task)
}

/// POSTs a GraphQL query with variables to `url` over HTTP; the JSON response.
pub async fn graphql(http: &reqwest::Client, url: &str, query: &str, vars: Value) -> Value {
    http.post(url)
        .json(&serde_json::json!({"query": query, "variables": vars}))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json")
}

/// GETs a text page (e.g. `/metrics`).
pub async fn text(http: &reqwest::Client, url: &str) -> String {
    http.get(url)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text")
}

/// Installs the npm packages pinned in `dir`'s lockfile (`npm ci`) once per test binary, unless
/// `installed` (a path under `node_modules`) is already there.
pub fn npm_ready(dir: &std::path::Path, installed: &str) {
    static READY: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    READY.get_or_init(|| {
        if dir.join("node_modules").join(installed).exists() {
            return;
        }
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir)
            .status()
            .expect("npm must be installed (.ci/run installs nodejs and npm)");
        assert!(status.success(), "npm ci failed");
    });
}

/// A collector of `sim` as `user` (password = name) on a fresh registry, with fast publishing and
/// metric passes every `metrics_every`, and the GraphQL schema over it; returns once the first
/// snapshot holds a host.
pub async fn collecting(
    sim: &pulse_vsphere::simulator::Simulator,
    user: &str,
    metrics_every: Duration,
) -> (
    std::sync::Arc<pulse_vsphere::inventory::ConnectionSlot>,
    pulse_vsphere::collector::CollectorHandle,
    pulse_vsphere::graphql::VsphereSchema,
) {
    use pulse_vsphere::collector::{self, CollectorConfig};
    let registry = pulse_vsphere::connections::Registry::new(CollectorConfig::default());
    let config = CollectorConfig {
        wait: Duration::from_secs(2),
        publish_every: Duration::from_millis(100),
        metrics_every,
        ..CollectorConfig::default()
    };
    let client =
        pulse_vsphere::vcenter::VcClient::new(client_config(sim, user, user)).expect("client");
    let slot = registry.attach_reads("vc1", "lab", None);
    let h = collector::spawn(client, slot.clone(), config);
    let schema = pulse_vsphere::graphql::SchemaDeps::new(registry).full();
    assert!(eventually(30, || slot.snapshot().is_some_and(|s| !s.agents.is_empty())).await);
    (slot, h, schema)
}

/// The subgraph over HTTP on an ephemeral port, as the gateway and the frontend reach it; it
/// stops when dropped.
pub struct Api {
    pub url: String,
    pub http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Api {
    /// Serves `store`'s GraphQL at `<url>/graphql`.
    pub async fn serve(store: std::sync::Arc<pulse_vsphere::connections::Registry>) -> Api {
        let (url, stop, _task) = serve_http(store).await;
        Api {
            url: format!("{url}/graphql"),
            http: reqwest::Client::new(),
            _stop: stop,
        }
    }
}

/// POSTs `query` with `vars` to `api`; the JSON response.
pub async fn run(api: &Api, query: &str, vars: Value) -> Value {
    graphql(&api.http, &api.url, query, vars).await
}

/// The `extensions.code` of each error of a GraphQL response.
pub fn codes(resp: &Value) -> Vec<String> {
    resp["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|x| x["extensions"]["code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A configured bearer token named `name` with `role`, stored as the SHA-256 of `value` (as an
/// operator writes it in the config file).
pub fn hashed_token(
    name: &str,
    role: pulse_vsphere::auth::Role,
    value: &str,
) -> pulse_vsphere::auth::TokenConfig {
    use sha2::{Digest, Sha256};
    pulse_vsphere::auth::TokenConfig {
        name: name.into(),
        role,
        token_env: None,
        token_file: None,
        token_sha256: Some(hex::encode(Sha256::digest(value.as_bytes()))),
    }
}
