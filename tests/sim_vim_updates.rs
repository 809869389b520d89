//! The simulator's change feed over real HTTPS: private PropertyCollector + filter over a
//! ContainerView + WaitForUpdatesEx, as a collector drives it.

mod common;

use std::time::{Duration, Instant};

use pulse_vsphere::simulator::{SimConfig, Simulator};
use serde_json::{json, Value};

use common::Vim;

trait Feed {
    async fn feed(&self) -> String;
    async fn wait(&self, pc: &str, version: &str, wait: i64, max: Option<i64>) -> (u16, Value);
}

impl Feed for Vim {
    /// A private collector with one filter over all VMs; returns the collector's moId.
    async fn feed(&self) -> String {
        let (_, view) = self
            .post(
                "ViewManager/ViewManager/CreateContainerView",
                json!({"container": {"_typeName": "ManagedObjectReference", "type": "Folder", "value": "group-d1"}, "type": ["VirtualMachine"], "recursive": true}),
            )
            .await;
        let (s, pc) = self
            .post(
                "PropertyCollector/propertyCollector/CreatePropertyCollector",
                json!(null),
            )
            .await;
        assert_eq!(s, 200, "{pc}");
        let pc = pc["value"].as_str().expect("pc").to_string();
        let spec = json!({"spec": {"_typeName": "PropertyFilterSpec",
            "propSet": [{"_typeName": "PropertySpec", "type": "VirtualMachine", "pathSet": ["name", "runtime.powerState", "runtime.host"]}],
            "objectSet": [{"_typeName": "ObjectSpec", "obj": view, "skip": true,
                "selectSet": [{"_typeName": "TraversalSpec", "name": "traverseView", "type": "ContainerView", "path": "view", "skip": false}]}]},
            "partialUpdates": false});
        let (s, f) = self
            .post(&format!("PropertyCollector/{pc}/CreateFilter"), spec)
            .await;
        assert_eq!(s, 200, "{f}");
        pc
    }

    async fn wait(&self, pc: &str, version: &str, wait: i64, max: Option<i64>) -> (u16, Value) {
        let mut opts = json!({"_typeName": "WaitOptions", "maxWaitSeconds": wait});
        if let Some(m) = max {
            opts["maxObjectUpdates"] = json!(m);
        }
        self.post(
            &format!("PropertyCollector/{pc}/WaitForUpdatesEx"),
            json!({"version": version, "options": opts}),
        )
        .await
    }
}

fn updates(set: &Value) -> Vec<Value> {
    set["filterSet"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["objectSet"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn initial_then_modify_then_timeout() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let vim = Vim::login(&sim, "admin", "admin").await;
    let pc = vim.feed().await;
    let (s, first) = vim.wait(&pc, "", 0, None).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["_typeName"], "UpdateSet");
    let enters = updates(&first);
    assert_eq!(enters.len(), 40);
    assert!(enters
        .iter()
        .all(|u| u["kind"] == "enter" && u["changeSet"].as_array().map(Vec::len) == Some(3)));
    let version = first["version"].as_str().expect("version").to_string();

    // Nothing new: a short wait times out with an empty answer.
    let t = Instant::now();
    let (s, _) = vim.wait(&pc, &version, 1, None).await;
    assert_eq!(s, 204);
    assert!(t.elapsed() >= Duration::from_millis(900));

    let vm = enters[0]["obj"]["value"].as_str().expect("id").to_string();
    sim.control().set_vm_power(&vm, "suspended");
    let (s, next) = vim.wait(&pc, &version, 5, None).await;
    assert_eq!(s, 200);
    let mods = updates(&next);
    assert_eq!(mods.len(), 1, "{next}");
    assert_eq!(mods[0]["kind"], "modify");
    assert_eq!(mods[0]["obj"]["value"], vm.as_str());
    let change = mods[0]["changeSet"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["name"] == "runtime.powerState")
        .cloned()
        .expect("power change");
    assert_eq!(change["val"]["_value"], "suspended");
    // A change to a property nobody watches does not wake the filter.
    let v2 = next["version"].as_str().expect("v").to_string();
    let ds = sim.control().state().inv().ids_of("Datastore")[0].clone();
    sim.control().set_datastore_free(&ds, 1);
    let (s, _) = vim.wait(&pc, &v2, 1, None).await;
    assert_eq!(s, 204);
}

#[tokio::test]
async fn long_poll_wakes_on_change_and_truncation_continues() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let vim = Vim::login(&sim, "admin", "admin").await;
    let pc = vim.feed().await;
    // Initial pass in pages of 15: truncated, then continued with the one-shot versions.
    let mut version = String::new();
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        let (s, set) = vim.wait(&pc, &version, 0, Some(15)).await;
        assert_eq!(s, 200, "{set}");
        seen.extend(
            updates(&set)
                .iter()
                .map(|u| u["obj"]["value"].as_str().unwrap_or("").to_string()),
        );
        version = set["version"].as_str().expect("v").to_string();
        calls += 1;
        if set["truncated"] != true {
            break;
        }
    }
    assert_eq!(calls, 3);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 40);

    let vm = seen[0].clone();
    let ctl = sim.control().clone();
    let changer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        ctl.rename(&vm, "renamed-while-waiting");
    });
    let t = Instant::now();
    let (s, set) = vim.wait(&pc, &version, 20, None).await;
    assert_eq!(s, 200);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "woke on the change, not the timeout"
    );
    assert!(
        updates(&set)
            .iter()
            .any(|u| u["changeSet"][0]["val"]["_value"] == "renamed-while-waiting"),
        "{set}"
    );
    changer.await.expect("join");

    // Many changes at once are truncated to maxObjectUpdates and continue at once.
    let v = set["version"].as_str().expect("v").to_string();
    let ids: Vec<String> = sim
        .control()
        .state()
        .inv()
        .ids_of("VirtualMachine")
        .iter()
        .take(12)
        .cloned()
        .collect();
    for id in &ids {
        sim.control().rename(id, &format!("{id}-x"));
    }
    let (_, part) = vim.wait(&pc, &v, 5, Some(5)).await;
    assert_eq!(part["truncated"], true);
    assert_eq!(updates(&part).len(), 5);
    let (_, rest) = vim
        .wait(&pc, part["version"].as_str().expect("v"), 5, None)
        .await;
    assert_eq!(updates(&rest).len(), 7);
}

#[tokio::test]
async fn bad_versions_session_end_and_cleanup() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let vim = Vim::login(&sim, "admin", "admin").await;
    let pc = vim.feed().await;
    for bad in ["garbage", "999999999", "init:x:y"] {
        let (s, f) = vim.wait(&pc, bad, 0, None).await;
        assert_eq!(
            (s, f["_typeName"].as_str()),
            (500, Some("InvalidCollectorVersion")),
            "{bad}"
        );
    }
    let (s, f) = vim.wait(&pc, "", 0, Some(0)).await;
    assert_eq!((s, f["_typeName"].as_str()), (500, Some("InvalidArgument")));
    let stats = sim.stats();
    assert_eq!(
        (stats.property_collectors, stats.filters, stats.views),
        (1, 1, 1)
    );

    // A wait in progress is cancelled when its session ends.
    let (_, first) = vim.wait(&pc, "", 0, None).await;
    let v = first["version"].as_str().expect("v").to_string();
    let ctl = sim.control().clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        ctl.expire_sessions();
    });
    let (s, f) = vim.wait(&pc, &v, 20, None).await;
    assert_eq!(
        (s, f["_typeName"].as_str()),
        (500, Some("RequestCanceled")),
        "{f}"
    );
    let stats = sim.stats();
    assert_eq!(
        (stats.property_collectors, stats.filters, stats.views),
        (0, 0, 0),
        "session objects died with the session"
    );

    // Explicit destroy.
    let vim = Vim::login(&sim, "admin", "admin").await;
    let pc = vim.feed().await;
    let (s, _) = vim
        .post(
            &format!("PropertyCollector/{pc}/DestroyPropertyCollector"),
            json!(null),
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        (sim.stats().property_collectors, sim.stats().filters),
        (0, 0)
    );
    let (s, f) = vim.wait(&pc, "", 0, None).await;
    assert_eq!(
        (s, f["_typeName"].as_str()),
        (500, Some("ManagedObjectNotFound"))
    );
}
