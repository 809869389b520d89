//! VI JSON ContainerView + RetrievePropertiesEx paging over real HTTPS, as a collector uses it:
//! every object exactly once, single-use same-session tokens, faults, missingSet, property GETs,
//! and views and tokens gone after destroy or logout.

mod common;

use pulse_vsphere::simulator::{Role, SimConfig, Simulator};
use serde_json::{json, Value};

use common::Vim;

trait View {
    async fn view(&self, types: &[&str]) -> Value;
}

impl View for Vim {
    async fn view(&self, types: &[&str]) -> Value {
        let (s, v) = self
            .post(
                "ViewManager/ViewManager/CreateContainerView",
                json!({"container": {"_typeName": "ManagedObjectReference", "type": "Folder", "value": "group-d1"}, "type": types, "recursive": true}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }
}

fn spec(view: &Value, kind: &str, paths: &[&str], max: Value) -> Value {
    json!({
        "specSet": [{
            "_typeName": "PropertyFilterSpec",
            "propSet": [{"_typeName": "PropertySpec", "type": kind, "pathSet": paths}],
            "objectSet": [{"_typeName": "ObjectSpec", "obj": view, "skip": true,
                "selectSet": [{"_typeName": "TraversalSpec", "name": "traverseView", "type": "ContainerView", "path": "view", "skip": false}]}],
        }],
        "options": {"_typeName": "RetrieveOptions", "maxObjects": max},
    })
}

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

#[tokio::test]
async fn paging_returns_every_vm_once_with_single_use_tokens() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let vim = Vim::login(&sim, "admin", "admin").await;
    let view = vim.view(&["VirtualMachine"]).await;
    let (s, page) = vim
        .post(
            "PropertyCollector/propertyCollector/RetrievePropertiesEx",
            spec(&view, "VirtualMachine", TEN, json!(15)),
        )
        .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["_typeName"], "RetrieveResult");
    let mut ids: Vec<String> = Vec::new();
    let mut page = page;
    let mut pages = 1;
    loop {
        for o in page["objects"].as_array().expect("objects") {
            ids.push(o["obj"]["value"].as_str().expect("id").to_string());
            let props = o["propSet"].as_array().expect("props");
            let power = props
                .iter()
                .find(|p| p["name"] == "runtime.powerState")
                .expect("power");
            assert_eq!(power["val"]["_typeName"], "VirtualMachinePowerState");
            let ds = props
                .iter()
                .find(|p| p["name"] == "datastore")
                .expect("datastore");
            assert_eq!(ds["val"]["_typeName"], "ArrayOfManagedObjectReference");
        }
        let Some(token) = page["token"].as_str().map(str::to_string) else {
            break;
        };
        assert_eq!(sim.stats().retrieve_tokens, 1);
        let (s, next) = vim
            .post(
                "PropertyCollector/propertyCollector/ContinueRetrievePropertiesEx",
                json!({"token": token}),
            )
            .await;
        assert_eq!(s, 200);
        // A token works once.
        let (s, f) = vim
            .post(
                "PropertyCollector/propertyCollector/ContinueRetrievePropertiesEx",
                json!({"token": token}),
            )
            .await;
        assert_eq!((s, f["_typeName"].as_str()), (500, Some("InvalidArgument")));
        page = next;
        pages += 1;
    }
    assert_eq!(pages, 3);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "every VM exactly once");
    assert_eq!(sim.stats().retrieve_tokens, 0);
    assert_eq!(sim.stats().views, 1);
    let (s, _) = vim
        .post(
            &format!(
                "ContainerView/{}/DestroyView",
                view["value"].as_str().expect("id")
            ),
            json!(null),
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(sim.stats().views, 0);
    let (s, f) = vim
        .post(
            &format!(
                "ContainerView/{}/DestroyView",
                view["value"].as_str().expect("id")
            ),
            json!(null),
        )
        .await;
    assert_eq!(
        (s, f["_typeName"].as_str()),
        (500, Some("ManagedObjectNotFound"))
    );
}

#[tokio::test]
async fn tokens_are_per_session_and_die_with_it() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let a = Vim::login(&sim, "admin", "admin").await;
    let b = Vim::login(&sim, "admin", "admin").await;
    let view = a.view(&["VirtualMachine"]).await;
    let (_, page) = a
        .post(
            "PropertyCollector/propertyCollector/RetrievePropertiesEx",
            spec(&view, "VirtualMachine", &["name"], json!(10)),
        )
        .await;
    let token = page["token"].as_str().expect("token").to_string();
    let (s, f) = b
        .post(
            "PropertyCollector/propertyCollector/ContinueRetrievePropertiesEx",
            json!({"token": token}),
        )
        .await;
    assert_eq!(
        (s, f["_typeName"].as_str()),
        (500, Some("InvalidArgument")),
        "another session's token"
    );
    let (s, _) = a
        .post(
            "PropertyCollector/propertyCollector/CancelRetrievePropertiesEx",
            json!({"token": token}),
        )
        .await;
    assert_eq!(s, 204);
    let _ = a
        .post(
            "PropertyCollector/propertyCollector/RetrievePropertiesEx",
            spec(&view, "VirtualMachine", &["name"], json!(10)),
        )
        .await;
    assert_eq!((sim.stats().views, sim.stats().retrieve_tokens), (1, 1));
    let (s, _) = a
        .post("SessionManager/SessionManager/Logout", json!(null))
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        (sim.stats().views, sim.stats().retrieve_tokens),
        (0, 0),
        "logout removes session objects"
    );
    sim.control().restart();
    let (s, f) = b
        .post(
            "PropertyCollector/propertyCollector/RetrievePropertiesEx",
            spec(&view, "VirtualMachine", &["name"], json!(10)),
        )
        .await;
    assert_eq!(
        (s, f["_typeName"].as_str()),
        (500, Some("NotAuthenticated"))
    );
}

#[tokio::test]
async fn faults_and_missing_set() {
    let sim = Simulator::start(SimConfig::small().user("nobody", "x", Role::None))
        .await
        .expect("sim");
    let vim = Vim::login(&sim, "admin", "admin").await;
    let view = vim
        .view(&["VirtualMachine", "HostSystem", "Datastore"])
        .await;
    let (s, f) = vim
        .post(
            "PropertyCollector/propertyCollector/RetrievePropertiesEx",
            spec(&view, "VirtualMachine", &["name"], json!(0)),
        )
        .await;
    assert_eq!((s, f["_typeName"].as_str()), (500, Some("InvalidArgument")));
    let (s, f) = vim
        .post(
            "PropertyCollector/propertyCollector/RetrievePropertiesEx",
            spec(&view, "VirtualMachine", &["noSuchProperty"], json!(10)),
        )
        .await;
    assert_eq!(
        (s, f["_typeName"].as_str(), f["name"].as_str()),
        (500, Some("InvalidProperty"), Some("noSuchProperty"))
    );
    let ghost = json!({"_typeName": "ManagedObjectReference", "type": "ContainerView", "value": "session[x]1"});
    let (s, f) = vim
        .post(
            "PropertyCollector/propertyCollector/RetrievePropertiesEx",
            spec(&ghost, "VirtualMachine", &["name"], json!(10)),
        )
        .await;
    assert_eq!(
        (s, f["_typeName"].as_str()),
        (500, Some("ManagedObjectNotFound"))
    );

    // A denied object lands in missingSet; the rest of the call succeeds.
    let denied = sim.control().state().inv().ids_of("VirtualMachine")[3].clone();
    sim.control().deny_object(&denied);
    let (s, page) = vim
        .post(
            "PropertyCollector/propertyCollector/RetrievePropertiesEx",
            spec(
                &view,
                "VirtualMachine",
                &["name", "runtime.powerState"],
                json!(100),
            ),
        )
        .await;
    assert_eq!(s, 200);
    let objects = page["objects"].as_array().expect("objects");
    assert_eq!(objects.len(), 40);
    let d = objects
        .iter()
        .find(|o| o["obj"]["value"] == denied.as_str())
        .expect("denied object listed");
    assert!(d["propSet"].is_null());
    assert_eq!(
        d["missingSet"][0]["fault"]["fault"]["_typeName"],
        "NoPermission"
    );
    assert!(objects
        .iter()
        .filter(|o| o["obj"]["value"] != denied.as_str())
        .all(|o| o["missingSet"].is_null()));
    let (s, f) = vim.get(&format!("VirtualMachine/{denied}/name")).await;
    assert_eq!((s, f["_typeName"].as_str()), (500, Some("NoPermission")));
    assert!(f["missingPrivileges"].is_array());

    // A user who may read nothing gets missingSet everywhere.
    let nobody = Vim::login(&sim, "nobody", "x").await;
    let v2 = nobody.view(&["HostSystem"]).await;
    let (_, page) = nobody
        .post(
            "PropertyCollector/propertyCollector/RetrievePropertiesEx",
            spec(&v2, "HostSystem", &["name"], json!(100)),
        )
        .await;
    assert!(page["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .all(|o| o["missingSet"].is_array() && o["propSet"].is_null()));
}

#[tokio::test]
async fn property_gets_and_single_objects() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let vim = Vim::login(&sim, "admin", "admin").await;
    let (with_snap, without_snap, host) = {
        let state = sim.control().state().clone();
        let inv = state.inv();
        let with = inv
            .of_type("VirtualMachine")
            .find(|v| v.get_path("snapshot").is_some())
            .map(|v| v.moref.value.clone())
            .expect("a VM with snapshots");
        let without = inv
            .of_type("VirtualMachine")
            .find(|v| v.get_path("snapshot").is_none())
            .map(|v| v.moref.value.clone())
            .expect("a VM without");
        (with, without, inv.ids_of("HostSystem")[0].clone())
    };
    let (s, snap) = vim
        .get(&format!("VirtualMachine/{with_snap}/snapshot"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(snap["_typeName"], "VirtualMachineSnapshotInfo");
    assert!(snap["rootSnapshotList"][0]["createTime"].is_string());
    let (s, _) = vim
        .get(&format!("VirtualMachine/{without_snap}/snapshot"))
        .await;
    assert_eq!(s, 204, "unset property: empty answer");
    let (s, alarms) = vim
        .get(&format!("HostSystem/{host}/triggeredAlarmState"))
        .await;
    assert_eq!(s, 200);
    assert!(alarms.is_array());
    let (s, status) = vim.get(&format!("HostSystem/{host}/overallStatus")).await;
    assert_eq!((s, status.is_string()), (200, true));
    let (s, f) = vim.get("VirtualMachine/vm-999999/name").await;
    assert_eq!(
        (s, f["_typeName"].as_str()),
        (500, Some("ManagedObjectNotFound"))
    );
    // One object without a view.
    let body = json!({"specSet": [{"_typeName": "PropertyFilterSpec",
        "propSet": [{"_typeName": "PropertySpec", "type": "HostSystem", "pathSet": ["name", "summary.hardware.uuid", "hardware.systemInfo.uuid"]}],
        "objectSet": [{"_typeName": "ObjectSpec", "obj": {"_typeName": "ManagedObjectReference", "type": "HostSystem", "value": host}}]}],
        "options": {}});
    let (s, r) = vim
        .post(
            "PropertyCollector/propertyCollector/RetrievePropertiesEx",
            body,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(r["objects"].as_array().map(Vec::len), Some(1));
    assert!(r["token"].is_null());
}
