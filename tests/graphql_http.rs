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
