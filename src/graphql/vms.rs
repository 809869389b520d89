//! The VMs domain: `vsphereVms`, the `Vm` entity with its federation lookup, and its owned
//! `vsphere` facet (placement, guest, snapshots, datastore usage); the guest and the snapshot
//! tree are in [`super::vm_guest`].

use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};
use chrono::{DateTime, Utc};

use super::activity;
use super::common::{self, live_metrics, small, Alert, Identity, Metrics, Tag, Topology};
use super::enums::ResourceStatus;
use super::filters::VmFilter;
use super::inline::{Inline, Strings};
use super::lists::VmConnection;
use super::lists::{cursor, ordered_cursor, page_of, storage_hits, StorageConnection, Total};
use super::lookup::by_id;
use super::nodes::{AgentNode, Resource, StorageNode, VmNode};
use super::order::VmOrder;
use super::paging::{page_size, Order};
use super::select::{self, registry};
use super::vm_guest::{snapshots, Guest, Snapshot};
use crate::model::resources as model;
use crate::model::PLATFORM_TYPE;

/// Root fields of the VMs domain.
#[derive(Default)]
pub struct VmsQuery;

#[Object]
impl VmsQuery {
    /// Virtual machines (canonical `vm` resources) of every connected vCenter, as a Relay
    /// connection in stable order: name, then id, unless `orderBy` says otherwise. The top N by
    /// a value is `orderBy: {field: CPU, direction: DESC}, first: N`.
    async fn vsphere_vms(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 500 (default 50).")] first: Option<i32>,
        #[graphql(
            desc = "Cursor of the last item of the previous page, made for the same \
                          `orderBy`."
        )]
        after: Option<String>,
        #[graphql(desc = "Filters, AND-ed.")] filter: Option<VmFilter>,
        #[graphql(desc = "Order (default: name ascending). VMs without the value come last.")]
        order_by: Option<VmOrder>,
    ) -> Result<Inline<VmConnection>> {
        let n = page_size(first)?;
        let order = Order::from(order_by);
        let key = ordered_cursor(&after, order)?;
        let visible = registry(ctx)?.visible();
        let filter = filter.unwrap_or_default();
        if filter.has_snapshots_older_than_days.is_some() {
            // The cutoff is counted from now, not from the snapshot.
            super::reuse::mark(ctx);
        }
        let page = select::vms(&visible, &filter, order, key.as_ref(), n);
        let total = Total::Lazy(Arc::new(move || select::count_vms(&visible, &filter)));
        Ok(Inline(VmConnection {
            page,
            had_cursor: key.is_some(),
            total,
        }))
    }

    #[graphql(entity)]
    async fn find_vm_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<VmNode>> {
        Ok(by_id(ctx, &id).await?.and_then(Resource::vm))
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
    async fn identity(&self) -> Inline<Identity<'_>> {
        Inline(Identity::Vm(&self.v().identity))
    }
    /// Current CPU, memory, disk, network and uptime: realtime performance where sampled,
    /// quick statistics otherwise; all null while the VM is not powered on.
    #[graphql(shareable)]
    async fn metrics(&self) -> Inline<Metrics> {
        let v = self.v();
        let q = self.0.snap.vm_quick_stats(self.0.idx);
        Inline(live_metrics(&self.0, &v.moid, v.running(), &q))
    }
    /// vSphere tags attached to the VM.
    async fn tags(&self) -> Vec<Inline<Tag<'_>>> {
        common::tags(&self.v().tags)
    }
    /// Active red or yellow alarms on the VM itself.
    async fn alerts(&self) -> Vec<Inline<Alert<'_>>> {
        common::alerts(&self.v().alerts)
    }
    /// The ESXi host the VM runs on.
    async fn host(&self) -> Option<Inline<AgentNode>> {
        host_of(self).map(Inline)
    }
    /// Datastores holding the VM's files.
    async fn datastores(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Inline<StorageConnection>> {
        let n = page_size(first)?;
        let key = cursor(&after)?;
        let ids = self.v().datastore_usage.iter().map(|u| &u.datastore_id);
        let (page, total) = page_of(storage_hits(&self.0, ids), key.as_ref(), n);
        Ok(Inline(StorageConnection {
            page,
            had_cursor: key.is_some(),
            total,
        }))
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
    async fn vsphere(&self) -> Option<Inline<VmFacet>> {
        Some(Inline(VmFacet(self.clone())))
    }
}

/// The host a VM is placed on, in the VM's snapshot.
fn host_of(vm: &VmNode) -> Option<AgentNode> {
    Resource::beside(&vm.0, vm.v().host_id.as_ref()?)?.agent()
}

/// vSphere detail of a VM.
pub struct VmFacet(VmNode);

/// A VM's use of one datastore, read from the VM's record.
pub struct DatastoreUsage<'a> {
    datastore: StorageNode,
    usage: &'a model::DatastoreUsage,
}

/// How much of one datastore a VM uses.
#[Object(name = "VsphereDatastoreUsage")]
impl DatastoreUsage<'_> {
    /// The datastore.
    async fn datastore(&self) -> Inline<&StorageNode> {
        Inline(&self.datastore)
    }
    /// Bytes written on the datastore for this VM.
    async fn committed_bytes(&self) -> f64 {
        self.usage.committed_bytes as f64
    }
    /// Provisioned but not yet written bytes (thin disks).
    async fn uncommitted_bytes(&self) -> f64 {
        self.usage.uncommitted_bytes as f64
    }
    /// Bytes not shared with any other VM.
    async fn unshared_bytes(&self) -> f64 {
        self.usage.unshared_bytes as f64
    }
}

/// vSphere detail of a virtual machine.
#[Object(name = "VsphereVmFacet")]
impl VmFacet {
    /// The VM's moId in vCenter.
    async fn moid(&self) -> &str {
        &self.0.v().moid
    }
    /// The saved connection this VM was read through.
    async fn connection_id(&self) -> &str {
        &self.0 .0.conn.id
    }
    /// vCenter, datacenter, cluster, folder path, resource pool path.
    async fn topology(&self) -> Inline<Topology<'_>> {
        Inline(Topology::of(&self.0 .0, &self.0.v().placement))
    }
    /// The host the VM is placed on.
    async fn placement_host(&self) -> Option<Inline<AgentNode>> {
        host_of(&self.0).map(Inline)
    }
    /// `runtime.powerState`: poweredOn, poweredOff or suspended.
    async fn power_state(&self) -> Option<&str> {
        self.0.v().power_state.as_deref()
    }
    /// `runtime.connectionState`: connected, disconnected, orphaned, inaccessible, invalid.
    async fn connection_state(&self) -> Option<&str> {
        self.0.v().connection_state.as_deref()
    }
    /// vCenter's overall status: green, yellow, red or gray.
    async fn overall_status(&self) -> Option<&str> {
        self.0.v().overall_status.as_deref()
    }
    /// Whether the VM is a template.
    async fn template(&self) -> bool {
        self.0.v().template
    }
    /// When the VM was last powered on.
    async fn boot_time(&self) -> Option<DateTime<Utc>> {
        self.0.v().boot_time
    }
    /// Virtual CPUs.
    async fn num_cpu(&self) -> Option<i32> {
        small(self.0.v().num_cpu)
    }
    /// Configured memory in MiB.
    async fn memory_mib(&self) -> Option<i32> {
        small(self.0.v().memory_mib)
    }
    /// Guest OS, Tools state and filesystems.
    async fn guest(&self) -> Inline<Guest<'_>> {
        Inline(Guest(&self.0.v().guest))
    }
    /// Network names the VM is attached to.
    async fn networks(&self) -> Strings<'_> {
        Strings(&self.0.v().networks)
    }
    /// The snapshot tree (roots). Snapshots are read-side detail, never backups or recovery points.
    async fn snapshots(&self) -> Vec<Inline<Snapshot<'_>>> {
        snapshots(&self.0.v().snapshots, Utc::now())
    }
    /// Number of snapshots.
    async fn snapshot_count(&self) -> i32 {
        i32::try_from(self.0.v().snapshot_count).unwrap_or(i32::MAX)
    }
    /// When the oldest snapshot was taken.
    async fn oldest_snapshot_at(&self) -> Option<DateTime<Utc>> {
        self.0.v().oldest_snapshot
    }
    /// Datastores the VM uses, with committed, uncommitted and unshared bytes.
    async fn datastore_usage(&self) -> Vec<Inline<DatastoreUsage<'_>>> {
        self.0
            .v()
            .datastore_usage
            .iter()
            .filter_map(|usage| {
                Some(DatastoreUsage {
                    datastore: Resource::beside(&self.0 .0, &usage.datastore_id)?.storage()?,
                    usage,
                })
            })
            .map(Inline)
            .collect()
    }
    /// Active alarms on the VM's cluster, folders or datacenter: context, not the VM's own state.
    async fn context_alerts(&self) -> Vec<Inline<Alert<'_>>> {
        common::alerts(&self.0.v().context_alerts)
    }
}
