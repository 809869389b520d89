//! Canonical Pulse resources and their vSphere facets, as the projection produces them and the
//! GraphQL layer serves them. Plain data: no I/O, no vCenter types.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::alerts::AlertSeverity;
use super::ids::ResourceId;
use super::status::ResourceStatus;
use super::topology::Placement;

/// An active vSphere alarm, in the shared alert shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActiveAlert {
    /// Stable id: vCenter instanceUuid + the AlarmState key (`alarm-7.vm-42`).
    pub id: String,
    /// The alarm definition's moId.
    pub alarm_moid: String,
    /// The alarm definition's name (falls back to the moId when unreadable).
    pub name: String,
    /// Critical (red) or warning (yellow).
    pub severity: AlertSeverity,
    /// When vCenter triggered it.
    pub since: Option<DateTime<Utc>>,
    /// Acknowledged in vCenter.
    pub acknowledged: bool,
    /// Who acknowledged it (`AlarmState.acknowledgedByUser`).
    pub acknowledged_by: Option<String>,
    /// When (`AlarmState.acknowledgedTime`).
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// The `AlarmStatusChangedEvent` that set this state (`AlarmState.eventKey`): what ties a
    /// state seen in a snapshot to the event that reports the same transition.
    pub event_key: Option<i64>,
    /// The object the alarm is on: the resource itself, or a cluster/datacenter above it.
    pub source_kind: String,
    /// moId of that object.
    pub source_moid: String,
    /// Name of that object.
    pub source_name: String,
}

/// A vSphere tag attached to a resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TagRef {
    /// Category name.
    pub category: String,
    /// Tag name.
    pub name: String,
}

/// Identity facts Pulse uses to merge an ESXi host with other sources.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HostIdentity {
    /// `hardware.systemInfo.uuid`, normalised.
    pub hardware_uuid: Option<String>,
    /// Host name as vCenter knows it (often the FQDN).
    pub hostname: Option<String>,
    /// Addresses of the VMkernel NICs (`config.network.vnic[].spec.ip.ipAddress`), normalised.
    pub ips: Vec<String>,
    /// MACs of the VMkernel NICs (`config.network.vnic[].spec.mac`), normalised.
    pub macs: Vec<String>,
}

/// Identity facts Pulse uses to merge a VM with a guest agent or another platform.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VmIdentity {
    /// `config.instanceUuid` (vCenter-unique).
    pub instance_uuid: Option<String>,
    /// `config.uuid`, the BIOS UUID as vSphere shows it.
    pub bios_uuid: Option<String>,
    /// The BIOS UUID in SMBIOS byte order, as a guest OS may report it.
    pub bios_uuid_smbios: Option<String>,
    /// Guest hostname (Tools).
    pub hostname: Option<String>,
    /// Guest IP addresses (Tools).
    pub ips: Vec<String>,
    /// MAC addresses of the virtual NICs.
    pub macs: Vec<String>,
}

/// ESXi host hardware and product.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HostHardware {
    /// Vendor.
    pub vendor: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// CPU model.
    pub cpu_model: Option<String>,
    /// MHz per core.
    pub cpu_mhz: Option<i64>,
    /// Physical cores.
    pub cpu_cores: Option<i64>,
    /// Hardware threads.
    pub cpu_threads: Option<i64>,
    /// Memory in bytes.
    pub memory_bytes: Option<i64>,
    /// ESXi version.
    pub esxi_version: Option<String>,
    /// ESXi build.
    pub esxi_build: Option<String>,
}

/// Latest quick statistics vCenter keeps for a host or VM (no perf query needed). Kept beside
/// the resource records ([`crate::model::snapshot::InventorySnapshot::vm_stats`]), not in them:
/// vCenter refreshes them every 20 s for every running VM and host, and inside the records each
/// refresh made a new record per VM while the previous snapshot still held the old one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct QuickStats {
    /// CPU use in percent of capacity.
    pub cpu_percent: Option<f64>,
    /// Memory use in percent of capacity.
    pub memory_percent: Option<f64>,
    /// Memory used in bytes.
    pub memory_used_bytes: Option<i64>,
    /// Uptime in seconds.
    pub uptime_seconds: Option<i64>,
}

/// An ESXi host as canonical `agent`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agent {
    /// Stable id.
    pub id: ResourceId,
    /// moId.
    pub moid: String,
    /// Name.
    pub name: String,
    /// Canonical status.
    pub status: ResourceStatus,
    /// `runtime.connectionState`.
    pub connection_state: Option<String>,
    /// `runtime.powerState`.
    pub power_state: Option<String>,
    /// Maintenance mode.
    pub in_maintenance: bool,
    /// `overallStatus` (green/yellow/red/gray).
    pub overall_status: Option<String>,
    /// Boot time.
    pub boot_time: Option<DateTime<Utc>>,
    /// Hardware and product.
    pub hardware: HostHardware,
    /// Identity.
    pub identity: HostIdentity,
    /// Topology (shared by the resources that sit in the same place).
    pub placement: Arc<Placement>,
    /// VMs on this host.
    pub vm_ids: Vec<ResourceId>,
    /// Datastores mounted on this host.
    pub datastore_ids: Vec<ResourceId>,
    /// Alarms on the host itself.
    pub alerts: Vec<ActiveAlert>,
    /// Alarms on its cluster or datacenter (context, not status).
    pub context_alerts: Vec<ActiveAlert>,
    /// Tags.
    pub tags: Vec<TagRef>,
}

/// A filesystem inside a guest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GuestFilesystem {
    /// Mount point or drive.
    pub path: String,
    /// Capacity in bytes.
    pub capacity_bytes: Option<i64>,
    /// Free bytes.
    pub free_bytes: Option<i64>,
    /// Filesystem type.
    pub filesystem: Option<String>,
}

/// What VMware Tools reports about the guest.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GuestInfo {
    /// `guestFamily` (linuxGuest, windowsGuest, ...).
    pub os_family: Option<String>,
    /// Full OS name.
    pub os_name: Option<String>,
    /// Configured guest id.
    pub guest_id: Option<String>,
    /// Hostname.
    pub hostname: Option<String>,
    /// Primary IP.
    pub ip_address: Option<String>,
    /// `toolsStatus`.
    pub tools_status: Option<String>,
    /// `toolsRunningStatus`.
    pub tools_running_status: Option<String>,
    /// Tools version.
    pub tools_version: Option<String>,
    /// Filesystems.
    pub filesystems: Vec<GuestFilesystem>,
}

impl GuestInfo {
    /// Whether Tools is running (guest identity is trustworthy).
    pub fn tools_running(&self) -> bool {
        self.tools_running_status.as_deref() == Some("guestToolsRunning")
    }
}

/// One snapshot in a VM's tree (read-side detail, never "recovery").
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SnapshotNode {
    /// Snapshot moId.
    pub moid: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Creation time.
    pub created: Option<DateTime<Utc>>,
    /// VM power state captured.
    pub state: Option<String>,
    /// Quiesced.
    pub quiesced: bool,
    /// Whether it is the current snapshot.
    pub current: bool,
    /// Bytes of its data and memory files, where vCenter lays them out (`layoutEx`).
    pub size_bytes: Option<i64>,
    /// Child snapshots.
    pub children: Vec<SnapshotNode>,
}

/// A VM's use of one datastore.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DatastoreUsage {
    /// The datastore.
    pub datastore_id: ResourceId,
    /// Committed bytes.
    pub committed_bytes: i64,
    /// Uncommitted (thin-provisioned, not yet written) bytes.
    pub uncommitted_bytes: i64,
    /// Bytes not shared with other VMs.
    pub unshared_bytes: i64,
}

/// A virtual machine as canonical `vm`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Vm {
    /// Stable id.
    pub id: ResourceId,
    /// moId.
    pub moid: String,
    /// Name.
    pub name: String,
    /// Canonical status.
    pub status: ResourceStatus,
    /// `runtime.powerState`.
    pub power_state: Option<String>,
    /// `runtime.connectionState`.
    pub connection_state: Option<String>,
    /// `overallStatus`.
    pub overall_status: Option<String>,
    /// Template flag.
    pub template: bool,
    /// Boot time.
    pub boot_time: Option<DateTime<Utc>>,
    /// vCPUs.
    pub num_cpu: Option<i64>,
    /// Memory in MiB.
    pub memory_mib: Option<i64>,
    /// Identity.
    pub identity: VmIdentity,
    /// Guest as Tools reports it.
    pub guest: GuestInfo,
    /// The host it runs on.
    pub host_id: Option<ResourceId>,
    /// Datastores it uses, with bytes.
    pub datastore_usage: Vec<DatastoreUsage>,
    /// Network names.
    pub networks: Vec<String>,
    /// Topology (shared by the resources that sit in the same place).
    pub placement: Arc<Placement>,
    /// Snapshot tree roots.
    pub snapshots: Vec<SnapshotNode>,
    /// Number of snapshots.
    pub snapshot_count: usize,
    /// Creation time of the oldest snapshot.
    pub oldest_snapshot: Option<DateTime<Utc>>,
    /// Alarms on the VM itself.
    pub alerts: Vec<ActiveAlert>,
    /// Alarms on its host's cluster or datacenter.
    pub context_alerts: Vec<ActiveAlert>,
    /// Tags.
    pub tags: Vec<TagRef>,
}

/// A datastore mount on a host.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostMount {
    /// The host.
    pub host_id: ResourceId,
    /// Mount path.
    pub path: Option<String>,
    /// `readWrite` / `readOnly`.
    pub access_mode: Option<String>,
    /// Mounted.
    pub mounted: Option<bool>,
    /// Accessible from that host.
    pub accessible: Option<bool>,
}

/// A datastore as canonical `storage`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Storage {
    /// Stable id.
    pub id: ResourceId,
    /// moId.
    pub moid: String,
    /// Name.
    pub name: String,
    /// Canonical status.
    pub status: ResourceStatus,
    /// `summary.type` (VMFS, NFS, NFS41, vsan, VVOL, ...).
    pub ds_type: Option<String>,
    /// Capacity in bytes.
    pub capacity_bytes: Option<i64>,
    /// Free bytes.
    pub free_bytes: Option<i64>,
    /// Uncommitted bytes.
    pub uncommitted_bytes: Option<i64>,
    /// Accessible.
    pub accessible: Option<bool>,
    /// `normal`, `enteringMaintenance`, `inMaintenance`.
    pub maintenance_mode: Option<String>,
    /// URL.
    pub url: Option<String>,
    /// Shared by several hosts.
    pub multiple_host_access: Option<bool>,
    /// `overallStatus`.
    pub overall_status: Option<String>,
    /// Host mounts.
    pub mounts: Vec<HostMount>,
    /// VMs with files on it.
    pub vm_ids: Vec<ResourceId>,
    /// Topology (shared by the resources that sit in the same place).
    pub placement: Arc<Placement>,
    /// Alarms on the datastore.
    pub alerts: Vec<ActiveAlert>,
    /// Tags.
    pub tags: Vec<TagRef>,
}

impl Storage {
    /// Used percentage of capacity.
    pub fn used_percent(&self) -> Option<f64> {
        match (self.capacity_bytes, self.free_bytes) {
            (Some(c), Some(f)) if c > 0 => Some((c - f) as f64 * 100.0 / c as f64),
            _ => None,
        }
    }
}

impl Agent {
    /// Whether the host is connected and powered on: only then has it current metrics.
    pub fn running(&self) -> bool {
        self.connection_state.as_deref() == Some("connected")
            && self.power_state.as_deref() == Some("poweredOn")
    }
}

impl Vm {
    /// Whether the VM is powered on: only then has it current metrics.
    pub fn running(&self) -> bool {
        self.power_state.as_deref() == Some("poweredOn")
    }

    /// Bytes written for the VM on all its datastores; `None` when vCenter reports no usage.
    pub fn committed_bytes(&self) -> Option<i64> {
        (!self.datastore_usage.is_empty())
            .then(|| self.datastore_usage.iter().map(|u| u.committed_bytes).sum())
    }
}
