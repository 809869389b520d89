//! GraphQL behaviour over a store holding a simulated vCenter's snapshot: every root field,
//! filters, pagination edges, navigation both ways, entity resolution and error codes.
//! The store is filled by the real collector over HTTPS and queries go over HTTP.

mod common;

use std::sync::Arc;

use pulse_vsphere::connections::Registry;
use pulse_vsphere::simulator::{SimConfig, Simulator};
use serde_json::{json, Value};

use common::{codes, run, Api};

async fn setup(vms: usize) -> (Simulator, Arc<Registry>, Api) {
    let mut cfg = SimConfig::small();
    cfg.size.hosts = 6;
    cfg.size.vms = vms;
    cfg.size.datastores = 5;
    let sim = Simulator::start(cfg).await.expect("sim");
    let store = common::collected_store(&sim).await;
    let api = Api::serve(store.clone()).await;
    (sim, store, api)
}

const VMS: &str = r#"query($first: Int, $after: String, $filter: VsphereVmFilter) {
  vsphereVms(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id name status platformType vsphere { powerState snapshotCount } } }
  }
}"#;

#[tokio::test]
async fn paging_walks_every_vm_once_in_stable_order() {
    let (_sim, _store, schema) = setup(130).await;
    let mut after: Option<String> = None;
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let r = run(&schema, VMS, json!({"first": 50, "after": after})).await;
        assert!(r["errors"].is_null(), "{r}");
        let c = &r["data"]["vsphereVms"];
        assert_eq!(c["totalCount"], 130);
        assert_eq!(c["pageInfo"]["hasPreviousPage"], after.is_some());
        for e in c["edges"].as_array().expect("edges") {
            assert_eq!(e["node"]["platformType"], "vmware-vsphere");
            names.push(e["node"]["name"].as_str().expect("name").to_lowercase());
        }
        pages += 1;
        if c["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = c["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 130);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "stable name order");
    sorted.dedup();
    assert_eq!(sorted.len(), 130, "no duplicates across pages");
}

#[tokio::test]
async fn pagination_edges_and_bad_input() {
    let (_sim, _store, schema) = setup(20).await;
    // Empty page.
    let r = run(&schema, VMS, json!({"first": 0})).await;
    assert_eq!(r["data"]["vsphereVms"]["edges"], json!([]));
    assert_eq!(r["data"]["vsphereVms"]["pageInfo"]["hasNextPage"], true);
    // Exactly the last page.
    let r = run(&schema, VMS, json!({"first": 20})).await;
    assert_eq!(
        r["data"]["vsphereVms"]["edges"].as_array().map(Vec::len),
        Some(20)
    );
    assert_eq!(r["data"]["vsphereVms"]["pageInfo"]["hasNextPage"], false);
    let end = r["data"]["vsphereVms"]["pageInfo"]["endCursor"].clone();
    let r = run(&schema, VMS, json!({"first": 5, "after": end})).await;
    assert_eq!(r["data"]["vsphereVms"]["edges"], json!([]));
    // A filter that matches nothing.
    let r = run(
        &schema,
        VMS,
        json!({"filter": {"nameContains": "no-such-vm"}}),
    )
    .await;
    assert_eq!(r["data"]["vsphereVms"]["totalCount"], 0);
    // Bad input gets BAD_USER_INPUT, not a server error.
    for vars in [
        json!({"after": "garbage"}),
        json!({"first": 501}),
        json!({"first": -1}),
    ] {
        let r = run(&schema, VMS, vars.clone()).await;
        assert_eq!(codes(&r), vec!["BAD_USER_INPUT".to_string()], "{vars}: {r}");
    }
}

#[tokio::test]
async fn filters_narrow_as_an_operator_expects() {
    let (sim, _store, schema) = setup(80).await;
    let all = run(&schema, VMS, json!({"first": 500})).await;
    let edges = all["data"]["vsphereVms"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    let count = |f: Value| {
        let schema = &schema;
        async move {
            let r = run(schema, VMS, json!({"first": 500, "filter": f})).await;
            assert!(r["errors"].is_null(), "{r}");
            r["data"]["vsphereVms"]["totalCount"]
                .as_u64()
                .expect("count") as usize
        }
    };
    let on = edges
        .iter()
        .filter(|e| e["node"]["vsphere"]["powerState"] == "poweredOn")
        .count();
    assert_eq!(count(json!({"powerState": ["POWERED_ON"]})).await, on);
    let offline = edges
        .iter()
        .filter(|e| e["node"]["status"] == "OFFLINE")
        .count();
    assert_eq!(count(json!({"status": ["OFFLINE"]})).await, offline);
    assert_eq!(
        count(json!({"nameContains": "WEB-"})).await,
        edges
            .iter()
            .filter(|e| e["node"]["name"].as_str().unwrap_or("").starts_with("web-"))
            .count()
    );
    // A lookup by exact name ignores case and matches nothing for a prefix.
    let first_name = edges[0]["node"]["name"].as_str().expect("a name");
    let same_name = edges
        .iter()
        .filter(|e| e["node"]["name"].as_str() == Some(first_name))
        .count();
    assert_eq!(
        count(json!({"name": first_name.to_uppercase()})).await,
        same_name
    );
    assert_eq!(count(json!({"name": &first_name[..3]})).await, 0);
    assert_eq!(count(json!({"connection": ["vc1"]})).await, 80);
    assert_eq!(count(json!({"connection": ["other"]})).await, 0);
    assert_eq!(count(json!({"datacenter": ["DC-01"]})).await, 80);
    let with_snaps = edges
        .iter()
        .filter(|e| e["node"]["vsphere"]["snapshotCount"].as_u64().unwrap_or(0) > 0)
        .count();
    assert!(count(json!({"hasSnapshotsOlderThanDays": 0})).await <= with_snaps);
    assert!(count(json!({"alarmSeverity": ["CRITICAL", "WARNING"]})).await > 0);

    // Host and datastore filters agree with navigation from the other side.
    let hosts = run(&schema, "{ vsphereHosts(first: 500) { nodes { id name vms { totalCount } datastores { nodes { id } } } } }", json!({})).await;
    let host = &hosts["data"]["vsphereHosts"]["nodes"][0];
    let n = host["vms"]["totalCount"].as_u64().expect("n") as usize;
    assert_eq!(count(json!({"host": [host["id"]]})).await, n);
    let ds = &host["datastores"]["nodes"][0]["id"];
    let ds_vms = run(
        &schema,
        "query($id: ID!) { vsphereResource(id: $id) { ... on Storage { vms { totalCount } } } }",
        json!({"id": ds}),
    )
    .await;
    assert_eq!(
        count(json!({"datastore": [ds]})).await as u64,
        ds_vms["data"]["vsphereResource"]["vms"]["totalCount"]
            .as_u64()
            .expect("n")
    );
    // Cluster by name matches hosts' cluster.
    let cl = run(&schema, "{ vsphereHosts(first: 1, filter: {nameContains: \"esx-01-01\"}) { nodes { vsphere { topology { cluster { name moid haEnabled } } } } } }", json!({})).await;
    let cluster =
        cl["data"]["vsphereHosts"]["nodes"][0]["vsphere"]["topology"]["cluster"]["name"].clone();
    assert!(count(json!({"cluster": [cluster]})).await > 0);
    // Ids of another platform match nothing instead of failing.
    assert_eq!(count(json!({"host": ["proxmox:node/1"]})).await, 0);
    drop(sim);
}

#[tokio::test]
async fn navigation_both_ways() {
    let (_sim, _store, schema) = setup(30).await;
    let q = r#"{ vsphereVms(first: 1) { nodes { id name host { id name vms(first: 100) { nodes { id } } } datastores { nodes { id hosts { nodes { id } } vms(first: 100) { nodes { id } } } } } } }"#;
    let r = run(&schema, q, json!({})).await;
    assert!(r["errors"].is_null(), "{r}");
    let vm = &r["data"]["vsphereVms"]["nodes"][0];
    let host_vms: Vec<&Value> = vm["host"]["vms"]["nodes"]
        .as_array()
        .expect("vms")
        .iter()
        .map(|n| &n["id"])
        .collect();
    assert!(host_vms.contains(&&vm["id"]), "the host lists the VM");
    let ds = &vm["datastores"]["nodes"][0];
    assert!(ds["vms"]["nodes"]
        .as_array()
        .expect("vms")
        .iter()
        .any(|n| n["id"] == vm["id"]));
    assert!(ds["hosts"]["nodes"]
        .as_array()
        .expect("hosts")
        .iter()
        .any(|n| n["id"] == vm["host"]["id"]));
}

#[tokio::test]
async fn resource_lookup_facets_alerts_and_health() {
    let (_sim, _store, schema) = setup(30).await;
    let q = r#"{ vsphereVms(first: 100) { nodes { id identity { instanceUuid biosUuid biosUuidSmbios macs } vsphere { topology { vcenter { name } datacenter { name } folderPath resourcePoolPath } guest { toolsRunning hostname filesystems { path } } snapshots { name current ageDays children { name } } datastoreUsage { committedBytes datastore { name } } } } } }"#;
    let r = run(&schema, q, json!({})).await;
    assert!(r["errors"].is_null(), "{r}");
    let vms = r["data"]["vsphereVms"]["nodes"].as_array().expect("vms");
    assert!(vms
        .iter()
        .all(|v| v["vsphere"]["topology"]["vcenter"]["name"] == "lab vCenter"));
    assert!(vms
        .iter()
        .any(|v| !v["vsphere"]["snapshots"].as_array().expect("s").is_empty()));
    assert!(vms
        .iter()
        .all(|v| v["identity"]["biosUuidSmbios"].is_string()));
    let id = vms[0]["id"].clone();
    let one = run(
        &schema,
        "query($id: ID!) { vsphereResource(id: $id) { __typename ... on Vm { id name } } }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(one["data"]["vsphereResource"]["__typename"], "Vm");
    for unknown in [
        "vsphere:00000000-0000-4000-8000-000000000000:vm-1",
        "pve:qemu/100",
        "",
    ] {
        let r = run(
            &schema,
            "query($id: ID!) { vsphereResource(id: $id) { __typename } }",
            json!({"id": unknown}),
        )
        .await;
        assert!(
            r["errors"].is_null() && r["data"]["vsphereResource"].is_null(),
            "{unknown}: {r}"
        );
    }
    let alerts = run(&schema, "{ vsphereActiveAlerts(first: 500) { totalCount nodes { alert { id name severity sourceKind } resource { __typename } } } }", json!({})).await;
    assert!(
        alerts["data"]["vsphereActiveAlerts"]["totalCount"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{alerts}"
    );
    let crit = run(
        &schema,
        "{ vsphereActiveAlerts(severity: [CRITICAL]) { nodes { alert { severity } } } }",
        json!({}),
    )
    .await;
    assert!(crit["data"]["vsphereActiveAlerts"]["nodes"]
        .as_array()
        .expect("n")
        .iter()
        .all(|n| n["alert"]["severity"] == "CRITICAL"));
    let health = run(&schema, "{ vsphereConnections { connectionId name state duplicateOf contribution { agents vms storage activeAlerts staleSeconds } } }", json!({})).await;
    let c = &health["data"]["vsphereConnections"][0];
    assert_eq!(c["connectionId"], "vc1");
    assert_eq!(c["contribution"]["vms"], 30);
    assert!(c["duplicateOf"].is_null());
    let p = run(&schema, "{ vspherePlatform { id readinessStage governanceState projections liveProof supportFloor { surface floorStatus } } }", json!({})).await;
    assert_eq!(
        p["data"]["vspherePlatform"]["readinessStage"],
        "first-lab-ready"
    );
    assert_eq!(p["data"]["vspherePlatform"]["liveProof"], false);
}

#[tokio::test]
async fn entities_resolve_in_one_batch_and_unknown_ids_are_null() {
    let (_sim, _store, schema) = setup(10).await;
    let r = run(
        &schema,
        "{ vsphereVms(first: 3) { nodes { id } } vsphereHosts(first: 1) { nodes { id } } }",
        json!({}),
    )
    .await;
    let vm_ids: Vec<Value> = r["data"]["vsphereVms"]["nodes"]
        .as_array()
        .expect("n")
        .iter()
        .map(|n| n["id"].clone())
        .collect();
    let host_id = r["data"]["vsphereHosts"]["nodes"][0]["id"].clone();
    let reps = json!([
        {"__typename": "Vm", "id": vm_ids[0]},
        {"__typename": "Vm", "id": "vsphere:deadbeef-0000-4000-8000-000000000000:vm-9"},
        {"__typename": "Vm", "id": "proxmox:qemu/100"},
        {"__typename": "Vm", "id": vm_ids[1]},
        {"__typename": "Agent", "id": host_id},
        {"__typename": "Storage", "id": vm_ids[2]},
    ]);
    let q = r#"query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Vm { id name vsphere { powerState } } ... on Agent { id name } ... on Storage { id } } }"#;
    let e = run(&schema, q, json!({"r": reps})).await;
    assert!(e["errors"].is_null(), "{e}");
    let list = e["data"]["_entities"].as_array().expect("list");
    assert_eq!(list.len(), 6);
    assert_eq!(list[0]["id"], vm_ids[0]);
    assert!(
        list[1].is_null() && list[2].is_null(),
        "unknown and foreign ids are null"
    );
    assert_eq!(list[3]["id"], vm_ids[1]);
    assert_eq!(list[4]["__typename"], "Agent");
    assert!(
        list[5].is_null(),
        "a VM id asked as Storage is not a Storage"
    );
    let sdl = run(&schema, "{ _service { sdl } }", json!({})).await;
    assert!(sdl["data"]["_service"]["sdl"]
        .as_str()
        .unwrap_or("")
        .contains("@key"));
}

#[tokio::test]
async fn depth_and_complexity_are_bounded() {
    let (_sim, _store, schema) = setup(5).await;
    let mut inner = String::from("name");
    for _ in 0..6 {
        inner = format!("host {{ vms {{ nodes {{ {inner} }} }} }}");
    }
    let deep = format!("{{ vsphereVms {{ nodes {{ {inner} }} }} }}");
    let r = run(&schema, &deep, json!({})).await;
    assert!(r["data"].is_null(), "{r}");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("nested too deep"),
        "{r}"
    );
}

/// Snapshot sizes and datastore clusters reach the graph as the collector read them from
/// vCenter's `layoutEx` and `StoragePod`s.
#[tokio::test]
async fn snapshot_sizes_and_datastore_clusters_are_served() {
    let mut cfg = SimConfig::small();
    cfg.size.hosts = 6;
    cfg.size.vms = 40;
    cfg.size.datastores = 6;
    cfg.storage_pods = true;
    let sim = Simulator::start(cfg).await.expect("sim");
    let store = common::collected_store(&sim).await;
    let api = Api::serve(store.clone()).await;
    let snap = store.visible()[0].snapshot.clone();
    let vm = snap
        .vms
        .iter()
        .find(|v| v.snapshots.iter().any(|s| s.size_bytes.is_some()))
        .expect("a VM with a sized snapshot");
    let v = run(
        &api,
        "query($id: ID!) { vsphereResource(id: $id) { ... on Vm { vsphere { snapshots { moid sizeBytes } } } } }",
        json!({"id": vm.id.to_string()}),
    )
    .await;
    let served = &v["data"]["vsphereResource"]["vsphere"]["snapshots"];
    for (s, model) in served.as_array().unwrap().iter().zip(&vm.snapshots) {
        assert_eq!(s["moid"], model.moid.as_str());
        assert_eq!(
            s["sizeBytes"].as_f64(),
            model.size_bytes.map(|b| b as f64),
            "{v}"
        );
    }
    let (pod, pod_name, members) = {
        let inv = sim.control().state().inv();
        let pod = inv.ids_of("StoragePod").first().expect("a pod").clone();
        let p = inv.get(&pod).expect("the pod");
        let name = p.get_path("name").cloned().unwrap();
        let members: Vec<String> = p
            .get_path("childEntity")
            .and_then(|c| c.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|m| m["value"].as_str().map(str::to_string))
            .collect();
        (pod, name, members)
    };
    assert!(!members.is_empty());
    let d = run(&api, "{ vsphereDatastores(first: 100) { nodes { vsphere { moid topology { datastoreCluster { moid name } } } } } }", json!({})).await;
    for n in d["data"]["vsphereDatastores"]["nodes"].as_array().unwrap() {
        let f = &n["vsphere"];
        let inside = members.iter().any(|m| f["moid"] == m.as_str());
        let cluster = &f["topology"]["datastoreCluster"];
        if inside {
            assert_eq!(
                (&cluster["moid"], &cluster["name"]),
                (&json!(pod), &pod_name),
                "{d}"
            );
        } else {
            assert!(cluster.is_null() || cluster["moid"] != pod.as_str(), "{d}");
        }
    }
}

/// Selections as the GraphQL spec says they come out, whatever the executor walks them with:
/// response keys in selection order, aliases, named and inline fragments spread in place, the
/// same field selected twice merged, `__typename`, and an error in a nested field that leaves
/// its siblings and names its path.
#[tokio::test]
async fn selections_come_out_as_the_spec_says() {
    let (_sim, _store, api) = setup(12).await;
    let q = r#"query {
      vsphereVms(first: 2) {
        nodes {
          __typename
          ...Names
          label: name
          vsphere { powerState guest { hostname } }
          ... on Vm { vsphere { guest { osName } connectionId } }
          host { __typename id }
          bad: datastores(first: -1) { totalCount }
          datastores(first: 1) { nodes { name } }
        }
      }
    }
    fragment Names on Vm { id name }"#;
    let resp = run(&api, q, json!({})).await;
    let nodes = resp["data"]["vsphereVms"]["nodes"]
        .as_array()
        .expect("nodes");
    assert_eq!(nodes.len(), 2, "{resp}");
    let plain = run(
        &api,
        "{ vsphereVms(first: 2) { nodes { id name vsphere { powerState connectionId guest { hostname osName } } host { id } datastores(first: 1) { nodes { name } } } } }",
        json!({}),
    )
    .await;
    for (i, node) in nodes.iter().enumerate() {
        let want = &plain["data"]["vsphereVms"]["nodes"][i];
        assert_eq!(node["__typename"], "Vm");
        assert_eq!(node["id"], want["id"]);
        assert_eq!(node["label"], want["name"]);
        // Two selections of `vsphere` (one through an inline fragment) merge into one object.
        assert_eq!(
            node["vsphere"],
            json!({
                "powerState": want["vsphere"]["powerState"],
                "guest": want["vsphere"]["guest"],
                "connectionId": want["vsphere"]["connectionId"],
            })
        );
        assert_eq!(node["host"]["__typename"], "Agent");
        assert_eq!(node["host"]["id"], want["host"]["id"]);
        // The failed field is left out (async-graphql's rule for a non-null field's error).
        assert!(node.get("bad").is_none_or(Value::is_null), "{node}");
        assert_eq!(node["datastores"], want["datastores"]);
    }
    // Response keys in selection order, read from the bytes (a JSON map forgets its order).
    let text = api
        .http
        .post(&api.url)
        .json(&json!({ "query": q }))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    let first = &text[text.find("\"nodes\":[{").expect("nodes")..];
    let at = |key: &str| first.find(&format!("\"{key}\":")).expect(key);
    let order = [
        "__typename",
        "id",
        "name",
        "label",
        "vsphere",
        "host",
        "datastores",
    ];
    assert!(
        order.windows(2).all(|w| at(w[0]) < at(w[1])),
        "keys in selection order: {first:.400}"
    );
    let errors = resp["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "one error per VM: {resp}");
    for (i, e) in errors.iter().enumerate() {
        assert_eq!(e["extensions"]["code"], "BAD_USER_INPUT", "{e}");
        assert_eq!(e["path"], json!(["vsphereVms", "nodes", i, "bad"]), "{e}");
    }
}
