//! Subscriptions: incident transitions and resource status changes as the collectors publish
//! them (the same stream the store writer records), over `graphql-transport-ws`. Any role may
//! subscribe. A client that falls behind the live feed's bound is told why and its
//! subscription ends; it never holds memory for itself.

use std::sync::Arc;

use async_graphql::{
    Context, Enum, ErrorExtensions, InputObject, Result, SimpleObject, Subscription, ID,
};
use chrono::{DateTime, Utc};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::enums::{AlertSeverity, ResourceStatus};
use crate::connections::{LiveChange, Registry, LIVE_CAPACITY};
use crate::inventory::incidents::IncidentChange;

/// What happened to an incident.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "VsphereIncidentChangeKind")]
pub enum ChangeKind {
    /// vCenter triggered the alarm.
    Opened,
    /// Yellow to red or red to yellow.
    SeverityChanged,
    /// Acknowledged in vCenter.
    Acknowledged,
    /// Green or gray again, or the alarm was removed.
    Closed,
}

/// One incident transition, as it is recorded.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "VsphereIncidentChange")]
pub struct IncidentEvent {
    /// The incident's id (as in `vsphereIncidents`).
    pub incident_id: String,
    /// `alarm-7.host-12`, vCenter's name for the pair.
    pub native_id: String,
    /// What happened.
    pub change: ChangeKind,
    /// Severity after the transition (before it, for a close).
    pub severity: AlertSeverity,
    /// "<alarm> on <object>".
    pub summary: String,
    /// The alarm definition's name.
    pub alarm_name: String,
    /// The canonical id of the object the alarm is on.
    pub resource_id: String,
    /// The object's name.
    pub object_name: String,
    /// The connection that read it.
    pub connection_id: String,
    /// vCenter's time of the transition when it named one, else when the collector saw it.
    pub at: DateTime<Utc>,
    /// Who acknowledged it.
    pub user: Option<String>,
}

/// A resource whose status changed.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "VsphereStatusChange")]
pub struct StatusEvent {
    /// The resource's canonical id.
    pub resource_id: ID,
    /// `agent`, `vm` or `storage`.
    pub kind: String,
    /// The resource's name.
    pub name: String,
    /// Null for a resource that appeared.
    pub from: Option<ResourceStatus>,
    /// The status now.
    pub to: ResourceStatus,
    /// The connection that read it.
    pub connection_id: String,
    /// When the snapshot with the new status was read.
    pub at: DateTime<Utc>,
}

/// Which incident transitions to send; an empty filter sends all.
#[derive(InputObject, Default)]
#[graphql(name = "VsphereIncidentChangeFilter")]
pub struct IncidentFilter {
    /// Connection ids.
    pub connection: Option<Vec<String>>,
    /// Severities after the transition.
    pub severity: Option<Vec<AlertSeverity>>,
    /// Canonical resource ids.
    pub resource: Option<Vec<ID>>,
}

/// Which status changes to send; an empty filter sends all.
#[derive(InputObject, Default)]
#[graphql(name = "VsphereStatusChangeFilter")]
pub struct StatusFilter {
    /// Connection ids.
    pub connection: Option<Vec<String>>,
    /// Canonical resource ids.
    pub resource: Option<Vec<ID>>,
    /// Only changes to one of these statuses.
    pub to: Option<Vec<ResourceStatus>>,
}

fn within<T: PartialEq>(allowed: &Option<Vec<T>>, value: &T) -> bool {
    allowed.as_ref().is_none_or(|a| a.contains(value))
}

fn incident_event(c: &LiveChange, f: &IncidentFilter) -> Option<IncidentEvent> {
    let LiveChange::Incident {
        connection,
        transition: t,
    } = c
    else {
        return None;
    };
    let severity = AlertSeverity::from(t.severity);
    let keep = within(&f.connection, connection)
        && within(&f.severity, &severity)
        && within(&f.resource, &ID(t.resource_id.clone()));
    keep.then(|| IncidentEvent {
        incident_id: t.incident.id(),
        native_id: t.incident.native_id(),
        change: match t.change {
            IncidentChange::Opened => ChangeKind::Opened,
            IncidentChange::SeverityChanged => ChangeKind::SeverityChanged,
            IncidentChange::Acknowledged => ChangeKind::Acknowledged,
            IncidentChange::Closed => ChangeKind::Closed,
        },
        severity,
        summary: t.summary(),
        alarm_name: t.alarm_name.clone(),
        resource_id: t.resource_id.clone(),
        object_name: t.object_name.clone(),
        connection_id: connection.clone(),
        at: t.at,
        user: t.user.clone(),
    })
}

fn status_event(c: &LiveChange, f: &StatusFilter) -> Option<StatusEvent> {
    let LiveChange::Status(s) = c else {
        return None;
    };
    let to = ResourceStatus::from(s.to);
    let keep = within(&f.connection, &s.connection)
        && within(&f.resource, &ID(s.resource_id.clone()))
        && within(&f.to, &to);
    keep.then(|| StatusEvent {
        resource_id: ID(s.resource_id.clone()),
        kind: s.kind.to_string(),
        name: s.name.clone(),
        from: s.from.map(ResourceStatus::from),
        to,
        connection_id: s.connection.clone(),
        at: s.at,
    })
}

/// The live feed through `pick`, ending with `SUBSCRIPTION_TOO_SLOW` for a client that fell
/// behind.
fn follow<T: Send + 'static>(
    registry: &Registry,
    pick: impl Fn(&LiveChange) -> Option<T> + Send + 'static,
) -> impl Stream<Item = Result<T>> {
    let rx = registry.live().subscribe();
    let pick = Arc::new(pick);
    futures::stream::unfold(Some(rx), move |rx| {
        let pick = pick.clone();
        async move {
            let mut rx = rx?;
            loop {
                match rx.recv().await {
                    Ok(change) => {
                        if let Some(item) = pick(&change) {
                            return Some((Ok(item), Some(rx)));
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        let e = async_graphql::Error::new(format!(
                            "this subscriber fell {missed} changes behind the live feed (at most {LIVE_CAPACITY} are kept for a subscriber); subscribe again and read the store for what was missed"
                        ))
                        .extend_with(|_, x| x.set("code", "SUBSCRIPTION_TOO_SLOW"));
                        return Some((Err(e), None));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    })
}

/// The subscription root.
#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Incident transitions (opened, severity changed, acknowledged, closed) as the collectors
    /// record them.
    async fn vsphere_incident_changes(
        &self,
        ctx: &Context<'_>,
        filter: Option<IncidentFilter>,
    ) -> Result<impl Stream<Item = Result<IncidentEvent>>> {
        let registry = ctx.data::<Arc<Registry>>()?;
        let filter = filter.unwrap_or_default();
        Ok(follow(registry, move |c| incident_event(c, &filter)))
    }

    /// Resources whose status (online, offline, warning, unknown) changed between two
    /// published snapshots.
    async fn vsphere_status_changes(
        &self,
        ctx: &Context<'_>,
        filter: Option<StatusFilter>,
    ) -> Result<impl Stream<Item = Result<StatusEvent>>> {
        let registry = ctx.data::<Arc<Registry>>()?;
        let filter = filter.unwrap_or_default();
        Ok(follow(registry, move |c| status_event(c, &filter)))
    }
}
