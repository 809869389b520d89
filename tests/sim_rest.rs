//! The simulator's Automation REST surface over real HTTPS, as a client uses it: inventory lists
//! with filters and caps, VM detail, guest identity and filesystems, tagging, auth and privilege
//! errors, request counting and injected faults.

mod common;

use std::collections::HashSet;

use common::Rest;
use pulse_vsphere::simulator::sessions::Family;
use pulse_vsphere::simulator::{Role, SimConfig, Simulator};
use serde_json::{json, Value};

fn ids(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|o| o[key].as_str().expect("id").to_string())
        .collect()
}

fn assert_error(status: u16, body: &Value, want_status: u16, want_type: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error_type"], want_type, "{body}");
    assert!(body["messages"][0]["id"].is_string(), "{body}");
    assert!(body["messages"][0]["args"].is_array(), "{body}");
}

async fn admin() -> (Simulator, Rest) {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let rest = Rest::login(&sim, "admin", "admin").await;
    (sim, rest)
}

/// Ground truth from the inventory: (vm, parent folder, host, resource pool) of every VM.
fn vm_placements(sim: &Simulator) -> Vec<(String, String, String, String)> {
    let inv = sim.control().state().inv();
    inv.of_type("VirtualMachine")
        .map(|vm| {
            let at = |p: &str| vm.moref_at(p).map(|m| m.value).unwrap_or_default();
            (
                vm.moref.value.clone(),
                at("parent"),
                at("runtime.host"),
                at("resourcePool"),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_list_returns_its_swagger_summary() {
    let (sim, rest) = admin().await;
    let cases = [
        (
            "vm",
            vec!["vm", "name", "power_state", "cpu_count", "memory_size_MiB"],
        ),
        (
            "host",
            vec!["host", "name", "connection_state", "power_state"],
        ),
        (
            "datastore",
            vec!["datastore", "name", "type", "free_space", "capacity"],
        ),
        (
            "cluster",
            vec!["cluster", "name", "ha_enabled", "drs_enabled"],
        ),
        ("datacenter", vec!["datacenter", "name"]),
        ("folder", vec!["folder", "name", "type"]),
        ("resource-pool", vec!["resource_pool", "name"]),
        ("network", vec!["network", "name", "type"]),
    ];
    let inv_count = |k: &str| sim.control().state().inv().count(k);
    for (list, fields) in cases {
        let (status, body) = rest.get(&format!("/api/vcenter/{list}")).await;
        assert_eq!(status, 200, "{list}: {body}");
        let items = body.as_array().expect("bare array, no value wrapper");
        assert!(!items.is_empty(), "{list} is empty");
        for item in items {
            for f in &fields {
                assert!(!item[f].is_null(), "{list} item lacks {f}: {item}");
            }
        }
        let kind = match list {
            "vm" => "VirtualMachine",
            "host" => "HostSystem",
            "datastore" => "Datastore",
            "cluster" => "ClusterComputeResource",
            "datacenter" => "Datacenter",
            "folder" => "Folder",
            "resource-pool" => "ResourcePool",
            _ => "Network",
        };
        assert_eq!(items.len(), inv_count(kind), "{list} lists every object");
    }
    let (_, vms) = rest.get("/api/vcenter/vm").await;
    let vm = &vms[0];
    assert!(vm["vm"].as_str().expect("id").starts_with("vm-"));
    assert!(["POWERED_ON", "POWERED_OFF", "SUSPENDED"]
        .contains(&vm["power_state"].as_str().expect("state")));
    let (_, folders) = rest.get("/api/vcenter/folder").await;
    let types: HashSet<&str> = folders
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|f| f["type"].as_str())
        .collect();
    for t in [
        "DATACENTER",
        "VIRTUAL_MACHINE",
        "HOST",
        "DATASTORE",
        "NETWORK",
    ] {
        assert!(types.contains(t), "folder type {t} missing");
    }
}

#[tokio::test]
async fn vm_filters_narrow_the_list() {
    let (sim, rest) = admin().await;
    let placements = vm_placements(&sim);
    let (_, all) = rest.get("/api/vcenter/vm").await;
    let names: Vec<String> = ids(&all, "name");

    let (s, two) = rest
        .get(&format!(
            "/api/vcenter/vm?names={}&names={}",
            names[0], names[1]
        ))
        .await;
    assert_eq!(s, 200);
    let got: HashSet<String> = ids(&two, "name").into_iter().collect();
    assert_eq!(got, HashSet::from([names[0].clone(), names[1].clone()]));

    let (_, on) = rest.get("/api/vcenter/vm?power_states=POWERED_ON").await;
    let on = on.as_array().expect("array");
    assert!(!on.is_empty() && on.len() < placements.len());
    assert!(on.iter().all(|v| v["power_state"] == "POWERED_ON"));
    let (_, on_off) = rest
        .get("/api/vcenter/vm?power_states=POWERED_ON&power_states=POWERED_OFF&power_states=SUSPENDED")
        .await;
    assert_eq!(on_off.as_array().expect("array").len(), placements.len());

    let (vm0, folder0, host0, pool0) = placements[0].clone();
    for (param, value, pick) in [
        ("folders", &folder0, 1usize),
        ("hosts", &host0, 2),
        ("resource_pools", &pool0, 3),
    ] {
        let (s, body) = rest.get(&format!("/api/vcenter/vm?{param}={value}")).await;
        assert_eq!(s, 200);
        let want: HashSet<String> = placements
            .iter()
            .filter(|p| [&p.0, &p.1, &p.2, &p.3][pick] == value)
            .map(|p| p.0.clone())
            .collect();
        let got: HashSet<String> = ids(&body, "vm").into_iter().collect();
        assert!(got.contains(&vm0));
        assert_eq!(got, want, "{param}={value}");
        assert!(got.len() < placements.len(), "{param} narrows");
    }
    let (_, one) = rest.get(&format!("/api/vcenter/vm?vms={vm0}")).await;
    assert_eq!(ids(&one, "vm"), vec![vm0.clone()]);

    let (_, clusters) = rest.get("/api/vcenter/cluster").await;
    let cluster = clusters[0]["cluster"].as_str().expect("cluster");
    let (_, in_cluster) = rest
        .get(&format!("/api/vcenter/vm?clusters={cluster}"))
        .await;
    let n = in_cluster.as_array().expect("array").len();
    assert!(
        n > 0 && n < placements.len(),
        "VMs on the standalone host are outside the cluster"
    );

    let (_, dcs) = rest.get("/api/vcenter/datacenter").await;
    let dc = dcs[0]["datacenter"].as_str().expect("dc");
    let (_, in_dc) = rest.get(&format!("/api/vcenter/vm?datacenters={dc}")).await;
    assert_eq!(in_dc.as_array().expect("array").len(), placements.len());
    let (_, none) = rest
        .get("/api/vcenter/vm?datacenters=datacenter-999999")
        .await;
    assert_eq!(none, json!([]));

    let (s, body) = rest.get("/api/vcenter/vm?power_states=ON").await;
    assert_error(s, &body, 400, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn host_datastore_folder_pool_and_network_filters() {
    let (_sim, rest) = admin().await;
    let (_, all) = rest.get("/api/vcenter/host").await;
    let (_, standalone) = rest.get("/api/vcenter/host?standalone=true").await;
    let (_, clustered) = rest.get("/api/vcenter/host?standalone=false").await;
    let (n_all, n_sa, n_cl) = (
        all.as_array().expect("a").len(),
        standalone.as_array().expect("a").len(),
        clustered.as_array().expect("a").len(),
    );
    assert!(n_sa >= 1 && n_cl >= 1);
    assert_eq!(n_sa + n_cl, n_all);
    let (_, clusters) = rest.get("/api/vcenter/cluster").await;
    let cluster = clusters[0]["cluster"]
        .as_str()
        .expect("cluster")
        .to_string();
    let (_, in_cluster) = rest
        .get(&format!("/api/vcenter/host?clusters={cluster}"))
        .await;
    assert_eq!(in_cluster.as_array().expect("a").len(), n_cl);
    let (_, connected) = rest
        .get("/api/vcenter/host?connection_states=CONNECTED")
        .await;
    assert_eq!(connected.as_array().expect("a").len(), n_all);
    let (_, gone) = rest
        .get("/api/vcenter/host?connection_states=NOT_RESPONDING")
        .await;
    assert_eq!(gone, json!([]));
    let (s, body) = rest.get("/api/vcenter/host?standalone=maybe").await;
    assert_error(s, &body, 400, "INVALID_ARGUMENT");
    let (s, body) = rest.get("/api/vcenter/host?connection_states=UP").await;
    assert_error(s, &body, 400, "INVALID_ARGUMENT");

    let (_, dss) = rest.get("/api/vcenter/datastore").await;
    let (_, nfs) = rest.get("/api/vcenter/datastore?types=NFS").await;
    let nfs = nfs.as_array().expect("a");
    assert!(!nfs.is_empty() && nfs.len() < dss.as_array().expect("a").len());
    assert!(nfs.iter().all(|d| d["type"] == "NFS"));
    let (s, body) = rest.get("/api/vcenter/datastore?types=ZFS").await;
    assert_error(s, &body, 400, "INVALID_ARGUMENT");

    let (_, vm_folders) = rest.get("/api/vcenter/folder?type=VIRTUAL_MACHINE").await;
    let vm_folders = vm_folders.as_array().expect("a");
    assert!(vm_folders.iter().all(|f| f["type"] == "VIRTUAL_MACHINE"));
    let top = vm_folders
        .iter()
        .find(|f| f["name"] == "vm")
        .expect("datacenter vm folder")["folder"]
        .as_str()
        .expect("id")
        .to_string();
    let (_, children) = rest
        .get(&format!("/api/vcenter/folder?parent_folders={top}"))
        .await;
    let mut names = ids(&children, "name");
    names.sort();
    assert_eq!(names, ["Development", "Infrastructure", "Production"]);
    let (s, body) = rest
        .get("/api/vcenter/folder?type=VIRTUAL_MACHINE&type=HOST")
        .await;
    assert_error(s, &body, 400, "INVALID_ARGUMENT");
    let (s, body) = rest.get("/api/vcenter/folder?type=vm").await;
    assert_error(s, &body, 400, "INVALID_ARGUMENT");

    let (_, pools) = rest
        .get(&format!("/api/vcenter/resource-pool?clusters={cluster}"))
        .await;
    let mut pool_names = ids(&pools, "name");
    pool_names.sort();
    assert_eq!(
        pool_names,
        ["Development", "Production", "Resources", "Tier-1"]
    );
    let (_, prod) = rest
        .get("/api/vcenter/resource-pool?names=Production")
        .await;
    let prod_id = prod[0]["resource_pool"].as_str().expect("id");
    let (_, tier1) = rest
        .get(&format!(
            "/api/vcenter/resource-pool?parent_resource_pools={prod_id}"
        ))
        .await;
    assert_eq!(ids(&tier1, "name"), ["Tier-1"]);
    let standalone_host = standalone[0]["host"].as_str().expect("host");
    let (_, own) = rest
        .get(&format!(
            "/api/vcenter/resource-pool?hosts={standalone_host}"
        ))
        .await;
    assert_eq!(ids(&own, "name"), ["Resources"]);

    let (_, nets) = rest
        .get("/api/vcenter/network?types=STANDARD_PORTGROUP")
        .await;
    assert_eq!(nets.as_array().expect("a").len(), 4);
    let (_, dvpg) = rest
        .get("/api/vcenter/network?types=DISTRIBUTED_PORTGROUP")
        .await;
    assert_eq!(dvpg, json!([]));
    let (_, named) = rest.get("/api/vcenter/network?names=VLAN-101").await;
    assert_eq!(ids(&named, "name"), ["VLAN-101"]);
    let (s, body) = rest.get("/api/vcenter/network?types=VLAN").await;
    assert_error(s, &body, 400, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn more_than_4000_matching_vms_is_unable_to_allocate_resource() {
    let mut cfg = SimConfig::small();
    cfg.size.vms = 4001;
    let started = std::time::Instant::now();
    let sim = Simulator::start(cfg).await.expect("sim");
    eprintln!("4001-VM simulator started in {:?}", started.elapsed());
    let rest = Rest::login(&sim, "admin", "admin").await;
    let (s, body) = rest.get("/api/vcenter/vm").await;
    assert_error(s, &body, 500, "UNABLE_TO_ALLOCATE_RESOURCE");
    assert_eq!(
        body["messages"][0]["id"],
        "com.vmware.api.vcenter.vm.too_many_matches"
    );
    assert_eq!(
        body["messages"][0]["default_message"],
        "Too many virtual machines. Add more filter criteria to reduce the number."
    );
    assert_eq!(body["messages"][0]["args"], json!([]));

    // Splitting by host, as a client must, brings every page under the cap.
    let (_, hosts) = rest.get("/api/vcenter/host").await;
    let mut total = 0;
    for h in ids(&hosts, "host") {
        let (s, page) = rest.get(&format!("/api/vcenter/vm?hosts={h}")).await;
        assert_eq!(s, 200);
        total += page.as_array().expect("a").len();
    }
    assert_eq!(total, 4001);

    // Exactly at the cap is still served: hide one VM from the user.
    let first = sim.control().state().inv().ids_of("VirtualMachine")[0].clone();
    sim.control().deny_object(&first);
    let (s, body) = rest.get("/api/vcenter/vm").await;
    assert_eq!(s, 200, "4000 visible VMs fit");
    assert_eq!(body.as_array().expect("a").len(), 4000);
}

#[tokio::test]
async fn more_than_2500_hosts_or_datastores_is_unable_to_allocate_resource() {
    let mut cfg = SimConfig::small();
    cfg.size.hosts = 2501;
    cfg.size.datastores = 2501;
    cfg.size.vms = 10;
    let sim = Simulator::start(cfg).await.expect("sim");
    let rest = Rest::login(&sim, "admin", "admin").await;
    for (kind, list) in [
        ("HostSystem", "/api/vcenter/host"),
        ("Datastore", "/api/vcenter/datastore"),
    ] {
        let (s, body) = rest.get(list).await;
        assert_error(s, &body, 500, "UNABLE_TO_ALLOCATE_RESOURCE");
        // Exactly at the cap is still served.
        let first = sim.control().state().inv().ids_of(kind)[0].clone();
        sim.control().deny_object(&first);
        let (s, body) = rest.get(list).await;
        assert_eq!(s, 200, "{list}: 2500 visible fit");
        assert_eq!(body.as_array().expect("a").len(), 2500);
    }
}

#[tokio::test]
async fn no_session_is_401_and_role_none_is_403() {
    let sim = Simulator::start(SimConfig::small().user("nobody", "x", Role::None))
        .await
        .expect("sim");
    let c = common::insecure_client();
    let vm = sim.control().state().inv().ids_of("VirtualMachine")[0].clone();
    let paths = [
        "/api/vcenter/vm".to_string(),
        "/api/vcenter/host".into(),
        "/api/vcenter/datastore".into(),
        "/api/vcenter/cluster".into(),
        "/api/vcenter/datacenter".into(),
        "/api/vcenter/folder".into(),
        "/api/vcenter/resource-pool".into(),
        "/api/vcenter/network".into(),
        format!("/api/vcenter/vm/{vm}"),
        format!("/api/vcenter/vm/{vm}/guest/identity"),
        format!("/api/vcenter/vm/{vm}/guest/local-filesystem"),
        "/api/cis/tagging/category".into(),
        "/api/cis/tagging/tag".into(),
    ];
    for p in &paths {
        let r = c
            .get(format!("{}{p}", sim.base_url()))
            .send()
            .await
            .expect("get");
        let status = r.status().as_u16();
        let body: Value = r.json().await.expect("json");
        assert_error(status, &body, 401, "UNAUTHENTICATED");
        let (status, body) = common::send(c.get(format!("{}{p}", sim.base_url())), "bogus").await;
        assert_error(status, &body, 401, "UNAUTHENTICATED");
    }
    let r = c
        .post(format!(
            "{}/api/cis/tagging/tag-association?action=list-attached-tags-on-objects",
            sim.base_url()
        ))
        .json(&json!({"object_ids": []}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);

    let nobody = Rest::login(&sim, "nobody", "x").await;
    for p in &paths[..11] {
        let (status, body) = nobody.get(p).await;
        assert_error(status, &body, 403, "UNAUTHORIZED");
    }
    // Tag lists hold only what the user may read: nothing.
    assert_eq!(
        nobody.get("/api/cis/tagging/category").await,
        (200, json!([]))
    );
    assert_eq!(nobody.get("/api/cis/tagging/tag").await, (200, json!([])));
}

#[tokio::test]
async fn objects_without_read_privilege_are_left_out() {
    let (sim, rest) = admin().await;
    let (_, before) = rest.get("/api/vcenter/vm").await;
    let hidden = before[0]["vm"].as_str().expect("vm").to_string();
    sim.control().deny_object(&hidden);
    let (_, after) = rest.get("/api/vcenter/vm").await;
    let after = ids(&after, "vm");
    assert_eq!(after.len() + 1, before.as_array().expect("a").len());
    assert!(!after.contains(&hidden));
    let (s, body) = rest.get(&format!("/api/vcenter/vm/{hidden}")).await;
    assert_error(s, &body, 403, "UNAUTHORIZED");
}

#[tokio::test]
async fn vm_info_has_the_swagger_shape_and_unknown_vms_are_404() {
    let (sim, rest) = admin().await;
    let (vm, _, _, _) = vm_placements(&sim)[0].clone();
    let (s, info) = rest.get(&format!("/api/vcenter/vm/{vm}")).await;
    assert_eq!(s, 200, "{info}");
    let inv_name = sim
        .control()
        .state()
        .inv()
        .get(&vm)
        .expect("vm")
        .name()
        .to_string();
    assert_eq!(info["name"], inv_name);
    assert_eq!(info["identity"]["name"], inv_name);
    assert!(info["identity"]["bios_uuid"]
        .as_str()
        .is_some_and(|u| u.len() == 36));
    assert!(info["identity"]["instance_uuid"].is_string());
    assert!(info["guest_OS"].as_str().is_some_and(|g| g
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')));
    assert_eq!(info["hardware"]["version"], "VMX_20");
    assert!(info["cpu"]["count"].as_i64().is_some_and(|n| n >= 1));
    assert!(info["memory"]["size_MiB"]
        .as_i64()
        .is_some_and(|n| n >= 2048));
    let disk = &info["disks"]["2000"];
    assert_eq!(disk["label"], "Hard disk 1");
    assert_eq!(disk["backing"]["type"], "VMDK_FILE");
    assert!(disk["capacity"].as_i64().is_some_and(|c| c > 0));
    let nic = &info["nics"]["4000"];
    assert_eq!(nic["type"], "VMXNET3");
    assert!(nic["mac_address"]
        .as_str()
        .is_some_and(|m| m.starts_with("00:50:56")));
    assert!(nic["backing"]["network"]
        .as_str()
        .is_some_and(|n| n.starts_with("network-")));
    for map in [
        "cdroms",
        "floppies",
        "parallel_ports",
        "serial_ports",
        "sata_adapters",
        "scsi_adapters",
    ] {
        assert!(info[map].is_object(), "{map} present");
    }
    let (s, body) = rest.get("/api/vcenter/vm/vm-999999").await;
    assert_error(s, &body, 404, "NOT_FOUND");
    let host = sim.control().state().inv().ids_of("HostSystem")[0].clone();
    let (s, body) = rest.get(&format!("/api/vcenter/vm/{host}")).await;
    assert_error(s, &body, 404, "NOT_FOUND");
}

#[tokio::test]
async fn guest_identity_and_filesystems_need_running_tools() {
    let (sim, rest) = admin().await;
    let (with_tools, without) = (
        common::vm_by_tools(&sim, true),
        common::vm_by_tools(&sim, false),
    );
    let (s, id) = rest
        .get(&format!("/api/vcenter/vm/{with_tools}/guest/identity"))
        .await;
    assert_eq!(s, 200, "{id}");
    assert!(["LINUX", "WINDOWS"].contains(&id["family"].as_str().expect("family")));
    assert!(id["full_name"]["default_message"]
        .as_str()
        .is_some_and(|m| m.contains("64-bit")));
    assert!(id["full_name"]["args"].is_array());
    assert!(id["host_name"].as_str().is_some_and(|h| !h.is_empty()));
    assert!(id["ip_address"]
        .as_str()
        .is_some_and(|ip| ip.starts_with("10.")));

    let (s, fs) = rest
        .get(&format!(
            "/api/vcenter/vm/{with_tools}/guest/local-filesystem"
        ))
        .await;
    assert_eq!(s, 200, "{fs}");
    let (mount, info) = fs
        .as_object()
        .expect("map")
        .iter()
        .next()
        .expect("one filesystem");
    assert!(mount == "/" || mount == "C:\\");
    let (cap, free) = (
        info["capacity"].as_i64().expect("cap"),
        info["free_space"].as_i64().expect("free"),
    );
    assert!(cap > 0 && free > 0 && free <= cap);
    assert!(["ext4", "NTFS"].contains(&info["filesystem"].as_str().expect("fs")));
    assert!(info["mappings"].is_array());

    for tail in ["identity", "local-filesystem"] {
        let (s, body) = rest
            .get(&format!("/api/vcenter/vm/{without}/guest/{tail}"))
            .await;
        assert_error(s, &body, 503, "SERVICE_UNAVAILABLE");
        let (s, body) = rest
            .get(&format!("/api/vcenter/vm/vm-999999/guest/{tail}"))
            .await;
        assert_error(s, &body, 404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn tagging_categories_tags_and_attachments() {
    let (sim, rest) = admin().await;
    let (s, cats) = rest.get("/api/cis/tagging/category").await;
    assert_eq!(s, 200);
    let cats: Vec<String> = serde_json::from_value(cats).expect("id strings");
    assert_eq!(cats.len(), 3);
    let mut cat_names = Vec::new();
    for id in &cats {
        let (s, c) = rest.get(&format!("/api/cis/tagging/category/{id}")).await;
        assert_eq!(s, 200, "{c}");
        assert_eq!(&c["id"], id);
        assert!(["SINGLE", "MULTIPLE"].contains(&c["cardinality"].as_str().expect("card")));
        assert!(c["associable_types"].is_array() && c["used_by"].is_array());
        cat_names.push(c["name"].as_str().expect("name").to_string());
    }
    cat_names.sort();
    assert_eq!(cat_names, ["Backup", "Environment", "Owner"]);

    let (_, tags) = rest.get("/api/cis/tagging/tag").await;
    let tags: Vec<String> = serde_json::from_value(tags).expect("id strings");
    assert_eq!(tags.len(), 8);
    let (s, t) = rest.get(&format!("/api/cis/tagging/tag/{}", tags[0])).await;
    assert_eq!(s, 200);
    assert!(cats.contains(&t["category_id"].as_str().expect("cat").to_string()));
    assert!(t["description"].is_string() && t["used_by"].is_array());

    let (s, body) = rest
        .get("/api/cis/tagging/tag/urn:vmomi:InventoryServiceTag:nope:GLOBAL")
        .await;
    assert_error(s, &body, 404, "NOT_FOUND");
    let (s, body) = rest.get("/api/cis/tagging/category/nope").await;
    assert_error(s, &body, 404, "NOT_FOUND");

    let vm = vm_placements(&sim)[0].0.clone();
    let want = {
        let inv = sim.control().state().inv();
        let m = pulse_vsphere::simulator::inventory::MoRef::new("VirtualMachine", vm.clone());
        inv.tagging.tags_of(&m).to_vec()
    };
    assert!(!want.is_empty());
    let path = "/api/cis/tagging/tag-association?action=list-attached-tags-on-objects";
    let (s, body) = rest
        .post(path, json!({"object_ids": [{"type": "VirtualMachine", "id": vm}, {"type": "HostSystem", "id": "host-1"}]}))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body[0]["object_id"],
        json!({"type": "VirtualMachine", "id": vm})
    );
    assert_eq!(body[0]["tag_ids"], json!(want));
    assert_eq!(body[1]["tag_ids"], json!([]));

    sim.control().deny_object(&vm);
    let (_, body) = rest
        .post(
            path,
            json!({"object_ids": [{"type": "VirtualMachine", "id": vm}]}),
        )
        .await;
    assert_eq!(
        body,
        json!([]),
        "objects without read privilege are left out"
    );

    let (s, body) = rest.post(path, json!({"objects": []})).await;
    assert_error(s, &body, 400, "INVALID_ARGUMENT");
    let r = rest
        .c
        .post(format!("{}{path}", rest.base))
        .header("vmware-api-session-id", &rest.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    let (s, _) = rest
        .post("/api/cis/tagging/tag-association?action=attach", json!({}))
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn rest_requests_are_counted_and_faults_apply() {
    let (sim, rest) = admin().await;
    let vm = vm_placements(&sim)[0].0.clone();
    rest.get("/api/vcenter/vm").await;
    rest.get("/api/vcenter/vm?power_states=POWERED_ON").await;
    rest.get(&format!("/api/vcenter/vm/{vm}")).await;
    rest.get("/api/cis/tagging/tag").await;
    // Read the counters the way a test harness outside the process would.
    let (_, stats) = rest.get("/_sim/stats").await;
    let requests = &stats["requests"];
    assert_eq!(requests["rest:GET /api/vcenter/vm"], 2);
    assert_eq!(requests["rest:GET /api/vcenter/vm/{vm}"], 1);
    assert_eq!(requests["rest:GET /api/cis/tagging/tag"], 1);

    sim.control().set_error_rate(Family::Rest, 1.0);
    let (s, body) = rest.get("/api/vcenter/host").await;
    assert_error(s, &body, 503, "SERVICE_UNAVAILABLE");
    sim.control().set_error_rate(Family::Rest, 0.0);

    sim.control().set_malformed(Family::Rest, true);
    let r = rest
        .c
        .get(format!("{}/api/vcenter/datastore", rest.base))
        .header("vmware-api-session-id", &rest.token)
        .send()
        .await
        .expect("get");
    let text = r.text().await.expect("body");
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "cut body: {text}"
    );
    sim.control().set_malformed(Family::Rest, false);
    assert_eq!(rest.get("/api/vcenter/datastore").await.0, 200);
}
