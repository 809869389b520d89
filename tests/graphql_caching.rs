//! Reusable GraphQL responses over HTTP, against the real server stack (`service::serve` with
//! its store) reading the simulator over HTTPS: `ETag` and `Cache-Control` from the connection
//! slots' generations, 304 for a matching `If-None-Match`, kept bodies counted in `/metrics`,
//! one execution for identical concurrent requests, and what is never reused.

mod common;

use std::sync::Arc;
use std::time::Duration;

use pulse_vsphere::auth::{AuthConfig, Authenticator, Role};
use pulse_vsphere::collector::{self, CollectorConfig, CollectorHandle};
use pulse_vsphere::inventory::ConnectionSlot;
use pulse_vsphere::service::{self, Service};
use pulse_vsphere::simulator::{SimConfig, Simulator};
use pulse_vsphere::vcenter::VcClient;
use reqwest::header::{HeaderMap, CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use serde_json::{json, Value};

const ADMIN: &str = "admin-token-for-caching-0123456789";
const ASSISTANT: &str = "assistant-token-for-caching-0123456789";

const PAGE: &str = "query Page($first: Int) { vsphereVms(first: $first) { totalCount \
                    nodes { id name vsphere { powerState } } } }";

struct Served {
    sim: Simulator,
    slot: Arc<ConnectionSlot>,
    collector: Option<CollectorHandle>,
    base: String,
    http: reqwest::Client,
    _dir: common::backends::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The service with its store, one connection to the simulator collected by a collector this
/// test can stop (so the slot's generation then stays put), admin and assistant tokens.
async fn served() -> Served {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let dir = common::backends::TempDir::new();
    let settings = dir.sqlite_settings();
    let svc = Service::start(
        &settings,
        Vec::new(),
        CollectorConfig::default(),
        Default::default(),
    )
    .await
    .expect("start");
    let slot = svc.registry.attach_reads("vc1", "lab", None);
    let client = VcClient::new(common::client_config(&sim, "admin", "admin")).expect("client");
    let config = CollectorConfig {
        wait: Duration::from_secs(1),
        publish_every: Duration::from_millis(50),
        ..CollectorConfig::default()
    };
    let collector = collector::spawn(client, slot.clone(), config);
    let vms = sim.control().inventory_counts().by_type["VirtualMachine"];
    assert!(
        common::eventually(60, || slot.snapshot().is_some_and(|s| s.vms.len() == vms)).await,
        "first sync"
    );
    let auth = Authenticator::from_config(&AuthConfig {
        tokens: vec![
            common::hashed_token("ops", Role::Admin, ADMIN),
            common::hashed_token("assistant", Role::Assistant, ASSISTANT),
        ],
        jwt: None,
    })
    .expect("auth");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(service::serve(
        svc,
        listener,
        pulse_vsphere::server::Access::new(auth),
        async move {
            let _ = stopped.await;
        },
        false,
    ));
    Served {
        sim,
        slot,
        collector: Some(collector),
        base,
        http: reqwest::Client::new(),
        _dir: dir,
        _stop: stop,
    }
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn etag(&self) -> Option<&str> {
        self.headers.get(ETAG).and_then(|v| v.to_str().ok())
    }
    fn cache_control(&self) -> &str {
        self.headers
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

impl Served {
    async fn post(&self, token: &str, body: &Value, if_none_match: Option<&str>) -> Answer {
        let mut req = self
            .http
            .post(format!("{}/graphql", self.base))
            .bearer_auth(token)
            .json(body);
        if let Some(tag) = if_none_match {
            req = req.header(IF_NONE_MATCH, tag);
        }
        let resp = req.send().await.expect("post");
        Answer {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.expect("body").to_vec(),
        }
    }

    /// `pulse_vsphere_graphql_response_cache_total{result="..."}`.
    async fn counted(&self, result: &str) -> u64 {
        let text = common::text(&self.http, &format!("{}/metrics", self.base)).await;
        let series = format!("pulse_vsphere_graphql_response_cache_total{{result=\"{result}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series)?.parse().ok())
            .unwrap_or_else(|| panic!("{series} not in /metrics"))
    }

    /// Stops the collector: nothing writes to the slot any more, so its generation holds.
    async fn quiet(&mut self) {
        if let Some(c) = self.collector.take() {
            c.shutdown().await;
        }
    }
}

fn page(first: i64) -> Value {
    json!({"query": PAGE, "operationName": "Page", "variables": {"first": first}})
}

/// The power state the simulator holds for `vm`.
fn sim_power(sim: &Simulator, vm: &str) -> String {
    let inv = sim.control().state().inv();
    let power = inv
        .of_type("VirtualMachine")
        .find(|o| o.moref.value == vm)
        .and_then(|o| {
            o.get_path("runtime.powerState")?
                .as_str()
                .map(str::to_string)
        });
    power.expect("the VM's power state")
}

fn power_in(body: &Value, vm_name: &str) -> Option<String> {
    body["data"]["vsphereVms"]["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == vm_name)?["vsphere"]["powerState"]
        .as_str()
        .map(str::to_string)
}

#[tokio::test]
async fn a_query_is_reused_until_vcenter_changes_and_revalidated_by_etag() {
    let mut s = served().await;
    let all = page(500);
    let first = s.post(ADMIN, &all, None).await;
    assert_eq!(first.status, 200);
    assert!(first.json()["errors"].is_null(), "{}", first.json());
    let before = first.etag().expect("an ETag").to_string();
    assert!(before.starts_with("W/\""), "{before}");
    assert_eq!(first.cache_control(), "private, max-age=0, must-revalidate");

    // A change in vCenter: once the collector has published it, the query has another ETag
    // and the simulator's value.
    let vm = common::vm_by_tools(&s.sim, true);
    let name = s
        .slot
        .snapshot()
        .and_then(|snap| {
            snap.vms
                .iter()
                .find(|v| v.moid == vm)
                .map(|v| v.name.to_string())
        })
        .expect("the VM in the snapshot");
    assert_eq!(
        power_in(&first.json(), &name).as_deref(),
        Some(sim_power(&s.sim, &vm).as_str())
    );
    assert!(s.sim.control().set_vm_power(&vm, "poweredOff"));
    let mut changed = None;
    for _ in 0..200 {
        let again = s.post(ADMIN, &all, Some(&before)).await;
        if again.status == 200 && power_in(&again.json(), &name).as_deref() == Some("poweredOff") {
            changed = Some(again);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let changed = changed.expect("the change reached the response");
    assert_eq!(sim_power(&s.sim, &vm), "poweredOff");
    let after = changed.etag().expect("an ETag").to_string();
    assert_ne!(after, before, "another state, another ETag");

    s.quiet().await;
    let query = page(7);
    let one = s.post(ADMIN, &query, None).await;
    let (hits, misses, not_modified) = (
        s.counted("hit").await,
        s.counted("miss").await,
        s.counted("not_modified").await,
    );
    // Asked for once, nothing was kept (pages read once would fill the cache for no hit): the
    // second is computed again, and kept.
    let two = s.post(ADMIN, &query, None).await;
    assert_eq!(s.counted("miss").await, misses + 1, "computed again");
    assert_eq!(s.counted("hit").await, hits);
    let three = s.post(ADMIN, &query, None).await;
    assert_eq!((one.status, two.status, three.status), (200, 200, 200));
    assert_eq!(one.etag(), two.etag(), "same request, same state");
    assert_eq!(two.etag(), three.etag());
    assert_eq!(one.body, two.body);
    assert_eq!(two.body, three.body);
    assert_eq!(s.counted("hit").await, hits + 1, "the third from the cache");
    assert_eq!(s.counted("miss").await, misses + 1);

    // The caller holds it: 304, no body, nothing run.
    let tag = one.etag().expect("ETag").to_string();
    let held = s.post(ADMIN, &query, Some(&tag)).await;
    assert_eq!(held.status, 304);
    assert!(held.body.is_empty());
    assert_eq!(held.etag(), Some(tag.as_str()));
    assert_eq!(s.counted("not_modified").await, not_modified + 1);
    // In a list, or strong: the same answer; another tag is not.
    let listed = format!("W/\"0\", {}", tag.trim_start_matches("W/"));
    assert_eq!(s.post(ADMIN, &query, Some(&listed)).await.status, 304);
    assert_eq!(s.post(ADMIN, &query, Some("W/\"0\"")).await.status, 200);
    // Another request (variables) is another entry.
    assert_ne!(
        s.post(ADMIN, &page(8), None).await.etag(),
        Some(tag.as_str())
    );
}

#[tokio::test]
async fn what_is_never_reused_and_what_is_shared() {
    let mut s = served().await;
    s.quiet().await;

    // A field counted from the clock: no-store, no ETag, not kept.
    let misses = s.counted("miss").await;
    let aged = json!({"query": "{ vsphereVms(first: 5) { nodes { vsphere { snapshots { ageDays } } } } }"});
    for _ in 0..2 {
        let a = s.post(ADMIN, &aged, None).await;
        assert_eq!(a.status, 200);
        assert!(a.json()["errors"].is_null(), "{}", a.json());
        assert_eq!(a.cache_control(), "no-store");
        assert!(a.etag().is_none());
    }
    // So is an answer read from the store.
    let store = s
        .post(ADMIN, &json!({"query": "{ vsphereStore { ok } }"}), None)
        .await;
    assert_eq!(store.cache_control(), "no-store");
    assert!(store.etag().is_none());
    // And a filter counted from now.
    let old = s
        .post(
            ADMIN,
            &json!({"query": "{ vsphereVms(filter: {hasSnapshotsOlderThanDays: 1}) { totalCount } }"}),
            None,
        )
        .await;
    assert_eq!(old.cache_control(), "no-store");
    assert_eq!(
        s.counted("miss").await,
        misses,
        "none of them computed for reuse"
    );

    // An error is never kept.
    let bad = s
        .post(
            ADMIN,
            &json!({"query": "{ vsphereVms(first: -1) { totalCount } }"}),
            None,
        )
        .await;
    assert!(!bad.json()["errors"].is_null());
    assert_eq!(bad.cache_control(), "no-store");
    assert!(bad.etag().is_none());

    // A mutation (one that succeeds, testing the simulator's credentials) runs every time.
    let url = url::Url::parse(&s.sim.base_url()).expect("url");
    let test = json!({
        "query": "mutation($i: VsphereConnectionInput!) { vsphereTestConnection(input: $i) { verdict } }",
        "variables": {"i": {
            "name": "probe",
            "host": url.host_str().expect("host"),
            "port": url.port().expect("port"),
            "username": "admin",
            "password": "admin",
            "tlsMode": "PINNED",
            "tlsThumbprint": s.sim.thumbprint(),
        }},
    });
    let (hits, misses) = (s.counted("hit").await, s.counted("miss").await);
    for _ in 0..2 {
        let m = s.post(ADMIN, &test, None).await;
        assert_eq!(m.status, 200);
        assert!(
            m.json()["data"]["vsphereTestConnection"]["verdict"].is_string(),
            "{}",
            m.json()
        );
        assert_eq!(m.cache_control(), "no-store");
        assert!(m.etag().is_none());
    }
    assert_eq!(
        (s.counted("hit").await, s.counted("miss").await),
        (hits, misses)
    );

    // Two roles never share an entry: the assistant's first answer is computed.
    let query = page(3);
    let admin = s.post(ADMIN, &query, None).await;
    let misses = s.counted("miss").await;
    let assistant = s.post(ASSISTANT, &query, None).await;
    assert_eq!(assistant.status, 200);
    assert_ne!(admin.etag(), assistant.etag());
    assert_eq!(s.counted("miss").await, misses + 1);
    let admin_tag = admin.etag().expect("ETag").to_string();
    assert_eq!(
        s.post(ASSISTANT, &query, Some(&admin_tag)).await.status,
        200,
        "the admin's ETag is not the assistant's"
    );

    // Identical concurrent requests of a known document: one execution, the others wait for
    // it.
    let same = page(11);
    // Asked for once before, so the burst is worth keeping.
    assert_eq!(s.post(ADMIN, &same, None).await.status, 200);
    let (hits, misses) = (s.counted("hit").await, s.counted("miss").await);
    let answers = futures::future::join_all((0..16).map(|_| s.post(ADMIN, &same, None))).await;
    assert!(answers.iter().all(|a| a.status == 200));
    assert!(answers.iter().all(|a| a.body == answers[0].body));
    assert_eq!(s.counted("miss").await, misses + 1, "one execution");
    assert_eq!(s.counted("hit").await, hits + 15);
}
