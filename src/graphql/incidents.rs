//! Stored history: `vsphereIncidents` (each alarm's life on an object) and `vsphereTimeline`
//! (events, tasks and incident transitions), Relay connections newest first, read from the
//! store so they span restarts. Thin views over `store::history`.

use std::sync::Arc;

use async_graphql::connection::PageInfo;
use async_graphql::{Context, Enum, ErrorExtensions, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::enums::AlertSeverity;
use super::errors::bad_user_input;
use super::nodes::{AgentNode, Resource};
use super::paging::{decode_cursor, encode_cursor, page_size};
use crate::connections::onboarding::Onboarding;
use crate::connections::Registry;
use crate::inventory::incidents::{IncidentRecord, ALARM_STATE_CODE, PROVIDER};
use crate::model::snapshot::InventorySnapshot;
use crate::model::ResourceId;
use crate::store::history::{IncidentQuery, TimelineQuery, TimelineRow};
use crate::store::Store;

/// Whether an incident is still going on.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "VsphereIncidentState")]
pub enum IncidentState {
    /// The alarm is still triggered.
    Open,
    /// It went green or gray, or the alarm was removed.
    Closed,
}

/// What a timeline entry is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "VsphereTimelineKind")]
pub enum TimelineKind {
    /// A vCenter event.
    Event,
    /// A vCenter task.
    Task,
    /// An incident transition (opened, severity changed, acknowledged, closed).
    Alert,
}

/// Which incidents.
#[derive(InputObject, Default)]
#[graphql(name = "VsphereIncidentFilter")]
pub struct IncidentFilter {
    /// Only incidents on this resource (canonical id).
    pub resource: Option<String>,
    /// Only incidents of this connection.
    pub connection: Option<String>,
    /// Only incidents that reached this severity.
    pub severity: Option<AlertSeverity>,
    /// Only open, or only closed, incidents.
    pub state: Option<IncidentState>,
    /// Only incidents started at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only incidents started before this time.
    pub to: Option<DateTime<Utc>>,
}

/// Which timeline entries.
#[derive(InputObject, Default)]
#[graphql(name = "VsphereTimelineFilter")]
pub struct TimelineFilter {
    /// Only entries about this resource (canonical id).
    pub resource: Option<String>,
    /// Only entries of this connection.
    pub connection: Option<String>,
    /// Only these kinds (default: all).
    pub kinds: Option<Vec<TimelineKind>>,
    /// Only entries at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only entries before this time.
    pub to: Option<DateTime<Utc>>,
}

/// One vCenter alarm's life on one object.
pub struct Incident(IncidentRecord);

/// One vCenter alarm's life on one object: opened when vCenter triggered it, closed when it
/// went green or gray, in Pulse's shared incident shape.
#[Object(name = "VsphereIncident")]
impl Incident {
    /// Unique: connection, alarm, object and start.
    async fn id(&self) -> String {
        format!("{}:{}", self.0.connection_id, self.0.key.id())
    }
    /// Always `vmware`.
    async fn provider(&self) -> &str {
        PROVIDER
    }
    /// vCenter's name of the pair: alarm moRef and entity moRef (`alarm-7.host-12`).
    async fn native_id(&self) -> String {
        self.0.key.native_id()
    }
    /// Always `vmware_alarm_state`.
    async fn code(&self) -> &str {
        ALARM_STATE_CODE
    }
    /// The alarm and the object it is on.
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    /// The worst severity it reached.
    async fn severity(&self) -> AlertSeverity {
        self.0.severity.into()
    }
    /// Its severity now (at its close, once closed).
    async fn current_severity(&self) -> AlertSeverity {
        self.0.current_severity.into()
    }
    /// Open or closed.
    async fn state(&self) -> IncidentState {
        if self.0.ended_at.is_some() {
            IncidentState::Closed
        } else {
            IncidentState::Open
        }
    }
    /// When vCenter triggered the alarm.
    async fn started_at(&self) -> DateTime<Utc> {
        self.0.key.started_at
    }
    /// When it went green or gray (vCenter's time once its event is read).
    async fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.0.ended_at
    }
    /// When it was acknowledged in vCenter.
    async fn acknowledged_at(&self) -> Option<DateTime<Utc>> {
        self.0.acknowledged_at
    }
    /// Who acknowledged it.
    async fn acknowledged_by(&self) -> Option<&str> {
        self.0.acknowledged_by.as_deref()
    }
    /// The resource it is on (canonical id).
    async fn resource_id(&self) -> &str {
        &self.0.resource_id
    }
    /// The connection that saw it.
    async fn connection_id(&self) -> &str {
        &self.0.connection_id
    }
    /// The hosts under the cluster, datacenter or folder it is on, as the inventory holds them
    /// now (empty for an incident on a host, VM or datastore itself).
    async fn hosts(&self, ctx: &Context<'_>) -> Result<Vec<AgentNode>> {
        let visible = ctx.data::<Arc<Registry>>()?.visible();
        let Some(v) = visible
            .into_iter()
            .find(|v| v.connection.id == self.0.connection_id)
        else {
            return Ok(Vec::new());
        };
        let under = v.snapshot.hosts_under(&self.0.key.entity_moid);
        Ok(under
            .into_iter()
            .filter_map(|idx| {
                Resource::at(
                    &v.connection,
                    &v.snapshot,
                    crate::model::snapshot::Slot::Agent(idx),
                )
                .agent()
            })
            .collect())
    }
    /// The alarm definition's name.
    async fn alarm_name(&self) -> &str {
        &self.0.alarm_name
    }
}

/// One entry of the timeline.
#[derive(SimpleObject)]
#[graphql(name = "VsphereTimelineEntry")]
pub struct TimelineEntry {
    /// Event, task or incident transition.
    pub kind: TimelineKind,
    /// When it happened (vCenter's time).
    pub at: DateTime<Utc>,
    /// The connection.
    pub connection_id: String,
    /// The event key, task key, or incident id and transition.
    pub key: String,
    /// Event type, task description id, or the transition (`opened`, `severity_changed`,
    /// `acknowledged`, `closed`).
    pub title: String,
    /// Event message, task state or error, or the incident's summary.
    pub message: String,
    /// Who did it, when vCenter says.
    pub user: Option<String>,
    /// The object it is about (moId; the first an event names).
    pub object_moid: Option<String>,
    /// The same object's canonical id (a host, VM or datastore is a resource by this id;
    /// a cluster, datacenter or folder has one too).
    pub resource_id: Option<String>,
    /// The object's name: as vCenter named it in the task, else its name in the inventory now.
    pub object_name: Option<String>,
    /// Transitions: the severity after it (before it, for a close).
    pub severity: Option<AlertSeverity>,
}

macro_rules! relay {
    ($conn:ident, $edge:ident, $node:ty, $gql_conn:literal, $gql_edge:literal) => {
        /// One item with its cursor.
        #[derive(SimpleObject)]
        #[graphql(name = $gql_edge)]
        pub struct $edge {
            /// Pass as `after` to continue after this item.
            pub cursor: String,
            /// The item.
            pub node: $node,
        }

        /// A page, newest first (Relay connection).
        #[derive(SimpleObject)]
        #[graphql(name = $gql_conn)]
        pub struct $conn {
            /// Items with cursors.
            pub edges: Vec<$edge>,
            /// Paging.
            pub page_info: PageInfo,
        }

        impl $conn {
            fn of(mut items: Vec<(String, $node)>, first: usize, had_cursor: bool) -> $conn {
                let has_next_page = items.len() > first;
                items.truncate(first);
                let edges: Vec<$edge> = items
                    .into_iter()
                    .map(|(cursor, node)| $edge { cursor, node })
                    .collect();
                $conn {
                    page_info: PageInfo {
                        has_previous_page: had_cursor,
                        has_next_page,
                        start_cursor: edges.first().map(|e| e.cursor.clone()),
                        end_cursor: edges.last().map(|e| e.cursor.clone()),
                    },
                    edges,
                }
            }
        }
    };
}

relay!(
    IncidentConnection,
    IncidentEdge,
    Incident,
    "VsphereIncidentConnection",
    "VsphereIncidentEdge"
);
relay!(
    TimelineConnection,
    TimelineEdge,
    TimelineEntry,
    "VsphereTimelineConnection",
    "VsphereTimelineEdge"
);

fn store<'a>(ctx: &Context<'a>) -> Result<&'a Store> {
    ctx.data::<Arc<Onboarding>>()
        .map(|o| o.store())
        .map_err(|_| {
            async_graphql::Error::new("history needs the service's store")
                .extend_with(|_, e| e.set("code", "STORE_UNAVAILABLE"))
        })
}

fn store_error(e: crate::store::StoreError) -> async_graphql::Error {
    super::errors::store(&e)
}

/// The connection whose vCenter a resource id names, and the object's moId. A resource of no
/// connection matches nothing (`None` connection with a moId no row has).
fn locate(ctx: &Context<'_>, resource: &str) -> Result<(Option<String>, String)> {
    let id = ResourceId::parse(resource).map_err(|e| bad_user_input(e.to_string()))?;
    let registry = ctx.data::<Arc<Registry>>()?;
    let conn = registry
        .visible()
        .into_iter()
        .find(|v| {
            v.snapshot
                .instance_uuid
                .eq_ignore_ascii_case(id.instance_uuid())
        })
        .map(|v| v.connection.id.clone());
    Ok((conn, id.moid().to_string()))
}

fn cursor_parts(after: Option<&str>) -> Result<Option<(i64, Vec<String>)>> {
    let Some(c) = after else {
        return Ok(None);
    };
    let (at, rest) = decode_cursor(c)?;
    let at: i64 = at
        .parse()
        .map_err(|_| bad_user_input("invalid cursor: pass a cursor returned by this field"))?;
    let parts: Vec<String> = serde_json::from_str(&rest)
        .map_err(|_| bad_user_input("invalid cursor: pass a cursor returned by this field"))?;
    Ok(Some((at, parts)))
}

fn make_cursor(at: DateTime<Utc>, parts: &[&str]) -> String {
    encode_cursor(&(
        at.timestamp_micros().to_string(),
        serde_json::to_string(parts).unwrap_or_default(),
    ))
}

/// The stored-history root fields.
#[derive(Default)]
pub struct HistoryQuery;

#[Object]
impl HistoryQuery {
    /// Incidents (each vCenter alarm's life on a host, VM or datastore, or on a cluster,
    /// datacenter or folder above them), newest start first, kept across restarts.
    #[graphql(cache_control(no_cache))]
    async fn vsphere_incidents(
        &self,
        ctx: &Context<'_>,
        filter: Option<IncidentFilter>,
        #[graphql(desc = "Page size, 0 to 500 (default 50).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> Result<IncidentConnection> {
        let n = page_size(first)?;
        let f = filter.unwrap_or_default();
        let store = store(ctx)?;
        let cursor = match cursor_parts(after.as_deref())? {
            Some((at, p)) if p.len() == 2 => Some((at, p[0].clone(), p[1].clone())),
            Some(_) => {
                return Err(bad_user_input(
                    "invalid cursor: pass a cursor returned by this field",
                ))
            }
            None => None,
        };
        let q = IncidentQuery {
            connection_id: f.connection,
            resource_id: f.resource,
            severity: f.severity.map(|s| match s {
                AlertSeverity::Critical => crate::model::alerts::AlertSeverity::Critical,
                AlertSeverity::Warning => crate::model::alerts::AlertSeverity::Warning,
            }),
            open: f.state.map(|s| s == IncidentState::Open),
            from: f.from,
            to: f.to,
        };
        let rows = store
            .incidents_page(&q, n + 1, cursor.as_ref())
            .await
            .map_err(store_error)?;
        let items = rows
            .into_iter()
            .map(|r| {
                let c = make_cursor(r.key.started_at, &[&r.connection_id, &r.key.id()]);
                (c, Incident(r))
            })
            .collect();
        Ok(IncidentConnection::of(items, n, after.is_some()))
    }

    /// Events, tasks and incident transitions, newest first, kept across restarts (events and
    /// tasks for the store's retention, 30 days by default).
    #[graphql(cache_control(no_cache))]
    async fn vsphere_timeline(
        &self,
        ctx: &Context<'_>,
        filter: Option<TimelineFilter>,
        #[graphql(desc = "Page size, 0 to 500 (default 50).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> Result<TimelineConnection> {
        let n = page_size(first)?;
        let f = filter.unwrap_or_default();
        let store = store(ctx)?;
        let cursor = match cursor_parts(after.as_deref())? {
            Some((at, p)) if p.len() == 3 => Some((at, p[0].clone(), p[1].clone(), p[2].clone())),
            Some(_) => {
                return Err(bad_user_input(
                    "invalid cursor: pass a cursor returned by this field",
                ))
            }
            None => None,
        };
        let (connection_id, moid) = match &f.resource {
            Some(r) => {
                let (conn, moid) = locate(ctx, r)?;
                if conn.is_none()
                    || f.connection
                        .as_ref()
                        .is_some_and(|c| Some(c) != conn.as_ref())
                {
                    return Ok(TimelineConnection::of(Vec::new(), n, after.is_some()));
                }
                (conn, Some(moid))
            }
            None => (f.connection, None),
        };
        let kinds = f
            .kinds
            .unwrap_or_else(|| vec![TimelineKind::Event, TimelineKind::Task, TimelineKind::Alert]);
        let q = TimelineQuery {
            connection_id,
            moid,
            events: kinds.contains(&TimelineKind::Event),
            tasks: kinds.contains(&TimelineKind::Task),
            alerts: kinds.contains(&TimelineKind::Alert),
            from: f.from,
            to: f.to,
        };
        let rows = store
            .timeline_page(&q, n + 1, cursor.as_ref())
            .await
            .map_err(store_error)?;
        let visible = ctx.data::<Arc<Registry>>()?.visible();
        let snapshot_of = |conn: &str| {
            visible
                .iter()
                .find(|v| v.connection.id == conn)
                .map(|v| &v.snapshot)
        };
        let items = rows
            .into_iter()
            .map(|r| {
                let snap = snapshot_of(&r.connection_id).cloned();
                entry(r, snap.as_deref())
            })
            .collect();
        Ok(TimelineConnection::of(items, n, after.is_some()))
    }
}

/// The name of the resource `id` in `snap`, when it is a host, VM or datastore.
fn resource_name(snap: &InventorySnapshot, id: &ResourceId) -> Option<String> {
    snap.agent(id)
        .map(|a| a.name.clone())
        .or_else(|| snap.vm(id).map(|v| v.name.clone()))
        .or_else(|| snap.storage_by_id(id).map(|s| s.name.clone()))
}

fn entry(r: TimelineRow, snap: Option<&InventorySnapshot>) -> (String, TimelineEntry) {
    let id = snap
        .zip(r.moid.as_deref())
        .map(|(s, m)| ResourceId::new(&s.instance_uuid, m));
    let object_name = r.object_name.clone().or_else(|| {
        snap.zip(id.as_ref())
            .and_then(|(s, id)| resource_name(s, id))
    });
    let cursor = make_cursor(r.at, &[&r.kind, &r.connection_id, &r.key]);
    let kind = match r.kind.as_str() {
        "EVENT" => TimelineKind::Event,
        "TASK" => TimelineKind::Task,
        _ => TimelineKind::Alert,
    };
    let severity = r.severity.as_deref().map(|s| {
        if s == "critical" {
            AlertSeverity::Critical
        } else {
            AlertSeverity::Warning
        }
    });
    (
        cursor,
        TimelineEntry {
            kind,
            at: r.at,
            connection_id: r.connection_id,
            key: r.key,
            title: r.title,
            message: r.message,
            user: r.user,
            object_moid: r.moid,
            resource_id: id.map(|i| i.to_string()),
            object_name,
            severity,
        },
    )
}
