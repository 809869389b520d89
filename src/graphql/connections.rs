//! The platform-connections domain: onboarding mutations (admin only; none touches vCenter
//! state), connection tests, and the audit log. Thin views over `connections::onboarding`.

use std::sync::Arc;

use async_graphql::{
    Context, Enum, ErrorExtensions, Guard, InputObject, Object, Result, SimpleObject, ID,
};
use chrono::{DateTime, Utc};

use super::errors;
use super::health::Health;
use crate::auth::{Principal, Role};
use crate::connections::input::TrustMode;
use crate::connections::onboarding::{CheckReport, Draft, Onboarding, OnboardingError, Verdict};
use crate::connections::Registry;

/// Lets a field through only for a principal with at least `role`.
pub struct RoleGuard(pub Role);

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        match ctx.data_opt::<Principal>() {
            None => Err(async_graphql::Error::new("a credential is required")
                .extend_with(|_, e| e.set("code", "UNAUTHENTICATED"))),
            Some(p) if p.role >= self.0 => Ok(()),
            Some(p) => Err(async_graphql::Error::new(format!(
                "the {} role may not do this (needs {})",
                p.role, self.0
            ))
            .extend_with(|_, e| e.set("code", "FORBIDDEN"))),
        }
    }
}

fn onboarding<'a>(ctx: &Context<'a>) -> Result<&'a Arc<Onboarding>> {
    ctx.data::<Arc<Onboarding>>().map_err(|_| {
        async_graphql::Error::new("onboarding needs the service's store")
            .extend_with(|_, e| e.set("code", "STORE_UNAVAILABLE"))
    })
}

fn actor(ctx: &Context<'_>) -> String {
    ctx.data_opt::<Principal>()
        .map_or_else(|| "unknown".to_string(), |p| p.name.clone())
}

/// An onboarding error with its stable code; input errors name their field.
fn error(e: OnboardingError) -> async_graphql::Error {
    let message = e.to_string();
    match e {
        OnboardingError::Input(i) => {
            async_graphql::Error::new(i.message.clone()).extend_with(move |_, x| {
                x.set("code", "BAD_USER_INPUT");
                x.set("field", i.field);
            })
        }
        OnboardingError::Conflict { .. } => {
            async_graphql::Error::new(message).extend_with(|_, x| x.set("code", "CONFLICT"))
        }
        OnboardingError::NotFound(_) => {
            async_graphql::Error::new(message).extend_with(|_, x| x.set("code", "NOT_FOUND"))
        }
        OnboardingError::ReadOnly(_) => {
            async_graphql::Error::new(message).extend_with(|_, x| x.set("code", "FORBIDDEN"))
        }
        OnboardingError::Store(s) => {
            let code = s.code().to_ascii_uppercase();
            async_graphql::Error::new(message).extend_with(move |_, x| x.set("code", code.clone()))
        }
        OnboardingError::Registry(_) => async_graphql::Error::new(message)
            .extend_with(|_, x| x.set("code", "INTERNAL_SERVER_ERROR")),
    }
}

/// How a vCenter certificate is to be trusted.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "VsphereTlsModeInput")]
pub enum TlsModeInput {
    /// The operating system's trust store (default).
    Verify,
    /// Exactly the certificate with `tlsThumbprint` (SHA-256).
    Pinned,
    /// Certificates issued by the CA in `tlsCaPem`.
    CustomCa,
    /// No verification (named explicitly, never a default).
    Insecure,
}

/// The connection form. On create, name, host, username and password are required; on update
/// and in a test overlay every field left out keeps its stored value.
#[derive(InputObject, Default)]
#[graphql(name = "VsphereConnectionInput")]
pub struct ConnectionInput {
    /// Display name, unique ignoring case.
    pub name: Option<String>,
    /// vCenter host name or address (`https://` optional; no path, query or user info).
    pub host: Option<String>,
    /// HTTPS port, 1-65535 (default 443).
    pub port: Option<i32>,
    /// vCenter user, e.g. `monitor@vsphere.local`.
    pub username: Option<String>,
    /// Write-only. Omitted, or the mask `********`, keeps the stored password.
    pub password: Option<String>,
    /// Enabled (default true).
    pub enabled: Option<bool>,
    /// Poll interval for events, tasks and metrics, 20-3600 s (default 30).
    pub poll_interval_seconds: Option<i32>,
    /// TLS trust (default VERIFY).
    pub tls_mode: Option<TlsModeInput>,
    /// SHA-256 thumbprint for PINNED.
    pub tls_thumbprint: Option<String>,
    /// CA certificate(s), PEM, for CUSTOM_CA.
    pub tls_ca_pem: Option<String>,
}

impl From<ConnectionInput> for Draft {
    fn from(i: ConnectionInput) -> Draft {
        Draft {
            name: i.name,
            host: i.host,
            port: i.port,
            username: i.username,
            password: i.password,
            enabled: i.enabled,
            poll_interval_seconds: i.poll_interval_seconds,
            tls_mode: i.tls_mode.map(|m| match m {
                TlsModeInput::Verify => TrustMode::Verify,
                TlsModeInput::Pinned => TrustMode::Pinned,
                TlsModeInput::CustomCa => TrustMode::CustomCa,
                TlsModeInput::Insecure => TrustMode::Insecure,
            }),
            tls_thumbprint: i.tls_thumbprint,
            tls_ca_pem: i.tls_ca_pem,
        }
    }
}

/// The verdict of a connection test.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "VsphereTestVerdict")]
pub enum TestVerdict {
    /// Every read of the phase-1 floor works.
    Ok,
    /// The floor holds; optional reads fail or privileges are missing (see the steps).
    Degraded,
    /// A required step failed (see `failureClass`).
    Failed,
}

/// One step of a connection test.
#[derive(SimpleObject)]
#[graphql(name = "VsphereTestStep")]
pub struct TestStep {
    /// Step name (`vi_json`, `vi_json_login`, `rest_login`, `privileges`, `hosts`, ...).
    pub name: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// Whether the phase-1 floor needs it.
    pub required: bool,
    /// What it found, or why it failed (never a secret).
    pub detail: String,
    /// Failure class when it failed.
    pub failure_class: Option<String>,
}

/// The result of a connection test (nothing is saved).
#[derive(SimpleObject)]
#[graphql(name = "VsphereConnectionTest")]
pub struct ConnectionTest {
    /// OK, DEGRADED or FAILED.
    pub verdict: TestVerdict,
    /// Class of the first required step that failed.
    pub failure_class: Option<String>,
    /// One line for the form.
    pub message: String,
    /// vCenter version, e.g. 8.0.3.
    pub vcenter_version: Option<String>,
    /// vCenter build number.
    pub vcenter_build: Option<String>,
    /// vCenter instance UUID (the identity resource ids derive from).
    pub instance_uuid: Option<String>,
    /// The VI JSON release both sides speak.
    pub negotiated_release: Option<String>,
    /// Privileges of the phase-1 read bundle the user lacks.
    pub missing_privileges: Vec<String>,
    /// On a TLS failure: the SHA-256 thumbprint the server presented, to pin after checking it.
    pub presented_thumbprint: Option<String>,
    /// Every step in order.
    pub steps: Vec<TestStep>,
    /// What degrades or fails the connection, typed as connection health's `healthIssues`:
    /// failed steps, counters vCenter does not keep, VMs without VMware Tools running.
    pub issues: Vec<super::health::Issue>,
}

impl From<CheckReport> for ConnectionTest {
    fn from(r: CheckReport) -> ConnectionTest {
        let verdict = match r.verdict {
            Verdict::Ok => TestVerdict::Ok,
            Verdict::Degraded => TestVerdict::Degraded,
            Verdict::Failed => TestVerdict::Failed,
        };
        let message = match (&r.verdict, r.steps.iter().find(|s| !s.ok && s.required)) {
            (Verdict::Failed, _) if r.message.is_some() => r.message.clone().unwrap_or_default(),
            (Verdict::Failed, Some(s)) => format!("{} failed: {}", s.name, s.detail),
            (Verdict::Failed, None) => "the connection test failed".into(),
            (Verdict::Degraded, _) => {
                "the phase-1 floor holds; some optional reads fail or privileges are missing".into()
            }
            (Verdict::Ok, _) => "every phase-1 read works".into(),
        };
        ConnectionTest {
            verdict,
            failure_class: r.class.map(|c| c.as_str().to_string()),
            message,
            vcenter_version: r.vcenter.as_ref().map(|v| v.version.clone()),
            vcenter_build: r.vcenter.as_ref().map(|v| v.build.clone()),
            instance_uuid: r.vcenter.as_ref().and_then(|v| v.instance_uuid.clone()),
            negotiated_release: r.negotiated_release,
            missing_privileges: r.missing_privileges,
            presented_thumbprint: r.presented_thumbprint,
            issues: r.issues.iter().map(super::health::Issue::from).collect(),
            steps: r
                .steps
                .into_iter()
                .map(|s| TestStep {
                    name: s.name.to_string(),
                    ok: s.ok,
                    required: s.required,
                    detail: s.detail,
                    failure_class: s.class.map(|c| c.as_str().to_string()),
                })
                .collect(),
        }
    }
}

/// One onboarding change.
#[derive(SimpleObject)]
#[graphql(name = "VsphereAuditEntry")]
pub struct AuditEntry {
    /// Grows with every entry; pass the last one as `before` for the next page.
    pub seq: i64,
    /// When the change was made.
    pub at: DateTime<Utc>,
    /// Token name or JWT subject.
    pub actor: String,
    /// create, update, enable, disable or delete.
    pub action: String,
    /// The connection changed.
    pub connection_id: Option<String>,
    /// Names of the fields changed (never their values).
    pub fields: Vec<String>,
}

/// Whether the service's store answers. Collecting and serving never depend on it; onboarding
/// changes and the audit log do.
#[derive(SimpleObject)]
#[graphql(name = "VsphereStoreHealth")]
pub struct StoreHealthView {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The last store call or ping succeeded.
    pub ok: bool,
    /// When the store last answered.
    pub last_ok_at: Option<DateTime<Utc>>,
    /// Code of the last failure (`store_unavailable`, `store_query_failed`).
    pub last_error_code: Option<String>,
    /// Message of the last failure (never a password or the URL's credentials).
    pub last_error_message: Option<String>,
    /// When the last failure happened.
    pub last_error_at: Option<DateTime<Utc>>,
    /// Store calls that failed since the start.
    pub failures: i64,
}

/// Root fields of the connections domain.
#[derive(Default)]
pub struct ConnectionsQuery;

#[Object]
impl ConnectionsQuery {
    /// Every vCenter connection: its redacted config, source, state, poll health (last
    /// success, error class), vCenter identity, API family sessions, missing privileges and
    /// what it contributes.
    async fn vsphere_connections(&self, ctx: &Context<'_>) -> Result<Vec<Health>> {
        let registry = ctx.data::<Arc<Registry>>()?.clone();
        Ok(registry
            .connections()
            .into_iter()
            .map(|c| Health::of(c, registry.clone()))
            .collect())
    }

    /// Whether the store of saved connections answers (null without a store).
    #[graphql(cache_control(no_cache))]
    async fn vsphere_store(&self, ctx: &Context<'_>) -> Option<StoreHealthView> {
        let h = ctx.data_opt::<Arc<Onboarding>>()?.store_health();
        Some(StoreHealthView {
            backend: h.backend.to_string(),
            ok: h.ok,
            last_ok_at: h.last_ok_at,
            last_error_code: h.last_error_code.map(str::to_string),
            last_error_message: h.last_error_message,
            last_error_at: h.last_error_at,
            failures: i64::try_from(h.failures).unwrap_or(i64::MAX),
        })
    }

    /// Onboarding changes, newest first (admin only).
    #[graphql(guard = "RoleGuard(Role::Admin)", cache_control(no_cache))]
    async fn vsphere_audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Entries, 1 to 500 (default 50).")] first: Option<i32>,
        #[graphql(desc = "Only entries older than this seq.")] before: Option<i64>,
    ) -> Result<Vec<AuditEntry>> {
        let n = first.unwrap_or(50);
        if !(1..=500).contains(&n) {
            return Err(errors::bad_user_input("first must be between 1 and 500"));
        }
        let page = onboarding(ctx)?
            .audit_page(n as usize, before)
            .await
            .map_err(error)?;
        Ok(page
            .into_iter()
            .map(|r| AuditEntry {
                seq: r.seq,
                at: r.at,
                actor: r.actor,
                action: r.action,
                connection_id: r.connection_id,
                fields: r.fields,
            })
            .collect())
    }
}

fn view(ctx: &Context<'_>, id: &str) -> Result<Health> {
    let registry = ctx.data::<Arc<Registry>>()?.clone();
    let conn = registry.get(id).ok_or_else(|| {
        async_graphql::Error::new(format!("no connection {id}"))
            .extend_with(|_, x| x.set("code", "NOT_FOUND"))
    })?;
    Ok(Health::of(conn, registry))
}

/// Onboarding mutations: admin only, and none of them changes anything in vCenter.
#[derive(Default)]
pub struct Mutation;

/// Platform-connection onboarding (admin only). No mutation changes anything in vCenter.
// `no_cache` for the record: the HTTP layer never reuses a mutation's response anyway.
#[Object(cache_control(no_cache))]
impl Mutation {
    /// Saves a new vCenter connection and starts reading it.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn vsphere_create_connection(
        &self,
        ctx: &Context<'_>,
        input: ConnectionInput,
    ) -> Result<Health> {
        let saved = onboarding(ctx)?
            .create(&actor(ctx), &input.into())
            .await
            .map_err(error)?;
        view(ctx, &saved.id)
    }

    /// Changes a saved connection at `version` (else CONFLICT, nothing changed). Endpoint,
    /// credential or TLS changes log the old sessions out and start new ones; a rename keeps
    /// them.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn vsphere_update_connection(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i64,
        input: ConnectionInput,
    ) -> Result<Health> {
        onboarding(ctx)?
            .update(&actor(ctx), &id, version, &input.into())
            .await
            .map_err(error)?;
        view(ctx, &id)
    }

    /// Enables or disables a saved connection at `version`. A disabled connection holds no
    /// session and contributes nothing.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn vsphere_set_connection_enabled(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i64,
        enabled: bool,
    ) -> Result<Health> {
        onboarding(ctx)?
            .set_enabled(&actor(ctx), &id, version, enabled)
            .await
            .map_err(error)?;
        view(ctx, &id)
    }

    /// Deletes a saved connection at `version`: its sessions are logged out and its resources
    /// leave the graph. Returns the deleted id.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn vsphere_delete_connection(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i64,
    ) -> Result<ID> {
        onboarding(ctx)?
            .delete(&actor(ctx), &id, version)
            .await
            .map_err(error)?;
        Ok(id)
    }

    /// Runs the onboarding connection test on a draft; nothing is saved.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn vsphere_test_connection(
        &self,
        ctx: &Context<'_>,
        input: ConnectionInput,
    ) -> Result<ConnectionTest> {
        Ok(onboarding(ctx)?
            .test_draft(&input.into())
            .await
            .map_err(error)?
            .into())
    }

    /// Runs the connection test on a saved connection with `overlay` laid over it (the stored
    /// password unless the overlay gives one); nothing is saved.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn vsphere_test_saved_connection(
        &self,
        ctx: &Context<'_>,
        id: ID,
        overlay: Option<ConnectionInput>,
    ) -> Result<ConnectionTest> {
        Ok(onboarding(ctx)?
            .test_saved(&id, &overlay.unwrap_or_default().into())
            .await
            .map_err(error)?
            .into())
    }
}
