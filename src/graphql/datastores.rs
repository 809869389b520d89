//! The datastores domain: `vsphereDatastores`, the `Storage` entity with its federation
//! lookup, and its owned `vsphere` facet (capacity, accessibility, host mounts).

use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};
use chrono::{DateTime, Utc};

use super::activity;
use super::common::{self, Alert, Identity, Metrics, Tag, Topology};
use super::enums::ResourceStatus;
use super::filters::{StorageFilter, VmFilter};
use super::hit::Hit;
use super::inline::Inline;
use super::lists::{
    cursor, ordered_cursor, page_of, vm_list, AgentConnection, StorageConnection, Total,
    VmConnection,
};
use super::lookup::by_id;
use super::nodes::{AgentNode, Resource, StorageNode};
use super::order::{DatastoreOrder, VmOrder};
use super::paging::{page_size, Order};
use super::select::{self, registry};
use crate::model::resources as model;
use crate::model::snapshot::sort_key;
use crate::model::PLATFORM_TYPE;

/// Root fields of the datastores domain.
#[derive(Default)]
pub struct DatastoresQuery;

#[Object]
impl DatastoresQuery {
    /// Datastores (canonical `storage` resources) of every connected vCenter, as a Relay
    /// connection in stable order: name, then id, unless `orderBy` says otherwise.
    async fn vsphere_datastores(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 500 (default 50).")] first: Option<i32>,
        #[graphql(
            desc = "Cursor of the last item of the previous page, made for the same \
                          `orderBy`."
        )]
        after: Option<String>,
        #[graphql(desc = "Filters, AND-ed.")] filter: Option<StorageFilter>,
        #[graphql(
            desc = "Order (default: name ascending). Datastores without the value come \
                          last."
        )]
        order_by: Option<DatastoreOrder>,
    ) -> Result<Inline<StorageConnection>> {
        let n = page_size(first)?;
        let order = Order::from(order_by);
        let key = ordered_cursor(&after, order)?;
        let visible = registry(ctx)?.visible();
        let filter = filter.unwrap_or_default();
        let page = select::storage(&visible, &filter, order, key.as_ref(), n);
        let total = Total::Lazy(Arc::new(move || select::count_storage(&visible, &filter)));
        Ok(Inline(StorageConnection {
            page,
            had_cursor: key.is_some(),
            total,
        }))
    }

    #[graphql(entity)]
    async fn find_storage_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<StorageNode>> {
        Ok(by_id(ctx, &id).await?.and_then(Resource::storage))
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
    async fn identity(&self) -> Inline<Identity<'_>> {
        Inline(Identity::None)
    }
    /// Capacity, used bytes and used percent.
    #[graphql(shareable)]
    async fn metrics(&self) -> Inline<Metrics> {
        let s = self.s();
        Inline(Metrics {
            storage_capacity_bytes: common::bytes(s.capacity_bytes),
            storage_used_bytes: common::bytes(
                s.capacity_bytes.zip(s.free_bytes).map(|(c, f)| c - f),
            ),
            storage_used_percent: s.used_percent(),
            sampled_at: Some(self.0.snap.taken_at),
            ..Metrics::default()
        })
    }
    /// vSphere tags attached to the datastore.
    async fn tags(&self) -> Vec<Inline<Tag<'_>>> {
        common::tags(&self.s().tags)
    }
    /// Active red or yellow alarms on the datastore.
    async fn alerts(&self) -> Vec<Inline<Alert<'_>>> {
        common::alerts(&self.s().alerts)
    }
    /// ESXi hosts that mount this datastore.
    async fn hosts(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Inline<AgentConnection>> {
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
        Ok(Inline(AgentConnection {
            page,
            had_cursor: key.is_some(),
            total,
        }))
    }
    /// Virtual machines with files on this datastore (name order unless `orderBy` says
    /// otherwise).
    async fn vms(
        &self,
        first: Option<i32>,
        after: Option<String>,
        order_by: Option<VmOrder>,
    ) -> Result<Inline<VmConnection>> {
        let filter = VmFilter {
            datastore: Some(vec![ID(self.s().id.to_string())]),
            ..VmFilter::default()
        };
        vm_list(&self.0, filter, order_by.into(), first, after).map(Inline)
    }
    /// What happened to this datastore over time: events, recent tasks, alarm history.
    async fn activity(&self) -> activity::ActivityView {
        activity::ActivityView::new(&self.0, "Datastore", &self.s().moid, self.s().id.as_str())
    }
    /// vSphere detail: type, capacity, free space, accessibility, maintenance, host mounts. Null
    /// only when the gateway asks about a datastore this subgraph does not know.
    async fn vsphere(&self) -> Option<Inline<StorageFacet>> {
        Some(Inline(StorageFacet(self.clone())))
    }
}

/// vSphere detail of a datastore.
pub struct StorageFacet(StorageNode);

/// A datastore's mount on one host, read from the datastore's record.
pub struct HostMount<'a> {
    host: AgentNode,
    mount: &'a model::HostMount,
}

/// A datastore mount on an ESXi host.
#[Object(name = "VsphereHostMount")]
impl HostMount<'_> {
    /// The host.
    async fn host(&self) -> Inline<&AgentNode> {
        Inline(&self.host)
    }
    /// Mount path on the host.
    async fn path(&self) -> Option<&str> {
        self.mount.path.as_deref()
    }
    /// readWrite or readOnly.
    async fn access_mode(&self) -> Option<&str> {
        self.mount.access_mode.as_deref()
    }
    /// Whether it is mounted.
    async fn mounted(&self) -> Option<bool> {
        self.mount.mounted
    }
    /// Whether the host can reach it.
    async fn accessible(&self) -> Option<bool> {
        self.mount.accessible
    }
}

/// vSphere detail of a datastore.
#[Object(name = "VsphereDatastoreFacet")]
impl StorageFacet {
    /// The datastore's moId in vCenter.
    async fn moid(&self) -> &str {
        &self.0.s().moid
    }
    /// The saved connection this datastore was read through.
    async fn connection_id(&self) -> &str {
        &self.0 .0.conn.id
    }
    /// vCenter, datacenter and folder path.
    async fn topology(&self) -> Inline<Topology<'_>> {
        Inline(Topology::of(&self.0 .0, &self.0.s().placement))
    }
    /// Datastore type: VMFS, NFS, NFS41, vsan, VVOL, ...
    async fn r#type(&self) -> Option<&str> {
        self.0.s().ds_type.as_deref()
    }
    /// Capacity in bytes.
    async fn capacity_bytes(&self) -> Option<f64> {
        common::bytes(self.0.s().capacity_bytes)
    }
    /// Free bytes.
    async fn free_bytes(&self) -> Option<f64> {
        common::bytes(self.0.s().free_bytes)
    }
    /// Provisioned but unwritten bytes.
    async fn uncommitted_bytes(&self) -> Option<f64> {
        common::bytes(self.0.s().uncommitted_bytes)
    }
    /// Whether the datastore is accessible.
    async fn accessible(&self) -> Option<bool> {
        self.0.s().accessible
    }
    /// normal, enteringMaintenance or inMaintenance.
    async fn maintenance_mode(&self) -> Option<&str> {
        self.0.s().maintenance_mode.as_deref()
    }
    /// Datastore URL.
    async fn url(&self) -> Option<&str> {
        self.0.s().url.as_deref()
    }
    /// Whether several hosts share it.
    async fn multiple_host_access(&self) -> Option<bool> {
        self.0.s().multiple_host_access
    }
    /// vCenter's overall status: green, yellow, red or gray.
    async fn overall_status(&self) -> Option<&str> {
        self.0.s().overall_status.as_deref()
    }
    /// Hosts mounting the datastore, with mount detail.
    async fn mounts(&self) -> Vec<Inline<HostMount<'_>>> {
        self.0
            .s()
            .mounts
            .iter()
            .filter_map(|mount| {
                Some(HostMount {
                    host: Resource::beside(&self.0 .0, &mount.host_id)?.agent()?,
                    mount,
                })
            })
            .map(Inline)
            .collect()
    }
}
