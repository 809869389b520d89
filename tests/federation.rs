//! Federation with real Apollo tools (pinned in tests/federation/package-lock.json): the
//! subgraph SDL composes with the Pulse core stub through @apollo/composition.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/federation")
}

fn core_stub() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/federation/pulse-core.graphql");
    p.exists().then_some(p)
}

/// Installs the pinned npm packages once per test binary.
fn npm_ready() {
    common::npm_ready(&dir(), "@apollo/composition");
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
async fn gateway_resolves_across_core_and_vsphere() {
    use std::sync::Arc;

    use pulse_vsphere::server::{app, run, AppState, Counters};
    use pulse_vsphere::simulator::{SimConfig, Simulator};
    use serde_json::{json, Value};

    let Some(core) = core_stub() else {
        eprintln!("note: ../shared/federation/pulse-core.graphql not found; gateway not checked");
        return;
    };
    npm_ready();
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let store = common::collected_store(&sim).await;
    let slot = store.slot("vc1").expect("slot");
    let snap = slot.snapshot().expect("snapshot");
    let state = AppState {
        schemas: pulse_vsphere::graphql::schemas(store.clone(), None),
        registry: store,
        counters: Arc::new(Counters::default()),
        access: Arc::new(pulse_vsphere::server::Access::new(
            pulse_vsphere::auth::Authenticator::none(),
        )),
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
    let out = tokio::process::Command::new("node")
        .arg(dir().join("gateway.mjs"))
        .arg(&core)
        .arg(&url)
        .arg(pinned.to_string())
        .output()
        .await
        .expect("node must be installed");
    let _ = tx.send(());
    let _ = server.await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "gateway script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("one JSON line");

    // (1) VMs from this subgraph, notes from the core.
    let vms = result["vmsWithNotes"]["data"]["vsphereVms"]["nodes"]
        .as_array()
        .expect("vms");
    assert_eq!(vms.len(), 5, "{result}");
    assert!(vms
        .iter()
        .all(|v| v["notes"].is_array() && v["platformType"] == "vmware-vsphere"));
    let first = vms
        .iter()
        .find(|v| v["id"] == snap.vms[0].id.as_str())
        .expect("first VM on the page");
    assert_eq!(first["notes"], json!(["database primary"]));

    // (2) pinned resources get their vSphere facets through one batched _entities call.
    let items = result["pinned"]["data"]["pinnedResources"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", result["pinned"]));
    assert_eq!(items.len(), 5, "{result}");
    assert_eq!(result["pinnedCalls"]["vsphereEntities"], 1, "{result}");
    assert!(items[0]["vsphere"]["powerState"].is_string());
    assert!(items[1]["vsphere"]["powerState"].is_string());
    assert!(items[3]["vsphere"]["connectionState"].is_string());
    assert!(items[4]["vsphere"]["capacityBytes"].is_number());
    assert_eq!(items[3]["notes"], json!(["rack 4"]));

    // (3) the unknown id is null for that item only.
    assert_eq!(items[2]["id"], unknown);
    assert!(items[2]["vsphere"].is_null(), "{result}");
    sim.shutdown().await;
}
