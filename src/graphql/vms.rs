//! The VMs domain: `vsphereVms`, the `Vm` entity with its federation lookup, and its owned
//! `vsphere` facet (placement, guest, snapshots, datastore usage).

use std::sync::Arc;

use async_graphql::{Context, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::activity;
use super::common::{
    self, live_metrics, small, topology_of, Alert, Identity, Metrics, Tag, Topology,
};
use super::enums::ResourceStatus;
use super::filters::VmFilter;
use super::lists::{cursor, page_of, storage_hits, StorageConnection, Total, VmConnection};
use super::lookup::entity;
use super::nodes::{AgentNode, StorageNode, VmNode};
use super::paging::{decode_cursor, page_size};
use super::select::{self, registry, Hit};
use crate::model::resources::{SnapshotNode, Vm};
use crate::model::snapshot::Slot;
use crate::model::{ResourceId, PLATFORM_TYPE};

/// Root fields of the VMs domain.
#[derive(Default)]
pub struct VmsQuery;

#[Object]
impl VmsQuery {
    /// Virtual machines (canonical `vm` resources) of every connected vCenter, as a Relay
    /// connection in stable order (name, then id).
    async fn vsphere_vms(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 500 (default 50).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Filters, AND-ed.")] filter: Option<VmFilter>,
    ) -> Result<VmConnection> {
        let n = page_size(first)?;
        let key = after.as_deref().map(decode_cursor).transpose()?;
        let visible = registry(ctx)?.visible();
        let filter = filter.unwrap_or_default();
        let page = select::vms(&visible, &filter, key.as_ref(), n);
        let total = Total::Lazy(Arc::new(move || select::count_vms(&visible, &filter)));
        Ok(VmConnection {
            page,
            had_cursor: key.is_some(),
            total,
        })
    }

    #[graphql(entity)]
    async fn find_vm_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<VmNode>> {
        Ok(match entity(ctx, &id).await? {
            Some((Slot::Vm(_), hit)) => Some(VmNode(hit)),
            _ => None,
        })
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
            Slot::Agent(i) => Some(AgentNode(Hit {
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

/// vSphere detail of a VM.
pub struct VmFacet(pub Hit);

/// A filesystem inside the guest, as VMware Tools reports it.
#[derive(SimpleObject)]
#[graphql(name = "VsphereGuestFilesystem")]
pub struct GuestFilesystem {
    /// Mount point or drive.
    pub path: String,
    /// Capacity in bytes.
    pub capacity_bytes: Option<f64>,
    /// Free bytes.
    pub free_bytes: Option<f64>,
    /// Filesystem type.
    pub filesystem: Option<String>,
}

/// The guest operating system as VMware Tools reports it.
#[derive(SimpleObject)]
#[graphql(name = "VsphereGuest")]
pub struct Guest {
    /// OS family (linuxGuest, windowsGuest, ...).
    pub os_family: Option<String>,
    /// Full OS name.
    pub os_name: Option<String>,
    /// Guest id (configured or reported).
    pub guest_id: Option<String>,
    /// Guest hostname.
    pub hostname: Option<String>,
    /// Primary IP address.
    pub ip_address: Option<String>,
    /// `toolsStatus` (toolsOk, toolsOld, toolsNotRunning, toolsNotInstalled).
    pub tools_status: Option<String>,
    /// `toolsRunningStatus` (guestToolsRunning, guestToolsNotRunning, ...).
    pub tools_running_status: Option<String>,
    /// Tools version.
    pub tools_version: Option<String>,
    /// Whether Tools is running, i.e. whether the guest identity above is current.
    pub tools_running: bool,
    /// Filesystems.
    pub filesystems: Vec<GuestFilesystem>,
}

/// One snapshot in a VM's snapshot tree. Snapshots are read-side detail, not backups.
#[derive(SimpleObject)]
#[graphql(name = "VsphereSnapshot")]
pub struct Snapshot {
    /// Snapshot moId.
    pub moid: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// When it was taken.
    pub created: Option<DateTime<Utc>>,
    /// Age in days at the time of the query.
    pub age_days: Option<f64>,
    /// Power state captured (poweredOn, poweredOff, suspended).
    pub state: Option<String>,
    /// Whether the guest was quiesced.
    pub quiesced: bool,
    /// Whether this is the VM's current snapshot.
    pub current: bool,
    /// Child snapshots.
    pub children: Vec<Snapshot>,
}

fn snapshot(n: &SnapshotNode, now: DateTime<Utc>) -> Snapshot {
    Snapshot {
        moid: n.moid.clone(),
        name: n.name.clone(),
        description: n.description.clone(),
        created: n.created,
        age_days: n.created.map(|c| (now - c).num_seconds() as f64 / 86_400.0),
        state: n.state.clone(),
        quiesced: n.quiesced,
        current: n.current,
        children: n.children.iter().map(|c| snapshot(c, now)).collect(),
    }
}

/// A VM's use of one datastore.
pub struct DatastoreUsage {
    hit: Hit,
    committed: i64,
    uncommitted: i64,
    unshared: i64,
}

/// How much of one datastore a VM uses.
#[Object(name = "VsphereDatastoreUsage")]
impl DatastoreUsage {
    /// The datastore.
    async fn datastore(&self) -> StorageNode {
        StorageNode(self.hit.clone())
    }
    /// Bytes written on the datastore for this VM.
    async fn committed_bytes(&self) -> f64 {
        self.committed as f64
    }
    /// Provisioned but not yet written bytes (thin disks).
    async fn uncommitted_bytes(&self) -> f64 {
        self.uncommitted as f64
    }
    /// Bytes not shared with any other VM.
    async fn unshared_bytes(&self) -> f64 {
        self.unshared as f64
    }
}

impl VmFacet {
    fn v(&self) -> &Vm {
        &self.0.snap.vms[self.0.idx]
    }
}

/// vSphere detail of a virtual machine.
#[Object(name = "VsphereVmFacet")]
impl VmFacet {
    /// The VM's moId in vCenter.
    async fn moid(&self) -> &str {
        &self.v().moid
    }
    /// The saved connection this VM was read through.
    async fn connection_id(&self) -> &str {
        &self.0.conn.id
    }
    /// vCenter, datacenter, cluster, folder path, resource pool path.
    async fn topology(&self) -> Topology {
        topology_of(&self.0, &self.v().placement)
    }
    /// The host the VM is placed on.
    async fn placement_host(&self) -> Option<AgentNode> {
        let id = self.v().host_id.as_ref()?;
        match self.0.snap.slot(id)? {
            Slot::Agent(i) => Some(AgentNode(Hit {
                idx: i,
                ..self.0.clone()
            })),
            _ => None,
        }
    }
    /// `runtime.powerState`: poweredOn, poweredOff or suspended.
    async fn power_state(&self) -> Option<&str> {
        self.v().power_state.as_deref()
    }
    /// `runtime.connectionState`: connected, disconnected, orphaned, inaccessible, invalid.
    async fn connection_state(&self) -> Option<&str> {
        self.v().connection_state.as_deref()
    }
    /// vCenter's overall status: green, yellow, red or gray.
    async fn overall_status(&self) -> Option<&str> {
        self.v().overall_status.as_deref()
    }
    /// Whether the VM is a template.
    async fn template(&self) -> bool {
        self.v().template
    }
    /// When the VM was last powered on.
    async fn boot_time(&self) -> Option<DateTime<Utc>> {
        self.v().boot_time
    }
    /// Virtual CPUs.
    async fn num_cpu(&self) -> Option<i32> {
        small(self.v().num_cpu)
    }
    /// Configured memory in MiB.
    async fn memory_mib(&self) -> Option<i32> {
        small(self.v().memory_mib)
    }
    /// Guest OS, Tools state and filesystems.
    async fn guest(&self) -> Guest {
        let g = &self.v().guest;
        Guest {
            os_family: g.os_family.clone(),
            os_name: g.os_name.clone(),
            guest_id: g.guest_id.clone(),
            hostname: g.hostname.clone(),
            ip_address: g.ip_address.clone(),
            tools_status: g.tools_status.clone(),
            tools_running_status: g.tools_running_status.clone(),
            tools_version: g.tools_version.clone(),
            tools_running: g.tools_running(),
            filesystems: g
                .filesystems
                .iter()
                .map(|f| GuestFilesystem {
                    path: f.path.clone(),
                    capacity_bytes: common::bytes(f.capacity_bytes),
                    free_bytes: common::bytes(f.free_bytes),
                    filesystem: f.filesystem.clone(),
                })
                .collect(),
        }
    }
    /// Network names the VM is attached to.
    async fn networks(&self) -> &[String] {
        &self.v().networks
    }
    /// The snapshot tree (roots). Snapshots are read-side detail, never backups or recovery points.
    async fn snapshots(&self) -> Vec<Snapshot> {
        let now = Utc::now();
        self.v()
            .snapshots
            .iter()
            .map(|s| snapshot(s, now))
            .collect()
    }
    /// Number of snapshots.
    async fn snapshot_count(&self) -> i32 {
        i32::try_from(self.v().snapshot_count).unwrap_or(i32::MAX)
    }
    /// When the oldest snapshot was taken.
    async fn oldest_snapshot_at(&self) -> Option<DateTime<Utc>> {
        self.v().oldest_snapshot
    }
    /// Datastores the VM uses, with committed, uncommitted and unshared bytes.
    async fn datastore_usage(&self) -> Vec<DatastoreUsage> {
        self.v()
            .datastore_usage
            .iter()
            .filter_map(|u| match self.0.snap.slot(&u.datastore_id)? {
                Slot::Storage(i) => Some(DatastoreUsage {
                    hit: Hit {
                        idx: i,
                        ..self.0.clone()
                    },
                    committed: u.committed_bytes,
                    uncommitted: u.uncommitted_bytes,
                    unshared: u.unshared_bytes,
                }),
                _ => None,
            })
            .collect()
    }
    /// Active alarms on the VM's cluster or datacenter: context, not the VM's own state.
    async fn context_alerts(&self) -> Vec<Alert> {
        common::alerts(&self.v().context_alerts)
    }
}
