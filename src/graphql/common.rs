//! Types shared by the three resource kinds: identity, metrics, alerts, tags, topology. Identity
//! and topology are views of the snapshot's records, resolved field by field when asked.
//! Byte counts are `Float` because GraphQL `Int` is 32-bit and the gateway enforces it.

use std::sync::Arc;

use async_graphql::{Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::enums::AlertSeverity;
use super::hit::Hit;
use super::inline::{Inline, Strings};
use crate::inventory::activity::MetricSample;
use crate::model::resources::{ActiveAlert, HostIdentity, QuickStats, TagRef, VmIdentity};
use crate::model::topology::{self as model, ClusterRef, Placement};

/// Identity facts of a host or VM, read from its record (datastores carry none).
#[derive(Clone, Copy)]
pub enum Identity<'a> {
    /// An ESXi host's.
    Host(&'a HostIdentity),
    /// A VM's.
    Vm(&'a VmIdentity),
    /// A datastore's: nothing.
    None,
}

/// Identity facts Pulse uses to recognise the same machine across platforms and agents.
#[Object(name = "ResourceIdentity", shareable)]
impl Identity<'_> {
    /// Hardware (SMBIOS system) UUID of an ESXi host, lowercase.
    async fn hardware_uuid(&self) -> Option<&str> {
        match self {
            Identity::Host(h) => h.hardware_uuid.as_deref(),
            _ => None,
        }
    }
    /// vCenter instance UUID of a VM (unique within a vCenter).
    async fn instance_uuid(&self) -> Option<&str> {
        match self {
            Identity::Vm(v) => v.instance_uuid.as_deref(),
            _ => None,
        }
    }
    /// BIOS UUID of a VM as vSphere shows it.
    async fn bios_uuid(&self) -> Option<&str> {
        match self {
            Identity::Vm(v) => v.bios_uuid.as_deref(),
            _ => None,
        }
    }
    /// The BIOS UUID in SMBIOS byte order, as an agent inside the guest may report it.
    async fn bios_uuid_smbios(&self) -> Option<&str> {
        match self {
            Identity::Vm(v) => v.bios_uuid_smbios.as_deref(),
            _ => None,
        }
    }
    /// Host names (guest hostname from VMware Tools for VMs, the host name for ESXi hosts).
    async fn hostnames(&self) -> Strings<'_> {
        Strings(match self {
            Identity::Host(h) => h.hostname.as_slice(),
            Identity::Vm(v) => v.hostname.as_slice(),
            Identity::None => &[],
        })
    }
    /// IP addresses (from VMware Tools for VMs, of the VMkernel NICs for ESXi hosts).
    async fn ips(&self) -> Strings<'_> {
        Strings(match self {
            Identity::Host(h) => &h.ips,
            Identity::Vm(v) => &v.ips,
            Identity::None => &[],
        })
    }
    /// MAC addresses of the virtual NICs (VMs) or VMkernel NICs (ESXi hosts).
    async fn macs(&self) -> Strings<'_> {
        Strings(match self {
            Identity::Host(h) => &h.macs,
            Identity::Vm(v) => &v.macs,
            Identity::None => &[],
        })
    }
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

/// An active vSphere alarm in Pulse's shared alert shape, read from its resource's record.
pub struct Alert<'a>(pub &'a ActiveAlert);

/// An active vSphere alarm (red = critical, yellow = warning) in Pulse's shared alert shape.
#[Object(name = "VsphereAlert")]
impl Alert<'_> {
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
    /// vSphere type of the object the alarm is on (the resource itself, or a cluster, folder or
    /// datacenter above it).
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
#[derive(SimpleObject)]
#[graphql(name = "VsphereTag")]
pub struct Tag<'a> {
    /// Tag category.
    pub category: &'a str,
    /// Tag name.
    pub name: &'a str,
}

/// The tags of a resource's record.
pub fn tags(list: &[TagRef]) -> Vec<Inline<Tag<'_>>> {
    list.iter()
        .map(|t| {
            Inline(Tag {
                category: &t.category,
                name: &t.name,
            })
        })
        .collect()
}

/// A named vSphere object that is topology, not a resource.
#[derive(SimpleObject)]
#[graphql(name = "VsphereNamedRef")]
pub struct NamedRef<'a> {
    /// moId.
    pub moid: &'a str,
    /// Name.
    pub name: &'a str,
}

impl<'a> From<&'a model::NamedRef> for NamedRef<'a> {
    fn from(r: &'a model::NamedRef) -> Self {
        NamedRef {
            moid: &r.moid,
            name: &r.name,
        }
    }
}

/// A vSphere cluster (topology metadata).
pub struct Cluster<'a>(&'a ClusterRef);

/// A vSphere cluster (topology metadata).
#[Object(name = "VsphereClusterRef")]
impl Cluster<'_> {
    /// moId.
    async fn moid(&self) -> &str {
        &self.0.moid
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// vSphere HA enabled.
    async fn ha_enabled(&self) -> Option<bool> {
        self.0.ha_enabled
    }
    /// DRS enabled.
    async fn drs_enabled(&self) -> Option<bool> {
        self.0.drs_enabled
    }
}

/// Where a resource sits in vCenter's inventory: its placement record and its vCenter.
pub struct Topology<'a> {
    placement: &'a Placement,
    instance_uuid: &'a str,
    connection_name: Arc<String>,
}

impl<'a> Topology<'a> {
    /// The placement of a record of `hit`'s snapshot.
    pub fn of(hit: &'a Hit, placement: &'a Placement) -> Self {
        Topology {
            placement,
            instance_uuid: &hit.snap.instance_uuid,
            connection_name: hit.conn.name(),
        }
    }
}

/// Where a resource sits in vCenter's inventory.
#[Object(name = "VsphereTopology")]
impl Topology<'_> {
    /// The vCenter (instance UUID and the connection's name).
    async fn vcenter(&self) -> Inline<NamedRef<'_>> {
        Inline(NamedRef {
            moid: self.instance_uuid,
            name: &self.connection_name,
        })
    }
    /// The datacenter.
    async fn datacenter(&self) -> Option<Inline<NamedRef<'_>>> {
        self.placement
            .datacenter
            .as_ref()
            .map(NamedRef::from)
            .map(Inline)
    }
    /// The cluster; null for standalone hosts and datastores.
    async fn cluster(&self) -> Option<Inline<Cluster<'_>>> {
        self.placement.cluster.as_ref().map(Cluster).map(Inline)
    }
    /// Folder names from the datacenter's root folder down.
    async fn folder_path(&self) -> Strings<'_> {
        Strings(&self.placement.folder_path)
    }
    /// Resource pool names below the cluster's root pool (VMs only).
    async fn resource_pool_path(&self) -> Strings<'_> {
        Strings(&self.placement.resource_pool_path)
    }
    /// The datastore cluster (StoragePod) a datastore is in; null otherwise.
    async fn datastore_cluster(&self) -> Option<Inline<NamedRef<'_>>> {
        self.placement
            .datastore_cluster
            .as_ref()
            .map(NamedRef::from)
            .map(Inline)
    }
}

/// The alerts of a resource's record.
pub fn alerts(list: &[ActiveAlert]) -> Vec<Inline<Alert<'_>>> {
    list.iter().map(|a| Inline(Alert(a))).collect()
}

/// Bytes as GraphQL Float.
pub fn bytes(v: Option<i64>) -> Option<f64> {
    v.map(|b| b as f64)
}

/// A count as GraphQL Int; null when it does not fit.
pub fn small(v: Option<i64>) -> Option<i32> {
    v.and_then(|x| i32::try_from(x).ok())
}

/// The canonical metrics of a host or VM: the collector's latest realtime sample, quick
/// statistics where there is none, and nothing for a resource that is not running (a powered-off
/// VM's quick statistics are leftovers, and a sample from before it stopped is stale).
pub fn live_metrics(hit: &Hit, moid: &str, running: bool, q: &QuickStats) -> Metrics {
    if !running {
        return Metrics::default();
    }
    metrics_from(
        hit.conn.activity().metrics.get(moid),
        true,
        q,
        hit.snap.taken_at,
    )
}

/// [`live_metrics`] from a realtime sample already looked up, for callers that read many
/// under one lock of the activity log (list orders by CPU or memory).
pub fn metrics_from(
    sample: Option<&MetricSample>,
    running: bool,
    q: &QuickStats,
    taken_at: DateTime<Utc>,
) -> Metrics {
    if !running {
        return Metrics::default();
    }
    let memory_used_bytes = bytes(q.memory_used_bytes);
    if let Some(m) = sample {
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
        sampled_at: Some(taken_at),
        ..Metrics::default()
    }
}
