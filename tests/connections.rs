//! The connection registry against simulators over HTTPS: connections added, renamed, given new
//! credentials, disabled, re-pointed and removed while the process runs, with the simulator
//! counting sessions throughout.

mod common;

use std::sync::Arc;
use std::time::Duration;

use pulse_vsphere::collector::CollectorConfig;
use pulse_vsphere::connections::{
    ConnectionSpec, Registry, RegistryError, SavedConnection, Source, TlsSetting,
};
use pulse_vsphere::inventory::ConnectionState;
use pulse_vsphere::simulator::{Role, SimConfig, SimUser, Simulator};

fn fast() -> CollectorConfig {
    CollectorConfig {
        wait: Duration::from_secs(1),
        publish_every: Duration::from_millis(50),
        events_every: Duration::from_millis(500),
        metrics_every: Duration::from_secs(1),
        metadata_every: Duration::from_secs(600),
        sessions_every: Duration::from_secs(1),
        ..CollectorConfig::default()
    }
}

fn spec(sim: &Simulator, id: &str, user: &str, pw: &str) -> ConnectionSpec {
    let url = url::Url::parse(&sim.base_url()).expect("url");
    ConnectionSpec {
        saved: SavedConnection {
            id: id.into(),
            name: format!("{id} vCenter"),
            host: url.host_str().unwrap().into(),
            port: url.port().unwrap(),
            username: user.into(),
            password_set: true,
            enabled: true,
            poll_interval_secs: 20,
            tls: TlsSetting::Pinned(sim.thumbprint()),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            version: 1,
        },
        source: Source::Api,
        client: Ok(common::client_config(sim, user, pw)),
    }
}

/// Active sessions on the simulator: (VI JSON, REST).
fn sessions(sim: &Simulator) -> (u64, u64) {
    let s = sim.stats().sessions;
    (s.vim.active, s.rest.active)
}

async fn synced(reg: &Registry, id: &str, sim: &Simulator) -> bool {
    let vms = sim.control().inventory_counts().by_type["VirtualMachine"];
    common::eventually(60, || {
        reg.slot(id)
            .and_then(|s| s.snapshot())
            .is_some_and(|s| s.vms.len() == vms)
    })
    .await
}

#[tokio::test]
async fn connections_change_at_run_time_and_hold_one_session_per_family() {
    let mut cfg = SimConfig::small();
    cfg.users = vec![
        SimUser {
            name: "admin".into(),
            password: "admin".into(),
            role: Role::Admin,
        },
        SimUser {
            name: "monitor".into(),
            password: "second-pw".into(),
            role: Role::Readonly,
        },
    ];
    let sim = Simulator::start(cfg).await.expect("sim");
    let reg = Registry::new(fast());
    reg.add(spec(&sim, "lab", "admin", "admin"))
        .await
        .expect("added");
    assert!(matches!(
        reg.add(spec(&sim, "lab", "admin", "admin")).await,
        Err(RegistryError::Exists(_))
    ));
    assert!(synced(&reg, "lab", &sim).await, "first sync");
    assert_eq!(sessions(&sim), (1, 1));
    let slot = reg.slot("lab").expect("slot");
    let first = slot.snapshot().expect("snapshot");

    // A rename keeps the sessions: no login, no logout.
    let logins = sim.stats().login_attempts;
    let mut renamed = spec(&sim, "lab", "admin", "admin");
    renamed.saved.name = "Lab (renamed)".into();
    reg.update(renamed).await.expect("renamed");
    assert_eq!(slot.name().as_str(), "Lab (renamed)");
    assert_eq!(reg.get("lab").unwrap().spec().saved.name, "Lab (renamed)");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sim.stats().login_attempts,
        logins,
        "a rename logs nothing in"
    );
    assert_eq!(sessions(&sim), (1, 1));

    // New credentials: the old sessions are logged out before the new ones exist, and the old
    // snapshot keeps serving until the new first sync.
    reg.update(spec(&sim, "lab", "monitor", "second-pw"))
        .await
        .expect("new credentials");
    assert!(
        slot.snapshot().is_some(),
        "the old snapshot serves until the new sync"
    );
    let mut most = (0, 0);
    let relogged = common::eventually(30, || {
        let s = sessions(&sim);
        most = (most.0.max(s.0), most.1.max(s.1));
        reg.get("lab")
            .and_then(|c| c.client().map(|c| c.config().username == "monitor"))
            .unwrap_or(false)
            && s == (1, 1)
            && slot.health().state == ConnectionState::Healthy
    })
    .await;
    assert!(relogged, "{:?} {:?}", sessions(&sim), slot.health());
    assert_eq!(most, (1, 1), "never two sessions of one family at once");
    assert!(Arc::ptr_eq(&reg.slot("lab").unwrap(), &slot), "same slot");
    assert_eq!(
        slot.snapshot().unwrap().instance_uuid,
        first.instance_uuid,
        "same vCenter, same ids"
    );

    // Disabled: no session, nothing contributed.
    let mut off = spec(&sim, "lab", "monitor", "second-pw");
    off.saved.enabled = false;
    reg.update(off).await.expect("disabled");
    assert_eq!(sessions(&sim), (0, 0), "disabling logs out");
    assert!(
        slot.snapshot().is_none(),
        "a disabled connection contributes nothing"
    );
    assert_eq!(slot.health().state, ConnectionState::Disabled);
    assert!(reg.visible().is_empty());
    assert!(reg.ondemand("lab").is_none());

    // Enabled again, then removed.
    reg.update(spec(&sim, "lab", "monitor", "second-pw"))
        .await
        .expect("enabled");
    assert!(synced(&reg, "lab", &sim).await, "syncs again");
    assert_eq!(sessions(&sim), (1, 1));
    reg.remove("lab").await.expect("removed");
    assert_eq!(sessions(&sim), (0, 0), "removing logs out");
    assert!(reg.get("lab").is_none());
    assert!(reg.visible().is_empty());
    assert!(matches!(
        reg.update(spec(&sim, "lab", "admin", "admin")).await,
        Err(RegistryError::NotFound(_))
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn an_endpoint_that_now_answers_as_another_vcenter_drops_the_old_resources() {
    let a = Simulator::start(SimConfig::small()).await.expect("sim a");
    let mut cfg = SimConfig::small();
    cfg.seed = 2;
    let b = Simulator::start(cfg).await.expect("sim b");
    assert_ne!(a.instance_uuid(), b.instance_uuid());
    let reg = Registry::new(fast());
    reg.add(spec(&a, "lab", "admin", "admin"))
        .await
        .expect("added");
    assert!(synced(&reg, "lab", &a).await);
    let slot = reg.slot("lab").unwrap();

    // Slow the new vCenter's inventory down so the moment between "it is another vCenter" and
    // its first snapshot is long enough to look at.
    b.control()
        .patch_faults(&serde_json::json!({"latency": {"vim": {"fixed_ms": 300}}}))
        .expect("latency");
    reg.update(spec(&b, "lab", "admin", "admin"))
        .await
        .expect("re-pointed");
    let a_uuid = a.instance_uuid();
    let dropped = common::eventually(30, || {
        slot.health().about.instance_uuid.as_deref() == Some(b.instance_uuid().as_str())
    })
    .await;
    assert!(dropped);
    assert!(
        slot.snapshot()
            .is_none_or(|s| !s.instance_uuid.eq_ignore_ascii_case(&a_uuid)),
        "once the endpoint answers as another vCenter, the old resources are gone"
    );
    assert!(synced(&reg, "lab", &b).await, "the new vCenter's inventory");
    assert_eq!(
        sessions(&a),
        (0, 0),
        "the old vCenter's sessions were logged out"
    );
    reg.shutdown().await;
    assert_eq!(sessions(&b), (0, 0));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_second_connection_to_the_same_vcenter_stands_down_as_a_duplicate() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let reg = Registry::new(fast());
    reg.add(spec(&sim, "a", "admin", "admin")).await.expect("a");
    assert!(synced(&reg, "a", &sim).await);
    // The same vCenter again (same instanceUuid), under another name.
    reg.add(spec(&sim, "b", "admin", "admin")).await.expect("b");
    let b = reg.slot("b").unwrap();
    assert!(
        common::eventually(20, || b.health().state == ConnectionState::Duplicate).await,
        "{:?}",
        b.health()
    );
    assert_eq!(b.health().duplicate_of.as_deref(), Some("a"));
    assert!(b.snapshot().is_none(), "a duplicate contributes nothing");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sessions(&sim), (1, 1), "the duplicate holds no session");
    let vms = sim.control().inventory_counts().by_type["VirtualMachine"];
    let visible: usize = reg.visible().iter().map(|v| v.snapshot.vms.len()).sum();
    assert_eq!(visible, vms, "nothing counted twice");

    // The first goes away: the duplicate becomes the connection to that vCenter.
    reg.remove("a").await.expect("removed");
    assert!(synced(&reg, "b", &sim).await, "{:?}", b.health());
    assert_eq!(b.health().duplicate_of, None);
    assert_eq!(sessions(&sim), (1, 1));
    reg.shutdown().await;
    assert_eq!(sessions(&sim), (0, 0));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_vcenter_where_only_vi_json_logs_in_fails_closed() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    sim.control()
        .patch_faults(&serde_json::json!({ "unavailable_endpoints": ["rest:POST /api/session"] }))
        .expect("fault");
    let reg = Registry::new(fast());
    reg.add(spec(&sim, "lab", "admin", "admin"))
        .await
        .expect("added");
    let slot = reg.slot("lab").unwrap();
    let failed = common::eventually(20, || {
        let h = slot.health();
        h.state == ConnectionState::Failed
            && h.last_error.as_ref().map(|e| e.class.as_str()) == Some("phase1_floor_unmet")
    })
    .await;
    assert!(failed, "{:?}", slot.health());
    let h = slot.health();
    assert!(!h.rest.logged_in);
    assert!(
        h.last_error
            .as_ref()
            .unwrap()
            .message
            .contains("vcenter_unavailable"),
        "the REST login's own class is in the message"
    );
    assert!(slot.snapshot().is_none(), "nothing is served half-read");
    // REST comes back: the next cycle gets both families and the inventory.
    sim.control()
        .patch_faults(&serde_json::json!({ "unavailable_endpoints": [] }))
        .expect("fault cleared");
    assert!(synced(&reg, "lab", &sim).await, "{:?}", slot.health());
    assert!(slot.health().rest.logged_in);
    reg.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn stopping_under_a_slow_vcenter_is_bounded_and_logs_out() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let reg = Registry::new(fast());
    reg.add(spec(&sim, "lab", "admin", "admin"))
        .await
        .expect("added");
    assert!(synced(&reg, "lab", &sim).await);
    // Every call now takes 4 s: the collector is inside one when it is told to stop.
    sim.control()
        .patch_faults(&serde_json::json!({"latency": {"vim": {"fixed_ms": 4000}, "rest": {"fixed_ms": 4000}}}))
        .expect("latency");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = std::time::Instant::now();
    reg.shutdown().await;
    let took = t.elapsed();
    assert!(
        took <= pulse_vsphere::collector::SHUTDOWN_BUDGET + Duration::from_secs(2),
        "stopping is bounded: {took:?}"
    );
    assert_eq!(
        sessions(&sim),
        (0, 0),
        "logged out despite the slow vCenter"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn health_says_logged_in_only_while_the_sessions_exist() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let reg = Registry::new(fast());
    reg.add(spec(&sim, "lab", "admin", "admin"))
        .await
        .expect("added");
    assert!(synced(&reg, "lab", &sim).await);
    let slot = reg.slot("lab").unwrap();
    let logged_in = |slot: &pulse_vsphere::inventory::ConnectionSlot| {
        let h = slot.health();
        (h.vim.logged_in, h.rest.logged_in)
    };
    assert_eq!(logged_in(&slot), (true, true));
    // vCenter ends every session and refuses new ones (its session limit is reached).
    sim.control().set_session_limit(Some(0));
    sim.control().expire_sessions();
    assert!(
        common::eventually(20, || logged_in(&slot) == (false, false)).await,
        "{:?} while the simulator holds {:?}",
        slot.health(),
        sessions(&sim)
    );
    assert_eq!(sessions(&sim), (0, 0));
    // Health says why, per family, and what to do.
    let h = slot.health();
    for family in ["vi_json", "rest"] {
        let issue = h
            .issues
            .iter()
            .find(|i| i.subject.as_deref() == Some(family))
            .unwrap_or_else(|| panic!("no {family} sessions issue: {h:?}"));
        assert_eq!(issue.stage, pulse_vsphere::inventory::Stage::Sessions);
        assert!(
            issue
                .hint
                .as_deref()
                .is_some_and(|t| t.contains("session limit")),
            "{issue:?}"
        );
    }
    // Logins are allowed again: both families come back, and health says so.
    sim.control().set_session_limit(None);
    assert!(
        common::eventually(60, || logged_in(&slot) == (true, true)
            && sessions(&sim) == (1, 1))
        .await,
        "{:?} while the simulator holds {:?}",
        slot.health(),
        sessions(&sim)
    );
    reg.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn an_optional_read_that_works_again_clears_its_issue() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let reg = Registry::new(fast());
    reg.add(spec(&sim, "lab", "admin", "admin"))
        .await
        .expect("added");
    assert!(synced(&reg, "lab", &sim).await);
    let slot = reg.slot("lab").unwrap();
    let privileges_issue = |slot: &pulse_vsphere::inventory::ConnectionSlot| {
        slot.health()
            .issues
            .iter()
            .any(|i| i.stage == pulse_vsphere::inventory::Stage::Privileges)
    };
    // The privilege read fails during a resync (vCenter restarted, the endpoint half up).
    sim.control()
        .patch_faults(&serde_json::json!({"unavailable_endpoints": ["vim:AuthorizationManager.FetchUserPrivilegeOnEntities"]}))
        .expect("fault");
    sim.control().restart();
    assert!(
        common::eventually(30, || privileges_issue(&slot)).await,
        "{:?}",
        slot.health()
    );
    assert_eq!(slot.health().state, ConnectionState::Degraded);
    // It answers again; the next resync clears the issue and the connection is healthy.
    sim.control()
        .patch_faults(&serde_json::json!({"unavailable_endpoints": []}))
        .expect("fault cleared");
    sim.control().restart();
    assert!(
        common::eventually(30, || !privileges_issue(&slot)
            && slot.health().state == ConnectionState::Healthy)
        .await,
        "{:?}",
        slot.health()
    );
    reg.shutdown().await;
    sim.shutdown().await;
}

/// Runs `query` on the graph over `reg`, as the server does.
async fn gql(reg: &Arc<Registry>, query: &str) -> serde_json::Value {
    let r = pulse_vsphere::graphql::SchemaDeps::new(reg.clone())
        .full()
        .execute(query)
        .await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    r.data.into_json().expect("json")
}

/// The REST family as GraphQL health shows it: (loggedIn, lastErrorClass).
async fn rest_health(reg: &Arc<Registry>) -> (bool, Option<String>) {
    let d = gql(
        reg,
        "{ vsphereConnections { rest { loggedIn lastErrorClass } } }",
    )
    .await;
    let rest = &d["vsphereConnections"][0]["rest"];
    (
        rest["loggedIn"] == true,
        rest["lastErrorClass"].as_str().map(str::to_string),
    )
}

#[tokio::test]
async fn after_a_restart_rest_health_follows_the_last_real_rest_call() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    // No periodic session check within the test: health must learn it from the calls the
    // collector makes anyway.
    let reg = Registry::new(CollectorConfig {
        sessions_every: Duration::from_secs(600),
        ..fast()
    });
    reg.add(spec(&sim, "lab", "admin", "admin"))
        .await
        .expect("added");
    assert!(synced(&reg, "lab", &sim).await);
    assert_eq!(rest_health(&reg).await, (true, None));
    // vCenter restarts and its REST login service stays down for a while.
    sim.control()
        .patch_faults(&serde_json::json!({"unavailable_endpoints": ["rest:POST /api/session"]}))
        .expect("fault");
    sim.control().restart();
    let mut seen = (true, None);
    for _ in 0..100 {
        seen = rest_health(&reg).await;
        if !seen.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen,
        (false, Some("vcenter_unavailable".to_string())),
        "health still says REST is logged in while the simulator holds {:?}",
        sessions(&sim)
    );
    let d = gql(
        &reg,
        "{ vsphereConnections { healthIssues { stage subject failureClass } } }",
    )
    .await;
    assert!(
        d["vsphereConnections"][0]["healthIssues"]
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i["stage"] == "sessions"
                && i["subject"] == "rest"
                && i["failureClass"] == "vcenter_unavailable")),
        "{d}"
    );
    // It stays logged out for as long as no REST session exists.
    for _ in 0..10 {
        assert!(!rest_health(&reg).await.0);
        assert_eq!(sessions(&sim).1, 0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sim.control()
        .patch_faults(&serde_json::json!({"unavailable_endpoints": []}))
        .expect("fault");
    let mut back = false;
    for _ in 0..900 {
        if rest_health(&reg).await == (true, None) {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "{:?}", reg.slot("lab").unwrap().health());
    assert_eq!(sessions(&sim).1, 1, "logged in again: one REST session");
    assert!(
        reg.slot("lab")
            .unwrap()
            .health()
            .issues
            .iter()
            .all(|i| i.stage != pulse_vsphere::inventory::Stage::Sessions),
        "the login issue goes with the login that works"
    );
    reg.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn the_first_snapshot_served_has_the_tags_and_the_tag_filter_matches() {
    use std::collections::{BTreeMap, BTreeSet};
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let uuid = sim.instance_uuid();
    // moId -> "Category:Name" as the simulator attaches them.
    let attached: BTreeMap<String, BTreeSet<String>> = {
        let inv = sim.control().state().inv();
        let t = &inv.tagging;
        t.attached
            .iter()
            .map(|(obj, ids)| {
                let names = ids
                    .iter()
                    .filter_map(|id| t.tags.get(id))
                    .map(|tag| format!("{}:{}", t.categories[&tag.category_id].name, tag.name))
                    .collect();
                (obj.value.clone(), names)
            })
            .collect()
    };
    assert!(!attached.is_empty(), "the simulator tags its VMs");
    let reg = Registry::new(fast());
    reg.add(spec(&sim, "lab", "admin", "admin"))
        .await
        .expect("added");
    let slot = reg.slot("lab").unwrap();
    assert!(common::eventually(60, || slot.snapshot().is_some()).await);
    let first = slot.snapshot().expect("published");
    let served = |tags: &[pulse_vsphere::model::resources::TagRef]| -> BTreeSet<String> {
        tags.iter()
            .map(|t| format!("{}:{}", t.category, t.name))
            .collect()
    };
    let mut tagged = 0;
    for vm in &first.vms {
        let want = attached.get(&vm.moid).cloned().unwrap_or_default();
        assert_eq!(served(&vm.tags), want, "{}", vm.moid);
        tagged += usize::from(!want.is_empty());
    }
    for a in &first.agents {
        let want = attached.get(&a.moid).cloned().unwrap_or_default();
        assert_eq!(served(&a.tags), want, "{}", a.moid);
    }
    for d in &first.storage {
        let want = attached.get(&d.moid).cloned().unwrap_or_default();
        assert_eq!(served(&d.tags), want, "{}", d.moid);
    }
    assert!(tagged > 0);
    // The least used tag: the filter returns exactly the VMs it is attached to.
    let mut uses: BTreeMap<&String, BTreeSet<String>> = BTreeMap::new();
    for (moid, names) in &attached {
        for n in names {
            uses.entry(n)
                .or_default()
                .insert(pulse_vsphere::model::ids::ResourceId::new(&uuid, moid).to_string());
        }
    }
    let (tag, want) = uses.iter().min_by_key(|(_, ids)| ids.len()).expect("a tag");
    let d = gql(
        &reg,
        &format!(
            "{{ vsphereVms(first: 500, filter: {{tag: [\"{tag}\"]}}) {{ totalCount nodes {{ id }} }} }}"
        ),
    )
    .await;
    let got: BTreeSet<String> = d["vsphereVms"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(&got, want, "tag filter {tag}");
    assert_eq!(d["vsphereVms"]["totalCount"], want.len());
    reg.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn graphql_health_lists_typed_issues_with_the_object_and_the_privilege() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let uuid = sim.instance_uuid();
    let (vm, name) = {
        let inv = sim.control().state().inv();
        let vm = inv.of_type("VirtualMachine").next().expect("a VM");
        (vm.moref.value.clone(), vm.name().to_string())
    };
    sim.control().deny_object(&vm);
    let reg = Registry::new(fast());
    reg.add(spec(&sim, "lab", "admin", "admin"))
        .await
        .expect("added");
    assert!(synced(&reg, "lab", &sim).await);
    let d = gql(
        &reg,
        "{ vsphereConnections { state issues healthIssues { stage failureClass \
         object { kind moId id name } subject privileges occurrences firstSeen lastSeen \
         message hint } } }",
    )
    .await;
    let c = &d["vsphereConnections"][0];
    assert_eq!(c["state"], "degraded");
    let issues = c["healthIssues"].as_array().expect("healthIssues");
    let issue = issues
        .iter()
        .find(|i| i["object"]["moId"] == vm.as_str())
        .unwrap_or_else(|| panic!("no issue about {vm}: {c}"));
    assert_eq!(issue["stage"], "full_sync");
    assert_eq!(issue["failureClass"], "permission_denied");
    assert_eq!(issue["object"]["kind"], "VirtualMachine");
    assert_eq!(
        issue["object"]["id"],
        pulse_vsphere::model::ids::ResourceId::new(&uuid, &vm).to_string()
    );
    assert_eq!(issue["privileges"], serde_json::json!(["System.Read"]));
    assert!(issue["hint"]
        .as_str()
        .is_some_and(|h| h.contains("System.Read")));
    assert!(issue["occurrences"].as_i64().is_some_and(|n| n >= 1));
    assert!(issue["firstSeen"].as_str() <= issue["lastSeen"].as_str());
    // A denied VM's name is unreadable too: the graph serves what it has, health says the same.
    let served = reg.slot("lab").unwrap().snapshot().unwrap();
    let served = served.vms.iter().find(|v| v.moid == vm).expect("listed");
    assert_eq!(issue["object"]["name"], served.name.as_str());
    assert_ne!(served.name, "", "{name}");
    // The one-line form is still there for existing clients.
    assert!(c["issues"].as_array().is_some_and(|a| a
        .iter()
        .any(|l| l.as_str().is_some_and(|l| l.contains(&vm)))));
    reg.shutdown().await;
    sim.shutdown().await;
}
