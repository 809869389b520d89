//! `GET /api/vcenter/{vm,host,datastore,cluster,datacenter,folder,resource-pool,network}`: the
//! list summaries and filters of the 7.0.3 `vcenter` swagger. A `folders` filter matches an
//! object's nearest folder (for a host, its compute resource's folder); `resource_pools` and
//! `parent_folders` match the direct parent.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{json, Value};

use super::enums::{self, DATASTORE_TYPES, FOLDER_TYPES, HOST_CONNECTION_STATES};
use super::enums::{NETWORK_TYPES, VM_POWER_STATES};
use super::lists::{list, ListKind};
use super::query::{admits, Query};
use super::topology::{cluster_of_host, datacenter_of, folder_of, parent_id, str_at};
use super::RestSession;
use crate::simulator::inventory::{Inventory, ManagedObject};
use crate::simulator::state::SimState;

fn id(obj: &ManagedObject) -> Option<&str> {
    Some(obj.moref.value.as_str())
}

/// Unwraps a parsed filter or answers its 400.
macro_rules! filter {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(resp) => return resp,
        }
    };
}

const VMS: ListKind = ListKind {
    types: &["VirtualMachine"],
    cap: 4000,
    resource: "vm",
    noun: "virtual machines",
};

/// `GET /api/vcenter/vm`.
pub async fn vms(
    State(state): State<Arc<SimState>>,
    session: RestSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let power = filter!(q.enum_set("power_states", VM_POWER_STATES));
    let (vms, names, folders) = (q.set("vms"), q.set("names"), q.set("folders"));
    let (dcs, hosts, clusters) = (q.set("datacenters"), q.set("hosts"), q.set("clusters"));
    let pools = q.set("resource_pools");
    let keep = |inv: &Inventory, vm: &ManagedObject| {
        let host = vm.moref_at("runtime.host").map(|h| h.value);
        admits(&vms, id(vm))
            && admits(&names, Some(vm.name()))
            && admits(&folders, folder_of(inv, vm).as_deref())
            && admits(&dcs, datacenter_of(inv, vm).as_deref())
            && admits(&hosts, host.as_deref())
            && admits(
                &clusters,
                host.and_then(|h| cluster_of_host(inv, &h)).as_deref(),
            )
            && admits(
                &pools,
                vm.moref_at("resourcePool").map(|p| p.value).as_deref(),
            )
            && admits(
                &power,
                Some(enums::vm_power_state(str_at(vm, "runtime.powerState"))),
            )
    };
    list(&state, &session, &VMS, keep, |_, vm| {
        json!({
            "vm": vm.moref.value,
            "name": vm.name(),
            "power_state": enums::vm_power_state(str_at(vm, "runtime.powerState")),
            "cpu_count": vm.get_path("config.hardware.numCPU"),
            "memory_size_MiB": vm.get_path("config.hardware.memoryMB"),
        })
    })
}

const HOSTS: ListKind = ListKind {
    types: &["HostSystem"],
    cap: 2500,
    resource: "host",
    noun: "hosts",
};

/// `GET /api/vcenter/host`.
pub async fn hosts(
    State(state): State<Arc<SimState>>,
    session: RestSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let states = filter!(q.enum_set("connection_states", HOST_CONNECTION_STATES));
    let standalone = filter!(q.bool("standalone"));
    let (hosts, names, folders) = (q.set("hosts"), q.set("names"), q.set("folders"));
    let (dcs, clusters) = (q.set("datacenters"), q.set("clusters"));
    let keep = |inv: &Inventory, h: &ManagedObject| {
        let cluster = cluster_of_host(inv, &h.moref.value);
        admits(&hosts, id(h))
            && admits(&names, Some(h.name()))
            && admits(&folders, folder_of(inv, h).as_deref())
            && admits(&dcs, datacenter_of(inv, h).as_deref())
            && standalone.is_none_or(|s| s == cluster.is_none())
            && admits(&clusters, cluster.as_deref())
            && admits(
                &states,
                Some(enums::host_connection_state(str_at(
                    h,
                    "runtime.connectionState",
                ))),
            )
    };
    list(&state, &session, &HOSTS, keep, |_, h| {
        let conn = enums::host_connection_state(str_at(h, "runtime.connectionState"));
        let mut s = json!({"host": h.moref.value, "name": h.name(), "connection_state": conn});
        // The swagger: power_state is only relevant (and only sent) while CONNECTED.
        if conn == "CONNECTED" {
            s["power_state"] = json!(enums::host_power_state(str_at(h, "runtime.powerState")));
        }
        s
    })
}

const DATASTORES: ListKind = ListKind {
    types: &["Datastore"],
    cap: 2500,
    resource: "datastore",
    noun: "datastores",
};

/// `GET /api/vcenter/datastore`.
pub async fn datastores(
    State(state): State<Arc<SimState>>,
    session: RestSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let types = filter!(q.enum_set("types", DATASTORE_TYPES));
    let (dss, names, folders, dcs) = (
        q.set("datastores"),
        q.set("names"),
        q.set("folders"),
        q.set("datacenters"),
    );
    let keep = |inv: &Inventory, ds: &ManagedObject| {
        admits(&dss, id(ds))
            && admits(&names, Some(ds.name()))
            && admits(&folders, folder_of(inv, ds).as_deref())
            && admits(&dcs, datacenter_of(inv, ds).as_deref())
            && admits(
                &types,
                Some(&enums::datastore_type(str_at(ds, "summary.type"))),
            )
    };
    list(&state, &session, &DATASTORES, keep, |_, ds| {
        json!({
            "datastore": ds.moref.value,
            "name": ds.name(),
            "type": enums::datastore_type(str_at(ds, "summary.type")),
            "free_space": ds.get_path("summary.freeSpace"),
            "capacity": ds.get_path("summary.capacity"),
        })
    })
}

const CLUSTERS: ListKind = ListKind {
    types: &["ClusterComputeResource"],
    cap: 1000,
    resource: "cluster",
    noun: "clusters",
};

/// `GET /api/vcenter/cluster`.
pub async fn clusters(
    State(state): State<Arc<SimState>>,
    session: RestSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let (clusters, names, folders, dcs) = (
        q.set("clusters"),
        q.set("names"),
        q.set("folders"),
        q.set("datacenters"),
    );
    let keep = |inv: &Inventory, c: &ManagedObject| {
        admits(&clusters, id(c))
            && admits(&names, Some(c.name()))
            && admits(&folders, folder_of(inv, c).as_deref())
            && admits(&dcs, datacenter_of(inv, c).as_deref())
    };
    let enabled =
        |c: &ManagedObject, path: &str| c.get_path(path).and_then(Value::as_bool).unwrap_or(false);
    list(&state, &session, &CLUSTERS, keep, |_, c| {
        json!({
            "cluster": c.moref.value,
            "name": c.name(),
            "ha_enabled": enabled(c, "configurationEx.dasConfig.enabled"),
            "drs_enabled": enabled(c, "configurationEx.drsConfig.enabled"),
        })
    })
}

const DATACENTERS: ListKind = ListKind {
    types: &["Datacenter"],
    cap: 1000,
    resource: "datacenter",
    noun: "datacenters",
};

/// `GET /api/vcenter/datacenter`.
pub async fn datacenters(
    State(state): State<Arc<SimState>>,
    session: RestSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let (dcs, names, folders) = (q.set("datacenters"), q.set("names"), q.set("folders"));
    let keep = |inv: &Inventory, dc: &ManagedObject| {
        admits(&dcs, id(dc))
            && admits(&names, Some(dc.name()))
            && admits(&folders, folder_of(inv, dc).as_deref())
    };
    list(
        &state,
        &session,
        &DATACENTERS,
        keep,
        |_, dc| json!({"datacenter": dc.moref.value, "name": dc.name()}),
    )
}

const FOLDERS: ListKind = ListKind {
    types: &["Folder"],
    cap: 1000,
    resource: "folder",
    noun: "folders",
};

/// `GET /api/vcenter/folder`.
pub async fn folders(
    State(state): State<Arc<SimState>>,
    session: RestSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let ty = filter!(q.enum_one("type", FOLDER_TYPES));
    let (folders, names, parents, dcs) = (
        q.set("folders"),
        q.set("names"),
        q.set("parent_folders"),
        q.set("datacenters"),
    );
    let keep = |inv: &Inventory, f: &ManagedObject| {
        admits(&folders, id(f))
            && admits(&names, Some(f.name()))
            && admits(&parents, parent_id(f).as_deref())
            && admits(&dcs, datacenter_of(inv, f).as_deref())
            && ty.as_deref().is_none_or(|t| t == enums::folder_type(f))
    };
    list(
        &state,
        &session,
        &FOLDERS,
        keep,
        |_, f| json!({"folder": f.moref.value, "name": f.name(), "type": enums::folder_type(f)}),
    )
}

const POOLS: ListKind = ListKind {
    types: &["ResourcePool"],
    cap: 1000,
    resource: "resource_pool",
    noun: "resource pools",
};

/// `GET /api/vcenter/resource-pool`. A standalone host "contains" the pools of its compute
/// resource; clustered hosts contain none (the cluster does).
pub async fn resource_pools(
    State(state): State<Arc<SimState>>,
    session: RestSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let (pools, names, parents) = (
        q.set("resource_pools"),
        q.set("names"),
        q.set("parent_resource_pools"),
    );
    let (dcs, hosts, clusters) = (q.set("datacenters"), q.set("hosts"), q.set("clusters"));
    let keep = |inv: &Inventory, rp: &ManagedObject| {
        let owner = rp.moref_at("owner");
        let standalone_host = owner
            .as_ref()
            .filter(|o| o.kind == "ComputeResource")
            .and_then(|o| inv.get(&o.value))
            .and_then(|cr| cr.morefs_at("host").into_iter().next())
            .map(|h| h.value);
        let cluster = owner
            .filter(|o| o.kind == "ClusterComputeResource")
            .map(|o| o.value);
        admits(&pools, id(rp))
            && admits(&names, Some(rp.name()))
            && admits(&parents, parent_id(rp).as_deref())
            && admits(&dcs, datacenter_of(inv, rp).as_deref())
            && admits(&hosts, standalone_host.as_deref())
            && admits(&clusters, cluster.as_deref())
    };
    list(
        &state,
        &session,
        &POOLS,
        keep,
        |_, rp| json!({"resource_pool": rp.moref.value, "name": rp.name()}),
    )
}

const NETWORKS: ListKind = ListKind {
    types: &["Network", "DistributedVirtualPortgroup", "OpaqueNetwork"],
    cap: 1000,
    resource: "network",
    noun: "networks",
};

/// `GET /api/vcenter/network`.
pub async fn networks(
    State(state): State<Arc<SimState>>,
    session: RestSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let types = filter!(q.enum_set("types", NETWORK_TYPES));
    let (nets, names, folders, dcs) = (
        q.set("networks"),
        q.set("names"),
        q.set("folders"),
        q.set("datacenters"),
    );
    let keep = |inv: &Inventory, n: &ManagedObject| {
        admits(&nets, id(n))
            && admits(&names, Some(n.name()))
            && admits(&folders, folder_of(inv, n).as_deref())
            && admits(&dcs, datacenter_of(inv, n).as_deref())
            && admits(&types, Some(enums::network_type(&n.moref.kind)))
    };
    list(&state, &session, &NETWORKS, keep, |_, n| {
        json!({
            "network": n.moref.value,
            "name": n.name(),
            "type": enums::network_type(&n.moref.kind),
        })
    })
}
