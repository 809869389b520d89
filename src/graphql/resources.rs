//! The three entities (`Agent`, `Vm`, `Storage`) as thin views over a snapshot: canonical,
//! `@shareable` fields first, then relationships, then the owned `vsphere` facet.

use async_graphql::{Context, Object, Result, ID};
use chrono::{DateTime, Utc};

use super::activity;
use super::common::{self, Alert, Identity, Metrics, MetricsSource, Tag, Topology};
use super::enums::ResourceStatus;
use super::facets::{AgentFacet, StorageFacet, VmFacet};
use super::filters::VmFilter;
use super::lists::{page_of, AgentConnection, StorageConnection, Total, VmConnection};
use super::paging::{decode_cursor, page_size};
use super::select::{self, Hit};
use crate::inventory::Visible;
use crate::model::resources::{Agent, QuickStats, Storage, Vm};
use crate::model::snapshot::sort_key;
use crate::model::{ResourceId, PLATFORM_TYPE};

/// An ESXi host.
#[derive(Clone)]
pub struct AgentNode(pub Hit);
/// A virtual machine.
#[derive(Clone)]
pub struct VmNode(pub Hit);
/// A datastore.
#[derive(Clone)]
pub struct StorageNode(pub Hit);

impl AgentNode {
    fn a(&self) -> &Agent {
        &self.0.snap.agents[self.0.idx]
    }
}
impl VmNode {
    fn v(&self) -> &Vm {
        &self.0.snap.vms[self.0.idx]
    }
}
impl StorageNode {
    fn s(&self) -> &Storage {
        &self.0.snap.storage[self.0.idx]
    }
}

/// The canonical metrics of a host or VM: the collector's latest realtime sample, quick
/// statistics where there is none, and nothing for a resource that is not running (a powered-off
/// VM's quick statistics are leftovers, and a sample from before it stopped is stale).
fn live_metrics(hit: &Hit, moid: &str, running: bool, q: &QuickStats) -> Metrics {
    if !running {
        return Metrics::default();
    }
    let memory_used_bytes = common::bytes(q.memory_used_bytes);
    if let Some(m) = hit.conn.activity().metrics.get(moid) {
        return Metrics {
            cpu_percent: m.cpu_percent,
            memory_percent: m.memory_percent,
            memory_used_bytes,
            disk_bytes_per_second: m.disk_bytes_per_second,
            network_bytes_per_second: m.network_bytes_per_second,
            uptime_seconds: m.uptime_seconds.map(|s| s as f64),
            source: Some(MetricsSource::Realtime),
            sampled_at: m.at,
            ..Metrics::default()
        };
    }
    Metrics {
        cpu_percent: q.cpu_percent,
        memory_percent: q.memory_percent,
        memory_used_bytes,
        uptime_seconds: q.uptime_seconds.map(|s| s as f64),
        source: Some(MetricsSource::QuickStats),
        sampled_at: Some(hit.snap.taken_at),
        ..Metrics::default()
    }
}

fn visible_of(hit: &Hit) -> Vec<Visible> {
    vec![Visible {
        connection: hit.conn.clone(),
        snapshot: hit.snap.clone(),
    }]
}

fn cursor(after: &Option<String>) -> Result<Option<(String, String)>> {
    after.as_deref().map(decode_cursor).transpose()
}

fn vm_list(
    hit: &Hit,
    filter: VmFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<VmConnection> {
    let n = page_size(first)?;
    let key = cursor(&after)?;
    let vis = visible_of(hit);
    let page = select::vms(&vis, &filter, key.as_ref(), n);
    let total = select::count_vms(&vis, &filter);
    Ok(VmConnection {
        page,
        had_cursor: key.is_some(),
        total: Total::Known(total),
    })
}

fn storage_hits(hit: &Hit, ids: &[ResourceId]) -> Vec<((String, String), Hit)> {
    ids.iter()
        .filter_map(|id| match hit.snap.slot(id) {
            Some(crate::model::snapshot::Slot::Storage(i)) => {
                let s = &hit.snap.storage[i];
                Some((
                    sort_key(&s.name, &s.id),
                    Hit {
                        idx: i,
                        ..hit.clone()
                    },
                ))
            }
            _ => None,
        })
        .collect()
}

/// An ESXi host managed by vCenter, as a canonical Pulse agent.
#[Object(name = "Agent")]
impl AgentNode {
    /// Stable Pulse resource id (derived from the vCenter instance UUID and the host's moId).
    async fn id(&self) -> ID {
        ID(self.a().id.to_string())
    }
    /// Host name as vCenter shows it.
    #[graphql(shareable)]
    async fn name(&self) -> &str {
        &self.a().name
    }
    /// Canonical Pulse platform id: always `vmware-vsphere` here.
    #[graphql(shareable)]
    async fn platform_type(&self) -> &str {
        PLATFORM_TYPE
    }
    /// Canonical status: connected and powered on is ONLINE, disconnected or not responding is
    /// OFFLINE, maintenance mode or an active red/yellow alarm is WARNING.
    #[graphql(shareable)]
    async fn status(&self) -> ResourceStatus {
        self.a().status.into()
    }
    /// When this service last read the host from vCenter.
    #[graphql(shareable)]
    async fn last_seen(&self) -> DateTime<Utc> {
        self.0.snap.taken_at
    }
    /// Identity for cross-platform merge (hardware UUID, host name, VMkernel addresses and MACs).
    #[graphql(shareable)]
    async fn identity(&self) -> Identity {
        let a = self.a();
        Identity {
            hardware_uuid: a.identity.hardware_uuid.clone(),
            hostnames: a.identity.hostname.iter().cloned().collect(),
            ips: a.identity.ips.clone(),
            macs: a.identity.macs.clone(),
            ..Identity::default()
        }
    }
    /// Current CPU, memory, disk, network and uptime: realtime performance where sampled,
    /// quick statistics otherwise; all null while the host is not connected and powered on.
    #[graphql(shareable)]
    async fn metrics(&self) -> Metrics {
        let a = self.a();
        let running = a.connection_state.as_deref() == Some("connected")
            && a.power_state.as_deref() == Some("poweredOn");
        live_metrics(&self.0, &a.moid, running, &a.quick_stats)
    }
    /// vSphere tags attached to the host.
    async fn tags(&self) -> Vec<Tag> {
        self.a().tags.iter().map(Tag::from).collect()
    }
    /// Active red or yellow alarms on the host itself.
    async fn alerts(&self) -> Vec<Alert> {
        common::alerts(&self.a().alerts)
    }
    /// Virtual machines running on this host.
    async fn vms(&self, first: Option<i32>, after: Option<String>) -> Result<VmConnection> {
        let filter = VmFilter {
            host: Some(vec![ID(self.a().id.to_string())]),
            ..VmFilter::default()
        };
        vm_list(&self.0, filter, first, after)
    }
    /// Datastores mounted on this host.
    async fn datastores(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<StorageConnection> {
        let n = page_size(first)?;
        let key = cursor(&after)?;
        let (page, total) = page_of(
            storage_hits(&self.0, &self.a().datastore_ids),
            key.as_ref(),
            n,
        );
        Ok(StorageConnection {
            page,
            had_cursor: key.is_some(),
            total,
        })
    }
    /// What happened to this host over time: events, recent tasks, alarm history.
    async fn activity(&self) -> activity::ActivityView {
        activity::ActivityView::new(&self.0, "HostSystem", &self.a().moid, self.a().id.as_str())
    }
    /// Performance from vCenter's performance manager: the latest realtime sample and series.
    async fn performance(&self) -> activity::PerformanceView {
        activity::PerformanceView::new(&self.0, "HostSystem", &self.a().moid)
    }
    /// vSphere detail: topology, connection and power state, hardware, overall status. Null only
    /// when the gateway asks about a host this subgraph does not know.
    async fn vsphere(&self) -> Option<AgentFacet> {
        Some(AgentFacet(self.0.clone()))
    }
}

/// A virtual machine managed by vCenter, as a canonical Pulse vm.
#[Object(name = "Vm")]
impl VmNode {
    /// Stable Pulse resource id (derived from the vCenter instance UUID and the VM's moId).
    async fn id(&self) -> ID {
        ID(self.v().id.to_string())
    }
    /// VM name as vCenter shows it.
    #[graphql(shareable)]
    async fn name(&self) -> &str {
        &self.v().name
    }
    /// Canonical Pulse platform id: always `vmware-vsphere` here.
    #[graphql(shareable)]
    async fn platform_type(&self) -> &str {
        PLATFORM_TYPE
    }
    /// Canonical status: powered on is ONLINE, powered off or suspended is OFFLINE, an active
    /// red/yellow alarm on a running VM is WARNING, a VM whose host is not responding is UNKNOWN.
    #[graphql(shareable)]
    async fn status(&self) -> ResourceStatus {
        self.v().status.into()
    }
    /// When this service last read the VM from vCenter.
    #[graphql(shareable)]
    async fn last_seen(&self) -> DateTime<Utc> {
        self.0.snap.taken_at
    }
    /// Identity for cross-platform merge: instance and BIOS UUIDs (both byte orders), guest
    /// hostname and IPs when VMware Tools reports them, MAC addresses.
    #[graphql(shareable)]
    async fn identity(&self) -> Identity {
        let i = &self.v().identity;
        Identity {
            hardware_uuid: None,
            instance_uuid: i.instance_uuid.clone(),
            bios_uuid: i.bios_uuid.clone(),
            bios_uuid_smbios: i.bios_uuid_smbios.clone(),
            hostnames: i.hostname.iter().cloned().collect(),
            ips: i.ips.clone(),
            macs: i.macs.clone(),
        }
    }
    /// Current CPU, memory, disk, network and uptime: realtime performance where sampled,
    /// quick statistics otherwise; all null while the VM is not powered on.
    #[graphql(shareable)]
    async fn metrics(&self) -> Metrics {
        let v = self.v();
        let running = v.power_state.as_deref() == Some("poweredOn");
        live_metrics(&self.0, &v.moid, running, &v.quick_stats)
    }
    /// vSphere tags attached to the VM.
    async fn tags(&self) -> Vec<Tag> {
        self.v().tags.iter().map(Tag::from).collect()
    }
    /// Active red or yellow alarms on the VM itself.
    async fn alerts(&self) -> Vec<Alert> {
        common::alerts(&self.v().alerts)
    }
    /// The ESXi host the VM runs on.
    async fn host(&self) -> Option<AgentNode> {
        let id = self.v().host_id.as_ref()?;
        match self.0.snap.slot(id)? {
            crate::model::snapshot::Slot::Agent(i) => Some(AgentNode(Hit {
                idx: i,
                ..self.0.clone()
            })),
            _ => None,
        }
    }
    /// Datastores holding the VM's files.
    async fn datastores(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<StorageConnection> {
        let n = page_size(first)?;
        let key = cursor(&after)?;
        let ids: Vec<ResourceId> = self
            .v()
            .datastore_usage
            .iter()
            .map(|u| u.datastore_id.clone())
            .collect();
        let (page, total) = page_of(storage_hits(&self.0, &ids), key.as_ref(), n);
        Ok(StorageConnection {
            page,
            had_cursor: key.is_some(),
            total,
        })
    }
    /// What happened to this VM over time: events, recent tasks, alarm history.
    async fn activity(&self) -> activity::ActivityView {
        activity::ActivityView::new(
            &self.0,
            "VirtualMachine",
            &self.v().moid,
            self.v().id.as_str(),
        )
    }
    /// Performance from vCenter's performance manager: the latest realtime sample and series.
    async fn performance(&self) -> activity::PerformanceView {
        activity::PerformanceView::new(&self.0, "VirtualMachine", &self.v().moid)
    }
    /// vSphere detail: topology, power, guest, Tools, snapshots, datastore usage. Null only
    /// when the gateway asks about a VM this subgraph does not know.
    async fn vsphere(&self) -> Option<VmFacet> {
        Some(VmFacet(self.0.clone()))
    }
}

/// A vSphere datastore, as a canonical Pulse storage resource.
#[Object(name = "Storage")]
impl StorageNode {
    /// Stable Pulse resource id (derived from the vCenter instance UUID and the datastore's moId).
    async fn id(&self) -> ID {
        ID(self.s().id.to_string())
    }
    /// Datastore name as vCenter shows it.
    #[graphql(shareable)]
    async fn name(&self) -> &str {
        &self.s().name
    }
    /// Canonical Pulse platform id: always `vmware-vsphere` here.
    #[graphql(shareable)]
    async fn platform_type(&self) -> &str {
        PLATFORM_TYPE
    }
    /// Canonical status: accessible is ONLINE, inaccessible is OFFLINE, maintenance mode or an
    /// active red/yellow alarm is WARNING.
    #[graphql(shareable)]
    async fn status(&self) -> ResourceStatus {
        self.s().status.into()
    }
    /// When this service last read the datastore from vCenter.
    #[graphql(shareable)]
    async fn last_seen(&self) -> DateTime<Utc> {
        self.0.snap.taken_at
    }
    /// Identity (datastores carry none of the machine identifiers).
    #[graphql(shareable)]
    async fn identity(&self) -> Identity {
        Identity::default()
    }
    /// Capacity, used bytes and used percent.
    #[graphql(shareable)]
    async fn metrics(&self) -> Metrics {
        let s = self.s();
        Metrics {
            storage_capacity_bytes: common::bytes(s.capacity_bytes),
            storage_used_bytes: common::bytes(
                s.capacity_bytes.zip(s.free_bytes).map(|(c, f)| c - f),
            ),
            storage_used_percent: s.used_percent(),
            sampled_at: Some(self.0.snap.taken_at),
            ..Metrics::default()
        }
    }
    /// vSphere tags attached to the datastore.
    async fn tags(&self) -> Vec<Tag> {
        self.s().tags.iter().map(Tag::from).collect()
    }
    /// Active red or yellow alarms on the datastore.
    async fn alerts(&self) -> Vec<Alert> {
        common::alerts(&self.s().alerts)
    }
    /// ESXi hosts that mount this datastore.
    async fn hosts(&self, first: Option<i32>, after: Option<String>) -> Result<AgentConnection> {
        let n = page_size(first)?;
        let key = cursor(&after)?;
        let snap = &self.0.snap;
        let all = snap
            .hosts_of_datastore(&self.s().id)
            .iter()
            .map(|&i| {
                (
                    sort_key(&snap.agents[i].name, &snap.agents[i].id),
                    Hit {
                        idx: i,
                        ..self.0.clone()
                    },
                )
            })
            .collect();
        let (page, total) = page_of(all, key.as_ref(), n);
        Ok(AgentConnection {
            page,
            had_cursor: key.is_some(),
            total,
        })
    }
    /// Virtual machines with files on this datastore.
    async fn vms(&self, first: Option<i32>, after: Option<String>) -> Result<VmConnection> {
        let filter = VmFilter {
            datastore: Some(vec![ID(self.s().id.to_string())]),
            ..VmFilter::default()
        };
        vm_list(&self.0, filter, first, after)
    }
    /// What happened to this datastore over time: events, recent tasks, alarm history.
    async fn activity(&self) -> activity::ActivityView {
        activity::ActivityView::new(&self.0, "Datastore", &self.s().moid, self.s().id.as_str())
    }
    /// vSphere detail: type, capacity, free space, accessibility, maintenance, host mounts. Null
    /// only when the gateway asks about a datastore this subgraph does not know.
    async fn vsphere(&self) -> Option<StorageFacet> {
        Some(StorageFacet(self.0.clone()))
    }
}

/// Topology of a hit.
pub fn topology_of(hit: &Hit, p: &crate::model::topology::Placement) -> Topology {
    Topology::new(p, &hit.snap.instance_uuid, &hit.conn.name())
}

/// Resolves an id to a node of any kind (`null` for foreign or unknown ids).
pub fn resolve(ctx: &Context<'_>, id: &str) -> Option<super::query::Resource> {
    let store = ctx.data_opt::<std::sync::Arc<crate::connections::Registry>>()?;
    let rid = ResourceId::parse(id).ok()?;
    let (vis, slot) = select::find(&store.visible(), &rid)?;
    let hit = |idx| Hit {
        conn: vis.connection.clone(),
        snap: vis.snapshot.clone(),
        idx,
    };
    Some(match slot {
        crate::model::snapshot::Slot::Agent(i) => super::query::Resource::Agent(AgentNode(hit(i))),
        crate::model::snapshot::Slot::Vm(i) => super::query::Resource::Vm(VmNode(hit(i))),
        crate::model::snapshot::Slot::Storage(i) => {
            super::query::Resource::Storage(StorageNode(hit(i)))
        }
    })
}
