//! The hosts domain: `vsphereHosts`, the `Agent` entity (an ESXi host) with its federation
//! lookup, and its owned `vsphere` facet.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};
use chrono::{DateTime, Utc};

use super::activity;
use super::common::{self, live_metrics, small, Alert, Identity, Metrics, Tag, Topology};
use super::enums::ResourceStatus;
use super::filters::{HostFilter, VmFilter};
use super::inline::Inline;
use super::lists::{cursor, page_of, storage_hits, vm_list, AgentConnection, StorageConnection};
use super::lists::{ordered_cursor, Total, VmConnection};
use super::lookup::by_id;
use super::nodes::{AgentNode, Resource};
use super::order::{HostOrder, VmOrder};
use super::paging::{page_size, Order};
use super::select::{self, registry};
use crate::model::resources as model;
use crate::model::PLATFORM_TYPE;

/// Root fields of the hosts domain.
#[derive(Default)]
pub struct HostsQuery;

#[Object]
impl HostsQuery {
    /// ESXi hosts (canonical `agent` resources) of every connected vCenter, as a Relay connection
    /// in stable order: name, then id, unless `orderBy` says otherwise.
    async fn vsphere_hosts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 500 (default 50).")] first: Option<i32>,
        #[graphql(
            desc = "Cursor of the last item of the previous page, made for the same \
                          `orderBy`."
        )]
        after: Option<String>,
        #[graphql(desc = "Filters, AND-ed.")] filter: Option<HostFilter>,
        #[graphql(desc = "Order (default: name ascending). Hosts without the value come last.")]
        order_by: Option<HostOrder>,
    ) -> Result<Inline<AgentConnection>> {
        let n = page_size(first)?;
        let order = Order::from(order_by);
        let key = ordered_cursor(&after, order)?;
        let visible = registry(ctx)?.visible();
        let filter = filter.unwrap_or_default();
        let page = select::agents(&visible, &filter, order, key.as_ref(), n);
        let total = Total::Lazy(Arc::new(move || select::count_agents(&visible, &filter)));
        Ok(Inline(AgentConnection {
            page,
            had_cursor: key.is_some(),
            total,
        }))
    }

    #[graphql(entity)]
    async fn find_agent_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<AgentNode>> {
        Ok(by_id(ctx, &id).await?.and_then(Resource::agent))
    }
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
    async fn identity(&self) -> Inline<Identity<'_>> {
        Inline(Identity::Host(&self.a().identity))
    }
    /// Current CPU, memory, disk, network and uptime: realtime performance where sampled,
    /// quick statistics otherwise; all null while the host is not connected and powered on.
    #[graphql(shareable)]
    async fn metrics(&self) -> Inline<Metrics> {
        let a = self.a();
        let q = self.0.snap.agent_quick_stats(self.0.idx);
        Inline(live_metrics(&self.0, &a.moid, a.running(), &q))
    }
    /// vSphere tags attached to the host.
    async fn tags(&self) -> Vec<Inline<Tag<'_>>> {
        common::tags(&self.a().tags)
    }
    /// Active red or yellow alarms on the host itself.
    async fn alerts(&self) -> Vec<Inline<Alert<'_>>> {
        common::alerts(&self.a().alerts)
    }
    /// Virtual machines running on this host (name order unless `orderBy` says otherwise).
    async fn vms(
        &self,
        first: Option<i32>,
        after: Option<String>,
        order_by: Option<VmOrder>,
    ) -> Result<Inline<VmConnection>> {
        let filter = VmFilter {
            host: Some(vec![ID(self.a().id.to_string())]),
            ..VmFilter::default()
        };
        vm_list(&self.0, filter, order_by.into(), first, after).map(Inline)
    }
    /// Datastores mounted on this host.
    async fn datastores(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Inline<StorageConnection>> {
        let n = page_size(first)?;
        let key = cursor(&after)?;
        let (page, total) = page_of(
            storage_hits(&self.0, &self.a().datastore_ids),
            key.as_ref(),
            n,
        );
        Ok(Inline(StorageConnection {
            page,
            had_cursor: key.is_some(),
            total,
        }))
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
    async fn vsphere(&self) -> Option<Inline<AgentFacet>> {
        Some(Inline(AgentFacet(self.clone())))
    }
}

/// vSphere detail of an ESXi host.
pub struct AgentFacet(AgentNode);

/// ESXi host hardware and product, read from the host's record.
pub struct HostHardware<'a>(&'a model::HostHardware);

/// ESXi host hardware and product.
#[Object(name = "VsphereHostHardware")]
impl HostHardware<'_> {
    /// Server vendor.
    async fn vendor(&self) -> Option<&str> {
        self.0.vendor.as_deref()
    }
    /// Server model.
    async fn model(&self) -> Option<&str> {
        self.0.model.as_deref()
    }
    /// CPU model.
    async fn cpu_model(&self) -> Option<&str> {
        self.0.cpu_model.as_deref()
    }
    /// CPU MHz per core.
    async fn cpu_mhz(&self) -> Option<f64> {
        self.0.cpu_mhz.map(|m| m as f64)
    }
    /// Physical CPU cores.
    async fn cpu_cores(&self) -> Option<i32> {
        small(self.0.cpu_cores)
    }
    /// Hardware threads.
    async fn cpu_threads(&self) -> Option<i32> {
        small(self.0.cpu_threads)
    }
    /// Memory in bytes.
    async fn memory_bytes(&self) -> Option<f64> {
        common::bytes(self.0.memory_bytes)
    }
    /// ESXi version.
    async fn esxi_version(&self) -> Option<&str> {
        self.0.esxi_version.as_deref()
    }
    /// ESXi build.
    async fn esxi_build(&self) -> Option<&str> {
        self.0.esxi_build.as_deref()
    }
}

/// vSphere detail of an ESXi host.
#[Object(name = "VsphereHostFacet")]
impl AgentFacet {
    /// The host's moId in vCenter.
    async fn moid(&self) -> &str {
        &self.0.a().moid
    }
    /// The saved connection this host was read through.
    async fn connection_id(&self) -> &str {
        &self.0 .0.conn.id
    }
    /// vCenter, datacenter, cluster (with HA/DRS) and folder path.
    async fn topology(&self) -> Inline<Topology<'_>> {
        Inline(Topology::of(&self.0 .0, &self.0.a().placement))
    }
    /// `runtime.connectionState`: connected, disconnected or notResponding.
    async fn connection_state(&self) -> Option<&str> {
        self.0.a().connection_state.as_deref()
    }
    /// `runtime.powerState`: poweredOn, poweredOff, standBy or unknown.
    async fn power_state(&self) -> Option<&str> {
        self.0.a().power_state.as_deref()
    }
    /// Whether the host is in maintenance mode.
    async fn in_maintenance_mode(&self) -> bool {
        self.0.a().in_maintenance
    }
    /// vCenter's overall status: green, yellow, red or gray.
    async fn overall_status(&self) -> Option<&str> {
        self.0.a().overall_status.as_deref()
    }
    /// When the host booted.
    async fn boot_time(&self) -> Option<DateTime<Utc>> {
        self.0.a().boot_time
    }
    /// Hardware and ESXi product.
    async fn hardware(&self) -> Inline<HostHardware<'_>> {
        Inline(HostHardware(&self.0.a().hardware))
    }
    /// Active alarms on the host's cluster, folders or datacenter: context, not the host's own
    /// state.
    async fn context_alerts(&self) -> Vec<Inline<Alert<'_>>> {
        common::alerts(&self.0.a().context_alerts)
    }
}
