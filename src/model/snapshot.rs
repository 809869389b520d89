//! The inventory snapshot of one vCenter connection: immutable once built, shared by `Arc` and
//! swapped atomically by the collector, so a query sees either the old or the new inventory,
//! never a half-applied one. Indexes answer the lookups GraphQL needs without scanning.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::ids::ResourceId;
use super::project::{ObjectIssue, Projection};
use super::ranks::RankCache;
use super::resources::{ActiveAlert, Agent, QuickStats, Storage, Vm};
use super::status::ResourceStatus;

/// Where a resource lives in the snapshot's vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// `agents[i]`.
    Agent(usize),
    /// `vms[i]`.
    Vm(usize),
    /// `storage[i]`.
    Storage(usize),
}

/// One vCenter's canonical inventory at one moment.
#[derive(Debug, Default)]
pub struct InventorySnapshot {
    /// The vCenter's instanceUuid.
    pub instance_uuid: String,
    /// When the data was read.
    pub taken_at: DateTime<Utc>,
    /// ESXi hosts, ordered by (name, id). Resources are shared with the snapshot before and
    /// after this one when they did not change.
    pub agents: Vec<Arc<Agent>>,
    /// Each host's quick statistics, position for position with `agents`.
    pub agent_stats: Vec<QuickStats>,
    /// VMs, ordered by (name, id).
    pub vms: Vec<Arc<Vm>>,
    /// Each VM's quick statistics, position for position with `vms`: apart from the records,
    /// which two snapshots share while the VM does not change.
    pub vm_stats: Vec<QuickStats>,
    /// Datastores, ordered by (name, id).
    pub storage: Vec<Arc<Storage>>,
    /// Properties vCenter would not return.
    pub issues: Vec<ObjectIssue>,
    /// Active alarms on clusters, datacenters and folders, by alert id, each with the hosts
    /// and VMs under it (those that carry it in their `context_alerts`).
    pub topology_alerts: Vec<TopologyAlert>,
    /// Orders other than by name, built when a query first asks for one.
    pub ranks: RankCache,
    by_id: HashMap<ResourceId, Slot>,
    vms_by_host: HashMap<ResourceId, Vec<usize>>,
    vms_by_datastore: HashMap<ResourceId, Vec<usize>>,
    hosts_by_datastore: HashMap<ResourceId, Vec<usize>>,
    vms_by_cluster: HashMap<String, Vec<usize>>,
    hosts_by_cluster: HashMap<String, Vec<usize>>,
    vms_by_status: HashMap<ResourceStatus, Vec<usize>>,
}

/// An active alarm on a cluster, datacenter or folder: not a resource, but context on the
/// resources under it, which it lists.
#[derive(Clone, Debug, PartialEq)]
pub struct TopologyAlert {
    pub alert: ActiveAlert,
    /// Positions in `agents` of the hosts under it.
    pub agents: Vec<usize>,
    /// Positions in `vms` of the VMs under it.
    pub vms: Vec<usize>,
}

/// `items` and their `side` values, both in [`sort_order`] of the items' names and ids.
fn sorted<T, S: Copy>(
    items: Vec<Arc<T>>,
    side: Vec<S>,
    key: impl Fn(&T) -> (&str, &ResourceId),
) -> (Vec<Arc<T>>, Vec<S>) {
    let mut both: Vec<(Arc<T>, S)> = items.into_iter().zip(side).collect();
    both.sort_by(|a, b| sort_order(key(&a.0), key(&b.0)));
    both.into_iter().unzip()
}

fn positions<T>(items: &[Arc<T>], f: impl Fn(&T) -> bool) -> Vec<usize> {
    (0..items.len()).filter(|i| f(&items[*i])).collect()
}

/// The sort key every list uses: case-insensitive name, then id, so order is total and stable.
pub fn sort_key(name: &str, id: &ResourceId) -> (String, String) {
    (name.to_lowercase(), id.as_str().to_string())
}

/// The order of [`sort_key`] without building the keys: a publish sorts every list again, and
/// a key of two new strings per VM made a large part of its transient memory at the
/// maximums. ASCII names (nearly all) compare in place; others as `sort_key` does.
pub fn sort_order(a: (&str, &ResourceId), b: (&str, &ResourceId)) -> std::cmp::Ordering {
    let names = if a.0.is_ascii() && b.0.is_ascii() {
        a.0.bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.0.bytes().map(|c| c.to_ascii_lowercase()))
    } else {
        a.0.to_lowercase().cmp(&b.0.to_lowercase())
    };
    names.then_with(|| a.1.as_str().cmp(b.1.as_str()))
}

impl InventorySnapshot {
    /// Builds the snapshot and its indexes from a projection.
    pub fn build(instance_uuid: &str, taken_at: DateTime<Utc>, mut p: Projection) -> Self {
        (p.agents, p.agent_stats) = sorted(p.agents, p.agent_stats, |a| (&a.name, &a.id));
        (p.vms, p.vm_stats) = sorted(p.vms, p.vm_stats, |v| (&v.name, &v.id));
        p.storage
            .sort_by(|a, b| sort_order((a.name.as_str(), &a.id), (b.name.as_str(), &b.id)));
        let mut s = InventorySnapshot {
            instance_uuid: instance_uuid.to_string(),
            taken_at,
            ..InventorySnapshot::default()
        };
        for (i, a) in p.agents.iter().enumerate() {
            s.by_id.insert(a.id.clone(), Slot::Agent(i));
            if let Some(c) = &a.placement.cluster {
                s.hosts_by_cluster
                    .entry(c.moid.clone())
                    .or_default()
                    .push(i);
            }
        }
        for (i, v) in p.vms.iter().enumerate() {
            s.by_id.insert(v.id.clone(), Slot::Vm(i));
            if let Some(h) = &v.host_id {
                s.vms_by_host.entry(h.clone()).or_default().push(i);
            }
            for u in &v.datastore_usage {
                s.vms_by_datastore
                    .entry(u.datastore_id.clone())
                    .or_default()
                    .push(i);
            }
            if let Some(c) = &v.placement.cluster {
                s.vms_by_cluster.entry(c.moid.clone()).or_default().push(i);
            }
            s.vms_by_status.entry(v.status).or_default().push(i);
        }
        for (i, d) in p.storage.iter().enumerate() {
            s.by_id.insert(d.id.clone(), Slot::Storage(i));
        }
        for d in &p.storage {
            let hosts: Vec<usize> = d
                .mounts
                .iter()
                .filter_map(|m| match s.by_id.get(&m.host_id) {
                    Some(Slot::Agent(i)) => Some(*i),
                    _ => None,
                })
                .collect();
            s.hosts_by_datastore.insert(d.id.clone(), hosts);
        }
        s.topology_alerts = p
            .topology_alerts
            .into_iter()
            .map(|alert| {
                let under = |context: &[ActiveAlert]| context.iter().any(|c| c.id == alert.id);
                TopologyAlert {
                    agents: positions(&p.agents, |a| under(&a.context_alerts)),
                    vms: positions(&p.vms, |v| under(&v.context_alerts)),
                    alert,
                }
            })
            .collect();
        s.agents = p.agents;
        s.agent_stats = p.agent_stats;
        s.vms = p.vms;
        s.vm_stats = p.vm_stats;
        s.storage = p.storage;
        s.issues = p.issues;
        s
    }

    /// Where the resource with `id` is, if it is in this snapshot.
    pub fn slot(&self, id: &ResourceId) -> Option<Slot> {
        self.by_id.get(id).copied()
    }

    /// The host with `id`.
    pub fn agent(&self, id: &ResourceId) -> Option<&Agent> {
        match self.slot(id)? {
            Slot::Agent(i) => self.agents.get(i).map(Arc::as_ref),
            _ => None,
        }
    }

    /// The VM with `id`.
    pub fn vm(&self, id: &ResourceId) -> Option<&Vm> {
        match self.slot(id)? {
            Slot::Vm(i) => self.vms.get(i).map(Arc::as_ref),
            _ => None,
        }
    }

    /// The datastore with `id`.
    pub fn storage_by_id(&self, id: &ResourceId) -> Option<&Storage> {
        match self.slot(id)? {
            Slot::Storage(i) => self.storage.get(i).map(Arc::as_ref),
            _ => None,
        }
    }

    /// The quick statistics of `agents[i]`.
    pub fn agent_quick_stats(&self, i: usize) -> QuickStats {
        self.agent_stats.get(i).copied().unwrap_or_default()
    }

    /// The quick statistics of `vms[i]`.
    pub fn vm_quick_stats(&self, i: usize) -> QuickStats {
        self.vm_stats.get(i).copied().unwrap_or_default()
    }

    /// Positions (in `vms`, ascending = sorted order) of the VMs on a host.
    pub fn vms_on_host(&self, host: &ResourceId) -> &[usize] {
        self.vms_by_host.get(host).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Positions of the VMs using a datastore.
    pub fn vms_on_datastore(&self, ds: &ResourceId) -> &[usize] {
        self.vms_by_datastore
            .get(ds)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Positions (in `agents`) of the hosts mounting a datastore.
    pub fn hosts_of_datastore(&self, ds: &ResourceId) -> &[usize] {
        self.hosts_by_datastore
            .get(ds)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Positions of the VMs in a cluster (by cluster moId).
    pub fn vms_in_cluster(&self, cluster_moid: &str) -> &[usize] {
        self.vms_by_cluster
            .get(cluster_moid)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Positions of the hosts in a cluster.
    pub fn hosts_in_cluster(&self, cluster_moid: &str) -> &[usize] {
        self.hosts_by_cluster
            .get(cluster_moid)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Positions of the VMs with a status.
    pub fn vms_with_status(&self, status: ResourceStatus) -> &[usize] {
        self.vms_by_status
            .get(&status)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Positions in `agents` of the hosts under the cluster, datacenter or folder `moid`: those
    /// its active alarm is context on, else (no alarm active there now) the hosts whose cluster
    /// or datacenter it is. Empty for any other object.
    pub fn hosts_under(&self, moid: &str) -> Vec<usize> {
        if let Some(t) = self
            .topology_alerts
            .iter()
            .find(|t| t.alert.source_moid == moid)
        {
            return t.agents.clone();
        }
        positions(&self.agents, |a| {
            let p = &a.placement;
            p.cluster.as_ref().is_some_and(|c| c.moid == moid)
                || p.datacenter.as_ref().is_some_and(|d| d.moid == moid)
        })
    }

    /// Age of the data.
    pub fn age(&self, now: DateTime<Utc>) -> chrono::Duration {
        now - self.taken_at
    }
}

#[cfg(test)]
mod order_tests {
    use super::*;

    #[test]
    fn sort_order_is_the_order_of_sort_key() {
        let names = [
            "web-01",
            "Web-01",
            "WEB-02",
            "db",
            "Db",
            "",
            "a b",
            "a-b",
            "a_b",
            "Zeta",
            "zeta",
            "Ärger",
            "ärger",
            "ΣΟΦΙΑ",
            "σοφια",
            "Ωmega",
            "omega",
            "10",
            "9",
            "~x",
        ];
        let items: Vec<(String, ResourceId)> = names
            .iter()
            .enumerate()
            .flat_map(|(i, n)| {
                [
                    (n.to_string(), ResourceId::new("uuid", &format!("vm-{i}"))),
                    (
                        n.to_string(),
                        ResourceId::new("uuid", &format!("vm-{}", i + 100)),
                    ),
                ]
            })
            .collect();
        for a in &items {
            for b in &items {
                assert_eq!(
                    sort_order((a.0.as_str(), &a.1), (b.0.as_str(), &b.1)),
                    sort_key(&a.0, &a.1).cmp(&sort_key(&b.0, &b.1)),
                    "{a:?} {b:?}"
                );
            }
        }
    }
}
