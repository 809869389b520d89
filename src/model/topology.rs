//! Topology from parent chains: datacenter, cluster (with HA/DRS), folder path and resource pool
//! path of hosts, VMs and datastores. vCenter, datacenters, clusters, folders and pools are
//! metadata on the canonical resources, never resources of their own.

use std::collections::HashMap;

use serde::Serialize;

/// vSphere's deepest nesting is far below this; a longer chain means a cycle in bad data.
const MAX_DEPTH: usize = 64;

/// What the resolver needs to know of one container object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologyNode {
    /// Managed object type (`Folder`, `Datacenter`, `ClusterComputeResource`, `ComputeResource`,
    /// `ResourcePool`, ...).
    pub kind: String,
    /// Display name.
    pub name: String,
    /// moId of the parent, if any.
    pub parent: Option<String>,
    /// Cluster HA flag (clusters only).
    pub ha_enabled: Option<bool>,
    /// Cluster DRS flag (clusters only).
    pub drs_enabled: Option<bool>,
}

/// A named reference to a topology object.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct NamedRef {
    /// moId.
    pub moid: String,
    /// Name at the time of projection.
    pub name: String,
}

/// A cluster with its HA/DRS flags.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ClusterRef {
    /// moId.
    pub moid: String,
    /// Name.
    pub name: String,
    /// vSphere HA enabled.
    pub ha_enabled: Option<bool>,
    /// DRS enabled.
    pub drs_enabled: Option<bool>,
}

/// Where a resource sits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Placement {
    /// The datacenter.
    pub datacenter: Option<NamedRef>,
    /// The cluster (hosts in a cluster and VMs on them); `None` for standalone hosts.
    pub cluster: Option<ClusterRef>,
    /// Folder names from the datacenter's root folder down (the hidden `vm`/`host`/`datastore`
    /// folders are left out, as the vSphere Client does).
    pub folder_path: Vec<String>,
    /// Resource pool names below the hidden root pool `Resources` (VMs only).
    pub resource_pool_path: Vec<String>,
    /// The datastore cluster (`StoragePod`) a datastore is in (datastores only).
    pub datastore_cluster: Option<NamedRef>,
}

/// Looks topology nodes up by moId.
pub trait TopologyIndex {
    /// The node of `moid`.
    fn node(&self, moid: &str) -> Option<&TopologyNode>;
}

impl TopologyIndex for HashMap<String, TopologyNode> {
    fn node(&self, moid: &str) -> Option<&TopologyNode> {
        self.get(moid)
    }
}

/// Datacenter and folder path for an object whose parent folder is `parent`.
fn folders_and_datacenter(
    index: &impl TopologyIndex,
    parent: &str,
) -> (Option<NamedRef>, Vec<String>) {
    let mut ids = Vec::new();
    let mut cur = Some(parent.to_string());
    let mut folders = Vec::new();
    while let Some(id) = cur {
        if ids.len() >= MAX_DEPTH || ids.contains(&id) {
            break;
        }
        let Some(node) = index.node(&id) else { break };
        ids.push(id.clone());
        match node.kind.as_str() {
            "Datacenter" => {
                folders.reverse();
                return (
                    Some(NamedRef {
                        moid: id,
                        name: node.name.clone(),
                    }),
                    folders,
                );
            }
            "Folder" => {
                // The datacenter's own vm/host/datastore/network folders are hidden roots.
                let parent_is_dc = node
                    .parent
                    .as_deref()
                    .and_then(|p| index.node(p))
                    .is_some_and(|p| p.kind == "Datacenter");
                if !parent_is_dc {
                    folders.push(node.name.clone());
                }
            }
            _ => {}
        }
        cur = node.parent.clone();
    }
    folders.reverse();
    (None, folders)
}

fn cluster_ref(moid: &str, node: &TopologyNode) -> Option<ClusterRef> {
    (node.kind == "ClusterComputeResource").then(|| ClusterRef {
        moid: moid.to_string(),
        name: node.name.clone(),
        ha_enabled: node.ha_enabled,
        drs_enabled: node.drs_enabled,
    })
}

/// Placement of an ESXi host whose parent is its cluster or standalone `ComputeResource`.
pub fn host_placement(index: &impl TopologyIndex, parent: Option<&str>) -> Placement {
    let Some(parent) = parent else {
        return Placement::default();
    };
    let Some(node) = index.node(parent) else {
        return Placement::default();
    };
    let cluster = cluster_ref(parent, node);
    let (datacenter, folder_path) = node
        .parent
        .as_deref()
        .map(|p| folders_and_datacenter(index, p))
        .unwrap_or_default();
    Placement {
        datacenter,
        cluster,
        folder_path,
        ..Placement::default()
    }
}

/// Placement of a VM: folder path from its parent folder, cluster from the host it runs on
/// (`host_parent` = that host's parent) and pool path from its resource pool.
pub fn vm_placement(
    index: &impl TopologyIndex,
    folder: Option<&str>,
    host_parent: Option<&str>,
    resource_pool: Option<&str>,
) -> Placement {
    let (mut datacenter, folder_path) = folder
        .map(|f| folders_and_datacenter(index, f))
        .unwrap_or_default();
    let host_side = host_placement(index, host_parent);
    if datacenter.is_none() {
        datacenter = host_side.datacenter;
    }
    let mut pools = Vec::new();
    let mut seen = Vec::new();
    let mut cur = resource_pool.map(str::to_string);
    while let Some(id) = cur {
        if seen.len() >= MAX_DEPTH || seen.contains(&id) {
            break;
        }
        let Some(node) = index.node(&id) else { break };
        seen.push(id);
        if node.kind != "ResourcePool" {
            break;
        }
        let parent_is_pool = node
            .parent
            .as_deref()
            .and_then(|p| index.node(p))
            .is_some_and(|p| p.kind == "ResourcePool");
        // The root pool of a cluster (parent = the compute resource) is the hidden `Resources`.
        if parent_is_pool {
            pools.push(node.name.clone());
        }
        cur = node.parent.clone();
    }
    pools.reverse();
    Placement {
        datacenter,
        cluster: host_side.cluster,
        folder_path,
        resource_pool_path: pools,
        datastore_cluster: None,
    }
}

/// Placement of a datastore from its parent: a folder, or the datastore cluster (`StoragePod`)
/// holding it, itself in a folder.
pub fn datastore_placement(index: &impl TopologyIndex, parent: Option<&str>) -> Placement {
    let pod = parent
        .and_then(|p| Some((p, index.node(p)?)))
        .filter(|(_, n)| n.kind == "StoragePod");
    let folder = match pod {
        Some((_, n)) => n.parent.as_deref(),
        None => parent,
    };
    let (datacenter, folder_path) = folder
        .map(|f| folders_and_datacenter(index, f))
        .unwrap_or_default();
    Placement {
        datacenter,
        folder_path,
        datastore_cluster: pod.map(|(moid, n)| NamedRef {
            moid: moid.to_string(),
            name: n.name.clone(),
        }),
        ..Placement::default()
    }
}

/// How many objects the chain from `start` upwards has (bounded, cycle-safe), for diagnostics.
pub fn depth(index: &impl TopologyIndex, start: &str) -> usize {
    let mut seen: Vec<&str> = Vec::new();
    let mut cur = Some(start);
    while let Some(id) = cur {
        if seen.len() >= MAX_DEPTH || seen.contains(&id) {
            break;
        }
        let Some(node) = index.node(id) else { break };
        seen.push(id);
        cur = node.parent.as_deref();
    }
    seen.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kind: &str, name: &str, parent: Option<&str>) -> TopologyNode {
        TopologyNode {
            kind: kind.into(),
            name: name.into(),
            parent: parent.map(Into::into),
            ha_enabled: None,
            drs_enabled: None,
        }
    }

    /// root > Regions > DC-02 > {vm > Production > web, host > Site-1 > Cluster-A, datastore}
    fn index() -> HashMap<String, TopologyNode> {
        let mut m = HashMap::new();
        m.insert("group-d1".into(), node("Folder", "Datacenters", None));
        m.insert(
            "group-d2".into(),
            node("Folder", "Regions", Some("group-d1")),
        );
        m.insert(
            "datacenter-3".into(),
            node("Datacenter", "DC-02", Some("group-d2")),
        );
        m.insert(
            "group-v4".into(),
            node("Folder", "vm", Some("datacenter-3")),
        );
        m.insert(
            "group-v5".into(),
            node("Folder", "Production", Some("group-v4")),
        );
        m.insert("group-v6".into(), node("Folder", "web", Some("group-v5")));
        m.insert(
            "group-h7".into(),
            node("Folder", "host", Some("datacenter-3")),
        );
        m.insert(
            "group-h8".into(),
            node("Folder", "Site-1", Some("group-h7")),
        );
        let mut cluster = node("ClusterComputeResource", "Cluster-A", Some("group-h8"));
        cluster.ha_enabled = Some(true);
        cluster.drs_enabled = Some(false);
        m.insert("domain-c9".into(), cluster);
        m.insert(
            "resgroup-10".into(),
            node("ResourcePool", "Resources", Some("domain-c9")),
        );
        m.insert(
            "resgroup-11".into(),
            node("ResourcePool", "Production", Some("resgroup-10")),
        );
        m.insert(
            "resgroup-12".into(),
            node("ResourcePool", "Tier-1", Some("resgroup-11")),
        );
        m.insert(
            "domain-s13".into(),
            node("ComputeResource", "esx-s1", Some("group-h7")),
        );
        m.insert(
            "group-s14".into(),
            node("Folder", "datastore", Some("datacenter-3")),
        );
        m.insert(
            "group-s15".into(),
            node("Folder", "Gold", Some("group-s14")),
        );
        m
    }

    #[test]
    fn host_in_cluster_in_site_folder() {
        let p = host_placement(&index(), Some("domain-c9"));
        assert_eq!(p.datacenter.map(|d| d.name), Some("DC-02".into()));
        let c = p.cluster.expect("cluster");
        assert_eq!(
            (c.name.as_str(), c.ha_enabled, c.drs_enabled),
            ("Cluster-A", Some(true), Some(false))
        );
        assert_eq!(p.folder_path, vec!["Site-1".to_string()]);
    }

    #[test]
    fn standalone_host_has_no_cluster() {
        let p = host_placement(&index(), Some("domain-s13"));
        assert!(p.cluster.is_none());
        assert_eq!(p.datacenter.map(|d| d.moid), Some("datacenter-3".into()));
        assert!(p.folder_path.is_empty());
    }

    #[test]
    fn vm_nested_folders_and_pools() {
        let p = vm_placement(
            &index(),
            Some("group-v6"),
            Some("domain-c9"),
            Some("resgroup-12"),
        );
        assert_eq!(
            p.folder_path,
            vec!["Production".to_string(), "web".to_string()]
        );
        assert_eq!(
            p.resource_pool_path,
            vec!["Production".to_string(), "Tier-1".to_string()]
        );
        assert_eq!(p.cluster.map(|c| c.moid), Some("domain-c9".into()));
        assert_eq!(p.datacenter.map(|d| d.name), Some("DC-02".into()));
        // A VM in the root pool and root folder has empty paths.
        let root = vm_placement(
            &index(),
            Some("group-v4"),
            Some("domain-c9"),
            Some("resgroup-10"),
        );
        assert!(root.folder_path.is_empty() && root.resource_pool_path.is_empty());
    }

    #[test]
    fn datastore_folder() {
        let p = datastore_placement(&index(), Some("group-s15"));
        assert_eq!(p.folder_path, vec!["Gold".to_string()]);
        assert_eq!(p.datacenter.map(|d| d.name), Some("DC-02".into()));
    }

    #[test]
    fn unknown_parents_and_cycles_do_not_hang() {
        let mut m = index();
        m.insert("group-x1".into(), node("Folder", "a", Some("group-x2")));
        m.insert("group-x2".into(), node("Folder", "b", Some("group-x1")));
        let p = vm_placement(&m, Some("group-x1"), None, Some("resgroup-missing"));
        assert!(p.datacenter.is_none());
        assert_eq!(p.folder_path.len(), 2);
        assert!(depth(&m, "group-x1") <= MAX_DEPTH);
        assert_eq!(host_placement(&m, Some("nope")), Placement::default());
    }
}
