//! Datastore clusters (`StoragePod`): a container in a datacenter's datastore folder holding
//! some of a compute cluster's datastores, its summary the sum of theirs.

use serde_json::{json, Value};

use super::{objects, Inventory, ManagedObject, MoRef};

/// Groups the VMFS datastores of every other compute cluster that has two or more into a
/// datastore cluster named after it. It runs after generation, takes no random draw and its
/// moIds come after every other object's, so the rest of the inventory is the same with or
/// without datastore clusters.
pub fn group(inv: &mut Inventory) {
    let clusters: Vec<String> = inv.ids_of("ClusterComputeResource").to_vec();
    for c in clusters.iter().step_by(2) {
        let Some(cluster) = inv.get(c) else { continue };
        let name = cluster.name().replace("Cluster-", "DatastoreCluster-");
        let members: Vec<MoRef> = cluster
            .morefs_at("datastore")
            .into_iter()
            .filter(|d| {
                inv.get(&d.value)
                    .and_then(|o| o.get_path("summary.type"))
                    .and_then(Value::as_str)
                    == Some("VMFS")
            })
            .collect();
        if members.len() < 2 {
            continue;
        }
        let Some(folder) = inv
            .get(&members[0].value)
            .and_then(|o| o.get_path("parent"))
            .and_then(MoRef::from_json)
        else {
            continue;
        };
        let pod = MoRef::new("StoragePod", inv.new_id("group-p"));
        let mut props = objects::folder(&name, &folder, &["Datastore"]);
        props.insert("childEntity".into(), objects::refs(&members));
        props.insert(
            "podStorageDrsEntry".into(),
            json!({
                "_typeName": "PodStorageDrsEntry",
                "storageDrsConfig": {
                    "_typeName": "StorageDrsConfigInfo",
                    "podConfig": {
                        "_typeName": "StorageDrsPodConfigInfo",
                        "enabled": true,
                        "ioLoadBalanceEnabled": false,
                        "defaultVmBehavior": "automated",
                        "loadBalanceInterval": 480,
                        "defaultIntraVmAffinity": true,
                    },
                },
            }),
        );
        inv.insert(ManagedObject {
            moref: pod.clone(),
            props,
        });
        for d in &members {
            if let Some(o) = inv.get_mut(&d.value) {
                o.props.insert("parent".into(), pod.to_json());
            }
        }
        if let Some(children) = inv
            .get_mut(&folder.value)
            .and_then(|f| f.props.get_mut("childEntity"))
            .and_then(Value::as_array_mut)
        {
            children.retain(|e| !MoRef::from_json(e).is_some_and(|r| members.contains(&r)));
            children.push(pod.to_json());
        }
        let summary = summary(inv, &pod.value);
        if let Some(o) = inv.get_mut(&pod.value) {
            o.props.insert("summary".into(), summary);
        }
    }
}

/// The datastore cluster `ds` is in, if any.
pub fn pod_of(inv: &Inventory, ds: &str) -> Option<MoRef> {
    inv.get(ds)
        .and_then(|o| o.get_path("parent"))
        .and_then(MoRef::from_json)
        .filter(|p| p.kind == "StoragePod")
}

/// `StoragePodSummary` of `pod`: its datastores' capacity and free space added up.
pub fn summary(inv: &Inventory, pod: &str) -> Value {
    let Some(o) = inv.get(pod) else {
        return Value::Null;
    };
    let (mut capacity, mut free) = (0i64, 0i64);
    for d in o.morefs_at("childEntity") {
        let read = |path: &str| {
            inv.get(&d.value)
                .and_then(|ds| ds.get_path(path))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        capacity += read("summary.capacity");
        free += read("summary.freeSpace");
    }
    json!({
        "_typeName": "StoragePodSummary",
        "name": o.name(),
        "capacity": capacity,
        "freeSpace": free,
    })
}
