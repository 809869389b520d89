//! Value types shared by the three resource kinds: identity, metrics, alerts, tags, topology.
//! Byte counts are `Float` because GraphQL `Int` is 32-bit and the gateway enforces it.

use async_graphql::{Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::enums::AlertSeverity;
use super::select::Hit;
use crate::model::resources::{ActiveAlert, QuickStats, TagRef};
use crate::model::topology::Placement;

/// Identity facts Pulse uses to recognise the same machine across platforms and agents.
#[derive(SimpleObject, Clone, Debug, Default)]
#[graphql(name = "ResourceIdentity", shareable)]
pub struct Identity {
    /// Hardware (SMBIOS system) UUID of an ESXi host, lowercase.
    pub hardware_uuid: Option<String>,
    /// vCenter instance UUID of a VM (unique within a vCenter).
    pub instance_uuid: Option<String>,
    /// BIOS UUID of a VM as vSphere shows it.
    pub bios_uuid: Option<String>,
    /// The BIOS UUID in SMBIOS byte order, as an agent inside the guest may report it.
    pub bios_uuid_smbios: Option<String>,
    /// Host names (guest hostname from VMware Tools for VMs, the host name for ESXi hosts).
    pub hostnames: Vec<String>,
    /// IP addresses (from VMware Tools for VMs, of the VMkernel NICs for ESXi hosts).
    pub ips: Vec<String>,
    /// MAC addresses of the virtual NICs (VMs) or VMkernel NICs (ESXi hosts).
    pub macs: Vec<String>,
}

/// Where a host's or VM's current metrics come from.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "MetricsSource")]
pub enum MetricsSource {
    /// The collector's latest realtime (20 s) performance sample (`QueryPerf`), the values the
    /// vSphere Client's performance charts show.
    Realtime,
    /// vCenter's `summary.quickStats`, where no realtime sample exists (yet): coarser, and
    /// without disk and network rates.
    QuickStats,
}

/// Current metrics in canonical units (percent, bytes, bytes per second, seconds).
#[derive(SimpleObject, Clone, Debug, Default)]
#[graphql(name = "ResourceMetrics", shareable)]
pub struct Metrics {
    /// CPU use in percent of capacity.
    pub cpu_percent: Option<f64>,
    /// Memory use in percent of capacity.
    pub memory_percent: Option<f64>,
    /// Memory used in bytes (from `summary.quickStats`, whatever the source of the others).
    pub memory_used_bytes: Option<f64>,
    /// Disk throughput (read + write) in bytes per second; realtime only.
    pub disk_bytes_per_second: Option<f64>,
    /// Network throughput (received + transmitted) in bytes per second; realtime only.
    pub network_bytes_per_second: Option<f64>,
    /// Uptime in seconds.
    pub uptime_seconds: Option<f64>,
    /// Storage capacity in bytes (datastores).
    pub storage_capacity_bytes: Option<f64>,
    /// Storage used in bytes (datastores).
    pub storage_used_bytes: Option<f64>,
    /// Storage used in percent (datastores).
    pub storage_used_percent: Option<f64>,
    /// Where CPU, memory, disk, network and uptime come from; null when there are none (a
    /// powered-off VM, a disconnected host) and for datastores.
    pub source: Option<MetricsSource>,
    /// When the values were sampled (the realtime sample's time, or when the snapshot holding
    /// the quick statistics or datastore summary was read).
    pub sampled_at: Option<DateTime<Utc>>,
}

/// An active vSphere alarm in Pulse's shared alert shape.
pub struct Alert(pub ActiveAlert);

/// An active vSphere alarm (red = critical, yellow = warning) in Pulse's shared alert shape.
#[Object(name = "VsphereAlert")]
impl Alert {
    /// Stable alert id (vCenter instance UUID and the alarm state key).
    async fn id(&self) -> &str {
        &self.0.id
    }
    /// Alarm definition name, e.g. "Host connection and power state".
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Critical (vSphere red) or warning (vSphere yellow).
    async fn severity(&self) -> AlertSeverity {
        self.0.severity.into()
    }
    /// When vCenter triggered the alarm.
    async fn since(&self) -> Option<DateTime<Utc>> {
        self.0.since
    }
    /// Whether someone acknowledged it in vCenter (Pulse never acknowledges).
    async fn acknowledged(&self) -> bool {
        self.0.acknowledged
    }
    /// moId of the alarm definition.
    async fn alarm_moid(&self) -> &str {
        &self.0.alarm_moid
    }
    /// vSphere type of the object the alarm is on (the resource itself, or a cluster or datacenter above it).
    async fn source_kind(&self) -> &str {
        &self.0.source_kind
    }
    /// moId of the object the alarm is on.
    async fn source_moid(&self) -> &str {
        &self.0.source_moid
    }
    /// Name of the object the alarm is on.
    async fn source_name(&self) -> &str {
        &self.0.source_name
    }
}

/// A vSphere tag.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "VsphereTag")]
pub struct Tag {
    /// Tag category.
    pub category: String,
    /// Tag name.
    pub name: String,
}

impl From<&TagRef> for Tag {
    fn from(t: &TagRef) -> Self {
        Tag {
            category: t.category.clone(),
            name: t.name.clone(),
        }
    }
}

/// A named vSphere object that is topology, not a resource.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "VsphereNamedRef")]
pub struct NamedRef {
    /// moId.
    pub moid: String,
    /// Name.
    pub name: String,
}

/// A vSphere cluster (topology metadata).
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "VsphereClusterRef")]
pub struct Cluster {
    /// moId.
    pub moid: String,
    /// Name.
    pub name: String,
    /// vSphere HA enabled.
    pub ha_enabled: Option<bool>,
    /// DRS enabled.
    pub drs_enabled: Option<bool>,
}

/// Where a resource sits in vCenter's inventory.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "VsphereTopology")]
pub struct Topology {
    /// The vCenter (instance UUID and the connection's name).
    pub vcenter: NamedRef,
    /// The datacenter.
    pub datacenter: Option<NamedRef>,
    /// The cluster; null for standalone hosts and datastores.
    pub cluster: Option<Cluster>,
    /// Folder names from the datacenter's root folder down.
    pub folder_path: Vec<String>,
    /// Resource pool names below the cluster's root pool (VMs only).
    pub resource_pool_path: Vec<String>,
}

impl Topology {
    /// From a placement and the vCenter it belongs to.
    pub fn new(p: &Placement, instance_uuid: &str, connection_name: &str) -> Self {
        Topology {
            vcenter: NamedRef {
                moid: instance_uuid.to_string(),
                name: connection_name.to_string(),
            },
            datacenter: p.datacenter.as_ref().map(|d| NamedRef {
                moid: d.moid.clone(),
                name: d.name.clone(),
            }),
            cluster: p.cluster.as_ref().map(|c| Cluster {
                moid: c.moid.clone(),
                name: c.name.clone(),
                ha_enabled: c.ha_enabled,
                drs_enabled: c.drs_enabled,
            }),
            folder_path: p.folder_path.clone(),
            resource_pool_path: p.resource_pool_path.clone(),
        }
    }
}

/// Converts alerts.
pub fn alerts(list: &[ActiveAlert]) -> Vec<Alert> {
    list.iter().cloned().map(Alert).collect()
}

/// Bytes as GraphQL Float.
pub fn bytes(v: Option<i64>) -> Option<f64> {
    v.map(|b| b as f64)
}

/// A count as GraphQL Int; null when it does not fit.
pub fn small(v: Option<i64>) -> Option<i32> {
    v.and_then(|x| i32::try_from(x).ok())
}

/// Topology of a hit.
pub fn topology_of(hit: &Hit, p: &Placement) -> Topology {
    Topology::new(p, &hit.snap.instance_uuid, &hit.conn.name())
}

/// The canonical metrics of a host or VM: the collector's latest realtime sample, quick
/// statistics where there is none, and nothing for a resource that is not running (a powered-off
/// VM's quick statistics are leftovers, and a sample from before it stopped is stale).
pub fn live_metrics(hit: &Hit, moid: &str, running: bool, q: &QuickStats) -> Metrics {
    if !running {
        return Metrics::default();
    }
    let memory_used_bytes = bytes(q.memory_used_bytes);
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
