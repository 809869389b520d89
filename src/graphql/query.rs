//! Root query fields. Every name starts with `vsphere` so it can never collide with the core's
//! or another platform's root fields. Inventory fields read the snapshot: zero vCenter calls.

use std::sync::Arc;

use async_graphql::connection::PageInfo;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result, Union, ID};

use super::common::Alert;
use super::enums::AlertSeverity;
use super::filters::{HostFilter, StorageFilter, VmFilter};
use super::health::Health;
use super::lists::{AgentConnection, StorageConnection, Total, VmConnection};
use super::loader::EntityLoader;
use super::paging::{decode_cursor, encode_cursor, page_size};
use super::platform::{platform, Platform};
use super::resources::{resolve, AgentNode, StorageNode, VmNode};
use super::select::{self, Hit};
use crate::connections::Registry;
use crate::model::snapshot::Slot;
use crate::model::ResourceId;

/// Any vSphere-backed canonical resource.
#[derive(Union, Clone)]
#[graphql(name = "VsphereResource")]
pub enum Resource {
    /// An ESXi host.
    Agent(AgentNode),
    /// A virtual machine.
    Vm(VmNode),
    /// A datastore.
    Storage(StorageNode),
}

/// An active alert with the resource it is on, or the hosts under the topology object it is on.
pub struct ActiveAlert {
    alert: crate::model::resources::ActiveAlert,
    resource: Option<Resource>,
    hosts: Vec<AgentNode>,
}

/// An active vSphere alarm with the resource it is on.
#[Object(name = "VsphereActiveAlert")]
impl ActiveAlert {
    /// The alert.
    async fn alert(&self) -> Alert {
        Alert(self.alert.clone())
    }
    /// The resource it is on; null for an alarm on a cluster, datacenter or folder (see
    /// `hosts`).
    async fn resource(&self) -> Option<&Resource> {
        self.resource.as_ref()
    }
    /// The hosts under the cluster, datacenter or folder the alarm is on (the VMs under it
    /// carry it in `contextAlerts`); empty for an alarm on a resource itself.
    async fn hosts(&self) -> &[AgentNode] {
        &self.hosts
    }
}

/// A page of active alerts.
pub struct ActiveAlertConnection {
    items: Vec<ActiveAlert>,
    has_next: bool,
    had_cursor: bool,
    total: usize,
}

/// A page of active vSphere alarms.
#[Object(name = "VsphereActiveAlertConnection")]
impl ActiveAlertConnection {
    /// Alerts in stable order (alert id).
    async fn nodes(&self) -> &[ActiveAlert] {
        &self.items
    }
    /// Paging information; cursors are alert ids.
    async fn page_info(&self) -> PageInfo {
        let c = |a: &ActiveAlert| encode_cursor(&(a.alert.id.clone(), String::new()));
        PageInfo {
            has_previous_page: self.had_cursor,
            has_next_page: self.has_next,
            start_cursor: self.items.first().map(c),
            end_cursor: self.items.last().map(c),
        }
    }
    /// How many alerts match.
    async fn total_count(&self) -> usize {
        self.total
    }
}

fn store<'a>(ctx: &Context<'a>) -> Result<&'a Arc<Registry>> {
    ctx.data::<Arc<Registry>>()
}

async fn entity(ctx: &Context<'_>, id: &ID) -> Result<Option<(Slot, Hit)>> {
    let Ok(rid) = ResourceId::parse(id) else {
        // Another platform's id: not ours, so null for this item only.
        return Ok(None);
    };
    let loader = ctx.data::<DataLoader<EntityLoader>>()?;
    loader
        .load_one(rid)
        .await
        .map_err(|e| async_graphql::Error::new(e.to_string()))
}

/// Root fields over the inventory and the connections' health.
#[derive(Default)]
pub struct InventoryQuery;

#[Object]
impl InventoryQuery {
    /// ESXi hosts (canonical `agent` resources) of every connected vCenter, as a Relay connection
    /// in stable order (name, then id).
    async fn vsphere_hosts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 500 (default 50).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Filters, AND-ed.")] filter: Option<HostFilter>,
    ) -> Result<AgentConnection> {
        let n = page_size(first)?;
        let key = after.as_deref().map(decode_cursor).transpose()?;
        let visible = store(ctx)?.visible();
        let filter = filter.unwrap_or_default();
        let page = select::agents(&visible, &filter, key.as_ref(), n);
        let total = Total::Lazy(Arc::new(move || select::count_agents(&visible, &filter)));
        Ok(AgentConnection {
            page,
            had_cursor: key.is_some(),
            total,
        })
    }

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
        let visible = store(ctx)?.visible();
        let filter = filter.unwrap_or_default();
        let page = select::vms(&visible, &filter, key.as_ref(), n);
        let total = Total::Lazy(Arc::new(move || select::count_vms(&visible, &filter)));
        Ok(VmConnection {
            page,
            had_cursor: key.is_some(),
            total,
        })
    }

    /// Datastores (canonical `storage` resources) of every connected vCenter, as a Relay
    /// connection in stable order (name, then id).
    async fn vsphere_datastores(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 500 (default 50).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Filters, AND-ed.")] filter: Option<StorageFilter>,
    ) -> Result<StorageConnection> {
        let n = page_size(first)?;
        let key = after.as_deref().map(decode_cursor).transpose()?;
        let visible = store(ctx)?.visible();
        let filter = filter.unwrap_or_default();
        let page = select::storage(&visible, &filter, key.as_ref(), n);
        let total = Total::Lazy(Arc::new(move || select::count_storage(&visible, &filter)));
        Ok(StorageConnection {
            page,
            had_cursor: key.is_some(),
            total,
        })
    }

    /// Any vSphere-backed resource by id; null when the id is unknown or belongs to another platform.
    async fn vsphere_resource(&self, ctx: &Context<'_>, id: ID) -> Option<Resource> {
        resolve(ctx, &id)
    }

    /// Active red and yellow alarms on hosts, VMs and datastores, with the resource each is on,
    /// and on clusters, datacenters and folders, with the hosts under each.
    async fn vsphere_active_alerts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only these severities.")] severity: Option<Vec<AlertSeverity>>,
        #[graphql(desc = "Only these saved connections.")] connection: Option<Vec<String>>,
        #[graphql(desc = "Page size, 0 to 500 (default 50).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
    ) -> Result<ActiveAlertConnection> {
        let n = page_size(first)?;
        let key = after
            .as_deref()
            .map(decode_cursor)
            .transpose()?
            .map(|k| k.0);
        let mut all: Vec<ActiveAlert> = Vec::new();
        for v in store(ctx)?.visible() {
            if connection
                .as_ref()
                .is_some_and(|c| !c.contains(&v.connection.id))
            {
                continue;
            }
            let hit = |idx| Hit {
                conn: v.connection.clone(),
                snap: v.snapshot.clone(),
                idx,
            };
            let s = &v.snapshot;
            let lists = s
                .agents
                .iter()
                .enumerate()
                .map(|(i, a)| (&a.alerts, Resource::Agent(AgentNode(hit(i)))))
                .chain(
                    s.vms
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (&x.alerts, Resource::Vm(VmNode(hit(i))))),
                )
                .chain(
                    s.storage
                        .iter()
                        .enumerate()
                        .map(|(i, d)| (&d.alerts, Resource::Storage(StorageNode(hit(i))))),
                );
            let wanted = |a: &crate::model::resources::ActiveAlert| {
                severity
                    .as_ref()
                    .is_none_or(|sv| sv.contains(&AlertSeverity::from(a.severity)))
            };
            for (alerts, resource) in lists {
                for a in alerts.iter().filter(|a| wanted(a)) {
                    all.push(ActiveAlert {
                        alert: a.clone(),
                        resource: Some(resource.clone()),
                        hosts: Vec::new(),
                    });
                }
            }
            for t in s.topology_alerts.iter().filter(|t| wanted(&t.alert)) {
                all.push(ActiveAlert {
                    alert: t.alert.clone(),
                    resource: None,
                    hosts: t.agents.iter().map(|i| AgentNode(hit(*i))).collect(),
                });
            }
        }
        all.sort_by(|a, b| a.alert.id.cmp(&b.alert.id));
        let total = all.len();
        let start = key
            .as_ref()
            .map(|k| all.partition_point(|a| a.alert.id <= *k))
            .unwrap_or(0);
        let mut items: Vec<ActiveAlert> = all.into_iter().skip(start).take(n + 1).collect();
        let has_next = items.len() > n;
        items.truncate(n);
        Ok(ActiveAlertConnection {
            items,
            has_next,
            had_cursor: key.is_some(),
            total,
        })
    }

    /// Alarm transitions (raised, cleared) on hosts, VMs and datastores across connections,
    /// newest first: the alert history the assistant reads.
    async fn vsphere_alert_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100)] first: i32,
        connection_id: Option<String>,
        kind: Option<super::activity::Kind>,
        severity: Option<super::enums::AlertSeverity>,
    ) -> Result<Vec<super::activity::Transition>> {
        super::activity::all_transitions(
            store(ctx)?,
            first,
            connection_id.as_deref(),
            kind,
            severity,
        )
    }

    /// Every vCenter connection: its redacted config, source, state, poll health (last
    /// success, error class), vCenter identity, API family sessions, missing privileges and
    /// what it contributes.
    async fn vsphere_connections(&self, ctx: &Context<'_>) -> Result<Vec<Health>> {
        let registry = store(ctx)?.clone();
        Ok(registry
            .connections()
            .into_iter()
            .map(|c| Health::of(c, registry.clone()))
            .collect())
    }

    /// This platform's row in Pulse's platform support model: admitted, readiness
    /// `first-lab-ready`, vCenter-only, read-only for the assistant.
    async fn vsphere_platform(&self) -> Platform {
        platform()
    }

    /// The assistant's query pack: named, read-only operations for the questions asked again
    /// and again, each runnable by its `id` as a persisted query (docs/assistant.md).
    async fn vsphere_assistant_pack(&self) -> super::pack::PackView {
        super::pack::PackView::new()
    }

    #[graphql(entity)]
    async fn find_agent_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<AgentNode>> {
        Ok(match entity(ctx, &id).await? {
            Some((Slot::Agent(_), hit)) => Some(AgentNode(hit)),
            _ => None,
        })
    }

    #[graphql(entity)]
    async fn find_vm_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<VmNode>> {
        Ok(match entity(ctx, &id).await? {
            Some((Slot::Vm(_), hit)) => Some(VmNode(hit)),
            _ => None,
        })
    }

    #[graphql(entity)]
    async fn find_storage_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<StorageNode>> {
        Ok(match entity(ctx, &id).await? {
            Some((Slot::Storage(_), hit)) => Some(StorageNode(hit)),
            _ => None,
        })
    }
}
