//! List filters. Every filter field is optional; lists inside one field are OR-ed, fields are
//! AND-ed. Names of datacenters and clusters match case-insensitively, as do moIds.

use async_graphql::InputObject;
use chrono::{Duration, Utc};

use super::enums::{AlertSeverity, PowerState, ResourceStatus};
use crate::model;
use crate::model::resources::{ActiveAlert, TagRef};
use crate::model::topology::Placement;
use crate::model::ResourceId;

/// Filter for ESXi hosts.
#[derive(InputObject, Default, Clone, Debug)]
#[graphql(name = "VsphereHostFilter")]
pub struct HostFilter {
    /// Any of these statuses.
    pub status: Option<Vec<ResourceStatus>>,
    /// Only resources of these saved connections (connection ids).
    pub connection: Option<Vec<String>>,
    /// Datacenter names or moIds.
    pub datacenter: Option<Vec<String>>,
    /// Cluster names or moIds.
    pub cluster: Option<Vec<String>>,
    /// Hosts that mount any of these datastores (storage ids).
    pub datastore: Option<Vec<async_graphql::ID>>,
    /// The exact name, ignoring case (a lookup by name).
    pub name: Option<String>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// Resources with an active alarm of any of these severities.
    pub alarm_severity: Option<Vec<AlertSeverity>>,
    /// Tags as `Category:Name` or `Name`.
    pub tag: Option<Vec<String>>,
}

/// Filter for VMs.
#[derive(InputObject, Default, Clone, Debug)]
#[graphql(name = "VsphereVmFilter")]
pub struct VmFilter {
    /// Any of these statuses.
    pub status: Option<Vec<ResourceStatus>>,
    /// Only resources of these saved connections (connection ids).
    pub connection: Option<Vec<String>>,
    /// Datacenter names or moIds.
    pub datacenter: Option<Vec<String>>,
    /// Cluster names or moIds.
    pub cluster: Option<Vec<String>>,
    /// VMs running on any of these hosts (agent ids).
    pub host: Option<Vec<async_graphql::ID>>,
    /// VMs using any of these datastores (storage ids).
    pub datastore: Option<Vec<async_graphql::ID>>,
    /// The exact name, ignoring case (a lookup by name).
    pub name: Option<String>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// Any of these power states.
    pub power_state: Option<Vec<PowerState>>,
    /// VMs with at least one snapshot older than this many days.
    pub has_snapshots_older_than_days: Option<u32>,
    /// Resources with an active alarm of any of these severities.
    pub alarm_severity: Option<Vec<AlertSeverity>>,
    /// Tags as `Category:Name` or `Name`.
    pub tag: Option<Vec<String>>,
}

/// Filter for datastores.
#[derive(InputObject, Default, Clone, Debug)]
#[graphql(name = "VsphereDatastoreFilter")]
pub struct StorageFilter {
    /// Any of these statuses.
    pub status: Option<Vec<ResourceStatus>>,
    /// Only resources of these saved connections (connection ids).
    pub connection: Option<Vec<String>>,
    /// Datacenter names or moIds.
    pub datacenter: Option<Vec<String>>,
    /// Datastores mounted on any of these hosts (agent ids).
    pub host: Option<Vec<async_graphql::ID>>,
    /// Datastores at or above this percentage of their capacity used (0-100).
    pub used_percent_at_least: Option<f64>,
    /// The exact name, ignoring case (a lookup by name).
    pub name: Option<String>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// Resources with an active alarm of any of these severities.
    pub alarm_severity: Option<Vec<AlertSeverity>>,
    /// Tags as `Category:Name` or `Name`.
    pub tag: Option<Vec<String>>,
}

/// Parses ids from a filter; ids of other platforms simply match nothing.
pub fn parse_ids(ids: &Option<Vec<async_graphql::ID>>) -> Option<Vec<ResourceId>> {
    ids.as_ref()
        .map(|v| v.iter().filter_map(|i| ResourceId::parse(i).ok()).collect())
}

/// The parts every resource kind filters on.
pub struct Common<'a> {
    pub status: model::ResourceStatus,
    pub name: &'a str,
    pub placement: &'a Placement,
    pub alerts: &'a [ActiveAlert],
    pub tags: &'a [TagRef],
}

fn any_eq(wanted: &[String], name: Option<&str>, moid: Option<&str>) -> bool {
    wanted.iter().any(|w| {
        name.is_some_and(|n| n.eq_ignore_ascii_case(w))
            || moid.is_some_and(|m| m.eq_ignore_ascii_case(w))
    })
}

/// Matches the filter fields shared by all kinds.
#[allow(clippy::too_many_arguments)]
pub fn common_matches(
    c: &Common<'_>,
    connection_id: &str,
    status: &Option<Vec<ResourceStatus>>,
    connection: &Option<Vec<String>>,
    datacenter: &Option<Vec<String>>,
    cluster: &Option<Vec<String>>,
    name: &Option<String>,
    name_contains: &Option<String>,
    alarm_severity: &Option<Vec<AlertSeverity>>,
    tag: &Option<Vec<String>>,
) -> bool {
    if let Some(s) = status {
        if !s
            .iter()
            .any(|s| model::ResourceStatus::from(*s) == c.status)
        {
            return false;
        }
    }
    if let Some(conns) = connection {
        if !conns.iter().any(|x| x == connection_id) {
            return false;
        }
    }
    if let Some(dcs) = datacenter {
        let dc = c.placement.datacenter.as_ref();
        if !any_eq(
            dcs,
            dc.map(|d| d.name.as_str()),
            dc.map(|d| d.moid.as_str()),
        ) {
            return false;
        }
    }
    if let Some(cl) = cluster {
        let k = c.placement.cluster.as_ref();
        if !any_eq(cl, k.map(|d| d.name.as_str()), k.map(|d| d.moid.as_str())) {
            return false;
        }
    }
    if let Some(n) = name {
        if c.name.to_lowercase() != n.trim().to_lowercase() {
            return false;
        }
    }
    if let Some(n) = name_contains {
        if !c.name.to_lowercase().contains(&n.to_lowercase()) {
            return false;
        }
    }
    if let Some(sev) = alarm_severity {
        let hit = c
            .alerts
            .iter()
            .any(|a| sev.iter().any(|s| *s == AlertSeverity::from(a.severity)));
        if !hit {
            return false;
        }
    }
    if let Some(tags) = tag {
        let hit = c.tags.iter().any(|t| {
            tags.iter().any(|w| match w.split_once(':') {
                Some((cat, name)) => {
                    t.category.eq_ignore_ascii_case(cat) && t.name.eq_ignore_ascii_case(name)
                }
                None => t.name.eq_ignore_ascii_case(w),
            })
        });
        if !hit {
            return false;
        }
    }
    true
}

impl HostFilter {
    /// Whether `a` (from connection `conn`) matches.
    pub fn matches(
        &self,
        conn: &str,
        a: &model::resources::Agent,
        datastores: &Option<Vec<ResourceId>>,
    ) -> bool {
        let c = Common {
            status: a.status,
            name: &a.name,
            placement: &a.placement,
            alerts: &a.alerts,
            tags: &a.tags,
        };
        if let Some(ds) = datastores {
            if !ds.iter().any(|d| a.datastore_ids.contains(d)) {
                return false;
            }
        }
        common_matches(
            &c,
            conn,
            &self.status,
            &self.connection,
            &self.datacenter,
            &self.cluster,
            &self.name,
            &self.name_contains,
            &self.alarm_severity,
            &self.tag,
        )
    }
}

impl VmFilter {
    /// Whether `v` (from connection `conn`) matches. `hosts`/`datastores` are pre-parsed ids.
    pub fn matches(
        &self,
        conn: &str,
        v: &model::resources::Vm,
        hosts: &Option<Vec<ResourceId>>,
        datastores: &Option<Vec<ResourceId>>,
    ) -> bool {
        if let Some(h) = hosts {
            if !v.host_id.as_ref().is_some_and(|id| h.contains(id)) {
                return false;
            }
        }
        if let Some(ds) = datastores {
            if !v
                .datastore_usage
                .iter()
                .any(|u| ds.contains(&u.datastore_id))
            {
                return false;
            }
        }
        if let Some(ps) = &self.power_state {
            if !ps
                .iter()
                .any(|p| v.power_state.as_deref() == Some(p.as_vsphere()))
            {
                return false;
            }
        }
        if let Some(days) = self.has_snapshots_older_than_days {
            let cutoff = Utc::now() - Duration::days(i64::from(days));
            if v.oldest_snapshot.is_none_or(|t| t >= cutoff) {
                return false;
            }
        }
        let c = Common {
            status: v.status,
            name: &v.name,
            placement: &v.placement,
            alerts: &v.alerts,
            tags: &v.tags,
        };
        common_matches(
            &c,
            conn,
            &self.status,
            &self.connection,
            &self.datacenter,
            &self.cluster,
            &self.name,
            &self.name_contains,
            &self.alarm_severity,
            &self.tag,
        )
    }
}

impl StorageFilter {
    /// Whether `s` (from connection `conn`) matches.
    pub fn matches(
        &self,
        conn: &str,
        s: &model::resources::Storage,
        hosts: &Option<Vec<ResourceId>>,
    ) -> bool {
        if let Some(h) = hosts {
            if !s.mounts.iter().any(|m| h.contains(&m.host_id)) {
                return false;
            }
        }
        if let Some(min) = self.used_percent_at_least {
            if !s.used_percent().is_some_and(|u| u >= min) {
                return false;
            }
        }
        let c = Common {
            status: s.status,
            name: &s.name,
            placement: &s.placement,
            alerts: &s.alerts,
            tags: &s.tags,
        };
        common_matches(
            &c,
            conn,
            &self.status,
            &self.connection,
            &self.datacenter,
            &None,
            &self.name,
            &self.name_contains,
            &self.alarm_severity,
            &self.tag,
        )
    }
}
