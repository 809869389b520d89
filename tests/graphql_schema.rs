//! The checked-in SDL is the generated one, every type and field is described for the
//! assistant, and the schema keeps the product's promises (no control verbs, no "supported"
//! wording, no provider-local resource types).

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

/// Types and directives that federation or async-graphql add and we do not describe.
fn builtin(name: &str) -> bool {
    name.starts_with('_')
        || name.starts_with("link__")
        || name.starts_with("federation__")
        || matches!(name, "FieldSet" | "Query" | "link")
}

#[test]
fn schema_graphql_is_current() {
    let generated = pulse_vsphere::graphql::sdl();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "schema.graphql is stale: regenerate it with `cargo run -- schema > schema.graphql`"
    );
}

#[test]
fn every_type_field_and_value_has_a_description() {
    let sdl = pulse_vsphere::graphql::sdl();
    let doc = parse_schema(&sdl).expect("the SDL parses");
    let mut missing = Vec::new();
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(t) = def else {
            continue;
        };
        let t = &t.node;
        let name = t.name.node.as_str();
        if builtin(name) {
            continue;
        }
        if t.description.is_none() {
            missing.push(name.to_string());
        }
        match &t.kind {
            TypeKind::Object(o) => {
                for f in &o.fields {
                    let f = &f.node;
                    if !f.name.node.starts_with('_') && f.description.is_none() {
                        missing.push(format!("{name}.{}", f.name.node));
                    }
                    for a in &f.arguments {
                        if a.node.description.is_none() && name == "Query" {
                            missing.push(format!("{name}.{}({})", f.name.node, a.node.name.node));
                        }
                    }
                }
            }
            TypeKind::InputObject(o) => {
                for f in &o.fields {
                    if f.node.description.is_none() {
                        missing.push(format!("{name}.{}", f.node.name.node));
                    }
                }
            }
            TypeKind::Enum(e) => {
                for v in &e.values {
                    if v.node.description.is_none() {
                        missing.push(format!("{name}.{}", v.node.value.node));
                    }
                }
            }
            _ => {}
        }
    }
    // Query itself: every root field is described.
    for def in &doc.definitions {
        if let TypeSystemDefinition::Type(t) = def {
            if t.node.name.node == "Query" {
                if let TypeKind::Object(o) = &t.node.kind {
                    for f in &o.fields {
                        if !f.node.name.node.starts_with('_') && f.node.description.is_none() {
                            missing.push(format!("Query.{}", f.node.name.node));
                        }
                    }
                }
            }
        }
    }
    assert!(missing.is_empty(), "undescribed: {missing:#?}");
}

#[test]
fn schema_keeps_the_product_promises() {
    let sdl = pulse_vsphere::graphql::sdl();
    let lower = sdl.to_lowercase();
    for word in lower.split(|c: char| !c.is_alphanumeric() && c != '-') {
        assert_ne!(
            word, "supported",
            "the schema must not call vSphere supported"
        );
    }
    // Mutations exist only for connection onboarding; none reaches vCenter.
    let mutation = sdl
        .split("type Mutation {")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .expect("the onboarding mutations");
    let fields: Vec<&str> = mutation
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("vsphere"))
        .map(|l| l.split('(').next().unwrap_or(l))
        .collect();
    assert_eq!(
        fields,
        [
            "vsphereCreateConnection",
            "vsphereUpdateConnection",
            "vsphereSetConnectionEnabled",
            "vsphereDeleteConnection",
            "vsphereTestConnection",
            "vsphereTestSavedConnection"
        ]
    );
    for local in [
        "esxi-host",
        "vsphere-vm",
        "vsphere-datastore",
        "vsphere-cluster",
        "EsxiHost",
        "VsphereCluster {",
    ] {
        assert!(!sdl.contains(local), "provider-local type {local}");
    }
    for verb in [
        "powerOn",
        "powerOff",
        "revertSnapshot",
        "createSnapshot",
        "acknowledge",
        "enterMaintenance",
    ] {
        assert!(!sdl.contains(&format!("{verb}(")), "control verb {verb}");
    }
    // The core stub's root field and entity-owned field are not ours.
    assert!(!sdl.contains("pinnedResources"));
    assert!(!sdl.contains("notes:"));
    assert!(sdl.contains("type Agent @key(fields: \"id\")"));
    assert!(sdl.contains("type Vm @key(fields: \"id\")"));
    assert!(sdl.contains("type Storage @key(fields: \"id\")"));
    assert!(sdl.contains("first-lab-ready"));
}
