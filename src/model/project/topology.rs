//! The containers above the resources (clusters, standalone compute resources, datacenters,
//! folders, resource pools, datastore clusters) and networks: what the collector requests of each, and what each
//! contributes to the [`Surroundings`] every resource's projection reads.

use super::{alerts_of, ProjectionContext, Surroundings};
use crate::model::paths::{fields, Kind};
use crate::model::raw::RawObject;
use crate::model::topology::TopologyNode;

/// A cluster: its HA and DRS flags and its alarms are shown on the hosts and VMs in it.
pub const CLUSTER: Kind = Kind {
    name: "ClusterComputeResource",
    paths: &[
        "name",
        "parent",
        "configurationEx.dasConfig.enabled",
        "configurationEx.drsConfig.enabled",
        "triggeredAlarmState",
    ],
    keep: &[],
};

/// A standalone host's compute resource.
pub const COMPUTE_RESOURCE: Kind = Kind {
    name: "ComputeResource",
    paths: &["name", "parent"],
    keep: &[],
};

/// A datacenter: its alarms are shown on everything in it.
pub const DATACENTER: Kind = Kind {
    name: "Datacenter",
    paths: &["name", "parent", "triggeredAlarmState"],
    keep: &[],
};

/// A folder: its alarms are shown on the hosts and VMs below it.
pub const FOLDER: Kind = Kind {
    name: "Folder",
    paths: &["name", "parent", "triggeredAlarmState"],
    keep: &[],
};

/// A datastore cluster: shown on the datastores in it.
pub const STORAGE_POD: Kind = Kind {
    name: "StoragePod",
    paths: &["name", "parent"],
    keep: &[],
};

pub const RESOURCE_POOL: Kind = Kind {
    name: "ResourcePool",
    paths: &["name", "parent"],
    keep: &[],
};

/// A network: VMs show their networks by name.
pub const NETWORK: Kind = Kind {
    name: "Network",
    paths: &["name"],
    keep: &[],
};

fields!(CONTAINER_FIELDS for [&CLUSTER, &COMPUTE_RESOURCE, &DATACENTER, &FOLDER, &RESOURCE_POOL, &STORAGE_POD] {
    NAME = "name";
    PARENT = "parent";
});

fields!(CLUSTER_FIELDS for [&CLUSTER] {
    HA_ENABLED = "configurationEx.dasConfig.enabled";
    DRS_ENABLED = "configurationEx.drsConfig.enabled";
});

fields!(NETWORK_FIELDS for [&NETWORK] {
    NETWORK_NAME = "name";
});

impl Surroundings {
    /// Adds what object `moid` contributes.
    pub(super) fn add(&mut self, moid: &str, o: &RawObject, ctx: &ProjectionContext) {
        match o.kind.as_str() {
            "HostSystem" => {
                if let Some(parent) = o.moid(super::host::PARENT) {
                    self.host_parents
                        .insert(moid.to_string(), parent.to_string());
                }
            }
            "Network" => {
                if let Some(name) = o.str(NETWORK_NAME) {
                    self.network_names
                        .insert(moid.to_string(), name.to_string());
                }
            }
            "Folder"
            | "Datacenter"
            | "ClusterComputeResource"
            | "ComputeResource"
            | "ResourcePool"
            | "StoragePod" => {
                if matches!(
                    o.kind.as_str(),
                    "Datacenter" | "ClusterComputeResource" | "Folder"
                ) {
                    let alerts = alerts_of(ctx, moid, o);
                    if !alerts.is_empty() {
                        self.container_alerts.insert(moid.to_string(), alerts);
                    }
                }
                self.topo.insert(
                    moid.to_string(),
                    TopologyNode {
                        kind: o.kind.clone(),
                        name: o.str(NAME).unwrap_or(moid).to_string(),
                        parent: o.moid(PARENT).map(str::to_string),
                        ha_enabled: o.bool(HA_ENABLED),
                        drs_enabled: o.bool(DRS_ENABLED),
                    },
                );
            }
            _ => {}
        }
    }
}
