//! Helpers shared by integration tests: an HTTPS client for the self-signed simulator.
#![allow(dead_code)]

use std::time::Duration;

/// A client that accepts the simulator's self-signed certificate (tests only).
pub fn insecure_client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

use std::collections::HashMap;

use pulse_vsphere::model::paths::{collected_types, paths_for};
use pulse_vsphere::model::project::ProjectionContext;
use pulse_vsphere::model::raw::{RawInventory, RawObject};
use pulse_vsphere::simulator::state::SimState;
use serde_json::Value;

/// Reads a simulator's objects at the collector's property paths, as `RetrievePropertiesEx`
/// returns them, for tests of the layers above the collector (model, GraphQL) in isolation.
pub fn raw_from(state: &SimState) -> (RawInventory, ProjectionContext) {
    let inv = state.inv();
    let mut raw = RawInventory::default();
    for kind in collected_types() {
        for obj in inv.of_type(kind) {
            let mut r = RawObject::new(kind);
            for path in paths_for(kind) {
                if let Some(v) = obj.get_path(path) {
                    r.props.insert((*path).to_string(), v.clone());
                }
            }
            raw.upsert(&obj.moref.value, r);
        }
    }
    let alarm_names = inv
        .of_type("Alarm")
        .map(|a| {
            let name = a
                .get_path("info.name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            (a.moref.value.clone(), name)
        })
        .collect();
    let ctx = ProjectionContext {
        instance_uuid: state.instance_uuid.clone(),
        alarm_names,
        tags: HashMap::new(),
    };
    (raw, ctx)
}
