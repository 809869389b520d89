//! The owned `vsphere` facets: vSphere detail under each canonical resource.

use async_graphql::{Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::common::{self, Alert, Topology};
use super::resources::{topology_of, AgentNode, StorageNode};
use super::select::Hit;
use crate::model::resources::{SnapshotNode, Storage, Vm};
use crate::model::snapshot::Slot;

/// vSphere detail of an ESXi host.
pub struct AgentFacet(pub Hit);
/// vSphere detail of a VM.
pub struct VmFacet(pub Hit);
/// vSphere detail of a datastore.
pub struct StorageFacet(pub Hit);

/// ESXi host hardware and product.
#[derive(SimpleObject)]
#[graphql(name = "VsphereHostHardware")]
pub struct HostHardware {
    /// Server vendor.
    pub vendor: Option<String>,
    /// Server model.
    pub model: Option<String>,
    /// CPU model.
    pub cpu_model: Option<String>,
    /// CPU MHz per core.
    pub cpu_mhz: Option<f64>,
    /// Physical CPU cores.
    pub cpu_cores: Option<i32>,
    /// Hardware threads.
    pub cpu_threads: Option<i32>,
    /// Memory in bytes.
    pub memory_bytes: Option<f64>,
    /// ESXi version.
    pub esxi_version: Option<String>,
    /// ESXi build.
    pub esxi_build: Option<String>,
}

fn small(v: Option<i64>) -> Option<i32> {
    v.and_then(|x| i32::try_from(x).ok())
}

/// vSphere detail of an ESXi host.
#[Object(name = "VsphereHostFacet")]
impl AgentFacet {
    /// The host's moId in vCenter.
    async fn moid(&self) -> &str {
        &self.0.snap.agents[self.0.idx].moid
    }
    /// The saved connection this host was read through.
    async fn connection_id(&self) -> &str {
        &self.0.conn.id
    }
    /// vCenter, datacenter, cluster (with HA/DRS) and folder path.
    async fn topology(&self) -> Topology {
        topology_of(&self.0, &self.0.snap.agents[self.0.idx].placement)
    }
    /// `runtime.connectionState`: connected, disconnected or notResponding.
    async fn connection_state(&self) -> Option<&str> {
        self.0.snap.agents[self.0.idx].connection_state.as_deref()
    }
    /// `runtime.powerState`: poweredOn, poweredOff, standBy or unknown.
    async fn power_state(&self) -> Option<&str> {
        self.0.snap.agents[self.0.idx].power_state.as_deref()
    }
    /// Whether the host is in maintenance mode.
    async fn in_maintenance_mode(&self) -> bool {
        self.0.snap.agents[self.0.idx].in_maintenance
    }
    /// vCenter's overall status: green, yellow, red or gray.
    async fn overall_status(&self) -> Option<&str> {
        self.0.snap.agents[self.0.idx].overall_status.as_deref()
    }
    /// When the host booted.
    async fn boot_time(&self) -> Option<DateTime<Utc>> {
        self.0.snap.agents[self.0.idx].boot_time
    }
    /// Hardware and ESXi product.
    async fn hardware(&self) -> HostHardware {
        let h = &self.0.snap.agents[self.0.idx].hardware;
        HostHardware {
            vendor: h.vendor.clone(),
            model: h.model.clone(),
            cpu_model: h.cpu_model.clone(),
            cpu_mhz: h.cpu_mhz.map(|m| m as f64),
            cpu_cores: small(h.cpu_cores),
            cpu_threads: small(h.cpu_threads),
            memory_bytes: common::bytes(h.memory_bytes),
            esxi_version: h.esxi_version.clone(),
            esxi_build: h.esxi_build.clone(),
        }
    }
    /// Active alarms on the host's cluster, folders or datacenter: context, not the host's own
    /// state.
    async fn context_alerts(&self) -> Vec<Alert> {
        common::alerts(&self.0.snap.agents[self.0.idx].context_alerts)
    }
}

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
    /// Active alarms on the VM's cluster, folders or datacenter: context, not the VM's own state.
    async fn context_alerts(&self) -> Vec<Alert> {
        common::alerts(&self.v().context_alerts)
    }
}

/// A datastore mounted on a host.
pub struct HostMount {
    host: Hit,
    path: Option<String>,
    access_mode: Option<String>,
    mounted: Option<bool>,
    accessible: Option<bool>,
}

/// A datastore mount on an ESXi host.
#[Object(name = "VsphereHostMount")]
impl HostMount {
    /// The host.
    async fn host(&self) -> AgentNode {
        AgentNode(self.host.clone())
    }
    /// Mount path on the host.
    async fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }
    /// readWrite or readOnly.
    async fn access_mode(&self) -> Option<&str> {
        self.access_mode.as_deref()
    }
    /// Whether it is mounted.
    async fn mounted(&self) -> Option<bool> {
        self.mounted
    }
    /// Whether the host can reach it.
    async fn accessible(&self) -> Option<bool> {
        self.accessible
    }
}

impl StorageFacet {
    fn s(&self) -> &Storage {
        &self.0.snap.storage[self.0.idx]
    }
}

/// vSphere detail of a datastore.
#[Object(name = "VsphereDatastoreFacet")]
impl StorageFacet {
    /// The datastore's moId in vCenter.
    async fn moid(&self) -> &str {
        &self.s().moid
    }
    /// The saved connection this datastore was read through.
    async fn connection_id(&self) -> &str {
        &self.0.conn.id
    }
    /// vCenter, datacenter and folder path.
    async fn topology(&self) -> Topology {
        topology_of(&self.0, &self.s().placement)
    }
    /// Datastore type: VMFS, NFS, NFS41, vsan, VVOL, ...
    async fn r#type(&self) -> Option<&str> {
        self.s().ds_type.as_deref()
    }
    /// Capacity in bytes.
    async fn capacity_bytes(&self) -> Option<f64> {
        common::bytes(self.s().capacity_bytes)
    }
    /// Free bytes.
    async fn free_bytes(&self) -> Option<f64> {
        common::bytes(self.s().free_bytes)
    }
    /// Provisioned but unwritten bytes.
    async fn uncommitted_bytes(&self) -> Option<f64> {
        common::bytes(self.s().uncommitted_bytes)
    }
    /// Whether the datastore is accessible.
    async fn accessible(&self) -> Option<bool> {
        self.s().accessible
    }
    /// normal, enteringMaintenance or inMaintenance.
    async fn maintenance_mode(&self) -> Option<&str> {
        self.s().maintenance_mode.as_deref()
    }
    /// Datastore URL.
    async fn url(&self) -> Option<&str> {
        self.s().url.as_deref()
    }
    /// Whether several hosts share it.
    async fn multiple_host_access(&self) -> Option<bool> {
        self.s().multiple_host_access
    }
    /// vCenter's overall status: green, yellow, red or gray.
    async fn overall_status(&self) -> Option<&str> {
        self.s().overall_status.as_deref()
    }
    /// Hosts mounting the datastore, with mount detail.
    async fn mounts(&self) -> Vec<HostMount> {
        self.s()
            .mounts
            .iter()
            .filter_map(|m| match self.0.snap.slot(&m.host_id)? {
                Slot::Agent(i) => Some(HostMount {
                    host: Hit {
                        idx: i,
                        ..self.0.clone()
                    },
                    path: m.path.clone(),
                    access_mode: m.access_mode.clone(),
                    mounted: m.mounted,
                    accessible: m.accessible,
                }),
                _ => None,
            })
            .collect()
    }
}
