//! GraphQL over HTTP conformance: the spec's own audit suite (`auditServer` of `graphql-http`,
//! pinned in tests/graphql_http/package-lock.json) against `/graphql` over a real socket. Every
//! MUST (`error`) and every SHOULD (`warn`) must pass; MAY items (`notice`) are printed only,
//! since some are refused on purpose (GET never executes: docs/decisions.md).

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/graphql_http")
}

/// Installs the pinned npm packages once per test binary.
fn npm_ready() {
    common::npm_ready(&dir(), "graphql-http");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graphql_over_http_audit_passes_every_must_and_should() {
    npm_ready();
    // The audit asks only `__typename` and `__type`: an empty registry serves the same schema.
    let store = pulse_vsphere::connections::Registry::new(
        pulse_vsphere::collector::CollectorConfig::default(),
    );
    let (base, stop, server) = common::serve_http(store).await;
    let out = tokio::process::Command::new("node")
        .arg(dir().join("audit.mjs"))
        .arg(format!("{base}/graphql"))
        .output()
        .await
        .expect("node must be installed");
    let _ = stop.send(());
    let _ = server.await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "audit script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("one JSON line");
    let count = |status: &str| results.iter().filter(|r| r["status"] == status).count();
    println!(
        "GraphQL over HTTP audit: {} checks, {} ok, {} notice (MAY), {} warn (SHOULD), {} error (MUST)",
        results.len(),
        count("ok"),
        count("notice"),
        count("warn"),
        count("error")
    );
    for r in results.iter().filter(|r| r["status"] == "notice") {
        println!("notice {} {}: {}", r["id"], r["name"], r["reason"]);
    }
    let failing: Vec<String> = results
        .iter()
        .filter(|r| r["status"] == "error" || r["status"] == "warn")
        .map(|r| {
            format!(
                "{} {} {}: {}\n  response: {}",
                r["status"], r["id"], r["name"], r["reason"], r["response"]
            )
        })
        .collect();
    assert!(!results.is_empty(), "the audit returned no results");
    assert!(
        failing.is_empty(),
        "{} MUST or SHOULD audits fail:\n{}",
        failing.len(),
        failing.join("\n")
    );
}

/// An `Int` literal outside 32 bits is a validation error, as GraphQL's "values of correct
/// type" rule has it: no `data`, a stable code, 400 under the GraphQL response type and 200
/// under `application/json` (like every request error), and nothing runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_int_literal_outside_32_bits_is_a_validation_error() {
    let store = pulse_vsphere::connections::Registry::new(
        pulse_vsphere::collector::CollectorConfig::default(),
    );
    let (base, stop, server) = common::serve_http(store).await;
    let http = reqwest::Client::new();
    for (accept, status) in [
        ("application/graphql-response+json", 400),
        ("application/json", 200),
    ] {
        let r = http
            .post(format!("{base}/graphql"))
            .header("content-type", "application/json")
            .header("accept", accept)
            .body(
                serde_json::json!({"query": "{ vsphereVms(first: 99999999999) { totalCount } }"})
                    .to_string(),
            )
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), status, "{accept}");
        let body: Value = r.json().await.expect("json");
        assert!(body.get("data").is_none(), "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
            "{body}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(
            message.contains("99999999999") && message.contains("first"),
            "{body}"
        );
    }
    let _ = stop.send(());
    let _ = server.await;
}
