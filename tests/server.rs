//! The HTTP server on a real socket: GraphQL over POST, GraphiQL with bundled assets (no
//! internet needed), health, readiness, metrics, the body limit and error codes.

mod common;

use std::sync::Arc;

use chrono::Utc;
use pulse_vsphere::collector::CollectorConfig;
use pulse_vsphere::connections::Registry;
use pulse_vsphere::model::project::project;
use pulse_vsphere::model::snapshot::InventorySnapshot;
use pulse_vsphere::server::MAX_BODY_BYTES;
use pulse_vsphere::simulator::{SimConfig, Simulator};
use serde_json::{json, Value};

async fn start(
    store: Arc<Registry>,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    common::serve_http(store).await
}

#[tokio::test]
async fn graphql_health_readiness_metrics_and_graphiql() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let store = Registry::new(CollectorConfig::default());
    let slot = store.attach("vc1", "lab");
    let (url, stop, task) = start(store.clone()).await;
    let http = reqwest::Client::new();

    assert_eq!(
        http.get(format!("{url}/healthz"))
            .send()
            .await
            .expect("healthz")
            .status(),
        200
    );
    // Not ready until the connection has synced once.
    let r = http
        .get(format!("{url}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["waiting_for_first_sync"], json!(["vc1"]));

    let (raw, ctx) = common::raw_from(sim.control().state());
    slot.publish(InventorySnapshot::build(
        &sim.instance_uuid(),
        Utc::now(),
        project(&raw, &ctx),
    ));
    assert_eq!(
        http.get(format!("{url}/readyz"))
            .send()
            .await
            .expect("readyz")
            .status(),
        200
    );

    let resp: Value = http
        .post(format!("{url}/graphql"))
        .json(&json!({"query": "{ vsphereVms(first: 5) { totalCount nodes { name platformType } } }"}))
        .send()
        .await
        .expect("graphql")
        .json()
        .await
        .expect("json");
    assert_eq!(resp["data"]["vsphereVms"]["totalCount"], 40);
    assert_eq!(
        resp["data"]["vsphereVms"]["nodes"][0]["platformType"],
        "vmware-vsphere"
    );

    // Engine errors carry codes too.
    let bad: Value = http
        .post(format!("{url}/graphql"))
        .json(&json!({"query": "{ vsphereVms { nosuchfield } }"}))
        .send()
        .await
        .expect("graphql")
        .json()
        .await
        .expect("json");
    assert_eq!(
        bad["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    let mut inner = String::from("name");
    for _ in 0..6 {
        inner = format!("host {{ vms {{ nodes {{ {inner} }} }} }}");
    }
    let deep = format!("{{ vsphereVms {{ nodes {{ {inner} }} }} }}");
    let too_deep: Value = http
        .post(format!("{url}/graphql"))
        .json(&json!({"query": deep.as_str()}))
        .send()
        .await
        .expect("graphql")
        .json()
        .await
        .expect("json");
    assert_eq!(
        too_deep["errors"][0]["extensions"]["code"], "QUERY_TOO_DEEP",
        "{too_deep}"
    );

    // Oversized bodies are refused before parsing.
    let huge = "x".repeat(MAX_BODY_BYTES + 10);
    let r = http
        .post(format!("{url}/graphql"))
        .header("content-type", "application/json")
        .body(json!({"query": huge}).to_string())
        .send()
        .await
        .expect("graphql");
    assert_eq!(r.status(), 413);

    // GraphiQL and its bundled assets, served locally.
    let page = http
        .get(format!("{url}/graphql"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(
        page.contains("/graphiql/assets/graphiql.min.js")
            && !page.contains("unpkg")
            && !page.contains("cdn")
    );
    let js = http
        .get(format!("{url}/graphiql/assets/graphiql.min.js"))
        .send()
        .await
        .expect("asset");
    assert_eq!(js.status(), 200);
    assert_eq!(js.headers()["content-encoding"], "gzip");
    let bytes = js.bytes().await.expect("body");
    assert!(
        bytes.len() > 500_000 && bytes.starts_with(&[0x1f, 0x8b]),
        "the whole gzip-encoded bundle"
    );
    assert_eq!(
        http.get(format!("{url}/graphiql/assets/nope.js"))
            .send()
            .await
            .expect("asset")
            .status(),
        404
    );

    let metrics = common::text(&http, &format!("{url}/metrics")).await;
    assert!(
        metrics.contains("pulse_vsphere_graphql_requests_total 3"),
        "{metrics}"
    );
    assert!(metrics.contains("pulse_vsphere_resources{connection=\"vc1\",kind=\"vm\"} 40"));

    let _ = stop.send(());
    task.await.expect("join").expect("server ended cleanly");
}
