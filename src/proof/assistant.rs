//! VC-6 and VC-7: the assistant's query pack answered with the assistant credential and
//! nothing else allowed; no control verb, provider-local type or over-claiming wording served;
//! every vCenter call of the run a read.

use serde_json::{json, Value};

use super::harness::errors_of;
use super::projection::Served;
use super::record::{Method, Scenario};
use super::Context;
use crate::auth::Role;
use crate::vcenter::methods::MethodKind;

const PACK: &str = "{ vsphereAssistantPack { version operations { name id variables } } }";

/// Values for the pack's variables, from what the run has seen.
fn variables(names: &[Value], now: &Served) -> Value {
    let mut vars = json!({});
    let vm = now.vms.first().or(now.hosts.first());
    let cluster = now
        .hosts
        .iter()
        .find_map(|h| h["vsphere"]["topology"]["cluster"]["name"].as_str())
        .unwrap_or("none");
    for name in names.iter().filter_map(Value::as_str) {
        // `name: Type` or `name (Type, ...)` as the pack documents it.
        let name = name
            .split([':', ' ', '('])
            .next()
            .unwrap_or(name)
            .trim_start_matches('$');
        let value = match name {
            "id" => vm.map_or(Value::Null, |r| r["id"].clone()),
            "cluster" => json!(cluster),
            "olderThanDays" => json!(0),
            "usedPercentAtLeast" => json!(0.0),
            _ => continue,
        };
        vars[name] = value;
    }
    vars
}

/// VC-6.
pub async fn vc6(s: &mut Scenario, cx: &Context<'_>, now: &Served) {
    let h = cx.harness;
    // The pack is public; the assistant, held to it, runs its operations by id.
    let pack = match h.query(Role::Admin, PACK, json!({})).await {
        Ok(d) => d["vsphereAssistantPack"].clone(),
        Err(e) => {
            s.check(false, format!("reading the pack: {}", e.0));
            s.finish();
            return;
        }
    };
    let ops = pack["operations"].as_array().cloned().unwrap_or_default();
    s.check(
        !ops.is_empty(),
        format!(
            "pack version {} with {} operations",
            pack["version"],
            ops.len()
        ),
    );
    for op in &ops {
        let names = op["variables"].as_array().cloned().unwrap_or_default();
        let body = json!({
            "variables": variables(&names, now),
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": op["id"]}},
        });
        let name = op["name"].as_str().unwrap_or("?");
        match h.post(Role::Assistant, body).await {
            Ok(v) => {
                let error = errors_of(&v);
                s.check(
                    error.is_none() && !v["data"].is_null(),
                    format!(
                        "{name} by its persisted id: {}",
                        error.unwrap_or_else(|| "answered".into())
                    ),
                );
            }
            Err(e) => {
                s.check(false, format!("{name}: {}", e.0));
            }
        }
    }
    // Refused for what it is, before it runs: not a NOT_FOUND from a mutation that ran.
    let refused = |v: &Value| {
        v["data"].is_null()
            && v["errors"].as_array().is_some_and(|e| {
                !e.is_empty()
                    && e.iter().all(|e| {
                        matches!(
                            e["extensions"]["code"].as_str(),
                            Some(
                                "PERSISTED_QUERY_NOT_IN_LIST"
                                    | "GRAPHQL_VALIDATION_FAILED"
                                    | "FORBIDDEN"
                            )
                        )
                    })
            })
    };
    for (what, query) in [
        (
            "a mutation",
            "mutation { vsphereDeleteConnection(id: \"x\", version: 1) }",
        ),
        ("a query outside the pack", "{ vsphereConnections { id } }"),
    ] {
        match h.post(Role::Assistant, json!({"query": query})).await {
            Ok(v) => {
                s.check(
                    refused(&v),
                    format!(
                        "{what} as the assistant: {}",
                        errors_of(&v).unwrap_or_else(|| "ANSWERED".into())
                    ),
                );
            }
            Err(e) => {
                s.check(false, format!("{what}: {}", e.0));
            }
        }
    }
    s.finish();
}

/// Words of a control verb in a mutation's name.
const CONTROL: &[&str] = &[
    "power",
    "reboot",
    "restart",
    "shutdown",
    "suspend",
    "reset",
    "snapshot",
    "revert",
    "migrate",
    "relocate",
    "clone",
    "maintenance",
    "acknowledge",
    "guest",
    "reconfigure",
    "destroy",
    "unregister",
];

/// Type names a provider-local resource would have.
const PROVIDER_LOCAL: &[&str] = &[
    "EsxiHost",
    "VsphereHost",
    "VsphereVm",
    "VsphereDatastore",
    "VsphereCluster",
];

/// VC-7, all but the method list (`methods`, once the run has logged out).
pub async fn vc7(s: &mut Scenario, cx: &Context<'_>, now: &Served) {
    let h = cx.harness;
    let sdl = match h
        .query(Role::Admin, "{ _service { sdl } }", json!({}))
        .await
    {
        Ok(d) => d["_service"]["sdl"].as_str().unwrap_or("").to_string(),
        Err(e) => {
            s.check(false, format!("reading the schema: {}", e.0));
            String::new()
        }
    };
    let (mutations, entities, local) = schema_facts(&sdl);
    let control: Vec<&String> = mutations
        .iter()
        .filter(|m| {
            // Without the prefix: `vsphereSetConnection...` holds "reset" across the seam.
            let lower = m.trim_start_matches("vsphere").to_ascii_lowercase();
            !m.contains("Connection") || CONTROL.iter().any(|c| lower.contains(c))
        })
        .collect();
    s.check(
        !mutations.is_empty() && control.is_empty(),
        format!(
            "{} mutations, all connection onboarding; control verbs: {control:?}",
            mutations.len()
        ),
    );
    s.check(
        entities
            .iter()
            .all(|e| ["Agent", "Vm", "Storage"].contains(&e.as_str()))
            && local.is_empty(),
        format!("entity types {entities:?}; provider-local types {local:?}"),
    );
    let others = now
        .all()
        .filter(|r| r["platformType"] != "vmware-vsphere")
        .count();
    s.check(
        others == 0,
        format!("{others} resources with a platformType other than vmware-vsphere"),
    );
    match h
        .query(
            Role::Admin,
            "{ vspherePlatform { readinessStage entryPoint exclusions } }",
            json!({}),
        )
        .await
    {
        Ok(d) => {
            let p = &d["vspherePlatform"];
            let exclusions = p["exclusions"].to_string().to_ascii_lowercase();
            let missing: Vec<&&str> = [
                "direct esxi onboarding",
                "physical-disk",
                "snapshots as recovery",
                "control verbs",
            ]
            .iter()
            .filter(|x| !exclusions.contains(**x))
            .collect();
            s.check(
                p["readinessStage"] == "first-lab-ready" && missing.is_empty(),
                format!(
                    "platform row: readiness {}, entry point {}, exclusions missing {missing:?}",
                    p["readinessStage"], p["entryPoint"]
                ),
            );
        }
        Err(e) => {
            s.check(false, format!("reading the platform row: {}", e.0));
        }
    }
}

/// The served schema's mutation fields, entity (`@key`) types and provider-local types.
fn schema_facts(sdl: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let Ok(doc) = async_graphql::parser::parse_schema(sdl) else {
        return Default::default();
    };
    let (mut mutations, mut entities, mut local) = (Vec::new(), Vec::new(), Vec::new());
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(t) = def else {
            continue;
        };
        let t = &t.node;
        let name = t.name.node.to_string();
        if t.directives.iter().any(|d| d.node.name.node == "key") {
            entities.push(name.clone());
        }
        if PROVIDER_LOCAL.contains(&name.as_str()) {
            local.push(name.clone());
        }
        if let (TypeKind::Object(o), "Mutation") = (&t.kind, name.as_str()) {
            mutations.extend(o.fields.iter().map(|f| f.node.name.node.to_string()));
        }
    }
    (mutations, entities, local)
}

/// VC-7's method list: every call of the run a read, a session of its own, or an object of
/// its own session.
pub fn methods(s: &mut Scenario, methods: &[Method]) {
    let unknown: Vec<String> = methods
        .iter()
        .filter(|m| m.kind == MethodKind::Unknown)
        .map(|m| format!("{} {}", m.family, m.call))
        .collect();
    s.check(
        !methods.is_empty() && unknown.is_empty(),
        format!(
            "{} distinct vCenter calls, not known to be reads: {unknown:?}",
            methods.len()
        ),
    );
    s.finish();
}
