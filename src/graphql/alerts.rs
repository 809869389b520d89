//! The alerts domain: the active alarms of every resource with the resource each is on, and the
//! alarm transitions across connections (`vsphereActiveAlerts`, `vsphereAlertHistory`).

use async_graphql::connection::PageInfo;
use async_graphql::{Context, Object, Result};

use super::activity::{all_transitions, Kind, Transition};
use super::common::Alert;
use super::enums::AlertSeverity;
use super::nodes::{AgentNode, Resource};
use super::paging::{decode_cursor, encode_cursor, page_size};
use super::select::registry;
use crate::model::snapshot::Slot;

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
    async fn alert(&self) -> Alert<'_> {
        Alert(&self.alert)
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

/// Root fields of the alerts domain.
#[derive(Default)]
pub struct AlertsQuery;

#[Object]
impl AlertsQuery {
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
        for v in registry(ctx)?.visible() {
            if connection
                .as_ref()
                .is_some_and(|c| !c.contains(&v.connection.id))
            {
                continue;
            }
            let at = |slot| Resource::at(&v.connection, &v.snapshot, slot);
            let s = &v.snapshot;
            let lists = s
                .agents
                .iter()
                .enumerate()
                .map(|(i, a)| (&a.alerts, at(Slot::Agent(i))))
                .chain(
                    s.vms
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (&x.alerts, at(Slot::Vm(i)))),
                )
                .chain(
                    s.storage
                        .iter()
                        .enumerate()
                        .map(|(i, d)| (&d.alerts, at(Slot::Storage(i)))),
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
                    hosts: t
                        .agents
                        .iter()
                        .filter_map(|i| at(Slot::Agent(*i)).agent())
                        .collect(),
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
        kind: Option<Kind>,
        severity: Option<AlertSeverity>,
    ) -> Result<Vec<Transition>> {
        all_transitions(
            registry(ctx)?,
            first,
            connection_id.as_deref(),
            kind,
            severity,
        )
    }
}
