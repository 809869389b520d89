//! Traces and logs of `pulse-vsphere serve` as an operator runs it: spans exported over OTLP/HTTP
//! to a collector (an in-process OTLP/JSON receiver here) continue the gateway's W3C
//! `traceparent`, and no secret reaches a log line even at `RUST_LOG=trace`.

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use pulse_vsphere::simulator::{Role, SimConfig, SimUser, Simulator};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const GATEWAY_SPAN: &str = "00f067aa0ba902b7";
/// The vCenter password of the configured connection, and of the one created over GraphQL.
const VC_PASSWORD: &str = "Zq7-config-password-never-logged";
const CREATED_PASSWORD: &str = "Yx4-created-password-never-logged";
const ADMIN_TOKEN: &str = "Wv2-admin-token-never-logged-0123456789";

/// Every span the receiver got: (traceId, spanId, parentSpanId, name, attributes as a map).
#[derive(Clone, Debug)]
struct Span {
    trace: String,
    id: String,
    parent: String,
    name: String,
    attrs: serde_json::Map<String, Value>,
}

type Received = Arc<Mutex<Vec<Span>>>;

async fn receive(State(got): State<Received>, body: axum::body::Bytes) -> &'static str {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut spans = got.lock().unwrap();
    for rs in v["resourceSpans"].as_array().into_iter().flatten() {
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for s in ss["spans"].as_array().into_iter().flatten() {
                let attrs = s["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        let v = &a["value"];
                        let v = v
                            .get("stringValue")
                            .or_else(|| v.get("intValue"))
                            .or_else(|| v.get("boolValue"))
                            .cloned()
                            .unwrap_or(Value::Null);
                        (a["key"].as_str().unwrap_or("").to_string(), v)
                    })
                    .collect();
                spans.push(Span {
                    trace: s["traceId"].as_str().unwrap_or("").to_lowercase(),
                    id: s["spanId"].as_str().unwrap_or("").to_lowercase(),
                    parent: s["parentSpanId"].as_str().unwrap_or("").to_lowercase(),
                    name: s["name"].as_str().unwrap_or("").to_string(),
                    attrs,
                });
            }
        }
    }
    "{}"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_continue_the_gateways_trace_and_no_secret_reaches_the_log() {
    let mut cfg = SimConfig::small();
    cfg.users.push(SimUser {
        name: "monitor@vsphere.local".into(),
        password: VC_PASSWORD.into(),
        role: Role::Readonly,
    });
    cfg.users.push(SimUser {
        name: "created@vsphere.local".into(),
        password: CREATED_PASSWORD.into(),
        role: Role::Readonly,
    });
    let sim = Simulator::start(cfg).await.expect("sim");

    let got: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/v1/traces", post(receive))
        .with_state(got.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = std::env::temp_dir().join(format!(
        "pv-traces-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("admin-token");
    std::fs::write(&token_file, ADMIN_TOKEN).unwrap();
    let config = dir.join("pulse-vsphere.toml");
    std::fs::write(
        &config,
        format!(
            "[[connection]]\nid = \"lab\"\nurl = \"{}\"\nusername = \"monitor@vsphere.local\"\npassword_env = \"PV_LAB_PASSWORD\"\ntls_thumbprint = \"{}\"\n\n[telemetry]\notlp_endpoint = \"{collector}\"\n\n[[auth.tokens]]\nname = \"ops\"\nrole = \"admin\"\ntoken_file = \"{}\"\n",
            sim.base_url(),
            sim.thumbprint(),
            token_file.display()
        ),
    )
    .unwrap();
    let log_file = dir.join("stderr.log");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse-vsphere"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("PULSE_VSPHERE_DATA_DIR", dir.join("data"))
        .env("PV_LAB_PASSWORD", VC_PASSWORD)
        .env("RUST_LOG", "trace")
        .env("PULSE_VSPHERE_LOG_FORMAT", "json")
        // Export each batch quickly instead of every 5 s.
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_file).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(
        &tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("serve printed its URL")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    let graphql = first["graphql"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    let ready = graphql.replace("/graphql", "/readyz");
    for _ in 0..300 {
        if http
            .get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Bearer-token requests; the first from the gateway with its trace context and client name.
    let send = |req: reqwest::RequestBuilder, body: Value| async move {
        let v: Value = req
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v["errors"].is_null(), "{v}");
    };
    send(
        http.post(&graphql)
            .header("traceparent", format!("00-{TRACE_ID}-{GATEWAY_SPAN}-01"))
            .header("apollographql-client-name", "pulse-frontend"),
        json!({
            "operationName": "VmEvents",
            "query": "query VmEvents { vsphereVms(first: 2) { nodes { id activity { events(first: 100, includeOlder: true) { key } } } } }"
        }),
    )
    .await;
    // A store write in a trace of its own, with a password in the request.
    let url = url::Url::parse(&sim.base_url()).unwrap();
    send(
        http.post(&graphql),
        json!({
            "query": "mutation($i: VsphereConnectionInput!) { vsphereCreateConnection(input: $i) { id } }",
            "variables": {"i": {
                "name": "Second", "host": url.host_str(), "port": url.port(),
                "username": "created@vsphere.local", "password": CREATED_PASSWORD,
                "tlsMode": "PINNED", "tlsThumbprint": sim.thumbprint()
            }}
        }),
    )
    .await;

    // The spans arrive in batches; wait for the request's tree and a store write.
    let mut spans = Vec::new();
    for _ in 0..100 {
        spans = got.lock().unwrap().clone();
        let tree = spans.iter().filter(|s| s.trace == TRACE_ID).count();
        let write = spans.iter().any(|s| s.name == "store.write");
        if tree >= 4 && write {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ours: Vec<&Span> = spans.iter().filter(|s| s.trace == TRACE_ID).collect();
    let names: Vec<&str> = ours.iter().map(|s| s.name.as_str()).collect();
    let request = ours
        .iter()
        .find(|s| s.attrs.get("graphql.operation.name") == Some(&json!("VmEvents")))
        .unwrap_or_else(|| {
            panic!(
                "no request span in the gateway's trace: {names:?}; received {:?}",
                spans
                    .iter()
                    .filter(|s| s.name != "vcenter_call")
                    .take(8)
                    .map(|s| (&s.trace, &s.name))
                    .collect::<Vec<_>>()
            )
        });
    assert_eq!(request.name, "graphql.request");
    assert_eq!(
        request.parent, GATEWAY_SPAN,
        "the request continues the gateway's span"
    );
    assert_eq!(
        request.attrs.get("apollographql.client.name"),
        Some(&json!("pulse-frontend"))
    );
    let batch = ours
        .iter()
        .find(|s| s.name == "dataloader.batch" && s.attrs.get("loader") == Some(&json!("events")))
        .unwrap_or_else(|| panic!("no events batch span: {names:?}"));
    assert_eq!(batch.parent, request.id, "the batch runs under the request");
    let calls: Vec<&&Span> = ours
        .iter()
        .filter(|s| s.name == "vcenter_call" && s.parent == batch.id)
        .collect();
    assert_eq!(
        calls.len(),
        2,
        "one vCenter call per VM under the batch: {names:?}"
    );
    assert!(calls.iter().all(|c| c
        .attrs
        .get("call")
        .and_then(Value::as_str)
        .is_some_and(|m| m.contains("QueryEvents"))));
    let write = spans
        .iter()
        .find(|s| s.name == "store.write")
        .expect("a store write span");
    assert_eq!(write.attrs.get("backend"), Some(&json!("sqlite")));
    assert_ne!(write.trace, TRACE_ID);

    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));

    // Every line of a trace-level log is JSON, and none carries a secret.
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(log.lines().count() > 50, "trace level logs plenty");
    for line in log.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not JSON: {line}"
        );
        for secret in [VC_PASSWORD, CREATED_PASSWORD, ADMIN_TOKEN] {
            assert!(!line.contains(secret), "a secret in the log: {line}");
        }
    }
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
