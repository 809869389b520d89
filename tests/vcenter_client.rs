//! The vCenter client against the simulator over HTTPS: release negotiation, sessions, every
//! failure class from a real cause, re-login, single-flight login, restart, logout, backoff.

mod common;

use std::sync::Arc;
use std::time::Duration;

use pulse_vsphere::simulator::sessions::Family;
use pulse_vsphere::simulator::{ApiRelease, ApiType, Latency, Role, SimConfig, Simulator};
use pulse_vsphere::vcenter::reads::{events, perf, privileges, properties, updates::ChangeFeed};
use pulse_vsphere::vcenter::session::ManualClock;
use pulse_vsphere::vcenter::{FailureClass, Idempotency, MoRef, Secret, TlsMode, VcClient};
use serde_json::Value;

fn client(sim: &Simulator, user: &str, pw: &str) -> VcClient {
    VcClient::new(common::client_config(sim, user, pw)).expect("client")
}

async fn vm_count(c: &VcClient) -> Result<usize, pulse_vsphere::vcenter::VcError> {
    properties::retrieve_all(c, &[("VirtualMachine", &["name"])], 100)
        .await
        .map(|v| v.len())
}

#[tokio::test]
async fn reads_every_floor_surface_and_logs_out() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let c = client(&sim, "admin", "admin");
    let n = c.negotiate().await.expect("negotiate");
    assert_eq!(n.release, "8.0.3.0");
    assert_eq!(
        n.content.about.instance_uuid.as_deref(),
        Some(sim.instance_uuid().as_str())
    );
    c.login().await.expect("login");
    let counts = sim.control().inventory_counts();
    assert_eq!(
        vm_count(&c).await.expect("vms"),
        counts.by_type["VirtualMachine"]
    );
    // Paging with a small page still sees each object once.
    let hosts = properties::retrieve_all(
        &c,
        &[("HostSystem", &["name", "runtime.connectionState"])],
        1,
    )
    .await
    .expect("hosts");
    assert_eq!(hosts.len(), counts.by_type["HostSystem"]);
    assert!(privileges::missing_privileges(&c)
        .await
        .expect("privs")
        .is_empty());
    let ids = perf::counter_ids(&c).await.expect("counters");
    assert!(ids.contains_key("cpu.usage.average"));
    assert_eq!(perf::max_query_metrics(&c).await, Some(256));
    let ev = events::events_since(&c, None, None, 50, events::Keep::Newest)
        .await
        .expect("events");
    assert!(!ev.is_empty());
    assert!(ev.windows(2).all(|w| w[0].key < w[1].key));
    let newest = ev.last().map(|e| e.key);
    assert!(
        events::events_since(&c, newest, None, 50, events::Keep::Oldest)
            .await
            .expect("none newer")
            .is_empty()
    );
    events::recent_tasks(&c).await.expect("tasks");
    assert!(!pulse_vsphere::vcenter::reads::alarms::alarm_names(&c)
        .await
        .expect("alarms")
        .is_empty());
    let v = pulse_vsphere::vcenter::reads::guest::appliance_version(&c)
        .await
        .expect("version")
        .expect("body");
    assert!(v.version.starts_with("8.0.3"));
    let stats = sim.stats();
    assert_eq!(
        stats.event_collectors, 0,
        "history collectors are destroyed"
    );
    assert_eq!(stats.views, 0, "views are destroyed");
    c.logout().await;
    let s = sim.stats();
    assert_eq!((s.sessions.vim.active, s.sessions.rest.active), (0, 0));
}

#[tokio::test]
async fn each_failure_class_from_a_real_cause() {
    let sim = Simulator::start(SimConfig::small().user("nobody", "x", Role::None))
        .await
        .expect("sim");
    let class = |r: Result<(), pulse_vsphere::vcenter::VcError>| r.expect_err("must fail").class;

    // Closed port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let cfg = pulse_vsphere::vcenter::ClientConfig::new(
        &format!("https://127.0.0.1:{port}"),
        "a",
        Secret::new("b"),
        TlsMode::Insecure,
    );
    assert_eq!(
        class(VcClient::new(cfg).unwrap().login().await),
        FailureClass::EndpointUnreachable
    );
    // Unresolvable host.
    let cfg = pulse_vsphere::vcenter::ClientConfig::new(
        "https://vcenter.invalid",
        "a",
        Secret::new("b"),
        TlsMode::Insecure,
    );
    let e = VcClient::new(cfg).unwrap().login().await.expect_err("dns");
    assert_eq!(e.class, FailureClass::EndpointUnreachable, "{e}");
    // Self-signed certificate not trusted by the system store: the thumbprint is reported.
    let cfg = pulse_vsphere::vcenter::ClientConfig::new(
        &sim.base_url(),
        "admin",
        Secret::new("admin"),
        TlsMode::System,
    );
    let e = VcClient::new(cfg)
        .unwrap()
        .login()
        .await
        .expect_err("untrusted");
    assert_eq!(e.class, FailureClass::TlsValidationFailed, "{e}");
    assert_eq!(
        e.presented_thumbprint.as_deref(),
        Some(sim.thumbprint().as_str())
    );
    assert!(e.to_string().contains(&sim.thumbprint()), "{e}");
    // Pin mismatch.
    let wrong = "AB:".repeat(31) + "AB";
    let cfg = pulse_vsphere::vcenter::ClientConfig::new(
        &sim.base_url(),
        "admin",
        Secret::new("admin"),
        TlsMode::Thumbprint(wrong),
    );
    let e = VcClient::new(cfg).unwrap().login().await.expect_err("pin");
    assert_eq!(e.class, FailureClass::TlsValidationFailed);
    assert!(e.message.contains("does not match the pinned"), "{e}");
    // The simulator's own CA file works.
    let cfg = pulse_vsphere::vcenter::ClientConfig::new(
        &sim.base_url().replace("127.0.0.1", "localhost"),
        "admin",
        Secret::new("admin"),
        TlsMode::CaPem(sim.cert_pem()),
    );
    let c = VcClient::new(cfg).unwrap();
    c.login().await.expect("custom CA");
    c.logout().await;
    // Wrong password: a clear message and never the password.
    let e = client(&sim, "admin", "s3cret-wrong")
        .login()
        .await
        .expect_err("auth");
    assert_eq!(e.class, FailureClass::AuthInvalid);
    assert!(e.message.contains("rejected the user name or password"));
    assert!(!format!("{e} {e:?}").contains("s3cret-wrong"));
    // A user who may read nothing logs in but lacks the phase-1 privileges.
    let c = client(&sim, "nobody", "x");
    c.login().await.expect("login works");
    let missing = privileges::missing_privileges(&c).await.expect("privs");
    assert!(missing.contains(&"System.Read".to_string()));
    let e = vm_count(&c).await.map(|_| ());
    // Objects it may not read are simply absent, or the view itself is refused.
    if let Err(e) = e {
        assert_eq!(e.class, FailureClass::PermissionDenied);
    }
    c.logout().await;
    // Session limit: 503 on login.
    sim.control().set_session_limit(Some(0));
    assert_eq!(
        class(client(&sim, "admin", "admin").login().await),
        FailureClass::VcenterUnavailable
    );
    sim.control().set_session_limit(None);
    // A vCenter fault the client has no class for: `unknown`, with the fault named.
    sim.control()
        .patch_faults(
            &serde_json::json!({"failing_methods": ["EventManager.CreateCollectorForEvents"]}),
        )
        .expect("fault");
    let c = client(&sim, "admin", "admin");
    let e = events::events_since(&c, None, None, 5, events::Keep::Newest)
        .await
        .expect_err("failing service");
    assert_eq!(
        (e.class, e.fault.as_deref()),
        (FailureClass::Unknown, Some("SystemError")),
        "{e}"
    );
    c.logout().await;
    sim.control()
        .patch_faults(&serde_json::json!({"failing_methods": []}))
        .expect("fault");
    // vCenter's own limits are their own class, naming the limit: 32 history collectors per
    // session, then one more; a historical query over `maxQueryMetrics`.
    let c = client(&sim, "admin", "admin");
    let em = c.negotiate().await.expect("negotiate").content.events();
    for _ in 0..32 {
        c.vim_post::<Value>(
            &em,
            "CreateCollectorForEvents",
            Some(serde_json::json!({"filter": {"_typeName": "EventFilterSpec"}})),
            Idempotency::Once,
        )
        .await
        .expect("collector");
    }
    let e = events::events_since(&c, None, None, 5, events::Keep::Newest)
        .await
        .expect_err("33rd collector");
    assert_eq!(e.class, FailureClass::VcenterLimit, "{e}");
    assert!(e.message.contains("EventManager.maxCollector"), "{e}");
    sim.control().set_max_query_metrics(1);
    let pm = c.negotiate().await.expect("negotiate").content.perf();
    let host = sim
        .control()
        .state()
        .inv()
        .of_type("HostSystem")
        .next()
        .map(|h| MoRef::new("HostSystem", &h.moref.value))
        .expect("a host");
    let specs: Vec<Value> = (0..2)
        .map(|_| serde_json::json!({"_typeName": "PerfQuerySpec", "entity": host, "intervalId": 300, "maxSample": 1}))
        .collect();
    let e = c
        .vim_post::<Value>(
            &pm,
            "QueryPerf",
            Some(serde_json::json!({"querySpec": specs})),
            Idempotency::Read,
        )
        .await
        .expect_err("over maxQueryMetrics");
    assert_eq!(e.class, FailureClass::VcenterLimit, "{e}");
    assert!(
        e.message.contains("config.vpxd.stats.maxQueryMetrics"),
        "{e}"
    );
    sim.control().set_max_query_metrics(256);
    // A REST list over its cap (`too_many_matches`, 4,000 VMs on vCenter; 5 here).
    sim.control()
        .patch_faults(&serde_json::json!({"rest_list_cap": 5}))
        .expect("cap");
    let e = c
        .rest_get::<Value>("/api/vcenter/vm")
        .await
        .expect_err("over the cap");
    assert_eq!(e.class, FailureClass::VcenterLimit, "{e}");
    assert_eq!(
        e.fault.as_deref(),
        Some("UNABLE_TO_ALLOCATE_RESOURCE"),
        "{e}"
    );
    sim.control()
        .patch_faults(&serde_json::json!({"rest_list_cap": null}))
        .expect("cap");
    c.logout().await;
    // Malformed JSON.
    let c = client(&sim, "admin", "admin");
    c.login().await.expect("login");
    sim.control().set_malformed(Family::Vim, true);
    assert_eq!(
        class(vm_count(&c).await.map(|_| ())),
        FailureClass::ProtocolError
    );
    sim.control().set_malformed(Family::Vim, false);
    // A host that takes the TCP connection but never answers the TLS handshake: the connect
    // timeout fires, and that is "cannot reach vCenter", not a slow answer.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut cfg = pulse_vsphere::vcenter::ClientConfig::new(
        &format!("https://{}", silent.local_addr().expect("addr")),
        "admin",
        Secret::new("admin"),
        TlsMode::Insecure,
    );
    cfg.timeouts.connect = Duration::from_millis(300);
    let e = VcClient::new(cfg)
        .unwrap()
        .login()
        .await
        .expect_err("silent host");
    assert_eq!(e.class, FailureClass::EndpointUnreachable, "{e}");
    drop(silent);
    // Timeouts.
    let mut cfg = common::client_config(&sim, "admin", "admin");
    cfg.timeouts.request = Duration::from_millis(300);
    cfg.read_retries = 0;
    let slow = VcClient::new(cfg).unwrap();
    slow.login().await.expect("login");
    sim.control().set_latency(
        Family::Vim,
        Latency {
            fixed_ms: 1500,
            jitter_ms: 0,
        },
    );
    assert_eq!(
        class(vm_count(&slow).await.map(|_| ())),
        FailureClass::Timeout
    );
    sim.control().set_latency(Family::Vim, Latency::default());
    c.logout().await;
    slow.logout().await;
}

#[tokio::test]
async fn version_floor_and_negotiation() {
    let old = Simulator::start(SimConfig {
        api_release: ApiRelease::V7_0_3,
        ..SimConfig::small()
    })
    .await
    .expect("sim");
    let e = client(&old, "admin", "admin")
        .login()
        .await
        .expect_err("7.0.3");
    assert_eq!(e.class, FailureClass::UnsupportedVersionFloor);
    let u1 = Simulator::start(SimConfig {
        api_release: ApiRelease::V8_0_1,
        ..SimConfig::small()
    })
    .await
    .expect("sim");
    let c = client(&u1, "admin", "admin");
    assert_eq!(c.negotiate().await.expect("8.0.1").release, "8.0.1.0");
}

#[tokio::test]
async fn expiry_relogs_in_once_even_for_100_concurrent_reads() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let c = client(&sim, "admin", "admin");
    c.login().await.expect("login");
    let before = sim.stats();
    sim.control().expire_sessions();
    let root = MoRef::new("Folder", "group-d1");
    let reads = (0..100).map(|_| {
        let c = c.clone();
        let root = root.clone();
        async move { c.vim_get::<Value>(&root, "name").await }
    });
    let results = futures::future::join_all(reads).await;
    assert!(results.iter().all(Result::is_ok));
    let rests = (0..100).map(|_| {
        let c = c.clone();
        async move { c.rest_get::<Value>("/api/appliance/system/version").await }
    });
    assert!(futures::future::join_all(rests)
        .await
        .iter()
        .all(Result::is_ok));
    let after = sim.stats();
    assert_eq!(after.sessions.vim.created - before.sessions.vim.created, 1);
    assert_eq!(
        after.sessions.rest.created - before.sessions.rest.created,
        1
    );
    c.logout().await;
}

#[tokio::test]
async fn restart_loses_session_objects_and_drop_logs_out() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let c = client(&sim, "admin", "admin");
    c.login().await.expect("login");
    let view = properties::create_view(&c, &["VirtualMachine"])
        .await
        .expect("view");
    let feed = ChangeFeed::create(
        &c,
        properties::view_filter_spec(&view, &[("VirtualMachine", &["name"])]),
    )
    .await
    .expect("feed");
    assert!(feed.is_current(&c));
    sim.control().restart();
    // The next read logs in again transparently ...
    assert!(vm_count(&c).await.is_ok());
    // ... and everything from the old session is reported lost.
    assert!(!feed.is_current(&c));
    let e = feed
        .wait(&c, "", Duration::from_secs(1), 10)
        .await
        .expect_err("gone");
    assert!(e.is_object_gone(), "{e:?}");
    feed.destroy(&c).await;
    drop(c);
    assert!(
        common::eventually(5, || {
            let s = sim.stats();
            s.sessions.vim.active == 0 && s.sessions.rest.active == 0
        })
        .await
    );
}

#[tokio::test]
async fn keepalive_outlives_the_idle_timeout() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    sim.control().set_idle_timeout(Duration::from_secs(3));
    let mut cfg = common::client_config(&sim, "admin", "admin");
    cfg.keepalive = Duration::from_millis(500);
    let c = VcClient::new(cfg).unwrap();
    c.login().await.expect("login");
    tokio::time::sleep(Duration::from_secs(7)).await;
    let s = sim.stats();
    assert_eq!((s.sessions.vim.created, s.sessions.rest.created), (1, 1));
    assert_eq!((s.sessions.vim.expired, s.sessions.rest.expired), (0, 0));
    c.logout().await;
}

#[tokio::test]
async fn wrong_password_for_ten_simulated_minutes_stays_under_the_bound() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let clock = Arc::new(ManualClock::default());
    let c =
        VcClient::with_clock(common::client_config(&sim, "admin", "wrong"), clock.clone()).unwrap();
    // A poll every 10 s for 10 minutes.
    for _ in 0..60 {
        let e = c.login().await.expect_err("wrong password");
        assert_eq!(e.class, FailureClass::AuthInvalid);
        clock.advance(Duration::from_secs(10));
    }
    let attempts = sim.stats().login_attempts.vim;
    // Documented bound (docs/vcenter-client.md): 1 + 1 min + 2 + 4 min backoff -> 4 in 10 min.
    assert!(attempts <= 4, "{attempts} login attempts");
    assert_eq!(c.login_attempts().0, attempts);
}

#[tokio::test]
async fn perf_batches_halve_when_vcenter_refuses() {
    let sim = Simulator::start(SimConfig::small().user("np", "np", Role::Noperf))
        .await
        .expect("sim");
    let c = client(&sim, "admin", "admin");
    let ids = perf::counter_ids(&c).await.expect("counters");
    let counters: Vec<i64> = [
        "cpu.usage.average",
        "mem.usage.average",
        "net.usage.average",
        "disk.usage.average",
    ]
    .iter()
    .map(|n| ids[*n])
    .collect();
    // Running VMs: vCenter keeps no realtime samples of one that is off.
    let vms: Vec<String> = sim
        .control()
        .state()
        .inv()
        .of_type("VirtualMachine")
        .filter(|o| {
            o.get_path("runtime.powerState")
                .and_then(serde_json::Value::as_str)
                == Some("poweredOn")
        })
        .map(|o| o.moref.value.clone())
        .collect();
    let reqs: Vec<perf::PerfRequest> = vms
        .iter()
        .take(6)
        .map(|v| perf::PerfRequest {
            entity: MoRef::new("VirtualMachine", v),
            counters: counters.clone(),
        })
        .collect();
    sim.control().set_max_query_metrics(3);
    // The client believes there is no limit: vCenter refuses and the batches are halved.
    let before = c.stats().count("PerformanceManager.QueryPerf");
    let r = perf::query(&c, &reqs, 300, 2, None).await.expect("halved");
    assert_eq!(r.len(), 6 * 2, "each entity in two halves of 2 counters");
    assert!(r
        .iter()
        .all(|m| m.value.iter().all(|s| s.values().len() == 2)));
    assert!(c.stats().count("PerformanceManager.QueryPerf") - before > 6);
    // With the limit read from vCenter, no call is refused.
    let limit = perf::max_query_metrics(&c).await;
    assert_eq!(limit, Some(3));
    let r = perf::query(&c, &reqs, 300, 1, limit)
        .await
        .expect("planned");
    assert_eq!(r.iter().map(|m| m.value.len()).sum::<usize>(), 24);
    let refused: u64 = c
        .stats()
        .snapshot()
        .iter()
        .filter(|((_, call, status), _)| call == "PerformanceManager.QueryPerf" && *status == 500)
        .map(|(_, (n, _))| n)
        .sum();
    let realtime = perf::query(&c, &reqs, perf::REALTIME, 3, limit)
        .await
        .expect("realtime");
    assert_eq!(realtime.len(), 6);
    assert_eq!(
        refused,
        c.stats()
            .snapshot()
            .iter()
            .filter(
                |((_, call, status), _)| call == "PerformanceManager.QueryPerf" && *status == 500
            )
            .map(|(_, (n, _))| n)
            .sum::<u64>()
    );
    // The noperf user: permission denied, not a crash.
    let np = client(&sim, "np", "np");
    let e = perf::query(&np, &reqs, perf::REALTIME, 1, limit)
        .await
        .expect_err("noperf");
    assert_eq!(e.class, FailureClass::PermissionDenied);
    c.logout().await;
    np.logout().await;
}

#[tokio::test]
async fn no_login_path_sends_the_password_to_an_esxi_host() {
    let host = Simulator::start(SimConfig {
        api_type: ApiType::HostAgent,
        ..SimConfig::small()
    })
    .await
    .expect("sim");
    let c = client(&host, "admin", "admin");
    let n = c
        .negotiate()
        .await
        .expect("an ESXi host negotiates like vCenter");
    assert_eq!(n.content.about.api_type, "HostAgent");
    assert_eq!(n.content.about.name, "VMware ESXi");
    assert_eq!(n.content.about.instance_uuid, None);
    let e = c.login().await.expect_err("ESXi");
    assert_eq!(e.class, FailureClass::Phase1FloorUnmet, "{e}");
    // Reads log in on demand; they must stop at the same check.
    let e = c
        .rest_get::<Value>("/api/appliance/system/version")
        .await
        .expect_err("REST read");
    assert_eq!(e.class, FailureClass::Phase1FloorUnmet, "{e}");
    let e = vm_count(&c).await.expect_err("VI JSON read");
    assert_eq!(e.class, FailureClass::Phase1FloorUnmet, "{e}");
    let s = host.stats();
    assert_eq!((s.login_attempts.vim, s.login_attempts.rest), (0, 0));
}

#[tokio::test]
async fn two_connections_with_the_same_wrong_password_share_one_backoff() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let clock = Arc::new(ManualClock::default());
    // Two saved connections to one vCenter, one user, one wrong password.
    let a =
        VcClient::with_clock(common::client_config(&sim, "admin", "wrong"), clock.clone()).unwrap();
    let b =
        VcClient::with_clock(common::client_config(&sim, "ADMIN", "wrong"), clock.clone()).unwrap();
    // Each polls every 10 s for an hour, on both families.
    for _ in 0..360 {
        for c in [&a, &b] {
            let _ = c.login_vim().await;
            let _ = c.login_rest().await;
        }
        clock.advance(Duration::from_secs(10));
    }
    let s = sim.stats();
    let failed = s.failed_logins.vim + s.failed_logins.rest;
    // One backoff for the user, not one per connection and family: at most 6 rejected logins
    // in the hour, under SSO's default lockout of 5 in any few minutes.
    assert!(failed <= 6, "{failed} rejected logins in an hour");
}

#[tokio::test]
async fn a_cleanup_vcenter_did_not_answer_is_done_later_in_the_same_session() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let c = client(&sim, "admin", "admin");
    let view = properties::create_view(&c, &["VirtualMachine"])
        .await
        .expect("view");
    assert_eq!(sim.stats().views, 1);
    // Every destroy answered 503: the view stays on vCenter, and the client remembers it.
    sim.control().set_error_rate(Family::Vim, 1.0);
    properties::destroy_view(&c, &view).await;
    assert_eq!(sim.stats().views, 1);
    assert_eq!(c.unfreed_count(), 1);
    // vCenter answers again: the keep-alive frees it.
    sim.control().set_error_rate(Family::Vim, 0.0);
    c.keepalive().await;
    assert_eq!((sim.stats().views, c.unfreed_count()), (0, 0));
    // An object of a session that ended is gone with it and never sent to the next session.
    let view = properties::create_view(&c, &["VirtualMachine"])
        .await
        .expect("view");
    sim.control().set_error_rate(Family::Vim, 1.0);
    properties::destroy_view(&c, &view).await;
    assert_eq!(c.unfreed_count(), 1);
    sim.control().set_error_rate(Family::Vim, 0.0);
    sim.control().expire_sessions();
    let destroys = || {
        sim.stats()
            .requests
            .get("vim:ContainerView.DestroyView")
            .copied()
            .unwrap_or(0)
    };
    let before = destroys();
    // A read in the new session destroys its own view, and only that one.
    properties::retrieve_first(&c, "HostSystem", &["name"], 1)
        .await
        .expect("read");
    assert_eq!(c.unfreed_count(), 0);
    assert_eq!(destroys() - before, 1, "the old session's view is not sent");
    assert_eq!(sim.stats().views, 0);
    c.logout().await;
}

/// A simulator claiming `release`, with or without `hello`, answering unknown VI JSON releases
/// with `unknown_status`.
async fn vcenter(release: ApiRelease, hello: bool, unknown_status: u16) -> Simulator {
    Simulator::start(SimConfig {
        api_release: release,
        hello,
        unknown_release_status: unknown_status,
        ..SimConfig::small()
    })
    .await
    .expect("sim")
}

#[tokio::test]
async fn version_drift_negotiates_or_fails_cleanly() {
    // vCenter 6.7: `/api` is vAPI JSON-RPC (HTTP 500 with a JSON-RPC error), no VI JSON.
    let v67 = vcenter(ApiRelease::V6_7, true, 404).await;
    let http = common::insecure_client();
    let r = http
        .post(format!(
            "{}/api/vcenter/system?action=hello",
            v67.base_url()
        ))
        .json(&serde_json::json!({"api_releases": ["8.0.3.0"]}))
        .send()
        .await
        .expect("hello");
    assert_eq!(r.status(), 500);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["jsonrpc"], "2.0");
    for (sim, name) in [(&v67, "6.7")] {
        let c = client(sim, "admin", "admin");
        let e = c.negotiate().await.expect_err(name);
        assert_eq!(
            e.class,
            FailureClass::UnsupportedVersionFloor,
            "{name}: {e}"
        );
        let e = c.login().await.expect_err(name);
        assert_eq!(
            e.class,
            FailureClass::UnsupportedVersionFloor,
            "{name}: {e}"
        );
    }
    v67.shutdown().await;
    let v703 = vcenter(ApiRelease::V7_0_3, true, 404).await;
    let e = client(&v703, "admin", "admin")
        .negotiate()
        .await
        .expect_err("7.0.3");
    assert_eq!(e.class, FailureClass::UnsupportedVersionFloor);
    v703.shutdown().await;

    // 8.0.3 answering a 9.0 probe with 500 instead of 404, with and without `hello`.
    for hello in [true, false] {
        let sim = vcenter(ApiRelease::V8_0_3, hello, 500).await;
        let r = http
            .get(format!(
                "{}/sdk/vim25/9.0.0.0/ServiceInstance/ServiceInstance/content",
                sim.base_url()
            ))
            .send()
            .await
            .expect("probe");
        assert_eq!(r.status(), 500, "the 9.0 probe");
        let c = client(&sim, "admin", "admin");
        assert_eq!(
            c.negotiate().await.expect("8.0.3").release,
            "8.0.3.0",
            "hello {hello}"
        );
        c.login().await.expect("login");
        assert!(vm_count(&c).await.expect("vms") > 0);
        c.logout().await;
        sim.shutdown().await;
    }

    // 9.0 and 9.1 each negotiate their own release, with and without `hello`.
    for (release, want) in [
        (ApiRelease::V9_0_0, "9.0.0.0"),
        (ApiRelease::V9_1_0, "9.1.0.0"),
    ] {
        for hello in [true, false] {
            let sim = vcenter(release, hello, 404).await;
            let c = client(&sim, "admin", "admin");
            let n = c.negotiate().await.expect("negotiated");
            assert_eq!(n.release, want, "{release:?} hello {hello}");
            assert_eq!(n.content.about.api_version, release.as_str());
            c.login().await.expect("login");
            assert!(vm_count(&c).await.expect("vms") > 0);
            c.logout().await;
            sim.shutdown().await;
        }
    }
}
