//! Platform connections as an operator uses them: the onboarding mutations over HTTP against
//! the real server, a simulator over HTTPS behind them, on SQLite and on PostgreSQL. Create,
//! read, update (masked and omitted password kept), tests that save nothing, stale versions,
//! enable/disable, delete, the audit log, and a password that never comes back out.

mod common;

use std::time::Duration;

use pulse_vsphere::collector::CollectorConfig;
use pulse_vsphere::config::StoreSettings;
use pulse_vsphere::service::{self, Service};
use pulse_vsphere::simulator::{SimConfig, Simulator};
use pulse_vsphere::store::StoreLocation;
use serde_json::{json, Value};

use common::backends::{on_postgres, on_sqlite};

/// A password no other string in the run contains.
const MARKER: &str = "Pw-marker-7f3a9c1e-onboarding";

struct Server {
    url: String,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), service::StartError>>,
    /// Every response body, to prove the password never appears in one.
    seen: std::sync::Mutex<String>,
}

impl Server {
    async fn start(loc: &StoreLocation, key_dir: &std::path::Path) -> Server {
        let settings = StoreSettings {
            location: loc.clone(),
            data_dir: key_dir.to_path_buf(),
            key_file: key_dir.join("secret.key"),
            history_days: 30,
        };
        let collector = CollectorConfig {
            wait: Duration::from_secs(1),
            publish_every: Duration::from_millis(50),
            ..CollectorConfig::default()
        };
        let svc = Service::start(&settings, Vec::new(), collector, Default::default())
            .await
            .expect("service starts");
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
        let url = format!("http://{addr}/graphql");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http
                .get(url.replace("/graphql", "/healthz"))
                .send()
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server {
            url,
            http,
            stop: Some(tx),
            task,
            seen: std::sync::Mutex::default(),
        }
    }

    async fn gql(&self, query: &str, vars: Value) -> Value {
        let text = self
            .http
            .post(&self.url)
            .json(&json!({"query": query, "variables": vars}))
            .send()
            .await
            .expect("post")
            .text()
            .await
            .expect("body");
        self.seen.lock().unwrap().push_str(&text);
        serde_json::from_str(&text).expect("json")
    }

    async fn stop(mut self) -> String {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.await.expect("join").expect("clean stop");
        self.seen.into_inner().unwrap()
    }
}

const FIELDS: &str = "id version name source host port username passwordSet enabled pollIntervalSeconds tlsMode tlsThumbprint state lastErrorClass contribution { vms }";

fn code(v: &Value) -> (String, String) {
    let e = &v["errors"][0]["extensions"];
    (
        e["code"].as_str().unwrap_or_default().to_string(),
        e["field"].as_str().unwrap_or_default().to_string(),
    )
}

fn sessions(sim: &Simulator) -> (u64, u64) {
    let s = sim.stats().sessions;
    (s.vim.active, s.rest.active)
}

async fn connection(s: &Server, id: &str) -> Value {
    let v = s
        .gql(
            &format!("{{ vsphereConnections {{ {FIELDS} }} }}"),
            json!({}),
        )
        .await;
    v["data"]["vsphereConnections"]
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn until_state(s: &Server, id: &str, state: &str) -> Value {
    for _ in 0..600 {
        let c = connection(s, id).await;
        if c["state"] == state
            && (state != "healthy" || c["contribution"]["vms"].as_i64() > Some(0))
        {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{id} never {state}: {}", connection(s, id).await);
}

fn sim_config() -> SimConfig {
    let mut cfg = SimConfig::small();
    cfg.users = vec![pulse_vsphere::simulator::SimUser {
        name: "monitor@vsphere.local".into(),
        password: MARKER.into(),
        role: pulse_vsphere::simulator::Role::Readonly,
    }];
    cfg
}

async fn crud_matrix(loc: StoreLocation) {
    let sim = Simulator::start(sim_config()).await.expect("sim");
    let keys = common::backends::TempDir::new();
    let s = Server::start(&loc, &keys.0).await;
    let url = url::Url::parse(&sim.base_url()).unwrap();
    let input = json!({
        "name": "Lab vCenter",
        "host": format!("https://{}", url.host_str().unwrap().to_uppercase()),
        "port": url.port().unwrap(),
        "username": "monitor@vsphere.local",
        "password": MARKER,
        "pollIntervalSeconds": 20,
        "tlsMode": "PINNED",
        "tlsThumbprint": sim.thumbprint().to_lowercase(),
    });
    let create = format!("mutation($i: VsphereConnectionInput!) {{ vsphereCreateConnection(input: $i) {{ {FIELDS} }} }}");

    // Field by field validation, before anything is saved.
    for (patch, field) in [
        (json!({"host": "http://vc"}), "host"),
        (json!({"host": "https://u:p@vc"}), "host"),
        (json!({"port": 70000}), "port"),
        (json!({"pollIntervalSeconds": 5}), "pollIntervalSeconds"),
        (json!({"name": "  "}), "name"),
        (json!({"tlsThumbprint": "abcd"}), "tlsThumbprint"),
        (json!({"password": null}), "password"),
        (json!({"tlsMode": "VERIFY"}), "tlsThumbprint"),
    ] {
        let mut i = input.clone();
        for (k, v) in patch.as_object().unwrap() {
            i[k] = v.clone();
        }
        let v = s.gql(&create, json!({"i": i})).await;
        assert_eq!(
            code(&v),
            ("BAD_USER_INPUT".into(), field.into()),
            "{patch}: {v}"
        );
    }
    let none = s.gql("{ vsphereConnections { id } }", json!({})).await;
    assert_eq!(
        none["data"]["vsphereConnections"],
        json!([]),
        "nothing saved"
    );

    let v = s.gql(&create, json!({"i": input})).await;
    let c = &v["data"]["vsphereCreateConnection"];
    assert!(v["errors"].is_null(), "{v}");
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["version"], 1);
    assert_eq!(c["source"], "API");
    assert_eq!(c["host"], url.host_str().unwrap().to_lowercase());
    assert_eq!(c["passwordSet"], true);
    assert_eq!(c["tlsMode"], "PINNED");
    assert_eq!(c["tlsThumbprint"], sim.thumbprint().to_uppercase());
    let c = until_state(&s, &id, "healthy").await;
    assert_eq!(
        c["contribution"]["vms"].as_u64().unwrap() as usize,
        sim.control().inventory_counts().by_type["VirtualMachine"]
    );
    assert_eq!(sessions(&sim), (1, 1));

    // Names are unique ignoring case.
    let mut dup = input.clone();
    dup["name"] = json!("LAB VCENTER");
    let v = s.gql(&create, json!({"i": dup})).await;
    assert_eq!(code(&v), ("BAD_USER_INPUT".into(), "name".into()), "{v}");

    // A test of the saved connection with a wrong password overlaid fails and saves nothing;
    // a draft pinned to the wrong thumbprint reports the one presented.
    let test_saved = "mutation($id: ID!, $o: VsphereConnectionInput) { vsphereTestSavedConnection(id: $id, overlay: $o) { verdict failureClass presentedThumbprint steps { name ok failureClass } } }";
    let v = s
        .gql(test_saved, json!({"id": id, "o": {"password": "wrong"}}))
        .await;
    assert_eq!(
        v["data"]["vsphereTestSavedConnection"]["verdict"], "FAILED",
        "{v}"
    );
    assert_eq!(
        v["data"]["vsphereTestSavedConnection"]["failureClass"],
        "auth_invalid"
    );
    let v = s.gql(test_saved, json!({"id": id, "o": null})).await;
    assert_ne!(
        v["data"]["vsphereTestSavedConnection"]["verdict"], "FAILED",
        "stored password works: {v}"
    );
    let mut draft = input.clone();
    draft["tlsThumbprint"] = json!("00".repeat(32));
    let v = s
        .gql("mutation($i: VsphereConnectionInput!) { vsphereTestConnection(input: $i) { verdict failureClass presentedThumbprint issues { stage failureClass object { moId } hint } } }", json!({"i": draft}))
        .await;
    let t = &v["data"]["vsphereTestConnection"];
    assert_eq!(t["failureClass"], "tls_validation_failed", "{v}");
    assert_eq!(t["presentedThumbprint"], sim.thumbprint().to_uppercase());
    // The same typed issue connection health carries, with what to do about it.
    let issue = &t["issues"][0];
    assert_eq!(
        (&issue["stage"], &issue["failureClass"]),
        (&json!("connect"), &json!("tls_validation_failed")),
        "{v}"
    );
    assert!(issue["object"].is_null());
    assert!(issue["hint"]
        .as_str()
        .is_some_and(|h| h.contains("thumbprint")));
    assert_eq!(
        connection(&s, &id).await["version"],
        1,
        "tests save nothing"
    );

    // Updates: the mask keeps the stored password; the next login uses it.
    let update = format!("mutation($id: ID!, $v: Int!, $i: VsphereConnectionInput!) {{ vsphereUpdateConnection(id: $id, version: $v, input: $i) {{ {FIELDS} }} }}");
    let logins = sim.stats().login_attempts;
    let failed = sim.stats().failed_logins;
    let v = s
        .gql(
            &update,
            json!({"id": id, "v": 1, "i": {"password": "********", "pollIntervalSeconds": 25}}),
        )
        .await;
    assert_eq!(v["data"]["vsphereUpdateConnection"]["version"], 2, "{v}");
    until_state(&s, &id, "healthy").await;
    assert!(
        sim.stats().login_attempts.vim > logins.vim,
        "logged in again"
    );
    assert_eq!(
        sim.stats().failed_logins,
        failed,
        "with the stored password"
    );
    assert_eq!(sessions(&sim), (1, 1), "the old sessions were logged out");
    // Omitted password, rename only: no new login.
    let logins = sim.stats().login_attempts;
    let v = s
        .gql(
            &update,
            json!({"id": id, "v": 2, "i": {"name": "Lab (renamed)"}}),
        )
        .await;
    assert_eq!(
        v["data"]["vsphereUpdateConnection"]["name"], "Lab (renamed)",
        "{v}"
    );
    assert_eq!(
        sim.stats().login_attempts,
        logins,
        "a rename keeps the sessions"
    );
    // A stale version changes nothing.
    let v = s
        .gql(&update, json!({"id": id, "v": 2, "i": {"name": "Stale"}}))
        .await;
    assert_eq!(code(&v).0, "CONFLICT", "{v}");
    let c = connection(&s, &id).await;
    assert_eq!(
        (c["name"].as_str(), c["version"].as_i64()),
        (Some("Lab (renamed)"), Some(3))
    );

    // Disable, enable, delete: the simulator's session count follows.
    let enable = "mutation($id: ID!, $v: Int!, $e: Boolean!) { vsphereSetConnectionEnabled(id: $id, version: $v, enabled: $e) { version state enabled } }";
    let v = s.gql(enable, json!({"id": id, "v": 3, "e": false})).await;
    assert_eq!(
        v["data"]["vsphereSetConnectionEnabled"]["state"], "disabled",
        "{v}"
    );
    assert_eq!(sessions(&sim), (0, 0));
    let vms = s
        .gql("{ vsphereVms(first: 1) { totalCount } }", json!({}))
        .await;
    assert_eq!(
        vms["data"]["vsphereVms"]["totalCount"], 0,
        "disabled contributes nothing"
    );
    let v = s.gql(enable, json!({"id": id, "v": 4, "e": true})).await;
    assert_eq!(
        v["data"]["vsphereSetConnectionEnabled"]["version"], 5,
        "{v}"
    );
    until_state(&s, &id, "healthy").await;
    let v = s
        .gql(
            "mutation($id: ID!) { vsphereDeleteConnection(id: $id, version: 4) }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(code(&v).0, "CONFLICT", "{v}");
    let v = s
        .gql(
            "mutation($id: ID!) { vsphereDeleteConnection(id: $id, version: 5) }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(v["data"]["vsphereDeleteConnection"], id, "{v}");
    assert_eq!(sessions(&sim), (0, 0), "delete logs out");
    let v = s
        .gql(
            "{ vsphereConnections { id } vsphereVms(first: 1) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(v["data"]["vsphereConnections"], json!([]));
    assert_eq!(v["data"]["vsphereVms"]["totalCount"], 0);
    let v = s
        .gql(
            "mutation($id: ID!) { vsphereDeleteConnection(id: $id, version: 5) }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(code(&v).0, "NOT_FOUND", "{v}");

    // The audit log: who, what, which fields; never a value.
    let v = s
        .gql(
            "{ vsphereAuditLog(first: 10) { seq actor action connectionId fields } }",
            json!({}),
        )
        .await;
    let log = v["data"]["vsphereAuditLog"].as_array().expect("audit");
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["delete", "enable", "disable", "update", "update", "create"],
        "{v}"
    );
    assert!(log
        .iter()
        .all(|e| e["actor"] == "local operator" && e["connectionId"] == id));
    assert_eq!(log[3]["fields"], json!(["name"]));
    assert_eq!(
        log[4]["fields"],
        json!(["pollIntervalSeconds"]),
        "a masked password is not a change"
    );
    assert!(log[5]["fields"]
        .as_array()
        .unwrap()
        .contains(&json!("password")));

    let seen = s.stop().await;
    assert!(!seen.contains(MARKER), "a response carried the password");
    if let Some(file) = loc.sqlite_file() {
        for f in [file.clone(), file.with_extension("db-wal")] {
            if let Ok(bytes) = std::fs::read(&f) {
                assert!(
                    !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
                    "{} holds the password in clear",
                    f.display()
                );
            }
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn crud_matrix_on_sqlite() {
    on_sqlite(crud_matrix).await;
}

#[tokio::test]
async fn crud_matrix_on_postgres() {
    on_postgres(crud_matrix).await;
}

/// PostgreSQL going away while running: collecting and serving go on, onboarding changes fail
/// with `STORE_UNAVAILABLE`, the store's health says so, and everything works again once it is
/// back.
async fn store_going_away(loc: StoreLocation) {
    let StoreLocation::Postgres { url } = &loc else {
        return;
    };
    let mut proxied = url::Url::parse(url).expect("url");
    let target = format!(
        "{}:{}",
        proxied.host_str().unwrap(),
        proxied.port().unwrap_or(5432)
    );
    let target: std::net::SocketAddr = tokio::net::lookup_host(target)
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = common::proxy::Proxy::start(target).await;
    proxied.set_port(Some(proxy.addr.port())).unwrap();
    let loc = StoreLocation::Postgres {
        url: proxied.to_string(),
    };
    let sim = Simulator::start(sim_config()).await.expect("sim");
    let keys = common::backends::TempDir::new();
    let s = Server::start(&loc, &keys.0).await;
    let sim_url = url::Url::parse(&sim.base_url()).unwrap();
    let input = |name: &str| {
        json!({
            "name": name,
            "host": sim_url.host_str().unwrap(),
            "port": sim_url.port().unwrap(),
            "username": "monitor@vsphere.local",
            "password": MARKER,
            "tlsMode": "PINNED",
            "tlsThumbprint": sim.thumbprint(),
        })
    };
    let create =
        "mutation($i: VsphereConnectionInput!) { vsphereCreateConnection(input: $i) { id } }";
    let v = s.gql(create, json!({"i": input("Lab")})).await;
    let id = v["data"]["vsphereCreateConnection"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_string();
    until_state(&s, &id, "healthy").await;
    let store = "{ vsphereStore { backend ok lastErrorCode } }";
    assert_eq!(
        s.gql(store, json!({})).await["data"]["vsphereStore"]["ok"],
        true
    );

    proxy.cut();
    let v = s.gql(create, json!({"i": input("Second")})).await;
    assert_eq!(code(&v).0, "STORE_UNAVAILABLE", "{v}");
    let mut health = Value::Null;
    for _ in 0..200 {
        health = s.gql(store, json!({})).await["data"]["vsphereStore"].clone();
        if health["ok"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(health["ok"], false, "{health}");
    assert_eq!(health["backend"], "postgres");
    assert_eq!(health["lastErrorCode"], "store_unavailable");
    // The graph keeps serving the vCenter.
    let v = s
        .gql("{ vsphereVms(first: 1) { totalCount } }", json!({}))
        .await;
    assert!(
        v["data"]["vsphereVms"]["totalCount"].as_i64() > Some(0),
        "{v}"
    );
    assert_eq!(connection(&s, &id).await["state"], "healthy");

    proxy.restore();
    let mut created = Value::Null;
    for _ in 0..200 {
        created = s.gql(create, json!({"i": input("Second")})).await;
        if created["errors"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(created["errors"].is_null(), "back: {created}");
    assert_eq!(
        s.gql(store, json!({})).await["data"]["vsphereStore"]["ok"],
        true
    );
    let seen = s.stop().await;
    assert!(!seen.contains(MARKER));
    sim.shutdown().await;
}

#[tokio::test]
async fn postgres_going_away_keeps_serving_and_fails_changes_with_a_class() {
    on_postgres(store_going_away).await;
}
