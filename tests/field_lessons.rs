//! The field lessons (`field-lessons.md`, "Failure modes to own", 1-13) as a battery: each test
//! runs the whole service as an operator meets it (the store, the registry, collectors and the
//! GraphQL server on a real socket) against a simulated vCenter over HTTPS, injects one fault,
//! and goes through the same checklist: the service answers, health names the fault, the last
//! good inventory is served (stale, with its age, where the fault stops collection), it
//! recovers after the fault clears (the time is printed), nothing is left on vCenter, memory
//! stays bounded.
//!
//! `cargo test --test field_lessons -- --nocapture` prints the recovery times quoted in
//! docs/reliability.md.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use pulse_vsphere::collector::CollectorConfig;
use pulse_vsphere::connections::{ConnectionSpec, Registry, SavedConnection, Source, TlsSetting};
use pulse_vsphere::model::snapshot::InventorySnapshot;
use pulse_vsphere::service::{self, Service};
use pulse_vsphere::simulator::{Role, SimConfig, SimStats, SimUser, Simulator};
use serde_json::{json, Value};

use common::backends::TempDir;

/// RSS is process-wide and the tests of this file run on concurrent threads: the one test that
/// measures it takes this lock exclusively, every other test holds it shared, so the
/// measurement sees only its own service.
static MEMORY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Recovery is asserted generously: the CI machine is shared and debug builds are slow.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);

fn fast() -> CollectorConfig {
    CollectorConfig {
        wait: Duration::from_secs(1),
        publish_every: Duration::from_millis(50),
        events_every: Duration::from_secs(1),
        metrics_every: Duration::from_secs(1),
        metadata_every: Duration::from_secs(600),
        sessions_every: Duration::from_secs(1),
        ..CollectorConfig::default()
    }
}

/// How the connection is made: in the config file (polled every second, so the side loop's
/// cadences are shorter than the faults) or through the onboarding mutation (the operator's
/// path, which can also change or delete it; its poll interval is at least 20 s).
#[derive(Clone, Copy, PartialEq)]
enum Via {
    Config,
    Api,
}

/// What the connection looks like through GraphQL.
#[derive(Clone, Debug)]
struct View {
    version: i64,
    state: String,
    class: Option<String>,
    message: Option<String>,
    failures: i64,
    vim_logged_in: bool,
    rest_logged_in: bool,
    issues: Vec<String>,
    /// (hosts, VMs, datastores) as the lists count them.
    listed: (usize, usize, usize),
    /// (hosts, VMs, datastores) the connection contributes.
    contributed: (usize, usize, usize),
    stale_seconds: Option<f64>,
}

const VIEW: &str = "{ vsphereConnections { version state lastErrorClass lastErrorMessage \
    consecutiveFailures issues viJson { loggedIn } rest { loggedIn } \
    contribution { agents vms storage staleSeconds } } \
    vsphereHosts(first: 0) { totalCount } vsphereVms(first: 0) { totalCount } \
    vsphereDatastores(first: 0) { totalCount } }";

fn count(v: &Value) -> usize {
    v.as_u64().unwrap_or(0) as usize
}

fn parse_view(v: &Value) -> View {
    assert!(v["errors"].is_null(), "the query failed: {v}");
    let d = &v["data"];
    let c = &d["vsphereConnections"][0];
    let text = |x: &Value| x.as_str().map(str::to_string);
    View {
        version: c["version"].as_i64().unwrap_or(0),
        state: c["state"].as_str().unwrap_or_default().to_string(),
        class: text(&c["lastErrorClass"]),
        message: text(&c["lastErrorMessage"]),
        failures: c["consecutiveFailures"].as_i64().unwrap_or(0),
        vim_logged_in: c["viJson"]["loggedIn"] == true,
        rest_logged_in: c["rest"]["loggedIn"] == true,
        issues: c["issues"]
            .as_array()
            .map(|a| a.iter().filter_map(text).collect())
            .unwrap_or_default(),
        listed: (
            count(&d["vsphereHosts"]["totalCount"]),
            count(&d["vsphereVms"]["totalCount"]),
            count(&d["vsphereDatastores"]["totalCount"]),
        ),
        contributed: (
            count(&c["contribution"]["agents"]),
            count(&c["contribution"]["vms"]),
            count(&c["contribution"]["storage"]),
        ),
        stale_seconds: c["contribution"]["staleSeconds"].as_f64(),
    }
}

/// (hosts, VMs, datastores) the simulator holds now.
fn sim_counts(sim: &Simulator) -> (usize, usize, usize) {
    let c = sim.control().inventory_counts().by_type;
    let n = |k: &str| c.get(k).copied().unwrap_or(0);
    (n("HostSystem"), n("VirtualMachine"), n("Datastore"))
}

fn config_spec(sim: &Simulator) -> ConnectionSpec {
    let url = url::Url::parse(&sim.base_url()).expect("url");
    ConnectionSpec {
        saved: SavedConnection {
            id: "lab".into(),
            name: "lab vCenter".into(),
            host: url.host_str().unwrap().into(),
            port: url.port().unwrap(),
            username: "admin".into(),
            password_set: true,
            enabled: true,
            poll_interval_secs: 1,
            tls: TlsSetting::Pinned(sim.thumbprint()),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            version: 1,
        },
        source: Source::Config,
        client: Ok(common::client_config(sim, "admin", "admin")),
    }
}

/// What was served just before a fault; `snapshot` and `at` move to the moment collection
/// stopped (a call admitted before the fault may still publish).
struct Baseline {
    counts: (usize, usize, usize),
    snapshot: Arc<InventorySnapshot>,
    at: Instant,
    stats: SimStats,
}

/// The service as `serve` runs it (store, registry, collectors, GraphQL over HTTP), with the
/// simulated vCenter it reads.
struct Svc {
    sim: Option<Simulator>,
    url: String,
    http: reqwest::Client,
    registry: Arc<Registry>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), service::StartError>>,
    id: String,
    _dir: TempDir,
}

impl Svc {
    async fn start(cfg: SimConfig, via: Via) -> Svc {
        Svc::start_with(cfg, via, json!({})).await
    }

    /// Starts with `faults` set on the simulator before the service first reaches it.
    async fn start_with(cfg: SimConfig, via: Via, faults: Value) -> Svc {
        let sim = Simulator::start(cfg).await.expect("simulator");
        patch(&sim, faults);
        let dir = TempDir::new();
        let settings = dir.sqlite_settings();
        let config = match via {
            Via::Config => vec![config_spec(&sim)],
            Via::Api => Vec::new(),
        };
        let svc = Service::start(&settings, config, fast(), Default::default())
            .await
            .expect("service starts");
        let registry = svc.registry.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(service::run(
            svc,
            addr,
            pulse_vsphere::server::Access::new(pulse_vsphere::auth::Authenticator::none()),
            async move {
                let _ = rx.await;
            },
        ));
        let mut s = Svc {
            sim: Some(sim),
            url: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http"),
            registry,
            stop: Some(tx),
            task,
            id: "lab".into(),
            _dir: dir,
        };
        let listening = common::eventually(10, || {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
        })
        .await;
        assert!(listening, "the server never listened");
        if via == Via::Api {
            s.id = s.onboard().await;
        }
        let want = sim_counts(s.sim());
        s.until(60, "the first sync", |v| {
            v.state == "healthy" && v.listed == want && v.contributed == want
        })
        .await;
        s
    }

    fn sim(&self) -> &Simulator {
        self.sim.as_ref().expect("simulator running")
    }

    /// Creates the connection through the onboarding mutation, pinning the thumbprint.
    async fn onboard(&self) -> String {
        let url = url::Url::parse(&self.sim().base_url()).expect("url");
        let v = self
            .gql(
                "mutation($i: VsphereConnectionInput!) { vsphereCreateConnection(input: $i) { id } }",
                json!({"i": {
                    "name": "lab vCenter",
                    "host": url.host_str().unwrap(),
                    "port": url.port().unwrap(),
                    "username": "admin",
                    "password": "admin",
                    "tlsMode": "PINNED",
                    "tlsThumbprint": self.sim().thumbprint(),
                    "pollIntervalSeconds": 20,
                }}),
            )
            .await;
        v["data"]["vsphereCreateConnection"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("created: {v}"))
            .to_string()
    }

    async fn gql(&self, query: &str, vars: Value) -> Value {
        self.http
            .post(format!("{}/graphql", self.url))
            .json(&json!({"query": query, "variables": vars}))
            .send()
            .await
            .expect("graphql answers")
            .json()
            .await
            .expect("json")
    }

    async fn view(&self) -> View {
        parse_view(&self.gql(VIEW, json!({})).await)
    }

    /// Checklist 1: `/healthz` and a GraphQL query answer, promptly, whatever vCenter does.
    async fn answers(&self) -> View {
        let t = Instant::now();
        let r = self
            .http
            .get(format!("{}/healthz", self.url))
            .send()
            .await
            .expect("healthz answers");
        assert_eq!(r.status(), 200);
        let v = self.view().await;
        // Not a speed check: a request that waited on the faulty vCenter would take its call
        // timeout (30 s) or more; 15 s leaves room for a loaded CI machine.
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "answers without waiting on vCenter: {:?}",
            t.elapsed()
        );
        v
    }

    async fn until(&self, secs: u64, what: &str, f: impl Fn(&View) -> bool) -> View {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.answers().await;
            if f(&v) {
                return v;
            }
            assert!(Instant::now() < end, "{what}: not within {secs} s: {v:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The connection's vCenter calls so far: (family, call, status) -> (count, seconds).
    fn calls(&self) -> std::collections::BTreeMap<(String, String, u16), (u64, f64)> {
        let conn = self.registry.get(&self.id).expect("connection");
        conn.client().expect("client").stats().snapshot()
    }

    fn served(&self) -> Option<Arc<InventorySnapshot>> {
        self.registry.slot(&self.id).and_then(|s| s.snapshot())
    }

    /// The fault has stopped collection (health says so): what is served from now on must be
    /// this very snapshot, ageing.
    fn stopped(&self, b: Baseline) -> Baseline {
        Baseline {
            snapshot: self.served().expect("a snapshot"),
            at: Instant::now(),
            ..b
        }
    }

    fn baseline(&self) -> Baseline {
        Baseline {
            counts: sim_counts(self.sim()),
            snapshot: self.served().expect("a snapshot before the fault"),
            at: Instant::now(),
            stats: self.sim().stats(),
        }
    }

    /// Checklist 2: health shows `state` with one of `classes` (an empty list: no error).
    async fn health_is(&self, state: &str, classes: &[&str]) -> View {
        self.until(30, &format!("state {state} with {classes:?}"), |v| {
            v.state == state
                && match &v.class {
                    Some(c) => classes.contains(&c.as_str()),
                    None => classes.is_empty(),
                }
        })
        .await
    }

    /// Checklist 3 and 6 during a fault that stops collection: the inventory from before the
    /// fault is served, its age at least the fault's; it is the same allocation (nothing was
    /// copied or rebuilt while vCenter misbehaves, so memory does not grow with the fault).
    async fn serves_last_good(&self, b: &Baseline) -> View {
        let v = self.answers().await;
        assert_eq!(v.listed, b.counts, "the last good inventory is listed");
        assert_eq!(v.contributed, b.counts);
        let stale = v.stale_seconds.expect("an age");
        let fault = b.at.elapsed().as_secs_f64();
        assert!(
            stale + 0.05 >= fault,
            "marked stale with its age: {stale} s while the fault is {fault} s old"
        );
        let served = self.served().expect("served");
        assert!(
            Arc::ptr_eq(&served, &b.snapshot),
            "the very snapshot from before the fault"
        );
        v
    }

    /// Checklist 3 during a fault that does not stop collection: everything is served, live.
    async fn serves_all(&self, b: &Baseline) -> View {
        let v = self.answers().await;
        assert_eq!(v.listed, b.counts);
        assert_eq!(v.contributed, b.counts);
        v
    }

    /// Checklist 4: after the fault cleared at `cleared`, a change made in vCenter then is
    /// served, health is healthy and the counts reconcile with the simulator. Prints and
    /// returns the time it took.
    async fn recovers(&self, lesson: u32, cleared: Instant) -> Duration {
        let marker = format!("lesson-{lesson}-recovered");
        let vm = self.sim().control().state().inv().ids_of("VirtualMachine")[0].clone();
        assert!(self.sim().control().rename(&vm, &marker));
        let want = sim_counts(self.sim());
        let end = cleared + RECOVERY_BOUND;
        loop {
            let v = self.answers().await;
            let found = self
                .gql(
                    "query($m: String!) { vsphereVms(first: 1, filter: {nameContains: $m}) { totalCount } }",
                    json!({"m": marker}),
                )
                .await;
            let fresh = v.state == "healthy"
                && v.vim_logged_in
                && v.rest_logged_in
                && v.listed == want
                && v.contributed == want
                && found["data"]["vsphereVms"]["totalCount"] == 1
                && v.stale_seconds
                    .is_some_and(|s| s <= cleared.elapsed().as_secs_f64());
            if fresh {
                let took = cleared.elapsed();
                eprintln!("lesson {lesson}: recovered in {:.2} s", took.as_secs_f64());
                return took;
            }
            assert!(
                Instant::now() < end,
                "lesson {lesson}: not recovered within {RECOVERY_BOUND:?}: {v:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Checklist 5: what the service holds on vCenter is back to its steady values: one session
    /// per family, the collector's view, filter and property collector, no history collector,
    /// no open retrieval.
    async fn no_leak(&self) {
        let steady = |s: &SimStats| {
            (
                s.sessions.vim.active,
                s.sessions.rest.active,
                s.views,
                s.filters,
                s.property_collectors,
                s.event_collectors,
                s.task_collectors,
                s.retrieve_tokens,
            )
        };
        let ok = common::eventually(15, || {
            steady(&self.sim().stats()) == (1, 1, 1, 1, 1, 0, 0, 0)
        })
        .await;
        assert!(
            ok,
            "held on vCenter (vim, rest, views, filters, collectors, event, task, tokens): {:?}",
            steady(&self.sim().stats())
        );
    }

    /// Stops the service as SIGTERM does; then nothing at all is held on vCenter.
    async fn stop(mut self) -> Simulator {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.await.expect("join").expect("clean stop");
        let sim = self.sim.take().expect("simulator");
        let s = sim.stats();
        assert_eq!(
            (
                s.sessions.vim.active,
                s.sessions.rest.active,
                s.views,
                s.filters,
                s.property_collectors,
                s.event_collectors,
                s.task_collectors,
                s.retrieve_tokens
            ),
            (0, 0, 0, 0, 0, 0, 0, 0),
            "nothing left on vCenter after shutdown"
        );
        sim
    }
}

fn patch(sim: &Simulator, p: Value) {
    sim.control().patch_faults(&p).expect("fault settings");
}

fn logins(s: &SimStats) -> u64 {
    s.login_attempts.vim + s.login_attempts.rest
}

#[tokio::test]
async fn lesson_01_sessions_never_leak() {
    let _m = MEMORY.read().await;
    let s = Svc::start(SimConfig::small(), Via::Api).await;
    s.no_leak().await;
    // Sessions end under the service again and again (idle timeout, vCenter housekeeping):
    // each time one new session per family replaces them, never one more.
    let mut cleared = Instant::now();
    for round in 0..5 {
        let created = s.sim().stats().sessions;
        s.sim().control().expire_sessions();
        cleared = Instant::now();
        let ok = common::eventually(20, || {
            let now = s.sim().stats().sessions;
            now.vim.active == 1
                && now.rest.active == 1
                && now.vim.created > created.vim.created
                && now.rest.created > created.rest.created
        })
        .await;
        assert!(ok, "round {round}: {:?}", s.sim().stats().sessions);
        s.answers().await;
    }
    s.recovers(1, cleared).await;
    s.no_leak().await;
    let st = s.sim().stats().sessions;
    assert!(
        st.vim.created <= 1 + 5 + 1 && st.rest.created <= 1 + 5 + 1,
        "one login per family per lost session (and the onboarding test's): {st:?}"
    );

    // Disabled, enabled, deleted through the onboarding mutations: logged out each time.
    let v = s.view().await;
    let r = s
        .gql(
            "mutation($id: ID!, $v: Int!) { vsphereSetConnectionEnabled(id: $id, version: $v, enabled: false) { state } }",
            json!({"id": s.id, "v": v.version}),
        )
        .await;
    assert_eq!(
        r["data"]["vsphereSetConnectionEnabled"]["state"], "disabled",
        "{r}"
    );
    let st = s.sim().stats();
    assert_eq!((st.sessions.vim.active, st.sessions.rest.active), (0, 0));
    assert_eq!(st.views + st.filters + st.property_collectors, 0);
    let r = s
        .gql(
            "mutation($id: ID!, $v: Int!) { vsphereSetConnectionEnabled(id: $id, version: $v, enabled: true) { state } }",
            json!({"id": s.id, "v": v.version + 1}),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
    let want = sim_counts(s.sim());
    s.until(30, "enabled again", |v| {
        v.state == "healthy" && v.listed == want
    })
    .await;
    s.no_leak().await;
    let r = s
        .gql(
            "mutation($id: ID!, $v: Int!) { vsphereDeleteConnection(id: $id, version: $v) }",
            json!({"id": s.id, "v": v.version + 2}),
        )
        .await;
    assert_eq!(r["data"]["vsphereDeleteConnection"], s.id.as_str(), "{r}");
    let st = s.sim().stats();
    assert_eq!(
        (
            st.sessions.vim.active,
            st.sessions.rest.active,
            st.views + st.filters + st.property_collectors + st.event_collectors
        ),
        (0, 0, 0),
        "a deleted connection holds nothing"
    );
    s.stop().await.shutdown().await;
}

#[tokio::test]
async fn lesson_02_session_limit() {
    let _m = MEMORY.read().await;
    let mut cfg = SimConfig::small();
    cfg.users.push(SimUser {
        name: "other".into(),
        password: "other".into(),
        role: Role::Readonly,
    });
    let s = Svc::start(cfg, Via::Config).await;
    // Room for the service and one other user: the service takes one session per family and
    // leaves the other user theirs.
    s.sim().control().set_session_limit(Some(2));
    let other = common::Vim::login(s.sim(), "other", "other").await;
    let (status, _) = other
        .post("SessionManager/SessionManager/Logout", json!(null))
        .await;
    assert_eq!(status, 204);

    // vCenter's session count is exhausted: every session ends and logins answer 503.
    let b = s.baseline();
    s.sim().control().set_session_limit(Some(0));
    s.sim().control().expire_sessions();
    let v = s.health_is("failed", &["vcenter_unavailable"]).await;
    assert!(!v.vim_logged_in, "{v:?}");
    let b = s.stopped(b);
    tokio::time::sleep(Duration::from_secs(4)).await;
    s.serves_last_good(&b).await;
    let during = s.sim().stats();
    let tried = logins(&during) - logins(&b.stats);
    assert!(
        (1..=12).contains(&tried),
        "logins back off while the limit holds, one per family at a time: {tried}"
    );
    s.sim().control().set_session_limit(None);
    let cleared = Instant::now();
    s.recovers(2, cleared).await;
    s.no_leak().await;
    s.stop().await.shutdown().await;
}

/// Series of every powered-on VM at `interval`; the number of VMs with points, and errors.
async fn series(s: &Svc, metric: &str, interval: &str) -> (usize, usize, Value) {
    let q = format!(
        "{{ vsphereVms(first: 500, filter: {{ powerState: [POWERED_ON] }}) {{ nodes {{ performance {{ series(metric: {metric}, interval: {interval}, samples: 3) {{ points {{ value }} }} }} }} }} }}"
    );
    let v = s.gql(&q, json!({})).await;
    let nodes = v["data"]["vsphereVms"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let with_points = nodes
        .iter()
        .filter(|n| {
            n["performance"]["series"]["points"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
        })
        .count();
    (nodes.len(), with_points, v)
}

#[tokio::test]
async fn lesson_03_max_query_metrics() {
    let _m = MEMORY.read().await;
    let s = Svc::start(SimConfig::small(), Via::Config).await;
    let b = s.baseline();
    // The administrator restricts QueryPerf to 2 metrics per call; a page of VMs asks for more.
    s.sim().control().set_max_query_metrics(2);
    let (n, with_points, v) = series(&s, "CPU", "FIVE_MINUTES").await;
    assert!(n > 2, "more VMs than the limit: {n}");
    assert_eq!(with_points, n, "every VM's series within the limit: {v}");
    assert!(v["errors"].is_null(), "{v}");
    // The option itself cannot be read: the client assumes vCenter's default and halves on
    // refusal.
    patch(s.sim(), json!({"max_query_metrics_unreadable": true}));
    let (n, with_points, v) = series(&s, "MEMORY", "THIRTY_MINUTES").await;
    assert_eq!(with_points, n, "{v}");
    let view = s.health_is("healthy", &[]).await;
    assert!(view.issues.is_empty(), "{view:?}");
    s.serves_all(&b).await;
    patch(
        s.sim(),
        json!({"max_query_metrics_unreadable": false, "max_query_metrics": 256}),
    );
    let cleared = Instant::now();
    s.recovers(3, cleared).await;
    s.no_leak().await;
    s.stop().await.shutdown().await;
}

#[tokio::test]
async fn lesson_04_request_size_limits() {
    let _m = MEMORY.read().await;
    // More VMs than one realtime QueryPerf batch (250 entities), so a collector that put
    // the whole inventory into one request would send about three batches' worth.
    let mut cfg = SimConfig::small();
    cfg.size.vms = 700;
    cfg.size.hosts = 8;
    let s = Svc::start(cfg, Via::Config).await;
    let b = s.baseline();
    // vCenter refuses request documents beyond a size; this limit admits a batch of 250
    // entities but not the whole inventory in one call.
    // A realtime batch of 250 entities with 5 counters is ~115 KB of JSON.
    const LIMIT: usize = 160 * 1024;
    patch(s.sim(), json!({"max_request_bytes": LIMIT}));
    // One QueryPerf for every VM, as the peers that broke sent it, is refused.
    let vim = common::Vim::login(s.sim(), "admin", "admin").await;
    let metric = |id: i64| json!({"_typeName": "PerfMetricId", "counterId": id, "instance": ""});
    let specs: Vec<Value> = s
        .sim()
        .control()
        .state()
        .inv()
        .ids_of("VirtualMachine")
        .iter()
        .map(|vm| {
            json!({"_typeName": "PerfQuerySpec", "intervalId": 20, "maxSample": 1, "format": "normal",
                "entity": {"_typeName": "ManagedObjectReference", "type": "VirtualMachine", "value": vm},
                "metricId": (1..=5).map(metric).collect::<Vec<_>>()})
        })
        .collect();
    let (status, fault) = vim
        .post(
            "PerformanceManager/PerfMgr/QueryPerf",
            json!({"querySpec": specs}),
        )
        .await;
    assert_eq!(
        (status, fault["_typeName"].as_str()),
        (500, Some("InvalidRequest")),
        "the whole inventory in one call is over the limit"
    );
    let (status, _) = vim
        .post("SessionManager/SessionManager/Logout", json!(null))
        .await;
    assert_eq!(status, 204);
    let since = s.calls();
    // Two realtime passes (every second) and a page of series, all under the limit.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (n, with_points, v) = series(&s, "CPU", "FIVE_MINUTES").await;
    assert_eq!(with_points, n, "{v}");
    let calls = s.calls();
    let perf_ok: u64 = calls
        .iter()
        .filter(|((_, c, st), _)| c == "PerformanceManager.QueryPerf" && *st == 200)
        .map(|(k, (n, _))| n - since.get(k).map_or(0, |x| x.0))
        .sum();
    let refused: u64 = calls
        .iter()
        .filter(|((_, _, st), _)| *st == 500)
        .map(|(k, (n, _))| n - since.get(k).map_or(0, |x| x.0))
        .sum();
    assert!(perf_ok >= 3, "realtime passes and series ran: {calls:?}");
    assert_eq!(refused, 0, "no request over vCenter's limit: {calls:?}");
    let view = s.health_is("healthy", &[]).await;
    assert!(view.issues.is_empty(), "{view:?}");
    s.serves_all(&b).await;
    patch(s.sim(), json!({"max_request_bytes": null}));
    s.recovers(4, Instant::now()).await;
    s.no_leak().await;
    s.stop().await.shutdown().await;
}

#[tokio::test]
async fn lesson_05_cycles_longer_than_the_interval() {
    let _m = MEMORY.read().await;
    let s = Svc::start(SimConfig::small(), Via::Config).await;
    let b = s.baseline();
    // Every vCenter call takes longer than the events, metrics and session intervals (1 s).
    patch(
        s.sim(),
        json!({"latency": {"vim": {"fixed_ms": 1500}, "rest": {"fixed_ms": 1500}}}),
    );
    let t = Instant::now();
    let before = s.sim().stats().requests_total;
    tokio::time::sleep(Duration::from_secs(6)).await;
    // Answers come from the snapshot, not from vCenter, so they stay fast (`answers` checks).
    let v = s.serves_all(&b).await;
    assert_eq!(v.state, "healthy", "slow is not failed: {v:?}");
    let sent = s.sim().stats().requests_total - before;
    // One feed wait, one side-loop job at a time (its metrics pass 4 queries at most): at
    // 1.5 s a call, a 6 s window holds about 20. Ticks that piled up would multiply that.
    let bound = (t.elapsed().as_secs_f64() / 1.5).ceil() as u64 * 6;
    assert!(
        sent <= bound,
        "{sent} requests in {:?}: cycles piled up",
        t.elapsed()
    );
    patch(
        s.sim(),
        json!({"latency": {"vim": {"fixed_ms": 0}, "rest": {"fixed_ms": 0}}}),
    );
    s.recovers(5, Instant::now()).await;
    s.no_leak().await;
    s.stop().await.shutdown().await;
}

#[tokio::test]
async fn lesson_06_vcenter_reboot() {
    let _m = MEMORY.read().await;
    let s = Svc::start(SimConfig::small(), Via::Config).await;
    let b = s.baseline();
    // vCenter goes down (its proxy answers 503), restarts (every session, view, filter and
    // collector gone), and comes back.
    patch(s.sim(), json!({"error_rate": {"vim": 1.0, "rest": 1.0}}));
    s.health_is("failed", &["vcenter_unavailable"]).await;
    let b = s.stopped(b);
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.serves_last_good(&b).await;
    s.sim().control().restart();
    assert_eq!(s.sim().stats().sessions.vim.active, 0);
    patch(s.sim(), json!({"error_rate": {"vim": 0.0, "rest": 0.0}}));
    let cleared = Instant::now();
    s.recovers(6, cleared).await;
    // The collector rebuilt its view, filter and collector in new sessions.
    s.no_leak().await;
    s.stop().await.shutdown().await;
}

#[tokio::test]
async fn lesson_07_reauthentication_after_vcenter_was_offline() {
    let _m = MEMORY.read().await;
    let s = Svc::start(SimConfig::small(), Via::Config).await;
    let b = s.baseline();
    patch(s.sim(), json!({"error_rate": {"vim": 1.0, "rest": 1.0}}));
    s.health_is("failed", &["vcenter_unavailable"]).await;
    let b = s.stopped(b);
    // While it is offline its sessions end (idle timeout, restart).
    s.sim().control().expire_sessions();
    tokio::time::sleep(Duration::from_secs(4)).await;
    s.serves_last_good(&b).await;
    patch(s.sim(), json!({"error_rate": {"vim": 0.0, "rest": 0.0}}));
    let cleared = Instant::now();
    let at_clear = s.sim().stats();
    s.recovers(7, cleared).await;
    s.no_leak().await;
    let after = s.sim().stats();
    assert_eq!(
        (
            after.sessions.vim.created - at_clear.sessions.vim.created,
            after.sessions.rest.created - at_clear.sessions.rest.created
        ),
        (1, 1),
        "logged in again once per family, no churn"
    );
    let tried = logins(&at_clear) - logins(&b.stats);
    assert!(tried <= 12, "logins while offline back off: {tried}");
    s.stop().await.shutdown().await;
}

#[tokio::test]
async fn lesson_08_not_authenticated_arrives_as_http_500() {
    let _m = MEMORY.read().await;
    let s = Svc::start(SimConfig::small(), Via::Config).await;
    let b = s.baseline();
    // vCenter ends the sessions: every VI JSON call now answers HTTP 500 with a
    // `NotAuthenticated` body, not 401.
    s.sim().control().expire_sessions();
    let cleared = Instant::now();
    let v = s.serves_all(&b).await;
    assert!(
        v.state == "healthy" || v.class.as_deref() != Some("auth_invalid"),
        "NotAuthenticated is not a wrong password: {v:?}"
    );
    s.recovers(8, cleared).await;
    let st = s.sim().stats();
    assert_eq!(st.failed_logins.vim + st.failed_logins.rest, 0);
    assert!(
        st.sessions.vim.created > b.stats.sessions.vim.created,
        "logged in again"
    );
    s.no_leak().await;
    s.stop().await.shutdown().await;
}

#[tokio::test]
async fn lesson_09_rest_list_caps() {
    let _m = MEMORY.read().await;
    // Every REST list holds at most 5 objects from the start: the 40 VMs, 4 hosts and 4
    // datastores stand for an inventory above vCenter's caps (4,000 VMs, 2,500 hosts).
    let s = Svc::start_with(SimConfig::small(), Via::Config, json!({"rest_list_cap": 5})).await;
    let r = common::Rest::login(s.sim(), "admin", "admin").await;
    let (status, body) = r.get("/api/vcenter/vm").await;
    assert_eq!(status, 500, "the cap is live: {body}");
    assert_eq!(body["error_type"], "UNABLE_TO_ALLOCATE_RESOURCE", "{body}");
    let out =
        r.c.delete(format!("{}/api/session", r.base))
            .header("vmware-api-session-id", &r.token)
            .send()
            .await
            .expect("logout");
    assert!(out.status().is_success());
    let b = s.baseline();
    let v = s.serves_all(&b).await;
    assert_eq!(v.state, "healthy", "{v:?}");
    let lists: u64 = s
        .sim()
        .stats()
        .requests
        .iter()
        .filter(|(k, _)| k.starts_with("rest:GET /api/vcenter/"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        lists, 1,
        "the inventory never comes from REST lists (1: the probe above)"
    );
    s.recovers(9, Instant::now()).await;
    s.no_leak().await;
    s.stop().await.shutdown().await;
}

/// Resident set size of this process, bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test]
async fn lesson_10_memory_while_vcenter_is_unreachable() {
    // Alone in the process while it measures (see `MEMORY`).
    let _m = MEMORY.write().await;
    // vCenter goes away and comes back on the same address with the same certificate, as a
    // rebooted appliance does: the identity is made here so the second simulator can present it.
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(std::net::IpAddr::from([
            127, 0, 0, 1,
        ])));
    let cert = params.self_signed(&key).expect("cert");
    let mut cfg = SimConfig::small();
    cfg.size.vms = 400;
    cfg.tls = Some((cert.pem(), key.serialize_pem()));
    let mut s = Svc::start(cfg.clone(), Via::Config).await;
    let b = s.baseline();
    let sim = s.sim.take().expect("sim");
    cfg.listen = sim.addr();
    sim.shutdown().await;
    let v = s
        .until(30, "unreachable", |v| {
            v.state == "failed" && v.class.as_deref() == Some("endpoint_unreachable")
        })
        .await;
    assert!(!v.vim_logged_in);
    let b = s.stopped(b);
    // RSS while the service keeps failing and answering queries: sampled after the first
    // failures (allocator warm-up), then it must not keep growing. The bound is generous: the
    // allocator keeps freed pages, and the measurement is about growth per failure, which a
    // leak or an unbounded queue of retries would show as a steady climb.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = rss();
    let mut peak = start;
    let until = Instant::now() + Duration::from_secs(12);
    while Instant::now() < until {
        s.serves_last_good(&b).await;
        peak = peak.max(rss());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let grown = peak.saturating_sub(start);
    eprintln!(
        "lesson 10: RSS {:.1} MB at the start of the outage, peak {:.1} MB (+{:.1} MB) over 12 s",
        start as f64 / 1e6,
        peak as f64 / 1e6,
        grown as f64 / 1e6
    );
    assert!(
        grown < 32 * 1024 * 1024,
        "memory grew by {grown} bytes while vCenter was unreachable"
    );
    let v = s.view().await;
    assert!(
        (1..=5).contains(&v.failures),
        "backs off, does not spin: {v:?}"
    );
    // The same vCenter answers again.
    s.sim = Some(Simulator::start(cfg).await.expect("vCenter is back"));
    let cleared = Instant::now();
    s.recovers(10, cleared).await;
    s.no_leak().await;
    s.stop().await.shutdown().await;
}

#[tokio::test]
async fn lesson_11_one_bad_host_or_object() {
    let _m = MEMORY.read().await;
    let s = Svc::start(SimConfig::small(), Via::Config).await;
    let b = s.baseline();
    let inv_vms = s
        .sim()
        .control()
        .state()
        .inv()
        .ids_of("VirtualMachine")
        .to_vec();
    let hosts = s
        .sim()
        .control()
        .state()
        .inv()
        .ids_of("HostSystem")
        .to_vec();
    // One host stops responding and one VM cannot be read: the rest is still collected.
    let denied = inv_vms[3].clone();
    assert!(s.sim().control().disconnect_host(&hosts[1]));
    s.sim().control().deny_object(&denied);
    let probe = inv_vms[5].clone();
    assert!(s.sim().control().rename(&probe, "lesson-11-during"));
    let v = s
        .until(30, "the bad host and object isolated", |v| {
            v.state == "degraded" && v.issues.iter().any(|i| i.contains(&denied))
        })
        .await;
    assert_eq!(v.class, None, "nothing failed: {v:?}");
    s.serves_all(&b).await;
    let offline = s
        .gql(
            "{ vsphereHosts(first: 50, filter: { status: [OFFLINE] }) { totalCount } during: vsphereVms(first: 1, filter: {nameContains: \"lesson-11-during\"}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        offline["data"]["vsphereHosts"]["totalCount"], 1,
        "{offline}"
    );
    assert_eq!(
        offline["data"]["during"]["totalCount"], 1,
        "changes still flow: {offline}"
    );
    assert!(s.sim().control().reconnect_host(&hosts[1]));
    patch(s.sim(), json!({"no_permission_objects": []}));
    let cleared = Instant::now();
    s.recovers(11, cleared).await;
    s.no_leak().await;
    s.stop().await.shutdown().await;
}

#[tokio::test]
async fn lesson_12_tls_thumbprint_rotation() {
    let _m = MEMORY.read().await;
    let s = Svc::start(SimConfig::small(), Via::Api).await;
    let b = s.baseline();
    let old = s.sim().thumbprint();
    let new = s.sim().control().rotate_certificate().expect("rotated");
    assert_ne!(old, new);
    let v = s.health_is("failed", &["tls_validation_failed"]).await;
    assert!(
        v.message
            .as_deref()
            .is_some_and(|m| m.contains("pinned") || m.contains(&new)),
        "the message says what happened: {v:?}"
    );
    let b = s.stopped(b);
    tokio::time::sleep(Duration::from_secs(4)).await;
    s.serves_last_good(&b).await;
    // No login ever reached vCenter with the wrong certificate, so no failed login counts
    // towards an account lockout.
    let st = s.sim().stats();
    assert_eq!(
        logins(&st) - logins(&b.stats),
        0,
        "no login attempt while the certificate is not trusted"
    );
    assert_eq!(st.failed_logins.vim + st.failed_logins.rest, 0);
    let v = s.view().await;
    assert!(v.failures <= 3, "backs off: {v:?}");
    // The operator checks and pins the new thumbprint.
    let r = s
        .gql(
            "mutation($id: ID!, $v: Int!, $t: String!) { vsphereUpdateConnection(id: $id, version: $v, input: {tlsMode: PINNED, tlsThumbprint: $t}) { id } }",
            json!({"id": s.id, "v": v.version, "t": new}),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
    let cleared = Instant::now();
    s.recovers(12, cleared).await;
    s.no_leak().await;
    s.stop().await.shutdown().await;
}

#[tokio::test]
async fn lesson_13_counts_reconcile_after_many_changes() {
    let _m = MEMORY.read().await;
    let s = Svc::start(SimConfig::small(), Via::Config).await;
    let b = s.baseline();
    // An hour of changes at one a second, in bursts, with jitter on every call.
    patch(
        s.sim(),
        json!({"latency": {"vim": {"jitter_ms": 40}, "rest": {"jitter_ms": 40}}}),
    );
    for _ in 0..36 {
        s.sim().control().apply_changes(100);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.serves_all(&b).await;
    patch(
        s.sim(),
        json!({"latency": {"vim": {"jitter_ms": 0}, "rest": {"jitter_ms": 0}}}),
    );
    let cleared = Instant::now();
    s.recovers(13, cleared).await;
    // Property by property: power state, host and connection state equal the simulator's.
    let ok = common::eventually(20, || {
        s.served()
            .is_some_and(|snap| differences(s.sim(), &snap).is_empty())
    })
    .await;
    assert!(ok, "{:?}", differences(s.sim(), &s.served().unwrap()));
    s.no_leak().await;
    s.stop().await.shutdown().await;
}

fn prop(sim: &Simulator, kind: &str, moid: &str, path: &str) -> Option<String> {
    let inv = sim.control().state().inv();
    let found = inv.of_type(kind).find(|o| o.moref.value == moid);
    found.and_then(|o| o.get_path(path)).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other["value"].as_str().unwrap_or_default().to_string(),
    })
}

/// Where the served snapshot disagrees with the simulator.
fn differences(sim: &Simulator, s: &InventorySnapshot) -> Vec<String> {
    let mut out = Vec::new();
    for v in &s.vms {
        let power = prop(sim, "VirtualMachine", &v.moid, "runtime.powerState");
        let host = prop(sim, "VirtualMachine", &v.moid, "runtime.host");
        let mine = v.host_id.as_ref().map(|i| i.moid().to_string());
        if power != v.power_state || host != mine {
            out.push(format!(
                "{}: {power:?} on {host:?}, served {:?} on {mine:?}",
                v.moid, v.power_state
            ));
        }
    }
    for a in &s.agents {
        let conn = prop(sim, "HostSystem", &a.moid, "runtime.connectionState");
        if conn != a.connection_state {
            out.push(format!(
                "{}: {conn:?}, served {:?}",
                a.moid, a.connection_state
            ));
        }
    }
    out
}
