//! Federation with real gateways (pinned in tests/federation/package-lock.json): the subgraph
//! SDL composes with the Pulse core stub through @apollo/composition, and cross-subgraph queries
//! resolve through @apollo/gateway and through Hive Gateway with deploy/router's config.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/federation")
}

fn core_stub() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/federation/pulse-core.graphql");
    p.exists().then_some(p)
}

/// Installs the pinned npm packages once per test binary.
fn npm_ready() {
    common::npm_ready(&dir(), "@graphql-hive/gateway");
}

#[test]
fn subgraph_composes_with_the_core_stub() {
    let Some(core) = core_stub() else {
        eprintln!(
            "note: ../shared/federation/pulse-core.graphql not found; composition not checked"
        );
        return;
    };
    npm_ready();
    let sdl = pulse_vsphere::graphql::sdl();
    let tmp =
        std::env::temp_dir().join(format!("pulse-vsphere-sdl-{}.graphql", std::process::id()));
    std::fs::write(&tmp, &sdl).expect("write sdl");
    let out = Command::new("node")
        .arg(dir().join("compose.mjs"))
        .arg(&tmp)
        .arg(&core)
        .output()
        .expect("node must be installed");
    let _ = std::fs::remove_file(&tmp);
    assert!(
        out.status.success(),
        "composition failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

mod common;

/// Through @apollo/gateway over a core stub subgraph and the live pulse-vsphere server:
/// (1) a page of VMs with core-owned `notes` resolves, (2) `pinnedResources` with vSphere facet
/// fields resolves with one batched `_entities` call to this subgraph, (3) an unknown id yields
/// null for that item only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apollo_gateway_resolves_across_core_and_vsphere() {
    if let Some(result) = through_gateway(Gateway::Apollo).await {
        assert_eq!(result["pinnedCalls"]["vsphereEntities"], 1, "{result}");
    }
}

/// The same through Hive Gateway's own command line with the shipped
/// `deploy/router/gateway.config.ts`, against a pulse-vsphere that requires a bearer token:
/// the config's token reaches the subgraph, and so do the client's trace context and name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hive_gateway_with_the_shipped_config_resolves_across_core_and_vsphere() {
    let Some(result) = through_gateway(Gateway::Hive).await else {
        return;
    };
    let reached = &result["reachedVsphere"];
    assert_eq!(reached["authorization"], json!(["bearer"]), "{result}");
    assert_eq!(
        reached["traceparent"],
        json!(["00-4bf92f3577b34da6a3ce929d0e0e4736"]),
        "{result}"
    );
    assert_eq!(reached["clientName"], json!(["pulse-frontend"]), "{result}");
    // Hive Gateway batches the pinned items' facets too (one or two calls, never one per item).
    let entities = result["pinnedCalls"]["vsphereEntities"]
        .as_u64()
        .unwrap_or(0);
    assert!((1..=2).contains(&entities), "{result}");
}

#[derive(Clone, Copy, Debug)]
enum Gateway {
    Apollo,
    Hive,
}

/// The router's bearer token in the Hive run (role reader, as in deploy/kubernetes).
const ROUTER_TOKEN: &str = "router-token-for-the-federation-test-0123456789";

/// Runs the gateway's script over the core stub and a live pulse-vsphere on the small simulator,
/// checks what every gateway must answer, and returns the script's JSON for the caller's own
/// checks; None when the core stub is absent.
async fn through_gateway(gateway: Gateway) -> Option<serde_json::Value> {
    use std::sync::Arc;

    use pulse_vsphere::auth::{AuthConfig, Authenticator, Role};
    use pulse_vsphere::server::{app, run, AppState, Counters};
    use pulse_vsphere::simulator::{SimConfig, Simulator};

    let Some(core) = core_stub() else {
        eprintln!("note: ../shared/federation/pulse-core.graphql not found; gateway not checked");
        return None;
    };
    npm_ready();
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let store = common::collected_store(&sim).await;
    let slot = store.slot("vc1").expect("slot");
    let snap = slot.snapshot().expect("snapshot");
    let auth = match gateway {
        Gateway::Apollo => Authenticator::none(),
        Gateway::Hive => Authenticator::from_config(&AuthConfig {
            tokens: vec![common::hashed_token("router", Role::Reader, ROUTER_TOKEN)],
            jwt: None,
        })
        .expect("auth config"),
    };
    let state = AppState {
        schemas: pulse_vsphere::graphql::SchemaDeps::new(store.clone()).schemas(),
        registry: store,
        counters: Arc::new(Counters::default()),
        access: Arc::new(pulse_vsphere::server::Access::new(auth)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/graphql", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, app(state), async move {
        let _ = rx.await;
    }));

    let unknown = format!("vsphere:{}:vm-999999", sim.instance_uuid());
    let pinned = json!([
        {"__typename": "Vm", "id": snap.vms[0].id.as_str(), "notes": ["database primary"]},
        {"__typename": "Vm", "id": snap.vms[1].id.as_str(), "notes": ["web"]},
        {"__typename": "Vm", "id": unknown, "notes": ["gone"]},
        {"__typename": "Agent", "id": snap.agents[0].id.as_str(), "notes": ["rack 4"]},
        {"__typename": "Storage", "id": snap.storage[0].id.as_str(), "notes": []},
    ]);
    let mut node = tokio::process::Command::new("node");
    match gateway {
        Gateway::Apollo => node
            .arg(dir().join("gateway.mjs"))
            .arg(&core)
            .arg(&url)
            .arg(pinned.to_string()),
        Gateway::Hive => node
            .arg(dir().join("hive.mjs"))
            .arg(&core)
            .arg(&url)
            .arg(pinned.to_string())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/router/gateway.config.ts"))
            .env("PULSE_VSPHERE_ROUTER_TOKEN", ROUTER_TOKEN),
    };
    let result = script_result(&mut node, &format!("{gateway:?} gateway")).await;
    let _ = tx.send(());
    let _ = server.await;

    // (1) VMs from this subgraph, notes from the core.
    let vms = result["vmsWithNotes"]["data"]["vsphereVms"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{result}"));
    assert_eq!(vms.len(), 5, "{result}");
    assert!(vms
        .iter()
        .all(|v| v["notes"].is_array() && v["platformType"] == "vmware-vsphere"));
    let first = vms
        .iter()
        .find(|v| v["id"] == snap.vms[0].id.as_str())
        .expect("first VM on the page");
    assert_eq!(first["notes"], json!(["database primary"]));

    // (2) pinned resources get their vSphere facets (batching checked by the caller).
    let items = result["pinned"]["data"]["pinnedResources"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", result["pinned"]));
    assert_eq!(items.len(), 5, "{result}");
    assert!(items[0]["vsphere"]["powerState"].is_string());
    assert!(items[1]["vsphere"]["powerState"].is_string());
    assert!(items[3]["vsphere"]["connectionState"].is_string());
    assert!(items[4]["vsphere"]["capacityBytes"].is_number());
    assert_eq!(items[3]["notes"], json!(["rack 4"]));

    // (3) the unknown id is null for that item only.
    assert_eq!(items[2]["id"], unknown);
    assert!(items[2]["vsphere"].is_null(), "{result}");
    sim.shutdown().await;
    Some(result)
}

/// The assistant's query pack (`assistant/*.graphql`) through @apollo/gateway with the
/// assistant's token, against a pulse-vsphere holding the assistant to its pack: every operation
/// answers what the collected inventory holds; an operation outside the pack is refused; a pack
/// operation runs by its id alone (persisted query), an unknown id is `PERSISTED_QUERY_NOT_FOUND`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assistant_pack_through_the_gateway_with_the_safelist_on() {
    use std::sync::Arc;

    use chrono::{Duration, Utc};
    use pulse_vsphere::auth::{AuthConfig, Authenticator, Role};
    use pulse_vsphere::model::alerts::AlertSeverity;
    use pulse_vsphere::model::status::ResourceStatus;
    use pulse_vsphere::server::{app, run, Access, AppState, Counters};
    use pulse_vsphere::simulator::{SimConfig, Simulator};
    use sha2::{Digest, Sha256};

    const ASSISTANT: &str = "assistant-token-for-the-pack-test-0123456789";
    let Some(core) = core_stub() else {
        eprintln!("note: ../shared/federation/pulse-core.graphql not found; pack not checked");
        return;
    };
    npm_ready();
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    // One host goes offline before the collection the test serves, for the offline-hosts
    // question (a first collection names it).
    let first = common::collected_store(&sim).await;
    let gone = first
        .slot("vc1")
        .expect("slot")
        .snapshot()
        .expect("snapshot")
        .agents[0]
        .moid
        .clone();
    first.shutdown().await;
    assert!(sim.control().disconnect_host(&gone));
    let store = common::collected_store(&sim).await;
    let snap = store
        .slot("vc1")
        .expect("slot")
        .snapshot()
        .expect("snapshot");
    let auth = Authenticator::from_config(&AuthConfig {
        tokens: vec![common::hashed_token(
            "assistant",
            Role::Assistant,
            ASSISTANT,
        )],
        jwt: None,
    })
    .expect("auth");
    let state = AppState {
        schemas: pulse_vsphere::graphql::SchemaDeps::new(store.clone()).schemas(),
        registry: store,
        counters: Arc::new(Counters::default()),
        access: Arc::new(Access::new(auth).with_assistant_safelist(true)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/graphql", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, app(state), async move {
        let _ = rx.await;
    }));

    // Inputs chosen from what the simulator holds, and the answers expected from it.
    let days = 1;
    let cutoff = Utc::now() - Duration::days(days);
    let stale = snap
        .vms
        .iter()
        .filter(|v| v.oldest_snapshot.is_some_and(|t| t < cutoff))
        .count();
    let full_at = 50.0;
    let full = snap
        .storage
        .iter()
        .filter(|d| d.used_percent().is_some_and(|u| u >= full_at))
        .count();
    let critical: usize = snap
        .agents
        .iter()
        .map(|a| &a.alerts)
        .chain(snap.vms.iter().map(|v| &v.alerts))
        .chain(snap.storage.iter().map(|d| &d.alerts))
        .map(|alerts| {
            alerts
                .iter()
                .filter(|a| a.severity == AlertSeverity::Critical)
                .count()
        })
        .sum::<usize>()
        // Alarms on clusters, datacenters and folders are active alerts too.
        + snap
            .topology_alerts
            .iter()
            .filter(|t| t.alert.severity == AlertSeverity::Critical)
            .count();
    let cluster = snap
        .agents
        .iter()
        .find(|a| a.moid == gone)
        .expect("the host")
        .placement
        .cluster
        .as_ref()
        .map(|c| c.name.clone())
        .expect("a clustered host");
    let offline = snap
        .agents
        .iter()
        .filter(|a| {
            a.placement.cluster.as_ref().map(|c| &c.name) == Some(&cluster)
                && a.status == ResourceStatus::Offline
        })
        .count();
    let vm = &snap.vms[0];
    assert!(
        stale > 0 && full > 0 && critical > 0 && offline > 0,
        "{stale} {full} {critical} {offline}"
    );
    let variables = json!({
        "StaleSnapshots": {"olderThanDays": days},
        "FullDatastores": {"usedPercentAtLeast": full_at},
        "ResourceOverview": {"id": vm.id.as_str()},
        "OfflineHosts": {"cluster": cluster},
    });
    let mut out = tokio::process::Command::new("node");
    out.arg(dir().join("pack.mjs"))
        .arg(&core)
        .arg(&url)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("assistant"))
        .arg(variables.to_string())
        .arg(ASSISTANT);
    let result = script_result(&mut out, "pack").await;
    let ops = &result["operations"];
    assert_eq!(ops.as_object().map(|o| o.len()), Some(7), "{result}");
    for (name, answer) in ops.as_object().unwrap() {
        assert!(answer["errors"].is_null(), "{name}: {answer}");
    }
    assert_eq!(
        ops["StaleSnapshots"]["data"]["vsphereVms"]["totalCount"],
        stale
    );
    assert_eq!(
        ops["FullDatastores"]["data"]["vsphereDatastores"]["totalCount"],
        full
    );
    let fulls = ops["FullDatastores"]["data"]["vsphereDatastores"]["nodes"]
        .as_array()
        .unwrap();
    assert!(fulls
        .iter()
        .all(|d| d["metrics"]["storageUsedPercent"].as_f64().unwrap_or(0.0) >= full_at));
    assert_eq!(
        ops["CriticalAlerts"]["data"]["vsphereActiveAlerts"]["totalCount"],
        critical
    );
    assert_eq!(
        ops["OfflineHosts"]["data"]["vsphereHosts"]["totalCount"],
        offline
    );
    assert_eq!(
        ops["ResourceOverview"]["data"]["vsphereResource"]["name"],
        vm.name.as_str()
    );
    assert_eq!(
        ops["DegradedConnections"]["data"]["vsphereConnections"][0]["state"],
        "healthy"
    );
    // Outside the pack: refused at pulse-vsphere, the code passed through the gateway.
    let outside = result["outside"].to_string();
    assert!(outside.contains("PERSISTED_QUERY_NOT_IN_LIST"), "{outside}");
    assert!(
        result["outside"]["data"]["vsphereConnections"].is_null(),
        "{outside}"
    );

    // Directly: a pack operation by its id alone; an id that is not the pack's.
    let http = reqwest::Client::new();
    let post = |body: Value| http.post(&url).bearer_auth(ASSISTANT).json(&body).send();
    let id = |file: &str| {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("assistant")
                .join(file),
        )
        .unwrap();
        hex::encode(Sha256::digest(text.as_bytes()))
    };
    let by_id: Value = post(json!({
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": id("degraded_connections.graphql")}}
    }))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        by_id["data"]["vsphereConnections"][0]["state"], "healthy",
        "{by_id}"
    );
    let unknown: Value = post(json!({
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "00".repeat(32)}}
    }))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        unknown["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND",
        "{unknown}"
    );
    // A query sent with an id that is not its SHA-256, and one outside the pack sent directly.
    let mismatch: Value = post(json!({
        "query": "{ vsphereConnections { connectionId } }",
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": id("degraded_connections.graphql")}}
    }))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        mismatch["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_HASH_MISMATCH",
        "{mismatch}"
    );
    let outside: Value = post(json!({"query": "{ vsphereConnections { host username } }"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        outside["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_IN_LIST",
        "{outside}"
    );
    assert!(outside["data"].is_null() || outside["data"]["vsphereConnections"].is_null());
    let _ = tx.send(());
    let _ = server.await;
    sim.shutdown().await;
}

/// Runs a node script that prints one JSON line last; fails the test with its output otherwise.
async fn script_result(node: &mut tokio::process::Command, what: &str) -> Value {
    let out = node.output().await.expect("node must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what} script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("one JSON line")
}
