//! The simulator's core behaviour over real HTTPS: sessions of both families, logout, idle
//! expiry, restart, session limit, releases, injected faults, the control API, certificate
//! rotation and the change engine.

mod common;

use std::time::Duration;

use pulse_vsphere::simulator::sessions::Family;
use pulse_vsphere::simulator::{ApiRelease, ApiType, Latency, Role, SimConfig, Simulator};
use serde_json::{json, Value};

async fn vim_login(c: &reqwest::Client, base: &str, user: &str, pw: &str) -> reqwest::Response {
    c.post(format!(
        "{base}/sdk/vim25/8.0.3.0/SessionManager/SessionManager/Login"
    ))
    .json(&json!({"userName": user, "password": pw}))
    .send()
    .await
    .expect("login request")
}

async fn vim_token(c: &reqwest::Client, base: &str) -> String {
    let r = vim_login(c, base, "admin", "admin").await;
    assert_eq!(r.status(), 200);
    r.headers()["vmware-api-session-id"]
        .to_str()
        .expect("header")
        .to_string()
}

async fn rest_token(c: &reqwest::Client, base: &str) -> String {
    let r = c
        .post(format!("{base}/api/session"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .expect("rest login");
    assert_eq!(r.status(), 201);
    r.json::<String>().await.expect("token string")
}

async fn current_session(c: &reqwest::Client, base: &str, token: &str) -> reqwest::Response {
    c.get(format!(
        "{base}/sdk/vim25/8.0.3.0/SessionManager/SessionManager/currentSession"
    ))
    .header("vmware-api-session-id", token)
    .send()
    .await
    .expect("currentSession")
}

#[tokio::test]
async fn service_content_is_anonymous_and_stable_per_seed() {
    let a = Simulator::start(SimConfig::small()).await.expect("sim");
    let b = Simulator::start(SimConfig::small()).await.expect("sim");
    let c = common::insecure_client();
    let content: Value = c
        .get(format!(
            "{}/sdk/vim25/8.0.3.0/ServiceInstance/ServiceInstance/content",
            a.base_url()
        ))
        .send()
        .await
        .expect("content")
        .json()
        .await
        .expect("json");
    assert_eq!(content["_typeName"], "ServiceContent");
    assert_eq!(content["rootFolder"]["value"], "group-d1");
    assert_eq!(content["about"]["apiType"], "VirtualCenter");
    assert_eq!(content["about"]["apiVersion"], "8.0.3.0");
    assert_eq!(content["about"]["instanceUuid"], a.instance_uuid());
    assert_eq!(
        a.instance_uuid(),
        b.instance_uuid(),
        "same seed, same instanceUuid"
    );
    let mut other = SimConfig::small();
    other.seed = 2;
    let d = Simulator::start(other).await.expect("sim");
    assert_ne!(a.instance_uuid(), d.instance_uuid());
}

#[tokio::test]
async fn vim_login_logout_and_wrong_password() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let c = common::insecure_client();
    let base = sim.base_url();
    let bad = vim_login(&c, &base, "admin", "nope").await;
    assert_eq!(bad.status(), 500);
    let fault: Value = bad.json().await.expect("fault");
    assert_eq!(fault["_typeName"], "InvalidLogin");

    let token = vim_token(&c, &base).await;
    let me: Value = current_session(&c, &base, &token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["_typeName"], "UserSession");
    assert_eq!(sim.stats().sessions.vim.active, 1);

    let out = c
        .post(format!(
            "{base}/sdk/vim25/8.0.3.0/SessionManager/SessionManager/Logout"
        ))
        .header("vmware-api-session-id", &token)
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 204);
    let stats = sim.stats();
    assert_eq!(stats.sessions.vim.active, 0);
    assert_eq!(stats.sessions.vim.deleted, 1);
    assert_eq!(stats.failed_logins.vim, 1);

    // After logout, an authenticated call is NotAuthenticated as HTTP 500, as vCenter sends it.
    let r = c
        .post(format!(
            "{base}/sdk/vim25/8.0.3.0/SessionManager/SessionManager/Logout"
        ))
        .header("vmware-api-session-id", &token)
        .send()
        .await
        .expect("logout again");
    assert_eq!(r.status(), 500);
    let f: Value = r.json().await.expect("fault");
    assert_eq!(f["_typeName"], "NotAuthenticated");
    // currentSession without a session is an empty answer, not a fault.
    assert_eq!(current_session(&c, &base, &token).await.status(), 204);
}

#[tokio::test]
async fn rest_session_lifecycle() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let c = common::insecure_client();
    let base = sim.base_url();
    let token = rest_token(&c, &base).await;
    let info: Value = c
        .get(format!("{base}/api/session"))
        .header("vmware-api-session-id", &token)
        .send()
        .await
        .expect("info")
        .json()
        .await
        .expect("json");
    assert!(info["user"].as_str().unwrap_or("").ends_with("admin"));
    let del = c
        .delete(format!("{base}/api/session"))
        .header("vmware-api-session-id", &token)
        .send()
        .await
        .expect("delete");
    assert_eq!(del.status(), 204);
    let again = c
        .get(format!("{base}/api/session"))
        .header("vmware-api-session-id", &token)
        .send()
        .await
        .expect("info");
    assert_eq!(again.status(), 401);
    let body: Value = again.json().await.expect("json");
    assert_eq!(body["error_type"], "UNAUTHENTICATED");
    let s = sim.stats();
    assert_eq!(
        (
            s.sessions.rest.created,
            s.sessions.rest.deleted,
            s.sessions.rest.active
        ),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn sessions_are_per_family() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let c = common::insecure_client();
    let rest = rest_token(&c, &sim.base_url()).await;
    let r = c
        .post(format!(
            "{}/sdk/vim25/8.0.3.0/SessionManager/SessionManager/Logout",
            sim.base_url()
        ))
        .header("vmware-api-session-id", &rest)
        .send()
        .await
        .expect("logout");
    assert_eq!(
        r.status(),
        500,
        "a REST token is not a VI JSON session here"
    );
}

#[tokio::test]
async fn idle_timeout_expire_now_and_restart_end_sessions() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let c = common::insecure_client();
    let base = sim.base_url();

    sim.control().set_idle_timeout(Duration::from_secs(1));
    let t = vim_token(&c, &base).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        current_session(&c, &base, &t).await.status(),
        204,
        "idle session ended"
    );
    assert_eq!(sim.stats().sessions.vim.expired, 1);
    sim.control().set_idle_timeout(Duration::from_secs(1800));

    let t = vim_token(&c, &base).await;
    let r = rest_token(&c, &base).await;
    sim.control().expire_sessions();
    assert_eq!(current_session(&c, &base, &t).await.status(), 204);
    let info = c
        .get(format!("{base}/api/session"))
        .header("vmware-api-session-id", &r)
        .send()
        .await
        .expect("info");
    assert_eq!(info.status(), 401);

    let _t = vim_token(&c, &base).await;
    sim.control().restart();
    let s = sim.stats();
    assert_eq!(s.sessions.vim.active, 0);
    assert_eq!(s.restarts, 1);
}

#[tokio::test]
async fn session_limit_answers_503_on_both_families() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let c = common::insecure_client();
    let base = sim.base_url();
    sim.control().set_session_limit(Some(1));
    let _one = vim_token(&c, &base).await;
    let two = vim_login(&c, &base, "admin", "admin").await;
    assert_eq!(two.status(), 503);
    let _r = rest_token(&c, &base).await;
    let r2 = c
        .post(format!("{base}/api/session"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .expect("login");
    assert_eq!(r2.status(), 503);
    let body: Value = r2.json().await.expect("json");
    assert_eq!(body["error_type"], "SERVICE_UNAVAILABLE");
}

#[tokio::test]
async fn release_7_has_no_vi_json_and_no_hello() {
    let mut cfg = SimConfig::small();
    cfg.api_release = ApiRelease::V7_0_3;
    let sim = Simulator::start(cfg).await.expect("sim");
    let c = common::insecure_client();
    let base = sim.base_url();
    let r = c
        .get(format!(
            "{base}/sdk/vim25/8.0.1.0/ServiceInstance/ServiceInstance/content"
        ))
        .send()
        .await
        .expect("content");
    assert_eq!(r.status(), 404);
    let hello = c
        .post(format!("{base}/api/vcenter/system?action=hello"))
        .json(&json!({"api_releases": ["8.0.3.0"]}))
        .send()
        .await
        .expect("hello");
    assert_eq!(hello.status(), 404);
    // REST still works.
    rest_token(&c, &base).await;
}

#[tokio::test]
async fn esxi_mode_answers_as_a_host_agent_without_the_rest_api() {
    let mut cfg = SimConfig::small();
    cfg.api_type = ApiType::HostAgent;
    let sim = Simulator::start(cfg).await.expect("sim");
    let c = common::insecure_client();
    let base = sim.base_url();
    let content: Value = c
        .get(format!(
            "{base}/sdk/vim25/8.0.3.0/ServiceInstance/ServiceInstance/content"
        ))
        .send()
        .await
        .expect("content")
        .json()
        .await
        .expect("json");
    let about = &content["about"];
    assert_eq!(about["apiType"], "HostAgent");
    assert_eq!(about["name"], "VMware ESXi");
    assert_eq!(about["productLineId"], "embeddedEsx");
    assert!(about["fullName"]
        .as_str()
        .is_some_and(|n| n.starts_with("VMware ESXi 8.0.3 build-")));
    assert!(about.get("instanceUuid").is_none(), "only vCenter has one");
    for (path, body) in [
        ("/api/session", json!({})),
        (
            "/api/vcenter/system?action=hello",
            json!({"api_releases": ["8.0.3.0"]}),
        ),
    ] {
        let r = c
            .post(format!("{base}{path}"))
            .basic_auth("admin", Some("admin"))
            .json(&body)
            .send()
            .await
            .expect("rest");
        assert_eq!(r.status(), 404, "{path}");
    }
    // Like a real host, it would take the password: refusing it is the client's job.
    vim_token(&c, &base).await;
}

#[tokio::test]
async fn an_unavailable_endpoint_answers_503_while_the_rest_answers() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let c = common::insecure_client();
    let base = sim.base_url();
    sim.control()
        .patch_faults(&json!({"unavailable_endpoints": ["rest:POST /api/session"]}))
        .expect("fault");
    let r = c
        .post(format!("{base}/api/session"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .expect("rest login");
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error_type"], "SERVICE_UNAVAILABLE");
    vim_token(&c, &base).await;
    sim.control()
        .patch_faults(&json!({"unavailable_endpoints": ["vim:SessionManager.Login"]}))
        .expect("fault");
    assert_eq!(vim_login(&c, &base, "admin", "admin").await.status(), 503);
    rest_token(&c, &base).await;
    let s = sim.stats();
    assert_eq!(s.requests["rest:POST /api/session"], 2);
    assert_eq!(s.requests["vim:SessionManager.Login"], 2);
}

#[tokio::test]
async fn hello_picks_the_newest_common_release() {
    let mut cfg = SimConfig::small();
    cfg.api_release = ApiRelease::V8_0_2;
    let sim = Simulator::start(cfg).await.expect("sim");
    let c = common::insecure_client();
    let base = sim.base_url();
    let ask = |releases: Value| {
        let c = c.clone();
        let url = format!("{base}/api/vcenter/system?action=hello");
        async move {
            c.post(url)
                .json(&json!({"api_releases": releases}))
                .send()
                .await
                .expect("hello")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    assert_eq!(
        ask(json!(["9.0.0.0", "8.0.3.0", "8.0.2.0", "8.0.1.0"])).await["api_release"],
        "8.0.2.0"
    );
    assert_eq!(ask(json!(["9.0.0.0"])).await["api_release"], "");
    // A release newer than the simulator is not served.
    let r = c
        .get(format!(
            "{base}/sdk/vim25/8.0.3.0/ServiceInstance/ServiceInstance/content"
        ))
        .send()
        .await
        .expect("content");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn injected_errors_latency_and_malformed_bodies() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let c = common::insecure_client();
    let base = sim.base_url();
    let content = format!("{base}/sdk/vim25/8.0.3.0/ServiceInstance/ServiceInstance/content");

    sim.control().set_error_rate(Family::Vim, 1.0);
    assert_eq!(c.get(&content).send().await.expect("req").status(), 503);
    sim.control().set_error_rate(Family::Vim, 0.0);

    sim.control().set_latency(
        Family::Vim,
        Latency {
            fixed_ms: 300,
            jitter_ms: 0,
        },
    );
    let started = std::time::Instant::now();
    assert_eq!(c.get(&content).send().await.expect("req").status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    sim.control().set_latency(Family::Vim, Latency::default());

    sim.control().set_malformed(Family::Vim, true);
    let body = c
        .get(&content)
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("text");
    assert!(
        serde_json::from_str::<Value>(&body).is_err(),
        "body must not parse: {body}"
    );
    sim.control().set_malformed(Family::Vim, false);

    let stats = sim.stats();
    assert_eq!(stats.requests["vim:GET ServiceInstance.content"], 3);
}

#[tokio::test]
async fn control_api_is_json_and_validates() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let c = common::insecure_client();
    let base = sim.base_url();
    let f: Value = c
        .post(format!("{base}/_sim/faults"))
        .json(&json!({"max_query_metrics": 64, "latency": {"rest": {"fixed_ms": 5}}}))
        .send()
        .await
        .expect("faults")
        .json()
        .await
        .expect("json");
    assert_eq!(f["max_query_metrics"], 64);
    assert_eq!(f["latency"]["rest"]["fixed_ms"], 5);
    assert_eq!(sim.control().faults().max_query_metrics, 64);
    let bad = c
        .post(format!("{base}/_sim/faults"))
        .json(&json!({"error_rate": {"vim": 7}}))
        .send()
        .await
        .expect("faults");
    assert_eq!(bad.status(), 400);
    assert_eq!(
        sim.control().faults().error_rate.vim,
        0.0,
        "nothing changed"
    );

    let inv: Value = c
        .get(format!("{base}/_sim/inventory"))
        .send()
        .await
        .expect("inventory")
        .json()
        .await
        .expect("json");
    assert_eq!(inv["by_type"]["HostSystem"], 4);
    assert_eq!(inv["by_type"]["VirtualMachine"], 40);
    assert_eq!(inv["instance_uuid"], sim.instance_uuid());

    let ch: Value = c
        .post(format!("{base}/_sim/changes"))
        .json(&json!({"count": 25}))
        .send()
        .await
        .expect("changes")
        .json()
        .await
        .expect("json");
    assert!(ch["applied"].as_u64().unwrap_or(0) > 0);
    let s: Value = c
        .get(format!("{base}/_sim/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert!(s["sessions"]["vim"]["active"].is_u64());
    assert_eq!(
        c.post(format!("{base}/_sim/restart"))
            .send()
            .await
            .expect("restart")
            .status(),
        204
    );
}

#[tokio::test]
async fn certificate_rotation_changes_the_thumbprint() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let before = sim.thumbprint();
    assert_eq!(before.len(), 32 * 3 - 1);
    let after = sim.control().rotate_certificate().expect("rotate");
    assert_ne!(before, after);
    assert_eq!(sim.thumbprint(), after);
    // The new certificate is served to new connections.
    let c = common::insecure_client();
    let r = c
        .get(format!(
            "{}/sdk/vim25/8.0.3.0/ServiceInstance/ServiceInstance/content",
            sim.base_url()
        ))
        .send()
        .await
        .expect("content");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn generated_inventory_has_the_profile_shape() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let counts = sim.control().inventory_counts();
    assert_eq!(counts.by_type["HostSystem"], 4);
    assert_eq!(counts.by_type["VirtualMachine"], 40);
    assert_eq!(counts.by_type["Datastore"], 4);
    assert_eq!(counts.by_type["ClusterComputeResource"], 1);
    assert_eq!(counts.by_type["ComputeResource"], 1);
    let state = sim.control().state().clone();
    let inv = state.inv();
    let mut tools_off = 0;
    let mut with_snapshots = 0;
    let mut alarmed = 0;
    for vm in inv.of_type("VirtualMachine") {
        let host = vm.moref_at("runtime.host").expect("placed on a host");
        assert!(inv
            .get(&host.value)
            .expect("host")
            .morefs_at("vm")
            .contains(&vm.moref));
        for ds in vm.morefs_at("datastore") {
            assert!(inv
                .get(&ds.value)
                .expect("ds")
                .morefs_at("vm")
                .contains(&vm.moref));
        }
        if vm
            .get_path("guest.toolsRunningStatus")
            .and_then(Value::as_str)
            != Some("guestToolsRunning")
        {
            tools_off += 1;
        }
        with_snapshots += usize::from(vm.get_path("snapshot").is_some());
        alarmed += usize::from(
            !vm.get_path("triggeredAlarmState")
                .and_then(Value::as_array)
                .expect("array")
                .is_empty(),
        );
    }
    assert!(
        tools_off > 0 && tools_off < 40,
        "Tools running for most, not all: {tools_off}"
    );
    assert!(with_snapshots > 0);
    assert!(alarmed > 0);
    for ds in inv.of_type("Datastore") {
        let mounts = ds
            .get_path("host")
            .and_then(Value::as_array)
            .expect("mounts");
        assert!(!mounts.is_empty());
        assert_eq!(mounts[0]["_typeName"], "DatastoreHostMount");
    }
    assert!(!inv.tagging.tags.is_empty());
}

#[tokio::test]
async fn targeted_changes_are_recorded_with_events_and_tasks() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let ctl = sim.control();
    let state = ctl.state().clone();
    let (vm, host, version, events, tasks) = {
        let inv = state.inv();
        let vm = inv.ids_of("VirtualMachine")[0].clone();
        let host = inv.ids_of("HostSystem")[0].clone();
        (vm, host, inv.version, inv.events.len(), inv.tasks.len())
    };
    assert!(ctl.set_vm_power(&vm, "poweredOff"));
    // alarm-1 is "Host connection and power state"; start from green so the raise is a change.
    ctl.set_alarm(&host, "alarm-1", "green");
    assert!(ctl.disconnect_host(&host));
    assert!(ctl.take_snapshot(&vm, "nightly"));
    assert!(ctl.rename(&vm, "renamed-vm"));
    let inv = state.inv();
    let obj = inv.get(&vm).expect("vm");
    assert_eq!(
        obj.get_path("runtime.powerState"),
        Some(&json!("poweredOff"))
    );
    assert_eq!(obj.name(), "renamed-vm");
    let h = inv.get(&host).expect("host");
    assert_eq!(
        h.get_path("runtime.connectionState"),
        Some(&json!("notResponding"))
    );
    assert_eq!(h.get_path("overallStatus"), Some(&json!("red")));
    for v in h.morefs_at("vm") {
        let o = inv.get(&v.value).expect("vm");
        assert_eq!(
            o.get_path("runtime.connectionState"),
            Some(&json!("disconnected"))
        );
    }
    assert!(inv.version > version);
    let types: Vec<&str> = inv
        .events
        .iter()
        .skip(events)
        .filter_map(|e| e["_typeName"].as_str())
        .collect();
    assert!(types.contains(&"VmPoweredOffEvent"), "{types:?}");
    assert!(types.contains(&"HostNotRespondingEvent"));
    assert!(types.contains(&"AlarmStatusChangedEvent"));
    assert!(types.contains(&"EntityRenamedEvent"));
    assert!(inv.tasks.len() > tasks);
    let changed: Vec<&str> = inv
        .changes_since(version)
        .expect("log reaches back")
        .map(|c| c.moref.value.as_str())
        .collect();
    assert!(changed.contains(&vm.as_str()) && changed.contains(&host.as_str()));
}

#[tokio::test]
async fn change_engine_runs_at_the_configured_rate() {
    let mut cfg = SimConfig::small();
    cfg.change_rate = 50.0;
    let sim = Simulator::start(cfg).await.expect("sim");
    let v0 = sim.control().inventory_counts().version;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let v1 = sim.control().inventory_counts().version;
    assert!(
        v1 > v0,
        "the change engine moved the inventory ({v0} -> {v1})"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn users_and_roles_parse() {
    let u: pulse_vsphere::simulator::SimUser = "ro:pw:readonly".parse().expect("user");
    assert_eq!(u.role, Role::Readonly);
    assert!("bad".parse::<pulse_vsphere::simulator::SimUser>().is_err());
    assert!("x:y:superuser"
        .parse::<pulse_vsphere::simulator::SimUser>()
        .is_err());
    let cfg = SimConfig::small().user("ro", "pw", Role::Readonly);
    let sim = Simulator::start(cfg).await.expect("sim");
    let c = common::insecure_client();
    assert_eq!(
        vim_login(&c, &sim.base_url(), "RO", "pw").await.status(),
        200,
        "names are case-insensitive"
    );
}
