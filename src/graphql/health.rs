//! Connection health on the graph.

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::auth::{Principal, Role};
use crate::connections::{Connection, Registry, Source, TlsSetting};
use crate::inventory::{ConnectionHealth, ConnectionSlot, ConnectionState, HealthIssue};

/// Where a connection was defined.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "VsphereConnectionSource")]
pub enum ConnectionSource {
    /// The service's config file (read-only to mutations).
    Config,
    /// Created through GraphQL; kept in the store.
    Api,
}

/// How a vCenter certificate is trusted.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "VsphereTlsMode")]
pub enum TlsModeKind {
    /// The operating system's trust store (default).
    Verify,
    /// Exactly the certificate with a SHA-256 thumbprint.
    Pinned,
    /// Certificates issued by a given CA (PEM), e.g. the VMCA root.
    CustomCa,
    /// No verification at all (named explicitly, never a default).
    Insecure,
}

impl TlsModeKind {
    fn of(t: &TlsSetting) -> TlsModeKind {
        match t {
            TlsSetting::Verify => TlsModeKind::Verify,
            TlsSetting::Pinned(_) => TlsModeKind::Pinned,
            TlsSetting::CustomCa(_) => TlsModeKind::CustomCa,
            TlsSetting::Insecure => TlsModeKind::Insecure,
        }
    }
}

/// Counts of what one connection contributes to the graph.
#[derive(SimpleObject)]
#[graphql(name = "VsphereContribution")]
pub struct Contribution {
    /// ESXi hosts (agents).
    pub agents: i32,
    /// Virtual machines.
    pub vms: i32,
    /// Datastores (storage).
    pub storage: i32,
    /// Active alerts on those resources and on the clusters, datacenters and folders above them.
    pub active_alerts: i32,
    /// Seconds since vCenter last confirmed the inventory current (a change applied, or a
    /// change-feed wait that found nothing new); grows only while collection is stuck. Null
    /// before the first sync.
    #[graphql(cache_control(no_cache))]
    pub stale_seconds: Option<f64>,
}

/// State of one API family's session.
#[derive(SimpleObject)]
#[graphql(name = "VsphereApiFamilyHealth")]
pub struct FamilyHealth {
    /// Logged in now.
    pub logged_in: bool,
    /// Failure class of the last error of this family.
    pub last_error_class: Option<String>,
}

/// The vCenter object a health issue is about.
#[derive(SimpleObject)]
#[graphql(name = "VsphereIssueObject")]
pub struct IssueObject {
    /// Managed object type (`VirtualMachine`, `HostSystem`, `Datastore`, ...).
    pub kind: String,
    /// vCenter moId (`vm-42`).
    pub mo_id: String,
    /// Canonical resource id, for hosts, VMs and datastores the graph serves.
    pub id: Option<String>,
    /// Object name, when known.
    pub name: Option<String>,
}

/// One degradation of a connection (or a connection test), typed: where, what class, on which
/// object, how often, and what to do about it.
#[derive(SimpleObject)]
#[graphql(name = "VsphereHealthIssue")]
pub struct Issue {
    /// Stage of collection: connect, sessions, privileges, full_sync, change_feed, events,
    /// tasks, alarms, performance, tags or guest.
    pub stage: String,
    /// Failure class (permission_denied, vcenter_limit, vcenter_unavailable, ...).
    pub failure_class: String,
    /// The object it is about, if any.
    pub object: Option<IssueObject>,
    /// What on the object or stage: a property path, a counter name.
    pub subject: Option<String>,
    /// Privilege ids vCenter said the user lacks.
    pub privileges: Vec<String>,
    /// Times seen since it first appeared.
    pub occurrences: i32,
    /// First seen.
    pub first_seen: DateTime<Utc>,
    /// Last seen.
    pub last_seen: DateTime<Utc>,
    /// What happened (never a secret).
    pub message: String,
    /// What an admin can do about it.
    pub hint: Option<String>,
}

impl From<&HealthIssue> for Issue {
    fn from(i: &HealthIssue) -> Issue {
        Issue {
            stage: i.stage.as_str().to_string(),
            failure_class: i.class.as_str().to_string(),
            object: i.object.as_ref().map(|o| IssueObject {
                kind: o.kind.clone(),
                mo_id: o.mo_id.clone(),
                id: o.id.clone(),
                name: o.name.clone(),
            }),
            subject: i.subject.clone(),
            privileges: i.privileges.clone(),
            occurrences: i32::try_from(i.occurrences).unwrap_or(i32::MAX),
            first_seen: i.first_seen,
            last_seen: i.last_seen,
            message: i.message.clone(),
            hint: i.hint.clone(),
        }
    }
}

/// One saved vCenter connection: its redacted config, source and health.
pub struct Health {
    pub(crate) conn: Arc<Connection>,
    pub(crate) slot: Arc<ConnectionSlot>,
    pub(crate) health: Arc<ConnectionHealth>,
    pub(crate) store: Arc<Registry>,
}

impl Health {
    pub(crate) fn of(conn: Arc<Connection>, registry: Arc<Registry>) -> Health {
        let slot = conn.slot().clone();
        Health {
            health: slot.health(),
            slot,
            conn,
            store: registry,
        }
    }
}

fn n(v: usize) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// One saved vCenter connection, as the platform-connections workspace shows it: its
/// redacted config (the password is never shown), where it was defined, and its health.
#[Object(name = "VsphereConnection")]
impl Health {
    /// Connection id (generated at creation, stable).
    async fn id(&self) -> ID {
        ID(self.slot.id.clone())
    }
    /// Connection id (same as `id`).
    async fn connection_id(&self) -> &str {
        &self.slot.id
    }
    /// Version for optimistic concurrency: pass it to an update, enable/disable or delete.
    async fn version(&self) -> i64 {
        self.conn.spec().saved.version
    }
    /// CONFIG (the config file: read-only here) or API (created through GraphQL).
    async fn source(&self) -> ConnectionSource {
        match self.conn.spec().source {
            Source::Config => ConnectionSource::Config,
            Source::Api => ConnectionSource::Api,
        }
    }
    /// vCenter host name or address (lower-cased; IPv6 in brackets).
    async fn host(&self) -> &str {
        &self.conn.spec().saved.host
    }
    /// vCenter HTTPS port.
    async fn port(&self) -> i32 {
        i32::from(self.conn.spec().saved.port)
    }
    /// The vCenter user (null for the assistant role).
    async fn username(&self, ctx: &Context<'_>) -> Option<&str> {
        let assistant = ctx
            .data_opt::<Principal>()
            .is_some_and(|p| p.role == Role::Assistant);
        (!assistant).then_some(self.conn.spec().saved.username.as_str())
    }
    /// Whether a password is stored. The password itself is write-only.
    async fn password_set(&self) -> bool {
        self.conn.spec().saved.password_set
    }
    /// Whether the connection is enabled (a disabled one holds no session, contributes nothing).
    async fn enabled(&self) -> bool {
        self.conn.spec().saved.enabled
    }
    /// How often events, tasks and metrics are polled, seconds (the poll interval; the change
    /// feed is a long poll and not paced by it).
    async fn poll_interval_seconds(&self) -> i32 {
        i32::try_from(self.conn.spec().saved.poll_interval_secs).unwrap_or(i32::MAX)
    }
    /// How the vCenter certificate is trusted.
    async fn tls_mode(&self) -> TlsModeKind {
        TlsModeKind::of(&self.conn.spec().saved.tls)
    }
    /// The pinned SHA-256 thumbprint (PINNED only).
    async fn tls_thumbprint(&self) -> Option<&str> {
        match &self.conn.spec().saved.tls {
            TlsSetting::Pinned(t) => Some(t),
            _ => None,
        }
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.conn.spec().saved.created_at
    }
    /// When it was last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.conn.spec().saved.updated_at
    }
    /// Connection name.
    async fn name(&self) -> String {
        self.slot.name().to_string()
    }
    /// connecting, healthy, degraded, failed, disabled or duplicate (another connection reads
    /// the same vCenter; this one holds no session and contributes nothing).
    async fn state(&self) -> &'static str {
        match self.health.state {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Healthy => "healthy",
            ConnectionState::Degraded => "degraded",
            ConnectionState::Failed => "failed",
            ConnectionState::Disabled => "disabled",
            ConnectionState::Duplicate => "duplicate",
        }
    }
    /// Last successful sync.
    async fn last_success(&self) -> Option<DateTime<Utc>> {
        self.health.last_success
    }
    /// Last attempt.
    async fn last_attempt(&self) -> Option<DateTime<Utc>> {
        self.health.last_attempt
    }
    /// Consecutive failed attempts.
    async fn consecutive_failures(&self) -> i32 {
        i32::try_from(self.health.consecutive_failures).unwrap_or(i32::MAX)
    }
    /// Failure class of the last error (endpoint_unreachable, tls_validation_failed, auth_invalid, ...).
    async fn last_error_class(&self) -> Option<&str> {
        self.health.last_error.as_ref().map(|e| e.class.as_str())
    }
    /// When the last error happened.
    async fn last_error_at(&self) -> Option<DateTime<Utc>> {
        self.health.last_error.as_ref().map(|e| e.at)
    }
    /// Human message of the last error (never contains a secret).
    async fn last_error_message(&self) -> Option<&str> {
        self.health.last_error.as_ref().map(|e| e.message.as_str())
    }
    /// vCenter version.
    async fn vcenter_version(&self) -> Option<&str> {
        self.health.about.version.as_deref()
    }
    /// vCenter build.
    async fn vcenter_build(&self) -> Option<&str> {
        self.health.about.build.as_deref()
    }
    /// vCenter instance UUID.
    async fn instance_uuid(&self) -> Option<&str> {
        self.health.about.instance_uuid.as_deref()
    }
    /// The negotiated VI JSON release.
    async fn negotiated_release(&self) -> Option<&str> {
        self.health.about.negotiated_release.as_deref()
    }
    /// Automation REST session state.
    async fn rest(&self) -> FamilyHealth {
        FamilyHealth {
            logged_in: self.health.rest.logged_in,
            last_error_class: self.health.rest.last_error_class.clone(),
        }
    }
    /// VI JSON session state.
    async fn vi_json(&self) -> FamilyHealth {
        FamilyHealth {
            logged_in: self.health.vim.logged_in,
            last_error_class: self.health.vim.last_error_class.clone(),
        }
    }
    /// Privileges of the phase-1 read bundle that the user lacks.
    async fn missing_privileges(&self) -> &[String] {
        &self.health.missing_privileges
    }
    /// Degradations as one line each (`stage: message`), kept for existing clients;
    /// `healthIssues` has them typed.
    async fn issues(&self) -> Vec<String> {
        self.health.issues.iter().map(HealthIssue::line).collect()
    }
    /// Degradations: optional reads that fail, objects that cannot be read, each with its
    /// stage, failure class, object, occurrences and a hint an admin can act on.
    async fn health_issues(&self) -> Vec<Issue> {
        self.health.issues.iter().map(Issue::from).collect()
    }
    /// Another connection that already serves the same vCenter (its resources are not double-counted).
    async fn duplicate_of(&self) -> Option<String> {
        if let Some(d) = &self.health.duplicate_of {
            return Some(d.clone());
        }
        let snap = self.slot.snapshot()?;
        let serving = self.store.serving(&snap.instance_uuid)?;
        (serving.connection.id != self.slot.id).then(|| serving.connection.id.clone())
    }
    /// What this connection contributes.
    async fn contribution(&self) -> Contribution {
        match self.slot.snapshot() {
            Some(s) => {
                let alerts = s.agents.iter().map(|a| a.alerts.len()).sum::<usize>()
                    + s.vms.iter().map(|v| v.alerts.len()).sum::<usize>()
                    + s.storage.iter().map(|d| d.alerts.len()).sum::<usize>()
                    + s.topology_alerts.len();
                Contribution {
                    agents: n(s.agents.len()),
                    vms: n(s.vms.len()),
                    storage: n(s.storage.len()),
                    active_alerts: n(alerts),
                    stale_seconds: self
                        .slot
                        .staleness(Utc::now())
                        .map(|d| d.num_milliseconds() as f64 / 1000.0),
                }
            }
            None => Contribution {
                agents: 0,
                vms: 0,
                storage: 0,
                active_alerts: 0,
                stale_seconds: None,
            },
        }
    }
}
