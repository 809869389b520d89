//! Roles over HTTP against the real server: admin, reader, assistant, no credential, an
//! unknown token, an expired JWT and a JWT for another audience, against every root field and
//! every mutation.

mod common;

use std::time::Duration;

use pulse_vsphere::auth::{AuthConfig, Authenticator, JwtConfig, Role};
use pulse_vsphere::collector::CollectorConfig;
use pulse_vsphere::service::{self, Service};
use serde_json::{json, Value};

const ADMIN: &str = "admin-token-0123456789abcdef";
const READER: &str = "reader-token-0123456789abcdef";
const ASSISTANT: &str = "assistant-token-0123456789abcdef";
const JWT_SECRET: &str = "a-gateway-signing-secret-of-32-bytes-or-more";

fn jwt(aud: &str, exp_offset: i64, roles: &[&str]) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "alice@gateway", "iss": "pulse-gateway", "aud": aud, "exp": now + exp_offset, "iat": now, "roles": roles}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("jwt")
}

const QUERIES: &[(&str, &str)] = &[
    ("vsphereHosts", "{ vsphereHosts(first: 1) { totalCount } }"),
    ("vsphereVms", "{ vsphereVms(first: 1) { totalCount } }"),
    (
        "vsphereDatastores",
        "{ vsphereDatastores(first: 1) { totalCount } }",
    ),
    (
        "vsphereResource",
        "{ vsphereResource(id: \"x\") { __typename } }",
    ),
    (
        "vsphereActiveAlerts",
        "{ vsphereActiveAlerts(first: 1) { totalCount } }",
    ),
    (
        "vsphereAlertHistory",
        "{ vsphereAlertHistory(first: 1) { at } }",
    ),
    ("vsphereConnections", "{ vsphereConnections { id } }"),
    ("vspherePlatform", "{ vspherePlatform { id } }"),
    ("vsphereAuditLog", "{ vsphereAuditLog(first: 1) { seq } }"),
    ("vsphereStore", "{ vsphereStore { ok } }"),
];

const MUTATIONS: &[(&str, &str)] = &[
    (
        "create",
        "mutation { vsphereCreateConnection(input: {}) { id } }",
    ),
    (
        "update",
        "mutation { vsphereUpdateConnection(id: \"nope\", version: 1, input: {}) { id } }",
    ),
    (
        "enable",
        "mutation { vsphereSetConnectionEnabled(id: \"nope\", version: 1, enabled: true) { id } }",
    ),
    (
        "delete",
        "mutation { vsphereDeleteConnection(id: \"nope\", version: 1) }",
    ),
    (
        "test",
        "mutation { vsphereTestConnection(input: {}) { verdict } }",
    ),
    (
        "testSaved",
        "mutation { vsphereTestSavedConnection(id: \"nope\") { verdict } }",
    ),
];

async fn post(http: &reqwest::Client, url: &str, auth: Option<&str>, q: &str) -> (u16, Value) {
    let mut req = http.post(url).json(&json!({"query": q}));
    if let Some(a) = auth {
        req = req.header("authorization", format!("Bearer {a}"));
    }
    let resp = req.send().await.expect("post");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

fn codes(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn every_role_against_every_root_field_and_mutation() {
    let dir = common::backends::TempDir::new();
    let secret_file = std::env::temp_dir().join(format!("pv-jwt-{}", uuid::Uuid::new_v4()));
    std::fs::write(&secret_file, JWT_SECRET).unwrap();
    let auth = Authenticator::from_config(&AuthConfig {
        tokens: vec![
            common::hashed_token("ops", Role::Admin, ADMIN),
            common::hashed_token("frontend", Role::Reader, READER),
            common::hashed_token("assistant", Role::Assistant, ASSISTANT),
        ],
        jwt: Some(JwtConfig {
            issuer: "pulse-gateway".into(),
            audience: "pulse-vsphere".into(),
            roles_claim: "roles".into(),
            hs256_secret_env: None,
            hs256_secret_file: Some(secret_file.clone()),
            jwks_file: None,
            leeway_seconds: Some(0),
        }),
    })
    .expect("auth config");
    let settings = dir.sqlite_settings();
    let svc = Service::start(
        &settings,
        Vec::new(),
        CollectorConfig::default(),
        Default::default(),
    )
    .await
    .expect("start");
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let access = pulse_vsphere::server::Access::new(auth);
    let task = tokio::spawn(service::run(svc, addr, access, async move {
        let _ = rx.await;
    }));
    let url = format!("http://{addr}/graphql");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let admin_jwt = jwt("pulse-vsphere", 300, &["Admin"]);
    for (who, cred, role) in [
        ("admin token", ADMIN.to_string(), Role::Admin),
        ("admin JWT", admin_jwt, Role::Admin),
        ("reader", READER.to_string(), Role::Reader),
        ("assistant", ASSISTANT.to_string(), Role::Assistant),
    ] {
        for (field, q) in QUERIES {
            let (status, v) = post(&http, &url, Some(&cred), q).await;
            assert_eq!(status, 200, "{who} {field}");
            if *field == "vsphereAuditLog" && role != Role::Admin {
                assert_eq!(codes(&v), ["FORBIDDEN"], "{who} {field}: {v}");
            } else {
                assert!(v["errors"].is_null(), "{who} {field}: {v}");
            }
        }
        for (name, q) in MUTATIONS {
            let (_, v) = post(&http, &url, Some(&cred), q).await;
            let c = codes(&v);
            match role {
                Role::Admin => assert!(
                    c == ["BAD_USER_INPUT"] || c == ["NOT_FOUND"],
                    "{who} {name} reaches onboarding: {v}"
                ),
                Role::Reader => assert_eq!(c, ["FORBIDDEN"], "{who} {name}: {v}"),
                // Refused before execution: its schema has no mutation type.
                Role::Assistant => {
                    assert!(
                        !c.is_empty() && c.iter().all(|c| c == "GRAPHQL_VALIDATION_FAILED"),
                        "{who} {name}: {v}"
                    );
                    assert!(v["data"].is_null(), "{v}");
                }
            }
        }
    }
    let (_, v) = post(
        &http,
        &url,
        Some(ASSISTANT),
        "{ __schema { mutationType { name } } }",
    )
    .await;
    assert_eq!(v["data"]["__schema"]["mutationType"], Value::Null, "{v}");
    let (_, v) = post(
        &http,
        &url,
        Some(READER),
        "{ __schema { mutationType { name } } }",
    )
    .await;
    assert_eq!(v["data"]["__schema"]["mutationType"]["name"], "Mutation");

    // Credentials that are missing, unknown, expired or for someone else: 401, nothing run.
    let expired = jwt("pulse-vsphere", -60, &["admin"]);
    let other_audience = jwt("another-service", 300, &["admin"]);
    for (who, cred) in [
        ("no credential", None),
        ("unknown token", Some("not-a-known-token-0000000000")),
        ("expired JWT", Some(expired.as_str())),
        ("wrong audience", Some(other_audience.as_str())),
    ] {
        for (field, q) in QUERIES.iter().chain(MUTATIONS) {
            let (status, v) = post(&http, &url, cred, q).await;
            assert_eq!(status, 401, "{who} {field}");
            assert_eq!(codes(&v), ["UNAUTHENTICATED"], "{who} {field}: {v}");
            if let Some(c) = cred {
                assert!(!v.to_string().contains(c), "the credential is not echoed");
            }
        }
    }
    let _ = tx.send(());
    task.await.expect("join").expect("stopped");
    let _ = std::fs::remove_file(secret_file);
}
