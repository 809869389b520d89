//! The simulator's responses checked against the official wire contracts in `../shared/specs`:
//! REST against the vSphere Automation swagger files, VI JSON against the derived VI JSON subset.
//! A small recursive validator (no schema crate) resolves each response's schema from the
//! operation, status and path in the spec and reports every mismatch with its JSON path.
//!
//! Deliberate relaxations, each for a gap in the spec files rather than in the simulator:
//! - `VcenterVmGuestOS` and `VcenterVmHardwareVersion` accept the values vSphere 8 added
//!   (`GROWN_ENUMS`); the `vcenter` swagger here is 7.0.3 and those enums grow every release.
//! - A VI `Any` value whose `_typeName` the subset does not model (`NetworkSummary`,
//!   `VirtualMachineStorageInfo`, ...) is only checked for being an object; the subset says it
//!   leaves large sub-trees unmodelled.
//! - Fault subtypes may carry `faultstring`: vCenter sends it on every fault, the subset declares it
//!   on `MethodFault` only and flattens inheritance without it.
//! - The subset omits the abstract fault bases (`RuntimeFault`, `VimFault`, ...) its faults extend;
//!   `VI_BASES` restores those links from the vim25 WSDL so subtyping can be checked.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use common::{Rest, Vim};
use pulse_vsphere::simulator::{Role, SimConfig, Simulator};
use serde_json::{json, Value};

/// Enum values newer than the 7.0.3 swagger, per the vSphere 8 Automation API reference.
const GROWN_ENUMS: &[(&str, &[&str])] = &[
    ("VcenterVmGuestOS", &["DEBIAN_12_64", "WINDOWS_SERVER_2025"]),
    ("VcenterVmHardwareVersion", &["VMX_20", "VMX_21"]),
];

/// Inheritance links through VI types the subset leaves out (vim25 WSDL).
const VI_BASES: &[(&str, &str)] = &[
    ("RuntimeFault", "MethodFault"),
    ("VimFault", "MethodFault"),
    ("SecurityError", "RuntimeFault"),
    ("InvalidRequest", "RuntimeFault"),
];

/// VI JSON boxes for primitives inside `Any` and what JSON type their `_value` has.
const VI_PRIMITIVES: &[(&str, &str)] = &[
    ("string", "string"),
    ("boolean", "boolean"),
    ("byte", "integer"),
    ("short", "integer"),
    ("int", "integer"),
    ("long", "integer"),
    ("float", "number"),
    ("double", "number"),
    ("dateTime", "date-time"),
];

struct Spec {
    doc: Value,
    /// `#/definitions/` (swagger 2) or `#/components/schemas/` (OpenAPI 3).
    openapi3: bool,
    /// VI JSON inheritance, child -> parent, read from "Extends X" descriptions.
    parents: HashMap<String, String>,
}

fn specs_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/specs")
}

impl Spec {
    fn load(file: &str) -> Spec {
        let path = specs_dir().join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let doc: Value = serde_json::from_str(&text).expect("spec JSON");
        let openapi3 = doc.get("openapi").is_some();
        let mut parents = HashMap::new();
        if let Some(schemas) = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            for (name, s) in schemas {
                let desc = s["description"].as_str().unwrap_or("");
                if let Some(rest) = desc.strip_prefix("Extends ") {
                    let parent: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
                    parents.insert(name.clone(), parent);
                }
            }
            for (child, parent) in VI_BASES {
                parents.insert((*child).to_string(), (*parent).to_string());
            }
        }
        Spec {
            doc,
            openapi3,
            parents,
        }
    }

    fn schema(&self, name: &str) -> Option<&Value> {
        if self.openapi3 {
            self.doc.pointer(&format!("/components/schemas/{name}"))
        } else {
            self.doc.get("definitions")?.get(name)
        }
    }

    /// Whether VI type `child` is `ancestor` or inherits from it.
    fn extends(&self, child: &str, ancestor: &str) -> bool {
        let mut cur = child;
        for _ in 0..32 {
            if cur == ancestor {
                return true;
            }
            match self.parents.get(cur) {
                Some(p) => cur = p,
                None => return false,
            }
        }
        false
    }

    /// The path template of the spec matching `path` (with `?query` when the template has one).
    fn template(&self, method: &str, path: &str) -> Option<String> {
        let (bare, query) = path.split_once('?').unwrap_or((path, ""));
        let segs: Vec<&str> = bare.split('/').collect();
        let paths = self.doc["paths"].as_object()?;
        let mut hits: Vec<&String> = paths
            .iter()
            .filter(|(_, ops)| ops.get(method).is_some())
            .map(|(k, _)| k)
            .filter(|k| {
                let (tb, tq) = k.split_once('?').unwrap_or((k, ""));
                let tsegs: Vec<&str> = tb.split('/').collect();
                (tq.is_empty() || tq == query)
                    && tsegs.len() == segs.len()
                    && tsegs
                        .iter()
                        .zip(&segs)
                        .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
            })
            .collect();
        // A literal segment beats a parameter (`/vm/{vm}` vs a fixed path).
        hits.sort_by_key(|k| k.matches('{').count());
        hits.first().map(|k| k.to_string())
    }

    fn response_schema(&self, method: &str, template: &str, status: u16) -> Option<&Value> {
        let resp = self.doc["paths"][template][method]["responses"].get(status.to_string())?;
        if self.openapi3 {
            resp.pointer("/content/application~1json/schema")
        } else {
            resp.get("schema")
        }
    }
}

/// Every mismatch of `value` against `schema`, as `$.a[0].b: message`.
struct Validator<'a> {
    spec: &'a Spec,
    errors: Vec<String>,
}

fn type_ok(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "date-time" => v
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        _ => true,
    }
}

impl Validator<'_> {
    fn fail(&mut self, path: &str, msg: String) {
        self.errors.push(format!("{path}: {msg}"));
    }

    fn check(&mut self, schema: &Value, name: Option<&str>, v: &Value, path: &str) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let target = r.rsplit('/').next().unwrap_or(r);
            match self.spec.schema(target) {
                Some(s) => self.check(s, Some(target), v, path),
                None => self.fail(path, format!("unresolvable $ref {r}")),
            }
            return;
        }
        if v.is_null() {
            if schema["nullable"] != json!(true) {
                self.fail(
                    path,
                    format!("null where {} expected", name.unwrap_or("a value")),
                );
            }
            return;
        }
        for sub in schema["allOf"].as_array().into_iter().flatten() {
            self.check(sub, name, v, path);
        }
        if self.polymorphic(schema, name, v, path) {
            return;
        }
        if let Some(ty) = schema["type"].as_str() {
            if !type_ok(ty, v) {
                return self.fail(path, format!("expected {ty}, got {v}"));
            }
        }
        self.scalar_rules(schema, name, v, path);
        if let Some(obj) = v.as_object() {
            self.object_rules(schema, name, obj, path);
        }
        if let Some(items) = v.as_array() {
            if schema["uniqueItems"] == json!(true) {
                let distinct: HashSet<String> = items.iter().map(Value::to_string).collect();
                if distinct.len() != items.len() {
                    self.fail(path, "items are not unique".into());
                }
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    self.check(item_schema, None, item, &format!("{path}[{i}]"));
                }
            }
        }
    }

    fn scalar_rules(&mut self, schema: &Value, name: Option<&str>, v: &Value, path: &str) {
        if let Some(allowed) = schema["enum"].as_array() {
            let grown = GROWN_ENUMS
                .iter()
                .find(|(n, _)| Some(*n) == name)
                .is_some_and(|(_, extra)| extra.iter().any(|e| v.as_str() == Some(e)));
            if !allowed.contains(v) && !grown {
                self.fail(path, format!("{v} is not in enum {}", name.unwrap_or("")));
            }
        }
        if schema["format"] == "date-time" && !type_ok("date-time", v) {
            self.fail(path, format!("{v} is not an RFC 3339 date-time"));
        }
        if schema["format"] == "int32" && v.as_i64().is_some_and(|n| i32::try_from(n).is_err()) {
            self.fail(path, format!("{v} does not fit int32"));
        }
        if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), v.as_f64()) {
            if n < min {
                self.fail(path, format!("{n} is below the minimum {min}"));
            }
        }
        if let (Some(max), Some(n)) = (schema["maximum"].as_f64(), v.as_f64()) {
            if n > max {
                self.fail(path, format!("{n} is above the maximum {max}"));
            }
        }
    }

    /// Required and declared properties. A schema listing `properties` without
    /// `additionalProperties` is held closed: vCenter sends only declared fields, so an extra one
    /// is almost always a misspelt name.
    fn object_rules(
        &mut self,
        schema: &Value,
        name: Option<&str>,
        obj: &serde_json::Map<String, Value>,
        path: &str,
    ) {
        let is_fault =
            name.is_some_and(|n| self.spec.openapi3 && self.spec.extends(n, "MethodFault"));
        for req in schema["required"].as_array().into_iter().flatten() {
            let key = req.as_str().unwrap_or("");
            if obj.get(key).is_none_or(Value::is_null) {
                self.fail(path, format!("required property `{key}` missing"));
            }
        }
        let props = schema["properties"].as_object();
        let extra = schema.get("additionalProperties");
        for (k, val) in obj {
            let child = format!("{path}.{k}");
            if let Some(p) = props.and_then(|p| p.get(k)) {
                self.check(p, None, val, &child);
            } else if is_fault && k == "faultstring" {
                self.check(&json!({"type": "string"}), None, val, &child);
            } else if let Some(s) = extra.filter(|e| e.is_object()) {
                self.check(s, None, val, &child);
            } else if props.is_some() && extra.is_none_or(|e| e == &json!(false)) {
                self.fail(&child, "property not declared by the schema".into());
            }
        }
    }

    /// VI JSON polymorphism by `_typeName`: a value of a declared base type is checked against
    /// its concrete type's schema, which must inherit from the declared one. Returns true when
    /// the value has been fully handled here.
    fn polymorphic(&mut self, schema: &Value, name: Option<&str>, v: &Value, path: &str) -> bool {
        if !self.spec.openapi3 {
            return false;
        }
        let (Some(declared), Some(concrete)) = (name, v.get("_typeName").and_then(Value::as_str))
        else {
            return false;
        };
        if declared == "Any" {
            self.any(v, path);
            return true;
        }
        if concrete == declared {
            return false;
        }
        match self.spec.schema(concrete) {
            Some(sub) if self.spec.extends(concrete, declared) => {
                self.check(sub, Some(concrete), v, path);
            }
            Some(_) => self.fail(
                path,
                format!("_typeName {concrete} is not a subtype of {declared}"),
            ),
            // A subtype the subset leaves out: only a polymorphic base admits it.
            None if schema["additionalProperties"] == json!(true) => return false,
            None => self.fail(
                path,
                format!("_typeName {concrete} where {declared} is expected"),
            ),
        }
        true
    }

    /// An `Any` value: boxed primitives, arrays and enums, or a data object.
    fn any(&mut self, v: &Value, path: &str) {
        let ty = v["_typeName"].as_str().unwrap_or("");
        let inner = &v["_value"];
        if let Some((_, json_ty)) = VI_PRIMITIVES.iter().find(|(n, _)| *n == ty) {
            if !type_ok(json_ty, inner) {
                self.fail(path, format!("boxed {ty} holds {inner}"));
            }
        } else if let Some(elem) = ty.strip_prefix("ArrayOf") {
            let Some(items) = inner.as_array() else {
                return self.fail(path, format!("{ty} without an array `_value`"));
            };
            let prim = lower_first(elem);
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}._value[{i}]");
                if VI_PRIMITIVES.iter().any(|(n, _)| *n == prim) {
                    self.any(&json!({"_typeName": prim, "_value": item}), &item_path);
                } else if let Some(s) = self.spec.schema(elem) {
                    self.check(s, Some(elem), item, &item_path);
                } else if let Some(e) = self.spec.schema(&format!("{elem}_enum")) {
                    self.check(e, Some(elem), item, &item_path);
                } else {
                    self.any(item, &item_path);
                }
            }
        } else if let Some(e) = self.spec.schema(&format!("{ty}_enum")) {
            self.check(e, Some(ty), inner, &format!("{path}._value"));
        } else if let Some(s) = self.spec.schema(ty) {
            let value = if inner.is_null() { v } else { inner };
            self.check(s, Some(ty), value, path);
        } else if !v.is_object() {
            self.fail(path, format!("{ty} value is not an object"));
        }
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// Specs by family, and the mismatches found so far.
struct Checker {
    rest: Vec<Spec>,
    vi: Spec,
    errors: Vec<String>,
    checked: usize,
}

impl Checker {
    fn new() -> Checker {
        let rest = [
            "vcenter-automation-7.0.3.vcenter.swagger2.json",
            "vcenter-automation-8.0.2.session.swagger2.json",
            "vcenter-automation-8.0.2.appliance.swagger2.json",
            "vcenter-automation-8.0.2.cis.swagger2.json",
        ]
        .iter()
        .map(|f| Spec::load(f))
        .collect();
        Checker {
            rest,
            vi: Spec::load("vi-json-8.0.1-subset.DERIVED.openapi.json"),
            errors: Vec::new(),
            checked: 0,
        }
    }

    /// Validates one response of `method path` (path as the spec spells it, from `/api` or
    /// `/sdk`) against the schema its spec declares for that status.
    fn check(&mut self, method: &str, path: &str, status: u16, body: &Value) {
        let method = method.to_ascii_lowercase();
        let specs: Vec<&Spec> = if path.starts_with("/sdk/") {
            vec![&self.vi]
        } else {
            self.rest.iter().collect()
        };
        let Some((spec, template)) = specs
            .into_iter()
            .find_map(|s| s.template(&method, path).map(|t| (s, t)))
        else {
            self.errors
                .push(format!("{method} {path}: no operation in the specs"));
            return;
        };
        let Some(schema) = spec.response_schema(&method, &template, status) else {
            self.errors.push(format!(
                "{method} {template}: status {status} is not declared"
            ));
            return;
        };
        let mut v = Validator {
            spec,
            errors: Vec::new(),
        };
        v.check(schema, None, body, "$");
        self.checked += 1;
        for e in v.errors {
            self.errors
                .push(format!("{method} {template} [{status}] {e}"));
        }
    }

    fn assert_clean(&self, min_checked: usize) {
        assert!(
            self.errors.is_empty(),
            "{} mismatches:\n{}",
            self.errors.len(),
            self.errors.join("\n")
        );
        assert!(
            self.checked >= min_checked,
            "only {} responses checked",
            self.checked
        );
    }
}

#[test]
fn the_validator_reports_json_paths() {
    let spec = Spec::load("vcenter-automation-7.0.3.vcenter.swagger2.json");
    let schema = json!({"type": "array", "items": {"$ref": "#/definitions/VcenterVMSummary"}});
    let mut v = Validator {
        spec: &spec,
        errors: Vec::new(),
    };
    let bad = json!([
        {"vm": "vm-1", "name": "a", "power_state": "POWERED_ON"},
        {"vm": "vm-2", "power_state": "ON", "cpu_count": "2", "memory_size_mib": 4}
    ]);
    v.check(&schema, None, &bad, "$");
    let text = v.errors.join("\n");
    assert!(
        text.contains("$[1]: required property `name` missing"),
        "{text}"
    );
    assert!(
        text.contains("$[1].power_state: \"ON\" is not in enum"),
        "{text}"
    );
    assert!(text.contains("$[1].cpu_count: expected integer"), "{text}");
    assert!(
        text.contains("$[1].memory_size_mib: property not declared"),
        "{text}"
    );
    assert_eq!(v.errors.len(), 4, "{text}");

    let vi = Spec::load("vi-json-8.0.1-subset.DERIVED.openapi.json");
    let mut v = Validator {
        spec: &vi,
        errors: Vec::new(),
    };
    let fault = json!({"_typeName": "NotAuthenticated", "object": {"type": 1}, "privilegeId": ""});
    v.check(
        &json!({"$ref": "#/components/schemas/MethodFault"}),
        None,
        &fault,
        "$",
    );
    assert!(
        v.errors
            .iter()
            .any(|e| e.starts_with("$.object: required property `value`")),
        "{:?}",
        v.errors
    );
    let mut v = Validator {
        spec: &vi,
        errors: Vec::new(),
    };
    let wrong = json!({"_typeName": "UserSession"});
    v.check(
        &json!({"$ref": "#/components/schemas/MethodFault"}),
        None,
        &wrong,
        "$",
    );
    assert!(
        v.errors
            .iter()
            .any(|e| e.contains("not a subtype of MethodFault")),
        "{:?}",
        v.errors
    );
}

#[tokio::test]
async fn rest_responses_match_the_automation_swagger() {
    let mut cfg = SimConfig::small().user("nobody", "x", Role::None);
    cfg.size.vms = 4001;
    let sim = Simulator::start(cfg).await.expect("sim");
    let rest = Rest::login(&sim, "admin", "admin").await;
    let mut ck = Checker::new();
    let anon = common::insecure_client();

    let r = anon
        .post(format!("{}/api/session", sim.base_url()))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .expect("login");
    let status = r.status().as_u16();
    ck.check(
        "POST",
        "/api/session",
        status,
        &r.json().await.expect("json"),
    );
    let (s, b) = common::send(
        anon.get(format!("{}/api/session", sim.base_url())),
        &rest.token,
    )
    .await;
    ck.check("GET", "/api/session", s, &b);
    let (s, b) = rest.get("/api/appliance/system/version").await;
    ck.check("GET", "/api/appliance/system/version", s, &b);

    let (_, hosts) = rest.get("/api/vcenter/host").await;
    let host = hosts[0]["host"].as_str().expect("host").to_string();
    for list in [
        format!("/api/vcenter/vm?hosts={host}"),
        "/api/vcenter/vm".into(),
        "/api/vcenter/vm?power_states=OFF".into(),
        "/api/vcenter/host".into(),
        "/api/vcenter/host?connection_states=UP".into(),
        "/api/vcenter/datastore".into(),
        "/api/vcenter/datastore?types=ZFS".into(),
        "/api/vcenter/cluster".into(),
        "/api/vcenter/datacenter".into(),
        "/api/vcenter/folder".into(),
        "/api/vcenter/folder?type=NOPE".into(),
        "/api/vcenter/resource-pool".into(),
        "/api/vcenter/network".into(),
        "/api/vcenter/network?types=VLAN".into(),
    ] {
        let (s, b) = rest.get(&list).await;
        let bare = list.split('?').next().expect("path");
        ck.check("GET", bare, s, &b);
    }

    let (tools_vm, no_tools_vm) = (
        common::vm_by_tools(&sim, true),
        common::vm_by_tools(&sim, false),
    );
    for vm in [&tools_vm, &no_tools_vm, &"vm-999999".to_string()] {
        for tail in ["", "/guest/identity", "/guest/local-filesystem"] {
            let path = format!("/api/vcenter/vm/{vm}{tail}");
            let (s, b) = rest.get(&path).await;
            ck.check("GET", &path, s, &b);
        }
    }
    // Every VM's detail, so each guest OS and device mix is covered once.
    let ids: Vec<String> = sim.control().state().inv().ids_of("VirtualMachine")[..60].to_vec();
    for vm in ids {
        let path = format!("/api/vcenter/vm/{vm}");
        let (s, b) = rest.get(&path).await;
        ck.check("GET", &path, s, &b);
    }

    let (s, b) = common::send(anon.get(format!("{}/api/vcenter/vm", sim.base_url())), "").await;
    ck.check("GET", "/api/vcenter/vm", s, &b);
    let nobody = Rest::login(&sim, "nobody", "x").await;
    let (s, b) = nobody.get("/api/vcenter/host").await;
    ck.check("GET", "/api/vcenter/host", s, &b);

    let (s, cats) = rest.get("/api/cis/tagging/category").await;
    ck.check("GET", "/api/cis/tagging/category", s, &cats);
    let cat = cats[0].as_str().expect("cat").to_string();
    let path = format!("/api/cis/tagging/category/{cat}");
    let (s, b) = rest.get(&path).await;
    ck.check("GET", &path, s, &b);
    let (s, tags) = rest.get("/api/cis/tagging/tag").await;
    ck.check("GET", "/api/cis/tagging/tag", s, &tags);
    for id in [
        tags[0].as_str().expect("tag"),
        "urn:vmomi:InventoryServiceTag:x:GLOBAL",
    ] {
        let path = format!("/api/cis/tagging/tag/{id}");
        let (s, b) = rest.get(&path).await;
        ck.check("GET", &path, s, &b);
    }
    let path = "/api/cis/tagging/tag-association?action=list-attached-tags-on-objects";
    let (s, b) = rest
        .post(
            path,
            json!({"object_ids": [{"type": "VirtualMachine", "id": tools_vm}]}),
        )
        .await;
    ck.check("POST", path, s, &b);
    ck.assert_clean(90);
}

const ROOT: &str =
    r#"{"_typeName": "ManagedObjectReference", "type": "Folder", "value": "group-d1"}"#;

fn moref(ty: &str, id: &str) -> Value {
    json!({"_typeName": "ManagedObjectReference", "type": ty, "value": id})
}

fn filter_spec(view: &Value, types: &[&str]) -> Value {
    let prop_set: Vec<Value> = types
        .iter()
        .map(|t| json!({"_typeName": "PropertySpec", "type": t, "all": true}))
        .collect();
    json!({"_typeName": "PropertyFilterSpec", "propSet": prop_set, "objectSet": [{
        "_typeName": "ObjectSpec", "obj": view, "skip": true,
        "selectSet": [{"_typeName": "TraversalSpec", "name": "traverseView", "type": "ContainerView", "path": "view", "skip": false}]
    }]})
}

#[tokio::test]
async fn vi_json_responses_match_the_derived_spec() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let mut ck = Checker::new();
    let vim = Vim::login(&sim, "admin", "admin").await;
    let prefix = "/sdk/vim25/8.0.3.0";
    // (method, path below the release, body) -> checked against the spec.
    macro_rules! call {
        ($method:expr, $path:expr, $body:expr) => {{
            let path: String = $path;
            let (s, b) = match $body {
                Some(body) => vim.post(&path, body).await,
                None => vim.get(&path).await,
            };
            if s != 204 {
                ck.check($method, &format!("{prefix}/{path}"), s, &b);
            }
            (s, b)
        }};
    }

    let anon = common::insecure_client();
    let (s, b) = common::send(
        anon.get(format!(
            "{}/ServiceInstance/ServiceInstance/content",
            vim.base
        )),
        "",
    )
    .await;
    ck.check(
        "GET",
        &format!("{prefix}/ServiceInstance/ServiceInstance/content"),
        s,
        &b,
    );
    let (s, b) = common::send(
        anon.post(format!("{}/SessionManager/SessionManager/Login", vim.base))
            .json(&json!({"userName": "admin", "password": "wrong"})),
        "",
    )
    .await;
    ck.check(
        "POST",
        &format!("{prefix}/SessionManager/SessionManager/Login"),
        s,
        &b,
    );
    let (s, b) = common::send(
        anon.post(format!(
            "{}/PropertyCollector/propertyCollector/RetrievePropertiesEx",
            vim.base
        ))
        .json(&json!({"specSet": []})),
        "",
    )
    .await;
    ck.check(
        "POST",
        &format!("{prefix}/PropertyCollector/propertyCollector/RetrievePropertiesEx"),
        s,
        &b,
    );
    call!(
        "GET",
        "SessionManager/SessionManager/currentSession".into(),
        None::<Value>
    );

    let types = [
        "VirtualMachine",
        "HostSystem",
        "Datastore",
        "ClusterComputeResource",
        "ComputeResource",
        "ResourcePool",
        "Datacenter",
        "Folder",
        "Network",
    ];
    let root: Value = serde_json::from_str(ROOT).expect("root");
    let (_, view) = call!(
        "POST",
        "ViewManager/ViewManager/CreateContainerView".into(),
        Some(json!({"container": root, "type": types, "recursive": true}))
    );
    let (s, page) = call!(
        "POST",
        "PropertyCollector/propertyCollector/RetrievePropertiesEx".into(),
        Some(
            json!({"specSet": [filter_spec(&view, &types)], "options": {"_typeName": "RetrieveOptions", "maxObjects": 1000}})
        )
    );
    assert_eq!(s, 200, "{page}");
    call!(
        "POST",
        "PropertyCollector/propertyCollector/RetrievePropertiesEx".into(),
        Some(json!({"specSet": [filter_spec(&view, &types)], "options": {"maxObjects": 0}}))
    );
    let mut bad_path = filter_spec(&view, &["VirtualMachine"]);
    bad_path["propSet"][0] =
        json!({"_typeName": "PropertySpec", "type": "VirtualMachine", "pathSet": ["runtime.nope"]});
    call!(
        "POST",
        "PropertyCollector/propertyCollector/RetrievePropertiesEx".into(),
        Some(json!({"specSet": [bad_path]}))
    );

    let (_, filter) = call!(
        "POST",
        "PropertyCollector/propertyCollector/CreateFilter".into(),
        Some(
            json!({"spec": filter_spec(&view, &["VirtualMachine", "HostSystem"]), "partialUpdates": false})
        )
    );
    let (s, first) = call!(
        "POST",
        "PropertyCollector/propertyCollector/WaitForUpdatesEx".into(),
        Some(json!({"version": "", "options": {"_typeName": "WaitOptions", "maxWaitSeconds": 0}}))
    );
    assert_eq!(s, 200);
    let (vm, host) = {
        let inv = sim.control().state().inv();
        (
            inv.ids_of("VirtualMachine")[0].clone(),
            inv.ids_of("HostSystem")[0].clone(),
        )
    };
    sim.control().apply_changes(20);
    sim.control().disconnect_host(&host);
    call!(
        "POST",
        "PropertyCollector/propertyCollector/WaitForUpdatesEx".into(),
        Some(json!({"version": first["version"], "options": {"maxWaitSeconds": 0}}))
    );
    call!(
        "POST",
        "PropertyCollector/propertyCollector/WaitForUpdatesEx".into(),
        Some(json!({"version": "bogus", "options": {"maxWaitSeconds": 0}}))
    );
    let filter_id = filter["value"].as_str().expect("filter").to_string();
    call!(
        "POST",
        format!("PropertyFilter/{filter_id}/DestroyPropertyFilter"),
        Some(json!({}))
    );

    for prop in [
        "snapshot",
        "triggeredAlarmState",
        "summary",
        "runtime",
        "guest",
        "config",
    ] {
        call!("GET", format!("VirtualMachine/{vm}/{prop}"), None::<Value>);
    }
    for prop in ["summary", "runtime", "hardware", "triggeredAlarmState"] {
        call!("GET", format!("HostSystem/{host}/{prop}"), None::<Value>);
    }
    call!("GET", "VirtualMachine/vm-999999/name".into(), None::<Value>);

    call!(
        "POST",
        "EventManager/EventManager/QueryEvents".into(),
        Some(json!({"filter": {"_typeName": "EventFilterSpec", "maxCount": 300}}))
    );
    call!(
        "GET",
        "TaskManager/TaskManager/recentTask".into(),
        None::<Value>
    );
    let (_, tasks) = call!(
        "POST",
        "TaskManager/TaskManager/CreateCollectorForTasks".into(),
        Some(json!({"filter": {"_typeName": "TaskFilterSpec",
            "time": {"_typeName": "TaskFilterSpecByTime", "timeType": "queuedTime", "beginTime": "2020-01-01T00:00:00Z"}}}))
    );
    let tasks = tasks["value"].as_str().expect("task collector").to_string();
    call!(
        "POST",
        format!("TaskHistoryCollector/{tasks}/ReadNextTasks"),
        Some(json!({"maxCount": 50}))
    );
    call!(
        "POST",
        format!("TaskHistoryCollector/{tasks}/DestroyCollector"),
        Some(json!({}))
    );
    let (_, counters) = call!(
        "GET",
        "PerformanceManager/PerfMgr/perfCounter".into(),
        None::<Value>
    );
    let cpu = counters
        .as_array()
        .expect("counters")
        .iter()
        .find(|c| c["groupInfo"]["key"] == "cpu" && c["nameInfo"]["key"] == "usage")
        .and_then(|c| c["key"].as_i64())
        .expect("cpu.usage");
    for format in ["normal", "csv"] {
        call!(
            "POST",
            "PerformanceManager/PerfMgr/QueryPerf".into(),
            Some(
                json!({"querySpec": [{"_typeName": "PerfQuerySpec", "entity": moref("HostSystem", &host),
                "metricId": [{"_typeName": "PerfMetricId", "counterId": cpu, "instance": ""}],
                "intervalId": 20, "maxSample": 3, "format": format}]})
            )
        );
    }
    sim.control().set_max_query_metrics(1);
    let vms: Vec<Value> = sim.control().state().inv().ids_of("VirtualMachine")[..4]
        .iter()
        .map(|v| json!({"_typeName": "PerfQuerySpec", "entity": moref("VirtualMachine", v), "intervalId": 300,
            "metricId": [{"_typeName": "PerfMetricId", "counterId": cpu, "instance": ""}]}))
        .collect();
    call!(
        "POST",
        "PerformanceManager/PerfMgr/QueryPerf".into(),
        Some(json!({"querySpec": vms}))
    );
    sim.control().deny_object(&vm);
    call!("GET", format!("VirtualMachine/{vm}/summary"), None::<Value>);
    ck.assert_clean(25);
}
