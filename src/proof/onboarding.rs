//! VC-1 and VC-2: the connection test and its failure classes produced on purpose with safe
//! inputs, then the saved connection and its retest with the password masked.

use serde_json::{json, Value};

use super::harness::Harness;
use super::record::Scenario;
use super::Context;
use crate::auth::Role;

const TEST: &str = "mutation T($input: VsphereConnectionInput!) { vsphereTestConnection(input: $input) { verdict failureClass message vcenterVersion negotiatedRelease missingPrivileges presentedThumbprint } }";
const CREATE: &str = "mutation C($input: VsphereConnectionInput!) { vsphereCreateConnection(input: $input) { id connectionId version passwordSet } }";
const RETEST: &str = "mutation R($id: ID!) { vsphereTestSavedConnection(id: $id, overlay: {password: \"********\"}) { verdict failureClass message } }";
pub const CONNECTIONS: &str = "{ vsphereConnections { id connectionId version state lastSuccess username passwordSet tlsMode healthIssues { stage failureClass message hint privileges object { kind moId name } } contribution { agents vms storage activeAlerts } } }";

/// The saved connection the later scenarios read.
pub struct Saved {
    pub id: String,
    pub connection: String,
    pub version: i64,
    /// Just before it was saved: its first sync is newer.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

async fn test(h: &Harness, input: &Value) -> Result<Value, String> {
    h.query(Role::Admin, TEST, json!({ "input": input }))
        .await
        .map(|d| d["vsphereTestConnection"].clone())
        .map_err(|e| e.0)
}

/// A port on this machine nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9)
}

/// VC-1: the test passes on the real input; a wrong pinned thumbprint, a closed port and one
/// wrong password each fail with their class. Then the connection is saved.
pub async fn vc1(s: &mut Scenario, cx: &Context<'_>) -> Option<Saved> {
    let h = cx.harness;
    let input = cx.input.clone();
    match test(h, &input).await {
        Ok(t) => {
            s.check(
                t["verdict"] != "FAILED",
                format!(
                    "connection test {} ({}), vCenter {}, release {}, missing privileges {}",
                    t["verdict"].as_str().unwrap_or("?"),
                    t["message"].as_str().unwrap_or(""),
                    t["vcenterVersion"].as_str().unwrap_or("-"),
                    t["negotiatedRelease"].as_str().unwrap_or("-"),
                    t["missingPrivileges"]
                ),
            );
        }
        Err(e) => {
            s.check(false, format!("connection test: {e}"));
        }
    }
    let mut pinned = input.clone();
    pinned["tlsMode"] = json!("PINNED");
    pinned["tlsThumbprint"] = json!(vec!["00"; 32].join(":"));
    pinned["tlsCaPem"] = Value::Null;
    let mut closed = input.clone();
    closed["host"] = json!("127.0.0.1");
    closed["port"] = json!(closed_port());
    let mut wrong = input.clone();
    // Random, never derived from the real password; one attempt, so no lockout can follow.
    wrong["password"] = json!(format!("wrong-{}", uuid::Uuid::new_v4()));
    for (what, draft, class) in [
        ("a wrong pinned thumbprint", pinned, "tls_validation_failed"),
        ("a closed port", closed, "endpoint_unreachable"),
        ("one wrong password", wrong, "auth_invalid"),
    ] {
        let got = test(h, &draft)
            .await
            .map(|t| t["failureClass"].as_str().unwrap_or("none").to_string())
            .unwrap_or_else(|e| e);
        s.check(
            got == class,
            format!("{what}: failure class {got} (expected {class})"),
        );
    }
    let created_at = chrono::Utc::now();
    let created = h
        .query(Role::Admin, CREATE, json!({ "input": input }))
        .await
        .map_err(|e| e.0)
        .and_then(|d| {
            let c = &d["vsphereCreateConnection"];
            Ok(Saved {
                id: c["id"].as_str().ok_or("no id")?.to_string(),
                connection: c["connectionId"]
                    .as_str()
                    .ok_or("no connectionId")?
                    .to_string(),
                version: c["version"].as_i64().ok_or("no version")?,
                created_at,
            })
        });
    let saved = match created {
        Ok(saved) => {
            s.check(true, format!("saved as connection {}", saved.connection));
            Some(saved)
        }
        Err(e) => {
            s.check(false, format!("saving the connection: {e}"));
            None
        }
    };
    s.finish();
    saved
}

/// VC-2: the saved connection shows its password only as set; a retest with the mask keeps the
/// stored password and passes; no answer carries the password.
pub async fn vc2(s: &mut Scenario, cx: &Context<'_>, saved: &Saved) {
    let h = cx.harness;
    let password = cx.input["password"].as_str().unwrap_or_default();
    // Every string of the answer, unescaped; the user and host names may contain a short
    // password by chance and are not what this looks for.
    let clear = |answer: &Value| {
        fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
            match v {
                Value::String(s) => out.push(s),
                Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
                Value::Object(o) => o.values().for_each(|x| strings(x, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        strings(answer, &mut all);
        let names = [&cx.input["username"], &cx.input["host"]];
        password.is_empty()
            || !all
                .iter()
                .filter(|s| !names.iter().any(|n| n.as_str() == Some(**s)))
                .any(|s| s.contains(password))
    };
    match h.query(Role::Admin, CONNECTIONS, json!({})).await {
        Ok(d) => {
            let c = d["vsphereConnections"]
                .as_array()
                .and_then(|l| l.iter().find(|c| c["id"] == saved.id.as_str()).cloned())
                .unwrap_or(Value::Null);
            s.check(
                c["passwordSet"] == true,
                "the saved connection shows passwordSet",
            );
            s.check(clear(&d), "no connection field carries the password");
        }
        Err(e) => {
            s.check(false, format!("reading the saved connection: {}", e.0));
        }
    }
    match h
        .query(Role::Admin, RETEST, json!({ "id": saved.id }))
        .await
    {
        Ok(d) => {
            let t = &d["vsphereTestSavedConnection"];
            s.check(
                t["verdict"] != "FAILED" && clear(&d),
                format!(
                    "retest with the masked password: {} ({})",
                    t["verdict"].as_str().unwrap_or("?"),
                    t["message"].as_str().unwrap_or("")
                ),
            );
        }
        Err(e) => {
            s.check(false, format!("retest: {}", e.0));
        }
    }
    s.finish();
}
