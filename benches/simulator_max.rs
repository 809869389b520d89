//! Simulator benchmark (issue 2) at the vCenter maximums (2,500 hosts, 45,000 VMs, 1,000
//! datastores): start-up time, peak RSS, and the time to page every VM with ten properties
//! through ContainerView + RetrievePropertiesEx (`maxObjects` 1000) over HTTPS, as a client would.
//!
//! Run: `cargo bench --bench simulator_max`

use std::time::Instant;

use pulse_vsphere::simulator::{Profile, SimConfig, Simulator};
use serde_json::{json, Value};

const TEN: &[&str] = &[
    "name",
    "parent",
    "runtime.powerState",
    "runtime.host",
    "config.uuid",
    "config.instanceUuid",
    "guest.hostName",
    "summary.quickStats",
    "datastore",
    "triggeredAlarmState",
];

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let t = Instant::now();
        let sim = Simulator::start(SimConfig::with_profile(Profile::Max)).await.expect("sim");
        let startup = t.elapsed();
        println!("start-up at max: {startup:?} (RSS after start-up {:.0} MB)", rss_mb());
        let c = reqwest::Client::builder().danger_accept_invalid_certs(true).build().expect("client");
        let base = format!("{}/sdk/vim25/8.0.3.0", sim.base_url());
        let r = c
            .post(format!("{base}/SessionManager/SessionManager/Login"))
            .json(&json!({"userName": "admin", "password": "admin"}))
            .send()
            .await
            .expect("login");
        let token = r.headers()["vmware-api-session-id"].to_str().expect("hdr").to_string();
        let post = |path: String, body: Value| {
            let c = c.clone();
            let token = token.clone();
            async move {
                let r = c.post(path).header("vmware-api-session-id", token).json(&body).send().await.expect("post");
                let bytes = r.bytes().await.expect("body");
                (bytes.len(), serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
            }
        };
        let t = Instant::now();
        let (_, view) = post(
            format!("{base}/ViewManager/ViewManager/CreateContainerView"),
            json!({"container": {"_typeName": "ManagedObjectReference", "type": "Folder", "value": "group-d1"}, "type": ["VirtualMachine"], "recursive": true}),
        )
        .await;
        let spec = json!({"specSet": [{"_typeName": "PropertyFilterSpec",
            "propSet": [{"_typeName": "PropertySpec", "type": "VirtualMachine", "pathSet": TEN}],
            "objectSet": [{"_typeName": "ObjectSpec", "obj": view, "skip": true,
                "selectSet": [{"_typeName": "TraversalSpec", "name": "traverseView", "type": "ContainerView", "path": "view", "skip": false}]}]}],
            "options": {"_typeName": "RetrieveOptions", "maxObjects": 1000}});
        let (mut bytes, mut page) = post(format!("{base}/PropertyCollector/propertyCollector/RetrievePropertiesEx"), spec).await;
        let mut objects = page["objects"].as_array().map(Vec::len).unwrap_or(0);
        let mut calls = 1;
        while let Some(tok) = page["token"].as_str().map(str::to_string) {
            let (b, p) = post(format!("{base}/PropertyCollector/propertyCollector/ContinueRetrievePropertiesEx"), json!({"token": tok})).await;
            bytes += b;
            objects += p["objects"].as_array().map(Vec::len).unwrap_or(0);
            calls += 1;
            page = p;
        }
        let paged = t.elapsed();
        println!(
            "paged {objects} VMs x 10 properties in {paged:?} ({calls} calls, {:.1} MB of JSON, {:.0} VMs/s)",
            bytes as f64 / 1e6,
            objects as f64 / paged.as_secs_f64()
        );
        println!("peak RSS of the process (simulator + client): {:.0} MB", rss_mb());
        sim.shutdown().await;
    });
}
